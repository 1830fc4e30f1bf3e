"""A bright soliton of the focusing nonlinear Schrodinger equation, against
the exact solution."""

from __future__ import annotations

import numpy as np
import pydantic

from diffsim.jobs import (
    BuildContext,
    ConfigError,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    register,
)
from diffsim.operators.physics import NonlinearSchrodinger


class Physics(PhysicsConfig):
    kappa: pydantic.PositiveFloat = pydantic.Field(
        1.0,
        description="focusing coefficient in i psi_t + psi_xx / 2 + kappa |psi|^2 "
        "psi = 0",
    )
    amplitude: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="a: the soliton is (a / sqrt(kappa)) sech(a (x - x0 - c t))"
    )
    velocity: float = pydantic.Field(0.5, description="c: the soliton's speed")
    x0: float = pydantic.Field(0.0, description="initial centre of the soliton")


def soliton(x, t, *, kappa, amplitude, velocity, x0, period):
    """`(a / sqrt(kappa)) sech(a (x - x0 - c t)) exp(i (c x + (a^2 - c^2) t / 2))`,
    exact on the line; summed over the periodic images within two periods
    (the images' tails are what a periodic domain adds)."""
    x = np.asarray(x, dtype=np.float64)
    a, c = amplitude, velocity
    envelope = sum(
        1.0 / np.cosh(a * (x - x0 - c * t - n * period)) for n in range(-2, 3)
    )
    phase = np.exp(1j * (c * x + 0.5 * (a * a - c * c) * t))
    return a / np.sqrt(kappa) * envelope * phase


@register
class NLSSoliton(TimeDependentScenario):
    name = "nls_soliton"
    description = (
        "Nonlinear Schrodinger i psi_t + psi_xx / 2 + kappa |psi|^2 psi = 0: a "
        "travelling bright soliton (exact solution, complex field)"
    )
    ndim = 1
    cfl_steps = False  # dispersion integrated exactly: fixed time.dt
    discretizations = NonlinearSchrodinger.discretizations  # discretization: choices
    Physics = Physics
    defaults = {
        "grid": {"cells": [512], "lower": [-10 * np.pi], "upper": [10 * np.pi]},
        "time": {"t_end": 10.0, "dt": 2e-3, "snapshots": 50},
        "stepper": "etdrk4",
    }

    @classmethod
    def validate(cls, config, physics) -> None:
        length = config.grid.upper[0] - config.grid.lower[0]
        turns = physics.velocity * length / (2 * np.pi)
        if abs(turns - round(turns)) > 1e-9:
            raise ConfigError(
                "physics.velocity",
                f"the carrier exp(i c x) must be periodic on the grid: c L / (2 pi) "
                f"must be an integer, got {turns:.6g} (L = {length:.6g})",
            )

    def build(self, ctx: BuildContext) -> Setup:
        p = ctx.physics
        grid = ctx.grid
        (x,) = grid.coordinates
        params = dict(
            kappa=p.kappa,
            amplitude=p.amplitude,
            velocity=p.velocity,
            x0=p.x0,
            period=grid.lengths[0],
        )

        def exact(t):
            return soliton(x, t, **params)[None]

        def diagnostics(ts, ys):
            mass = np.sum(np.abs(ys) ** 2, axis=tuple(range(1, ys.ndim)))
            mass = mass * grid.cell_volume
            return {
                "mass_initial": float(mass[0]),
                "mass_drift": float(np.max(np.abs(mass - mass[0])) / mass[0]),
            }

        op = ctx.discretize(NonlinearSchrodinger(kappa=p.kappa))
        return Setup(op, grid, exact(0.0), exact, diagnostics=diagnostics)
