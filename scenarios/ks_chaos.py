"""Kuramoto-Sivashinsky spatio-temporal chaos (Kassam & Trefethen 2005, §3)."""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
import numpy as np
import pydantic

from diffsim.jobs import (
    BuildContext,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    register,
)
from diffsim.operators import KuramotoSivashinsky

from ._common import random_smooth_field


class Physics(PhysicsConfig):
    nu4: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="coefficient of the fourth-derivative (hyperviscous) term"
    )
    initial: Literal["kassam_trefethen", "random"] = pydantic.Field(
        "kassam_trefethen",
        description="initial data: kassam_trefethen (cos(x/16)(1 + sin(x/16))) or "
        "random",
    )


@register
class KSChaos(TimeDependentScenario):
    name = "ks_chaos"
    description = (
        "Kuramoto-Sivashinsky u_t + u u_x + u_xx + u_xxxx = 0 on [0, "
        "32 pi): spatio-temporal chaos"
    )
    ndim = 1
    cfl_steps = False  # spectral: fixed time.dt
    discretizations = KuramotoSivashinsky.discretizations  # discretization: choices
    Physics = Physics
    defaults = {
        "grid": {"cells": [256], "lower": [0.0], "upper": [32 * np.pi]},
        "time": {"t_end": 150.0, "dt": 0.25, "snapshots": 300},
        "stepper": "etdrk4",
    }

    def build(self, ctx: BuildContext) -> Setup:
        physics = ctx.physics
        grid = ctx.grid
        (x,) = grid.mesh()
        if physics.initial == "kassam_trefethen":
            s = 2 * np.pi * (x - grid.lower[0]) / grid.lengths[0]
            u0 = jnp.cos(s) * (1 + jnp.sin(s))
        else:
            u0 = random_smooth_field(
                ctx.key, grid, k_peak=grid.lengths[0] / (2 * np.pi * np.sqrt(2)) / 2
            )
        op = ctx.discretize(KuramotoSivashinsky(nu4=physics.nu4))
        return Setup(op, grid, u0[None])
