"""2D Taylor-Green vortex: an exact, purely viscously decaying Navier-Stokes
solution."""

from __future__ import annotations

import numpy as np
import pydantic

from diffsim.jobs import (
    BuildContext,
    ConfigError,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    grid_from,
    register,
)
from diffsim.operators import NavierStokesVorticity


class Physics(PhysicsConfig):
    nu: pydantic.PositiveFloat = pydantic.Field(0.01, description="kinematic viscosity")
    wavenumber: pydantic.PositiveInt = pydantic.Field(
        1, description="wavenumber of the vortex array"
    )


@register
class TaylorGreen(TimeDependentScenario):
    name = "taylor_green"
    description = (
        "2D Taylor-Green vortex, w = 2k cos(kx) cos(ky) exp(-2 nu k^2 "
        "t): exact viscous decay"
    )
    ndim = 2
    cfl_steps = False  # spectral: fixed time.dt
    discretizations = NavierStokesVorticity.discretizations  # discretization: choices
    Physics = Physics
    defaults = {
        "grid": {
            "cells": [64, 64],
            "lower": [0.0, 0.0],
            "upper": [2 * np.pi, 2 * np.pi],
        },
        "time": {"t_end": 10.0, "dt": 0.01, "snapshots": 20},
        "stepper": "etdrk4",
    }

    @classmethod
    def validate(cls, config, physics):
        if not np.allclose(grid_from(config).lengths, 2 * np.pi):
            raise ConfigError(
                "grid.upper", "the exact solution needs the domain [0, 2 pi)^2"
            )

    def build(self, ctx: BuildContext) -> Setup:
        config, physics = ctx.config, ctx.physics
        self.validate(config, physics)
        grid = ctx.grid
        X, Y = np.meshgrid(*grid.coordinates, indexing="ij")
        k, nu = physics.wavenumber, physics.nu
        op = ctx.discretize(NavierStokesVorticity(nu=nu))

        def exact(t):
            return (2 * k * np.cos(k * X) * np.cos(k * Y) * np.exp(-2 * nu * k**2 * t))[
                None
            ]

        return Setup(op, grid, exact(0.0), exact)
