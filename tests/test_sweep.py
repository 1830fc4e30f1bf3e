"""diffsim sweep / collect with the local executor, end to end."""

import csv
import json

import pytest

from diffsim.jobs.cli import main
from diffsim.jobs.sweep import expand_grid, split_values


@pytest.mark.parametrize(
    "text, values",
    [
        ("hllc,roe", ["hllc", "roe"]),
        ("[128],[256]", ["[128]", "[256]"]),
        ("[64, 64],[128,128]", ["[64, 64]", "[128,128]"]),
        ("'a,b',c", ["'a,b'", "c"]),
        ("0.1", ["0.1"]),
    ],
)
def test_split_values(text, values):
    assert split_values(text) == values


def test_expand_grid_is_a_cross_product():
    keys, combos = expand_grid(["grid.cells=[8],[16]", "stepper=rk4,etdrk4,ssprk3"])
    assert keys == ["grid.cells", "stepper"]
    assert len(combos) == 6
    assert combos[0] == ["grid.cells=[8]", "stepper=rk4"] and combos[-1] == [
        "grid.cells=[16]",
        "stepper=ssprk3",
    ]


def test_local_sweep_collect_and_skip(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = [
        "sweep",
        "configs/taylor_green.yaml",
        "--grid",
        "grid.cells=[8,8],[16,16]",
        "--grid",
        "stepper=rk4,etdrk4",
        "time.t_end=0.1",
        "time.snapshots=1",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert (
        "sweep: 4 tasks, 0 already finished, 4 ran, 0 failed" in capsys.readouterr().out
    )
    assert main(args) == 0
    assert "4 already finished, 0 ran" in capsys.readouterr().out

    assert (
        main(
            [
                "collect",
                str(out),
                "--metric",
                "errors.l2_relative",
                "--param",
                "grid.cells",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["task"] for r in rows] == [f"task_{i:04d}" for i in range(4)]
    assert [(r["grid.cells"], r["stepper"]) for r in rows] == [
        ("[8, 8]", "rk4"),
        ("[8, 8]", "etdrk4"),
        ("[16, 16]", "rk4"),
        ("[16, 16]", "etdrk4"),
    ]
    for r in rows:
        assert r["status"] == "ok" and float(r["errors.l2_relative"]) < 1e-8
        summary = json.loads((out / r["task"] / "summary.json").read_text())
        assert summary["stepper"] == r["stepper"]
    assert (
        out / "plots" / "errors_l2_relative_vs_grid_cells.png"
    ).stat().st_size > 5000


def test_sweep_rejects_a_bad_task_before_running(tmp_path, capsys):
    code = main(
        [
            "sweep",
            "configs/taylor_green.yaml",
            "--grid",
            "time.dt=0.1,-1",
            "--out",
            str(tmp_path / "s"),
        ]
    )
    assert code == 2
    assert "config error: time.dt" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_collect_names_a_missing_metric(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert (
        main(
            [
                "sweep",
                "configs/taylor_green.yaml",
                "--grid",
                "grid.cells=[8,8]",
                "time.t_end=0.05",
                "time.snapshots=1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert (
        main(["collect", str(out), "--metric", "errors.nope", "--param", "grid.cells"])
        == 2
    )
    assert "'errors.nope' is not a column" in capsys.readouterr().err
