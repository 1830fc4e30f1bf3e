"""Advection-diffusion with a variable diffusion coefficient, against a
manufactured solution."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pydantic

from diffsim.jobs import (
    BuildContext,
    ConfigError,
    FiniteVolumeScheme,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    register,
)
from diffsim.operators.physics.advection_diffusion import AdvectionDiffusion


class Physics(PhysicsConfig):
    velocity: float = pydantic.Field(0.7, description="advection velocity a")
    diffusivity: pydantic.PositiveFloat = pydantic.Field(
        0.05, description="mean diffusion coefficient kappa_0"
    )
    contrast: float = pydantic.Field(
        0.5,
        ge=0.0,
        lt=1.0,
        description="kappa(x) = kappa_0 (1 + contrast sin(2 pi x / L)), in [0, 1)",
    )


class _Manufactured:
    """`u(x, t) = exp(-t/2 + sin(k (x - a t)) / 2) + 0.3 cos(2 k x + t)` on a
    periodic domain of length `L = 2 pi / k`, and the source `u_t + a u_x -
    (kappa u_x)_x` that makes it exact (by automatic differentiation)."""

    def __init__(self, velocity, k, kappa):
        self.a, self.k, self.kappa = velocity, k, kappa

    def u(self, x, t):
        return jnp.exp(-0.5 * t + 0.5 * jnp.sin(self.k * (x - self.a * t))) + 0.3 * (
            jnp.cos(2 * self.k * x + t)
        )

    def source(self, coords, t):
        (x,) = coords

        def s(x, t):
            u_x = jax.grad(self.u, 0)

            def flux(y):
                return self.kappa(y) * u_x(y, t)

            return jax.grad(self.u, 1)(x, t) + self.a * u_x(x, t) - jax.grad(flux)(x)

        return jax.vmap(s, (0, None))(x.ravel(), t).reshape(x.shape)


@register
class AdvectionDiffusionManufactured(TimeDependentScenario):
    name = "advection_diffusion"
    description = (
        "1D periodic advection-diffusion u_t + a u_x = (kappa(x) u_x)_x + s with a "
        "variable coefficient, against a manufactured exact solution"
    )
    ndim = 1
    cfl_steps = False  # fixed time.dt (explicit diffusion limit)
    discretizations = ("fourier", "finite_difference", "finite_volume")
    Physics = Physics
    Scheme = FiniteVolumeScheme  # for discretization: finite_volume
    defaults = {
        "grid": {"cells": [64], "lower": [0.0], "upper": [2 * np.pi]},
        "time": {"t_end": 1.0, "dt": 2e-3, "snapshots": 10},
        "stepper": "rk4",
    }

    @classmethod
    def validate(cls, config, physics):
        if config.grid.cells[0] < 8:
            raise ConfigError("grid.cells", "needs at least 8 cells")

    def build(self, ctx: BuildContext) -> Setup:
        physics = ctx.physics
        grid = ctx.grid
        k = 2 * np.pi / grid.lengths[0]
        kappa0, contrast = physics.diffusivity, physics.contrast

        def kappa(x):
            return kappa0 * (1.0 + contrast * jnp.sin(k * x))

        solution = _Manufactured(physics.velocity, k, kappa)
        model = AdvectionDiffusion(
            velocity=physics.velocity, diffusivity=kappa, source=solution.source
        )
        op = ctx.discretize(model)
        (x,) = grid.coordinates

        def exact(t):
            return np.asarray(solution.u(jnp.asarray(x), t))[None]

        return Setup(op, grid, exact(0.0), exact)
