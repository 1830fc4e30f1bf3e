"""Central finite differences, periodic or with wall boundaries."""

from __future__ import annotations

from collections.abc import Callable

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
    axis are refused (compose `laplacian`s instead, each reading ghosts
    through the same condition). `derivative_of_scaled_derivative` works with
    walls too (ghosts through the condition for `u`, plain polynomial
    extrapolation for the coefficient); `interpolate_to_faces` and the
    Fourier symbols (`derivative_symbol`, `diffusion_symbol`, ...) are
    periodic only.

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

    def pad(
        self, u: Inexact[Array, "*batch *cells"], axis: int, lo: int, hi: int
    ) -> Inexact[Array, "..."]:
        """`u` extended by `lo` cells before and `hi` after along grid axis
        `axis` (counted among the trailing `grid.ndim` axes of `u`): the
        periodic wrap-around, or ghost cells through the wall conditions
        (what every stencil reads; for wide stencils built outside this
        class, such as Arakawa's Jacobian)."""
        return self._pad(u, axis, lo, hi)

    def derivative_of(
        self,
        f: Callable[[Inexact[Array, "..."]], Inexact[Array, "..."]],
        u: Inexact[Array, "*batch *cells"],
        axis: int,
    ) -> Inexact[Array, "*batch *cells"]:
        """The first derivative along `axis` of the pointwise function `f(u)`
        (a flux), with the ghost cells taken from `u` through the walls and
        then mapped by `f`: a flux then sees `F(u_wall)` at a Dirichlet wall,
        where padding `F(u)` itself would impose `u`'s wall value on `F`.
        On a periodic axis it equals `derivative(f(u), axis)`."""
        m, ax = self.stencil_radius, axis - self.grid.ndim + u.ndim
        padded, n = f(self._pad(u, axis, m, m)), u.shape[ax]

        def shift(j):
            return lax.slice_in_dim(padded, m + j, m + j + n, axis=ax)

        terms = [
            c * (shift(j) - shift(-j)) for j, c in enumerate(_FIRST[self.order], 1)
        ]
        return sum(terms[1:], terms[0]) / self.grid.spacing[axis]

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
        if not isinstance(self.boundary[axis][0], Periodic):
            raise NotImplementedError(
                "FiniteDifference.interpolate_to_faces: periodic boundaries only "
                f"(axis {axis} has walls)"
            )
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
        which vanishes only at `k = 0` (no odd-even decoupling).

        Along a wall axis `u` is padded once with `order - 1` ghost cells
        through the wall condition and the coefficient (if it varies along
        the axis) with as many cells extrapolated by the polynomial of degree
        `order` through the nearest cells; the two staggered stencils then
        run without further padding, so the result keeps order `order` up to
        the wall. `at_faces` needs a periodic axis."""
        check_scalar(self.grid, u)
        check_coefficient(self.grid, a)
        if not isinstance(self.boundary[axis][0], Periodic):
            if at_faces:
                raise NotImplementedError(
                    "FiniteDifference.derivative_of_scaled_derivative: at_faces "
                    f"needs periodic boundaries along axis {axis}; give the "
                    "coefficient at cell centres"
                )
            return self._scaled_derivative_with_walls(u, a, axis)
        a_faces = a if at_faces else self.interpolate_to_faces(a, axis)
        return self._faces_to_centres_derivative(
            a_faces * self._centres_to_faces_derivative(u, axis), axis
        )

    def _scaled_derivative_with_walls(self, u, a, axis: int):
        """`D- (a D+ u)` along a wall axis (see `derivative_of_scaled_derivative`)."""
        ghosts = self.order - 1  # 2 m - 1 for the two stencils of radius m
        h = self.grid.spacing[axis]
        padded = self._pad(u, axis, ghosts, ghosts)
        du = _staggered_valid(padded, axis, _STAGGERED_FIRST[self.order], -1.0) / h
        if jnp.ndim(a) == 0 or jnp.shape(a)[axis] == 1:
            a_faces = a
        else:
            a_padded = _extrapolate(jnp.asarray(a), axis, ghosts, self.order)
            a_faces = _staggered_valid(a_padded, axis, _MIDPOINT[self.order], 1.0)
        return (
            _staggered_valid(a_faces * du, axis, _STAGGERED_FIRST[self.order], -1.0) / h
        )

    # --- Fourier symbols (periodic grids) -----------------------------
    def _theta(self, axis: int, real: bool) -> np.ndarray:
        """`k h` per mode along `axis`, shaped to broadcast over the spectrum
        (`rfftn` layout, the last axis halved, when `real`)."""
        n = self.grid.cells[axis]
        last_real = real and axis == self.grid.ndim - 1
        m = np.fft.rfftfreq(n, 1.0 / n) if last_real else np.fft.fftfreq(n, 1.0 / n)
        shape = [1] * self.grid.ndim
        shape[axis] = m.size
        return (2.0 * np.pi * m / n).reshape(shape)

    def derivative_symbol(
        self, axis: int, order: int = 1, real: bool = True
    ) -> np.ndarray:
        """The Fourier symbol of `u -> derivative(u, axis, order)` on a
        periodic grid (NumPy; float64 for even orders, complex128 for odd
        ones), shaped to broadcast over the spectrum: the `rfftn` layout when
        `real`, the `fftn` one otherwise (as `FourierSpectral.forward`).
        First derivative `(2 i / h) sum_j c_j sin(j k h)`, second `(c_0 + 2
        sum_j c_j cos(j k h)) / h^2`, higher orders their products (the
        stencils compose)."""
        self._check_periodic("derivative_symbol")
        if order < 0:
            raise ValueError(f"derivative order must be >= 0, got {order}")
        h = self.grid.spacing[axis]
        theta = self._theta(axis, real)
        c0, *cs = _SECOND[self.order]
        second = c0 + 2.0 * sum(c * np.cos(j * theta) for j, c in enumerate(cs, 1))
        out = (second / h**2) ** (order // 2)
        if order % 2:
            first = sum(
                c * np.sin(j * theta) for j, c in enumerate(_FIRST[self.order], 1)
            )
            out = out * (2j / h) * first
        return np.asarray(out)

    def laplacian_symbol(self, real: bool = True) -> np.ndarray:
        """The symbol of `laplacian` (the sum of the second-derivative
        symbols), in the layout of `derivative_symbol`."""
        terms = [self.derivative_symbol(a, 2, real) for a in range(self.grid.ndim)]
        return np.asarray(sum(terms[1:], terms[0]))

    def diffusion_symbol(self, axis: int, real: bool = True) -> np.ndarray:
        """The symbol of `u -> derivative_of_scaled_derivative(u, 1, axis)` in
        the layout of `derivative_symbol` (`rfftn` when `real`)."""
        self._check_periodic("diffusion_symbol")
        h = self.grid.spacing[axis]
        theta = self._theta(axis, real)
        half = sum(
            c * np.sin((2 * j - 1) * theta / 2)
            for j, c in enumerate(_STAGGERED_FIRST[self.order], start=1)
        )
        return np.asarray(-(((2.0 / h) * half) ** 2))

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


def _staggered_valid(x, axis: int, coefficients, sign: float):
    """`out[k] = sum_j c_j (x[k + m - 1 + j] + sign * x[k + m - j])` along
    `axis` for every `k` whose stencil fits (`len(x) - 2 m + 1` values, `m =
    len(coefficients)`): centres to faces (face `k` lies between `x[k + m -
    1]` and `x[k + m]`) and faces to centres alike, with no padding."""
    m = len(coefficients)
    n = x.shape[axis] - 2 * m + 1
    out = 0.0
    for j, c in enumerate(coefficients, start=1):
        ahead = lax.slice_in_dim(x, m - 1 + j, m - 1 + j + n, axis=axis)
        behind = lax.slice_in_dim(x, m - j, m - j + n, axis=axis)
        out = out + c * (ahead + sign * behind)
    return out


def _extrapolation_weights(num_interior: int, num_ghost: int) -> np.ndarray:
    """`W` with `ghosts = W @ interior`: the polynomial of degree
    `num_interior - 1` through the interior cells (nearest the wall first, at
    distances `k + 1/2` cells) evaluated at the ghosts (`-(j + 1/2)`)."""
    t = np.arange(num_interior) + 0.5
    powers = np.arange(num_interior)
    inverse = np.linalg.inv(t[:, None] ** powers[None, :])
    ghosts = -(np.arange(num_ghost) + 0.5)
    return (ghosts[:, None] ** powers[None, :]) @ inverse


def _extrapolate(a, axis: int, count: int, degree: int):
    """`a` padded with `count` cells on both sides of `axis` by polynomial
    extrapolation of degree `degree` (no boundary condition: coefficients)."""
    n = a.shape[axis]
    num = min(degree + 1, n)
    w = jnp.asarray(_extrapolation_weights(num, count), jnp.finfo(a.dtype).dtype)

    def beyond(inner):  # `inner` nearest the wall first; ghosts likewise
        return jnp.moveaxis(
            jnp.tensordot(w, jnp.moveaxis(inner, axis, 0), axes=1), 0, axis
        )

    lower = lax.rev(beyond(lax.slice_in_dim(a, 0, num, axis=axis)), (axis,))
    upper = beyond(lax.rev(lax.slice_in_dim(a, n - num, n, axis=axis), (axis,)))
    return jnp.concatenate([lower, a, upper], axis=axis)


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
