"""What a new user meets first: the version, the headline figure, announced
resumes, files that say what they hold (units, labels, only the config keys
that apply), sweeps that plot, the Helmholtz defaults shared by Python and
configs, and shock tubes whose data generate a vacuum."""

import importlib.metadata
import json

import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
import yaml

import diffsim as ds
from diffsim.jobs.cli import main
from diffsim.operators import PML, FourierSpectral, Grid, Helmholtz, point_source
from diffsim.operators.helmholtz import DEFAULT_PRECONDITIONER, DEFAULT_SHIFT

VACUUM = [
    "physics.left=[1,-5,0.4]",
    "physics.right=[1,5,0.4]",
    "grid.cells=[100]",
    "time.t_end=0.05",
    "time.snapshots=2",
]


def test_version_comes_from_package_metadata(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert (
        capsys.readouterr().out == f"diffsim {importlib.metadata.version('diffsim')}\n"
    )
    assert ds.__version__ == importlib.metadata.version("diffsim")


# --- vacuum: the exact solution covers it, the run goes on -------------------


def test_vacuum_shock_tube_runs_against_the_exact_vacuum_solution(tmp_path, capsys):
    out = tmp_path / "vac"
    code = main(
        [
            "run",
            "configs/sod.yaml",
            *VACUUM,
            "scheme.variables=primitive",
            "scheme.positivity=true",
            "--no-plots",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok"
    assert (
        summary["errors"]["l1_density"] < 1e-2
    )  # 100 cells against the exact two fans and vacuum: measured 5.6e-3
    fields = xr.open_dataset(out / "fields.nc", engine="h5netcdf")
    rho = fields["density"].values[-1]
    assert rho[47:53].max() < 0.01  # the exact vacuum spans |x - 0.5| < 0.063
    np.testing.assert_allclose(rho[[0, -1]], 1.0, atol=1e-6)  # undisturbed ends


def test_vacuum_with_the_default_scheme_is_no_crash(tmp_path, capsys):
    """Characteristic WENO cannot follow the data into the vacuum: a run
    failure (exit 3, fields kept), not an exception from the reference."""
    out = tmp_path / "run"
    code = main(["run", "configs/sod.yaml", *VACUUM, "--no-plots", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err and "Riemann" not in err
    assert (out / "fields.nc").exists() and json.loads(
        (out / "summary.json").read_text()
    )["status"] == "failed"


# --- files say what they hold ------------------------------------------------


def _assert_described(path):
    dataset = xr.open_dataset(path, engine="h5netcdf")
    for name in [*dataset.data_vars, *dataset.coords]:
        attrs = dataset[name].attrs
        assert attrs.get("units") and attrs.get("long_name"), (
            f"{path.name}: {name} has attrs {attrs}"
        )
    return dataset


def test_time_dependent_fields_have_units_and_long_names(tmp_path):
    out = tmp_path / "sod"
    assert (
        main(
            [
                "run",
                "configs/sod.yaml",
                "grid.cells=[32]",
                "time.snapshots=2",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    dataset = _assert_described(out / "fields.nc")
    assert dataset["velocity_x"].attrs == {
        "long_name": "velocity, x component",
        "units": "1",
    }
    assert dataset["t"].attrs == {"long_name": "time", "units": "1"}


def test_ensemble_fields_keep_their_attributes(tmp_path):
    out = tmp_path / "ens"
    code = main(
        [
            "run",
            "configs/sod_ensemble.yaml",
            "grid.cells=[32]",
            "time.snapshots=1",
            "--no-plots",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    dataset = _assert_described(out / "fields.nc")
    assert dataset["density"].attrs == {"long_name": "density", "units": "1"}


def test_steady_fields_have_units_and_resolved_config_only_applicable_keys(tmp_path):
    out = tmp_path / "ps"
    overrides = [
        "grid.cells=[48,48]",
        "grid.lower=[-2.4e-3,-2.4e-3]",
        "grid.upper=[2.4e-3,2.4e-3]",
        "physics.pml.width=8",
    ]
    assert (
        main(
            [
                "run",
                "configs/helmholtz_point_source.yaml",
                *overrides,
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    dataset = _assert_described(out / "fields.nc")
    assert (
        dataset["exact_real"].attrs["units"] == "Pa"
        and dataset["x"].attrs["units"] == "m"
    )
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert not {"stepper", "adjoint", "fd_order", "time"} & config.keys()
    assert config["discretization"] == "fourier"
    # it reruns as is
    assert (
        main(
            [
                "run",
                str(out / "config.yaml"),
                "--no-plots",
                "--out",
                str(tmp_path / "again"),
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    "config, overrides, present, absent",
    [
        (
            "configs/kdv_two_soliton.yaml",
            [],
            {"stepper", "adjoint", "time"},
            {"fd_order", "discretization"},
        ),
        (
            "configs/helmholtz_point_source.yaml",
            ["discretization=finite_difference", "fd_order=6"],
            {"fd_order"},
            {"stepper", "adjoint", "time"},
        ),
        (
            "configs/helmholtz_inclusion_inverse.yaml",
            [],
            {"adjoint"},
            {"stepper", "time", "fd_order"},
        ),
        ("configs/steady_fit.yaml", [], {"adjoint"}, {"stepper", "time"}),
    ],
)
def test_resolved_config_lists_the_keys_that_apply(
    config, overrides, present, absent, capsys
):
    assert main(["config", config, *overrides]) == 0
    keys = yaml.safe_load(capsys.readouterr().out).keys()
    assert present <= keys and not absent & keys


# --- optimize: headline figure, loss label, announced resume -----------------

LENS = ["grid.cells=[64,64]", "physics.pml.width=8", "optimize.checkpoint_every=1"]


def test_optimize_prints_headline_labels_loss_and_announces_resume(
    tmp_path, capsys, monkeypatch
):
    import diffsim.jobs.optimize as job

    labels = []
    real_plot_loss = job.plot_loss
    monkeypatch.setattr(
        job, "plot_loss", lambda *args: labels.append(args[3]) or real_plot_loss(*args)
    )
    out = tmp_path / "lens"
    assert (
        main(
            [
                "optimize",
                "configs/acoustic_lens.yaml",
                *LENS,
                "optimize.iterations=2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    summary = json.loads((out / "summary.json").read_text())
    assert (
        "focal intensity gain (optimized / initial design): "
        f"{summary['focal_gain']:.4g}" in lines
    )
    assert not any(line.startswith("resuming") for line in lines)
    assert labels == [r"$-\ln(I_{focus} / I_{focus,initial})$ (dimensionless)"]

    assert (
        main(
            [
                "optimize",
                "configs/acoustic_lens.yaml",
                *LENS,
                "optimize.iterations=3",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "resuming from iteration 2 (checkpoints/iteration_000002.eqx)"
    assert json.loads((out / "summary.json").read_text())["resumed_from"] == 2


# --- sweeps make and name their plots ----------------------------------------


def test_sweep_tasks_plot_and_collect_plots_a_default_metric(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = [
        "sweep",
        "configs/taylor_green.yaml",
        "--grid",
        "grid.cells=[8,8],[16,16]",
        "time.t_end=0.05",
        "time.snapshots=1",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    for task in ("task_0000", "task_0001"):
        assert sorted(p.name for p in (out / task / "plots").glob("*.png"))
    assert main(["collect", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    plot = out / "plots" / "errors_l2_relative_vs_grid_cells.png"
    assert printed[-2:] == [f"wrote {out / 'results.csv'}", f"wrote {plot}"]
    assert plot.stat().st_size > 5000


def test_sweep_no_plots_option(tmp_path):
    out = tmp_path / "sweep"
    args = [
        "sweep",
        "configs/taylor_green.yaml",
        "--grid",
        "grid.cells=[8,8]",
        "time.t_end=0.05",
        "time.snapshots=1",
        "--no-plots",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert (out / "task_0000" / "summary.json").exists() and not (
        out / "task_0000" / "plots"
    ).exists()


# --- one set of Helmholtz defaults -------------------------------------------


def test_config_solver_defaults_are_the_library_defaults():
    from diffsim.scenarios.helmholtz_common import SolverConfig

    sc = SolverConfig()
    assert isinstance(ds.HELMHOLTZ_SOLVER, ds.BiCGStab) and sc.method == "bicgstab"
    assert (sc.rtol, sc.atol, sc.max_steps) == (
        ds.HELMHOLTZ_SOLVER.rtol,
        ds.HELMHOLTZ_SOLVER.atol,
        ds.HELMHOLTZ_SOLVER.max_steps,
    )
    assert (
        (sc.preconditioner, sc.shift)
        == (DEFAULT_PRECONDITIONER, DEFAULT_SHIFT)
        == ("born", 0.3)
    )
    assert sc.build() == ds.HELMHOLTZ_SOLVER


@pytest.fixture(scope="module")
def small_helmholtz():
    grid = Grid((48, 48), (-3.6e-3, -3.6e-3), (3.6e-3, 3.6e-3))
    X, Y = grid.mesh()
    c = jnp.where(jnp.hypot(X, Y) < 1e-3, 1800.0, 1500.0)
    return Helmholtz(
        FourierSpectral(grid), c, 2 * np.pi * 1e6, pml=PML(10)
    ), point_source(grid, (-2e-3, 0.0))


def test_solve_helmholtz_is_the_documented_linear_solve(small_helmholtz):
    op, source = small_helmholtz
    sol = ds.solve_helmholtz(op, source)
    reference = ds.linear_solve(
        op,
        -source,
        ds.BiCGStab(rtol=1e-6, max_steps=2000),
        preconditioner=op.preconditioner("born", 0.3),
    )
    np.testing.assert_array_equal(np.asarray(sol.value), np.asarray(reference.value))
    assert bool(sol.converged) and float(sol.relative_residual) <= 1e-6
    # H p = -source
    residual = op(sol.value) + source
    assert float(jnp.linalg.norm(residual) / jnp.linalg.norm(source)) <= 1e-6
    # a real source is the same source
    real = ds.solve_helmholtz(op, source.real)
    np.testing.assert_allclose(
        np.asarray(real.value),
        np.asarray(sol.value),
        rtol=0,
        atol=1e-12 * float(jnp.abs(sol.value).max()),
    )


def test_solve_helmholtz_names_bad_arguments(small_helmholtz):
    op, source = small_helmholtz
    with pytest.raises(
        ValueError,
        match=(
            "solve_helmholtz: preconditioner must be one of born, shifted_laplacian, "
            "none, got 'multigrid'"
        ),
    ):
        ds.solve_helmholtz(op, source, preconditioner="multigrid")
    with pytest.raises(
        ValueError,
        match=(
            r"solve_helmholtz: source has shape \(48,\), "
            r"the grid has cells \(48, 48\)"
        ),
    ):
        ds.solve_helmholtz(op, source[0])
    with pytest.raises(
        TypeError,
        match="solve_helmholtz: helmholtz must be an operators.Helmholtz, got function",
    ):
        # a function instead of an operator, on purpose
        ds.solve_helmholtz(lambda p: p, source)  # pyright: ignore[reportArgumentType]
