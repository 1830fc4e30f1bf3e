"""The HLL flux of Harten, Lax & van Leer."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._math import div
from ._base import AbstractRiemannSolver, Side, check_wave_speeds, wave_speed_estimates


class HLL(AbstractRiemannSolver):
    """Two-wave HLL flux (Harten, Lax & van Leer 1983; Toro 2009, chapter 10):

    `F = (S_R^+ F_L - S_L^- F_R + S_R^+ S_L^- (U_R - U_L)) / (S_R^+ - S_L^-)`,
    `S_L^- = min(S_L, 0)`, `S_R^+ = max(S_R, 0)`, which is `F_L` for
    supersonic flow to the right and `F_R` to the left. With
    `wave_speeds="einfeldt"` it is the HLLE solver (Einfeldt 1988): exact for
    isolated shocks, positively conservative; contacts are smeared.

    For any physics (`generic_flux`), the Davis (1988) bounds
    `S_L = min(s_min,L, s_min,R)`, `S_R = max(s_max,L, s_max,R)` from the
    two sides' characteristic speeds are used (`wave_speeds` selects Euler's
    estimate only); where all speeds vanish the flux is the mean of the two
    sides' fluxes.
    """

    generic: ClassVar[bool] = True

    def generic_flux(
        self, u_left, u_right, flux_left, flux_right, speeds_left, speeds_right
    ):
        s_l = jnp.minimum(jnp.minimum(speeds_left[0], speeds_right[0]), 0.0)[None]
        s_r = jnp.maximum(jnp.maximum(speeds_left[1], speeds_right[1]), 0.0)[None]
        den = s_r - s_l
        still = den > 0.0
        inv = div(1.0, jnp.where(still, den, 1.0))
        hll = (
            s_r * flux_left - s_l * flux_right + s_r * s_l * (u_right - u_left)
        ) * inv
        return jnp.where(still, hll, 0.5 * (flux_left + flux_right))

    wave_speeds: str = eqx.field(static=True, default="einfeldt")

    def __check_init__(self):
        check_wave_speeds("HLL", self.wave_speeds)

    def flux_components(self, left, right, eos, axis):
        lt, rt = Side.of(left, eos, axis), Side.of(right, eos, axis)
        s_l, s_r = wave_speed_estimates(self.wave_speeds, lt, rt, eos, axis)
        s_l = jnp.minimum(s_l, 0.0)
        s_r = jnp.maximum(s_r, 0.0)
        inv = div(1.0, s_r - s_l)
        fl, fr = lt.flux(axis), rt.flux(axis)
        ul, ur = lt.conservative(), rt.conservative()
        return tuple(
            (s_r * a - s_l * b + s_r * s_l * (y - x)) * inv
            for a, b, x, y in zip(fl, fr, ul, ur)
        )
