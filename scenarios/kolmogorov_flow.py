"""2D Kolmogorov flow: sinusoidally forced Navier-Stokes turbulence."""

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
from diffsim.operators import NavierStokesVorticity

from ._common import random_smooth_field


class Physics(PhysicsConfig):
    reynolds: pydantic.PositiveFloat = pydantic.Field(
        40.0, description="Reynolds number (viscosity 1 / reynolds)"
    )
    forcing_amplitude: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="amplitude of the sinusoidal body force"
    )
    forcing_wavenumber: pydantic.PositiveInt = pydantic.Field(
        4, description="wavenumber of the force sin(k y)"
    )
    drag: pydantic.NonNegativeFloat = pydantic.Field(
        0.0, description="linear drag coefficient"
    )
    perturbation: pydantic.NonNegativeFloat = pydantic.Field(
        0.5, description="RMS of the initial random vorticity"
    )


@register
class KolmogorovFlow(TimeDependentScenario):
    name = "kolmogorov_flow"
    description = (
        "2D Navier-Stokes with Kolmogorov forcing sin(4y), nu = 1/Re "
        "(Chandler & Kerswell 2013): transition to turbulence"
    )
    ndim = 2
    cfl_steps = False  # spectral: fixed time.dt
    discretizations = NavierStokesVorticity.discretizations  # discretization: choices
    Physics = Physics
    defaults = {
        "grid": {
            "cells": [128, 128],
            "lower": [0.0, 0.0],
            "upper": [2 * np.pi, 2 * np.pi],
        },
        "time": {"t_end": 40.0, "dt": 0.01, "snapshots": 80},
        "stepper": "etdrk4",
    }

    def build(self, ctx: BuildContext) -> Setup:
        physics = ctx.physics
        grid = ctx.grid
        op = ctx.discretize(
            NavierStokesVorticity(
                nu=1.0 / physics.reynolds,
                drag=physics.drag,
                forcing_amplitude=physics.forcing_amplitude,
                forcing_wavenumber=physics.forcing_wavenumber,
            )
        )
        w0 = random_smooth_field(ctx.key, grid, k_peak=4.0, rms=physics.perturbation)
        return Setup(op, grid, w0[None])
