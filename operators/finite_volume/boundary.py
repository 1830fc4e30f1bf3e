"""Boundary conditions of the finite-volume Euler operator, by ghost cells."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

from .._grid import Grid
from .._operator import parameter


class AbstractBoundaryCondition(eqx.Module):
    """A condition on one face (low or high end of one axis) of the domain,
    imposed through ghost cells filled from the primitive interior state
    `(rho, u, [v, w,] p)` before reconstruction."""

    @abc.abstractmethod
    def ghost_cells(
        self, primitive: Sequence[Array], axis: int, side: int, num_ghost: int
    ) -> tuple[Array, ...]:
        """Ghost-cell primitive variables for one side of one axis.

        `primitive` holds one array per variable, shape `cells`; `side` is 0
        (low end) or 1 (high end). Returns one array per variable whose extent
        along `axis` is `num_ghost`, ordered by increasing coordinate.
        """

    def at(self, t, grid: Grid) -> AbstractBoundaryCondition:
        """The condition at time `t` on `grid`; the operator calls this before
        padding. Conditions that depend on neither (all but `Switch`) return
        themselves."""
        return self


def _edge(x, axis, side, g):
    n = x.shape[axis]
    return (
        lax.slice_in_dim(x, 0, g, axis=axis)
        if side == 0
        else lax.slice_in_dim(x, n - g, n, axis=axis)
    )


class Periodic(AbstractBoundaryCondition):
    """Periodic wrap-around; must be used on both ends of an axis."""

    def ghost_cells(self, primitive, axis, side, num_ghost):
        n = primitive[0].shape[axis]
        if num_ghost > n:  # wrap around more than once
            copies = -(-num_ghost // n)
            primitive = tuple(
                jnp.concatenate([x] * copies, axis=axis) for x in primitive
            )
        return tuple(_edge(x, axis, 1 - side, num_ghost) for x in primitive)


class ReflectingWall(AbstractBoundaryCondition):
    """A slip (inviscid) wall: ghost cells mirror the interior with the normal
    velocity reversed, so that the normal mass flux through the wall vanishes
    (Toro 2009, chapter 6)."""

    def ghost_cells(self, primitive, axis, side, num_ghost):
        out = []
        for v, x in enumerate(primitive):
            mirrored = lax.rev(_edge(x, axis, side, num_ghost), (axis,))
            out.append(-mirrored if v == 1 + axis else mirrored)
        return tuple(out)


class Outflow(AbstractBoundaryCondition):
    """Zero-gradient (transmissive) boundary: ghost cells copy the adjacent
    interior cell (Toro 2009, chapter 6). Non-reflecting for waves leaving
    normally to the boundary."""

    def ghost_cells(self, primitive, axis, side, num_ghost):
        out = []
        for x in primitive:
            edge = _edge(x, axis, side, 1)
            shape = list(x.shape)
            shape[axis] = num_ghost
            out.append(jnp.broadcast_to(edge, tuple(shape)))
        return tuple(out)


class Inflow(AbstractBoundaryCondition):
    """A fixed (Dirichlet) state in the ghost cells.

    Its fields are array leaves, so an inflow state can be differentiated or
    fitted.

    **Arguments:**

    - `density`: the inflow density.
    - `velocity`: the inflow velocity, one component per spatial dimension.
    - `pressure`: the inflow pressure.
    """

    density: Array = eqx.field(converter=parameter)
    velocity: Array = eqx.field(converter=lambda v: jnp.atleast_1d(parameter(v)))
    pressure: Array = eqx.field(converter=parameter)

    def __check_init__(self):
        if self.density.shape != () or self.pressure.shape != ():
            raise ValueError("Inflow: density and pressure must be scalars")
        if self.velocity.ndim != 1 or not 1 <= self.velocity.shape[0] <= 3:
            raise ValueError(
                "Inflow: velocity must have 1 to 3 components, got shape "
                f"{self.velocity.shape}"
            )

    def ghost_cells(self, primitive, axis, side, num_ghost):
        shape = list(primitive[0].shape)
        shape[axis] = num_ghost
        dtype = jnp.result_type(primitive[0])
        values = (self.density, *self.velocity, self.pressure)
        return tuple(jnp.broadcast_to(v.astype(dtype), tuple(shape)) for v in values)


class Switch(AbstractBoundaryCondition):
    """One of two conditions, chosen per ghost cell by position and time:
    `inside` where `where(coordinates, t)` is true, `outside` elsewhere.

    `where` receives the ghost cells' centre coordinates (one array per axis,
    shaped like the ghost block) and the time. The classic use is the double
    Mach reflection (Woodward & Colella 1984): on the bottom face, the
    post-shock inflow for `x < 1/6` and a reflecting wall beyond; on the top
    face, post- or pre-shock states on either side of the moving shock's
    foot, `x < 1/6 + (1 + 20 t) / sqrt(3)`.

    **Arguments:**

    - `where`: a static Python callable `where(coordinates, t) -> bool array`
      (a module-level function keeps the operator hashable across runs).
    - `inside`: the condition where `where` is true.
    - `outside`: the condition elsewhere.

    The operator binds `t` and `grid` (`at`) when it is called with its time.
    """

    where: Callable = eqx.field(static=True)
    inside: AbstractBoundaryCondition
    outside: AbstractBoundaryCondition
    t: Array | None = None
    grid: Grid | None = None

    def at(self, t, grid):
        return Switch(
            self.where,
            self.inside.at(t, grid),
            self.outside.at(t, grid),
            jnp.asarray(t),
            grid,
        )

    def ghost_cells(self, primitive, axis, side, num_ghost):
        if self.grid is None or self.t is None:
            raise ValueError(
                "Switch: the condition depends on time and position; call the "
                "operator with its time (operator(state, t)) so that it can bind them"
            )
        inside = self.inside.ghost_cells(primitive, axis, side, num_ghost)
        outside = self.outside.ghost_cells(primitive, axis, side, num_ghost)
        coords = ghost_coordinates(self.grid, primitive[0].shape, axis, side, num_ghost)
        mask = self.where(coords, self.t.astype(jnp.result_type(primitive[0])))
        return tuple(jnp.where(mask, a, b) for a, b in zip(inside, outside))


def ghost_coordinates(
    grid: Grid, shape, axis: int, side: int, num_ghost: int
) -> tuple[Array, ...]:
    """Cell-centre coordinates of the ghost block on one side of `axis` of an
    array of `shape`: along the other axes, `shape` may exceed the grid by
    the same number of (ghost) cells on both ends."""
    axes = []
    for d, (n, lo, hi, h) in enumerate(
        zip(grid.cells, grid.lower, grid.upper, grid.spacing)
    ):
        if d == axis:
            k = jnp.arange(num_ghost) + 0.5
            axes.append(lo - h * (num_ghost - k) if side == 0 else hi + h * k)
        else:
            extra = (shape[d] - n) // 2
            axes.append(lo + h * (jnp.arange(-extra, n + extra) + 0.5))
    return tuple(jnp.meshgrid(*axes, indexing="ij"))


def pad(
    primitive: Sequence[Array],
    axis: int,
    conditions: tuple[AbstractBoundaryCondition, AbstractBoundaryCondition],
    num_ghost: int,
) -> tuple[Array, ...]:
    """Each variable extended by `num_ghost` ghost cells on both ends of `axis`."""
    low = conditions[0].ghost_cells(primitive, axis, 0, num_ghost)
    high = conditions[1].ghost_cells(primitive, axis, 1, num_ghost)
    return tuple(
        jnp.concatenate([a, x, b], axis=axis) for a, x, b in zip(low, primitive, high)
    )


def normalize_boundaries(boundaries, ndim: int):
    """`boundaries` as a tuple of `(low, high)` pairs, one per axis.

    Accepts one condition for every face, one condition or `(low, high)` pair
    per axis. Raises `ValueError` (naming the axis) on a malformed
    specification or a periodic condition not paired on both ends.
    """
    names = "xyz"
    if isinstance(boundaries, AbstractBoundaryCondition):
        boundaries = ((boundaries, boundaries),) * ndim
    if not isinstance(boundaries, (tuple, list)) or len(boundaries) != ndim:
        raise ValueError(
            f"Euler: boundaries must be one condition or a sequence of {ndim} per-axis "
            f"entries (a condition or a (low, high) pair), got {boundaries!r}"
        )
    out = []
    for axis, entry in enumerate(boundaries):
        if isinstance(entry, AbstractBoundaryCondition):
            entry = (entry, entry)
        if (
            not isinstance(entry, (tuple, list))
            or len(entry) != 2
            or not all(isinstance(b, AbstractBoundaryCondition) for b in entry)
        ):
            raise ValueError(
                f"Euler: boundaries[{axis}] ({names[axis]}) must be a boundary "
                f"condition or a (low, high) pair of them, got {entry!r}"
            )
        low, high = entry
        if isinstance(low, Periodic) != isinstance(high, Periodic):
            raise ValueError(
                f"Euler: boundaries[{axis}] ({names[axis]}) pairs Periodic with "
                f"{type(high if isinstance(low, Periodic) else low).__name__}; a "
                "periodic axis needs Periodic() on both ends"
            )
        out.append((low, high))
    return tuple(out)
