"""How reverse-mode differentiation treats the time loop of `solve`."""

from __future__ import annotations

import abc
import math

import equinox as eqx
import jax
from jax import lax


class AbstractAdjoint(eqx.Module):
    """Strategy for looping `body` `n` times so that it can be differentiated."""

    @abc.abstractmethod
    def loop(self, body, carry, n: int):
        """`body` applied `n` times (n static) to `carry`."""


class DirectAdjoint(AbstractAdjoint):
    """Plain `lax.scan`: reverse mode stores every step's residuals (memory grows
    linearly with the number of steps, no recomputation). Forward mode
    (`jax.jvp`, `jax.jacfwd`) works through it with no stored residuals."""

    def loop(self, body, carry, n):
        if n == 0:
            return carry
        carry, _ = lax.scan(lambda c, _: (body(c), None), carry, None, length=n)
        return carry


class CheckpointAdjoint(AbstractAdjoint):
    """Reverse mode with nested checkpointing: `n` steps are split into about
    `n^(1/levels)` blocks per level and each block is recomputed during the
    backward pass (`jax.checkpoint`). Peak memory grows like
    `levels * n^(1/levels)` states instead of `n`, for about `levels` extra
    forward passes (Griewank & Walther 2000; levels=2 is the classical
    square-root checkpointing)."""

    levels: int = eqx.field(static=True, default=2)

    def __check_init__(self):
        if self.levels < 1:
            raise ValueError(f"CheckpointAdjoint: levels must be >= 1, got {self.levels}")

    def loop(self, body, carry, n):
        return _nested(body, carry, n, self.levels)


def _nested(body, carry, n, levels):
    if n == 0:
        return carry
    if levels <= 1 or n <= 2:
        carry, _ = lax.scan(lambda c, _: (body(c), None), carry, None, length=n)
        return carry
    block = math.ceil(n ** ((levels - 1) / levels))
    count, rest = divmod(n, block)
    inner = jax.checkpoint(lambda c: _nested(body, c, block, levels - 1))
    carry, _ = lax.scan(lambda c, _: (inner(c), None), carry, None, length=count)
    if rest:
        carry = jax.checkpoint(lambda c: _nested(body, c, rest, levels - 1))(carry)
    return carry
