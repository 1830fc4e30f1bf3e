"""The finite-volume Euler operator: discrete conservation, symmetry, a shock
tube, dimension consistency, CFL time step, diagnostics, positivity."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.operators import Grid
from diffsim.operators.finite_volume import (
    HLL,
    HLLC,
    MUSCL,
    WENO5JS,
    WENO5Z,
    Euler,
    FirstOrder,
    IdealGas,
    Outflow,
    ReflectingWall,
    Roe,
    Rusanov,
)

RECONSTRUCTIONS = {
    "first": FirstOrder(),
    "minmod": MUSCL(limiter="minmod"),
    "vanleer": MUSCL(limiter="van_leer"),
    "mc": MUSCL(limiter="mc"),
    "wenojs": WENO5JS(),
    "wenoz": WENO5Z(),
}
SOLVERS = {
    "rusanov": Rusanov(),
    "hll": HLL(),
    "hllc": HLLC(),
    "hllc_davis": HLLC(wave_speeds="davis"),
    "roe": Roe(),
}


def smooth_random_state(grid, key, amplitude=0.3):
    """Positive smooth primitive fields: a few random Fourier modes per field."""
    xs = grid.mesh()
    fields = []
    for v, k in enumerate(jax.random.split(key, 2 + grid.ndim)):
        c = jax.random.normal(k, (3, 2 + grid.ndim))
        f = sum(
            c[m, 0]
            * jnp.sin(
                2 * np.pi * (m + 1) * sum(c[m, 1 + d] * x for d, x in enumerate(xs))
                + c[m, -1]
            )
            for m in range(3)
        )
        base = 1.0 if v in (0, 1 + grid.ndim) else 0.0
        fields.append(base + amplitude * f / 3)
    return jnp.stack(fields)


@pytest.mark.parametrize("variables", ["primitive", "characteristic"])
def test_periodic_domain_conserves_mass_momentum_energy(variables):
    """On a periodic domain the rates sum to zero over the cells for every
    variable, for every reconstruction x Riemann solver (flux differences of
    one face array per axis telescope); in primitive variables every
    reconstruction with one solver (the variables only change the face states)."""
    grid = Grid((8, 6), upper=(1.0, 0.7))
    w = smooth_random_state(grid, jax.random.PRNGKey(0))
    solvers = SOLVERS if variables == "characteristic" else {"roe": Roe()}
    for (rname, rec), (sname, solver) in itertools.product(
        RECONSTRUCTIONS.items(), solvers.items()
    ):
        op = Euler(grid, reconstruction=rec, riemann=solver, variables=variables)
        rate = op(op.encode(w), 0.0)
        assert rate.shape == w.shape
        scale = float(jnp.max(jnp.abs(rate)))
        assert scale > 1e-2, (rname, sname)
        np.testing.assert_allclose(
            jnp.sum(rate, axis=(1, 2)),
            0.0,
            atol=1e-14 * scale * grid.num_cells,
            err_msg=f"{rname} {sname}",
        )


def test_conservation_in_3d_and_with_positivity():
    grid = Grid((6, 5, 4))
    w = smooth_random_state(grid, jax.random.PRNGKey(1))
    for positivity in (False, True):
        op = Euler(grid, positivity=positivity)
        rate = op(op.encode(w), 0.0)
        scale = float(jnp.max(jnp.abs(rate)))
        np.testing.assert_allclose(
            jnp.sum(rate, axis=(1, 2, 3)), 0.0, atol=1e-14 * scale * grid.num_cells
        )


def test_uniform_flow_is_steady_with_every_boundary():
    grid = Grid((7, 6))
    from diffsim.operators.finite_volume import Inflow, Periodic

    state = (1.3, 0.4, -0.2, 0.9)
    w = jnp.stack([jnp.full(grid.cells, v) for v in state])
    inflow = Inflow(density=1.3, velocity=(0.4, -0.2), pressure=0.9)
    op = Euler(grid, boundaries=((inflow, Outflow()), Periodic()))
    np.testing.assert_allclose(op(op.encode(w), 0.0), 0.0, atol=1e-14)


@pytest.mark.parametrize("ndim, rec", [(2, "wenoz"), (3, "mc")])
def test_planar_data_reproduce_the_1d_operator(ndim, rec):
    """Fields varying along x only: the x-rates equal those of the 1D
    operator, transverse momentum stays untouched."""
    n = 12
    g1 = Grid((n,))
    gd = Grid((n,) + (4,) * (ndim - 1))
    x = g1.axis_coordinates(0)
    w1 = jnp.asarray(
        np.stack(
            [
                1 + 0.3 * np.sin(2 * np.pi * x),
                0.5 * np.cos(2 * np.pi * x),
                1 + 0.2 * np.cos(4 * np.pi * x),
            ]
        )
    )
    bcast = lambda f: jnp.broadcast_to(f.reshape((n,) + (1,) * (ndim - 1)), gd.cells)  # noqa: E731
    wd = jnp.stack(
        [bcast(w1[0]), bcast(w1[1]), *[jnp.zeros(gd.cells)] * (ndim - 1), bcast(w1[2])]
    )
    r1 = Euler(g1, reconstruction=RECONSTRUCTIONS[rec])(Euler(g1).encode(w1), 0.0)
    opd = Euler(gd, reconstruction=RECONSTRUCTIONS[rec])
    rd = opd(opd.encode(wd), 0.0)
    np.testing.assert_allclose(rd[0], bcast(r1[0]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rd[1], bcast(r1[1]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rd[-1], bcast(r1[-1]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rd[2:-1], 0.0, atol=1e-12)


@pytest.mark.parametrize(
    "rec, solver, variables",
    [("wenoz", "hllc", "characteristic"), ("mc", "roe", "primitive")],
)
def test_centred_blast_stays_mirror_symmetric(rec, solver, variables):
    """A blast in the centre of a square box with reflecting walls: after 12
    SSP-RK3 steps density and pressure are symmetric under x -> -x, y -> -y
    and x <-> y (with velocities mapped accordingly) to round-off."""
    n = 16
    grid = Grid((n, n), lower=-1.0, upper=1.0)
    x, y = grid.mesh()
    r2 = x**2 + y**2
    w0 = jnp.stack(
        [1.0 + 0.5 * jnp.exp(-r2 / 0.1), 0 * x, 0 * x, 0.1 + 2.0 * jnp.exp(-r2 / 0.05)]
    )
    op = Euler(
        grid,
        reconstruction=RECONSTRUCTIONS[rec],
        riemann=SOLVERS[solver],
        boundaries=ReflectingWall(),
        variables=variables,
    )
    dt = float(op.stable_dt(op.encode(w0), 0.4))
    w = np.asarray(ds.solve(op, ds.SSPRK3(), w0, dt=dt, num_steps=12).ys[-1])
    rho, u, v, p = w
    assert np.max(np.abs(u)) > 0.1  # something happened
    rtol, atol = 0, 1e-12
    for f in (rho, p):
        np.testing.assert_allclose(f, f[::-1, :], rtol=rtol, atol=atol)
        np.testing.assert_allclose(f, f[:, ::-1], rtol=rtol, atol=atol)
        np.testing.assert_allclose(f, f.T, rtol=rtol, atol=atol)
    np.testing.assert_allclose(u, -u[::-1, :], rtol=rtol, atol=atol)
    np.testing.assert_allclose(v, -v[:, ::-1], rtol=rtol, atol=atol)
    np.testing.assert_allclose(u, v.T, rtol=rtol, atol=atol)


def sod_density(x, t, x0=0.5):
    """Exact Sod density (Toro 2009, chapter 4, test 1 data; star state from the
    exact Riemann solver)."""
    g = 1.4
    ps, us = 0.30313017805064707, 0.92745262004895057
    c_l = np.sqrt(g)
    rho_sl = (ps / 1.0) ** (1 / g)
    c_sl = np.sqrt(g * ps / rho_sl)
    rho_sr = 0.125 * (ps / 0.1 + (g - 1) / (g + 1)) / ((g - 1) / (g + 1) * ps / 0.1 + 1)
    shock = np.sqrt(g * 0.1 / 0.125) * np.sqrt(
        (g + 1) / (2 * g) * ps / 0.1 + (g - 1) / (2 * g)
    )
    xi = (x - x0) / t
    fan = (2 / (g + 1) + (g - 1) / ((g + 1) * c_l) * (-xi)) ** (2 / (g - 1))
    return np.select(
        [xi < -c_l, xi < us - c_sl, xi < us, xi < shock],
        [1.0, fan, rho_sl, rho_sr],
        0.125,
    )


@pytest.mark.parametrize(
    "rec, bound", [("wenoz", 3e-3), ("minmod", 6e-3), ("first", 2e-2)]
)
def test_sod_shock_tube(rec, bound):
    n, t_end = 200, 0.2
    grid = Grid((n,))
    x = grid.axis_coordinates(0)
    w0 = jnp.asarray(
        np.stack([np.where(x < 0.5, 1.0, 0.125), 0 * x, np.where(x < 0.5, 1.0, 0.1)])
    )
    op = Euler(grid, reconstruction=RECONSTRUCTIONS[rec], boundaries=Outflow())
    dt = float(op.stable_dt(op.encode(w0), 0.5))
    steps = int(np.ceil(t_end / dt))
    rho = np.asarray(
        ds.solve(op, ds.SSPRK3(), w0, dt=t_end / steps, num_steps=steps).ys[-1, 0]
    )
    l1 = np.mean(np.abs(rho - sod_density(x, t_end)))
    assert l1 < bound, l1
    assert np.min(rho) > 0.12 and np.max(rho) < 1.0 + 1e-3


def test_stable_dt_and_max_wave_speed():
    grid = Grid((4, 5), upper=(2.0, 1.0))
    w = jnp.stack(
        [
            jnp.full(grid.cells, 1.4),
            jnp.full(grid.cells, 2.0),
            jnp.full(grid.cells, -1.0),
            jnp.full(grid.cells, 1.0),
        ]
    )
    w = w.at[3, 1, 2].set(4.0)  # one hot cell: c = 2 there
    op = Euler(grid, eos=IdealGas(1.4))
    u = op.encode(w)
    np.testing.assert_allclose(op.max_wave_speed(u), 4.0, rtol=1e-14)
    dx, dy = grid.spacing
    np.testing.assert_allclose(
        op.stable_dt(u, 0.5), 0.5 / ((2.0 + 2.0) / dx + (1.0 + 2.0) / dy), rtol=1e-14
    )


def test_physical_violation_mask():
    grid = Grid((6,))
    op = Euler(grid)
    w = jnp.stack([jnp.ones(6), jnp.zeros(6), jnp.ones(6)])
    u = op.encode(w)
    assert not bool(jnp.any(op.physical_violation(u)))
    bad = u.at[0, 1].set(-1.0).at[2, 3].set(0.0).at[1, 5].set(jnp.nan)
    np.testing.assert_array_equal(
        op.physical_violation(bad), [False, True, False, True, False, True]
    )
    assert int(jnp.argmax(op.physical_violation(bad))) == 1


def test_positivity_limiter_keeps_a_near_vacuum_alive():
    """Toro's '123' problem made harsher (u = -+5, p = 0.01): the classical
    WENO5-Z/HLLC scheme (no average correction) without the limiter produces
    negative pressure within a few steps; with it the run completes with
    positive density and pressure. The default scheme survives too: its
    average correction falls back to the plain conversion at the jump."""
    n, t_end = 100, 0.05
    grid = Grid((n,))
    x = grid.axis_coordinates(0)
    w0 = jnp.asarray(
        np.stack([np.ones(n), np.where(x < 0.5, -5.0, 5.0), np.full(n, 0.01)])
    )
    first_bad = {}
    for positivity, correction in ((False, False), (True, False), ("default", None)):
        op = Euler(
            grid,
            boundaries=Outflow(),
            positivity=positivity is True,
            average_correction=correction,
        )
        dt = float(op.stable_dt(op.encode(w0), 0.4))
        steps = int(np.ceil(t_end / dt))
        ys = ds.solve(
            op,
            ds.SSPRK3(),
            w0,
            dt=t_end / steps,
            num_steps=steps,
            saveat=ds.SaveAt(every=1),
        ).ys
        bad = jax.vmap(lambda y: jnp.any(op.physical_violation(op.encode(y))))(ys)
        first_bad[positivity] = int(jnp.argmax(bad)) if bool(jnp.any(bad)) else None
    assert (
        first_bad[False] is not None
        and first_bad[True] is None
        and first_bad["default"] is None
    ), first_bad


def test_input_validation():
    with pytest.raises(ValueError, match="variables must be one of"):
        Euler(Grid((8,)), variables="conservative")
    with pytest.raises(
        TypeError, match="riemann must be an AbstractRiemannSolver instance"
    ):
        Euler(Grid((8,)), riemann=MUSCL())  # pyright: ignore[reportArgumentType]
    op = Euler(Grid((8, 4)))
    with pytest.raises(ValueError, match=r"expected state of shape \(4, 8, 4\)"):
        op(jnp.ones((3, 8, 4)), 0.0)
