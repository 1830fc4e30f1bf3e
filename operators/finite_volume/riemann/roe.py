"""Roe's flux-difference splitting with the Harten-Hyman entropy fix."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from .._math import div
from ._base import AbstractRiemannSolver, Side, roe_averages


def _harten_hyman(lam, lam_l, lam_r):
    """`|lambda~|`, replaced by the Harten-Hyman value inside a transonic
    rarefaction (`lambda_l < 0 < lambda_r`): the wave is split into two with
    speeds `lambda_l`, `lambda_r` and the same total fluctuation, giving
    `(lambda~ (lambda_l + lambda_r) - 2 lambda_l lambda_r) / (lambda_r - lambda_l)`
    (Harten & Hyman 1983; LeVeque 2002, chapter 15)."""
    transonic = (lam_l < 0.0) & (lam_r > 0.0)
    den = jnp.where(transonic, lam_r - lam_l, 1.0)
    fixed = div(lam * (lam_l + lam_r) - 2.0 * lam_l * lam_r, den)
    return jnp.where(transonic, fixed, jnp.abs(lam))


class Roe(AbstractRiemannSolver):
    """Roe's approximate Riemann solver (Roe 1981; Toro 2009, chapter 11),
    `F = (F_L + F_R)/2 - sum_k |lambda~_k| alpha_k r~_k / 2` over the acoustic,
    entropy and shear waves of the Roe-averaged Jacobian, wave strengths from
    the primitive jumps. Exact for isolated shocks, contacts and shear waves.

    `entropy_fix=True` (default) applies the Harten-Hyman fix to the two
    acoustic fields, with the characteristic speeds on either side of each wave
    taken from the intermediate states of the Roe solution (Toro 2009, chapter 11),
    so that transonic rarefactions do not become expansion shocks.
    Not positively conservative: strong rarefactions can produce negative
    density or pressure (Einfeldt et al. 1991); use HLLC/HLL there.
    """

    entropy_fix: bool = eqx.field(static=True, default=True)

    def flux_components(self, left, right, eos, axis):
        lt, rt = Side.of(left, eos, axis), Side.of(right, eos, axis)
        rho, vel, h, c = roe_averages(lt, rt, eos)
        un = vel[axis]
        inv_c2 = div(1.0, c * c)
        dp = rt.p - lt.p
        dun = rt.un - lt.un
        # wave strengths from the primitive jumps (exact with Roe averages)
        a1 = 0.5 * inv_c2 * (dp - rho * c * dun)
        a5 = 0.5 * inv_c2 * (dp + rho * c * dun)
        a2 = (rt.rho - lt.rho) - dp * inv_c2
        shear = [
            (d, rho * (b - a))
            for d, (a, b) in enumerate(zip(lt.velocity, rt.velocity))
            if d != axis
        ]
        lam1, lam2, lam5 = un - c, un, un + c
        abs2 = jnp.abs(lam2)
        if self.entropy_fix:
            # state between the 1-wave and the contact, and between the contact and
            # the 5-wave
            abs1 = _harten_hyman(
                lam1,
                lt.un - lt.c,
                _star_speed(lt, a1, vel, h - un * c, un - c, axis, eos, -1.0),
            )
            abs5 = _harten_hyman(
                lam5,
                _star_speed(rt, -a5, vel, h + un * c, un + c, axis, eos, 1.0),
                rt.un + rt.c,
            )
        else:
            abs1, abs5 = jnp.abs(lam1), jnp.abs(lam5)
        w1, w2, w5 = abs1 * a1, abs2 * a2, abs5 * a5
        kinetic = 0.5 * sum(u * u for u in vel)
        d_mass = w1 + w2 + w5
        d_mom = []
        for d, u in enumerate(vel):
            base = (w1 + w2 + w5) * u
            if d == axis:
                base = base + c * (w5 - w1)
            d_mom.append(base)
        d_energy = w1 * (h - un * c) + w2 * kinetic + w5 * (h + un * c)
        for d, strength in shear:
            ws = abs2 * strength
            d_mom[d] = d_mom[d] + ws
            d_energy = d_energy + ws * vel[d]
        diss = (d_mass, *d_mom, d_energy)
        fl, fr = lt.flux(axis), rt.flux(axis)
        return tuple(0.5 * (a + b) - 0.5 * dd for a, b, dd in zip(fl, fr, diss))


def _star_speed(side, alpha, vel, h_wave, un_wave, axis, eos, sign):
    """Characteristic speed `u_n + sign * c` of `U_side + alpha r`, where `r` is the
    acoustic eigenvector `(1, u~ + sign c~ e_n, H~ + sign u~_n c~)` (given through
    `h_wave = H~ + sign u~_n c~` and `un_wave = u~_n + sign c~`), with
    `c^2 = gamma shifted_pressure(p) / rho` (`p + p_inf` for a stiffened gas)."""
    tiny = jnp.finfo(jnp.result_type(side.rho)).tiny
    rho = side.rho + alpha
    rho = jnp.where(rho > tiny, rho, tiny)
    momentum = [
        side.rho * u + alpha * (un_wave if d == axis else v)
        for d, (u, v) in enumerate(zip(side.velocity, vel))
    ]
    energy = side.energy + alpha * h_wave
    inv_rho = div(1.0, rho)
    kinetic = 0.5 * sum(m * m for m in momentum) * inv_rho
    p = eos.pressure_from_internal_energy(rho, energy - kinetic)
    c2 = eos.gamma.astype(p.dtype) * eos.shifted_pressure(p) * inv_rho
    c = jnp.sqrt(jnp.where(c2 > tiny, c2, tiny))
    return momentum[axis] * inv_rho + sign * c
