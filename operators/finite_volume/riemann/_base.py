"""The approximate Riemann solver interface and shared pieces."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ...internal import checks_own_arguments
from .._math import div
from ..eos import AbstractEquationOfState

WAVE_SPEEDS = ("davis", "einfeldt")


class AbstractRiemannSolver(eqx.Module):
    """A numerical flux `F(W_L, W_R)` across faces normal to one axis.

    States are primitive, `(rho, u, [v, w,] p)`, with the variables first; the
    flux is that of the conservative variables `(rho, rho u, [rho v, rho w,] E)`.
    Every solver is consistent, `F(W, W) = F(W)`, and acts elementwise, so one
    call covers all faces of a grid.

    Solvers that need no eigenstructure (`Rusanov`, `HLL`) also serve any
    physics with a pointwise flux through `generic_flux` (`generic = True`),
    which `FiniteVolume` calls; `HLLC`, `HLLCLM` and `Roe` are Euler's only.
    """

    generic: ClassVar[bool] = False

    def generic_flux(
        self,
        u_left: Float[Array, "vars *faces"],
        u_right: Float[Array, "vars *faces"],
        flux_left: Float[Array, "vars *faces"],
        flux_right: Float[Array, "vars *faces"],
        speeds_left: tuple[Array, Array],
        speeds_right: tuple[Array, Array],
    ) -> Float[Array, "vars *faces"]:
        """The numerical flux of an arbitrary conservation law from the
        evolved variables on both sides of every face, their physical fluxes
        and the `(smallest, largest)` characteristic speeds on each side
        (arrays of shape `faces`).

        **Raises:** `NotImplementedError` for solvers that need the Euler
        eigenstructure (`HLLC`, `HLLCLM`, `Roe`).
        """
        raise NotImplementedError(
            f"{type(self).__name__} needs the eigenstructure of the Euler "
            "equations; for a generic flux use Rusanov() or HLL()"
        )

    @abc.abstractmethod
    def flux_components(
        self,
        left: Sequence[Array],
        right: Sequence[Array],
        eos: AbstractEquationOfState,
        axis: int,
    ) -> tuple[Array, ...]:
        """`flux` on tuples of same-shape arrays (one per variable)."""

    @checks_own_arguments
    def flux(
        self,
        prim_left: Float[Array, "vars *faces"],
        prim_right: Float[Array, "vars *faces"],
        eos: AbstractEquationOfState,
        axis: int,
    ) -> Float[Array, "vars *faces"]:
        """Numerical flux across faces normal to spatial axis `axis` (0: x,
        1: y, 2: z) between the primitive states `prim_left` and `prim_right`."""
        if prim_left.shape != prim_right.shape:
            raise ValueError(
                f"{type(self).__name__}.flux: left {prim_left.shape} and right "
                f"{prim_right.shape} differ"
            )
        ndim = prim_left.shape[0] - 2
        if not 1 <= ndim <= 3 or not 0 <= axis < ndim:
            raise ValueError(
                f"{type(self).__name__}.flux: need 3-5 variables and 0 <= axis < ndim, "
                f"got {prim_left.shape[0]} variables and axis={axis}"
            )
        return jnp.stack(
            self.flux_components(tuple(prim_left), tuple(prim_right), eos, axis)
        )


def check_wave_speeds(name: str, wave_speeds: str) -> None:
    if wave_speeds not in WAVE_SPEEDS:
        raise ValueError(
            f"{name}: wave_speeds must be one of {WAVE_SPEEDS}, got {wave_speeds!r}"
        )


class Side(eqx.Module):
    """Everything the solvers need about one side of a face (trace-time helper)."""

    rho: Array
    velocity: tuple[Array, ...]
    p: Array
    un: Array  # normal velocity
    c: Array  # sound speed
    energy: Array  # total energy density E

    @classmethod
    def of(cls, w: Sequence[Array], eos: AbstractEquationOfState, axis: int) -> Side:
        rho, velocity, p = w[0], tuple(w[1:-1]), w[-1]
        return cls(
            rho,
            velocity,
            p,
            velocity[axis],
            eos.sound_speed(rho, p),
            eos.total_energy(rho, velocity, p),
        )

    def conservative(self) -> tuple[Array, ...]:
        return (self.rho, *(self.rho * u for u in self.velocity), self.energy)

    def flux(self, axis: int) -> tuple[Array, ...]:
        """Physical flux `(rho u_n, rho u_n u + p e_n, u_n (E + p))`."""
        mass = self.rho * self.un
        momentum = tuple(
            mass * u + self.p if d == axis else mass * u
            for d, u in enumerate(self.velocity)
        )
        return (mass, *momentum, self.un * (self.energy + self.p))


def roe_averages(left: Side, right: Side, eos: AbstractEquationOfState):
    """Roe-averaged velocity, enthalpy and sound speed (Roe 1981; Toro 2009, ch. 11).

    The sound speed uses the identity
    `c~^2 = (sqrt(rho_L) c_L^2 + sqrt(rho_R) c_R^2) / (sqrt(rho_L) + sqrt(rho_R))
    + (gamma - 1)/2 sqrt(rho_L rho_R) |u_R - u_L|^2 / (sqrt(rho_L) + sqrt(rho_R))^2`,
    equal to `(gamma - 1)(H~ - |u~|^2 / 2)` but positive by construction.

    Both hold for a stiffened gas as well, with its sound speed
    `c^2 = gamma (p + p_inf) / rho`: there `c^2 = (gamma - 1)(H - |u|^2 / 2)`
    too, and the pressure differs from the ideal gas' function of the
    conservative variables by the constant `-gamma p_inf`, so the flux Jacobian
    as a function of `(u, H)` and Roe's property `F_R - F_L = A~ (U_R - U_L)`
    are unchanged (Ivings, Causon & Toro 1998). Returns
    `(sqrt(rho_L rho_R), u~ (tuple), H~, c~)`.
    """
    gamma = eos.gamma.astype(jnp.result_type(left.rho))
    sl, sr = jnp.sqrt(left.rho), jnp.sqrt(right.rho)
    inv = div(1.0, sl + sr)
    wl, wr = sl * inv, sr * inv
    velocity = tuple(wl * a + wr * b for a, b in zip(left.velocity, right.velocity))
    h_l = div(left.energy + left.p, left.rho)
    h_r = div(right.energy + right.p, right.rho)
    enthalpy = wl * h_l + wr * h_r
    du2 = sum((b - a) * (b - a) for a, b in zip(left.velocity, right.velocity))
    c2 = (
        wl * left.c * left.c
        + wr * right.c * right.c
        + 0.5 * (gamma - 1.0) * wl * wr * du2
    )
    return sl * sr, velocity, enthalpy, jnp.sqrt(c2)


def wave_speed_estimates(
    kind: str, left: Side, right: Side, eos: AbstractEquationOfState, axis: int
):
    """Bounds `(S_L, S_R)` of the fastest left- and right-going signals.

    - `"davis"`: `S_L = min(u_L - c_L, u_R - c_R)`, `S_R = max(u_L + c_L, u_R + c_R)`
      (Davis 1988);
    - `"einfeldt"`: `S_L = min(u_L - c_L, u~ - c~)`, `S_R = max(u~ + c~, u_R + c_R)`
      with Roe averages (Einfeldt 1988, "HLLE"; Batten et al. 1997 for HLLC).
      Exact for an isolated shock, so that HLL and HLLC then give the exact flux.
    """
    if kind == "davis":
        s_l = jnp.minimum(left.un - left.c, right.un - right.c)
        s_r = jnp.maximum(left.un + left.c, right.un + right.c)
    else:
        _, velocity, _, c = roe_averages(left, right, eos)
        un = velocity[axis]
        s_l = jnp.minimum(left.un - left.c, un - c)
        s_r = jnp.maximum(un + c, right.un + right.c)
    return s_l, s_r
