"""Two-soliton collision of the KdV equation, with the exact Hirota solution."""

from __future__ import annotations

import numpy as np
import pydantic

from diffsim.jobs import (
    BuildContext,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    register,
)
from diffsim.operators import KortewegDeVries


class Physics(PhysicsConfig):
    kappa1: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="wavenumber of the first soliton (its speed is 4 kappa1^2)"
    )
    kappa2: pydantic.PositiveFloat = pydantic.Field(
        0.6, description="wavenumber of the second soliton"
    )
    x1: float = pydantic.Field(
        -12.0, description="initial position of the first soliton"
    )
    x2: float = pydantic.Field(
        -4.0, description="initial position of the second soliton"
    )


def two_soliton(x, t, kappa1, kappa2, x1, x2):
    """Exact two-soliton solution of `u_t + 6 u u_x + u_xxx = 0` on the line
    (Hirota 1971): `u = 2 (log F)_xx`, `F = 1 + e^a + e^b + A e^(a+b)`,
    `a = k1 (x - x1) - k1^3 t`, `b = k2 (x - x2) - k2^3 t`, `k_i = 2 kappa_i`,
    `A = ((k1 - k2)/(k1 + k2))^2`. A soliton alone is
    `2 kappa^2 sech^2(kappa (x - x_i - 4 kappa^2 t))`.

    Written out as `2 (F F'' - F'^2) / F^2` with every term scaled by the
    largest exponential, so it is exact in float64 far from the solitons too.
    """
    x = np.asarray(x, dtype=np.float64)
    k1, k2 = 2 * kappa1, 2 * kappa2
    a = k1 * (x - x1) - k1**3 * t
    b = k2 * (x - x2) - k2**3 * t
    log_A = 2 * np.log(abs(k1 - k2) / (k1 + k2))
    exps = np.stack([np.zeros_like(x), a, b, a + b + log_A])
    rates = np.array([0.0, k1, k2, k1 + k2])[:, None]
    m = exps.max(axis=0)
    w = np.exp(exps - m)  # F e^-m = sum w, F' e^-m = sum r w, F'' e^-m = sum r^2 w
    F, F1, F2 = w.sum(0), (rates * w).sum(0), (rates**2 * w).sum(0)
    return 2 * (F * F2 - F1**2) / F**2


@register
class KdVTwoSoliton(TimeDependentScenario):
    name = "kdv_two_soliton"
    description = (
        "KdV u_t + 6 u u_x + u_xxx = 0: a fast soliton overtakes a "
        "slow one (exact Hirota solution)"
    )
    ndim = 1
    cfl_steps = False  # spectral: fixed time.dt
    discretizations = KortewegDeVries.discretizations  # discretization: choices
    Physics = Physics
    defaults = {
        "grid": {"cells": [512], "lower": [-30.0], "upper": [30.0]},
        "time": {"t_end": 6.0, "dt": 2e-3, "snapshots": 120},
        "stepper": "etdrk4",
    }

    def build(self, ctx: BuildContext) -> Setup:
        physics = ctx.physics
        grid = ctx.grid
        (x,) = grid.coordinates
        params = physics.model_dump()
        op = ctx.discretize(KortewegDeVries())

        def exact(t):
            return two_soliton(x, t, **params)[None]

        return Setup(op, grid, exact(0.0), exact)
