"""The HLL flux of Harten, Lax & van Leer."""

from __future__ import annotations

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
    """

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
