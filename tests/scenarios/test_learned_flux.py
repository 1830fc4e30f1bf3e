"""The learned-flux scenario (nested differentiation) at tiny size from the CLI."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_learned_flux_from_the_cli(tmp_path):
    from diffsim.jobs.cli import main

    args = [
        "optimize",
        str(ROOT / "configs/learned_flux.yaml"),
        "grid.cells=[24]",
        "time.t_end=1.0",
        "time.dt=0.05",
        "time.snapshots=2",
        "physics.samples=2",
        "physics.width=8",
        "optimize.iterations=40",
        "optimize.checkpoint_every=20",
        "optimize.optimizer.learning_rate=0.05",
        "optimize.optimizer.schedule.name=constant",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["iterations"] == 40
    assert summary["loss_final"] < 0.5 * summary["loss_initial"]
    assert summary["speed_error_final"] < summary["speed_error_initial"] == 1.0
    assert (tmp_path / "plots" / "learned_flux.png").stat().st_size > 0
