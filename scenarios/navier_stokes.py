"""Compressible Navier-Stokes scenarios (finite volumes, `Euler` with a
`Transport`): viscous Taylor-Green decay, Couette flow with viscous heating,
Rayleigh-Taylor instability under gravity, and the Daru-Tenaud viscous
shock tube."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pydantic

from diffsim.jobs import (
    EXPLICIT_STEPPERS,
    BuildContext,
    ConfigError,
    KeyedError,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    grid_from,
    register,
)
from diffsim.operators.finite_volume import (
    NoSlipWall,
    Periodic,
    ReflectingWall,
)

from ._euler import (
    EULER_DEFAULTS,
    EulerScheme,
    TransportPhysics,
    gauss_cell_average,
    make_euler,
)


def _kinetic_energy(ys: np.ndarray) -> np.ndarray:
    """Total kinetic energy `sum rho |u|^2 / 2` per snapshot of primitive
    fields `(t, density, velocity.., pressure, *cells)` (up to the cell
    volume)."""
    rho, velocities = ys[:, 0], ys[:, 1:-1]
    return 0.5 * np.sum(rho * np.sum(velocities**2, axis=1), axis=(1, 2))


class TaylorGreenPhysics(PhysicsConfig):
    viscosity: pydantic.PositiveFloat = pydantic.Field(
        0.01, description="constant dynamic viscosity mu"
    )
    density: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="mean density rho_0 (nu = viscosity / density)"
    )
    mach: float = pydantic.Field(
        0.05, gt=0.0, le=0.1, description="Mach number U / c_0 (<= 0.1)"
    )
    velocity: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="velocity amplitude U"
    )
    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    prandtl: pydantic.PositiveFloat = pydantic.Field(
        0.72, description="Prandtl number mu c_p / k"
    )


@register
class TaylorGreenViscous(TimeDependentScenario):
    """2D Taylor-Green vortex of the compressible Navier-Stokes equations at
    low Mach number on the periodic box `[0, 2 pi]^2`: `u = U sin x cos y`,
    `v = -U cos x sin y`, uniform density, the incompressible pressure
    `p_0 + rho_0 U^2 (cos 2x + cos 2y) / 4` with `p_0 = rho_0 c_0^2 / gamma`,
    `c_0 = U / mach` (Taylor & Green 1937). In the incompressible limit the
    kinetic energy decays as `exp(-4 nu t)`, `nu = mu / rho_0`; compressible
    corrections are `O(mach^2)`.

    `summary.json`: `ke_decay_rate` (minus the slope of the least-squares line
    through `log KE` against `t` over the snapshots), `ke_decay_rate_theory`
    (`4 nu`) and `ke_decay_rate_relative_error`.
    """

    name = "taylor_green_viscous"
    description = (
        "2D Taylor-Green vortex, compressible Navier-Stokes at Mach 0.05: "
        "kinetic-energy decay rate against 4 nu"
    )
    ndim = 2
    channels = 4
    steppers = EXPLICIT_STEPPERS
    Physics = TaylorGreenPhysics
    Scheme = EulerScheme
    boundary_kinds = "euler"
    defaults = {
        **EULER_DEFAULTS,
        "grid": {
            "cells": [32, 32],
            "lower": [0.0, 0.0],
            "upper": [2 * np.pi, 2 * np.pi],
        },
        "time": {"t_end": 1.0, "cfl": 0.5, "snapshots": 10},
    }

    @classmethod
    def validate(cls, config, physics):
        if not np.allclose(grid_from(config).lengths, 2 * np.pi, rtol=1e-12):
            raise ConfigError(
                "grid.upper", "taylor_green_viscous is set up on [0, 2 pi]^2"
            )

    def build(self, ctx: BuildContext) -> Setup:
        physics, grid = ctx.physics, ctx.grid
        self.validate(ctx.config, physics)
        x, y = np.meshgrid(*grid.coordinates, indexing="ij")
        rho0, big_u, g = physics.density, physics.velocity, physics.gamma
        p0 = rho0 * (big_u / physics.mach) ** 2 / g
        fields = np.stack(
            [
                np.full_like(x, rho0),
                big_u * np.sin(x) * np.cos(y),
                -big_u * np.cos(x) * np.sin(y),
                p0 + rho0 * big_u**2 / 4 * (np.cos(2 * x) + np.cos(2 * y)),
            ]
        )
        transport = TransportPhysics.model_validate(
            {"viscosity": physics.viscosity, "prandtl": physics.prandtl}
        )
        op = make_euler(
            grid,
            ctx.config.scheme,
            g,
            Periodic(),
            physics=transport,
            section=ctx.config.boundary,
        )
        theory = 4 * physics.viscosity / rho0

        def diagnostics(ts, ys):
            rate = -float(np.polyfit(ts, np.log(_kinetic_energy(ys)), 1)[0])
            return {
                "ke_decay_rate": rate,
                "ke_decay_rate_theory": theory,
                "ke_decay_rate_relative_error": abs(rate / theory - 1.0),
            }

        return Setup(op, grid, fields, diagnostics=diagnostics)


class CouettePhysics(PhysicsConfig):
    viscosity: pydantic.PositiveFloat = pydantic.Field(
        0.05, description="constant dynamic viscosity mu"
    )
    prandtl: pydantic.PositiveFloat = pydantic.Field(
        0.72, description="Prandtl number mu c_p / k"
    )
    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    wall_velocity: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="speed U of the upper wall (along x)"
    )
    wall_temperature: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="temperature T_w of both walls (T = p / rho)"
    )
    pressure: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="uniform pressure"
    )


@register
class CouetteHeating(TimeDependentScenario):
    """Compressible Couette flow with viscous heating: a gas between two
    isothermal no-slip walls at `T_w` (`NoSlipWall`), the upper one moving at
    `U`, periodic along x. The steady state (constant `mu` and `k`) has a
    linear velocity `u = U y / H`, a uniform pressure and the parabolic
    temperature `T = T_w + Pr U^2 / (2 c_p) y (H - y) / H^2`, `c_p = gamma R
    / (gamma - 1)`, `R = 1` (White 2006, section 3-2). The run starts from
    the exact velocity at uniform temperature `T_w` and heats up to it;
    `time.t_end` must be several thermal diffusion times `H^2 rho c_p / k`.

    `summary.json`: `temperature_error` (max `|T - T_exact| / T_exact` at
    the final time), `temperature_rise_error` (max `|T - T_exact|` over the
    exact rise `max(T_exact) - T_w`), `velocity_error` (max `|u - u_exact|
    / U`) and `temperature_change` (max `|T(t_end) - T|` at the snapshot
    before, over the rise: how steady the end is).
    """

    name = "couette_heating"
    description = (
        "steady compressible Couette flow between isothermal walls, viscous "
        "heating: exact parabolic temperature"
    )
    ndim = 2
    channels = 4
    steppers = EXPLICIT_STEPPERS
    Physics = CouettePhysics
    Scheme = EulerScheme
    boundary_kinds = "euler"
    defaults = {
        **EULER_DEFAULTS,
        "grid": {"cells": [1, 64], "lower": [0.0, 0.0], "upper": [1 / 64, 1.0]},
        "time": {"t_end": 10.0, "cfl": 0.9, "snapshots": 10},
    }

    def build(self, ctx: BuildContext) -> Setup:
        physics, grid = ctx.physics, ctx.grid
        tw, big_u, g = physics.wall_temperature, physics.wall_velocity, physics.gamma
        height = grid.lengths[1]
        y = np.meshgrid(*grid.coordinates, indexing="ij")[1] - grid.lower[1]
        cp = g / (g - 1)
        t_exact = tw + physics.prandtl * big_u**2 / (2 * cp) * y * (height - y) / (
            height**2
        )
        rise = physics.prandtl * big_u**2 / (8 * cp)
        p = physics.pressure
        fields = np.stack(
            [np.full_like(y, p / tw), big_u * y / height, 0 * y, p + 0 * y]
        )
        walls = (
            NoSlipWall(temperature=tw),
            NoSlipWall(temperature=tw, velocity=(big_u, 0.0)),
        )
        transport = TransportPhysics.model_validate(
            {"viscosity": physics.viscosity, "prandtl": physics.prandtl}
        )
        op = make_euler(
            grid,
            ctx.config.scheme,
            g,
            (Periodic(), walls),
            physics=transport,
            section=ctx.config.boundary,
        )

        def temperature(w):
            return w[-1] / w[0]

        def diagnostics(ts, ys):
            t_end = temperature(ys[-1])
            return {
                "temperature_error": float(np.max(np.abs(t_end / t_exact - 1.0))),
                "temperature_rise_error": float(np.max(np.abs(t_end - t_exact)) / rise),
                "velocity_error": float(
                    np.max(np.abs(ys[-1][1] - big_u * y / height)) / big_u
                ),
                "temperature_change": float(
                    np.max(np.abs(t_end - temperature(ys[-2]))) / rise
                ),
            }

        def plot(ts, ys, folder: Path):
            folder.mkdir(parents=True, exist_ok=True)
            fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
            yc = y[0]
            for i in sorted({1, len(ts) // 2, len(ts) - 1}):
                ax.plot(temperature(ys[i])[0], yc, ".", ms=3, label=f"t = {ts[i]:.3g}")
            ax.plot(t_exact[0], yc, "k-", lw=1, label="exact steady")
            ax.set(
                xlabel="temperature T = p / rho",
                ylabel="y",
                title="couette_heating: temperature profile",
            )
            ax.legend()
            path = folder / "temperature_profile.png"
            fig.savefig(path, dpi=120)
            plt.close(fig)
            return [path]

        # one cell along x: the standard 2D maps have nothing to draw
        return Setup(
            op,
            grid,
            fields,
            diagnostics=diagnostics,
            plot=plot,
            standard_plots=grid.cells[0] > 1,
        )


class RayleighTaylorPhysics(TransportPhysics):
    gamma: float = pydantic.Field(
        5.0 / 3.0, gt=1.0, description="ratio of specific heats"
    )
    gravity: float = pydantic.Field(
        1.0, gt=0.0, description="gravitational acceleration g (pointing to -y)"
    )
    heavy: pydantic.PositiveFloat = pydantic.Field(
        2.0, description="density of the upper (heavy) fluid"
    )
    light: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="density of the lower (light) fluid"
    )
    interface: float = pydantic.Field(0.5, description="height y of the interface")
    interface_width: pydantic.PositiveFloat = pydantic.Field(
        0.005, description="thickness delta of the tanh density profile"
    )
    pressure: pydantic.PositiveFloat = pydantic.Field(
        2.5, description="pressure at the interface"
    )
    perturbation: pydantic.NonNegativeFloat = pydantic.Field(
        0.01,
        description="amplitude a of the interface's vertical velocity, the "
        "eigenmode v = a cos(k x) exp(-k |y - interface|), k = 2 pi / L_x",
    )

    @pydantic.model_validator(mode="after")
    def _heavy_on_top(self):
        if self.heavy <= self.light:
            raise KeyedError("heavy", "must exceed physics.light (heavy over light)")
        return self


@register
class RayleighTaylor(TimeDependentScenario):
    """Rayleigh-Taylor instability: heavy fluid over light in a gravity field
    `(0, -g)`, in hydrostatic equilibrium `dp/dy = -rho g` (a tanh density
    step of thickness `delta`, the pressure integrated exactly), with a
    single-mode velocity perturbation of the interface: the divergence-free
    eigenmode of linear theory, `v = a cos(k x) exp(-k |y - y_i|)`,
    `u = a sign(y - y_i) sin(k x) exp(-k |y - y_i|)`. Walls top and bottom
    (`ReflectingWall`; `NoSlipWall`, adiabatic, when `physics.viscosity > 0`),
    periodic sides. The unperturbed hydrostatic cell averages are `Euler`'s
    `equilibrium`, so the discrete equilibrium is exact and only the
    perturbation evolves. Linear theory (sharp interface, incompressible,
    inviscid; Chandrasekhar 1961, chapter X): growth rate `sqrt(A k g)`,
    `A = (rho_h - rho_l) / (rho_h + rho_l)`, `k = 2 pi / L_x`; a finite
    `delta` and viscosity lower it.

    `summary.json`: `bubble_height`, `spike_height` (the highest and lowest
    `y` of the mid-density contour, per snapshot) and `mixing_width` (their
    difference) and `interface_amplitude` (the mode-k amplitude `eta` of the
    interface displacement, from the density's Fourier coefficient
    integrated over y) over time, `growth_rate` (slope of `log eta` against
    `t` over the linear phase: snapshots at `t >= 2 / sqrt(A k g)`, once the
    decaying mode of the start has died out, with `k eta <= 0.3`; null with
    fewer than 3 of them), `growth_rate_theory` = `sqrt(A k g)` and
    `atwood_number`.
    """

    name = "rayleigh_taylor"
    description = (
        "Rayleigh-Taylor instability: heavy over light gas under gravity, "
        "well-balanced hydrostatic start, single-mode perturbation"
    )
    ndim = 2
    channels = 4
    steppers = EXPLICIT_STEPPERS
    Physics = RayleighTaylorPhysics
    Scheme = EulerScheme
    boundary_kinds = "euler"
    defaults = {
        **EULER_DEFAULTS,
        "grid": {"cells": [32, 128], "lower": [0.0, 0.0], "upper": [0.25, 1.0]},
        "time": {"t_end": 2.5, "cfl": 0.5, "snapshots": 25},
    }

    @classmethod
    def validate(cls, config, physics):
        grid = grid_from(config)
        if not grid.lower[1] < physics.interface < grid.upper[1]:
            raise ConfigError(
                "physics.interface",
                f"must lie inside ({grid.lower[1]}, {grid.upper[1]})",
            )

    def build(self, ctx: BuildContext) -> Setup:
        physics, grid = ctx.physics, ctx.grid
        self.validate(ctx.config, physics)
        g, gam = physics.gravity, physics.gamma
        rh, rl, yi, d = (
            physics.heavy,
            physics.light,
            physics.interface,
            (physics.interface_width),
        )
        mean, jump = 0.5 * (rh + rl), 0.5 * (rh - rl)

        def hydrostatic(x, y):
            s = (y - yi) / d
            rho = mean + jump * np.tanh(s)
            # p = p_i - g int_yi^y rho: int tanh = d log cosh, written stably
            logcosh = np.abs(s) + np.log1p(np.exp(-2 * np.abs(s))) - np.log(2.0)
            p = physics.pressure - g * (mean * (y - yi) + jump * d * logcosh)
            zero = 0 * x
            return np.stack([rho, zero, zero, p / (gam - 1)])

        eq = gauss_cell_average(hydrostatic, grid)
        rho, p = eq[0], (gam - 1) * eq[3]
        if np.min(p) <= 0:
            raise ConfigError(
                "physics.pressure",
                "too low: the hydrostatic pressure reaches "
                f"{float(np.min(p)):.3g} <= 0 at the top",
            )
        x, y = np.meshgrid(*grid.coordinates, indexing="ij")
        k = 2 * np.pi / grid.lengths[0]
        # the incompressible eigenmode of a sharp interface: a divergence-free
        # velocity decaying as exp(-k |y - y_i|) on both sides
        decay = physics.perturbation * np.exp(-k * np.abs(y - yi))
        u = decay * np.sign(y - yi) * np.sin(k * (x - grid.lower[0]))
        v = decay * np.cos(k * (x - grid.lower[0]))
        # the equilibrium's density and pressure, with the perturbation velocity
        fields = np.stack([rho, u, v, p])
        wall = NoSlipWall() if physics.viscosity > 0 else ReflectingWall()
        op = make_euler(
            grid,
            ctx.config.scheme,
            gam,
            (Periodic(), wall),
            physics=physics,
            section=ctx.config.boundary,
            gravity=(0.0, -g),
            equilibrium=eq,
        )
        atwood = (rh - rl) / (rh + rl)
        theory = float(np.sqrt(atwood * k * g))
        ycoord = grid.coordinates[1]

        def contour_extent(density):
            # per column: the height where the density crosses `mean`
            heights = []
            for column in density:
                above = column >= mean
                j = int(np.argmax(above)) if above.any() else len(column) - 1
                j = max(j, 1)
                f0, f1 = column[j - 1] - mean, column[j] - mean
                frac = f0 / (f0 - f1) if f0 != f1 else 0.0
                heights.append(ycoord[j - 1] + frac * (ycoord[j] - ycoord[j - 1]))
            return max(heights), min(heights)

        phase = np.exp(-1j * k * (grid.coordinates[0] - grid.lower[0]))
        dy = grid.spacing[1]

        def interface_amplitude(density):
            # the mode-k amplitude of the interface displacement: a sharp
            # interface displaced by eta cos(k x) has a density perturbation
            # (rho_h - rho_l) eta cos(k x) delta(y - y_i)
            mode = 2.0 / grid.cells[0] * np.abs(phase @ density)
            return float(np.sum(mode) * dy / (rh - rl))

        def diagnostics(ts, ys):
            bubbles, spikes = zip(*(contour_extent(w[0]) for w in ys))
            eta = np.array([interface_amplitude(w[0]) for w in ys])
            # linear phase: after the start-up (2 / theory: the decaying
            # mode has died out) and while k eta <= 0.3
            linear = np.flatnonzero((ts >= 2.0 / theory) & (k * eta <= 0.3) & (eta > 0))
            rate = None
            if len(linear) >= 3:
                rate = float(np.polyfit(ts[linear], np.log(eta[linear]), 1)[0])
            return {
                "times": [float(t) for t in ts],
                "bubble_height": [float(b) for b in bubbles],
                "spike_height": [float(s) for s in spikes],
                "mixing_width": [float(b - s) for b, s in zip(bubbles, spikes)],
                "interface_amplitude": [float(e) for e in eta],
                "growth_rate": rate,
                "growth_rate_theory": theory,
                "atwood_number": atwood,
            }

        return Setup(op, grid, fields, diagnostics=diagnostics)


class ViscousShockTubePhysics(PhysicsConfig):
    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    reynolds: pydantic.PositiveFloat = pydantic.Field(
        200.0, description="Reynolds number (viscosity = 1 / reynolds)"
    )
    prandtl: pydantic.PositiveFloat = pydantic.Field(
        0.73, description="Prandtl number mu c_p / k"
    )


# Daru & Tenaud (2009): left (x < 1/2) and right density; pressure rho / gamma,
# so both sides have T = p / rho = 1 / gamma and sound speed 1
_DT_LEFT, _DT_RIGHT = 120.0, 1.2


@register
class ViscousShockTube(TimeDependentScenario):
    """The viscous shock tube of Daru & Tenaud (2000, Comput. Fluids 30:89;
    2009, Comput. Fluids 38:664): a closed unit box of gas at rest with
    no-slip adiabatic walls, density 120 for `x < 1/2` and 1.2 beyond,
    pressure `rho / gamma`, `gamma = 1.4`, `Re = 200` (`mu = 1 / Re`),
    `Pr = 0.73`, constant viscosity. The shock runs right, leaves a boundary
    layer on the bottom wall, reflects from the right wall and interacts
    with the boundary layer: it separates and rolls up into a lambda-shaped
    shock and a primary vortex near `x ~ 0.85`, `y ~ 0.1` at `t = 1`.
    The flow is symmetric about `y = 1/2`; as in the literature only the
    lower half `[0, 1] x [0, 1/2]` is computed, with a symmetry
    (`ReflectingWall`) face on top. Literature grids: 500 x 250 (Daru &
    Tenaud 2000, converged for Re = 200) up to 4000 x 2000 (their 2009
    reference); the default 200 x 100 runs in minutes on a CPU and shows
    the structure, coarsely.

    `summary.json`: `primary_vortex_x`, `primary_vortex_y` (the position
    of the pressure minimum in `x > 0.6`, `y < 0.3` at the final time: the
    primary vortex's core; measured at the default 200 x 100, t = 1:
    (0.8025, 0.0725)) and `min_pressure_primary_vortex`. `plots/`
    adds `density_contours.png` (20 density contours at the final time,
    as the papers draw them).
    """

    name = "viscous_shock_tube"
    description = (
        "Daru-Tenaud 2D viscous shock tube, Re = 200, no-slip walls: shock / "
        "boundary-layer interaction, primary vortex"
    )
    ndim = 2
    channels = 4
    steppers = EXPLICIT_STEPPERS
    Physics = ViscousShockTubePhysics
    Scheme = EulerScheme
    boundary_kinds = "euler"
    defaults = {
        **EULER_DEFAULTS,
        "grid": {"cells": [200, 100], "lower": [0.0, 0.0], "upper": [1.0, 0.5]},
        "time": {"t_end": 1.0, "cfl": 0.5, "snapshots": 4},
    }

    @classmethod
    def validate(cls, config, physics):
        grid = grid_from(config)
        if grid.lower != (0.0, 0.0) or grid.upper != (1.0, 0.5):
            raise ConfigError(
                "grid.upper", "viscous_shock_tube is set up on [0, 1] x [0, 0.5]"
            )

    def build(self, ctx: BuildContext) -> Setup:
        physics, grid = ctx.physics, ctx.grid
        self.validate(ctx.config, physics)
        g = physics.gamma
        x, y = np.meshgrid(*grid.coordinates, indexing="ij")
        rho = np.where(x < 0.5, _DT_LEFT, _DT_RIGHT)
        fields = np.stack([rho, 0 * x, 0 * x, rho / g])
        transport = TransportPhysics.model_validate(
            {"viscosity": 1.0 / physics.reynolds, "prandtl": physics.prandtl}
        )
        wall = NoSlipWall()
        op = make_euler(
            grid,
            ctx.config.scheme,
            g,
            ((wall, wall), (wall, ReflectingWall())),
            physics=transport,
            section=ctx.config.boundary,
        )

        def diagnostics(ts, ys):
            p = np.where((x > 0.6) & (y < 0.3), ys[-1][3], np.inf)
            i, j = np.unravel_index(np.argmin(p), p.shape)
            return {
                "primary_vortex_x": float(x[i, j]),
                "primary_vortex_y": float(y[i, j]),
                "min_pressure_primary_vortex": float(p[i, j]),
            }

        def plot(ts, ys, folder: Path):
            folder.mkdir(parents=True, exist_ok=True)
            fig, ax = plt.subplots(figsize=(9, 5), constrained_layout=True)
            rho = ys[-1][0]
            ax.contour(x, y, rho, levels=20, colors="k", linewidths=0.6)
            d = diagnostics(ts, ys)
            ax.plot(d["primary_vortex_x"], d["primary_vortex_y"], "r+", ms=10)
            ax.set(
                aspect="equal",
                xlabel="x",
                ylabel="y",
                title=f"viscous_shock_tube: 20 density contours at t = {ts[-1]:.3g}"
                f" ({rho.shape[0]} x {rho.shape[1]}; + pressure minimum)",
            )
            path = folder / "density_contours.png"
            fig.savefig(path, dpi=130)
            plt.close(fig)
            return [path]

        return Setup(op, grid, fields, diagnostics=diagnostics, plot=plot)
