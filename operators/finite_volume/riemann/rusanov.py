"""Rusanov (local Lax-Friedrichs) flux."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp

from ._base import AbstractRiemannSolver, Side


class Rusanov(AbstractRiemannSolver):
    """Rusanov / local Lax-Friedrichs flux (Rusanov 1961; Toro 2009, chapter 10):
    `F = (F_L + F_R)/2 - S (U_R - U_L)/2` with `S = max(|u_L| + c_L, |u_R| + c_R)`
    (normal velocities). The most dissipative of the solvers here: it smears
    contacts and shear layers and is not upwind for supersonic faces.

    For any physics (`generic_flux`), `S` is the largest `|speed|` of the two
    sides' `(smallest, largest)` characteristic speeds."""

    generic: ClassVar[bool] = True

    def generic_flux(
        self, u_left, u_right, flux_left, flux_right, speeds_left, speeds_right
    ):
        s = jnp.maximum(
            jnp.maximum(-speeds_left[0], speeds_left[1]),
            jnp.maximum(-speeds_right[0], speeds_right[1]),
        )
        return 0.5 * (flux_left + flux_right) - 0.5 * s[None] * (u_right - u_left)

    def flux_components(self, left, right, eos, axis):
        lt, rt = Side.of(left, eos, axis), Side.of(right, eos, axis)
        s = jnp.maximum(jnp.abs(lt.un) + lt.c, jnp.abs(rt.un) + rt.c)
        fl, fr = lt.flux(axis), rt.flux(axis)
        ul, ur = lt.conservative(), rt.conservative()
        return tuple(
            0.5 * (a + b) - 0.5 * s * (y - x) for a, b, x, y in zip(fl, fr, ul, ur)
        )
