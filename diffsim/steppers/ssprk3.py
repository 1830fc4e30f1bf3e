from __future__ import annotations

from typing import ClassVar

from ._base import AbstractStepper


class SSPRK3(AbstractStepper):
    """Three-stage, third-order strong-stability-preserving Runge-Kutta
    (Shu & Osher 1988), written as convex combinations of Euler steps."""

    order: ClassVar[int] = 3

    def step(self, operator, state, t, dt, cache):
        u1 = state + dt * operator(state, t)
        u2 = 0.75 * state + 0.25 * (u1 + dt * operator(u1, t + dt))
        return state / 3.0 + 2.0 / 3.0 * (u2 + dt * operator(u2, t + 0.5 * dt))
