"""2D decaying turbulence from a random vorticity field."""

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
    nu: pydantic.PositiveFloat = pydantic.Field(2e-3, description="kinematic viscosity")
    peak_wavenumber: pydantic.PositiveFloat = pydantic.Field(
        8.0,
        ge=0.5,
        description="wavenumber of the initial spectrum's peak, in units of the "
        "fundamental 2 pi / L (>= 0.5: below it the spectrum vanishes)",
    )
    vorticity_rms: pydantic.PositiveFloat = pydantic.Field(
        5.0, description="RMS of the initial vorticity"
    )


@register
class DecayingTurbulence(TimeDependentScenario):
    name = "decaying_turbulence"
    description = (
        "2D Navier-Stokes, random vorticity peaked at k0 = 8: vortex "
        "merging and an inverse energy cascade"
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
        "time": {"t_end": 10.0, "dt": 0.01, "snapshots": 40},
        "stepper": "etdrk4",
    }

    def build(self, ctx: BuildContext) -> Setup:
        physics = ctx.physics
        grid = ctx.grid
        op = ctx.discretize(NavierStokesVorticity(nu=physics.nu))
        w0 = random_smooth_field(
            ctx.key, grid, k_peak=physics.peak_wavenumber, rms=physics.vorticity_rms
        )
        return Setup(op, grid, w0[None])
