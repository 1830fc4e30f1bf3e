"""Fixed-step time integration: `solve`."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Inexact

from operators import AbstractOperator

from ._adjoint import AbstractAdjoint, DirectAdjoint
from ._backward_probe import active_marker
from .steppers import AbstractStepper


class SaveAt(eqx.Module):
    """Which states `solve` returns.

    - `ts`: absolute times (each must be `t0 + k dt` for an integer k); or
    - `steps`: step indices `k` in `[0, num_steps]`; or
    - `every`: every `every`-th step, starting with step `every`.
    `t0=True` adds the initial state, `t1=True` (default) the final one.
    """

    ts: tuple[float, ...] | None = eqx.field(static=True, default=None)
    steps: tuple[int, ...] | None = eqx.field(static=True, default=None)
    every: int | None = eqx.field(static=True, default=None)
    t0: bool = eqx.field(static=True, default=False)
    t1: bool = eqx.field(static=True, default=True)

    def __init__(self, *, ts=None, steps=None, every=None, t0=False, t1=True):
        self.ts = None if ts is None else tuple(float(t) for t in np.ravel(ts))
        self.steps = None if steps is None else tuple(int(s) for s in steps)
        self.every = every
        self.t0 = t0
        self.t1 = t1

    def __check_init__(self):
        given = [x is not None for x in (self.ts, self.steps, self.every)]
        if sum(given) > 1:
            raise ValueError("SaveAt: give at most one of ts, steps, every")
        if self.every is not None and self.every < 1:
            raise ValueError(f"SaveAt: every must be >= 1, got {self.every}")

    def resolve(self, num_steps: int, t0, dt) -> tuple[int, ...]:
        """The sorted step indices to save."""
        steps: set[int] = set()
        if self.ts is not None:
            try:
                t0f, dtf = float(t0), float(dt)
            except (TypeError, jax.errors.ConcretizationTypeError):
                raise ValueError("SaveAt(ts=...) needs concrete t0 and dt; use SaveAt(steps=...) under jit") from None
            for t in self.ts:
                k = (t - t0f) / dtf
                if abs(k - round(k)) > 1e-6 * max(1.0, abs(k)):
                    raise ValueError(f"SaveAt: time {t} is not on the step grid t0 + k*dt (t0={t0f}, dt={dtf})")
                steps.add(round(k))
        if self.steps is not None:
            steps.update(self.steps)
        if self.every is not None:
            steps.update(range(self.every, num_steps + 1, self.every))
        if self.t0:
            steps.add(0)
        if self.t1:
            steps.add(num_steps)
        bad = [s for s in steps if not 0 <= s <= num_steps]
        if bad:
            raise ValueError(f"SaveAt: steps {sorted(bad)} lie outside [0, num_steps={num_steps}]")
        return tuple(sorted(steps))


class Solution(eqx.Module):
    """Output of `solve` and `solve_cfl`: saved times `ts`, shape
    `(num_saves,)`, physical fields `ys`, shape `(num_saves, channels, *cells)`,
    and the number of steps taken (an int for fixed steps, an array for CFL
    stepping, where it is only known at run time)."""

    ts: Array
    ys: Inexact[Array, "saves channels *cells"]
    num_steps: Array | int


def solve(
    operator: AbstractOperator,
    stepper: AbstractStepper,
    y0: Inexact[Array, "channels *cells"],
    *,
    dt,
    num_steps: int,
    t0=0.0,
    saveat: SaveAt = SaveAt(),
    adjoint: AbstractAdjoint = DirectAdjoint(),
    stepper_cache=None,
) -> Solution:
    """Integrate `d y/dt = operator(y, t)` with `num_steps` fixed steps of size `dt`.

    `y0` holds physical fields; the loop runs on the operator's internal state
    (`operator.encode`), and saved states are decoded back. `num_steps` and
    `saveat` are static; `t0`, `dt`, `y0` and every array inside `operator`
    may be traced, so `solve` works under `jax.jit`, `jax.vmap`, `jax.grad`
    and `jax.jvp`. Recompilation happens only when static things change.

    `stepper_cache` is the result of `stepper.init(operator, dt)`; pass it when
    a long run is split into several `solve` calls so that per-solve work
    (ETDRK coefficients) is done once.

    Snapshots are taken with nested scans: the gaps between saved steps are
    grouped into runs of equal length, and each run is one `lax.scan` whose
    body advances one gap with `adjoint.loop`.
    """
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 0:
        raise ValueError(f"solve: num_steps must be a non-negative int, got {num_steps!r}")
    num_steps = int(num_steps)
    save_steps = saveat.resolve(num_steps, t0, dt)
    # With a concrete operator and dt (the common case under jit), the stepper
    # coefficients are computed once while tracing and become constants of the
    # compiled program instead of being recomputed on every call; traced
    # operators (gradients w.r.t. physical parameters) fall back to tracing.
    with jax.ensure_compile_time_eval():
        t0 = jnp.asarray(t0, dtype=jnp.result_type(float))
        dt = jnp.asarray(dt, dtype=jnp.result_type(float))
        cache = stepper.init(operator, dt) if stepper_cache is None else stepper_cache

    def body(carry):
        state, k = carry
        return mark(stepper.step(operator, state, t0 + k * dt, dt, cache), k + 1), k + 1

    # Diagnostic hook (`_backward_probe.py`): only inside `probing()` at trace
    # time is each state marked so that the backward pass reports whether its
    # cotangent is finite; otherwise `mark` is the identity and adds nothing.
    marker = active_marker(num_steps)

    def mark(state, k):
        return state if marker is None else marker(state, k, t0 + k * dt)

    carry = (mark(operator.encode(y0), 0), jnp.asarray(0, dtype=jnp.int32))
    saved = []
    if save_steps and save_steps[0] == 0:
        saved.append(operator.decode(carry[0])[None])
    gaps = [g for g in np.diff([0, *save_steps]).tolist() if g > 0]
    for gap, run in itertools.groupby(gaps):
        count = len(list(run))

        def segment(c, _, gap=gap):
            c = adjoint.loop(body, c, gap)
            return c, operator.decode(c[0])

        carry, ys = lax.scan(segment, carry, None, length=count)
        saved.append(ys)
    if not saved:
        raise ValueError("solve: SaveAt selects no state to return")
    ts = t0 + dt * jnp.asarray(save_steps, dtype=dt.dtype)
    return Solution(ts=ts, ys=jnp.concatenate(saved), num_steps=num_steps)


def solve_cfl(
    operator: AbstractOperator,
    stepper: AbstractStepper,
    y0: Inexact[Array, "channels *cells"],
    *,
    t1,
    cfl: float,
    max_steps: int,
    t0=0.0,
    saveat: SaveAt = SaveAt(),
    adjoint: AbstractAdjoint = DirectAdjoint(),
    throw: bool = True,
) -> Solution:
    """Integrate from `t0` to `t1` with the step chosen each step from the CFL
    condition, `dt = operator.stable_dt(state, cfl)`, clipped so that every
    save time and `t1` itself are hit exactly.

    `saveat` takes `ts` (absolute times in `[t0, t1]`), `t0` and `t1`. Each
    interval between save times is a bounded loop of at most `max_steps`
    steps (steps past the interval's end are skipped with `lax.cond`), run by
    `adjoint.loop`: no unbounded `while_loop`, so reverse mode works, with
    bounded memory under `CheckpointAdjoint`. `t0` and `t1` may be traced.

    If an interval is not finished within `max_steps` steps, or the state
    becomes non-finite so that no step can be taken, `throw=True` raises at
    run time (`eqx.error_if`); with `throw=False` check `ts` against the
    requested times yourself: the returned `ts` are the times actually reached.
    """
    if not hasattr(operator, "stable_dt"):
        raise TypeError(f"solve_cfl needs an operator with stable_dt(state, cfl); {type(operator).__name__} has none")
    if not (isinstance(max_steps, (int, np.integer)) and max_steps >= 1):
        raise ValueError(f"solve_cfl: max_steps must be a positive int, got {max_steps!r}")
    if saveat.steps is not None or saveat.every is not None:
        raise ValueError("solve_cfl: step counts are not known in advance; save at times (SaveAt(ts=...)) instead")
    dtype = jnp.result_type(float)
    t0 = jnp.asarray(t0, dtype=dtype)
    t1 = jnp.asarray(t1, dtype=dtype)
    targets = [jnp.asarray(t, dtype=dtype) for t in (saveat.ts or ())]
    if saveat.t1:
        targets.append(t1)
    if not targets and not saveat.t0:
        raise ValueError("solve_cfl: SaveAt selects no state to return")
    targets = jnp.stack(targets) if targets else jnp.zeros((0,), dtype)

    def body(carry, target):
        state, t, k = carry

        def step(carry):
            state, t, k = carry
            stable = operator.stable_dt(state, cfl)
            last = stable >= target - t
            dt = jnp.where(last, target - t, stable)
            state = stepper.step(operator, state, t, dt, stepper.init(operator, dt))
            return state, jnp.where(last, target, t + dt), k + 1

        return lax.cond(t < target, step, lambda c: c, carry)

    def segment(carry, target):
        carry = adjoint.loop(lambda c: body(c, target), carry, int(max_steps))
        return carry, (carry[1], operator.decode(carry[0]))

    state0 = operator.encode(y0)
    carry = (state0, t0, jnp.asarray(0, dtype=jnp.int32))
    carry, (ts, ys) = lax.scan(segment, carry, targets)
    if saveat.t0:
        ts = jnp.concatenate([t0[None], ts])
        ys = jnp.concatenate([operator.decode(state0)[None], ys])
    if throw and targets.shape[0]:
        ys = eqx.error_if(
            ys,
            jnp.any(ts[-targets.shape[0]:] < targets),
            f"solve_cfl: a save time was not reached within max_steps={max_steps} steps "
            "(or the state became non-finite); raise max_steps or check the data",
        )
    return Solution(ts=ts, ys=ys, num_steps=carry[2])
