"""`diffsim gradcheck --horizon`: gradient norm and AD-vs-FD agreement
against rollout length, and where gradients explode."""

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.internal import HorizonPoint, explosion, gradient_horizons, growth_rate
from diffsim.jobs.cli import main
from diffsim.operators import AbstractOperator


class Growth(AbstractOperator):
    """`dy/dt = a y`: forward Euler multiplies by `1 + a dt` per step."""

    a: float

    @property
    def field_names(self):
        return ("y",)

    def __call__(self, state, t):
        return self.a * state

    def encode(self, fields):
        return fields

    def decode(self, state):
        return state


def test_linear_growth_is_measured_exactly():
    a, dt, block = 0.5, 0.1, 10
    y0 = jnp.linspace(-1.0, 2.0, 8)[None]

    def advance(y, k):
        return ds.solve(
            Growth(a),
            ds.ForwardEuler(),
            y,
            dt=dt,
            num_steps=block,
            t0=k * block * dt,
            adjoint=ds.CheckpointAdjoint(),
        ).ys[-1]

    points = gradient_horizons(
        advance, lambda y: jnp.mean(y**2), y0, [0, 3, 1, 10, 3], eps=1e-6
    )
    assert [p.blocks for p in points] == [0, 1, 3, 10]
    for p in points:
        n = p.blocks * block
        factor = (1 + a * dt) ** n
        np.testing.assert_allclose(p.gain, factor, rtol=1e-12)
        np.testing.assert_allclose(
            p.grad_norm, 2 / 8 * factor**2 * float(jnp.linalg.norm(y0)), rtol=1e-12
        )
        np.testing.assert_allclose(
            p.loss, factor**2 * float(jnp.mean(y0**2)), rtol=1e-12
        )
        assert (
            p.relative_error < 1e-7
        )  # a quadratic loss: central differences are exact up to round-off
    times = [p.blocks * block * dt for p in points]
    np.testing.assert_allclose(
        growth_rate(times, [p.gain for p in points]),
        math.log(1 + a * dt) / dt,
        rtol=1e-12,
    )

    found = explosion(points, factor=100.0)  # 1.05^30 = 4.3, 1.05^100 = 131.5
    assert (found.index, found.gain_index, found.fd_index) == (3, 3, None)
    assert (
        found.reason
        == "the backward pass amplifies the loss's gradient 132-fold (> 100)"
    )
    assert explosion(points, factor=200.0).index is None


def test_explosion_by_disagreement_and_by_non_finite_values():
    def point(gain, err, loss=1.0):
        return HorizonPoint(
            blocks=0,
            loss=loss,
            grad_norm=gain,
            final_grad_norm=1.0,
            ad=1.0,
            fd=1.0,
            relative_error=err,
        )

    found = explosion([point(1, 1e-9), point(5, 2e-3), point(2e3, 0.5)])
    assert (found.index, found.gain_index, found.fd_index) == (1, 2, 1)
    assert found.reason == "AD and finite differences disagree by 0.002 (> 0.001)"
    found = explosion([point(1, 1e-9), point(np.inf, np.nan)])
    assert (found.index, found.reason) == (1, "the loss or its gradient is not finite")
    with pytest.raises(ValueError, match="factor must be > 1"):
        explosion([point(1, 0)], factor=1.0)
    assert math.isnan(growth_rate([1.0], [2.0]))


@pytest.fixture(scope="module")
def ks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ks")
    return out, main(
        [
            "gradcheck",
            "configs/ks_chaos.yaml",
            "grid.cells=[128]",
            "--horizon",
            "--out",
            str(out),
        ]
    )


def test_chaotic_ks_gradients_explode(ks, capsys):
    out, code = ks
    assert code == 0
    result = json.loads((out / "horizon.json").read_text())
    assert [h["t"] for h in result["horizons"]] == [15.0 * k for k in range(11)]
    assert result["loss"].startswith("mean square of the final fields")
    # Kuramoto-Sivashinsky on L = 32 pi: leading Lyapunov exponent about 0.1
    assert 0.06 < result["growth_rate"] < 0.15
    assert result["horizons"][-1]["gain"] > 1e5
    assert (
        result["explosion"]["t"] == 45.0
        and "amplifies" in result["explosion"]["reason"]
    )
    assert result["explosion"]["fd_agreement_lost_from_t"] in (120.0, 135.0)
    assert (out / "horizon.png").stat().st_size > 10_000


def test_viscous_burgers_gradients_do_not_explode(tmp_path, capsys):
    code = main(
        [
            "gradcheck",
            "configs/burgers_shock.yaml",
            "grid.cells=[128]",
            "time.dt=0.004",
            "--horizon",
            "--out",
            str(tmp_path),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    result = json.loads((tmp_path / "horizon.json").read_text())
    assert result["explosion"] is None
    assert result["growth_rate"] < -0.1
    assert max(h["gain"] for h in result["horizons"]) == 1.0  # at T = 0; it only decays
    assert max(h["relative_error"] for h in result["horizons"]) < 1e-5
    assert "no explosion up to T = 2: the gain stayed below 1000" in printed
    assert (tmp_path / "horizon.png").exists()


def test_explicit_horizons_and_refusals(tmp_path, capsys):
    code = main(
        [
            "gradcheck",
            "configs/ks_chaos.yaml",
            "grid.cells=[64]",
            "--horizon",
            "--horizons",
            "5,2.5",
            "--out",
            str(tmp_path / "a"),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    result = json.loads((tmp_path / "a" / "horizon.json").read_text())
    assert [h["steps"] for h in result["horizons"]] == [0, 10, 20]
    assert "growth rate of the gradient" in printed

    cases = [
        (
            ["configs/ks_chaos.yaml", "--horizon"],
            "diffsim: config error: --out: required with --horizon",
        ),
        (
            [
                "configs/ks_chaos.yaml",
                "--horizon",
                "--out",
                str(tmp_path),
                "--horizons",
                "1,x",
            ],
            "diffsim: config error: --horizons: expected comma-separated times",
        ),
        (
            [
                "configs/ks_chaos.yaml",
                "--horizon",
                "--out",
                str(tmp_path),
                "--horizons",
                "0.1",
            ],
            "diffsim: config error: --horizons: 0.1 is shorter than one time step",
        ),
        (
            [
                "configs/helmholtz_point_source.yaml",
                "--horizon",
                "--out",
                str(tmp_path),
            ],
            "diffsim: config error: scenario: helmholtz_point_source is not "
            "time-dependent",
        ),
    ]
    for argv, message in cases:
        assert main(["gradcheck", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1, err
