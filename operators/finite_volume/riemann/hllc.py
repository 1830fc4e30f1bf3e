"""The HLLC flux of Toro, Spruce & Speares."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from .._math import div
from ._base import AbstractRiemannSolver, Side, check_wave_speeds, wave_speed_estimates


class HLLC(AbstractRiemannSolver):
    """HLLC flux (Toro, Spruce & Speares 1994; Toro 2009, §10.4), restoring
    the contact and shear waves missing from HLL.

    With `S_L`, `S_R` from `wave_speeds` ("davis" or "einfeldt") and the
    contact speed
    `S* = (p_R - p_L + rho_L u_L (S_L - u_L) - rho_R u_R (S_R - u_R))
    / (rho_L (S_L - u_L) - rho_R (S_R - u_R))`, the flux is
    `F_K + S_K^(-/+) (U*_K - U_K)` on the side `K = L` if `S* >= 0`, else
    `K = R`, with `S_L^- = min(S_L, 0)`, `S_R^+ = max(S_R, 0)` and the star
    states of Toro §10.4. This is Toro's four-case HLLC flux
    written with one side's physical flux and star state, evaluated once.
    Resolves isolated contacts and shear waves exactly; with "einfeldt"
    speeds also isolated shocks.
    """

    wave_speeds: str = eqx.field(static=True, default="einfeldt")

    def __check_init__(self):
        check_wave_speeds("HLLC", self.wave_speeds)

    def flux_components(self, left, right, eos, axis):
        lt, rt = Side.of(left, eos, axis), Side.of(right, eos, axis)
        s_l, s_r = wave_speed_estimates(self.wave_speeds, lt, rt, eos, axis)
        ml = lt.rho * (s_l - lt.un)  # mass flux through the left wave
        mr = rt.rho * (s_r - rt.un)
        s_star = div(rt.p - lt.p + ml * lt.un - mr * rt.un, ml - mr)
        take_left = s_star >= 0.0

        def pick(a, b):
            return jnp.where(take_left, a, b)

        k = Side(
            rho=pick(lt.rho, rt.rho),
            velocity=tuple(pick(a, b) for a, b in zip(lt.velocity, rt.velocity)),
            p=pick(lt.p, rt.p),
            un=pick(lt.un, rt.un),
            c=lt.c,  # unused
            energy=pick(lt.energy, rt.energy),
        )
        s_k = pick(s_l, s_r)
        m_k = pick(ml, mr)  # rho_K (S_K - u_K)
        weight = pick(
            jnp.minimum(s_l, 0.0), jnp.maximum(s_r, 0.0)
        )  # 0: supersonic, F = F_K
        # The star state is only used where weight != 0, where S_K != S*;
        # guard the division so that neither branch produces inf or NaN.
        den = s_k - s_star
        den = jnp.where(weight == 0.0, 1.0, den)
        factor = div(m_k, den)  # rho*_K
        star_velocity = tuple(
            s_star if d == axis else u for d, u in enumerate(k.velocity)
        )
        star_energy = factor * (
            div(k.energy, k.rho) + (s_star - k.un) * (s_star + div(k.p, m_k))
        )
        u_star = (factor, *(factor * u for u in star_velocity), star_energy)
        return tuple(
            f + weight * (us - u)
            for f, us, u in zip(k.flux(axis), u_star, k.conservative())
        )
