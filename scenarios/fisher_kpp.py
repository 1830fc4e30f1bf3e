"""A Fisher-KPP front invading the unstable state: the measured speed against
the asymptotic `2 sqrt(D r)`."""

from __future__ import annotations

import numpy as np
import pydantic

from diffsim.jobs import (
    BuildContext,
    ConfigError,
    FiniteVolumeScheme,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    grid_from,
    register,
)
from diffsim.operators import Dirichlet
from diffsim.operators.physics.fisher_kpp import FisherKPP


class Physics(PhysicsConfig):
    diffusivity: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="diffusion coefficient D"
    )
    rate: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="logistic growth rate r"
    )
    front_position: float = pydantic.Field(
        10.0, description="initial step: u = 1 left of it, u = 0 beyond"
    )


def front_positions(ys, x, level: float = 0.5) -> np.ndarray:
    """Where each profile `ys[i]` (shape `cells`, decreasing through `level`
    once) crosses `level`: the last cell at or above it and its right
    neighbour, linearly interpolated. NaN where there is no crossing."""
    ys = np.asarray(ys)
    out = np.full(ys.shape[0], np.nan)
    for i, u in enumerate(ys):
        above = np.nonzero(u >= level)[0]
        if above.size == 0 or above[-1] + 1 >= u.size:
            continue
        j = above[-1]
        out[i] = x[j] + (u[j] - level) / (u[j] - u[j + 1]) * (x[j + 1] - x[j])
    return out


def front_speed(ts, ys, x, level: float = 0.5) -> float:
    """The speed of the `level` crossing, by a least-squares line through its
    positions over the second half of the run (`t >= t_end / 2`)."""
    ts = np.asarray(ts, dtype=np.float64)
    pos = front_positions(ys, x, level)
    keep = (ts >= ts[-1] / 2) & np.isfinite(pos)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(ts[keep], pos[keep], 1)[0])


@register
class FisherKPPFront(TimeDependentScenario):
    name = "fisher_kpp_front"
    description = (
        "Fisher-KPP u_t = D u_xx + r u (1 - u) from a step: a front invading u = 0 "
        "at the asymptotic speed 2 sqrt(D r)"
    )
    ndim = 1
    cfl_steps = False  # diffusion-limited fixed time.dt
    discretizations = ("finite_difference", "finite_volume")
    Physics = Physics
    Scheme = FiniteVolumeScheme  # for discretization: finite_volume
    defaults = {
        "grid": {"cells": [600], "lower": [0.0], "upper": [120.0]},
        "time": {"t_end": 40.0, "dt": 0.01, "snapshots": 80},
        "stepper": "rk4",
        # u = 1 behind the front, u = 0 ahead (zero gradient: kind neumann)
        "boundary": {
            "x": {
                "lower": {"kind": "dirichlet", "value": 1.0},
                "upper": {"kind": "dirichlet", "value": 0.0},
            }
        },
    }

    @classmethod
    def validate(cls, config, physics):
        grid = grid_from(config)
        if not grid.lower[0] < physics.front_position < grid.upper[0]:
            raise ConfigError(
                "physics.front_position",
                f"must lie inside the domain ({grid.lower[0]}, {grid.upper[0]})",
            )

    def build(self, ctx: BuildContext) -> Setup:
        physics = ctx.physics
        self.validate(ctx.config, physics)
        grid = ctx.grid
        model = FisherKPP(diffusivity=physics.diffusivity, rate=physics.rate)
        # u = 1 behind the front, u = 0 ahead (as in `defaults`); the
        # `boundary:` section replaces them (e.g. zero gradient: kind neumann)
        op = ctx.discretize(model, boundary=[(Dirichlet(1.0), Dirichlet(0.0))])
        (x,) = grid.coordinates
        u0 = np.where(x < physics.front_position, 1.0, 0.0)
        theory = float(model.front_speed_theory())

        def diagnostics(ts, ys):
            return {
                "front_speed": front_speed(ts, ys[:, 0], x),
                "front_speed_theory": theory,
            }

        return Setup(op, grid, u0[None], diagnostics=diagnostics)
