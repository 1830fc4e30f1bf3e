"""Boundary conditions of the finite-volume Euler operator, by ghost cells."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
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


def _extrapolate(interior, axis, side, weights, value=None, value_weights=None):
    """Ghost cells `weights @ interior (+ value * value_weights)` beyond side
    `side` of `axis`: `interior` is the block of cells next to that side (in
    increasing coordinate), `weights[j, k]` weighs its `k`-th cell from the
    boundary in the `j`-th ghost from it. Returned in increasing coordinate."""
    if side == 1:
        interior = lax.rev(interior, (axis,))  # nearest the boundary first
    moved = jnp.moveaxis(interior, axis, -1)
    ghosts = moved @ jnp.asarray(weights.T, interior.dtype)
    if value is not None:
        wall = jnp.asarray(value_weights, interior.dtype)
        ghosts = ghosts + value * wall.reshape((1,) * (moved.ndim - 1) + (-1,))
    ghosts = jnp.moveaxis(ghosts, -1, axis)  # nearest the boundary first
    return lax.rev(ghosts, (axis,)) if side == 0 else ghosts


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


class NoSlipWall(AbstractBoundaryCondition):
    """A no-slip wall of a viscous fluid (`Euler` with a `Transport`):
    adiabatic (no heat flux through it), or isothermal at `temperature`;
    at rest, or moving tangentially with `velocity`.

    Two sets of ghost cells impose it:

    - for the inviscid flux (`ghost_cells`), the interior is mirrored
      with the velocity reflected about the wall's, `2 u_wall - u`
      (density and pressure even), so the Riemann problem at the wall
      carries no mass and the wall pressure, as at a `ReflectingWall`;
    - for the viscous stress and heat flux (`viscous_ghost_cells`), the
      velocity and temperature are extrapolated through the wall values
      (the polynomial of degree 3 through the wall value and the three
      nearest cell values, `operators.discretization.boundary.ghost_weights`;
      adiabatic: through a zero normal temperature gradient), so the wall
      shear stress and heat flux are fourth-order accurate.

    **Arguments:**

    - `temperature`: the wall temperature (`T = (p + p_inf) / (rho R)`,
      `R = eos.gas_constant`), or None (default: adiabatic).
    - `velocity`: the wall velocity, one component per axis (its normal
      component must be 0), or None (default: at rest).

    Both are differentiable array leaves.
    """

    temperature: Array | None = eqx.field(
        default=None, converter=lambda v: None if v is None else parameter(v)
    )
    velocity: Array | None = eqx.field(
        default=None,
        converter=lambda v: None if v is None else jnp.atleast_1d(parameter(v)),
    )

    def __check_init__(self):
        if self.temperature is not None and self.temperature.shape != ():
            raise ValueError("NoSlipWall: temperature must be a scalar")
        if self.velocity is not None and (
            self.velocity.ndim != 1 or not 1 <= self.velocity.shape[0] <= 3
        ):
            raise ValueError(
                "NoSlipWall: velocity must have 1 to 3 components, got shape "
                f"{self.velocity.shape}"
            )

    def _wall_velocity(self, c, dtype):
        if self.velocity is None:
            return jnp.zeros((), dtype)
        return self.velocity[c].astype(dtype)

    def ghost_cells(self, primitive, axis, side, num_ghost):
        out = []
        last = len(primitive) - 1
        for v, x in enumerate(primitive):
            mirrored = lax.rev(_edge(x, axis, side, num_ghost), (axis,))
            if 1 <= v < last:
                mirrored = 2.0 * self._wall_velocity(v - 1, x.dtype) - mirrored
            out.append(mirrored)
        return tuple(out)

    def extension_ghost_cells(self, primitive, axis, side, num_ghost, eos):
        """Ghost cells that continue the interior's conservative cell
        averages by the polynomial of degree 4 through the five nearest
        (`extrapolation_weights`), as primitive variables. `Euler`
        deconvolves these (instead of the mirrored `ghost_cells`) for the
        point values of its viscous fluxes: the centred 5-point kernel on
        them is the one-sided kernel exact for degree 4, so the point values
        next to the wall are fourth-order accurate (mirrored ghosts put a
        kink at an isothermal wall, and an `O(h^2)` error there becomes an
        `O(h)` error of the wall's heat flux)."""
        from .state import (
            conservative_to_primitive_components,
            primitive_to_conservative_components,
        )

        conservative = primitive_to_conservative_components(tuple(primitive), eos)
        n = primitive[0].shape[axis]
        weights = extrapolation_weights(min(5, n), num_ghost)
        out = [
            _extrapolate(_edge(x, axis, side, weights.shape[1]), axis, side, weights)
            for x in conservative
        ]
        return conservative_to_primitive_components(tuple(out), eos)

    def viscous_ghost_cells(self, fields, axis, side, width, spacing, eos):
        """`fields` = `(u_1, .., u_ndim, T)`, padded by `width` cells on every
        axis, with the `width` ghost cells beyond this wall replaced by the
        extrapolation through the wall values (see the class docstring)."""
        del eos
        from ..discretization.boundary import ghost_weights

        n = fields[0].shape[axis] - 2 * width
        m = min(3, n)
        out = []
        last = len(fields) - 1
        for v, x in enumerate(fields):
            if v < last:
                alpha, beta, value = 1.0, 0.0, self._wall_velocity(v, x.dtype)
            elif self.temperature is None:
                alpha, beta, value = 0.0, 1.0, jnp.zeros((), x.dtype)
            else:
                alpha, beta = 1.0, 0.0
                value = self.temperature.astype(x.dtype)
            weights, w_value = ghost_weights(alpha, beta, spacing, m, width)
            start = width if side == 0 else width + n - m
            interior = lax.slice_in_dim(x, start, start + m, axis=axis)
            ghosts = _extrapolate(interior, axis, side, weights, value, w_value)
            if side == 0:
                kept = lax.slice_in_dim(x, width, x.shape[axis], axis=axis)
                out.append(jnp.concatenate([ghosts, kept], axis=axis))
            else:
                kept = lax.slice_in_dim(x, 0, width + n, axis=axis)
                out.append(jnp.concatenate([kept, ghosts], axis=axis))
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


# ---------------------------------------------------------------------------
# Ghost cells for `FiniteVolume` (any physics): the conditions above, the
# finite-difference walls (`Dirichlet`, `Neumann`, `Robin`) and `InflowState`.


class InflowState(AbstractBoundaryCondition):
    """A prescribed state in the ghost cells, for any physics on
    `FiniteVolume`: the physical fields (in the physics' `field_names`
    order) of the fluid entering the domain. The ghost cells hold
    `physics.encode(values)`, so the face flux is the Riemann solution
    between that state and the interior (supersonic inflow: exactly the
    state's flux).

    **Arguments:**

    - `values`: one value per field (a differentiable array leaf).
    """

    values: Array = eqx.field(converter=lambda v: jnp.atleast_1d(parameter(v)))

    def __check_init__(self):
        if self.values.ndim != 1:
            raise ValueError(
                f"InflowState: values must be one value per field, got shape "
                f"{self.values.shape}"
            )

    def ghost_cells(self, primitive, axis, side, num_ghost):
        if len(primitive) != self.values.shape[0]:
            raise ValueError(
                f"InflowState: {self.values.shape[0]} values for {len(primitive)} "
                "variables"
            )
        shape = list(primitive[0].shape)
        shape[axis] = num_ghost
        dtype = jnp.result_type(primitive[0])
        return tuple(
            jnp.broadcast_to(v.astype(dtype), tuple(shape)) for v in self.values
        )


def average_ghost_weights(
    alpha: float, beta: float, h: float, num_interior: int, num_ghost: int
) -> tuple[np.ndarray, np.ndarray]:
    """Weights `(W, w)` of ghost cell *averages* `g = W @ u + w * value` for a
    wall condition `alpha u + beta du/dn = value` (outward normal derivative)
    on a finite-volume grid.

    `u[k]` is the average over interior cell `k` from the wall, `g[j]` over
    ghost cell `j` beyond it. The ghosts are the averages of the polynomial
    of degree `num_interior` whose averages over the `num_interior` cells
    nearest the wall are `u` and which satisfies the condition at the wall
    (the cell-average analogue of the finite-difference extrapolation
    `operators.discretization.boundary.ghost_weights`): exact for
    polynomials of that degree, error `O(h^(num_interior + 1))`.
    """
    powers = np.arange(num_interior + 1)

    def averages(a, b):  # of t^p over [a, b], b - a = 1
        return (b ** (powers + 1) - a ** (powers + 1)) / (powers + 1)

    k = np.arange(num_interior)
    rows = averages(k[:, None], k[:, None] + 1.0)
    wall = np.zeros(num_interior + 1)
    wall[0] = alpha
    if num_interior >= 1:
        wall[1] = -beta / h  # the outward normal is -d/ds, s = t h inward
    inverse = np.linalg.inv(np.vstack([rows, wall]))
    j = np.arange(num_ghost)
    weights = averages(-(j[:, None] + 1.0), -j[:, None] * 1.0) @ inverse
    return weights[:, :num_interior], weights[:, num_interior]


def extrapolation_weights(num_interior: int, num_ghost: int) -> np.ndarray:
    """Weights `W` of ghost cell averages `g = W @ u` that continue the
    averages `u` of the `num_interior` cells nearest a boundary (nearest
    first) by the polynomial of degree `num_interior - 1` through them
    (ghost `j` is the `j`-th beyond the boundary)."""
    powers = np.arange(num_interior)

    def averages(a, b):  # of t^p over [a, b], b - a = 1
        return (b ** (powers + 1) - a ** (powers + 1)) / (powers + 1)

    k = np.arange(num_interior)
    rows = averages(k[:, None], k[:, None] + 1.0)
    j = np.arange(num_ghost)
    return averages(-(j[:, None] + 1.0), -j[:, None] * 1.0) @ np.linalg.inv(rows)


def wall_interior_cells(width: int, n: int) -> int:
    """Interior cells the ghost extrapolation of a wall reads: `2 width + 1`
    (at most 5, at most `n`)."""
    return min(2 * width + 1, 5, n)


def _wall_ghosts(condition, u, ax, side, width, h):
    """Ghost averages of a `Dirichlet` / `Neumann` / `Robin` wall along array
    axis `ax`, ordered by increasing coordinate."""
    alpha, beta = condition.coefficients
    n = u.shape[ax]
    m = wall_interior_cells(width, n)
    weights, w_value = average_ghost_weights(alpha, beta, h, m, width)
    value = condition.value.astype(u.dtype)
    return _extrapolate(_edge(u, ax, side, m), ax, side, weights, value, w_value)


def ghost_block(
    condition,
    u: Array,
    axis: int,
    side: int,
    width: int,
    grid: Grid,
    *,
    reflect: Callable | None = None,
    encode: Callable | None = None,
) -> Array:
    """The `width` ghost cells beyond side `side` of spatial `axis` of `u`,
    shape `(*lead, *cells)` (the trailing `grid.ndim` axes are the grid),
    ordered by increasing coordinate: what `FiniteVolume` pads with.

    - `Periodic` (of either module): the other end's cells.
    - `Outflow`: the edge cell repeated (zero gradient).
    - `ReflectingWall`: the mirrored interior, passed through `reflect(u,
      axis)` when given (the physics' mirror state; `u` is then the state,
      channels first), else an even mirror.
    - `InflowState`: `encode(values)` when given (the state), else the edge
      cell repeated (zero gradient, for derived fields).
    - `Dirichlet`, `Neumann`, `Robin`: averages extrapolated through the wall
      condition (`average_ghost_weights` with `min(2 width + 1, 5)` interior
      cells: the ghosts' error, `O(h^(2 width + 2))` up to `O(h^6)`, divided
      by `h^2` in a second difference, keeps the stencil's order), the
      condition's value applying to every leading entry.
    - `Switch`: either condition per ghost cell (bind it with `at` first).
    - any other `AbstractBoundaryCondition`: its `ghost_cells` on the
      leading entries as variables.
    """
    from ..discretization.boundary import AbstractWallBoundary, Periodic as PeriodicWrap

    ndim = grid.ndim
    ax = u.ndim - ndim + axis
    if isinstance(condition, (Periodic, PeriodicWrap)):
        n = u.shape[ax]
        if width > n:
            u = jnp.concatenate([u] * -(-width // n), axis=ax)
        return _edge(u, ax, 1 - side, width)
    if isinstance(condition, Outflow) or (
        isinstance(condition, InflowState) and encode is None
    ):
        edge = _edge(u, ax, side, 1)
        shape = list(u.shape)
        shape[ax] = width
        return jnp.broadcast_to(edge, tuple(shape))
    if isinstance(condition, ReflectingWall):
        n = u.shape[ax]
        if width > n:
            raise ValueError(
                f"ReflectingWall: {width} ghost cells need at least {width} cells "
                f"along axis {axis}, got {n}"
            )
        mirrored = lax.rev(_edge(u, ax, side, width), (ax,))
        return mirrored if reflect is None else reflect(mirrored, axis)
    if isinstance(condition, InflowState):
        assert encode is not None
        lead = u.shape[: u.ndim - ndim]
        values = condition.values.astype(u.dtype)
        if values.shape[0] != (lead[0] if lead else 1):
            raise ValueError(
                f"InflowState: {values.shape[0]} values for {lead[0] if lead else 1} "
                "fields"
            )
        state = encode(values.reshape(values.shape + (1,) * ndim))
        shape = list(u.shape)
        shape[ax] = width
        return jnp.broadcast_to(state.astype(u.dtype), tuple(shape))
    if isinstance(condition, AbstractWallBoundary):
        return _wall_ghosts(condition, u, ax, side, width, grid.spacing[axis])
    if isinstance(condition, Switch):
        if condition.grid is None or condition.t is None:
            raise ValueError(
                "Switch: the condition depends on time and position; call the "
                "operator with its time so that it can bind them"
            )
        inside = ghost_block(
            condition.inside, u, axis, side, width, grid, reflect=reflect, encode=encode
        )
        outside = ghost_block(
            condition.outside,
            u,
            axis,
            side,
            width,
            grid,
            reflect=reflect,
            encode=encode,
        )
        coords = ghost_coordinates(grid, u.shape[u.ndim - ndim :], axis, side, width)
        mask = condition.where(coords, condition.t.astype(u.dtype))
        return jnp.where(mask, inside, outside)
    if isinstance(condition, AbstractBoundaryCondition):
        lead = u.shape[: u.ndim - ndim]
        flat = u.reshape((-1,) + u.shape[u.ndim - ndim :])
        ghosts = jnp.stack(condition.ghost_cells(tuple(flat), axis, side, width))
        return ghosts.reshape(lead + ghosts.shape[1:])
    raise TypeError(
        f"FiniteVolume: unsupported boundary condition {type(condition).__name__}"
    )
