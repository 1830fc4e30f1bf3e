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
    """Reverse mode with nested checkpointing (Griewank & Walther 2000).

    The `n` steps are grouped into blocks of `leaf` steps, differentiated with
    every step's residuals stored, and the blocks into `levels - 1` levels of
    `jax.checkpoint`ed groups whose starting states are stored and which are
    recomputed during the backward pass (about `levels - 1` extra forward
    passes). Peak memory: `leaf` steps' residuals plus about
    `(levels - 1) (n / leaf)^(1 / (levels - 1))` states.

    `leaf` balances the two terms: with `R` the bytes of one step's residuals
    and `S` those of one state (both read off the traced step, `R` from
    `jax.vjp` under `jax.eval_shape`), `leaf = n^(1/levels) (S / R)^((levels -
    1) / levels)`, which minimizes the sum. For `levels=2` that is
    `sqrt(n S / R)` steps per block and `sqrt(n R / S)` stored states: where a
    step's residuals are many states' worth (a WENO finite-volume step stores
    ~25), the plain square-root split (`sqrt(n)` of each) would need several
    times the memory for the same single recomputation. `levels=1`: no
    checkpointing (like `DirectAdjoint`)."""

    levels: int = eqx.field(static=True, default=2)

    def __check_init__(self):
        if self.levels < 1:
            raise ValueError(f"CheckpointAdjoint: levels must be >= 1, got {self.levels}")

    def loop(self, body, carry, n):
        if n == 0:
            return carry
        return _nested(body, carry, n, self.levels, _leaf_steps(body, carry, n, self.levels))


def _nbytes(tree) -> int:
    return sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def _leaf_steps(body, carry, n, levels) -> int:
    """Steps per innermost (residual-storing) block; see `CheckpointAdjoint`."""
    if levels <= 1:
        return n
    state = _nbytes(carry)
    residuals = _nbytes(jax.eval_shape(lambda c: jax.vjp(body, c)[1], carry))
    ratio = state / residuals if state and residuals else 1.0
    leaf = n ** (1.0 / levels) * ratio ** ((levels - 1) / levels)
    return max(1, min(n, round(leaf)))


def _near_divisor(n: int, size: int) -> int:
    """A divisor of `n` within a factor of 2 of `size` (the nearest in ratio),
    else `size`: with no remainder block, the step is compiled once per
    level instead of twice (the remainder is a separate copy of it)."""
    candidates = [d for d in range(max(1, size // 2), min(n, 2 * size) + 1) if n % d == 0]
    return min(candidates, key=lambda d: abs(math.log(d / size))) if candidates else size


def _nested(body, carry, n, levels, leaf):
    if n == 0:
        return carry
    if levels <= 1 or n <= leaf:
        carry, _ = lax.scan(lambda c, _: (body(c), None), carry, None, length=n)
        return carry
    # blocks of `leaf` steps at the level above the leaves, groups of blocks above that
    block = leaf if levels == 2 else leaf * math.ceil((n / leaf) ** ((levels - 2) / (levels - 1)))
    block = _near_divisor(n, block)
    count, rest = divmod(n, block)
    inner = jax.checkpoint(lambda c: _nested(body, c, block, levels - 1, leaf))
    carry, _ = lax.scan(lambda c, _: (inner(c), None), carry, None, length=count)
    if rest:
        carry = jax.checkpoint(lambda c: _nested(body, c, rest, levels - 1, leaf))(carry)
    return carry
