"""The neural flux closure scenario at tiny size, end to end from the CLI:
summary fields, loss decrease, plots, and the fine-grid reference against the
exact Riemann solution."""

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from diffsim.operators.finite_volume import cell_averages, solve_riemann

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from diffsim.jobs.cli import main

    out = tmp_path_factory.mktemp("closure")
    args = [
        "optimize",
        str(ROOT / "configs/euler_flux_closure.yaml"),
        "precision=float64",
        "grid.cells=[16]",
        "time.t_end=0.06",
        "time.snapshots=2",
        "physics.fine_factor=4",
        "physics.train_states=3",
        "physics.test_states=2",
        "physics.width=8",
        "optimize.iterations=8",
        "optimize.checkpoint_every=4",
        "optimize.optimizer.learning_rate=0.01",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    return out


def test_summary_and_loss_decrease(run):
    summary = json.loads((run / "summary.json").read_text())
    for key in (
        "error_plain",
        "error_trained",
        "loss_initial",
        "loss_final",
        "iterations",
        "wall_s",
    ):
        assert key in summary, key
    assert summary["iterations"] == 8
    assert summary["loss_final"] < 0.9 * summary["loss_initial"]
    assert summary["error_plain"] > 0 and np.isfinite(summary["error_trained"])
    assert (run / "plots" / "closure.png").stat().st_size > 0
    assert (run / "checkpoints" / "iteration_000008.eqx").exists()


def test_fine_reference_is_closer_to_the_exact_solution_than_the_coarse_solver(run):
    ds = xr.open_dataset(run / "fields.nc", engine="h5netcdf")
    edges = np.linspace(0.0, 1.0, ds.sizes["x"] + 1)
    ref_err, plain_err = [], []
    for s in range(ds.sizes["state"]):
        states = ds["test_states"].values[s]
        sol = solve_riemann(states[0], states[1], 1.4)
        for j, t in enumerate(ds["t"].values):
            exact = cell_averages(sol, edges, float(t), 0.5)[0]
            ref_err.append(
                np.mean(np.abs(ds["density_reference"].values[s, j] - exact))
            )
            plain_err.append(np.mean(np.abs(ds["density_plain"].values[s, j] - exact)))
    assert np.mean(ref_err) < 0.7 * np.mean(plain_err)
