"""The steady-state parameter fit: loss and parameter error fall under
`diffsim optimize`; gradcheck passes for the implicit, unrolled
(checkpointed through the Newton iterations) and forward modes, which agree."""

import json

from diffsim.jobs.cli import main
from diffsim.jobs.config import load_config
from diffsim.jobs.optimize import run_optimize

SMALL = ["grid.cells=[32]", "physics.sensors=16"]


def test_optimize_recovers_the_forcing(tmp_path):
    config, physics, scenario = load_config(
        "configs/steady_fit.yaml", [*SMALL, "optimize.iterations=15"]
    )
    summary = run_optimize(config, physics, scenario, tmp_path, plots=False)
    assert summary["loss_final"] < 1e-2 * summary["loss_initial"], summary
    assert (
        summary["parameter_error_final"] < 0.1 < summary["parameter_error_initial"]
    ), summary
    assert json.loads((tmp_path / "summary.json").read_text())["gradient"] == "reverse"


def test_gradcheck_all_adjoints_agree(capsys):
    code = main(
        [
            "gradcheck",
            "configs/steady_fit.yaml",
            *SMALL,
            "--all-modes",
            "--directions",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    for adjoint, mode in [
        ("implicit", "reverse"),
        ("checkpoint", "reverse"),
        ("implicit", "forward"),
    ]:
        assert any(line.split()[:2] == [adjoint, mode] for line in out.splitlines()), (
            out
        )
    assert out.count("max relative difference") == 3
    assert "gradcheck: passed" in out


def test_implicit_adjoint_is_rejected_for_rollouts(capsys):
    assert (
        main(
            [
                "gradcheck",
                "configs/burgers_inverse.yaml",
                "grid.cells=[16]",
                "time.t_end=0.1",
                "physics.observation_every=5",
                "adjoint=implicit",
            ]
        )
        == 2
    )
    assert (
        "adjoint: implicit differentiation applies to steady states"
        in capsys.readouterr().err
    )
