"""Gray-Scott pattern formation (Pearson 1993): spots or stripes grow from a
perturbed square."""

from __future__ import annotations

from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
import pydantic
from scipy import ndimage

from diffsim.jobs import (
    BuildContext,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    register,
)
from diffsim.operators.physics import GrayScott


class Physics(PhysicsConfig):
    diffusivity_u: pydantic.PositiveFloat = pydantic.Field(
        2e-5, description="diffusivity of the substrate u"
    )
    diffusivity_v: pydantic.PositiveFloat = pydantic.Field(
        1e-5, description="diffusivity of the autocatalyst v"
    )
    feed: pydantic.NonNegativeFloat = pydantic.Field(
        0.03,
        description="feed rate F (0.03 with kill 0.062: self-replicating spots; "
        "0.04 with kill 0.06: stripes)",
    )
    kill: pydantic.NonNegativeFloat = pydantic.Field(
        0.062, description="removal rate k of v (removed at F + k)"
    )
    square: float = pydantic.Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="side of the central perturbed square (u = 1/2, v = 1/4), as "
        "a fraction of the domain",
    )
    noise: pydantic.NonNegativeFloat = pydantic.Field(
        0.01, description="standard deviation of the noise added to u and v"
    )


@register
class GrayScottPatterns(TimeDependentScenario):
    name = "gray_scott"
    description = (
        "Gray-Scott reaction-diffusion u_t = Du lap u - u v^2 + F(1 - u), "
        "v_t = Dv lap v + u v^2 - (F + k) v: spots or stripes in 2D"
    )
    ndim = 2
    channels = 2
    cfl_steps = False  # stiff linear part integrated exactly: fixed time.dt
    discretizations = GrayScott.discretizations  # discretization: choices
    Physics = Physics
    defaults = {
        "grid": {"cells": [128, 128], "lower": [0.0, 0.0], "upper": [2.5, 2.5]},
        "time": {"t_end": 6000.0, "dt": 1.0, "snapshots": 60},
        "stepper": "etdrk4",
    }

    def build(self, ctx: BuildContext) -> Setup:
        p = ctx.physics
        physics = GrayScott(
            diffusivity_u=p.diffusivity_u,
            diffusivity_v=p.diffusivity_v,
            feed=p.feed,
            kill=p.kill,
        )
        grid = ctx.grid
        inside = jnp.ones(grid.cells, dtype=bool)
        for x, lo, length in zip(grid.mesh(ctx.dtype), grid.lower, grid.lengths):
            inside &= jnp.abs(x - lo - 0.5 * length) < 0.5 * p.square * length
        u0 = jnp.stack([jnp.where(inside, 0.5, 1.0), jnp.where(inside, 0.25, 0.0)])
        u0 = u0 + p.noise * jax.random.normal(ctx.key, u0.shape, dtype=ctx.dtype)

        def diagnostics(ts, ys):
            pattern = ys[-1, 1] > 0.2
            # ndimage.label returns (labels, count); its stubs say otherwise
            components = cast(tuple, ndimage.label(pattern))[1]
            return {
                "pattern_fraction_final": float(np.mean(pattern)),
                "pattern_components_final": int(components),
                "v_max_final": float(np.max(ys[-1, 1])),
            }

        return Setup(ctx.discretize(physics), grid, u0, diagnostics=diagnostics)
