from __future__ import annotations

from typing import ClassVar

from ._base import AbstractStepper


class RK4(AbstractStepper):
    """The classical four-stage, fourth-order Runge-Kutta method."""

    order: ClassVar[int] = 4

    def step(self, operator, state, t, dt, cache):
        k1 = operator(state, t)
        k2 = operator(state + 0.5 * dt * k1, t + 0.5 * dt)
        k3 = operator(state + 0.5 * dt * k2, t + 0.5 * dt)
        k4 = operator(state + dt * k3, t + dt)
        return state + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
