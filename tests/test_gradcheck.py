"""`diffsim gradcheck`: the step sweep and its noise floor, the three verdicts
(passed, gradient wrong, finite differences too noisy) and kinks on
functions with known derivatives; the exit codes from the command line; and
every optimization config in configs/ passing with default options."""

import time
import typing
from pathlib import Path
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import pytest

from diffsim import gradcheck
from diffsim.internal import NOISE_MARGIN, PASSED, TOO_NOISY, WRONG, pick_step
from diffsim.jobs import AbstractInverseProblem, OptimizationScenario, load_config
from diffsim.jobs.cli import build_parser, main
from diffsim.jobs.gradcheck import EXIT_INCONCLUSIVE, run_gradcheck
from diffsim.scenarios.burgers_inverse import BurgersInverse

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
W = jnp.linspace(0.3, 1.7, 5)
P = {"x": jnp.linspace(-0.5, 0.8, 5)}


def smooth(p):
    return jnp.sum(jnp.sin(p["x"]) * W) + jnp.exp(0.3 * jnp.sum(p["x"]))


def exact_derivative(v):
    x = P["x"]
    return float(jnp.sum((jnp.cos(x) * W + 0.3 * jnp.exp(0.3 * jnp.sum(x))) * v))


def with_noise(loss, sigma):
    """`loss` plus deterministic pseudo-random noise of amplitude `sigma`
    that autodiff does not see (like an iterative solve's residual)."""
    return lambda p: (
        loss(p) + jax.lax.stop_gradient(sigma * jnp.sin(1e8 * jnp.sum(p["x"] * W)))
    )


@jax.custom_jvp
def wrong_square(x):
    return x**2


@wrong_square.defjvp
def _(primals, tangents):
    (x,), (dx,) = primals, tangents
    return x**2, 2.2 * x * dx  # 10% off


def wrong_loss(p):
    return jnp.sum(wrong_square(p["x"]) * W)


def test_correct_gradient_passes_with_a_small_noise_floor():
    rows = gradcheck(smooth, P, directions=3)
    for r in rows:
        assert r["verdict"] == PASSED and not r["kink"]
        assert r["relative_error"] < 1e-9 and r["noise_floor"] < 1e-9
        # best steps for a double-precision loss: truncation ~ h^2, round-off
        # ~ 1e-16 / h
        assert r["eps"] in (1e-4, 1e-5)


def test_noise_floor_bounds_the_true_error_and_moves_the_step():
    """Noise of amplitude 1e-9 in the loss: the best step grows to 1e-3
    (truncation ~ h^2 against noise ~ 1e-9 / h), and the reported floor is
    within a factor 30 of the finite difference's actual error (known
    derivative) and no smaller than a third of it."""
    directions = 3
    rows = gradcheck(
        with_noise(smooth, 1e-9), P, directions=directions, key=jax.random.key(3)
    )
    vs = jax.random.normal(jax.random.key(3), (directions, 5))
    vs = vs / jnp.linalg.norm(vs, axis=1, keepdims=True)
    for r, v in zip(rows, vs):
        exact = exact_derivative(v)
        actual = abs(r["fd"] - exact) / abs(exact)
        assert r["eps"] == 1e-3, r
        assert actual / NOISE_MARGIN <= r["noise_floor"] <= 30 * max(actual, 1e-9), (
            actual,
            r,
        )
        assert r["verdict"] == PASSED  # floor ~ 1e-6 < tol 1e-5


def test_noisy_finite_differences_are_too_noisy_not_wrong():
    rows = gradcheck(with_noise(smooth, 1e-5), P, directions=3)
    assert [r["verdict"] for r in rows] == [TOO_NOISY] * 3
    assert (
        min(r["noise_floor"] for r in rows) > 1e-5
    )  # the floor is above the tolerance


def test_wrong_gradient_is_wrong():
    rows = gradcheck(wrong_loss, {"x": jnp.arange(1.0, 6.0)}, directions=2)
    assert [r["verdict"] for r in rows] == [WRONG] * 2
    for r in rows:  # |ad - fd| / max(|ad|, |fd|) = 0.2 / 2.2 along every direction
        assert r["relative_error"] == pytest.approx(1 / 11, rel=1e-6)
        assert r["noise_floor"] < 1e-10


def test_wrong_gradient_under_heavy_noise_is_too_noisy():
    """10% wrong, but the finite differences' floor is larger: no claim either way."""
    rows = gradcheck(
        with_noise(wrong_loss, 1e-1), {"x": jnp.arange(1.0, 6.0)}, directions=2
    )
    assert [r["verdict"] for r in rows] == [TOO_NOISY] * 2


def test_kink_autodiff_between_the_one_sided_derivatives_passes():
    """`|x_0| / 100 + smooth` at x_0 = 0: no gradient; JAX's `abs'(0) = 1`
    lies in the one-sided interval. A 10% wrong smooth part does not."""
    kinked = {"x": P["x"].at[0].set(0.0)}
    rows = gradcheck(
        lambda p: 1e-2 * jnp.abs(p["x"][0]) + smooth(p), kinked, directions=2
    )
    assert all(r["kink"] and r["verdict"] == PASSED for r in rows), rows
    assert all(
        r["relative_error"] > 1e-3 for r in rows
    )  # AD and the central difference do differ
    rows = gradcheck(
        lambda p: 1e-2 * jnp.abs(p["x"][0]) + wrong_loss(p), kinked, directions=2
    )
    assert all(r["kink"] and r["verdict"] == WRONG for r in rows), rows


def test_pick_step_uses_richardson_only_where_truncation_is_confirmed():
    h = [1e-1, 1e-2, 1e-3, 1e-4]
    smooth_d = [1.0 + 0.5 * s**2 for s in h]  # pure h^2 truncation
    k, error = pick_step(h, smooth_d)
    assert k == 2 and error == pytest.approx(
        0.5 * 1e-6, rel=1e-6
    )  # the exact truncation error of D(1e-3)
    noisy_d = [1.0, 1.0 + 3e-4, 1.0 - 2e-3, 1.0 + 5e-2]  # noise growing as h shrinks
    k, error = pick_step(h, noisy_d)
    assert k == 1 and error == pytest.approx(
        3e-4
    )  # no Richardson discount for unconfirmed differences


def test_forward_mode_takes_one_jvp_per_direction():
    """2,000 parameters, 3 directions: 3 JVPs (not 2,000)."""
    calls = []

    @jax.custom_jvp
    def counted(x):
        return jnp.sum(jnp.sin(x))

    @counted.defjvp
    def _(primals, tangents):
        (x,), (dx,) = primals, tangents
        jax.debug.callback(lambda: calls.append(1))
        return counted(x), jnp.sum(jnp.cos(x) * dx)

    rows = gradcheck(
        lambda p: counted(p["x"]),
        {"x": jnp.linspace(0.0, 1.0, 2000)},
        mode="forward",
        directions=3,
        steps=(1e-2, 1e-3, 1e-4),
    )
    assert len(calls) == 3
    assert all(r["verdict"] == PASSED for r in rows)


# --- the command line ---------------------------------------------------------

BURGERS_SMALL = ["grid.cells=[32]", "time.t_end=0.3", "physics.observation_every=5"]


@typing.final
class WrongGradient(AbstractInverseProblem):
    """An inverse problem whose loss is `inner`'s with a gradient 10% too
    large (a custom JVP)."""

    params: Any
    inner: AbstractInverseProblem
    loss_label: ClassVar[str] = "loss"

    def loss(self, params):
        @jax.custom_jvp
        def loss(params):
            return self.inner.loss(params)

        @loss.defjvp
        def _(primals, tangents):
            value, slope = jax.jvp(self.inner.loss, primals, tangents)
            return value, 1.1 * slope

        return loss(params)


class WrongBurgers(BurgersInverse):
    """The Burgers inversion with a gradient 10% too large (not registered)."""

    def build_problem(self, ctx):
        problem = super().build_problem(ctx)
        return WrongGradient(problem.params, problem)


def test_cli_wrong_gradient_exits_1(capsys):
    args = build_parser().parse_args(
        ["gradcheck", "burgers_inverse.yaml", "--directions", "2"]
    )  # every option at its default
    config, physics, _ = load_config(CONFIGS / "burgers_inverse.yaml", BURGERS_SMALL)
    assert run_gradcheck(args, config, physics, WrongBurgers) == 1
    out = capsys.readouterr().out
    assert (
        "gradcheck: GRADIENT WRONG: checkpoint/reverse along direction 0 differs "
        "from the finite differences by 9.1e-02" in out
    )
    assert "iterative solves: none in this loss" in out


LENS_SMALL = [
    "grid.cells=[64,64]",
    "grid.lower=[-4.8e-3,-4.8e-3]",
    "grid.upper=[4.8e-3,4.8e-3]",
    "physics.pml.width=10",
    "physics.lens.centre=[-1.0e-3,0.0]",
    "physics.lens.size=[1.2e-3,4.0e-3]",
    "physics.target=[2.0e-3,0.0]",
    "physics.source_x=-2.8e-3",
]


def test_cli_noisy_solves_exit_inconclusive(capsys):
    """The lens with its solves stopped at 1e-4: finite differences cannot
    judge (exit 5, not 1)."""
    code = main(
        [
            "gradcheck",
            str(CONFIGS / "acoustic_lens.yaml"),
            *LENS_SMALL,
            "--solver-rtol",
            "1e-4",
            "--directions",
            "1",
            "--steps",
            "1e-1,1e-2,1e-3",
        ]
    )
    captured = capsys.readouterr()
    assert code == EXIT_INCONCLUSIVE == 5, captured.out
    assert (
        "iterative solves: solver.rtol = 0.0001 (--solver-rtol; the config's is 1e-06)"
        in captured.out
    )
    assert (
        "adjoint implicit: implicit differentiation of each Helmholtz linear solve"
        in captured.out
    )
    assert (
        "gradcheck: INCONCLUSIVE: the finite differences are too noisy to judge the "
        "gradient" in captured.out
    )
    assert (
        "[7/7] direction 0, L(p - 1e-03 v)" in captured.err
    )  # one progress line per evaluation


def test_cli_rejects_bad_options(capsys):
    burgers = str(CONFIGS / "burgers_inverse.yaml")
    assert main(["gradcheck", burgers, *BURGERS_SMALL, "--steps", "1e-2,1e-3"]) == 2
    assert (
        "--steps: expected at least 3 distinct positive steps"
        in capsys.readouterr().err
    )
    assert main(["gradcheck", burgers, *BURGERS_SMALL, "--solver-rtol", "1e-12"]) == 2
    assert (
        "--solver-rtol: burgers_inverse has no iterative solve in its loss"
        in capsys.readouterr().err
    )
    assert (
        main(["gradcheck", str(CONFIGS / "acoustic_lens.yaml"), "adjoint=checkpoint"])
        == 2
    )
    assert (
        "adjoint: the Helmholtz solve is differentiated implicitly"
        in capsys.readouterr().err
    )


def test_cli_unconverged_solve_is_one_line_exit_3(capsys):
    assert (
        main(
            [
                "gradcheck",
                str(CONFIGS / "acoustic_lens.yaml"),
                *LENS_SMALL,
                "solver.max_steps=5",
            ]
        )
        == 3
    )
    err = capsys.readouterr().err
    assert err.startswith(
        "diffsim: gradcheck: evaluating the loss failed (iterative solves at "
        "solver.rtol = 1e-12; see "
        "--solver-rtol): linear_solve (BiCGStab) did not converge"
    ), err
    assert len(err.strip().splitlines()) == 1, err


def _optimization_configs():
    found = []
    for path in sorted(CONFIGS.glob("*.yaml")):
        config, _, scenario = load_config(path, [])
        if issubclass(scenario, OptimizationScenario) and config.batch is None:
            found.append(path.name)
    return found


OPTIMIZATION_CONFIGS = _optimization_configs()


def test_the_optimization_configs_are_found():
    assert set(OPTIMIZATION_CONFIGS) >= {
        "acoustic_lens.yaml",
        "helmholtz_inclusion_inverse.yaml",
        "burgers_inverse.yaml",
        "shock_tube_inverse.yaml",
        "steady_fit.yaml",
        "euler_flux_closure.yaml",
        "learned_flux.yaml",
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", OPTIMIZATION_CONFIGS)
def test_every_optimization_config_passes_gradcheck_out_of_the_box(name, capsys):
    t0 = time.perf_counter()
    code = main(["gradcheck", str(CONFIGS / name)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "gradcheck: passed" in out
    print(f"{name}: {time.perf_counter() - t0:.1f} s")
