"""The stepper interface."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import equinox as eqx

from diffsim.operators import AbstractOperator


class AbstractStepper(eqx.Module):
    """Advances `d state/dt = operator(state, t)` by one step of size `dt`.

    `init` computes whatever depends on the operator and `dt` but not on the
    state (ETDRK coefficients, for instance) once per solve, outside the time
    loop; `step` is called inside it.
    """

    order: ClassVar[int]

    def init(self, operator: AbstractOperator, dt) -> Any:
        """Per-solve precomputation; explicit Runge-Kutta steppers need none."""
        return None

    @abc.abstractmethod
    def step(self, operator: AbstractOperator, state, t, dt, cache):
        """The state at `t + dt`."""
