"""Characteristic open boundaries of the finite-volume Euler operator:
non-reflecting outflow and inflow (`NonReflecting`) and subsonic inflow at
prescribed total conditions (`TotalInflow`), by ghost cells."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

from .._grid import Grid
from .._operator import parameter
from .boundary import AbstractBoundaryCondition
from .eos import AbstractEquationOfState, IdealGas


def _edge_cells(x, axis, side, k):
    """The `k` cells next to the face, nearest the face first."""
    n = x.shape[axis]
    if side == 0:
        return [lax.slice_in_dim(x, j, j + 1, axis=axis) for j in range(k)]
    return [lax.slice_in_dim(x, n - 1 - j, n - j, axis=axis) for j in range(k)]


def _transverse_derivative(x, d, h):
    """Derivative of `x` along array axis `d`: central inside, one-sided at
    the ends; zero where the axis has one entry."""
    n = x.shape[d]
    if n < 2:
        return jnp.zeros_like(x)
    derivative = jnp.gradient(x, h, axis=d)
    assert not isinstance(derivative, list)  # one axis, one array
    return derivative


class NonReflecting(AbstractBoundaryCondition):
    """Characteristic non-reflecting open boundary (outflow or inflow, subsonic
    or supersonic) for `Euler`: the NSCBC of Poinsot & Lele (1992), built on
    the characteristic analysis of Thompson (1987), written for the ghost
    cells of a Godunov-type finite-volume scheme.

    The face is analysed in the characteristic variables of the cell next to
    it (density `rho`, sound speed `c`, outward normal velocity `u_n`,
    outward normal Mach number `M = u_n / c`), linearised about that cell:
    `A_- = dp - rho c du_n` (speed `u_n - c`), `A_s = dp - c^2 drho`
    (entropy, speed `u_n`), `A_t = du_t` (shear, one per tangential
    velocity, speed `u_n`) and `A_+ = dp + rho c du_n` (speed `u_n + c`). The
    ghost state is the edge cell plus a jump in each characteristic variable:

    - a wave leaving the domain (outward speed >= 0) gets no jump: it is
      extrapolated, so the Riemann problem at the face lets it out unchanged;
    - a wave entering (outward speed < 0) gets the jump
      `A_k = -eps_k l_k`, where `l_k` is the characteristic part of the
      departure of the edge cell from the far field (`A_-`: `p - p_far` when
      only `pressure` is given, `(p - p_far) - rho c (u_n - u_n,far)` when
      `velocity` is; `A_s`: `(p - p_far) - c^2 (rho - rho_far)` and `A_t`:
      `u_t - u_t,far` when `density` and `velocity` are given, else no jump).

    The fraction `eps_k` is the Poinsot-Lele relaxation
    `L_k = K l_k`, `K = relaxation (1 - M^2) c / length`, turned into a ghost
    jump: in the upwind flux a jump `A_k` at the face changes the edge cell's
    `l_k` at the rate `|lambda_k| A_k / h`, so `eps_k = min(1, K h /
    |lambda_k|)` (`h`: the cell width normal to the face; `lambda_k`: the
    wave's speed). `relaxation = 0` is the perfectly non-reflecting
    `L_in = 0` of Thompson (the mean state may drift); Poinsot & Lele
    recommend a small value (Rudy & Strikwerda 1980: about 0.27), which pulls
    the pressure (and, for an inflow, the state) toward the far field on the
    time scale `length / (relaxation c)` while reflecting little. A
    supersonic inflow face (`u_n < -c`: every wave enters) holds the far-field
    state exactly; a supersonic outflow face (`u_n > c`) extrapolates every
    wave. Without `density` and `velocity`, a supersonic inflow face keeps
    the edge cell's density and velocity and the relaxed pressure (give the
    full state for an inflow).

    In 2D and 3D the incoming acoustic wave also gets the jump
    `transverse h T / |u_n - c|`, with the transverse terms
    `T = rho c^2 div_t u_t + u_t . grad_t p - rho c u_t . grad_t u_n` of the
    edge cell (central differences along the face): the interior fluxes
    apply all of `T`, so the incoming characteristic evolves with
    `(1 - transverse) T`, Lodato, Domingo & Vervisch's (2008) `beta = 1 -
    transverse`. For a plane acoustic wave crossing the face at angle
    `theta` (fluid at rest), the incoming characteristic's error is
    `(1 - cos theta)(1 - (1 - transverse)(1 + cos theta))` relative to the
    exact wave: O(theta^2) for `transverse` 0 (`Outflow`'s behaviour) or 1
    (the 1D analysis), O(theta^4) for 1/2, a second-order absorbing
    condition in the sense of Engquist & Majda (1977). The incoming entropy
    and shear waves of an inflow face get no transverse correction.

    The far-field values are array leaves (differentiable). The condition
    needs the grid (cell width, default `length`): the operator binds it with
    `at(t, grid)` when called with its time.

    **Arguments:**

    - `pressure`: the far-field pressure `p_far`.
    - `relaxation`: `sigma` of `K = sigma (1 - M^2) c / L` (default 0.25).
    - `density`: the far-field density (optional; with `velocity`, the
      incoming entropy and shear waves relax toward it).
    - `velocity`: the far-field velocity, one component per dimension
      (optional).
    - `length`: `L`, the relaxation length (default: the domain's extent
      along the face normal).
    - `transverse`: the fraction of the transverse terms taken out of the
      incoming acoustic wave (default 1/2, see above).
    - `eos`: the gas's equation of state (`Euler` replaces it by its own;
      default
      `IdealGas(1.4)`); its sound speed is the characteristic speed.

    **References:** T. Poinsot & S. Lele, "Boundary conditions for direct
    simulations of compressible viscous flows", J. Comput. Phys. 101 (1992)
    104-129; G. Lodato, P. Domingo & L. Vervisch, "Three-dimensional
    boundary conditions for direct and large-eddy simulation of compressible
    viscous flows", J. Comput. Phys. 227 (2008) 5105-5143; B. Engquist & A.
    Majda, Math. Comp. 31 (1977) 629-651; K. Thompson, "Time dependent
    boundary conditions for hyperbolic systems", J. Comput. Phys. 68 (1987)
    1-24; D. Rudy & J. Strikwerda, J. Comput. Phys. 36 (1980) 55-70.
    """

    pressure: Array = eqx.field(converter=parameter)
    relaxation: Array = eqx.field(converter=parameter, default=0.25)
    density: Array | None = eqx.field(
        converter=lambda v: None if v is None else parameter(v), default=None
    )
    velocity: Array | None = eqx.field(
        converter=lambda v: None if v is None else jnp.atleast_1d(parameter(v)),
        default=None,
    )
    length: float | None = eqx.field(static=True, default=None)
    eos: AbstractEquationOfState = eqx.field(default_factory=IdealGas)
    transverse: Array = eqx.field(converter=parameter, default=0.5)
    grid: Grid | None = None

    def __check_init__(self):
        if self.pressure.shape != () or self.relaxation.shape != ():
            raise ValueError("NonReflecting: pressure and relaxation must be scalars")
        if (self.density is None) != (self.velocity is None):
            raise ValueError(
                "NonReflecting: give both density and velocity (the far-field "
                "state) or neither (far-field pressure only)"
            )
        if self.density is not None and self.density.shape != ():
            raise ValueError("NonReflecting: density must be a scalar")
        if self.velocity is not None and (
            self.velocity.ndim != 1 or not 1 <= self.velocity.shape[0] <= 3
        ):
            raise ValueError(
                "NonReflecting: velocity must have 1 to 3 components, got shape "
                f"{self.velocity.shape}"
            )
        if self.length is not None and not self.length > 0:
            raise ValueError(f"NonReflecting: length must be > 0, got {self.length}")
        if not isinstance(self.eos, AbstractEquationOfState):
            raise TypeError(
                "NonReflecting: eos must be an AbstractEquationOfState, got "
                f"{type(self.eos).__name__}"
            )

    def at(self, t, grid):
        return eqx.tree_at(lambda bc: bc.grid, self, grid, is_leaf=lambda x: x is None)

    def ghost_cells(self, primitive, axis, side, num_ghost):
        if self.grid is None:
            raise ValueError(
                "NonReflecting: the condition needs the grid; call the operator "
                "with its time (operator(state, t)) so that it can bind it"
            )
        ndim = len(primitive) - 2
        if self.velocity is not None and self.velocity.shape[0] != ndim:
            raise ValueError(
                f"NonReflecting: {self.velocity.shape[0]} velocity components, the "
                f"grid is {ndim}-dimensional"
            )
        dtype = jnp.result_type(primitive[0])
        h = self.grid.spacing[axis]
        length = self.grid.lengths[axis] if self.length is None else self.length
        sign = 1.0 if side == 1 else -1.0  # outward normal
        cells = [_edge_cells(x, axis, side, 1) for x in primitive]
        rho, p = cells[0][0], cells[-1][0]
        vel = [c[0] for c in cells[1:-1]]
        c = self.eos.sound_speed(rho, p)
        un = sign * vel[axis]
        mach = un / c
        p_far = self.pressure.astype(dtype)
        sigma = self.relaxation.astype(dtype)
        subsonic = 1.0 - jnp.minimum(mach**2, 1.0)

        # departures of the edge cell from the far field, characteristic parts
        dp = p - p_far
        full = self.density is not None and self.velocity is not None
        if full:
            assert self.density is not None and self.velocity is not None
            v_far = self.velocity.astype(dtype)
            rho_far = self.density.astype(dtype)
            dun = un - sign * v_far[axis]
            l_minus = dp - rho * c * dun
            l_entropy = dp - c**2 * (rho - rho_far)
            l_shear = [vel[d] - v_far[d] for d in range(ndim) if d != axis]
        else:
            v_far = rho_far = None
            l_minus = dp
            l_entropy = jnp.zeros_like(dp)
            l_shear = [jnp.zeros_like(dp) for d in range(ndim) if d != axis]

        # eps = min(1, K h / |lambda|), K = sigma (1 - M^2) c / L
        eps_acoustic = jnp.minimum(sigma * (1.0 + mach) * h / length, 1.0)
        a = sigma * subsonic * h
        eps_convective = a / jnp.maximum(jnp.maximum(length * jnp.abs(mach), a), 1e-30)

        incoming_minus = mach < 1.0
        incoming_convective = mach < 0.0
        jump_minus = jnp.where(incoming_minus, -eps_acoustic * l_minus, 0.0)
        jump_entropy = jnp.where(incoming_convective, -eps_convective * l_entropy, 0.0)
        jump_shear = [
            jnp.where(incoming_convective, -eps_convective * s, 0.0) for s in l_shear
        ]

        # transverse terms of the incoming acoustic wave (Lodato et al. 2008):
        # T = rho c^2 div_t v_t + v_t . grad_t p - rho c v_t . grad_t u_n; the
        # interior's transverse fluxes apply all of it, the ghost jump takes
        # back `transverse` of it (1 - beta in Lodato's notation)
        if ndim > 1:
            transverse_terms = jnp.zeros_like(p)
            for d in range(ndim):
                if d == axis:
                    continue
                hd = self.grid.spacing[d]
                dv = _transverse_derivative(vel[d], d, hd)
                dp_d = _transverse_derivative(p, d, hd)
                dun_d = sign * _transverse_derivative(vel[axis], d, hd)
                transverse_terms = transverse_terms + (
                    rho * c**2 * dv + vel[d] * dp_d - rho * c * vel[d] * dun_d
                )
            speed = c * jnp.maximum(1.0 - mach, 1e-6)  # |u_n - c|
            jump_minus = jump_minus + jnp.where(
                incoming_minus,
                self.transverse.astype(dtype) * h * transverse_terms / speed,
                0.0,
            )

        # the ghost state: the edge cell plus the incoming jumps (every ghost
        # cell alike)
        g_p = p + 0.5 * jump_minus
        g_un = un - jump_minus / (2.0 * rho * c)
        g_rho = rho + (0.5 * jump_minus - jump_entropy) / c**2
        shear = iter(jump_shear)
        g_vel = [
            sign * g_un if d == axis else vel[d] + next(shear) for d in range(ndim)
        ]
        state = [g_rho, *g_vel, g_p]
        supersonic_inflow = mach < -1.0
        if v_far is not None and rho_far is not None:
            far = [rho_far, *v_far, p_far]
            state = [jnp.where(supersonic_inflow, f, s) for f, s in zip(far, state)]
        else:
            state[-1] = jnp.where(supersonic_inflow, p_far, state[-1])
        shape = list(rho.shape)
        shape[axis] = num_ghost
        return tuple(jnp.broadcast_to(x, tuple(shape)) for x in state)


class TotalInflow(AbstractBoundaryCondition):
    """Subsonic inflow at prescribed total (stagnation) conditions: total
    pressure `p0`, total temperature `T0` and flow direction are imposed, and
    the outgoing Riemann invariant is taken from the interior (the classical
    reservoir inflow; Blazek 2015, section 8.6; Carlson 2011).

    With the inward normal `n` and `cos a = direction . n`, the ghost state
    follows from four relations: the outgoing invariant of the cell next to
    the face, `R = u_n - 2 c / (gamma - 1)` (`u_n` inward), the total enthalpy
    `c^2 / (gamma - 1) + q^2 / 2 = c0^2 / (gamma - 1)` with
    `c0^2 = gamma R_gas T0`, the direction `u = q direction`, `u_n = q cos a`,
    and isentropy from the reservoir: `p = p0 (T / T0)^(gamma / (gamma - 1))`,
    `rho = p / (R_gas T)`. The sound speed is the larger root of the
    resulting quadratic. Imposing three incoming quantities and taking one
    from the interior is well posed for subsonic inflow (Thompson 1987);
    the mass flow adjusts to the pressure the domain sets, as in a nozzle fed
    from a reservoir. Ideal gas only.

    The values are array leaves (differentiable).

    **Arguments:**

    - `total_pressure`: `p0`.
    - `total_temperature`: `T0`.
    - `direction`: the flow direction, one component per dimension (made a
      unit vector; it must point into the domain).
    - `eos`: the gas, an `IdealGas` (default `IdealGas(1.4)`); `Euler`
      replaces it by its own. `T = p / (rho R)` with `R = eos.gas_constant`.

    **References:** J. Blazek, "Computational Fluid Dynamics: Principles and
    Applications", 3rd ed., Butterworth-Heinemann 2015; J.-R. Carlson,
    "Inflow/outflow boundary conditions with application to FUN3D", NASA
    TM-2011-217181.
    """

    total_pressure: Array = eqx.field(converter=parameter)
    total_temperature: Array = eqx.field(converter=parameter)
    direction: Array = eqx.field(converter=lambda v: jnp.atleast_1d(parameter(v)))
    eos: IdealGas = eqx.field(default_factory=IdealGas)

    def __check_init__(self):
        for name in ("total_pressure", "total_temperature"):
            if getattr(self, name).shape != ():
                raise ValueError(f"TotalInflow: {name} must be a scalar")
        if self.direction.ndim != 1 or not 1 <= self.direction.shape[0] <= 3:
            raise ValueError(
                "TotalInflow: direction must have 1 to 3 components, got shape "
                f"{self.direction.shape}"
            )
        if not isinstance(self.eos, IdealGas):
            raise TypeError(
                f"TotalInflow: eos must be an IdealGas, got {type(self.eos).__name__}"
            )

    def ghost_cells(self, primitive, axis, side, num_ghost):
        ndim = len(primitive) - 2
        if self.direction.shape[0] != ndim:
            raise ValueError(
                f"TotalInflow: {self.direction.shape[0]} direction components, the "
                f"grid is {ndim}-dimensional"
            )
        dtype = jnp.result_type(primitive[0])
        gamma = self.eos.gamma.astype(dtype)
        r_gas = self.eos.gas_constant.astype(dtype)
        p0 = self.total_pressure.astype(dtype)
        t0 = self.total_temperature.astype(dtype)
        direction = self.direction.astype(dtype)
        direction = direction / jnp.sqrt(jnp.sum(direction**2))
        inward = 1.0 if side == 0 else -1.0
        cos_a = inward * direction[axis]
        cells = [_edge_cells(x, axis, side, 1)[0] for x in primitive]
        rho, p = cells[0], cells[-1]
        c = self.eos.sound_speed(rho, p)
        un = inward * cells[1 + axis]
        gm1 = gamma - 1.0
        invariant = un - 2.0 * c / gm1
        c0_sq = gamma * r_gas * t0
        cos_sq = cos_a**2
        a = 1.0 / gm1 + 2.0 / (gm1**2 * cos_sq)
        b = 2.0 * invariant / (gm1 * cos_sq)
        cc = invariant**2 / (2.0 * cos_sq) - c0_sq / gm1
        disc = jnp.maximum(b**2 - 4.0 * a * cc, jnp.finfo(dtype).tiny)
        c_b = (-b + jnp.sqrt(disc)) / (2.0 * a)
        q = (invariant + 2.0 * c_b / gm1) / cos_a
        temperature = c_b**2 / (gamma * r_gas)
        p_b = p0 * (temperature / t0) ** (gamma / gm1)
        rho_b = p_b / (r_gas * temperature)
        state = [rho_b, *(q * direction[d] for d in range(ndim)), p_b]
        shape = list(rho.shape)
        shape[axis] = num_ghost
        return tuple(jnp.broadcast_to(x, tuple(shape)) for x in state)
