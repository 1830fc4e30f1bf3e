"""A Gaussian acoustic pulse leaving a 2D box through open boundaries: how
much of it the boundaries reflect (characteristic non-reflecting against
zero-gradient outflow)."""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
import numpy as np
import pydantic

import diffsim
from diffsim.jobs import (
    EXPLICIT_STEPPERS,
    BuildContext,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    register,
)
from diffsim.operators.finite_volume import IdealGas, NonReflecting, Outflow

from ._euler import EULER_DEFAULTS, EulerScheme, make_euler


class AcousticPulsePhysics(PhysicsConfig):
    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    amplitude: pydantic.PositiveFloat = pydantic.Field(
        1e-3, lt=0.5, description="peak pressure perturbation over the ambient pressure"
    )
    width: pydantic.PositiveFloat = pydantic.Field(
        0.1, description="Gaussian width w of the pulse, p' ~ exp(-r^2 / w^2)"
    )
    outflow: Literal["non_reflecting", "zero_gradient"] = pydantic.Field(
        "non_reflecting",
        description="boundary on all four faces: non_reflecting (NonReflecting, "
        "characteristic) or zero_gradient (Outflow)",
    )
    relaxation: pydantic.NonNegativeFloat = pydantic.Field(
        1.0, description="NonReflecting relaxation sigma (K = sigma (1 - M^2) c / L)"
    )
    transverse: float = pydantic.Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="NonReflecting: fraction of the transverse terms taken out of "
        "the incoming wave (0.5: second-order absorbing at rest)",
    )


def acoustic_energy(fields, cell_volume, rho0, c0, p0):
    """`sum (p'^2 / (2 rho0 c0^2) + rho0 |u|^2 / 2) dV` of primitive fields
    `(rho, u, v, p)` (the acoustic energy of linear acoustics)."""
    p = np.asarray(fields[-1]) - p0
    kinetic = sum(np.asarray(u) ** 2 for u in fields[1:-1])
    return float(np.sum(p**2 / (2 * rho0 * c0**2) + 0.5 * rho0 * kinetic) * cell_volume)


@register
class AcousticPulseOutflow(TimeDependentScenario):
    """The pulse starts at rest in the centre of the box (isentropic:
    `rho' = p' / c0^2`), ambient `rho0 = 1`, `p0 = 1 / gamma` (so `c0 = 1`).
    `summary.json`: `reflected_energy_fraction`, the acoustic energy left in
    the box at `t_end` over the initial (with the configured `outflow`), and
    `reflected_energy_fraction_zero_gradient`, the same quantity for the same
    run with zero-gradient `Outflow` (run inside the diagnostics)."""

    name = "acoustic_pulse_outflow"
    description = (
        "Gaussian acoustic pulse leaving a 2D box through characteristic "
        "non-reflecting boundaries, against zero-gradient outflow"
    )
    ndim = 2
    channels = 4  # density, momenta, energy
    steppers = EXPLICIT_STEPPERS
    Physics = AcousticPulsePhysics
    Scheme = EulerScheme
    defaults = {
        **EULER_DEFAULTS,
        "grid": {"cells": [64, 64], "lower": [-1.0, -1.0], "upper": [1.0, 1.0]},
        "time": {"t_end": 3.0, "cfl": 0.4, "snapshots": 6},
    }

    def build(self, ctx: BuildContext) -> Setup:
        config, physics = ctx.config, ctx.physics
        grid = ctx.grid
        g = physics.gamma
        rho0, p0, c0 = 1.0, 1.0 / g, 1.0
        centre = [0.5 * (lo + hi) for lo, hi in zip(grid.lower, grid.upper)]
        X, Y = np.meshgrid(*grid.coordinates, indexing="ij")
        r2 = (X - centre[0]) ** 2 + (Y - centre[1]) ** 2
        dp = physics.amplitude * p0 * np.exp(-r2 / physics.width**2)
        initial = np.stack([rho0 + dp / c0**2, 0 * X, 0 * X, p0 + dp])

        def boundary(kind):
            if kind == "zero_gradient":
                return Outflow()
            return NonReflecting(
                p0,
                relaxation=physics.relaxation,
                density=rho0,
                velocity=[0.0, 0.0],
                transverse=physics.transverse,
                eos=IdealGas(g),
            )

        op = make_euler(grid, config.scheme, g, boundary(physics.outflow))
        volume = grid.cell_volume
        e0 = acoustic_energy(initial, volume, rho0, c0, p0)

        def diagnostics(ts, ys):
            out = {
                "reflected_energy_fraction": acoustic_energy(
                    ys[-1], volume, rho0, c0, p0
                )
                / e0
            }
            if physics.outflow == "zero_gradient":
                out["reflected_energy_fraction_zero_gradient"] = out[
                    "reflected_energy_fraction"
                ]
                return out
            other = make_euler(grid, config.scheme, g, boundary("zero_gradient"))
            y0 = jnp.asarray(initial, dtype=ctx.dtype)
            if config.time.cfl is not None:
                sol = diffsim.solve_cfl(
                    other,
                    ctx.stepper,
                    y0,
                    t1=float(ts[-1]),
                    cfl=config.time.cfl,
                    max_steps=config.time.max_steps * config.time.snapshots,
                )
            else:
                sol = diffsim.solve(
                    other, ctx.stepper, y0, dt=config.dt, num_steps=config.num_steps
                )
            out["reflected_energy_fraction_zero_gradient"] = (
                acoustic_energy(np.asarray(sol.ys[-1]), volume, rho0, c0, p0) / e0
            )
            return out

        return Setup(op, grid, initial, diagnostics=diagnostics)
