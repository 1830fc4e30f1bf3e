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

from diffsim._cli import main
from operators import AbstractConstrainedOperator, Burgers, Euler, FourierSpectral, Grid
from operators.finite_volume import NeuralFlux, ScalarConservationLaw

# Forward Euler at CFL 1.5 with first-order HLL fluxes is unstable on Sod's
# tube: the state stays finite, but the pressure in one cell turns negative
# (the step after would be NaN: the sound speed needs p > 0).
UNSTABLE = ["stepper=euler", "time.cfl=1.5", "scheme.reconstruction=first_order", "scheme.riemann=hll",
            "grid.cells=[100]", "time.snapshots=20", "--no-plots"]


def test_constraints_are_declared_by_the_abstract_class():
    euler = Euler(Grid([8]))
    assert isinstance(euler, AbstractConstrainedOperator)
    assert euler.positive_quantities == ("density", "pressure")
    assert isinstance(NeuralFlux(euler, key=jax.random.key(0)), AbstractConstrainedOperator)
    assert not isinstance(Burgers(FourierSpectral(Grid([8])), 0.1), AbstractConstrainedOperator)
    assert not isinstance(ScalarConservationLaw(Grid([8]), lambda u: u**3 / 6), AbstractConstrainedOperator)
    fields = jnp.stack([jnp.ones(8), jnp.linspace(-1, 1, 8), jnp.ones(8)])
    fields = fields.at[0, 2].set(-0.1).at[2, 5].set(0.0).at[1, 6].set(jnp.nan)
    np.testing.assert_array_equal(euler.physical_violation(euler.encode(fields)),
                                  [False, False, True, False, False, True, True, False])


def test_non_positive_pressure_stops_the_run(tmp_path, capsys):
    code = main(["run", "configs/sod.yaml", *UNSTABLE, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 3
    line = err.strip().splitlines()[-1]
    assert line.startswith("diffsim: run stopped at step 16 (t = 0.0853377): field 'pressure' is -0.134277 (must be > 0) "
                           "at cell (63,); the last good snapshot (t = 0.08)")
    summary = json.loads((tmp_path / "summary.json").read_text())
    failure = summary["failure"]
    assert summary["status"] == "failed"
    assert failure["step"] == 16 and failure["t"] == pytest.approx(0.0853377, rel=1e-5)
    assert failure["reason"] == "field 'pressure' is -0.134277 (must be > 0) at cell (63,)"
    ds = xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf")
    np.testing.assert_allclose(ds["t"].values, np.arange(9) * 0.01, atol=1e-12)  # every good snapshot, none after
    assert (ds["density"].values > 0).all() and (ds["pressure"].values > 0).all()


def test_non_positive_pressure_stops_an_ensemble(tmp_path, capsys):
    code = main(["run", "configs/sod_ensemble.yaml", *UNSTABLE, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 3
    assert "member 4 (physics.left.2=3.0) failed at step 8 (t = 0.0259426): field 'pressure' is -0.0633599 (must be > 0) at cell (54,)" in err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["failure"]["member"] == 4 and summary["failure"]["step"] == 8
    ds = xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf")
    assert ds["t"].values[-1] == pytest.approx(0.0225) and (ds["pressure"].values > 0).all()
