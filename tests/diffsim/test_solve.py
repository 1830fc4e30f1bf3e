"""solve: SaveAt bookkeeping, jit/vmap/grad/jvp through rollouts, gradients
against finite differences, checkpointed adjoints (values and memory), retracing."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array

import diffsim as ds
from diffsim.operators import (
    AbstractSemilinearOperator,
    Burgers,
    FourierSpectral,
    Grid,
    KuramotoSivashinsky,
    discretize,
)


class Relaxation(AbstractSemilinearOperator):
    """`u' = lam u + cos(t)`: time dependent, so that saved states reveal whether
    the step counter survives the nested scans of `solve`."""

    lam: Array

    @property
    def field_names(self):
        return ("u",)

    def linear_symbol(self):
        return self.lam[None]

    def nonlinear(self, state, t):
        return jnp.cos(t) * jnp.ones_like(state)

    def encode(self, fields):
        return fields

    def decode(self, state):
        return state


T0, DT, N = 0.25, 0.1, 10
RELAX = Relaxation(jnp.array([-1.0, -0.3, 0.2]))
Y0 = jnp.array([[1.0, -2.0, 0.5]])


@pytest.fixture(scope="module")
def trajectory():
    """States at steps 0..N by calling the stepper by hand."""
    stepper = ds.RK4()
    step = jax.jit(lambda s, t: stepper.step(RELAX, s, t, DT, None))
    states = [RELAX.encode(Y0)]
    for k in range(N):
        states.append(step(states[-1], T0 + k * DT))
    return np.stack([np.asarray(RELAX.decode(s)) for s in states])


SAVEAT_CASES = [
    (ds.SaveAt(), (10,)),
    (ds.SaveAt(t0=True), (0, 10)),
    (ds.SaveAt(steps=(3, 7)), (3, 7, 10)),
    (ds.SaveAt(steps=(7, 3, 3), t1=False), (3, 7)),
    (ds.SaveAt(every=4), (4, 8, 10)),
    (ds.SaveAt(every=2, t0=True), (0, 2, 4, 6, 8, 10)),
    (ds.SaveAt(every=3, t1=False), (3, 6, 9)),
    (ds.SaveAt(ts=[T0 + 2 * DT, T0 + 5 * DT]), (2, 5, 10)),
    (ds.SaveAt(ts=np.array([T0, T0 + 10 * DT]), t1=False), (0, 10)),
    (ds.SaveAt(steps=(0,), t1=False), (0,)),
    (ds.SaveAt(steps=(1, 2, 3, 5, 7, 9)), (1, 2, 3, 5, 7, 9, 10)),
]


@pytest.mark.parametrize("saveat, steps", SAVEAT_CASES)
def test_saveat(trajectory, saveat, steps):
    assert saveat.resolve(N, T0, DT) == steps
    sol = ds.solve(RELAX, ds.RK4(), Y0, dt=DT, num_steps=N, t0=T0, saveat=saveat)
    assert sol.num_steps == N
    assert sol.ys.shape == (len(steps), 1, 3)
    np.testing.assert_allclose(sol.ts, T0 + DT * np.array(steps), rtol=1e-15)
    np.testing.assert_allclose(sol.ys, trajectory[list(steps)], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    "adjoint",
    [ds.CheckpointAdjoint(2), ds.CheckpointAdjoint(3), ds.CheckpointAdjoint(1)],
)
def test_checkpointed_forward_values(trajectory, adjoint):
    saveat = ds.SaveAt(steps=(1, 2, 3, 5, 7, 9), t0=True)
    sol = ds.solve(
        RELAX, ds.RK4(), Y0, dt=DT, num_steps=N, t0=T0, saveat=saveat, adjoint=adjoint
    )
    np.testing.assert_allclose(
        sol.ys, trajectory[[0, 1, 2, 3, 5, 7, 9, 10]], rtol=1e-13, atol=1e-15
    )


def test_saveat_matches_separate_solves():
    """Saved snapshots of a spectral rollout equal the final states of shorter
    solves."""
    grid = Grid(32, 0.0, 22.0)
    op = discretize(KuramotoSivashinsky(), FourierSpectral(grid))
    x = grid.coordinates[0]
    y0 = jnp.asarray(np.cos(2 * np.pi * x / 22.0) + 0.1 * np.sin(4 * np.pi * x / 22.0))[
        None
    ]
    sol = ds.solve(
        op, ds.ETDRK4(), y0, dt=0.1, num_steps=5, saveat=ds.SaveAt(steps=(2,), t0=True)
    )
    np.testing.assert_allclose(sol.ys[0], y0, rtol=0, atol=1e-14)
    for i, k in ((1, 2), (2, 5)):
        ref = ds.solve(op, ds.ETDRK4(), y0, dt=0.1, num_steps=k).ys[-1]
        np.testing.assert_allclose(sol.ys[i], ref, rtol=1e-13, atol=1e-14)
    assert not np.allclose(sol.ys[1], sol.ys[2])


def test_zero_steps_returns_initial_state():
    sol = ds.solve(RELAX, ds.RK4(), Y0, dt=DT, num_steps=0, t0=T0)
    np.testing.assert_array_equal(sol.ys, Y0[None])
    np.testing.assert_array_equal(sol.ts, [T0])


def test_saveat_and_solve_errors():
    with pytest.raises(ValueError, match="not on the step grid"):
        ds.solve(
            RELAX,
            ds.RK4(),
            Y0,
            dt=DT,
            num_steps=N,
            t0=T0,
            saveat=ds.SaveAt(ts=[T0 + 0.15]),
        )
    with pytest.raises(ValueError, match="outside"):
        ds.solve(RELAX, ds.RK4(), Y0, dt=DT, num_steps=N, saveat=ds.SaveAt(steps=(11,)))
    with pytest.raises(ValueError, match="outside"):
        ds.solve(
            RELAX,
            ds.RK4(),
            Y0,
            dt=DT,
            num_steps=N,
            t0=T0,
            saveat=ds.SaveAt(ts=[T0 - DT]),
        )
    with pytest.raises(ValueError, match="selects no state"):
        ds.solve(RELAX, ds.RK4(), Y0, dt=DT, num_steps=N, saveat=ds.SaveAt(t1=False))
    with pytest.raises(ValueError, match="at most one"):
        ds.SaveAt(steps=(1,), every=2)
    with pytest.raises(ValueError, match="at most one"):
        ds.SaveAt(ts=[0.1], steps=(1,))
    with pytest.raises(ValueError, match="every must be >= 1"):
        ds.SaveAt(every=0)
    for bad in (-1, 2.0, None):
        with pytest.raises(ValueError, match="num_steps"):
            # wrong types on purpose
            ds.solve(RELAX, ds.RK4(), Y0, dt=DT, num_steps=bad)  # pyright: ignore[reportArgumentType]
    # times need concrete t0 and dt; under jit use steps
    with pytest.raises(ValueError, match="needs concrete t0 and dt"):
        jax.jit(
            lambda dt: (
                ds.solve(
                    RELAX, ds.RK4(), Y0, dt=dt, num_steps=N, saveat=ds.SaveAt(ts=[0.5])
                ).ys
            )
        )(DT)


# --- transformations --------------------------------------------------------------

KS_GRID = Grid(32, 0.0, 22.0)


@pytest.fixture(scope="module")
def ks_setup():
    op = discretize(KuramotoSivashinsky(), FourierSpectral(KS_GRID))
    x = KS_GRID.coordinates[0]
    rng = np.random.default_rng(0)
    y0s = jnp.asarray(
        [
            np.cos(2 * np.pi * x / 22.0) * (1 + 0.3 * rng.normal())
            + 0.1 * np.sin(4 * np.pi * (x / 22.0 + rng.uniform()))
            for _ in range(3)
        ]
    )[:, None]
    saveat = ds.SaveAt(every=5, t0=True)

    def run(y0, dt):
        return ds.solve(op, ds.ETDRK4(), y0, dt=dt, num_steps=20, saveat=saveat).ys

    return op, y0s, run


def test_jit_and_vmap(ks_setup):
    op, y0s, run = ks_setup
    jitted = jax.jit(run)
    np.testing.assert_allclose(
        jitted(y0s[0], 0.05), run(y0s[0], 0.05), rtol=1e-12, atol=1e-13
    )
    singles = np.stack([jitted(y0, 0.05) for y0 in y0s])
    batched = jax.jit(jax.vmap(run, in_axes=(0, None)))(y0s, 0.05)
    assert batched.shape == (3, 5, 1, 32)
    np.testing.assert_allclose(batched, singles, rtol=1e-12, atol=1e-13)
    assert not np.allclose(singles[0], singles[1])
    # vmap over the step size too: each member sees its own ETDRK coefficients
    dts = jnp.array([0.05, 0.02, 0.01])
    batched = jax.jit(jax.vmap(run))(y0s, dts)
    for i in range(3):
        np.testing.assert_allclose(
            batched[i], jitted(y0s[i], dts[i]), rtol=1e-12, atol=1e-13
        )


def test_retrace_count(ks_setup):
    """A jitted solve compiles once for all values of y0, dt, t0 and operator
    parameters."""
    op, y0s, _ = ks_setup
    num_traces = 0

    @eqx.filter_jit
    def run(op, y0, dt, t0):
        nonlocal num_traces
        num_traces += 1
        return ds.solve(
            op, ds.ETDRK4(), y0, dt=dt, num_steps=8, t0=t0, saveat=ds.SaveAt(steps=(4,))
        ).ys

    disc = op.discretization
    out1 = run(
        discretize(KuramotoSivashinsky(nu4=1.0), disc),
        y0s[0],
        jnp.asarray(0.05),
        jnp.asarray(0.0),
    )
    out2 = run(
        discretize(KuramotoSivashinsky(nu4=0.8), disc),
        y0s[1],
        jnp.asarray(0.02),
        jnp.asarray(1.0),
    )
    run(op, y0s[2], jnp.asarray(0.03), jnp.asarray(0.5))
    assert num_traces == 1
    assert not np.allclose(out1, out2)
    # static configuration (the grid) does retrace: the counter counts
    other = discretize(KuramotoSivashinsky(), FourierSpectral(Grid(32, 0.0, 20.0)))
    run(other, y0s[0], jnp.asarray(0.05), jnp.asarray(0.0))
    assert num_traces == 2

    # the same with plain jax.jit and y0, dt as arguments
    num_traces = 0

    @jax.jit
    def run_plain(y0, dt):
        nonlocal num_traces
        num_traces += 1
        return ds.solve(op, ds.ETDRK4(), y0, dt=dt, num_steps=8).ys

    run_plain(y0s[0], 0.05)
    run_plain(y0s[1], 0.02)
    assert num_traces == 1


# --- gradients ----------------------------------------------------------------

BURGERS_GRID = Grid(64, 0.0, 2 * np.pi)
BURGERS_STEPS, BURGERS_DT = 50, 0.02


@pytest.fixture(scope="module")
def burgers():
    disc = FourierSpectral(BURGERS_GRID)
    x = BURGERS_GRID.coordinates[0]
    rng = np.random.default_rng(1)
    y0 = jnp.asarray(np.sin(x) + 0.5 * np.cos(2 * x + 0.3) + 0.2)[None]
    weight = jnp.asarray(1.0 + 0.5 * np.cos(3 * x))[None]
    direction = rng.normal(size=y0.shape)
    direction = jnp.asarray(direction / np.linalg.norm(direction))

    def loss(y0, nu, adjoint):
        sol = ds.solve(
            discretize(Burgers(nu=nu), disc),
            ds.ETDRK4(),
            y0,
            dt=BURGERS_DT,
            num_steps=BURGERS_STEPS,
            saveat=ds.SaveAt(every=10),
            adjoint=adjoint,
        )
        return jnp.sum(weight * sol.ys[-1] ** 2) + 0.1 * jnp.sum(sol.ys[:-1] ** 2)

    # one compiled program per adjoint serves both values (finite differences) and
    # gradients
    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)), static_argnums=2)
    return dict(
        y0=y0, nu=0.05, direction=direction, loss=loss, value_and_grad=value_and_grad
    )


def _central_difference(f, eps):
    return (f(eps) - f(-eps)) / (2 * eps)


def test_burgers_gradients_match_finite_differences(burgers):
    y0, nu, v = burgers["y0"], burgers["nu"], burgers["direction"]
    adj = ds.DirectAdjoint()

    def loss(y, n):
        return float(burgers["value_and_grad"](y, n, adj)[0])

    _, (g_y0, g_nu) = burgers["value_and_grad"](y0, nu, adj)
    fd_y0 = _central_difference(lambda e: loss(y0 + e * v, nu), 1e-5)
    fd_nu = _central_difference(lambda e: loss(y0, nu + e), 1e-6)
    ad_y0 = float(jnp.sum(g_y0 * v))
    # measured relative errors 3e-9 and 2e-9
    assert abs(ad_y0 - fd_y0) < 1e-6 * abs(fd_y0), (ad_y0, fd_y0)
    assert abs(float(g_nu) - fd_nu) < 1e-6 * abs(fd_nu), (float(g_nu), fd_nu)


@pytest.mark.parametrize("adjoint", [ds.CheckpointAdjoint(2), ds.CheckpointAdjoint(3)])
def test_checkpointed_gradients_equal_direct(burgers, adjoint, assert_tree_allclose):
    y0, nu, value_and_grad = burgers["y0"], burgers["nu"], burgers["value_and_grad"]
    direct = value_and_grad(y0, nu, ds.DirectAdjoint())
    checkpointed = value_and_grad(y0, nu, adjoint)
    assert_tree_allclose(checkpointed, direct, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("adjoint", [ds.DirectAdjoint(), ds.CheckpointAdjoint(2)])
def test_jvp_matches_reverse_mode(burgers, adjoint):
    y0, nu, v = burgers["y0"], burgers["nu"], burgers["direction"]
    value, (g_y0, g_nu) = burgers["value_and_grad"](y0, nu, ds.DirectAdjoint())
    f = jax.jit(lambda y, n: burgers["loss"](y, n, adjoint))
    primal, tangent = jax.jvp(f, (y0, jnp.asarray(nu)), (v, jnp.asarray(0.5)))
    np.testing.assert_allclose(primal, value, rtol=1e-14)
    np.testing.assert_allclose(tangent, jnp.sum(g_y0 * v) + 0.5 * g_nu, rtol=1e-12)


def test_ks_nu4_gradient_matches_finite_differences():
    grid = Grid(64, 0.0, 8 * np.pi)
    disc = FourierSpectral(grid)
    x = grid.coordinates[0]
    y0 = jnp.asarray(np.cos(x / 4) * (1 + np.sin(x / 4)))[None]
    weight = jnp.asarray(1.0 + 0.3 * np.sin(x / 2))[None]

    def loss(nu4):
        y = ds.solve(
            discretize(KuramotoSivashinsky(nu4=nu4), disc),
            ds.ETDRK4(),
            y0,
            dt=0.1,
            num_steps=50,
        ).ys[-1]
        return jnp.sum(weight * y**2)

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    nu4 = 1.2
    g = value_and_grad(nu4)[1]
    fd = _central_difference(lambda e: float(value_and_grad(nu4 + e)[0]), 1e-6)
    # measured relative error 4e-8
    assert abs(float(g) - fd) < 1e-6 * abs(fd), (float(g), fd)


# --- memory of the reverse pass -------------------------------------------------------


def _temp_bytes(adjoint, num_steps):
    """Temporary memory of the compiled gradient of a KS rollout (only compiled,
    never run: RK4, whose per-step residuals dominate the n-independent part)."""
    grid = Grid(64, 0.0, 32 * np.pi)
    op = discretize(KuramotoSivashinsky(), FourierSpectral(grid))
    y0 = jnp.zeros((1, 64))

    def loss(y):
        return jnp.sum(
            ds.solve(op, ds.RK4(), y, dt=0.01, num_steps=num_steps, adjoint=adjoint).ys
            ** 2
        )

    stats = jax.jit(jax.grad(loss)).lower(y0).compile().memory_analysis()
    assert stats is not None
    return stats.temp_size_in_bytes


def test_checkpointed_reverse_pass_memory_grows_sublinearly():
    """XLA's buffer assignment for the gradient program: the direct adjoint stores
    residuals of every step (linear growth), square-root checkpointing about
    sqrt(n) states and sqrt(n) steps' residuals."""
    ns = (64, 256, 1024)
    direct = [_temp_bytes(ds.DirectAdjoint(), n) for n in ns]
    sqrt = [_temp_bytes(ds.CheckpointAdjoint(2), n) for n in ns]
    direct_ratio, sqrt_ratio = direct[2] / direct[0], sqrt[2] / sqrt[0]
    # measured: 15.5 and 3.3 (bytes 135368 -> 2101448 and 27016 -> 88840)
    assert direct_ratio > 8, direct
    assert sqrt_ratio < 0.5 * direct_ratio, (direct, sqrt)
    # growth of the n-dependent part from n = 256 to 1024 over that from 64 to 256:
    # 4 for linear growth, 2 for n^(1/2) (measured 4.0 and 2.0)
    direct_growth = (direct[2] - direct[1]) / (direct[1] - direct[0])
    sqrt_growth = (sqrt[2] - sqrt[1]) / (sqrt[1] - sqrt[0])
    assert 3.5 < direct_growth < 4.5, direct
    assert sqrt_growth < 2.5, sqrt
    assert sqrt[2] < 0.1 * direct[2]


def test_checkpoint_blocks_balance_residuals_against_states():
    """`CheckpointAdjoint` sizes its innermost blocks from the traced step:
    a step whose residuals are many states' worth gets shorter blocks (more
    stored states) than the plain square-root split, and block sizes snap to
    a nearby divisor of the step count (no separately compiled remainder)."""
    from diffsim.internal import leaf_steps, near_divisor

    x = jnp.ones(1000)
    cheap = lambda c: c + 1.0  # no residuals at all
    costly = lambda c: jnp.sin(
        jnp.sin(jnp.sin(jnp.sin(c)))
    )  # 4 residual states per step

    assert leaf_steps(cheap, x, 400, 2) == 20  # sqrt(n) when the ratio is unknown
    assert leaf_steps(costly, x, 400, 2) == 10  # sqrt(400 / 4)
    assert leaf_steps(costly, x, 400, 1) == 400
    assert near_divisor(1000, 7) == 8
    assert near_divisor(997, 31) == 31  # a prime: no divisor nearby, a remainder block
    # the same gradient whatever the blocking
    g = [
        jax.grad(lambda c: jnp.sum(ds.CheckpointAdjoint(levels).loop(costly, c, 37)))(
            x[:5]
        )
        for levels in (1, 2, 3)
    ]
    np.testing.assert_allclose(g[1], g[0], rtol=1e-12)
    np.testing.assert_allclose(g[2], g[0], rtol=1e-12)
