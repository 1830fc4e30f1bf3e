"""The `FiniteVolume` strategy: any physics with a pointwise flux, by finite
volumes (reconstruction + generic Riemann solver), with boundaries and a CFL
condition."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from .._operator import AbstractCFLOperator
from ..discretization.boundary import AbstractWallBoundary
from ..finite_volume.boundary import (
    InflowState,
    ReflectingWall,
    average_ghost_weights,
    ghost_block,
    wall_interior_cells,
)
from ..finite_volume.discretization import FiniteVolume
from ..internal import fused_face_map
from ._calculus import AbstractCalculus
from ._discretize import register_strategy
from ._physics import AbstractPhysics
from ._semilinear import SymbolCalculus

# Central differences on a uniform grid (Fornberg 1988): first derivative
# sum_j c_j (u_{i+j} - u_{i-j}) / h, second (c_0 u_i + sum_j c_j (u_{i+j} +
# u_{i-j})) / h^2. Applied to cell averages they give the cell average of the
# derivative to the same order (averaging commutes with differentiation).
_FIRST = {2: (0.5,), 4: (2.0 / 3.0, -1.0 / 12.0)}
_SECOND = {2: (-2.0, 1.0), 4: (-5.0 / 2.0, 4.0 / 3.0, -1.0 / 12.0)}
# The point derivative at face i + 1/2 from the averages of cells i-1..i+2,
# sum_j c_j (u_{i+1+j} - u_{i-j}) / h, and the point value of a cell-centred
# coefficient there, sum_j w_j (a_{i+1+j} + a_{i-j}).
_FACE_DERIVATIVE = {2: (1.0,), 4: (15.0 / 12.0, -1.0 / 12.0)}
_FACE_VALUE = {2: (0.5,), 4: (9.0 / 16.0, -1.0 / 16.0)}


def _shift(x, axis, start, length):
    return lax.slice_in_dim(x, start, start + length, axis=axis)


class FiniteVolumeCalculus(AbstractCalculus):
    """Central differences on cell averages, ghost cells from the operator's
    boundary conditions (a trace-time helper of `FiniteVolumePDE`).

    Arrays shaped like the state (channels first) get exactly the ghost
    cells of the reconstruction (reflecting walls through `physics.reflect`,
    inflow states encoded); other arrays (a single channel, a derived field)
    get periodic wrap-around, the wall extrapolations of `Dirichlet` /
    `Neumann` / `Robin`, and zero-gradient or even-mirror ghosts at outflow,
    inflow and reflecting walls. Derivatives of order above 2 along a
    non-periodic axis are refused (their ghost cells would need conditions
    on the derivatives)."""

    def __init__(self, op: FiniteVolumePDE, t):
        self.grid = op.grid
        self.op = op
        self.t = t
        self.order = op.discretization.calculus_order

    def _padded(self, u, axis, width):
        return self.op.pad(u, axis, width, self.t)

    def derivative(self, u, axis, order=1):
        if order == 0:
            return u
        if order > 2 and not self.op.discretization.periodic[axis]:
            raise ValueError(
                f"FiniteVolume: a derivative of order {order} along the non-periodic "
                f"axis {axis} needs conditions on derivatives; only orders 1 and 2 "
                "are available there"
            )
        if order > 2:
            inner = self.derivative(u, axis, order - 2)
            return self.derivative(inner, axis, 2)
        table = _FIRST if order == 1 else _SECOND
        coeffs = table[self.order]
        r = len(coeffs) if order == 1 else len(coeffs) - 1
        ax = u.ndim - self.grid.ndim + axis
        n = u.shape[ax]
        padded = self._padded(u, axis, r)
        h = self.grid.spacing[axis]
        if order == 1:
            out = coeffs[0] * (
                _shift(padded, ax, r + 1, n) - _shift(padded, ax, r - 1, n)
            )
            for j, c in enumerate(coeffs[1:], start=1):
                out = out + c * (
                    _shift(padded, ax, r + j + 1, n) - _shift(padded, ax, r - j - 1, n)
                )
            return out * (1.0 / h)
        out = coeffs[0] * u
        for j, c in enumerate(coeffs[1:], start=1):
            out = out + c * (
                _shift(padded, ax, r + j, n) + _shift(padded, ax, r - j, n)
            )
        return out * (1.0 / (h * h))

    def laplacian(self, u):
        terms = [self.derivative(u, a, 2) for a in range(self.grid.ndim)]
        return sum(terms[1:], terms[0])

    def diffusion(self, u, coefficient):
        """`div(coefficient grad u)`: a constant coefficient times the
        Laplacian; a cell-centred field coefficient in compact flux form,
        face fluxes `a_{i+1/2} (du/dx)_{i+1/2}` differenced (conservative;
        `calculus_order` accurate with face values and face derivatives of
        that order)."""
        if jnp.ndim(coefficient) == 0:
            return coefficient * self.laplacian(u)
        coefficient = jnp.asarray(coefficient)
        coefficient = coefficient.reshape(
            (1,) * (u.ndim - coefficient.ndim) + coefficient.shape
        )
        ndim = self.grid.ndim
        r = len(_FACE_DERIVATIVE[self.order])
        total = None
        for axis in range(ndim):
            ax = u.ndim - ndim + axis
            n = u.shape[ax]
            h = self.grid.spacing[axis]
            padded = self._padded(u, axis, r)
            a_padded = self.op.pad(coefficient, axis, r, self.t, state_like=False)
            grad = sum(
                c
                * (
                    _shift(padded, ax, r + j, n + 1)
                    - _shift(padded, ax, r - 1 - j, n + 1)
                )
                for j, c in enumerate(_FACE_DERIVATIVE[self.order])
            ) * (1.0 / h)
            face = sum(
                w
                * (
                    _shift(a_padded, ax, r + j, n + 1)
                    + _shift(a_padded, ax, r - 1 - j, n + 1)
                )
                for j, w in enumerate(_FACE_VALUE[self.order])
            )
            flux = face * grad
            term = (_shift(flux, ax, 1, n) - _shift(flux, ax, 0, n)) * (1.0 / h)
            total = term if total is None else total + term
        return total


class _BoundCalculus(SymbolCalculus):
    """Symbols of the finite-volume calculus, for the spectral radius of the
    linear part (a variable diffusion coefficient counts with its largest
    magnitude)."""

    def diffusion(self, u, coefficient):
        a = jnp.max(jnp.abs(jnp.asarray(coefficient)))
        return a * u * sum(self._diffusion_symbol(k) for k in range(self.grid.ndim))


class FiniteVolumePDE(AbstractCFLOperator):
    """`physics` on `FiniteVolume`: a method of lines on cell averages of the
    evolved variables `physics.encode(fields)`.

    Right-hand side: for every axis, the state is padded with the axis'
    ghost cells, reconstructed to both sides of every face (all channels at
    once, on the evolved variables), and the numerical flux
    `riemann.generic_flux` built from `physics.flux` on both sides and the
    characteristic speeds `physics.wave_speeds` (default: the flux
    Jacobian's eigenvalues by automatic differentiation) is differenced,
    `-(F_{i+1/2} - F_{i-1/2}) / h`. Conservative by construction. Then
    `linear`, `reaction` and `nonlinear` are added, evaluated with
    `FiniteVolumeCalculus` on the cell averages (`reaction` with the cell
    centres as `x`: a nonlinear source of averages is second-order accurate,
    whatever the reconstruction).

    Time step (`stable_dt`): `cfl / max(a, rho / 2)`, with
    `a = max over cells of sum_d max|speed_d| / h_d` (the unsplit CFL rate,
    `max|speed| / h` in 1D) and `rho` the largest magnitude of the symbol of
    the linear part under the calculus' stencils (the diffusive or
    dispersive limit: explicit Runge-Kutta schemes are stable for
    `dt rho <= 2` on the negative real axis), enlarged on axes with
    `Dirichlet` / `Neumann` / `Robin` walls by what their ghost extrapolation
    adds to the second difference's spectral radius (1.7x for a Dirichlet
    wall at order 2, 1.9x at order 4). Terms in `nonlinear` are not
    accounted for. A physics with neither flux nor linear part gets `inf`.

    **Arguments:**

    - `physics`: the `AbstractPhysics`.
    - `discretization`: the `FiniteVolume`.
    """

    physics: AbstractPhysics
    discretization: FiniteVolume

    def __check_init__(self):
        name = type(self.physics).__name__
        rec = self.discretization.reconstruction
        need = self.physics.min_finite_volume_order
        if rec.order < need:
            raise ValueError(
                f"{name} needs finite volumes of order >= {need}; "
                f"{type(rec).__name__} is of order {rec.order}. Valid "
                "reconstructions: "
                + ", ".join(
                    r
                    for r, o in (
                        ("FirstOrder()", 1),
                        ("MUSCL(limiter)", 2),
                        ("WENO5JS()", 5),
                        ("WENO5Z()", 5),
                    )
                    if o >= need
                )
            )
        if self.physics.complex_fields:
            raise ValueError(
                f"{name} has complex fields; finite volumes evolve real cell averages"
            )
        fields = self.physics.field_names(self.grid.ndim)
        for axis, pair in enumerate(self.discretization.boundary):
            for b in pair:
                if isinstance(b, InflowState) and b.values.shape[0] != len(fields):
                    raise ValueError(
                        f"FiniteVolume: InflowState on axis {axis} has "
                        f"{b.values.shape[0]} values; {name} has {len(fields)} "
                        f"fields ({', '.join(fields)})"
                    )
        uses_wall = any(
            isinstance(b, ReflectingWall)
            for pair in self.discretization.boundary
            for b in pair
        )
        if uses_wall and type(self.physics).reflect is AbstractPhysics.reflect:
            raise ValueError(
                f"FiniteVolume: a ReflectingWall needs {name}.reflect(u, axis) (the "
                "mirror state behind the wall), which it does not define"
            )

    # AbstractOperator --------------------------------------------------------
    @property
    def grid(self):
        return self.discretization.grid

    @property
    def field_names(self) -> tuple[str, ...]:
        return self.physics.field_names(self.grid.ndim)

    def encode(
        self, fields: Float[Array, "channels *cells"]
    ) -> Float[Array, "channels *cells"]:
        """Physical fields (cell averages) to the evolved variables."""
        self._check_shape(fields, "fields")
        return self.physics.encode(fields)

    def decode(
        self, state: Float[Array, "channels *cells"]
    ) -> Float[Array, "channels *cells"]:
        """Evolved variables to physical fields."""
        self._check_shape(state, "state")
        return self.physics.decode(state)

    def __call__(
        self, state: Float[Array, "channels *cells"], t=None
    ) -> Float[Array, "channels *cells"]:
        """The time derivative of the cell averages at time `t` (used by
        time-dependent sources and `Switch` boundaries)."""
        self._check_shape(state, "state")
        t = jnp.zeros((), state.dtype) if t is None else t
        terms = []
        if self.has_flux(state):
            terms.append(self.flux_divergence(state, t))
        calc = FiniteVolumeCalculus(self, t)
        x = self.grid.mesh(state.dtype)
        for term in (
            self.physics.linear(state, calc),
            self.physics.reaction(state, x, t),
            self.physics.nonlinear(state, calc, t),
        ):
            if term is not None:
                terms.append(term)
        if not terms:
            return jnp.zeros_like(state)
        return sum(terms[1:], terms[0]).astype(state.dtype)

    # Pieces ------------------------------------------------------------------
    def has_flux(self, state) -> bool:
        """Whether the physics has a conservative flux (decided at trace time)."""
        return self.physics.flux(state, 0) is not None

    def pad(self, u, axis: int, width: int, t=None, state_like: bool | None = None):
        """`u` (shape `(*lead, *cells)`) with `width` ghost cells on both ends
        of `axis`. `state_like` (default: the leading shape is the state's)
        selects the physics' `reflect` and `encode` for walls and inflow."""
        if width == 0:
            return u
        ndim = self.grid.ndim
        if state_like is None:
            state_like = u.shape[: u.ndim - ndim] == (len(self.field_names),)
        reflect = self.physics.reflect if state_like else None
        encode = self.physics.encode if state_like else None
        low, high = self.discretization.boundary[axis]
        if t is not None:
            low, high = _bind(low, t, self.grid), _bind(high, t, self.grid)
        parts = [
            ghost_block(
                c, u, axis, side, width, self.grid, reflect=reflect, encode=encode
            )
            for side, c in ((0, low), (1, high))
        ]
        return jnp.concatenate([parts[0], u, parts[1]], axis=u.ndim - ndim + axis)

    def face_fluxes(self, state, axis: int, t=None) -> Array:
        """Numerical fluxes at the `n + 1` faces normal to `axis` (face `k`
        between cells `k - 1` and `k`), shape `(channels, ..., n + 1, ...)`."""
        g = self.discretization.reconstruction.num_ghost
        padded = self.pad(state, axis, g, t)
        f, params = self.face_function(axis)
        width = 2 * g

        def plain(params, padded):  # slices of the stacked channels
            faces = padded.shape[1 + axis] - width + 1
            shifts = [_shift(padded, 1 + axis, j, faces) for j in range(width)]
            return jnp.stack(f(params, [x for s in shifts for x in s]))

        if not self.discretization.fused_derivatives:
            return plain(params, padded)

        # The primal is the plain evaluation (forward-only runs pay nothing);
        # the tangent, which reverse mode transposes, is fused_face_map's
        # chunked, rematerialized one (see operators/finite_volume/_fused.py).
        @jax.custom_jvp
        def run(params, padded):
            return plain(params, padded)

        @run.defjvp
        def run_jvp(primals, tangents):
            def fused(p, s):
                return fused_face_map(f, p, tuple(s), axis, stencil=width)

            _, dout = jax.jvp(fused, primals, tangents)
            return run(*primals), jnp.stack(dout)

        return run(params, padded)

    def face_function(self, axis: int):
        """`(f, params)`: `f(params, flat)` maps the `2 num_ghost` stencil
        shifts of the padded channels (`flat[j * channels + c]`: channel `c`
        of stencil cell `j`) to the numerical flux of every channel at the
        faces normal to `axis`; `params` are the differentiable arrays of the
        physics and the schemes (what `fused_face_map` differentiates)."""
        d = self.discretization
        channels = len(self.field_names)
        params, static = eqx.partition(
            (self.physics, d.reconstruction, d.riemann), eqx.is_inexact_array
        )

        def f(params, flat) -> tuple[Array, ...]:
            physics, rec, riemann = eqx.combine(params, static)
            stencil = [
                jnp.stack(flat[j * channels : (j + 1) * channels])
                for j in range(2 * rec.num_ghost)
            ]
            left, right = rec.reconstruct_stencil(stencil)
            # every channel: the solver dissipates on the flux-free ones too
            f_left = physics.full_flux(left, axis)
            f_right = physics.full_flux(right, axis)
            # stored once: XLA:CPU would otherwise recompute the speeds (with
            # their eigenvalue formulas) inside the loop of every flux channel
            s_left = _materialize(physics.wave_speeds(left, axis))
            s_right = _materialize(physics.wave_speeds(right, axis))
            flux = riemann.generic_flux(left, right, f_left, f_right, s_left, s_right)
            return tuple(flux)

        return f, params

    def flux_divergence(self, state, t=None) -> Array:
        """`-sum_d (F_{i+1/2} - F_{i-1/2}) / h_d`."""
        out = None
        for axis in range(self.grid.ndim):
            flux = self.face_fluxes(state, axis, t)
            n = self.grid.cells[axis]
            ax = 1 + axis
            term = (_shift(flux, ax, 1, n) - _shift(flux, ax, 0, n)) * (
                -1.0 / self.grid.spacing[axis]
            )
            out = term if out is None else out + term
        assert out is not None
        return out

    # Time-step control ---------------------------------------------------------
    def max_wave_speed(
        self, state: Float[Array, "channels *cells"]
    ) -> Float[Array, ""]:
        """`max over cells and axes of |speed|` (0 without a flux)."""
        self._check_shape(state, "state")
        if not self.has_flux(state):
            return jnp.zeros((), state.dtype)
        speeds = []
        for axis in range(self.grid.ndim):
            low, high = self.physics.wave_speeds(state, axis)
            speeds.append(jnp.max(jnp.maximum(-low, high)))
        return jnp.max(jnp.stack(speeds))

    def linear_spectral_radius(self, dtype=None) -> Float[Array, ""]:
        """The largest magnitude of the symbol of `physics.linear` under the
        calculus' central differences (0 without a linear part), sampled at
        33 wavenumbers per axis from 0 to the grid's Nyquist one. A linear
        part with no symbol (coefficients varying in space) is applied to
        the checkerboard mode instead (`max |L mode|`: exact for diffusion,
        `4 a / h^2` per axis at second order)."""
        samples = 33
        order = self.discretization.calculus_order
        ndim = self.grid.ndim
        theta = np.linspace(0.0, np.pi, samples)

        def along(axis, values):  # with a leading (channel) axis
            shape = [1] * (ndim + 1)
            shape[1 + axis] = samples
            return values.reshape(shape)

        def derivative_symbol(axis, k):
            h = self.grid.spacing[axis]
            first = (
                1j
                * sum(
                    2.0 * c * np.sin((j + 1) * theta)
                    for j, c in enumerate(_FIRST[order])
                )
                / h
            )
            coeffs = _SECOND[order]
            second = (
                coeffs[0]
                + sum(
                    2.0 * c * np.cos(j * theta)
                    for j, c in enumerate(coeffs[1:], start=1)
                )
            ) / (h * h)
            return along(axis, first ** (k % 2) * second ** (k // 2))

        def diffusion_symbol(axis):
            return derivative_symbol(axis, 2)

        calc = _BoundCalculus(self.grid, derivative_symbol, diffusion_symbol)
        channels = len(self.field_names)
        ones = jnp.ones((channels,) + (samples,) * ndim, dtype=dtype)
        try:
            out = self.physics.linear(ones, calc)
        except (ValueError, TypeError):
            # no symbol (coefficients that vary in space): the operator on
            # the grid's checkerboard mode, the largest of a diffusion
            checker = sum(np.indices(self.grid.cells)) % 2 * 2.0 - 1.0
            mode = jnp.broadcast_to(
                jnp.asarray(checker, dtype), (channels, *self.grid.cells)
            )
            out = self.physics.linear(mode, FiniteVolumeCalculus(self, None))
        if out is None:
            return jnp.zeros((), dtype)
        return jnp.max(jnp.abs(out)) * self._wall_factor()

    def _wall_factor(self) -> float:
        """How much the walls' ghost extrapolation enlarges the spectral
        radius of the second difference (1 without walls): the largest
        `max |eigenvalue|` of the 1D second-difference matrix with an axis'
        ghost cells (at most 64 cells) over that of the periodic one."""
        order = self.discretization.calculus_order
        factor = 1.0
        for axis, (low, high) in enumerate(self.discretization.boundary):
            if not any(isinstance(b, AbstractWallBoundary) for b in (low, high)):
                continue
            n = min(self.grid.cells[axis], 64)
            sides = tuple(
                b.coefficients if isinstance(b, AbstractWallBoundary) else None
                for b in (low, high)
            )
            factor = max(
                factor,
                _second_difference_radius(sides, order, n, self.grid.spacing[axis]),
            )
        return factor

    def stable_dt(
        self, state: Float[Array, "channels *cells"], cfl=0.5
    ) -> Float[Array, ""]:
        """`cfl / max(a, rho / 2)` (see the class docstring)."""
        self._check_shape(state, "state")
        rate = jnp.zeros((), state.dtype)
        if self.has_flux(state):
            per_cell = None
            for axis, h in enumerate(self.grid.spacing):
                low, high = self.physics.wave_speeds(state, axis)
                term = jnp.maximum(-low, high) * (1.0 / h)
                per_cell = term if per_cell is None else per_cell + term
            assert per_cell is not None
            rate = jnp.max(per_cell)
        rho = self.linear_spectral_radius(state.dtype)
        return cfl / jnp.maximum(rate, 0.5 * rho)

    def _check_shape(self, x, what):
        expected = (len(self.field_names), *self.grid.cells)
        if x.shape != expected:
            raise ValueError(
                f"{type(self.physics).__name__}: expected {what} of shape {expected} "
                f"({', '.join(self.field_names)}), got {x.shape}"
            )


@functools.lru_cache(maxsize=64)
def _second_difference_radius(sides, order: int, n: int, h: float) -> float:
    """`max |eigenvalue|` of the `n`-cell second difference of `order` with
    ghost cells from the wall `(alpha, beta)` of each side (None: zero
    gradient), relative to its periodic value (4 or 16/3, unit spacing)."""
    coeffs = _SECOND[order]
    r = len(coeffs) - 1
    stencil = [*coeffs[:0:-1], *coeffs]  # c_r .. c_1, c_0, c_1 .. c_r
    pad = np.zeros((n + 2 * r, n))
    pad[r : r + n] = np.eye(n)
    m = wall_interior_cells(r, n)
    for side, wall in enumerate(sides):
        if wall is None:
            weights = np.zeros((r, m))
            weights[:, 0] = 1.0
        else:
            weights, _ = average_ghost_weights(wall[0], wall[1], h, m, r)
        for j in range(r):  # ghost j from the wall
            if side == 0:
                pad[r - 1 - j, :m] = weights[j]
            else:
                pad[r + n + j, n - m :] = weights[j][::-1]
    matrix = sum(c * pad[k : k + n] for k, c in enumerate(stencil))
    radius = float(np.max(np.abs(np.linalg.eigvals(matrix))))
    periodic = abs(
        coeffs[0] + sum(2.0 * c * (-1) ** j for j, c in enumerate(coeffs[1:], 1))
    )
    return max(1.0, radius / periodic)


def _materialize(xs: tuple[Array, Array]) -> tuple[Array, Array]:
    """`xs`, each divided by a one the compiler cannot see (`x / 1 == x`
    exactly): XLA:CPU never duplicates a division into its consumers, so the
    values are computed once and read by every output (as `Euler` does)."""
    one = lax.stop_gradient(1.0 + 0.0 * xs[0].ravel()[0])
    return xs[0] / one, xs[1] / one


def _bind(condition, t, grid):
    return condition.at(t, grid) if hasattr(condition, "at") else condition


@register_strategy(FiniteVolume, "finite_volume")
def discretize_finite_volume(physics, finite_volume: FiniteVolume) -> FiniteVolumePDE:
    return FiniteVolumePDE(physics, finite_volume)
