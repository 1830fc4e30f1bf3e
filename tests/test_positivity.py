"""The positivity promise: a compressible run that reaches a non-positive
density or pressure stops (exit 3), naming step, time, field and cell, and
keeps the good snapshots. Operators declare the constraint by subclassing
`AbstractConstrainedOperator`."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from diffsim.jobs.cli import main
from diffsim.operators import (
    AbstractConstrainedOperator,
    Burgers,
    Euler,
    FourierSpectral,
    Grid,
)
from diffsim.operators.finite_volume import NeuralFlux, ScalarConservationLaw

# Forward Euler with WENO5-Z on primitive variables and HLL fluxes, no
# positivity limiter, is unstable on Sod's tube: the state stays finite, but
# the pressure in one cell turns negative (the step after would be NaN: the
# sound speed needs p > 0). CFL 1.0 for the single run, 0.8 for the ensemble.
UNSTABLE = [
    "stepper=euler",
    "scheme.reconstruction=weno5z",
    "scheme.riemann=hll",
    "scheme.variables=primitive",
    "scheme.positivity=false",
    "grid.cells=[100]",
    "time.snapshots=20",
    "--no-plots",
]


def test_constraints_are_declared_by_the_abstract_class():
    euler = Euler(Grid([8]))
    assert isinstance(euler, AbstractConstrainedOperator)
    assert euler.positive_quantities == ("density", "pressure")
    assert isinstance(
        NeuralFlux(euler, key=jax.random.key(0)), AbstractConstrainedOperator
    )
    assert not isinstance(
        Burgers(FourierSpectral(Grid([8])), 0.1), AbstractConstrainedOperator
    )
    assert not isinstance(
        ScalarConservationLaw(Grid([8]), lambda u: u**3 / 6),
        AbstractConstrainedOperator,
    )
    fields = jnp.stack([jnp.ones(8), jnp.linspace(-1, 1, 8), jnp.ones(8)])
    fields = fields.at[0, 2].set(-0.1).at[2, 5].set(0.0).at[1, 6].set(jnp.nan)
    np.testing.assert_array_equal(
        euler.physical_violation(euler.encode(fields)),
        [False, False, True, False, False, True, True, False],
    )


def test_non_positive_pressure_stops_the_run(tmp_path, capsys):
    code = main(
        ["run", "configs/sod.yaml", *UNSTABLE, "time.cfl=1.0", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 3
    line = err.strip().splitlines()[-1]
    assert line.startswith(
        "diffsim: run stopped at step 14 (t = 0.05): field 'pressure' is -0.00884034 (must be > 0) "
        "at cell (54,); the last good snapshot (t = 0.04)"
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    failure = summary["failure"]
    assert summary["status"] == "failed"
    assert failure["step"] == 14 and failure["t"] == pytest.approx(0.05, rel=1e-9)
    assert (
        failure["reason"]
        == "field 'pressure' is -0.00884034 (must be > 0) at cell (54,)"
    )
    ds = xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf")
    np.testing.assert_allclose(
        ds["t"].values, np.arange(5) * 0.01, atol=1e-12
    )  # every good snapshot, none after
    assert (ds["density"].values > 0).all() and (ds["pressure"].values > 0).all()


def test_non_positive_pressure_stops_an_ensemble(tmp_path, capsys):
    code = main(
        [
            "run",
            "configs/sod_ensemble.yaml",
            *UNSTABLE,
            "time.cfl=0.8",
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert (
        "member 4 (physics.left.2=3.0) failed at step 18 (t = 0.0356376): field 'pressure' is -0.0564213 (must be > 0) at cell (55,)"
        in err
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["failure"]["member"] == 4 and summary["failure"]["step"] == 18
    ds = xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf")
    assert (
        ds["t"].values[-1] == pytest.approx(0.03) and (ds["pressure"].values > 0).all()
    )
