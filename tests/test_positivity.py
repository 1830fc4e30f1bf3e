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
    discretize,
)
from diffsim.operators.finite_volume import FiniteVolume, NeuralFlux
from diffsim.operators.physics import PotentialFluxLaw

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
        discretize(Burgers(0.1), FourierSpectral(Grid([8]))),
        AbstractConstrainedOperator,
    )
    assert not isinstance(
        discretize(PotentialFluxLaw(lambda u: u**3 / 6), FiniteVolume(Grid([8]))),
        AbstractConstrainedOperator,
    )
    fields = jnp.stack([jnp.ones(8), jnp.linspace(-1, 1, 8), jnp.ones(8)])
    fields = fields.at[0, 2].set(-0.1).at[2, 5].set(0.0).at[1, 6].set(jnp.nan)
    np.testing.assert_array_equal(
        euler.physical_violation(euler.encode(fields)),
        [False, False, True, False, False, True, True, False],
    )


FOUR_DEVICES = pytest.mark.skipif(
    jax.device_count() < 4, reason="needs 4 devices (tests/conftest.py sets them)"
)


@pytest.mark.parametrize(
    "how, good, step, value",
    [
        (["time.cfl=1.0"], 11, 14, -0.00884034),
        pytest.param(
            ["time.cfl=1.0", "parallel.mesh=[4]"],
            11,
            14,
            -0.00884034,
            marks=FOUR_DEVICES,
            id="sharded",
        ),
        (["time.dt=0.004", "time.cfl=null"], 12, 15, -0.0366094),  # 3 per 0.01
    ],
    ids=["cfl", "sharded", "fixed"],
)
def test_non_positive_pressure_stops_the_run(tmp_path, capsys, how, good, step, value):
    """One run (CFL steps, the same split over 4 devices, fixed steps) through
    the command line: exit 3, the step, time, field and cell named, and the
    good snapshots (t = 0 to 0.04, `good` steps) kept in fields.nc."""
    code = main(["run", "configs/sod.yaml", *UNSTABLE, *how, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 3
    reason = f"field 'pressure' is {value:g} (must be > 0) at cell (54,)"
    assert err.strip().splitlines()[-1] == (
        f"diffsim: run stopped at step {step} (t = 0.05): {reason}; the last good "
        f"snapshot (t = 0.04) and summary.json are in {tmp_path}"
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    failure = summary["failure"]
    assert summary["status"] == "failed" and summary["steps"] == good
    assert failure["step"] == step and failure["t"] == pytest.approx(0.05, rel=1e-9)
    assert failure["reason"] == reason
    ds = xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf")
    # every good snapshot, none after
    np.testing.assert_allclose(ds["t"].values, np.arange(5) * 0.01, atol=1e-12)
    assert ds["pressure"].shape == (5, 100)
    assert (ds["density"].values > 0).all() and (ds["pressure"].values > 0).all()


def test_non_positive_pressure_stops_an_ensemble(tmp_path, capsys):
    """A batch (the members vmapped, the batch sharded over the devices): the
    failing member is named with its step, time, field and cell; fields.nc
    keeps every member's good snapshots (t = 0 to 0.03)."""
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
    reason = "field 'pressure' is -0.0564213 (must be > 0) at cell (55,)"
    assert err.strip().splitlines()[-1] == (
        f"diffsim: member 4 (physics.left.2=3.0) failed at step 18 (t = 0.0356376): "
        f"{reason}; the batch stopped there; the last good snapshot (t = 0.03) and "
        f"summary.json are in {tmp_path}"
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    failure = summary["failure"]
    assert summary["status"] == "failed"
    assert (failure["member"], failure["step"], failure["reason"]) == (4, 18, reason)
    assert failure["t"] == pytest.approx(0.0356376, rel=1e-6)
    ds = xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf")
    np.testing.assert_allclose(ds["t"].values, np.arange(5) * 0.0075, atol=1e-12)
    assert ds["pressure"].shape[:2] == (summary["batch"]["size"], 5)
    assert (ds["density"].values > 0).all() and (ds["pressure"].values > 0).all()
