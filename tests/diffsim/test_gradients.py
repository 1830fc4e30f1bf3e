"""Gradient modes, Hessian-vector products, gradcheck."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.internal import resolve_mode
from diffsim.jobs.cli import main
from diffsim.operators import Burgers, FourierSpectral, Grid, discretize

GRID = Grid(32, 0.0, 2 * np.pi)
(X,) = GRID.mesh()


def rollout_loss(params):
    op = discretize(Burgers(nu=params["nu"]), FourierSpectral(GRID))
    u0 = params["amplitude"] * jnp.sin(X)[None] + 0.1
    sol = ds.solve(
        op, ds.ETDRK4(), u0, dt=0.02, num_steps=40, adjoint=ds.CheckpointAdjoint()
    )
    return jnp.mean(sol.ys[-1] ** 3) + jnp.mean(sol.ys[-1] ** 2)


PARAMS = {"nu": jnp.asarray(0.07), "amplitude": jnp.asarray(1.3)}


def test_forward_and_reverse_mode_agree():
    vr, gr = jax.jit(ds.value_and_grad(rollout_loss, "reverse"))(PARAMS)
    vf, gf = jax.jit(ds.value_and_grad(rollout_loss, "forward"))(PARAMS)
    np.testing.assert_allclose(vf, vr, rtol=1e-14)
    for k in PARAMS:
        np.testing.assert_allclose(gf[k], gr[k], rtol=1e-12)


def test_auto_mode_picks_by_parameter_count():
    assert resolve_mode("auto", PARAMS) == "forward"
    assert resolve_mode("auto", {"u0": jnp.zeros(32)}) == "reverse"
    assert resolve_mode("reverse", PARAMS) == "reverse"


def test_hvp_matches_finite_differences_of_the_gradient():
    v = {"nu": jnp.asarray(0.3), "amplitude": jnp.asarray(-0.8)}
    hv = ds.hvp(rollout_loss, PARAMS, v)
    eps = 1e-5
    grad = jax.jit(jax.grad(rollout_loss))
    plus = grad(jax.tree.map(lambda p, d: p + eps * d, PARAMS, v))
    minus = grad(jax.tree.map(lambda p, d: p - eps * d, PARAMS, v))
    for k in PARAMS:
        fd = (plus[k] - minus[k]) / (2 * eps)
        np.testing.assert_allclose(hv[k], fd, rtol=1e-6)


def test_gradcheck_passes_and_catches_a_wrong_gradient():
    rows = ds.gradcheck(rollout_loss, PARAMS, directions=2)
    assert max(r["relative_error"] for r in rows) < 1e-7
    assert [r["verdict"] for r in rows] == ["passed"] * 2
    rows = ds.gradcheck(
        rollout_loss, PARAMS, directions=2, mode="forward"
    )  # one JVP per direction
    assert max(r["relative_error"] for r in rows) < 1e-7

    @jax.custom_jvp
    def wrong_square(x):
        return x**2

    @wrong_square.defjvp
    def _(primals, tangents):
        (x,), (dx,) = primals, tangents
        return x**2, 2.2 * x * dx  # 10% off

    rows = ds.gradcheck(
        lambda p: jnp.sum(wrong_square(p["x"])),
        {"x": jnp.arange(1.0, 4.0)},
        directions=2,
    )
    # |ad - fd| / max(|ad|, |fd|) = 0.1 / 1.1 along every direction
    assert min(r["relative_error"] for r in rows) == pytest.approx(1 / 11, rel=1e-6)
    assert [r["verdict"] for r in rows] == ["wrong"] * 2


def test_gradcheck_cli_all_modes(capsys):
    code = main(
        [
            "gradcheck",
            "configs/burgers_inverse.yaml",
            "grid.cells=[32]",
            "time.t_end=0.3",
            "physics.observation_every=5",
            "--all-modes",
            "--directions",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "gradcheck: passed" in out
    assert out.count("max relative difference") == 3


def test_gradcheck_cli_rejects_forward_only_scenarios(capsys):
    assert main(["gradcheck", "configs/taylor_green.yaml"]) == 2
    assert "nothing to differentiate" in capsys.readouterr().err
