"""TENO5 (`scheme.reconstruction=teno5`) on shock problems, next to WENO5-Z."""

import pathlib

import numpy as np

from diffsim.jobs import load_config
from diffsim.jobs.run import run


def _run(path, tmp, *overrides):
    config, physics, scenario = load_config(pathlib.Path(path), list(overrides))
    summary = run(config, physics, scenario, tmp, plots=False)
    assert summary["status"] == "ok"
    return summary


def test_teno5_sod_error_comparable_to_weno5z(tmp_path):
    """100 cells, HLLC, characteristic variables, SSP-RK3: measured l1_density
    WENO5-Z 3.24e-3, TENO5 2.93e-3 (200 cells: 1.860e-3 and
    1.718e-3)."""
    errors = {
        r: _run(
            "configs/sod.yaml",
            tmp_path / r,
            "grid.cells=[100]",
            "time.snapshots=1",
            f"scheme.reconstruction={r}",
        )["errors"]["l1_density"]
        for r in ("weno5z", "teno5")
    }
    assert errors["teno5"] <= 1.1 * errors["weno5z"], errors


def test_teno5_shu_osher_is_finite(tmp_path):
    import xarray as xr

    _run(
        "configs/shu_osher.yaml",
        tmp_path,
        "grid.cells=[200]",
        "time.snapshots=1",
        "scheme.reconstruction=teno5",
    )
    with xr.open_dataset(tmp_path / "fields.nc") as ds:
        for name in ("density", "velocity_x", "pressure"):
            assert np.isfinite(ds[name].values).all()
        assert float(ds["density"].values[-1].min()) > 0.5


def test_teno5_rollout_gradient_is_finite_and_fused_matches_plain():
    """Reverse mode through TENO5's stencil selection (piecewise constant) on
    a shock tube: finite, and the fused derivative path equals plain
    autodiff to round-off."""
    import jax
    import jax.numpy as jnp

    import diffsim as ds
    from diffsim.operators import Grid
    from diffsim.operators.finite_volume import TENO5, Euler, IdealGas, Outflow

    grid = Grid(cells=[48], lower=[0.0], upper=[1.0])
    x = np.asarray(grid.mesh()[0])
    y0 = jnp.asarray(
        np.stack([np.where(x < 0.5, 1.0, 0.125), 0 * x, np.where(x < 0.5, 1.0, 0.1)])
    )

    def loss(gamma, fused):
        op = Euler(
            grid,
            IdealGas(gamma),
            TENO5(),
            boundaries=Outflow(),
            fused_derivatives=fused,
        )
        out = ds.solve(op, ds.SSPRK3(), y0, dt=0.004, num_steps=10)
        return jnp.sum(out.ys[-1] ** 2)

    g_fused = jax.grad(loss)(jnp.asarray(1.4), True)
    g_plain = jax.grad(loss)(jnp.asarray(1.4), False)
    assert np.isfinite(float(g_fused))
    np.testing.assert_allclose(g_fused, g_plain, rtol=1e-10)
