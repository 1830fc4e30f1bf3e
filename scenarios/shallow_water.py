"""Shallow water: Stoker's wet-bed dam break against its exact solution, a
circular dam break in 2D, and a small-amplitude standing wave (smooth flow)."""

from __future__ import annotations

import numpy as np
import pydantic

from diffsim.jobs import (
    EXPLICIT_STEPPERS,
    BuildContext,
    ConfigError,
    FiniteVolumeScheme,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    grid_from,
    register,
)
from diffsim.operators.finite_volume import Outflow
from diffsim.operators.physics.shallow_water import (
    ShallowWater,
    solve_shallow_water_riemann,
)

GRAVITY = pydantic.Field(9.81, description="gravitational acceleration g")


class DamBreakPhysics(PhysicsConfig):
    depth_left: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="water depth behind the dam (x < dam_position)"
    )
    depth_right: pydantic.PositiveFloat = pydantic.Field(
        0.1, description="water depth in front of the dam (> 0: a wet bed)"
    )
    gravity: pydantic.PositiveFloat = GRAVITY
    dam_position: float = pydantic.Field(
        0.5, description="position of the dam, removed at t = 0"
    )


def dam_break_errors(ys, exact_ys, grid, names) -> dict:
    """L1 norms `sum |e_i| dx` of the height and discharge `h u` errors at the
    final time, against the exact cell averages."""
    dx = grid.spacing[0]
    h, u = ys[-1][0], ys[-1][1]
    he, ue = exact_ys[-1][0], exact_ys[-1][1]
    return {
        "l1_height": float(np.sum(np.abs(h - he)) * dx),
        "l1_discharge": float(np.sum(np.abs(h * u - he * ue)) * dx),
    }


@register
class ShallowWaterDamBreak(TimeDependentScenario):
    name = "shallow_water_dam_break"
    description = (
        "1D shallow-water dam break on a wet bed: rarefaction and bore, against "
        "Stoker's exact solution (L1 errors)"
    )
    ndim = 1
    channels = 2
    discretizations = ("finite_volume",)
    steppers = EXPLICIT_STEPPERS
    Physics = DamBreakPhysics
    Scheme = FiniteVolumeScheme
    defaults = {
        "grid": {"cells": [400], "lower": [0.0], "upper": [1.0]},
        "time": {"t_end": 0.1, "cfl": 0.5, "snapshots": 20},
        "stepper": "ssprk3",
        "scheme": {"reconstruction": "weno5z", "riemann": "hll"},
    }

    @classmethod
    def validate(cls, config, physics):
        grid = grid_from(config)
        if not grid.lower[0] < physics.dam_position < grid.upper[0]:
            raise ConfigError(
                "physics.dam_position",
                f"must lie inside the domain ({grid.lower[0]}, {grid.upper[0]})",
            )
        if physics.depth_right >= physics.depth_left:
            raise ConfigError(
                "physics.depth_right",
                f"must be below depth_left ({physics.depth_left}) for a dam break "
                "to the right",
            )

    def build(self, ctx: BuildContext) -> Setup:
        physics = ctx.physics
        self.validate(ctx.config, physics)
        grid = ctx.grid
        op = ctx.discretize(ShallowWater(gravity=physics.gravity), boundary=Outflow())
        riemann = solve_shallow_water_riemann(
            (physics.depth_left, 0.0), (physics.depth_right, 0.0), physics.gravity
        )
        edges = np.linspace(grid.lower[0], grid.upper[0], grid.cells[0] + 1)

        def exact(t):
            # the physical fields whose conserved form is the exact cell averages
            h, hu = riemann.cell_averages(edges, t, physics.dam_position)
            return np.stack([h, hu / h])

        return Setup(op, grid, exact(0.0), exact, dam_break_errors)


class CircularDamPhysics(PhysicsConfig):
    depth_inside: pydantic.PositiveFloat = pydantic.Field(
        2.0, description="water depth inside the cylinder at t = 0"
    )
    depth_outside: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="water depth outside (> 0: a wet bed)"
    )
    radius: pydantic.PositiveFloat = pydantic.Field(
        0.35, description="radius of the water column, centred in the domain"
    )
    gravity: pydantic.PositiveFloat = GRAVITY


@register
class ShallowWaterCircularDam(TimeDependentScenario):
    name = "shallow_water_circular_dam"
    description = (
        "2D shallow water: a circular column of water released at rest spreads "
        "as a bore and a rarefaction (outflow boundaries)"
    )
    ndim = 2
    channels = 3
    discretizations = ("finite_volume",)
    steppers = EXPLICIT_STEPPERS
    Physics = CircularDamPhysics
    Scheme = FiniteVolumeScheme
    defaults = {
        "grid": {"cells": [128, 128], "lower": [-1.0, -1.0], "upper": [1.0, 1.0]},
        "time": {"t_end": 0.12, "cfl": 0.4, "snapshots": 6},
        "stepper": "ssprk3",
        "scheme": {"reconstruction": "muscl", "limiter": "mc", "riemann": "hll"},
    }

    @classmethod
    def validate(cls, config, physics):
        grid = grid_from(config)
        if 2 * physics.radius >= min(grid.lengths):
            raise ConfigError("physics.radius", "the column must fit in the domain")

    def build(self, ctx: BuildContext) -> Setup:
        physics = ctx.physics
        self.validate(ctx.config, physics)
        grid = ctx.grid
        op = ctx.discretize(ShallowWater(gravity=physics.gravity), boundary=Outflow())
        centre = [lo + 0.5 * n for lo, n in zip(grid.lower, grid.lengths)]
        x, y = np.meshgrid(*grid.coordinates, indexing="ij")
        r = np.hypot(x - centre[0], y - centre[1])
        h = np.where(r < physics.radius, physics.depth_inside, physics.depth_outside)
        zero = np.zeros_like(h)
        mass0 = float(h.sum() * grid.cell_volume)

        def diagnostics(ts, ys):
            """The water volume's relative change (zero while the bore is
            inside the domain) and the largest deviation from the data's
            mirror symmetry `h(x, y) = h(y, x)`."""
            height = ys[-1][0]
            return {
                "volume_change": float(height.sum() * grid.cell_volume / mass0 - 1),
                "symmetry_error": float(np.abs(height - height.T).max()),
            }

        return Setup(op, grid, np.stack([h, zero, zero]), diagnostics=diagnostics)


class StandingWavePhysics(PhysicsConfig):
    depth: pydantic.PositiveFloat = pydantic.Field(1.0, description="mean depth H")
    amplitude: pydantic.PositiveFloat = pydantic.Field(
        0.01, description="height perturbation eps cos(2 pi x / L) at t = 0"
    )
    gravity: pydantic.PositiveFloat = GRAVITY


@register
class ShallowWaterStandingWave(TimeDependentScenario):
    name = "shallow_water_standing_wave"
    description = (
        "1D periodic small-amplitude standing wave at rest (smooth flow): the "
        "linear solution oscillates at sqrt(g H) k, nonlinear corrections O(eps^2)"
    )
    ndim = 1
    channels = 2
    discretizations = ("fourier", "finite_difference", "finite_volume")
    cfl_steps = False  # Fourier: fixed time.dt
    steppers = EXPLICIT_STEPPERS
    Physics = StandingWavePhysics
    Scheme = FiniteVolumeScheme
    defaults = {
        "grid": {"cells": [64], "lower": [0.0], "upper": [1.0]},
        "time": {"t_end": 1.0, "dt": 1e-3, "snapshots": 20},
        "stepper": "rk4",
    }

    def build(self, ctx: BuildContext) -> Setup:
        physics = ctx.physics
        grid = ctx.grid
        op = ctx.discretize(ShallowWater(gravity=physics.gravity))
        k = 2 * np.pi / grid.lengths[0]
        omega = np.sqrt(physics.gravity * physics.depth) * k
        (x,) = grid.coordinates
        eps, depth = physics.amplitude, physics.depth

        def exact(t):
            """The linearised solution `h = H + eps cos(k x) cos(w t)`,
            `u = eps w / (k H) sin(k x) sin(w t)`; the nonlinear one differs
            by O(eps^2)."""
            h = depth + eps * np.cos(k * x) * np.cos(omega * t)
            u = eps * omega / (k * depth) * np.sin(k * x) * np.sin(omega * t)
            return np.stack([h, u])

        def errors(ys, exact_ys, grid, names):
            """Max deviation from the linear solution, relative to `eps`."""
            return {
                "height_relative": float(
                    np.abs(ys[-1][0] - exact_ys[-1][0]).max() / eps
                )
            }

        return Setup(op, grid, exact(0.0), exact, errors)
