"""The command line end to end: run configs into a temp dir, read the files back."""

import dataclasses
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import xarray as xr
import yaml

from diffsim import RunError, WriteError
from diffsim.jobs import ConfigError, OptionError
from diffsim.jobs.cli import COMMANDS, build_parser, main

SUMMARY_KEYS = {
    "scenario",
    "steps",
    "compile_s",
    "run_s",
    "cell_updates_per_s",
    "t_final",
    "precision",
    "device",
}


@pytest.fixture(scope="module")
def kdv_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("kdv")
    code = main(
        [
            "run",
            "configs/kdv_two_soliton.yaml",
            "grid.cells=[256]",
            "time.t_end=1.0",
            "time.snapshots=4",
            "precision=float64",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def test_run_writes_every_output(kdv_run):
    names = {p.name for p in kdv_run.iterdir()}
    assert {"config.yaml", "summary.json", "fields.nc", "plots"} <= names
    pngs = sorted(p.name for p in (kdv_run / "plots").glob("*.png"))
    assert pngs == ["final.png", "spacetime.png"]
    for p in (kdv_run / "plots").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


def test_summary_contract(kdv_run):
    summary = json.loads((kdv_run / "summary.json").read_text())
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["scenario"] == "kdv_two_soliton"
    assert summary["precision"] == "float64"
    assert summary["steps"] == 500  # t_end 1.0 / dt 2e-3
    assert summary["t_final"] == pytest.approx(1.0)
    assert summary["cell_updates_per_s"] == pytest.approx(256 * 500 / summary["run_s"])
    assert summary["errors"]["l2_relative"] < 5e-5  # 256 cells: measured 1.3e-5


def test_resolved_config_is_complete_and_reruns(kdv_run, tmp_path):
    config = yaml.safe_load((kdv_run / "config.yaml").read_text())
    assert config["grid"] == {"cells": [256], "lower": [-30.0], "upper": [30.0]}
    assert config["time"] == {
        "t_end": 1.0,
        "dt": 0.002,
        "cfl": None,
        "max_steps": 100_000,
        "snapshots": 4,
    }
    assert config["scheme"] == {}
    assert config["physics"] == {"kappa1": 1.0, "kappa2": 0.6, "x1": -12.0, "x2": -4.0}
    assert (
        main(
            ["run", str(kdv_run / "config.yaml"), "--no-plots", "--out", str(tmp_path)]
        )
        == 0
    )
    a = xr.open_dataset(kdv_run / "fields.nc", engine="h5netcdf")
    b = xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf")
    np.testing.assert_array_equal(a["u"].values, b["u"].values)


def test_fields_nc_readable_by_xarray_and_h5py(kdv_run):
    ds = xr.open_dataset(kdv_run / "fields.nc", engine="h5netcdf")
    assert ds["u"].dims == ("t", "x")
    np.testing.assert_allclose(ds["t"].values, [0.0, 0.25, 0.5, 0.75, 1.0], rtol=1e-12)
    np.testing.assert_allclose(ds["x"].values, -30 + (np.arange(256) + 0.5) * 60 / 256)
    # the stored initial condition is the exact two-soliton profile: two bumps of height
    # 2 kappa^2
    assert ds["u"].values[0].max() == pytest.approx(2.0, rel=2e-2)
    with h5py.File(kdv_run / "fields.nc") as f:
        u = f["u"]
        assert isinstance(u, h5py.Dataset) and u.shape == (5, 256)


def test_2d_run_and_float32(tmp_path):
    code = main(
        [
            "run",
            "configs/taylor_green.yaml",
            "grid.cells=[32,32]",
            "time.t_end=1.0",
            "time.snapshots=2",
            "precision=float32",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["precision"] == "float32"
    assert summary["errors"]["l2_relative"] < 1e-5  # float32 round-off, exact solution
    ds = xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf")
    assert (
        ds["vorticity"].dims == ("t", "x", "y") and ds["vorticity"].dtype == np.float32
    )
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "vorticity_error.png",
        "vorticity_snapshots.png",
    ]


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["time.dt=-1"], "time.dt"),
        (["time.dtt=0.1"], "time.dtt"),
        (["grid.cells=[0]"], "grid.cells.0"),
        (["grid.cells=[64,64]"], "grid.cells"),
        (["grid.cells=abc"], "grid.cells"),
        (["precision=float16"], "precision"),
        (["stepper=rk5"], "stepper"),
        (["physics.kappa1=-1"], "physics.kappa1"),
        (["physics.speed=2"], "physics.speed"),
        (["scenario=nope"], "scenario"),
        (["grid.lower=[0.0, 1.0]"], "grid.lower"),
        (["time"], "time"),
    ],
)
def test_bad_config_exits_2_naming_the_key(overrides, key, tmp_path, capsys):
    code = main(
        [
            "run",
            "configs/kdv_two_soliton.yaml",
            *overrides,
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(f"diffsim: config error: {key}:"), err
    assert "\n" not in err
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


def test_console_script_bad_config_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "scenario: taylor_green\ntime: {t_end: 1.0, dt: 0.1, snapshots: 0}\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "diffsim.jobs.cli",
            "run",
            str(bad),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "diffsim: config error: time.snapshots: Input should be greater than 0 (got 0)"
    ]


def test_scenarios_lists_every_registered_scenario(capsys):
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(names)
    assert {
        "ks_chaos",
        "burgers_shock",
        "kdv_two_soliton",
        "taylor_green",
        "kolmogorov_flow",
        "decaying_turbulence",
    } <= set(names)


def test_non_finite_config_values_are_rejected(tmp_path, capsys):
    code = main(
        [
            "run",
            "configs/burgers_shock.yaml",
            "physics.amplitude=.inf",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.startswith(
        "diffsim: config error: physics.amplitude: Input should be a finite number"
    )


def test_non_finite_initial_data_names_field_and_cell():
    from diffsim.jobs.run import RunError, check_physical
    from diffsim.operators import Euler, Grid

    euler = Euler(Grid([4, 5]))  # declares density and pressure positive
    fields = np.ones((3, 4, 5))
    fields[1, 2, 3] = np.nan
    with pytest.raises(
        RunError, match=r"initial data: field 'velocity_x' is nan at cell \(2, 3\)"
    ):
        check_physical(
            fields, ("density", "velocity_x", "pressure"), "initial data", euler
        )
    fields[1, 2, 3] = -1.0  # negative velocity is fine, negative pressure is not
    fields[2, 0, 4] = -0.5
    with pytest.raises(
        RunError,
        match=r"initial data: field 'pressure' is -0.5 \(must be > 0\) "
        r"at cell \(0, 4\)",
    ):
        check_physical(
            fields, ("density", "velocity_x", "pressure"), "initial data", euler
        )


def test_blow_up_stops_with_step_and_field(tmp_path, capsys):
    # explicit Euler far beyond its stability limit on KS hyperdiffusion blows up
    code = main(
        [
            "run",
            "configs/ks_chaos.yaml",
            "stepper=euler",
            "time.dt=0.25",
            "time.t_end=50",
            "time.snapshots=10",
            "--no-plots",
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert "run stopped at step" in err and "field 'u'" in err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed"
    failure = summary["failure"]
    assert (
        failure["reason"].startswith("field 'u' is nan at cell (")
        and 1 <= failure["step"] <= 200
    )
    ds = xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf")
    assert np.isfinite(ds["u"].values).all()  # only good snapshots were kept
    assert ds["t"].values[-1] < failure["t"]


@pytest.mark.parametrize(
    "error, code, line",
    [
        (
            ConfigError("time.dt", "expected > 0"),
            2,
            "config error: time.dt: expected > 0",
        ),
        (OptionError("--out", "is empty"), 2, "--out: is empty"),
        (RunError("run stopped at step 3"), 3, "run stopped at step 3"),
        (
            WriteError("out/fields.nc", OSError(28, "No space left on device")),
            4,
            "cannot write out/fields.nc: No space left on device",
        ),
        (
            OSError(28, "No space left on device", "out/x"),
            4,
            "cannot write out/x: No space left on device",
        ),
    ],
)
def test_one_error_to_exit_code_mapping(error, code, line, monkeypatch, capsys):
    """Every subcommand's errors reach the same mapping in `main`."""

    def fail(args):
        raise error

    for name, command in COMMANDS.items():
        monkeypatch.setitem(COMMANDS, name, dataclasses.replace(command, handler=fail))
    expected = f"diffsim: {line}"
    for argv in (
        ["config", "c.yaml"],
        ["scenarios"],
        ["collect", "somewhere"],
        ["gradcheck", "c.yaml"],
    ):
        assert main(argv) == code
        assert capsys.readouterr().err.splitlines() == [expected]


def test_every_subcommand_is_in_the_table():
    names = ["run", "optimize", "gradcheck", "sweep", "collect", "config", "scenarios"]
    assert list(COMMANDS) == names
    assert "{" + ",".join(names) + "}" in build_parser().format_help()
