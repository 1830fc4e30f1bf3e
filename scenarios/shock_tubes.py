"""1D shock tubes with exact solutions: Sod and Lax (ideal gas), and a water
shock tube (stiffened gas)."""

from __future__ import annotations

import numpy as np
import pydantic

from diffsim.jobs import (
    EXPLICIT_STEPPERS,
    BuildContext,
    ConfigError,
    Setup,
    TimeDependentScenario,
    grid_from,
    register,
)
from diffsim.operators.finite_volume import Outflow, cell_averages, solve_riemann

from ._euler import (
    EULER_DEFAULTS,
    EulerScheme,
    TransportPhysics,
    density_errors,
    make_euler,
)


class ShockTubePhysics(TransportPhysics):
    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    left: tuple[pydantic.PositiveFloat, float, pydantic.PositiveFloat] = pydantic.Field(
        (1.0, 0.0, 1.0), description="left state: density, velocity, pressure"
    )
    right: tuple[pydantic.PositiveFloat, float, pydantic.PositiveFloat] = (
        pydantic.Field(
            (0.125, 0.0, 0.1), description="right state: density, velocity, pressure"
        )
    )
    interface: float = pydantic.Field(
        0.5, description="position of the initial discontinuity"
    )


class _ShockTube(TimeDependentScenario):
    """A Riemann problem `left` (x < interface) / `right` (density, velocity,
    pressure) with zero-gradient ends; the reference is the exact solution,
    averaged over each cell, and `errors.l1_density` its L1 distance. Data
    whose rarefactions separate generate a vacuum, which the exact solution
    covers too."""

    ndim = 1
    channels = 3  # density, momenta, energy
    steppers = EXPLICIT_STEPPERS
    Scheme = EulerScheme
    boundary_kinds = "euler"

    @classmethod
    def validate(cls, config, physics):
        grid = grid_from(config)
        if not grid.lower[0] < physics.interface < grid.upper[0]:
            raise ConfigError(
                "physics.interface",
                f"must lie inside the domain ({grid.lower[0]}, {grid.upper[0]})",
            )

    def build(self, ctx: BuildContext) -> Setup:
        config, physics = ctx.config, ctx.physics
        self.validate(config, physics)
        grid = ctx.grid
        op = make_euler(
            grid,
            config.scheme,
            physics.gamma,
            Outflow(),
            physics=physics,
            section=config.boundary,
        )
        riemann = solve_riemann(
            physics.left, physics.right, physics.gamma
        )  # a vacuum included (Toro 4.6)
        edges = np.linspace(grid.lower[0], grid.upper[0], grid.cells[0] + 1)

        def exact(t):
            # primitive fields whose conservative form is the exact cell averages
            # (zero velocity and pressure in cells entirely in a vacuum)
            return np.stack(cell_averages(riemann, edges, t, physics.interface))

        return Setup(op, grid, exact(0.0), exact, density_errors)


@register
class Sod(_ShockTube):
    name = "sod"
    description = (
        "Sod shock tube (Toro test 1): rarefaction, contact, shock; "
        "exact Riemann solution"
    )
    Physics = ShockTubePhysics
    defaults = {
        **EULER_DEFAULTS,
        "grid": {"cells": [200], "lower": [0.0], "upper": [1.0]},
        "time": {"t_end": 0.2, "cfl": 0.5, "snapshots": 20},
    }


class LaxPhysics(ShockTubePhysics):
    left: tuple[pydantic.PositiveFloat, float, pydantic.PositiveFloat] = pydantic.Field(
        (0.445, 0.698, 3.528), description="left state: density, velocity, pressure"
    )
    right: tuple[pydantic.PositiveFloat, float, pydantic.PositiveFloat] = (
        pydantic.Field(
            (0.5, 0.0, 0.571), description="right state: density, velocity, pressure"
        )
    )


@register
class Lax(_ShockTube):
    name = "lax"
    description = (
        "Lax shock tube (Harten 1983): strong shock and contact; exact Riemann solution"
    )
    Physics = LaxPhysics
    defaults = {
        **EULER_DEFAULTS,
        "grid": {"cells": [200], "lower": [0.0], "upper": [1.0]},
        "time": {"t_end": 0.14, "cfl": 0.5, "snapshots": 14},
    }


class WaterShockTubePhysics(TransportPhysics):
    gamma: float = pydantic.Field(
        4.4, gt=1.0, description="stiffened-gas gamma (water: 4.4)"
    )
    p_inf: float = pydantic.Field(
        6e8, ge=0.0, description="stiffened-gas stiffness pressure p_inf in Pa"
    )
    left: tuple[pydantic.PositiveFloat, float, float] = pydantic.Field(
        (1000.0, 0.0, 1e9),
        description="left state: density (kg/m^3), velocity (m/s), pressure (Pa)",
    )
    right: tuple[pydantic.PositiveFloat, float, float] = pydantic.Field(
        (1000.0, 0.0, 1e5),
        description="right state: density (kg/m^3), velocity (m/s), pressure (Pa)",
    )
    interface: float = pydantic.Field(
        0.5, description="position of the initial discontinuity (m)"
    )


@register
class WaterShockTube(_ShockTube):
    """A Riemann problem in water, a stiffened gas
    `p = (gamma - 1) rho e - gamma p_inf` (`physics.gamma`, `physics.p_inf`):
    by default 1 GPa against 1 bar at equal density (gamma = 4.4,
    p_inf = 6e8 Pa; Saurel & Abgrall 1999), which gives a left rarefaction, a
    contact and a right shock at 1967 m/s. The reference is the exact
    stiffened-gas solution (Ivings, Causon & Toro 1998), averaged over cells.
    `errors`: `l1_density`, `l2_density` (as `sod`) and
    `l1_density_relative`, the L1 error divided by the density range of the
    exact solution at the final time (comparable across units)."""

    name = "water_shock_tube"
    description = (
        "water (stiffened gas) shock tube, 1 GPa against 1 bar; exact "
        "stiffened-gas Riemann solution"
    )
    Physics = WaterShockTubePhysics
    defaults = {
        **EULER_DEFAULTS,
        "grid": {"cells": [200], "lower": [0.0], "upper": [1.0]},
        "time": {"t_end": 1.5e-4, "cfl": 0.5, "snapshots": 15},
    }

    @classmethod
    def validate(cls, config, physics):
        super().validate(config, physics)
        for side in ("left", "right"):
            p = getattr(physics, side)[2]
            if not p + physics.p_inf > 0:
                raise ConfigError(
                    f"physics.{side}",
                    f"pressure + p_inf must be > 0, got {p} + {physics.p_inf}",
                )

    def build(self, ctx: BuildContext) -> Setup:
        config, physics = ctx.config, ctx.physics
        self.validate(config, physics)
        grid = ctx.grid
        op = make_euler(
            grid,
            config.scheme,
            physics.gamma,
            Outflow(),
            physics.p_inf,
            physics=physics,
            section=config.boundary,
        )
        riemann = solve_riemann(
            physics.left, physics.right, physics.gamma, p_inf=physics.p_inf
        )
        edges = np.linspace(grid.lower[0], grid.upper[0], grid.cells[0] + 1)

        def exact(t):
            return np.stack(cell_averages(riemann, edges, t, physics.interface))

        return Setup(op, grid, exact(0.0), exact, _relative_density_errors)


def _relative_density_errors(ys, exact_ys, grid, names) -> dict:
    """`density_errors`, plus the L1 error over the exact density range."""
    errors = density_errors(ys, exact_ys, grid, names)
    rho = exact_ys[-1][names.index("density")]
    scale = float(np.max(rho) - np.min(rho))
    if scale > 0:
        errors["l1_density_relative"] = errors["l1_density"] / scale
    return errors
