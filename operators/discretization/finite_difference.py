"""Central finite differences, periodic or with wall boundaries."""

from __future__ import annotations

import equinox as eqx
import jax.lax as lax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Inexact

from .._grid import Grid
from .._halo import HaloExchange
from ._base import AbstractDiscretization, check_coefficient, check_scalar
from .boundary import (
    AbstractBoundary,
    AbstractWallBoundary,
    BoundarySpec,
    Periodic,
    ghost_weights,
    normalize_boundary,
)

# One-sided coefficients c_1..c_m of the antisymmetric first-derivative stencil
# u' ~ sum_j c_j (u_{i+j} - u_{i-j}) / h, and c_0..c_m of the symmetric second
# derivative stencil u'' ~ (c_0 u_i + sum_j c_j (u_{i+j} + u_{i-j})) / h^2
# (Fornberg 1988, Table 1).
_FIRST = {
    2: (1 / 2,),
    4: (2 / 3, -1 / 12),
    6: (3 / 4, -3 / 20, 1 / 60),
    8: (4 / 5, -1 / 5, 4 / 105, -1 / 280),
}
_SECOND = {
    2: (-2.0, 1.0),
    4: (-5 / 2, 4 / 3, -1 / 12),
    6: (-49 / 18, 3 / 2, -3 / 20, 1 / 90),
    8: (-205 / 72, 8 / 5, -1 / 5, 8 / 315, -1 / 560),
}
# Staggered (half-cell) stencils: the first derivative at a face from the
# centres around it, u'(x_{i+1/2}) ~ sum_j c_j (u_{i+j} - u_{i+1-j}) / h, and
# the midpoint interpolation u(x_{i+1/2}) ~ sum_j w_j (u_{i+j} + u_{i+1-j}),
# each exact for polynomials of degree < order (Fornberg 1988; the Yee /
# Levander staggered-grid coefficients).
_STAGGERED_FIRST = {
    2: (1.0,),
    4: (9 / 8, -1 / 24),
    6: (75 / 64, -25 / 384, 3 / 640),
    8: (1225 / 1024, -245 / 3072, 49 / 5120, -5 / 7168),
}
_MIDPOINT = {
    2: (1 / 2,),
    4: (9 / 16, -1 / 16),
    6: (75 / 128, -25 / 256, 3 / 256),
    8: (1225 / 2048, -245 / 2048, 49 / 2048, -5 / 2048),
}


class FiniteDifference(AbstractDiscretization):
    """Central finite differences of formal order `order` (2, 4, 6 or 8).

    First and second derivatives use the classical centred stencils; higher
    derivatives are compositions of those, which keeps the formal order.

    Boundaries are periodic by default. On a wall (`Dirichlet`, `Neumann`,
    `Robin`) the stencils read ghost cells filled by the polynomial of degree
    `order + 1` through the `order + 1` nearest cells and the wall condition
    at `x = lower` or `x = upper` (the classical ghost-cell extrapolation, e.g.
    LeVeque 2007 §2.12): the ghosts are accurate to `O(h^(order + 2))`, so
    `derivative` and `laplacian` keep order `order` everywhere. The
    extrapolation weights grow with the order (largest about 3, 45, 760 and
    16000 for orders 2 to 8), so with walls round-off, about `1e-16 * weight /
    h^2` relative in `laplacian`, limits the accuracy at high order: near
    `1e-9` at order 8 on any grid. Derivatives of order above 2 along a wall
    axis, and the flux-form methods (`derivative_of_scaled_derivative` and its
    companions), are periodic only.

    **Arguments:**

    - `grid`: the `Grid` (for a sharded field: the block's grid).
    - `order`: formal order of accuracy, 2, 4, 6 or 8.
    - `halo`: None (default) for a field held whole on one device. For one
      block of a field split across devices (under `jax.shard_map`), a
      `HaloExchange`: every stencil then reads its neighbours' cells from the
      adjacent blocks, so the block's derivatives equal the corresponding
      block of the global ones. Periodic boundaries only.
    - `boundary`: `None` or `Periodic()` (default) for periodic everywhere;
      one condition for every side; or a sequence with one entry per axis,
      each a condition for both sides or a `(lower, upper)` pair. An axis is
      periodic on both sides or on neither.
    """

    grid: Grid
    order: int = eqx.field(static=True)
    halo: HaloExchange | None
    boundary: tuple[tuple[AbstractBoundary, AbstractBoundary], ...]

    def __init__(
        self,
        grid: Grid,
        order: int = 4,
        halo: HaloExchange | None = None,
        boundary: BoundarySpec | None = None,
    ):
        self.grid = grid
        self.order = order
        self.halo = halo
        self.boundary = normalize_boundary(boundary, grid.ndim)

    def __check_init__(self):
        if self.order not in _FIRST:
            raise ValueError(
                f"FiniteDifference: order must be one of {sorted(_FIRST)}, got "
                f"{self.order}"
            )
        if not self.periodic and self.halo is not None:
            raise ValueError(
                "FiniteDifference: a halo exchange needs periodic boundaries"
            )
        for axis, (lower, _) in enumerate(self.boundary):
            need = self.order + 1
            if not isinstance(lower, Periodic) and self.grid.cells[axis] < need:
                raise ValueError(
                    f"FiniteDifference: a wall on axis {axis} needs at least "
                    f"{need} cells for order {self.order}, got "
                    f"{self.grid.cells[axis]}"
                )

    @property
    def periodic(self) -> bool:
        """Whether every axis is periodic."""
        return all(isinstance(lower, Periodic) for lower, _ in self.boundary)

    def _check_periodic(self, name: str) -> None:
        if not self.periodic:
            raise NotImplementedError(
                f"FiniteDifference.{name}: periodic boundaries only"
            )

    @property
    def stencil_radius(self) -> int:
        return self.order // 2

    def _pad(self, u, axis: int, lo: int, hi: int):
        """`u` with `lo` cells before and `hi` after along grid axis `axis`:
        periodic wrap-around, the neighbouring blocks' cells (`halo`) or
        ghost cells extrapolated through the wall conditions."""
        ax = axis - self.grid.ndim + u.ndim
        if self.halo is not None:
            return self.halo.pad(u, axis, lo, hi)
        lower, upper = self.boundary[axis]
        if isinstance(lower, Periodic):
            return _periodic_pad(u, ax, lo, hi)
        assert isinstance(lower, AbstractWallBoundary)
        assert isinstance(upper, AbstractWallBoundary)
        n, h = u.shape[ax], self.grid.spacing[axis]
        parts = []
        if lo:
            inner = lax.slice_in_dim(u, 0, self.order + 1, axis=ax)
            ghosts = self._ghosts(lower, inner, ax, h, lo)  # nearest first
            parts.append(lax.rev(ghosts, (ax,)))
        parts.append(u)
        if hi:
            inner = lax.rev(lax.slice_in_dim(u, n - self.order - 1, n, axis=ax), (ax,))
            parts.append(self._ghosts(upper, inner, ax, h, hi))
        return jnp.concatenate(parts, axis=ax)

    def _ghosts(self, wall: AbstractWallBoundary, inner, ax: int, h: float, count):
        """`count` ghost cells along `ax`, nearest the wall first, from the
        interior cells `inner` (nearest the wall first)."""
        alpha, beta = wall.coefficients
        weights, value_weights = ghost_weights(alpha, beta, h, inner.shape[ax], count)
        dtype = jnp.finfo(inner.dtype).dtype
        moved = jnp.moveaxis(inner, ax, 0)
        ghosts = jnp.tensordot(jnp.asarray(weights, dtype), moved, axes=1)
        value = jnp.asarray(wall.value, dtype)
        shape = (count,) + (1,) * (moved.ndim - 1)
        ghosts = ghosts + jnp.reshape(jnp.asarray(value_weights, dtype), shape) * value
        return jnp.moveaxis(ghosts, 0, ax)

    def _shifted(self, u, axis):
        """`shift(j) = u[i + j]` along `axis` for `|j| <= stencil_radius`."""
        m, ax = self.stencil_radius, axis - self.grid.ndim + u.ndim
        padded, n = self._pad(u, axis, m, m), u.shape[ax]
        return lambda j: lax.slice_in_dim(padded, m + j, m + j + n, axis=ax)

    def _first(self, u, axis):
        h = self.grid.spacing[axis]
        shift = self._shifted(u, axis)
        terms = [
            c * (shift(j) - shift(-j)) for j, c in enumerate(_FIRST[self.order], 1)
        ]
        return sum(terms[1:], terms[0]) / h

    def _second(self, u, axis):
        h = self.grid.spacing[axis]
        shift = self._shifted(u, axis)
        c0, *cs = _SECOND[self.order]
        out = c0 * u
        for j, c in enumerate(cs, start=1):
            out = out + c * (shift(j) + shift(-j))
        return out / h**2

    def derivative(
        self, u: Inexact[Array, "*cells"], axis: int, order: int = 1
    ) -> Inexact[Array, "*cells"]:
        check_scalar(self.grid, u)
        if order < 0:
            raise ValueError(f"derivative order must be >= 0, got {order}")
        if order > 2 and not isinstance(self.boundary[axis][0], Periodic):
            # the composition would impose u's wall condition on u''
            raise NotImplementedError(
                f"FiniteDifference.derivative: order {order} > 2 along axis {axis} "
                "needs periodic boundaries on that axis"
            )
        for _ in range(order // 2):
            u = self._second(u, axis)
        return self._first(u, axis) if order % 2 else u

    def laplacian(self, u: Inexact[Array, "*cells"]) -> Inexact[Array, "*cells"]:
        check_scalar(self.grid, u)
        terms = [self._second(u, a) for a in range(self.grid.ndim)]
        return sum(terms[1:], terms[0])

    # --- flux form: staggered differences -------------------------------
    # Periodic padding once, then static slices: XLA fuses the slices into one
    # pass, where chains of `jnp.roll` are re-associated into wide stencils of
    # materialised copies (about 10x slower for order 8).
    def _staggered_sum(self, u, axis, coefficients, sign, to_faces):
        """`sum_j c_j (u[i + j - s] + sign * u[i + 1 - j - s])` along `axis`,
        with `s = 0` (centres to faces) or `s = 1` (faces to centres)."""
        ax = axis - self.grid.ndim + u.ndim
        m, n = len(coefficients), u.shape[ax]
        lo, hi = (m - 1, m) if to_faces else (m, m - 1)
        padded = self._pad(u, axis, lo, hi)  # u[i] is padded[i + lo]
        shift = 0 if to_faces else 1
        out = 0.0
        for j, c in enumerate(coefficients, start=1):
            ahead = lax.slice_in_dim(
                padded, lo + j - shift, lo + j - shift + n, axis=ax
            )
            behind = lax.slice_in_dim(
                padded, lo + 1 - j - shift, lo + 1 - j - shift + n, axis=ax
            )
            out = out + c * (ahead + sign * behind)
        return out

    def _centres_to_faces_derivative(self, u, axis):
        """`du/dx` at the faces `x_{i+1/2}` (array index `i`)."""
        return (
            self._staggered_sum(u, axis, _STAGGERED_FIRST[self.order], -1.0, True)
            / self.grid.spacing[axis]
        )

    def _faces_to_centres_derivative(self, v, axis):
        """`dv/dx` at the centres from face values `v[i]` at `x_{i+1/2}`."""
        return (
            self._staggered_sum(v, axis, _STAGGERED_FIRST[self.order], -1.0, False)
            / self.grid.spacing[axis]
        )

    def interpolate_to_faces(self, a, axis: int):
        """Midpoint interpolation of formal order `order` (exact for
        polynomials of degree < order). For a piecewise-constant density,
        interpolating `1/rho` at order 2 is the harmonic mean of `rho`."""
        self._check_periodic("interpolate_to_faces")
        check_coefficient(self.grid, a)
        if jnp.ndim(a) == 0 or jnp.shape(a)[axis] == 1:
            return a
        return self._staggered_sum(
            jnp.asarray(a), axis, _MIDPOINT[self.order], 1.0, True
        )

    def derivative_of_scaled_derivative(
        self, u, a, axis: int, *, at_faces: bool = False
    ):
        """`d/dx (a du/dx)` as `D- (a D+ u)` with the staggered first-derivative
        stencils of order `order` (centres to faces and back), the compact
        flux form of staggered-grid schemes (Virieux 1986, Levander 1988):
        for `a = 1` its symbol is `-(2/h sum_j c_j sin((2j-1) k h / 2))^2`,
        which vanishes only at `k = 0` (no odd-even decoupling)."""
        self._check_periodic("derivative_of_scaled_derivative")
        check_scalar(self.grid, u)
        check_coefficient(self.grid, a)
        a_faces = a if at_faces else self.interpolate_to_faces(a, axis)
        return self._faces_to_centres_derivative(
            a_faces * self._centres_to_faces_derivative(u, axis), axis
        )

    def derivative_of_scaled_derivative_symbol(self, axis: int) -> np.ndarray:
        self._check_periodic("derivative_of_scaled_derivative_symbol")
        n, h = self.grid.cells[axis], self.grid.spacing[axis]
        theta = 2.0 * np.pi * np.fft.fftfreq(n)  # k h
        half = sum(
            c * np.sin((2 * j - 1) * theta / 2)
            for j, c in enumerate(_STAGGERED_FIRST[self.order], start=1)
        )
        shape = [1] * self.grid.ndim
        shape[axis] = n
        return np.reshape(-(((2.0 / h) * half) ** 2), shape)


def _periodic_pad(u, axis: int, lo: int, hi: int):
    """`u` with `lo` cells wrapped around before and `hi` after, along `axis`."""
    n = u.shape[axis]
    if max(lo, hi) > n:
        return _periodic_pad_tiled(u, axis, lo, hi)
    parts = []
    if lo:
        parts.append(lax.slice_in_dim(u, n - lo, n, axis=axis))
    parts.append(u)
    if hi:
        parts.append(lax.slice_in_dim(u, 0, hi, axis=axis))
    return jnp.concatenate(parts, axis=axis)


def _periodic_pad_tiled(u, axis: int, lo: int, hi: int):
    """Padding wider than the axis (tiny grids): tile, then cut."""
    n = u.shape[axis]
    reps = 1 + 2 * -(-max(lo, hi) // n)
    tiled = jnp.concatenate([u] * reps, axis=axis)
    start = (reps // 2) * n - lo
    return lax.slice_in_dim(tiled, start, start + lo + n + hi, axis=axis)
