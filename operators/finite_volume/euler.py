"""The compressible Euler equations by finite volumes."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from .._grid import Grid
from .._operator import AbstractCFLOperator, AbstractConstrainedOperator, parameter
from ..internal import check_instance, checks_own_arguments, describe
from ._characteristic import characteristic_face_states
from ._fused import fused_face_map, stencil_shifts
from ._math import materialize
from .boundary import (
    AbstractBoundaryCondition,
    Inflow,
    NoSlipWall,
    Periodic,
    ReflectingWall,
    normalize_boundaries,
    pad,
)
from .eos import AbstractEquationOfState, IdealGas
from .nonreflecting import TotalInflow
from .reconstruction import WENO5Z, AbstractReconstruction
from .riemann import HLLC, AbstractRiemannSolver
from .state import (
    conservative_to_primitive_components,
    primitive_to_conservative_components,
)
from .transport import Transport
from .viscous import STENCIL, VISCOUS_EIGENVALUE, viscous_face_fluxes

_VARIABLES = ("primitive", "characteristic")

# Transverse 5-point kernels (Buchmueller & Helzel 2014, extended to sixth
# order): cell average -> point value, `q - h^2/24 q2 + 7 h^4/5760 q4`, and
# point values -> face average, `q + h^2/24 q2 + h^4/1920 q4`, with a
# fourth-order second difference `q2` and a second-order fourth difference `q4`.
_TO_POINT = tuple(c / 5760.0 for c in (27.0, -348.0, 6402.0, -348.0, 27.0))
_TO_AVERAGE = tuple(c / 5760.0 for c in (-17.0, 308.0, 5178.0, 308.0, -17.0))
_HALO = 2  # cells each transverse kernel consumes on either side


class Euler(AbstractCFLOperator, AbstractConstrainedOperator):
    """Compressible Euler equations of an ideal or stiffened gas in 1, 2 or 3 D,
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
    construction. Density and pressure (`p + p_inf` for a stiffened gas)
    must stay positive (`AbstractConstrainedOperator`): solvers and runs stop
    on a state where they do not.

    **Arguments:**

    - `grid`: the `Grid`.
    - `eos`: `IdealGas` (default `IdealGas(1.4)`) or `StiffenedGas`; their
      parameters are differentiable leaves. With a stiffened gas the
      constrained quantities are density and `p + p_inf` (the pressure itself
      may be negative), also for `positivity` and `average_correction`.
    - `reconstruction`: default `WENO5Z()`.
    - `riemann`: default `HLLC()`.
    - `boundaries`: one `AbstractBoundaryCondition` for every face (default
      `Periodic()`), or per axis a condition or a `(low, high)` pair.
      `Periodic()` must be paired with `Periodic()`.
    - `variables`: `"characteristic"` (default; robust at shocks) or
      `"primitive"` (componentwise, cheaper).
    - `positivity`: if True, reconstructed face states are scaled toward
      their cell's value, `W + theta (W_face - W)` with one `theta` in
      `[0, 1]` per cell and axis, so that face density and pressure stay
      `>= min(1e-13, cell value)` (the scaling limiter of Zhang & Shu
      2010, applied to primitive face states). Leaves smooth solutions
      untouched.
    - `average_correction`: whether cell averages and point values are told
      apart to high order (default: for reconstructions above second
      order). True: the conservative averages are deconvolved to point
      values (a linear 5-point kernel per axis), converted to primitive
      variables point by point and averaged back along the
      reconstruction axis, and in 2D/3D the point fluxes at the face
      centres are averaged over the face with the matching kernel.
      Sixth-order accurate, so WENO5 keeps fifth order on smooth flow;
      without it, converting averages to primitive variables and the
      face-centre flux are second-order steps (Buchmueller & Helzel
      2014; Zhang, Zhang & Shu 2011). Next to strong shocks, where the
      deconvolution would halve a density or pressure, the plain value
      is kept. False: the classical scheme.
    - `transport`: a `Transport` (viscosity law, Prandtl number or
      conductivity, bulk viscosity), or None (default: inviscid). With it
      the operator solves the compressible Navier-Stokes equations: the
      viscous stress and the heat flux `-k grad T` (`T = eos.temperature`)
      are added to the numerical flux of every face, at fourth order
      (`viscous.py`), and `stable_dt` includes the viscous limit.
    - `gravity`: a constant body-force acceleration, one component per axis
      (a differentiable leaf), or None. Adds `rho g` to the momentum and
      `rho u . g` to the energy.
    - `source`: any differentiable callable `S(state, x, t)` (an `eqx.Module`
      such as a network included) returning rates of the conservative
      variables, shape of `state`; `x` is the stacked cell-centre
      coordinates `(ndim, *cells)`, `t` the time (0 when not given). Added to
      the right-hand side.
    - `equilibrium`: a conservative state the discretization must keep
      exactly at rest (e.g. a hydrostatic atmosphere), or None. The
      right-hand side becomes `L(U) - L(U_eq)`: the discrete residual of the
      equilibrium is subtracted, so `U_eq` is a steady state to round-off
      whatever the scheme, and a perturbation `U - U_eq` evolves with the
      scheme's accuracy (the well-balancing by subtraction of a known
      equilibrium of Berberich, Chandrashekar & Klingenberg 2021, Comput.
      Fluids 219:104858, without their deviation reconstruction). Costs one
      more right-hand side per evaluation.
    - `fused_derivatives`: how derivatives (`jax.jvp`, `jax.grad`, ...) of
      the face fluxes are evaluated on CPU. True (default): in cache-sized
      chunks, recomputing the forward pass per chunk, with hints that
      stop XLA from recomputing shared intermediates (see `_fused.py`;
      the reverse pass of a 2D right-hand side is ~8x faster than plain
      autodiff). False: plain JAX autodiff. Results agree to round-off;
      the forward pass is the same either way.
    """

    grid: Grid
    eos: AbstractEquationOfState
    reconstruction: AbstractReconstruction
    riemann: AbstractRiemannSolver
    boundaries: tuple[tuple[AbstractBoundaryCondition, AbstractBoundaryCondition], ...]
    transport: Transport | None
    gravity: Array | None
    source: Callable | None
    equilibrium: Array | None
    variables: str = eqx.field(static=True)
    positivity: bool = eqx.field(static=True)
    average_correction: bool = eqx.field(static=True)
    fused_derivatives: bool = eqx.field(static=True)

    @checks_own_arguments
    def __init__(
        self,
        grid: Grid,
        eos: AbstractEquationOfState | None = None,
        reconstruction: AbstractReconstruction | None = None,
        riemann: AbstractRiemannSolver | None = None,
        boundaries=None,
        variables: str = "characteristic",
        positivity: bool = False,
        average_correction: bool | None = None,
        fused_derivatives: bool = True,
        transport: Transport | None = None,
        gravity=None,
        source: Callable | None = None,
        equilibrium=None,
    ):
        check_instance("Euler", "grid", grid, Grid, "Grid(cells=[200])")
        eos = IdealGas() if eos is None else eos
        reconstruction = WENO5Z() if reconstruction is None else reconstruction
        riemann = HLLC() if riemann is None else riemann
        check_instance(
            "Euler", "eos", eos, AbstractEquationOfState, "IdealGas(gamma=1.4)"
        )
        check_instance(
            "Euler",
            "reconstruction",
            reconstruction,
            AbstractReconstruction,
            "WENO5Z()",
        )
        check_instance("Euler", "riemann", riemann, AbstractRiemannSolver, "HLLC()")
        for name, flag in (
            ("positivity", positivity),
            ("average_correction", average_correction),
            ("fused_derivatives", fused_derivatives),
        ):
            if not (flag is None and name == "average_correction") and not isinstance(
                flag, (bool, np.bool_)
            ):
                raise TypeError(
                    f"Euler: {name} must be True or False, got {describe(flag)}"
                )
        if not isinstance(variables, str) or variables not in _VARIABLES:
            raise ValueError(
                f"Euler: variables must be one of {_VARIABLES}, got "
                f"{describe(variables)}"
            )
        self.grid = grid
        self.eos = eos
        self.reconstruction = reconstruction
        self.riemann = riemann
        self.boundaries = tuple(
            (_with_eos(pair[0], eos), _with_eos(pair[1], eos))
            for pair in normalize_boundaries(
                Periodic() if boundaries is None else boundaries, grid.ndim
            )
        )
        self.variables = variables
        self.positivity = bool(positivity)
        if average_correction is None:
            average_correction = self.reconstruction.stencil_radius >= 2
        self.average_correction = bool(average_correction)
        self.fused_derivatives = bool(fused_derivatives)
        if transport is not None:
            check_instance(
                "Euler", "transport", transport, Transport, "Transport(viscosity=1e-3)"
            )
        self.transport = transport
        self.gravity = None if gravity is None else jnp.atleast_1d(parameter(gravity))
        if source is not None and not callable(source):
            raise TypeError(
                "Euler: source must be a callable S(state, x, t), got "
                f"{describe(source)}"
            )
        self.source = source
        self.equilibrium = None if equilibrium is None else jnp.asarray(equilibrium)

    def __check_init__(self):
        check_instance(
            "Euler", "eos", self.eos, AbstractEquationOfState, "IdealGas(gamma=1.4)"
        )
        check_instance(
            "Euler",
            "reconstruction",
            self.reconstruction,
            AbstractReconstruction,
            "WENO5Z()",
        )
        check_instance(
            "Euler", "riemann", self.riemann, AbstractRiemannSolver, "HLLC()"
        )
        if self.variables not in _VARIABLES:
            raise ValueError(
                f"Euler: variables must be one of {_VARIABLES}, got {self.variables!r}"
            )
        g = self.reconstruction.num_ghost + (
            2 * _HALO if self.average_correction else 0
        )
        wall = "wall"
        if self.average_correction:
            wall = "wall with average_correction=True"
        for axis, (n, pair) in enumerate(zip(self.grid.cells, self.boundaries)):
            if n < g and any(isinstance(bc, ReflectingWall) for bc in pair):
                raise ValueError(
                    f"Euler: {type(self.reconstruction).__name__} needs at least {g} "
                    f"cells along an axis with a {wall}, grid.cells[{axis}] = {n}"
                )
            for bc in pair:
                if isinstance(bc, NoSlipWall) and self.transport is None:
                    raise ValueError(
                        f"Euler: NoSlipWall on axis {axis} needs a viscous fluid "
                        "(transport=Transport(...)); use ReflectingWall() for a "
                        "slip wall of an inviscid one"
                    )
                if (
                    isinstance(bc, NoSlipWall)
                    and bc.velocity is not None
                    and bc.velocity.shape[0] != self.grid.ndim
                ):
                    raise ValueError(
                        f"Euler: NoSlipWall on axis {axis} has {bc.velocity.shape[0]} "
                        f"velocity components, the grid is {self.grid.ndim}-dimensional"
                    )
                if isinstance(bc, Inflow) and bc.velocity.shape[0] != self.grid.ndim:
                    raise ValueError(
                        f"Euler: Inflow on axis {axis} has {bc.velocity.shape[0]} "
                        f"velocity components, the grid is {self.grid.ndim}-dimensional"
                    )
        if (
            self.transport is not None
            and self.average_correction
            and self.reconstruction.num_ghost < STENCIL
        ):
            raise ValueError(
                f"Euler: the viscous fluxes with average_correction=True need a "
                f"reconstruction of at least {STENCIL} ghost cells, "
                f"{type(self.reconstruction).__name__} has "
                f"{self.reconstruction.num_ghost}; use average_correction=False"
            )
        if self.gravity is not None and self.gravity.shape != (self.grid.ndim,):
            raise ValueError(
                f"Euler: gravity must have {self.grid.ndim} components (one per "
                f"axis), got shape {self.gravity.shape}"
            )
        if self.equilibrium is not None:
            self._check_shape(self.equilibrium, "equilibrium")

    # AbstractOperator --------------------------------------------------------
    @property
    def field_names(self) -> tuple[str, ...]:
        return ("density", *(f"velocity_{a}" for a in self.grid.axis_names), "pressure")

    def encode(
        self, fields: Float[Array, "vars *cells"]
    ) -> Float[Array, "vars *cells"]:
        """Primitive fields `(rho, u, [v, w,] p)` to conservative cell averages."""
        self._check_shape(fields, "fields")
        return jnp.stack(primitive_to_conservative_components(tuple(fields), self.eos))

    def decode(self, state: Float[Array, "vars *cells"]) -> Float[Array, "vars *cells"]:
        """Conservative cell averages to primitive fields `(rho, u, [v, w,] p)`."""
        self._check_shape(state, "state")
        return jnp.stack(conservative_to_primitive_components(tuple(state), self.eos))

    def __call__(
        self, state: Float[Array, "vars *cells"], t=None
    ) -> Float[Array, "vars *cells"]:
        """`dU/dt = -sum_d (F_{i+1/2} - F_{i-1/2}) / dx_d + S` at time `t`
        (which time-dependent boundary conditions and `source` use), minus
        the same for `equilibrium` when one is given."""
        self._check_shape(state, "state")
        rate = self._rate(state, t)
        if self.equilibrium is not None:
            rate = rate - self._rate(self.equilibrium.astype(state.dtype), t)
        return rate

    def _rate(self, state, t):
        op = self.at(t)
        w = conservative_to_primitive_components(tuple(state), self.eos)
        axes = tuple(range(self.grid.ndim))
        rates: dict[int, Array] = {}
        for axis, flux in zip(axes, op._face_fluxes(w, axes)):
            n = self.grid.cells[axis]
            inv_dx = 1.0 / self.grid.spacing[axis]
            for v, f in enumerate(flux):
                div = (
                    lax.slice_in_dim(f, 1, n + 1, axis=axis)
                    - lax.slice_in_dim(f, 0, n, axis=axis)
                ) * inv_dx
                rates[v] = rates[v] - div if v in rates else -div
        if self.gravity is not None:
            g = self.gravity.astype(state.dtype)
            for d in axes:
                rates[1 + d] = rates[1 + d] + state[0] * g[d]
            rates[len(w) - 1] = rates[len(w) - 1] + sum(
                state[1 + d] * g[d] for d in axes
            )
        rate = jnp.stack([rates[v] for v in range(len(w))])
        if self.source is not None:
            x = jnp.stack(self.grid.mesh(state.dtype))
            time = jnp.zeros((), state.dtype) if t is None else jnp.asarray(t)
            rate = rate + self.source(state, x, time)
        return rate

    # Pieces ------------------------------------------------------------------
    def at(self, t) -> Euler:
        """The operator with its boundary conditions bound to time `t` (only
        position- and time-dependent ones, `Switch`, change)."""
        if t is None:
            return self
        bound = tuple(
            (lo.at(t, self.grid), hi.at(t, self.grid)) for lo, hi in self.boundaries
        )
        return eqx.tree_at(lambda op: op.boundaries, self, bound)

    def face_states(
        self, primitive: Sequence[Array], axis: int
    ) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
        """Reconstructed primitive `(left, right)` states at the `n + 1` faces
        normal to `axis` (tuples of arrays, one per variable); face `k` lies
        between cells `k - 1` and `k`, the first and last on the boundary."""
        padded = pad(
            primitive, axis, self.boundaries[axis], self.reconstruction.num_ghost
        )
        return _face_states(
            padded, axis, self.eos, self.reconstruction, self.variables, self.positivity
        )

    def face_fluxes(self, primitive: Sequence[Array], axis: int) -> tuple[Array, ...]:
        """Numerical fluxes, averaged over each of the `n + 1` faces normal to
        `axis` (one array per conservative variable)."""
        return self._face_fluxes(primitive, (axis,))[0]

    def _face_fluxes(
        self, primitive: Sequence[Array], axes: Sequence[int]
    ) -> list[tuple[Array, ...]]:
        """`face_fluxes` for each of `axes`, evaluated together.

        Each axis' reconstruction input is turned into the frame where its
        face normal is the last array axis and the last velocity component,
        and flattened to `(lines, cells + 2 num_ghost)`. Axes of the same
        length along the normal (all of them on a square or cubic grid) are
        concatenated along the lines and share ONE evaluation of the face
        function: one set of kernels to compile (half or a third of the
        code), and, with `fused_derivatives`, chunks that are contiguous rows
        (no transposes inside the differentiated code)."""
        ndim = self.grid.ndim
        g = self.reconstruction.num_ghost
        points = (
            self._point_values(primitive) if self.average_correction else None
        )  # shared by all axes
        rows = {}
        for axis in axes:
            if points is not None:
                padded = self._line_averages(*points, axis)
            else:
                padded = pad(primitive, axis, self.boundaries[axis], g)
            order = _normal_last(ndim, axis)
            rotated = tuple(
                jnp.transpose(x, order) for x in _permute_velocities(padded, order)
            )
            rows[axis] = (
                rotated[0].shape,
                tuple(x.reshape(-1, x.shape[-1]) for x in rotated),
            )
        f, params = self.rotated_face_flux()
        nv = 2 + ndim
        out = {}
        for length in dict.fromkeys(r[0][-1] for r in rows.values()):
            group = [a for a in axes if rows[a][0][-1] == length]
            slabs = tuple(
                jnp.concatenate([rows[a][1][v] for a in group]) for v in range(nv)
            )
            faces = length - 2 * g + 1
            if self.fused_derivatives:
                flux = fused_face_map(f, params, slabs, 1, stencil=2 * g)
            else:
                flux = f(params, stencil_shifts(slabs, 1, 2 * g))
            start = 0
            for a in group:
                shape = rows[a][0][:-1] + (faces,)
                lines = math.prod(shape[:-1])
                part = tuple(
                    lax.slice_in_dim(x, start, start + lines, axis=0).reshape(shape)
                    for x in flux
                )
                start += lines
                order = _normal_last(ndim, a)
                inverse = tuple(order.index(k) for k in range(ndim))
                out[a] = tuple(
                    jnp.transpose(x, inverse)
                    for x in _permute_velocities(part, inverse)
                )
        if self.transport is not None:
            viscous = self._viscous_face_fluxes(primitive, points, axes)
            for axis, extra in zip(axes, viscous):
                flux = out[axis]
                out[axis] = (flux[0], *(f + e for f, e in zip(flux[1:], extra)))
        result = []
        for axis in axes:
            flux = out[axis]
            if self.average_correction:
                for a in (a for a in range(ndim) if a != axis):
                    flux = tuple(
                        _convolve(x, _TO_AVERAGE, a) for x in materialize(flux)
                    )
            result.append(flux)
        return result

    def _viscous_face_fluxes(self, primitive, points, axes):
        """The viscous stress and heat flux at the faces of `axes`
        (`viscous.viscous_face_fluxes`), from the velocity and temperature at
        the cell centres: the point values when `points` are given (with
        `_HALO` more cells along the transverse axes, as the inviscid fluxes
        before face-averaging), else the cell values. Ghost cells come from
        the boundary conditions, except at a `NoSlipWall`, whose ghosts
        extrapolate the interior through the wall velocity and temperature
        at fourth order (`NoSlipWall.viscous_ghost_cells`)."""
        assert self.transport is not None
        ndim = self.grid.ndim
        halo = _HALO if points is not None else 0
        width = STENCIL + halo
        if points is not None:
            walls = any(
                isinstance(bc, NoSlipWall) for pair in self.boundaries for bc in pair
            )
            point = (
                self._point_values(primitive, extension=True) if walls else points
            )[1]
            extra = point[0].shape[0] - self.grid.cells[0]
            w = _trim(point, tuple(range(ndim)), extra // 2 - width)
        else:
            w = tuple(primitive)
            for a in range(ndim):
                w = pad(w, a, self.boundaries[a], width)
        fields = (*w[1:-1], self.eos.temperature(w[0], w[-1]))
        for a in range(ndim):
            for side, bc in enumerate(self.boundaries[a]):
                if isinstance(bc, NoSlipWall):
                    fields = bc.viscous_ghost_cells(
                        fields, a, side, width, self.grid.spacing[a], self.eos
                    )
        full = viscous_face_fluxes(
            fields, width, halo, self.grid.spacing, self.transport, self.eos
        )
        return [full[a] for a in axes]

    def rotated_face_flux(self):
        """`(f, params)`: the face function `_face_fluxes` evaluates, in the
        frame where the face normal is the last array axis and the last
        velocity. `f(params, flat)` takes the `2 num_ghost` stencil shifts of
        the primitive rows (`flat[j * nv + v]`: variable `v` of stencil cell
        `j`) and returns the flux components; `params` are the schemes'
        differentiable arrays (gamma)."""
        g, ndim = self.reconstruction.num_ghost, self.grid.ndim
        params, static = eqx.partition(
            (self.eos, self.reconstruction, self.riemann), eqx.is_inexact_array
        )
        nv, normal = 2 + ndim, ndim - 1

        def f(params, flat):
            eos, rec, riemann = eqx.combine(params, static)
            stencil = [flat[j * nv : (j + 1) * nv] for j in range(2 * g)]
            left, right = _states_from_stencil(
                stencil, 1, normal, eos, rec, self.variables, self.positivity
            )
            return riemann.flux_components(left, right, eos, normal)

        return f, params

    def _point_values(
        self, primitive, extension: bool = False
    ) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
        """`(padded, point)`: the primitive variables padded by
        `num_ghost + 2 _HALO` cells along every axis, and the primitive
        variables of the point values at cell centres, `_HALO` cells fewer on
        each side: the conservative averages are deconvolved along every axis
        and converted point by point (converting the averages directly would
        be accurate to `O(h^2)` only). Where a point value's density or
        pressure differs from the plain conversion's by half (next to a
        strong shock) the plain value is kept. With `extension`, a
        `NoSlipWall` pads with its smooth `extension_ghost_cells` (for the
        viscous fluxes) instead of its mirror."""
        width = self.reconstruction.num_ghost + 2 * _HALO
        w = tuple(primitive)
        for a in range(self.grid.ndim):
            if extension:
                w = self._extension_pad(w, a, width)
            else:
                w = pad(w, a, self.boundaries[a], width)
        axes = tuple(range(self.grid.ndim))
        u = materialize(primitive_to_conservative_components(w, self.eos))
        for a in axes:
            u = materialize(tuple(_convolve(x, _TO_POINT, a) for x in u))
        point = _keep_positive(
            conservative_to_primitive_components(u, self.eos),
            _trim(w, axes, _HALO),
            self.eos,
        )
        return w, materialize(point)

    def _extension_pad(self, w, axis, width):
        """`pad`, with `NoSlipWall.extension_ghost_cells` at no-slip walls."""
        blocks = []
        for side, bc in enumerate(self.boundaries[axis]):
            if isinstance(bc, NoSlipWall):
                blocks.append(bc.extension_ghost_cells(w, axis, side, width, self.eos))
            else:
                blocks.append(bc.ghost_cells(w, axis, side, width))
        return tuple(
            jnp.concatenate([lo, x, hi], axis=axis)
            for lo, x, hi in zip(blocks[0], w, blocks[1])
        )

    def _line_averages(self, padded, point, axis):
        """High-order primitive variables for the reconstruction along `axis`:
        the point values averaged back along `axis` (with its `num_ghost`
        ghost cells) and left as point values across it, `_HALO` cells beyond
        the grid on both ends of each transverse axis (for the
        face-averaging kernel); the plain values where that average is far
        from the plain conversion."""
        g = self.reconstruction.num_ghost
        transverse = tuple(a for a in range(self.grid.ndim) if a != axis)
        line = _trim(
            tuple(_convolve(x, _TO_AVERAGE, axis) for x in point), transverse, g
        )
        plain = _trim(_trim(padded, transverse, g + _HALO), (axis,), 2 * _HALO)
        return materialize(_keep_positive(line, plain, self.eos))

    # Time-step control and diagnostics ---------------------------------------
    def _speeds(self, state):
        w = conservative_to_primitive_components(tuple(state), self.eos)
        c = self.eos.sound_speed(w[0], w[-1])
        return tuple(jnp.abs(u) + c for u in w[1:-1])

    def max_wave_speed(self, state: Float[Array, "vars *cells"]) -> Float[Array, ""]:
        """`max over cells and axes of |u_d| + c`."""
        self._check_shape(state, "state")
        return jnp.max(jnp.stack([jnp.max(s) for s in self._speeds(state)]))

    def stable_dt(
        self, state: Float[Array, "vars *cells"], cfl=0.5
    ) -> Float[Array, ""]:
        """`cfl / max over cells of sum_d (|u_d| + c) / dx_d`, the usual
        multi-dimensional CFL time step for unsplit schemes (`cfl` of 0.4 to
        0.6 is customary with SSP-RK3 and WENO5); with a `transport`, the
        viscous rate `_viscous_rate` is added to the sum."""
        self._check_shape(state, "state")
        rate = sum(
            s * (1.0 / h) for s, h in zip(self._speeds(state), self.grid.spacing)
        )
        if self.transport is not None:
            rate = rate + self._viscous_rate(state)
        return cfl / jnp.max(rate)

    def _viscous_rate(self, state):
        """`D (14/3) sum_d h_d^-2 / 2.5` per cell, `D` the largest diffusivity
        (`Transport.diffusivity_bound`): the fourth-order diffusion operator's
        largest eigenvalue (`viscous.VISCOUS_EIGENVALUE`) over the
        stability radius of SSP-RK3 on the negative real axis (2.51), so
        that `cfl <= 1` keeps the viscous part stable too."""
        assert self.transport is not None
        w = conservative_to_primitive_components(tuple(state), self.eos)
        temperature = self.eos.temperature(w[0], w[-1])
        cp = self.eos.specific_heat_cp(temperature)
        gamma = self.eos.gamma.astype(temperature.dtype)
        diffusivity = self.transport.diffusivity_bound(temperature, w[0], cp, gamma)
        return diffusivity * (
            VISCOUS_EIGENVALUE / 2.5 * sum(1.0 / h**2 for h in self.grid.spacing)
        )

    # AbstractConstrainedOperator --------------------------------------------
    @property
    def positive_quantities(self) -> tuple[str, ...]:
        return ("density", self.eos.positive_quantity)

    def positive_values(
        self, fields: Float[Array | np.ndarray, "vars *cells"]
    ) -> Float[Array, "2 *cells"]:
        """Density and pressure of the primitive `fields` (`p + p_inf` for a
        stiffened gas: the pressure itself may be negative)."""
        return jnp.stack([fields[0], self.eos.shifted_pressure(fields[-1])])

    def _check_shape(self, x, what):
        expected = (2 + self.grid.ndim, *self.grid.cells)
        if x.shape != expected:
            raise ValueError(
                f"Euler: expected {what} of shape {expected} "
                f"({', '.join(self.field_names)}), got {x.shape}"
            )


def _with_eos(
    bc: AbstractBoundaryCondition, eos: AbstractEquationOfState
) -> AbstractBoundaryCondition:
    """`bc` with its `eos` (conditions that carry one: `NonReflecting`,
    `TotalInflow`) replaced by the operator's, so that a boundary never
    sees another gas (and `eos` parameters are differentiated once)."""
    if isinstance(bc, TotalInflow) and not isinstance(eos, IdealGas):
        raise TypeError(
            f"Euler: TotalInflow needs an IdealGas, the operator's eos is a "
            f"{type(eos).__name__}"
        )
    if isinstance(getattr(bc, "eos", None), AbstractEquationOfState):
        return eqx.tree_at(lambda b: b.eos, bc, eos)
    return bc


def _convolve(x, kernel, axis):
    """A symmetric 5-point `kernel` along `axis`; the result is `2 * _HALO`
    shorter there."""
    m = x.shape[axis] - 2 * _HALO
    out = None
    for j, c in enumerate(kernel):
        term = c * lax.slice_in_dim(x, j, j + m, axis=axis)
        out = term if out is None else out + term
    return out


def _trim(w, axes, k):
    for a in axes:
        w = tuple(lax.slice_in_dim(x, k, x.shape[a] - k, axis=a) for x in w)
    return w


def _keep_positive(candidate, fallback, eos):
    """`candidate`, or `fallback` in cells where the candidate's density or
    (shifted) pressure differs from the fallback's by more than half of it (or
    is not finite): a correction that large means the data are not smooth
    there."""
    ok = (jnp.abs(candidate[0] - fallback[0]) <= 0.5 * fallback[0]) & (
        jnp.abs(candidate[-1] - fallback[-1])
        <= 0.5 * eos.shifted_pressure(fallback[-1])
    )
    return tuple(jnp.where(ok, c, f) for c, f in zip(candidate, fallback))


def _face_states(padded, axis, eos, rec, variables, positivity):
    g = rec.num_ghost
    faces = padded[0].shape[axis] - 2 * g + 1
    stencil = [
        tuple(lax.slice_in_dim(x, j, j + faces, axis=axis) for x in padded)
        for j in range(2 * g)
    ]
    return _states_from_stencil(stencil, axis, axis, eos, rec, variables, positivity)


def _states_from_stencil(stencil, axis, normal, eos, rec, variables, positivity):
    """Primitive `(left, right)` face states from `stencil[j]`, the primitive
    variables of the j-th stencil cell of every face; `axis` is the array
    axis along which faces follow each other (for the positivity limiter),
    `normal` the spatial direction of the face normal (which velocity is
    normal)."""
    g = rec.num_ghost
    if variables == "characteristic":
        left, right = characteristic_face_states(stencil, rec, eos, normal)
    else:
        pairs = [
            rec.reconstruct_stencil([s[v] for s in stencil])
            for v in range(len(stencil[0]))
        ]
        left, right = tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
    if positivity:
        left, right = _positivity_limit(
            left, right, stencil[g - 1], stencil[g], axis, eos
        )
    return left, right


def _normal_last(ndim: int, axis: int) -> tuple[int, ...]:
    """The axis order that puts `axis` last (the others keep their order)."""
    return tuple(a for a in range(ndim) if a != axis) + (axis,)


def _permute_velocities(variables, order):
    """`(rho, u.., last)` with the velocity (or momentum) components in the
    axis order `order`, matching `jnp.transpose(x, order)`."""
    return (
        variables[0],
        *(variables[1 + k] for k in order),
        *variables[1 + len(order) :],
    )


def _positivity_limit(left, right, cell_left, cell_right, axis, eos):
    """Scale primitive face states toward their cell's value so that density
    and pressure (`eos.shifted_pressure`) stay positive; one factor per cell
    (both of its faces), as in Zhang & Shu (2010). `left[k]` belongs to the
    cell `cell_left[k]`, `right[k]` to `cell_right[k]`, and cell `k` owns
    `right[k]` and `left[k + 1]`. A non-finite face state (a vanishing
    reconstructed density divides the momentum) falls back to the cell's
    value."""

    def theta(face, cell):
        out = None
        for f, c in (
            (face[0], cell[0]),
            (eos.shifted_pressure(face[-1]), eos.shifted_pressure(cell[-1])),
        ):
            eps = jnp.minimum(1e-13, c)
            low = ~(f >= eps)  # also catches a NaN face value
            den = jnp.where(low, c - f, 1.0)
            t = jnp.where(low, (c - eps) / den, 1.0)
            t = jnp.where(jnp.isfinite(t), t, 0.0)
            out = t if out is None else jnp.minimum(out, t)
        return jnp.clip(out, 0.0, 1.0)

    t_left, t_right = theta(left, cell_left), theta(right, cell_right)
    m = t_left.shape[axis]
    one = jnp.ones_like(lax.slice_in_dim(t_left, 0, 1, axis=axis))
    # the same cell's other face: right[k - 1] for left[k], left[k + 1] for right[k]
    prev_right = jnp.concatenate(
        [one, lax.slice_in_dim(t_right, 0, m - 1, axis=axis)], axis=axis
    )
    next_left = jnp.concatenate(
        [lax.slice_in_dim(t_left, 1, m, axis=axis), one], axis=axis
    )
    t_left = jnp.minimum(t_left, prev_right)
    t_right = jnp.minimum(t_right, next_left)

    def scale(face, cell, t):
        out = []
        for f, c in zip(face, cell):
            x = c + t * (f - c)
            out.append(jnp.where(jnp.isfinite(x), x, c))
        return tuple(out)

    return scale(left, cell_left, t_left), scale(right, cell_right, t_right)
