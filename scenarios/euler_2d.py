"""2D and 3D compressible-flow scenarios: isentropic vortex (exact), the
Lax-Liu Riemann problem, Kelvin-Helmholtz instability, 3D explosion."""

from __future__ import annotations

import dataclasses

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
from diffsim.operators.finite_volume import (
    Inflow,
    Outflow,
    Periodic,
    ReflectingWall,
    Switch,
)

from ._euler import (
    EULER_DEFAULTS,
    EulerScheme,
    TransportPhysics,
    conservative_averages_to_primitive,
    density_errors,
    gauss_cell_average,
    make_euler,
)


class VortexPhysics(TransportPhysics):
    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    strength: pydantic.PositiveFloat = pydantic.Field(
        5.0, description="vortex strength"
    )
    velocity: tuple[float, float] = pydantic.Field(
        (1.0, 1.0), description="free-stream velocity (u, v)"
    )
    center: tuple[float, float] = pydantic.Field(
        (0.0, 0.0), description="initial vortex centre (x, y)"
    )


@register
class IsentropicVortex(TimeDependentScenario):
    name = "isentropic_vortex"
    description = (
        "isentropic vortex advected across a periodic box (Shu 1998): "
        "exact solution, smooth, for convergence orders"
    )
    ndim = 2
    channels = 4  # density, momenta, energy
    steppers = EXPLICIT_STEPPERS
    Physics = VortexPhysics
    Scheme = EulerScheme
    boundary_kinds = "euler"
    defaults = {
        **EULER_DEFAULTS,
        "grid": {"cells": [64, 64], "lower": [-5.0, -5.0], "upper": [5.0, 5.0]},
        "time": {"t_end": 2.0, "cfl": 0.5, "snapshots": 10},
    }

    def build(self, ctx: BuildContext) -> Setup:
        config, physics = ctx.config, ctx.physics
        grid = ctx.grid
        g, beta = physics.gamma, physics.strength
        (ux, uy), (cx, cy) = physics.velocity, physics.center
        lx, ly = grid.lengths

        def conservative(t):
            def fn(x, y):
                # distance to the nearest periodic image of the advected centre
                dx = (x - cx - ux * t - grid.lower[0]) % lx + grid.lower[0]
                dy = (y - cy - uy * t - grid.lower[1]) % ly + grid.lower[1]
                r2 = dx**2 + dy**2
                temp = 1.0 - (g - 1) * beta**2 / (8 * g * np.pi**2) * np.exp(1 - r2)
                rho = temp ** (1 / (g - 1))
                u = ux - beta / (2 * np.pi) * np.exp(0.5 * (1 - r2)) * dy
                v = uy + beta / (2 * np.pi) * np.exp(0.5 * (1 - r2)) * dx
                p = rho**g
                return np.stack(
                    [rho, rho * u, rho * v, p / (g - 1) + 0.5 * rho * (u**2 + v**2)]
                )

            return gauss_cell_average(fn, grid)

        def exact(t):
            rho, mx, my, e = conservative(t)
            return conservative_averages_to_primitive(rho, [mx, my], e, g)

        op = make_euler(
            grid, config.scheme, g, Periodic(), physics=physics, section=config.boundary
        )
        return Setup(op, grid, exact(0.0), exact, density_errors)


class QuadrantPhysics(TransportPhysics):
    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    split: tuple[float, float] = pydantic.Field(
        (0.5, 0.5), description="point (x, y) where the four quadrants meet"
    )


# Lax & Liu (1998), configuration 3: (density, velocity_x, velocity_y,
# pressure) per quadrant
_LAX_LIU_3 = {
    "ne": (1.5, 0.0, 0.0, 1.5),
    "nw": (0.5323, 1.206, 0.0, 0.3),
    "sw": (0.138, 1.206, 1.206, 0.029),
    "se": (0.5323, 0.0, 1.206, 0.3),
}


@register
class RiemannProblem2D(TimeDependentScenario):
    name = "riemann_2d"
    description = (
        "2D Riemann problem, Lax-Liu configuration 3: four shocks, a "
        "mushroom jet along the diagonal"
    )
    ndim = 2
    channels = 4  # density, momenta, energy
    steppers = EXPLICIT_STEPPERS
    Physics = QuadrantPhysics
    Scheme = EulerScheme
    boundary_kinds = "euler"
    defaults = {
        **EULER_DEFAULTS,
        "grid": {"cells": [128, 128], "lower": [0.0, 0.0], "upper": [1.0, 1.0]},
        "time": {"t_end": 0.3, "cfl": 0.5, "snapshots": 6},
    }

    def build(self, ctx: BuildContext) -> Setup:
        config, physics = ctx.config, ctx.physics
        grid = ctx.grid
        X, Y = np.meshgrid(*grid.coordinates, indexing="ij")
        east, north = X > physics.split[0], Y > physics.split[1]
        fields = np.zeros((4, *grid.cells))
        for name, mask in (
            ("ne", east & north),
            ("nw", ~east & north),
            ("sw", ~east & ~north),
            ("se", east & ~north),
        ):
            fields[:, mask] = np.asarray(_LAX_LIU_3[name])[:, None]
        op = make_euler(
            grid,
            config.scheme,
            physics.gamma,
            Outflow(),
            physics=physics,
            section=config.boundary,
        )
        return Setup(op, grid, fields)


class KHPhysics(TransportPhysics):
    gamma: float = pydantic.Field(
        5.0 / 3.0, gt=1.0, description="ratio of specific heats"
    )
    density_ratio: pydantic.PositiveFloat = pydantic.Field(
        2.0, description="density of the middle band over that outside"
    )
    shear_velocity: pydantic.PositiveFloat = pydantic.Field(
        0.5, description="speed of each layer (opposite directions)"
    )
    pressure: pydantic.PositiveFloat = pydantic.Field(
        2.5, description="uniform initial pressure"
    )
    layer_width: pydantic.PositiveFloat = pydantic.Field(
        0.025, description="thickness of the shear layers"
    )
    perturbation: pydantic.NonNegativeFloat = pydantic.Field(
        0.01, description="amplitude of the seeding vertical velocity"
    )


@register
class KelvinHelmholtz(TimeDependentScenario):
    name = "kelvin_helmholtz"
    description = (
        "Kelvin-Helmholtz instability of two smooth shear layers in a "
        "periodic box (after McNally et al. 2012)"
    )
    ndim = 2
    channels = 4  # density, momenta, energy
    steppers = EXPLICIT_STEPPERS
    Physics = KHPhysics
    Scheme = EulerScheme
    boundary_kinds = "euler"
    defaults = {
        **EULER_DEFAULTS,
        "grid": {"cells": [128, 128], "lower": [0.0, 0.0], "upper": [1.0, 1.0]},
        "time": {"t_end": 2.0, "cfl": 0.5, "snapshots": 20},
    }

    @classmethod
    def validate(cls, config, physics):
        if grid_from(config).lengths != (1.0, 1.0):
            raise ConfigError(
                "grid.upper", "kelvin_helmholtz is set up on the unit square"
            )

    def build(self, ctx: BuildContext) -> Setup:
        config, physics = ctx.config, ctx.physics
        self.validate(config, physics)
        grid = ctx.grid
        X, Y = np.meshgrid(*grid.coordinates, indexing="ij")
        a = physics.layer_width
        # tanh profiles: band 0.25 < y < 0.75 is dense and moves right
        band = 0.5 * (np.tanh((Y - 0.25) / a) - np.tanh((Y - 0.75) / a))
        rho = 1.0 + (physics.density_ratio - 1.0) * band
        u = physics.shear_velocity * (2 * band - 1)
        v = (
            physics.perturbation
            * np.sin(4 * np.pi * X)
            * (
                np.exp(-(((Y - 0.25) / 0.05) ** 2))
                + np.exp(-(((Y - 0.75) / 0.05) ** 2))
            )
        )
        p = np.full_like(X, physics.pressure)
        op = make_euler(
            grid,
            config.scheme,
            physics.gamma,
            Periodic(),
            physics=physics,
            section=config.boundary,
        )
        return Setup(op, grid, np.stack([rho, u, v, p]))


class DoubleMachPhysics(TransportPhysics):
    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    mach: float = pydantic.Field(10.0, gt=1.0, description="shock Mach number")
    wall_start: pydantic.NonNegativeFloat = pydantic.Field(
        1.0 / 6.0, description="x where the reflecting wall begins"
    )


def _post_shock_state(gamma, mach):
    """Density, speed and pressure behind a normal shock of Mach `mach` moving
    into gas at rest with density `gamma` and pressure 1 (sound speed 1)."""
    rho0, p0 = gamma, 1.0
    rho1 = rho0 * (gamma + 1) * mach**2 / ((gamma - 1) * mach**2 + 2)
    p1 = p0 * (2 * gamma * mach**2 - (gamma - 1)) / (gamma + 1)
    u1 = mach * (1 - rho0 / rho1)  # shock speed is mach * c0 = mach
    return rho0, p0, rho1, u1, p1


@dataclasses.dataclass(frozen=True)
class _BehindShock:
    """`where` of the double Mach reflection's `Switch` conditions: true
    behind the 60-degree shock, `x < x0 + (y + speed t) / sqrt(3)` (a frozen
    dataclass: hashable and comparable, as the operator's static structure
    must be)."""

    x0: float
    speed: float

    def __call__(self, coords, t):
        x, y = coords
        return x < self.x0 + (y + self.speed * t) / np.sqrt(3.0)


@dataclasses.dataclass(frozen=True)
class _BeforeWall:
    x0: float

    def __call__(self, coords, t):
        return coords[0] < self.x0


@register
class DoubleMachReflection(TimeDependentScenario):
    name = "double_mach_reflection"
    description = (
        "double Mach reflection (Woodward & Colella 1984): a Mach 10 "
        "shock hits a 30-degree wedge"
    )
    ndim = 2
    channels = 4  # density, momenta, energy
    steppers = EXPLICIT_STEPPERS
    Physics = DoubleMachPhysics
    Scheme = EulerScheme
    boundary_kinds = "euler"
    defaults = {
        **EULER_DEFAULTS,
        "grid": {"cells": [240, 60], "lower": [0.0, 0.0], "upper": [4.0, 1.0]},
        "time": {"t_end": 0.2, "cfl": 0.4, "snapshots": 4},
    }

    def build(self, ctx: BuildContext) -> Setup:
        config, physics = ctx.config, ctx.physics
        grid = ctx.grid
        g, x0 = physics.gamma, physics.wall_start
        rho0, p0, rho1, u1, p1 = _post_shock_state(g, physics.mach)
        # the shock foot moves along x at mach / sin(60 deg):
        # x0 + (y + 2 mach t) / sqrt(3)
        speed = 2.0 * physics.mach
        angle = np.pi / 6  # post-shock velocity points 30 degrees below the x axis
        post = (rho1, (u1 * np.cos(angle), -u1 * np.sin(angle)), p1)
        pre = (rho0, (0.0, 0.0), p0)
        post_bc, pre_bc = (
            Inflow(post[0], post[1], post[2]),
            Inflow(pre[0], pre[1], pre[2]),
        )
        boundaries = (
            (post_bc, Outflow()),
            (
                Switch(_BeforeWall(x0), post_bc, ReflectingWall()),
                Switch(_BehindShock(x0, speed), post_bc, pre_bc),
            ),
        )
        behind = _BehindShock(x0, speed)(
            np.meshgrid(*grid.coordinates, indexing="ij"), 0.0
        )
        fields = np.stack(
            [
                np.where(behind, post[0], pre[0]),
                np.where(behind, post[1][0], 0.0),
                np.where(behind, post[1][1], 0.0),
                np.where(behind, post[2], pre[2]),
            ]
        )
        op = make_euler(
            grid, config.scheme, g, boundaries, physics=physics, section=config.boundary
        )
        return Setup(op, grid, fields)


class ExplosionPhysics(TransportPhysics):
    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    radius: pydantic.PositiveFloat = pydantic.Field(
        0.4, description="radius of the high-pressure sphere"
    )
    inside: tuple[pydantic.PositiveFloat, pydantic.PositiveFloat] = pydantic.Field(
        (1.0, 1.0), description="density and pressure inside the sphere"
    )
    outside: tuple[pydantic.PositiveFloat, pydantic.PositiveFloat] = pydantic.Field(
        (0.125, 0.1), description="density and pressure outside"
    )


@register
class Explosion3D(TimeDependentScenario):
    name = "explosion_3d"
    description = (
        "3D spherical explosion (Toro 2009, section 17.1): a spherical "
        "Sod problem in a box with outflow faces"
    )
    ndim = 3
    channels = 5  # density, momenta, energy
    steppers = EXPLICIT_STEPPERS
    Physics = ExplosionPhysics
    Scheme = EulerScheme
    boundary_kinds = "euler"
    defaults = {
        **EULER_DEFAULTS,
        "grid": {
            "cells": [32, 32, 32],
            "lower": [-1.0, -1.0, -1.0],
            "upper": [1.0, 1.0, 1.0],
        },
        "time": {"t_end": 0.25, "cfl": 0.4, "snapshots": 5},
    }

    def build(self, ctx: BuildContext) -> Setup:
        config, physics = ctx.config, ctx.physics
        grid = ctx.grid
        # cell-averaged indicator of the sphere, so that the initial data are as
        # round as the grid allows
        inside = gauss_cell_average(
            lambda x, y, z: (x**2 + y**2 + z**2 < physics.radius**2)[None].astype(
                float
            ),
            grid,
            points=4,
        )[0]
        rho = physics.outside[0] + (physics.inside[0] - physics.outside[0]) * inside
        p = physics.outside[1] + (physics.inside[1] - physics.outside[1]) * inside
        zero = np.zeros_like(rho)
        op = make_euler(
            grid,
            config.scheme,
            physics.gamma,
            Outflow(),
            physics=physics,
            section=config.boundary,
        )
        return Setup(op, grid, np.stack([rho, zero, zero, zero, p]))
