"""Boundary conditions: ghost-cell values, the boundary specification on
`Euler`, and the wall's zero normal mass flux."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim.operators import Grid
from diffsim.operators.finite_volume import (
    MUSCL,
    WENO5Z,
    Euler,
    FirstOrder,
    Inflow,
    Outflow,
    Periodic,
    ReflectingWall,
)
from diffsim.operators.finite_volume.boundary import pad

W = tuple(
    jnp.asarray(np.arange(20.0).reshape(5, 4) + 100 * v) for v in range(4)
)  # rho, u, v, p on 5x4 cells


def test_periodic_ghosts_wrap():
    out = pad(W, 0, (Periodic(), Periodic()), 2)
    for x, y in zip(out, W):
        np.testing.assert_array_equal(x, jnp.concatenate([y[-2:], y, y[:2]]))


def test_outflow_ghosts_copy_the_edge():
    out = pad(W, 1, (Outflow(), Outflow()), 3)
    for x, y in zip(out, W):
        assert x.shape == (5, 10)
        np.testing.assert_array_equal(x[:, :3], jnp.repeat(y[:, :1], 3, axis=1))
        np.testing.assert_array_equal(x[:, -3:], jnp.repeat(y[:, -1:], 3, axis=1))


@pytest.mark.parametrize("axis", [0, 1])
def test_wall_ghosts_mirror_and_reverse_normal_velocity(axis):
    out = pad(W, axis, (ReflectingWall(), ReflectingWall()), 2)
    for v, (x, y) in enumerate(zip(out, W)):
        sign = -1.0 if v == 1 + axis else 1.0
        low = jax.lax.slice_in_dim(x, 0, 2, axis=axis)
        first = jax.lax.slice_in_dim(y, 0, 2, axis=axis)
        np.testing.assert_array_equal(low, sign * jax.lax.rev(first, (axis,)))


def test_inflow_ghosts_hold_the_state():
    bc = Inflow(density=2.0, velocity=(3.0, -1.0), pressure=5.0)
    out = pad(W, 0, (bc, Outflow()), 2)
    for x, value in zip(out, [2.0, 3.0, -1.0, 5.0]):
        np.testing.assert_array_equal(x[:2], value)


def test_boundary_specification_forms():
    grid = Grid((8, 6))
    a = Euler(grid, boundaries=Outflow())
    b = Euler(grid, boundaries=(Outflow(), (Outflow(), Outflow())))
    assert a.boundaries == b.boundaries == ((Outflow(), Outflow()),) * 2
    c = Euler(grid, boundaries=((ReflectingWall(), Outflow()), Periodic()))
    assert isinstance(c.boundaries[0][0], ReflectingWall) and isinstance(
        c.boundaries[1][1], Periodic
    )


def test_periodic_must_be_paired():
    with pytest.raises(
        ValueError, match=r"boundaries\[1\] \(y\) pairs Periodic with Outflow"
    ):
        Euler(Grid((8, 6)), boundaries=(Outflow(), (Periodic(), Outflow())))


def test_malformed_specifications():
    with pytest.raises(ValueError, match="sequence of 2 per-axis entries"):
        Euler(Grid((8, 6)), boundaries=(Outflow(),))
    with pytest.raises(ValueError, match=r"boundaries\[0\]"):
        Euler(Grid((8, 6)), boundaries=("wall", Outflow()))
    with pytest.raises(ValueError, match="velocity components"):
        Euler(Grid((8, 6)), boundaries=(Inflow(1.0, (1.0,), 1.0), Outflow()))
    with pytest.raises(
        ValueError, match="needs at least 7 cells along an axis with a wall"
    ):
        Euler(Grid((6, 8)), reconstruction=WENO5Z(), boundaries=ReflectingWall())
    with pytest.raises(ValueError, match="needs at least 3 cells"):
        Euler(
            Grid((2, 8)),
            reconstruction=WENO5Z(),
            boundaries=ReflectingWall(),
            average_correction=False,
        )


@pytest.mark.parametrize(
    "rec", [FirstOrder(), MUSCL(), WENO5Z()], ids=lambda r: type(r).__name__
)
@pytest.mark.parametrize("variables", ["primitive", "characteristic"])
def test_reflecting_wall_has_no_normal_mass_flux(rec, variables):
    grid = Grid((10, 8))
    op = Euler(
        grid,
        reconstruction=rec,
        boundaries=(ReflectingWall(), ReflectingWall()),
        variables=variables,
    )
    x, y = grid.mesh()
    w = (
        1.0 + 0.3 * jnp.sin(7 * x + 2 * y),
        0.4 + 0.2 * jnp.cos(3 * y),
        -0.3 + 0.1 * x,
        1.0 + 0.2 * jnp.cos(5 * x * y),
    )
    for axis in (0, 1):
        flux = op.face_fluxes(w, axis)
        mass = np.asarray(flux[0])
        for face in (0, grid.cells[axis]):
            wall = np.take(mass, face, axis=axis)
            np.testing.assert_allclose(wall, 0.0, atol=1e-14)
        tangential = np.asarray(flux[2 - axis])  # momentum along the wall
        np.testing.assert_allclose(np.take(tangential, 0, axis=axis), 0.0, atol=1e-14)
        assert (
            np.max(np.abs(np.take(np.asarray(flux[1 + axis]), 0, axis=axis))) > 0.5
        )  # wall pressure


def _left_of_moving_front(coords, t):
    return coords[0] < 0.25 + t


def test_switch_chooses_by_ghost_position_and_time():
    """A `Switch` on the top face: inflow state A left of a front moving at
    speed 1, state B right of it; ghost coordinates lie outside the domain."""
    from diffsim.operators.finite_volume import Switch
    from diffsim.operators.finite_volume.boundary import ghost_coordinates

    grid = Grid((8, 4), lower=(0.0, 0.0), upper=(1.0, 1.0))
    a, b = Inflow(2.0, (1.0, 0.0), 3.0), Inflow(1.0, (0.0, 0.0), 1.0)
    bc = Switch(_left_of_moving_front, a, b)
    w = tuple(jnp.ones((8, 4)) for _ in range(4))
    with pytest.raises(ValueError, match="operator\\(state, t\\)"):
        bc.ghost_cells(w, 1, 1, 2)
    xs, ys = ghost_coordinates(grid, (8, 4), 1, 1, 2)
    np.testing.assert_allclose(np.asarray(ys[0]), [1.125, 1.375])
    np.testing.assert_allclose(np.asarray(xs[:, 0]), (np.arange(8) + 0.5) / 8)
    for t, expected_a in ((0.0, 2), (0.5, 6)):  # cells with centre x < 0.25 + t
        rho = np.asarray(bc.at(t, grid).ghost_cells(w, 1, 1, 2)[0])
        assert rho.shape == (8, 2)
        assert (rho[:, 0] == 2.0).sum() == expected_a and np.all(rho[rho != 2.0] == 1.0)
    # an axis extended by ghost cells (the transverse padding of the operator)
    xs, _ = ghost_coordinates(grid, (12, 4), 1, 1, 2)
    np.testing.assert_allclose(np.asarray(xs[:, 0]), (np.arange(-2, 10) + 0.5) / 8)
    # the operator binds t itself: a time-dependent inflow changes the rate
    op = Euler(
        grid,
        boundaries=(Periodic(), (ReflectingWall(), bc)),
        reconstruction=FirstOrder(),
    )
    u = op.encode(
        jnp.stack(
            [jnp.ones((8, 4)), jnp.zeros((8, 4)), jnp.zeros((8, 4)), jnp.ones((8, 4))]
        )
    )
    r0, r1 = np.asarray(op(u, 0.0)), np.asarray(op(u, 0.5))
    assert np.abs(r0[:, :, -1] - r1[:, :, -1]).max() > 0.1 and np.allclose(
        r0[:, :, 0], r1[:, :, 0]
    )
