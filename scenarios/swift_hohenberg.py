"""Swift-Hohenberg rolls: a random field organises into stripes of
wavenumber 1."""

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
from diffsim.operators.physics import SwiftHohenberg

from ._patterns import dominant_wavenumber


class Physics(PhysicsConfig):
    r: float = pydantic.Field(
        0.3, description="control parameter r (rolls grow for r > 0)"
    )
    g: float = pydantic.Field(
        0.0, description="quadratic coefficient g (hexagons for large enough g)"
    )
    noise: pydantic.PositiveFloat = pydantic.Field(
        0.1, description="standard deviation of the random initial u"
    )


@register
class SwiftHohenbergRolls(TimeDependentScenario):
    name = "swift_hohenberg"
    description = (
        "Swift-Hohenberg u_t = r u - (1 + lap)^2 u + g u^2 - u^3 from noise: "
        "rolls of wavenumber 1 in 2D"
    )
    ndim = 2
    cfl_steps = False  # stiff linear part integrated exactly: fixed time.dt
    discretizations = SwiftHohenberg.discretizations  # discretization: choices
    Physics = Physics
    defaults = {
        "grid": {
            "cells": [128, 128],
            "lower": [0.0, 0.0],
            "upper": [32 * np.pi, 32 * np.pi],
        },
        "time": {"t_end": 200.0, "dt": 0.5, "snapshots": 40},
        "stepper": "etdrk4",
    }

    def build(self, ctx: BuildContext) -> Setup:
        p = ctx.physics
        physics = SwiftHohenberg(r=p.r, g=p.g)
        grid = ctx.grid
        u0 = p.noise * jax.random.normal(ctx.key, (1, *grid.cells), dtype=ctx.dtype)

        def diagnostics(ts, ys):
            return {
                "dominant_wavenumber_final": dominant_wavenumber(grid, ys[-1, 0]),
                "rms_final": float(np.sqrt(np.mean(ys[-1, 0] ** 2))),
                # weakly nonlinear straight rolls A cos(x), A^2 = 4 r / 3 (g = 0)
                "rms_rolls_theory": float(np.sqrt(2.0 * max(p.r, 0.0) / 3.0)),
            }

        return Setup(ctx.discretize(physics), grid, u0, diagnostics=diagnostics)
