"""Cahn-Hilliard spinodal decomposition: a mixture separates, mass is
conserved, the free energy decreases."""

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
from diffsim.operators.physics import CahnHilliard

from ._patterns import dominant_wavenumber, free_energy_summary


class Physics(PhysicsConfig):
    gamma: pydantic.PositiveFloat = pydantic.Field(
        2.5e-4,
        description="squared interface width gamma in u_t = lap(u^3 - u - gamma lap u)",
    )
    mean: float = pydantic.Field(
        0.0,
        ge=-1.0,
        le=1.0,
        description="mean composition (conserved); spinodal for |mean| < 1/sqrt(3)",
    )
    noise: pydantic.PositiveFloat = pydantic.Field(
        0.05, description="standard deviation of the random initial perturbation"
    )


@register
class CahnHilliardSpinodal(TimeDependentScenario):
    name = "cahn_hilliard"
    description = (
        "Cahn-Hilliard u_t = lap(u^3 - u - gamma lap u): spinodal "
        "decomposition in 2D, mass conserved, free energy decreasing"
    )
    ndim = 2
    cfl_steps = False  # stiff linear part integrated exactly: fixed time.dt
    discretizations = CahnHilliard.discretizations  # discretization: choices
    Physics = Physics
    defaults = {
        "grid": {"cells": [128, 128], "lower": [0.0, 0.0], "upper": [1.0, 1.0]},
        "time": {"t_end": 0.2, "dt": 2.5e-4, "snapshots": 40},
        "stepper": "etdrk4",
    }

    def build(self, ctx: BuildContext) -> Setup:
        physics = CahnHilliard(gamma=ctx.physics.gamma)
        grid = ctx.grid
        noise = jax.random.normal(ctx.key, (1, *grid.cells), dtype=ctx.dtype)
        noise = noise - noise.mean()
        u0 = ctx.physics.mean + ctx.physics.noise * noise

        def diagnostics(ts, ys):
            mass = ys.reshape(len(ys), -1).mean(axis=1)
            return {
                "mass_initial": float(mass[0]),
                "mass_drift": float(np.max(np.abs(mass - mass[0]))),
                **free_energy_summary(physics, grid, ys),
                "dominant_wavenumber_final": dominant_wavenumber(grid, ys[-1, 0]),
                # of the linearization about the mean m: k^2 (1 - 3 m^2) - gamma k^4
                "fastest_growing_wavenumber": float(
                    np.sqrt(
                        max(1.0 - 3.0 * ctx.physics.mean**2, 0.0)
                        / (2.0 * ctx.physics.gamma)
                    )
                ),
            }

        return Setup(ctx.discretize(physics), grid, u0, diagnostics=diagnostics)
