"""Viscous Burgers shock formation from a sine wave, with the exact Cole-Hopf
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
from diffsim.operators import Burgers


class Physics(PhysicsConfig):
    nu: pydantic.PositiveFloat = pydantic.Field(0.02, description="viscosity")
    amplitude: pydantic.PositiveFloat = pydantic.Field(
        1.0,
        description="amplitude A of the initial A sin(x); the shock forms at t = 1/A",
    )


def cole_hopf_sine(x, t, nu, amplitude):
    """Exact solution of `u_t + u u_x = nu u_xx`, `u(x, 0) = A sin(x)` (2 pi periodic).

    Cole-Hopf: `u(x, t) = int (x - y)/t w(y) dy / int w(y) dy` with
    `w(y) = exp(-(x - y)^2 / (4 nu t) - A (1 - cos y) / (2 nu))`, evaluated in
    float64 by the trapezoidal rule (spectrally accurate for this Gaussian-
    weighted integrand) and with the log-weights shifted for stability.
    """
    x = np.asarray(x, dtype=np.float64)
    if t == 0:
        return amplitude * np.sin(x)
    sigma = np.sqrt(2 * nu * t)
    s = np.linspace(
        -14 * sigma, 14 * sigma, 801
    )  # converged to 1e-15 (checked against 8001)  # y = x - s
    y = x[:, None] - s[None, :]
    log_w = -(s**2) / (4 * nu * t) - amplitude * (1 - np.cos(y)) / (2 * nu)
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    return np.trapezoid(s / t * w, s, axis=1) / np.trapezoid(w, s, axis=1)


@register
class BurgersShock(TimeDependentScenario):
    name = "burgers_shock"
    description = (
        "viscous Burgers u_t + u u_x = nu u_xx from A sin(x): a shock "
        "forms at t = 1/A (exact Cole-Hopf solution)"
    )
    ndim = 1
    cfl_steps = False  # spectral: fixed time.dt
    discretizations = Burgers.discretizations  # discretization: choices
    Physics = Physics
    defaults = {
        "grid": {"cells": [512], "lower": [0.0], "upper": [2 * np.pi]},
        "time": {"t_end": 2.0, "dt": 1e-3, "snapshots": 100},
        "stepper": "etdrk4",
    }

    @classmethod
    def validate(cls, config, physics):
        if grid_from(config).lengths[0] != 2 * np.pi:
            raise ConfigError(
                "grid.upper", "the exact solution assumes a domain of length 2 pi"
            )

    def build(self, ctx: BuildContext) -> Setup:
        config, physics = ctx.config, ctx.physics
        self.validate(config, physics)
        grid = ctx.grid
        (x,) = grid.coordinates
        op = ctx.discretize(Burgers(nu=physics.nu))
        u0 = physics.amplitude * np.sin(x)

        def exact(t):
            return cole_hopf_sine(x, t, physics.nu, physics.amplitude)[None]

        return Setup(op, grid, u0[None], exact)
