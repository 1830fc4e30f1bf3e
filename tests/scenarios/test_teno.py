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
