"""How reverse-mode differentiation treats the time loop of `solve`."""

from __future__ import annotations

import abc
import math
from typing import Any

import equinox as eqx
import jax
from jax import lax
from jax.extend.core import Literal

from diffsim.operators.internal import checks_own_arguments


class AbstractAdjoint(eqx.Module):
    """Strategy for looping `body` `n` times so that it can be differentiated."""

    @abc.abstractmethod
    def loop(self, body, carry, n: int) -> Any:
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


class MemoryBudgetError(ValueError):
    """No checkpointing plan fits `CheckpointAdjoint`'s `memory_budget`."""


@checks_own_arguments
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
    checkpointing (like `DirectAdjoint`).

    With `memory_budget` (bytes) the plan is chosen to fit it: the fewest
    levels (the least recomputation) whose best blocking is predicted to fit,
    or, with `levels` given as well, that many levels, and a `ValueError` when
    no plan fits. `plan(body, carry, n)` returns the plan `loop` runs: block
    sizes, predicted peak bytes and recomputation factor. The budget bounds
    one `loop` call (in `solve`, the steps between two saved states); what
    the rest of the program holds (initial data, stepper coefficients and,
    when they are differentiated, their cotangents) comes on top: subtract
    it, e.g. the compiled memory of a one-step gradient, as
    `benchmarks/adjoints.py --memory-budget` does. The prediction is an
    upper estimate (it counts every state-dependent residual `jax.vjp`
    keeps; XLA stores some more compactly).

    **Arguments:**

    - `levels`: number of nesting levels; `None` is 2 without a budget and
      the fewest that fit with one.
    - `memory_budget`: peak bytes of the reverse pass, or `None` (unbounded).
    """

    levels: int | None = eqx.field(static=True, default=None)
    memory_budget: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.levels is not None and (
            isinstance(self.levels, bool)
            or not isinstance(self.levels, int)
            or self.levels < 1
        ):
            raise ValueError(
                "CheckpointAdjoint: levels must be an int >= 1 (or None), got "
                f"{self.levels!r}"
            )
        budget = self.memory_budget
        if budget is not None and (
            isinstance(budget, bool)
            or not isinstance(budget, (int, float))
            or not math.isfinite(budget)
            or budget <= 0
        ):
            raise ValueError(
                "CheckpointAdjoint: memory_budget must be a positive finite number "
                f"of bytes (or None), got {budget!r}"
            )

    def plan(self, body, carry, n: int) -> CheckpointPlan:
        """The checkpointing plan `loop(body, carry, n)` uses.

        **Arguments:**

        - `body`: one step, `carry -> carry`.
        - `carry`: the state (arrays or shape-dtype structs).
        - `n`: number of steps (a non-negative int).

        **Returns:** a `CheckpointPlan`. Raises `MemoryBudgetError` (a
        `ValueError`) if `memory_budget` is given and no plan is predicted to fit it.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(
                f"CheckpointAdjoint.plan: n must be a non-negative int, got {n!r}"
            )
        state, residuals = step_bytes(body, carry)
        return plan_checkpoints(
            n, state, residuals, levels=self.levels, memory_budget=self.memory_budget
        )

    def loop(self, body, carry, n):
        if n == 0:
            return carry
        return _run(body, carry, n, self.plan(body, carry, n).blocks)


class CheckpointPlan(eqx.Module):
    """How `CheckpointAdjoint` splits `n` steps, and what that is predicted to cost.

    - `levels`: nesting levels (1: every step's residuals stored, no recomputation).
    - `blocks`: steps per block at each checkpointed level, innermost first
      (`len(blocks) == levels - 1`): the innermost blocks store every step's
      residuals, each outer level stores the state at the start of each of its blocks.
    - `predicted_bytes`: peak bytes of the reverse pass: `blocks[0]` steps'
      residuals, the states stored by every level, and the working set of
      one step's backward pass (see `plan_checkpoints`).
    - `recompute_factor`: forward steps evaluated per step of the rollout in
      one gradient (1 with no checkpointing, about `levels` with).
    - `state_bytes`, `residual_bytes`: one state, one step's residuals.
    - `memory_budget`: the budget planned for, or None.
    """

    n: int
    levels: int
    blocks: tuple[int, ...]
    predicted_bytes: int
    recompute_factor: float
    state_bytes: int
    residual_bytes: int
    memory_budget: float | None = None

    def __str__(self):
        budget = (
            ""
            if self.memory_budget is None
            else f" (budget {format_bytes(self.memory_budget)})"
        )
        return (
            f"checkpointing {self.n} steps: {self.levels} "
            f"level{'s' if self.levels != 1 else ''}, "
            f"blocks {list(self.blocks)}, predicted peak "
            f"{format_bytes(self.predicted_bytes)}{budget}, "
            f"recomputation x{self.recompute_factor:.2f}"
        )


def format_bytes(b) -> str:
    """`1.5 GiB`-style text for a byte count."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= size:
            return f"{b / size:.3g} {unit}"
    return f"{int(b)} B"


def _nbytes(tree) -> int:
    return sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def step_bytes(body, carry) -> tuple[int, int]:
    """`(S, R)`: bytes of one state and of the residuals one step of `body`
    stores for its backward pass that depend on the state (residuals that do
    not, such as closed-over coefficients, are stored once, not per step)."""
    state = _nbytes(carry)
    closed = jax.make_jaxpr(lambda c: jax.tree.leaves(jax.vjp(body, c)[1]))(carry)
    jaxpr = closed.jaxpr
    varying = set(jaxpr.invars)
    for eqn in jaxpr.eqns:
        if any(not isinstance(v, Literal) and v in varying for v in eqn.invars):
            varying.update(eqn.outvars)
    seen, residuals = set(), 0
    for v in jaxpr.outvars:
        if not isinstance(v, Literal) and v in varying and v not in seen:
            seen.add(v)
            residuals += math.prod(v.aval.shape) * v.aval.dtype.itemsize
    return state, residuals


def leaf_steps(body, carry, n, levels) -> int:
    """Steps per innermost (residual-storing) block; see `CheckpointAdjoint`."""
    if levels <= 1:
        return n
    state, residuals = step_bytes(body, carry)
    return _balanced_leaf(n, levels, state, residuals)


def _balanced_leaf(n, levels, state, residuals) -> int:
    ratio = state / residuals if state and residuals else 1.0
    leaf = n ** (1.0 / levels) * ratio ** ((levels - 1) / levels)
    return max(1, min(n, round(leaf)))


def near_divisor(n: int, size: int) -> int:
    """A divisor of `n` within a factor of 2 of `size` (the nearest in ratio),
    else `size`: with no remainder block, the step is compiled once per
    level instead of twice (the remainder is a separate copy of it)."""
    candidates = [
        d for d in range(max(1, size // 2), min(n, 2 * size) + 1) if n % d == 0
    ]
    return (
        min(candidates, key=lambda d: abs(math.log(d / size))) if candidates else size
    )


def _blocks(n, levels, leaf) -> tuple[int, ...]:
    """Block sizes, innermost first, of `levels` nested levels over `n` steps
    with innermost blocks of about `leaf` steps (equal ratios between levels)."""
    if levels <= 1 or n <= leaf:
        return ()
    block = (
        leaf
        if levels == 2
        else leaf * math.ceil((n / leaf) ** ((levels - 2) / (levels - 1)))
    )
    block = min(n, near_divisor(n, block))
    return (*_blocks(block, levels - 1, leaf), block)


def _cost(n, blocks, state, residuals) -> tuple[int, int]:
    """(stored bytes at the peak, forward step evaluations) of the reverse pass
    of `_run(body, carry, n, blocks)`."""
    if not blocks or n <= blocks[-1]:
        if blocks:
            return _cost(n, blocks[:-1], state, residuals)
        return n * residuals, n
    block = blocks[-1]
    count, rest = divmod(n, block)
    inner_bytes, inner_steps = _cost(block, blocks[:-1], state, residuals)
    stored = (count + (rest > 0)) * state
    peak, steps = inner_bytes, n + count * inner_steps
    if rest:
        rest_bytes, rest_steps = _cost(rest, blocks[:-1], state, residuals)
        peak, steps = max(peak, rest_bytes), steps + rest_steps
    return stored + peak, steps


#: Bytes of the working set of one step's backward pass beyond the stored
#: residuals and states, in units of (one step's residuals, one state): the
#: step's cotangents and temporaries, the carry and its cotangent.
_WORKING_SET = (1.0, 4.0)


def plan_checkpoints(
    n: int,
    state_bytes: int,
    residual_bytes: int,
    *,
    levels: int | None = None,
    memory_budget: float | None = None,
) -> CheckpointPlan:
    """The `CheckpointAdjoint` plan for `n` steps of a step with state bytes
    `S` and residual bytes `R` (see `step_bytes`).

    Without a budget: `levels` (default 2) with the balanced blocking of
    `CheckpointAdjoint`. With one: for each number of levels from 1 (or only
    `levels`, if given), the blocking with the least predicted memory among
    the balanced one and innermost blocks of 1, 2, 4, ... steps; the first
    that fits is chosen. More levels need less memory and more
    recomputation; the nesting stops at `ceil(log2 n) + 1` levels (blocks of
    2), beyond which nothing is saved.

    **Returns:** a `CheckpointPlan`; raises `MemoryBudgetError` (a
    `ValueError`) naming the budget and the least memory any plan needs when
    none fits.
    """
    working = _WORKING_SET[0] * residual_bytes + _WORKING_SET[1] * state_bytes

    def make(lv, blocks):
        stored, steps = _cost(n, blocks, state_bytes, residual_bytes)
        return CheckpointPlan(
            n=n,
            levels=len(blocks) + 1,
            blocks=blocks,
            predicted_bytes=int(stored + working),
            recompute_factor=steps / n if n else 1.0,
            state_bytes=state_bytes,
            residual_bytes=residual_bytes,
            memory_budget=memory_budget,
        )

    if memory_budget is None:
        lv = 2 if levels is None else levels
        return make(
            lv,
            _blocks(n, lv, _balanced_leaf(n, lv, state_bytes, residual_bytes))
            if lv > 1
            else (),
        )
    most = max(1, math.ceil(math.log2(max(n, 1))) + 1)
    choices = [levels] if levels is not None else range(1, most + 1)
    best = None
    for lv in choices:
        leaves = {_balanced_leaf(n, lv, state_bytes, residual_bytes)} | {
            2**k for k in range(max(1, n).bit_length())
        }
        plans = [
            make(lv, _blocks(n, lv, leaf) if lv > 1 else ())
            for leaf in sorted(leaves)
            if leaf <= max(n, 1)
        ]
        plan = min(
            plans, key=lambda p: (p.predicted_bytes, p.recompute_factor, p.blocks)
        )
        if plan.predicted_bytes <= memory_budget:
            return plan
        best = (
            plan
            if best is None or plan.predicted_bytes < best.predicted_bytes
            else best
        )
    assert best is not None  # choices is never empty
    # the deepest nesting may not be the smallest: report the least over all levels
    if levels is None:
        message = (
            f"needs at least {format_bytes(best.predicted_bytes)} ({best.levels} "
            f"levels, blocks {list(best.blocks)})"
        )
    else:
        message = (
            f"needs at least {format_bytes(best.predicted_bytes)} with levels={levels}"
        )
    raise MemoryBudgetError(
        f"CheckpointAdjoint: memory_budget={memory_budget:.4g} bytes "
        f"({format_bytes(memory_budget)}) is too small for "
        f"{n} steps (state {format_bytes(state_bytes)}, residuals "
        f"{format_bytes(residual_bytes)} per step): the reverse pass {message}"
    )


def _run(body, carry, n, blocks):
    """`n` steps of `body`, nested as `blocks` (innermost first): the
    outermost level scans `jax.checkpoint`ed blocks of `blocks[-1]` steps."""
    if n == 0:
        return carry
    if not blocks or n <= blocks[-1]:
        if blocks:
            return _run(body, carry, n, blocks[:-1])
        carry, _ = lax.scan(lambda c, _: (body(c), None), carry, None, length=n)
        return carry
    block, inner = blocks[-1], blocks[:-1]
    count, rest = divmod(n, block)
    step = jax.checkpoint(lambda c: _run(body, c, block, inner))
    carry, _ = lax.scan(lambda c, _: (step(c), None), carry, None, length=count)
    if rest:
        carry = jax.checkpoint(lambda c: _run(body, c, rest, inner))(carry)
    return carry
