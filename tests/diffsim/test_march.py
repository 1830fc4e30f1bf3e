"""The one run path (`diffsim/jobs/march.py`): a step rule compiled once per
run, for one operator (`March`) or vmapped over an ensemble (`BatchedMarch`),
and the capability it needs declared by the operator (`AbstractCFLOperator`)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from diffsim import SSPRK3, Ensemble, RunError, SaveAt, batch_mesh, solve, solve_cfl
from diffsim.jobs.march import (
    BatchedMarch,
    CFLSteps,
    FixedSteps,
    March,
    constraints_of,
    march_snapshots,
)
from diffsim.operators import (
    AbstractCFLOperator,
    Burgers,
    Euler,
    FourierSpectral,
    Grid,
    IdealGas,
    discretize,
)
from diffsim.operators.finite_volume import FiniteVolume, NeuralFlux
from diffsim.operators.physics import PotentialFluxLaw

GRID = Grid([32])


def _sod(gamma=1.4, p_left=1.0):
    op = Euler(GRID, eos=IdealGas(gamma), variables="primitive")
    (x,) = GRID.coordinates
    left = x < 0.5
    y = jnp.stack(
        [jnp.where(left, 1.0, 0.125), jnp.zeros(32), jnp.where(left, p_left, 0.1)]
    )
    return op, y


class CountingCFL(CFLSteps):
    """Counts how often the interval is traced (compiled)."""

    traces = 0

    def interval(self, op, y, t0, t1, cache):
        type(self).traces += 1
        return super().interval(op, y, t0, t1, cache)


def test_the_cfl_capability_is_declared():
    euler, _ = _sod()
    scalar = discretize(PotentialFluxLaw(lambda u: u**3 / 6), FiniteVolume(GRID))
    for op in (euler, scalar, NeuralFlux(euler, key=jax.random.key(0))):
        assert isinstance(op, AbstractCFLOperator)
    burgers = discretize(Burgers(0.1), FourierSpectral(Grid([8])))
    assert not isinstance(burgers, AbstractCFLOperator)
    with pytest.raises(
        TypeError,
        match=r"^solve_cfl needs an AbstractCFLOperator \(one with stable_dt\(state, "
        r"cfl\)\); Burgers is not one: use solve with a fixed dt$",
    ):
        solve_cfl(
            burgers,  # pyright: ignore[reportArgumentType]
            SSPRK3(),
            jnp.zeros((1, 8)),
            t1=0.1,
            cfl=0.5,
            max_steps=9,
        )


def test_march_compiles_once_and_equals_solve_cfl():
    """Five snapshot intervals, one trace; the end state and step count are
    `solve_cfl`'s over the whole time with the snapshot times hit."""
    op, y = _sod()
    CountingCFL.traces = 0
    march = March(CountingCFL(SSPRK3(), 0.5, 200), op, y, op.field_names)
    done = march_snapshots(march, y, 0.1, 5, "sod")
    assert CountingCFL.traces == 1
    assert done.failure is None and done.ts == pytest.approx(
        [0, 0.02, 0.04, 0.06, 0.08, 0.1]
    )
    saveat = SaveAt(ts=[0.02, 0.04, 0.06, 0.08, 0.1], t1=False)
    ref = solve_cfl(op, SSPRK3(), y, t1=0.1, cfl=0.5, max_steps=200, saveat=saveat)
    assert done.steps == int(ref.num_steps)
    np.testing.assert_allclose(done.ys[-1], ref.ys[-1], rtol=0, atol=1e-12)


def test_fixed_march_equals_solve():
    op, y = _sod()
    march = March(FixedSteps(SSPRK3(), 0.002, 10), op, y, op.field_names)
    done = march_snapshots(march, y, 0.06, 3, "sod")
    ref = solve(op, SSPRK3(), y, dt=0.002, num_steps=30).ys[-1]
    assert done.steps == 30 and march.dt == 0.002
    np.testing.assert_allclose(done.ys[-1], ref, rtol=0, atol=1e-13)


def test_too_few_steps_name_time_max_steps():
    op, y = _sod()
    march = March(CFLSteps(SSPRK3(), 0.5, 3), op, y, op.field_names)
    with pytest.raises(
        RunError,
        match=r"^time\.max_steps: 3 steps were not enough to advance from t = 0 to "
        r"0\.1 \(reached t = 0\.0\d+\); raise time\.max_steps or time\.snapshots$",
    ):
        march.advance(y, 0.0, 0.1)


def test_batched_march_is_the_march_under_vmap():
    """Members with their own gas and initial data, each taking its own CFL
    steps: the batch (padded to the devices, sharded) equals each member's
    own `March`, steps included; the padding is dropped."""
    setups = [_sod(1.4), _sod(1.67, 2.0), _sod(1.3, 3.0)]
    ops = [op for op, _ in setups]
    ensemble = Ensemble.stack(ops, [y for _, y in setups])
    mesh = batch_mesh()
    padded = ensemble.pad(mesh.devices.size).shard(mesh)
    rule = CFLSteps(SSPRK3(), 0.5, 200)
    CountingCFL.traces = 0
    batched = BatchedMarch(
        CountingCFL(SSPRK3(), 0.5, 200, chunk=4),
        padded,
        NamedSharding(mesh, PartitionSpec("batch")),
        3,
        ops,
        ops[0].field_names,
        [constraints_of(op) for op in ops],
    )
    done = march_snapshots(batched, padded.initial, 0.1, 4, "sod x3")
    steps = np.asarray(done.steps)
    assert CountingCFL.traces == 1 and done.failure is None
    assert np.asarray(done.ys).shape == (5, 3, 3, 32)
    for i, (op, y) in enumerate(setups):
        own = march_snapshots(March(rule, op, y, op.field_names), y, 0.1, 4, "sod")
        assert steps[i] == own.steps
        np.testing.assert_allclose(done.ys[-1][i], own.ys[-1], rtol=0, atol=1e-12)
    assert len(set(steps.tolist())) > 1  # the members' own steps
