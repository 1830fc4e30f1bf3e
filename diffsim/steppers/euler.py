from __future__ import annotations

from typing import ClassVar

from ._base import AbstractStepper


class ForwardEuler(AbstractStepper):
    """Explicit Euler, first order. For tests and as a baseline."""

    order: ClassVar[int] = 1

    def step(self, operator, state, t, dt, cache):
        return state + dt * operator(state, t)
