"""The compressible Euler equations by finite volumes."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Float

from .._grid import Grid
from .._operator import AbstractOperator
from ._characteristic import characteristic_face_states
from ._fused import fused_face_map
from .boundary import AbstractBoundaryCondition, Inflow, Periodic, normalize_boundaries, pad
from .eos import IdealGas
from .reconstruction import WENO5Z, AbstractReconstruction
from .riemann import HLLC, AbstractRiemannSolver
from .state import conservative_to_primitive_components, primitive_to_conservative_components

_VARIABLES = ("primitive", "characteristic")


class Euler(AbstractOperator):
    """Compressible Euler equations of an ideal gas in 1, 2 or 3 D,
    `U_t + sum_d dF_d(U)/dx_d = 0`, discretized by finite volumes on a
    uniform `Grid` (a Godunov-type method of lines; Toro 2009, chapters 6, 14).

    State: cell averages of the conservative variables
    `U = (rho, rho u, [rho v, rho w,] E)`, shape `(2 + ndim, *cells)`.
    `encode` / `decode` convert from / to the primitive fields
    `field_names = ("density", "velocity_x", ["velocity_y", "velocity_z",] "pressure")`.

    Per axis and right-hand-side evaluation: the primitive variables are padded
    once with the axis' boundary conditions, reconstructed to both sides of
    every face (`reconstruction`; componentwise in primitive variables, or,
    with `variables="characteristic"`, after projection onto the
    characteristic fields of each face), and the `riemann` solver's numerical
    flux is differenced: `dU_i/dt = -sum_d (F_{i+1/2} - F_{i-1/2}) / dx_d`.
    Each axis' fluxes are one array of faces, so the scheme is conservative by
    construction.

    Arguments:
        grid: the `Grid`.
        eos: `IdealGas` (default `IdealGas(1.4)`); its `gamma` is a
            differentiable leaf.
        reconstruction: default `WENO5Z()`.
        riemann: default `HLLC()`.
        boundaries: one `AbstractBoundaryCondition` for every face (default
            `Periodic()`), or per axis a condition or a `(low, high)` pair.
            `Periodic()` must be paired with `Periodic()`.
        variables: `"characteristic"` (default; robust at shocks) or
            `"primitive"` (componentwise, cheaper).
        positivity: if True, reconstructed face states are scaled toward
            their cell's value, `W + theta (W_face - W)` with one `theta` in
            `[0, 1]` per cell and axis, so that face density and pressure stay
            `>= min(1e-13, cell value)` (the scaling limiter of Zhang & Shu
            2010, applied to primitive face states). Leaves smooth solutions
            untouched.
        fused_derivatives: how derivatives (`jax.jvp`, `jax.grad`, ...) of
            the face fluxes are evaluated on CPU. True (default): in cache-sized
            chunks, recomputing the forward pass per chunk, with hints that
            stop XLA from recomputing shared intermediates (see `_fused.py`;
            reverse mode is ~10x faster than plain autodiff and compiles ~3x
            faster). False: plain JAX autodiff. Results agree to round-off;
            the forward pass is the same either way.
    """

    grid: Grid
    eos: IdealGas
    reconstruction: AbstractReconstruction
    riemann: AbstractRiemannSolver
    boundaries: tuple[tuple[AbstractBoundaryCondition, AbstractBoundaryCondition], ...]
    variables: str = eqx.field(static=True)
    positivity: bool = eqx.field(static=True)
    fused_derivatives: bool = eqx.field(static=True)

    def __init__(
        self,
        grid: Grid,
        eos: IdealGas | None = None,
        reconstruction: AbstractReconstruction | None = None,
        riemann: AbstractRiemannSolver | None = None,
        boundaries=None,
        variables: str = "characteristic",
        positivity: bool = False,
        fused_derivatives: bool = True,
    ):
        if not isinstance(grid, Grid):
            raise TypeError(f"Euler: grid must be a Grid, got {type(grid).__name__}")
        self.grid = grid
        self.eos = IdealGas() if eos is None else eos
        self.reconstruction = WENO5Z() if reconstruction is None else reconstruction
        self.riemann = HLLC() if riemann is None else riemann
        self.boundaries = normalize_boundaries(Periodic() if boundaries is None else boundaries, grid.ndim)
        self.variables = variables
        self.positivity = bool(positivity)
        self.fused_derivatives = bool(fused_derivatives)

    def __check_init__(self):
        for name, value, kind in (
            ("eos", self.eos, IdealGas),
            ("reconstruction", self.reconstruction, AbstractReconstruction),
            ("riemann", self.riemann, AbstractRiemannSolver),
        ):
            if not isinstance(value, kind):
                raise TypeError(f"Euler: {name} must be a {kind.__name__}, got {type(value).__name__}")
        if self.variables not in _VARIABLES:
            raise ValueError(f"Euler: variables must be one of {_VARIABLES}, got {self.variables!r}")
        g = self.reconstruction.num_ghost
        for axis, (n, pair) in enumerate(zip(self.grid.cells, self.boundaries)):
            if n < g:
                raise ValueError(
                    f"Euler: {type(self.reconstruction).__name__} needs at least {g} cells per axis, "
                    f"grid.cells[{axis}] = {n}"
                )
            for bc in pair:
                if isinstance(bc, Inflow) and bc.velocity.shape[0] != self.grid.ndim:
                    raise ValueError(
                        f"Euler: Inflow on axis {axis} has {bc.velocity.shape[0]} velocity components, "
                        f"the grid is {self.grid.ndim}-dimensional"
                    )

    # AbstractOperator --------------------------------------------------------
    @property
    def field_names(self) -> tuple[str, ...]:
        return ("density", *(f"velocity_{a}" for a in self.grid.axis_names), "pressure")

    def encode(self, fields: Float[Array, "vars *cells"]) -> Float[Array, "vars *cells"]:
        """Primitive fields `(rho, u, [v, w,] p)` to conservative cell averages."""
        self._check_shape(fields, "fields")
        return jnp.stack(primitive_to_conservative_components(tuple(fields), self.eos))

    def decode(self, state: Float[Array, "vars *cells"]) -> Float[Array, "vars *cells"]:
        """Conservative cell averages to primitive fields `(rho, u, [v, w,] p)`."""
        self._check_shape(state, "state")
        return jnp.stack(conservative_to_primitive_components(tuple(state), self.eos))

    def __call__(self, state: Float[Array, "vars *cells"], t=None) -> Float[Array, "vars *cells"]:
        """`dU/dt = -sum_d (F_{i+1/2} - F_{i-1/2}) / dx_d`; `t` is unused."""
        self._check_shape(state, "state")
        w = conservative_to_primitive_components(tuple(state), self.eos)
        rates = [None] * len(w)
        for axis in range(self.grid.ndim):
            flux = self.face_fluxes(w, axis)
            n = self.grid.cells[axis]
            inv_dx = 1.0 / self.grid.spacing[axis]
            for v, f in enumerate(flux):
                div = (lax.slice_in_dim(f, 1, n + 1, axis=axis) - lax.slice_in_dim(f, 0, n, axis=axis)) * inv_dx
                rates[v] = -div if rates[v] is None else rates[v] - div
        return jnp.stack(rates)

    # Pieces ------------------------------------------------------------------
    def face_states(
        self, primitive: Sequence[Array], axis: int
    ) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
        """Reconstructed primitive `(left, right)` states at the `n + 1` faces
        normal to `axis` (tuples of arrays, one per variable); face `k` lies
        between cells `k - 1` and `k`, the first and last on the boundary."""
        padded = pad(primitive, axis, self.boundaries[axis], self.reconstruction.num_ghost)
        return _face_states(padded, axis, self.eos, self.reconstruction, self.variables, self.positivity)

    def face_fluxes(self, primitive: Sequence[Array], axis: int) -> tuple[Array, ...]:
        """Numerical fluxes at the `n + 1` faces normal to `axis` (one array per
        conservative variable)."""
        g = self.reconstruction.num_ghost
        padded = pad(primitive, axis, self.boundaries[axis], g)
        schemes = (self.eos, self.reconstruction, self.riemann)
        params, static = eqx.partition(schemes, eqx.is_inexact_array)

        def f(params, slabs):
            eos, rec, riemann = eqx.combine(params, static)
            left, right = _face_states(slabs, axis, eos, rec, self.variables, self.positivity)
            return riemann.flux_components(left, right, eos, axis)

        if self.fused_derivatives:
            return fused_face_map(f, params, padded, axis)
        return f(params, padded)

    # Time-step control and diagnostics ---------------------------------------
    def _speeds(self, state):
        w = conservative_to_primitive_components(tuple(state), self.eos)
        c = self.eos.sound_speed(w[0], w[-1])
        return tuple(jnp.abs(u) + c for u in w[1:-1])

    def max_wave_speed(self, state: Float[Array, "vars *cells"]) -> Float[Array, ""]:
        """`max over cells and axes of |u_d| + c`."""
        self._check_shape(state, "state")
        return jnp.max(jnp.stack([jnp.max(s) for s in self._speeds(state)]))

    def stable_dt(self, state: Float[Array, "vars *cells"], cfl=0.5) -> Float[Array, ""]:
        """`cfl / max over cells of sum_d (|u_d| + c) / dx_d`, the usual
        multi-dimensional CFL time step for unsplit schemes (`cfl` of 0.4 to
        0.6 is customary with SSP-RK3 and WENO5)."""
        self._check_shape(state, "state")
        rate = sum(s * (1.0 / h) for s, h in zip(self._speeds(state), self.grid.spacing))
        return cfl / jnp.max(rate)

    def physical_violation(self, state: Float[Array, "vars *cells"]) -> Bool[Array, "*cells"]:
        """Mask of cells whose state is unphysical: `rho <= 0`, `p <= 0`, or a
        non-finite variable. `jnp.any` of it says whether a run failed and
        `jnp.argmax(mask.ravel())` (unravelled) finds the first such cell."""
        self._check_shape(state, "state")
        w = conservative_to_primitive_components(tuple(state), self.eos)
        bad = ~(w[0] > 0) | ~(w[-1] > 0)
        for x in state:
            bad = bad | ~jnp.isfinite(x)
        return bad

    def _check_shape(self, x, what):
        expected = (2 + self.grid.ndim, *self.grid.cells)
        if x.shape != expected:
            raise ValueError(
                f"Euler: expected {what} of shape {expected} ({', '.join(self.field_names)}), got {x.shape}"
            )


def _face_states(padded, axis, eos, rec, variables, positivity):
    g = rec.num_ghost
    faces = padded[0].shape[axis] - 2 * g + 1
    stencil = [tuple(lax.slice_in_dim(x, j, j + faces, axis=axis) for x in padded) for j in range(2 * g)]
    if variables == "characteristic":
        left, right = characteristic_face_states(stencil, rec, eos, axis)
    else:
        pairs = [rec.reconstruct_stencil([s[v] for s in stencil]) for v in range(len(padded))]
        left, right = tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
    if positivity:
        left, right = _positivity_limit(left, right, stencil[g - 1], stencil[g], axis)
    return left, right


def _positivity_limit(left, right, cell_left, cell_right, axis):
    """Scale face states toward their cell's value so that density and
    pressure stay positive; one factor per cell (both of its faces), as in
    Zhang & Shu (2010). `left[k]` belongs to the cell `cell_left[k]`,
    `right[k]` to `cell_right[k]`, and cell `k` owns `right[k]` and
    `left[k + 1]`."""
    last = len(left) - 1

    def theta(face, cell):
        out = None
        for v in (0, last):
            eps = jnp.minimum(1e-13, cell[v])
            low = face[v] < eps
            den = jnp.where(low, cell[v] - face[v], 1.0)
            t = jnp.where(low, (cell[v] - eps) / den, 1.0)
            out = t if out is None else jnp.minimum(out, t)
        return jnp.clip(out, 0.0, 1.0)

    t_left, t_right = theta(left, cell_left), theta(right, cell_right)
    m = t_left.shape[axis]
    one = jnp.ones_like(lax.slice_in_dim(t_left, 0, 1, axis=axis))
    # the same cell's other face: right[k - 1] for left[k], left[k + 1] for right[k]
    prev_right = jnp.concatenate([one, lax.slice_in_dim(t_right, 0, m - 1, axis=axis)], axis=axis)
    next_left = jnp.concatenate([lax.slice_in_dim(t_left, 1, m, axis=axis), one], axis=axis)
    t_left = jnp.minimum(t_left, prev_right)
    t_right = jnp.minimum(t_right, next_left)
    left = tuple(c + t_left * (f - c) for f, c in zip(left, cell_left))
    right = tuple(c + t_right * (f - c) for f, c in zip(right, cell_right))
    return left, right
