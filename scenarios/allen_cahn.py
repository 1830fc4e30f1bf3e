"""Allen-Cahn coarsening: domains of two phases grow from noise."""

from __future__ import annotations

import jax
import numpy as np
import pydantic

from diffsim.jobs import (
    BuildContext,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    register,
)
from diffsim.operators.physics import AllenCahn

from ._patterns import free_energy_summary


class Physics(PhysicsConfig):
    epsilon: pydantic.PositiveFloat = pydantic.Field(
        0.01, description="interface width epsilon in u_t = eps^2 lap u + u - u^3"
    )
    noise: pydantic.PositiveFloat = pydantic.Field(
        0.1, description="standard deviation of the random initial u (mean 0)"
    )


@register
class AllenCahnCoarsening(TimeDependentScenario):
    name = "allen_cahn"
    description = (
        "Allen-Cahn u_t = eps^2 lap u + u - u^3 from noise: phase domains "
        "coarsen, the free energy decreases"
    )
    ndim = 2
    cfl_steps = False  # stiff linear part integrated exactly: fixed time.dt
    discretizations = AllenCahn.discretizations  # discretization: choices
    Physics = Physics
    defaults = {
        "grid": {"cells": [128, 128], "lower": [0.0, 0.0], "upper": [1.0, 1.0]},
        "time": {"t_end": 50.0, "dt": 0.1, "snapshots": 50},
        "stepper": "etdrk4",
    }

    def build(self, ctx: BuildContext) -> Setup:
        physics = AllenCahn(epsilon=ctx.physics.epsilon)
        grid = ctx.grid
        u0 = ctx.physics.noise * jax.random.normal(
            ctx.key, (1, *grid.cells), dtype=ctx.dtype
        )
        # energy per unit interface area of the planar kink: 2 sqrt(2) eps / 3
        tension = 2.0 * np.sqrt(2.0) * ctx.physics.epsilon / 3.0

        def diagnostics(ts, ys):
            summary = free_energy_summary(physics, grid, ys)
            return {
                **summary,
                "interface_measure_final": summary["free_energy_final"] / tension,
                "phase_fraction_final": float(np.mean(ys[-1] > 0.0)),
            }

        return Setup(ctx.discretize(physics), grid, u0, diagnostics=diagnostics)
