"""1D compressible-flow benchmarks without closed-form solutions:
Shu-Osher shock/entropy-wave interaction and the Woodward-Colella blast waves."""

from __future__ import annotations

import numpy as np
import pydantic

from diffsim.jobs import (
    EXPLICIT_STEPPERS,
    BuildContext,
    Setup,
    TimeDependentScenario,
    register,
)
from diffsim.operators.finite_volume import Outflow, ReflectingWall

from ._euler import EULER_DEFAULTS, EulerScheme, TransportPhysics, make_euler


class ShuOsherPhysics(TransportPhysics):
    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    entropy_amplitude: float = pydantic.Field(
        0.2,
        ge=0.0,
        lt=1.0,
        description="amplitude of the sinusoidal density ahead of the shock",
    )
    entropy_wavenumber: pydantic.PositiveFloat = pydantic.Field(
        5.0, description="wavenumber of the density wave"
    )


@register
class ShuOsher(TimeDependentScenario):
    name = "shu_osher"
    description = (
        "Shu-Osher (1989): a Mach 3 shock runs into an entropy wave "
        "rho = 1 + 0.2 sin(5x)"
    )
    ndim = 1
    channels = 3  # density, momenta, energy
    steppers = EXPLICIT_STEPPERS
    Physics = ShuOsherPhysics
    Scheme = EulerScheme
    boundary_kinds = "euler"
    defaults = {
        **EULER_DEFAULTS,
        "grid": {"cells": [400], "lower": [-5.0], "upper": [5.0]},
        "time": {"t_end": 1.8, "cfl": 0.5, "snapshots": 36},
    }

    def build(self, ctx: BuildContext) -> Setup:
        config, physics = ctx.config, ctx.physics
        grid = ctx.grid
        (x,) = grid.coordinates
        post = x < -4.0
        rho = np.where(
            post,
            3.857143,
            1.0 + physics.entropy_amplitude * np.sin(physics.entropy_wavenumber * x),
        )
        u = np.where(post, 2.629369, 0.0)
        p = np.where(post, 10.33333, 1.0)
        op = make_euler(
            grid,
            config.scheme,
            physics.gamma,
            Outflow(),
            physics=physics,
            section=config.boundary,
        )
        return Setup(op, grid, np.stack([rho, u, p]))


class BlastPhysics(TransportPhysics):
    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    pressures: tuple[
        pydantic.PositiveFloat, pydantic.PositiveFloat, pydantic.PositiveFloat
    ] = pydantic.Field(
        (1000.0, 0.01, 100.0),
        description="pressures of the left, middle and right states",
    )


@register
class WoodwardColella(TimeDependentScenario):
    name = "woodward_colella"
    description = (
        "Woodward-Colella (1984) interacting blast waves between "
        "reflecting walls, t = 0.038"
    )
    ndim = 1
    channels = 3  # density, momenta, energy
    steppers = EXPLICIT_STEPPERS
    Physics = BlastPhysics
    Scheme = EulerScheme
    boundary_kinds = "euler"
    defaults = {
        **EULER_DEFAULTS,
        "scheme": {"positivity": True},
        "grid": {"cells": [800], "lower": [0.0], "upper": [1.0]},
        "time": {"t_end": 0.038, "cfl": 0.4, "snapshots": 38},
    }

    def build(self, ctx: BuildContext) -> Setup:
        config, physics = ctx.config, ctx.physics
        grid = ctx.grid
        (x,) = grid.coordinates
        lo, hi = (
            grid.lower[0] + 0.1 * grid.lengths[0],
            grid.lower[0] + 0.9 * grid.lengths[0],
        )
        p = np.where(
            x < lo,
            physics.pressures[0],
            np.where(x > hi, physics.pressures[2], physics.pressures[1]),
        )
        op = make_euler(
            grid,
            config.scheme,
            physics.gamma,
            ReflectingWall(),
            physics=physics,
            section=config.boundary,
        )
        return Setup(op, grid, np.stack([np.ones_like(x), np.zeros_like(x), p]))
