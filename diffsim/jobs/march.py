"""The one run path: how a run advances from snapshot to snapshot.

- A step rule (`FixedSteps`, `CFLSteps`) says how one member advances over
  one snapshot interval (`interval`, traceable) and by one step (`step`, for
  locating a failure).
- `March` compiles a rule's interval once for one operator (sharded or
  not); `BatchedMarch` wraps the same rule in `eqx.filter_vmap` over the
  members of a `diffsim.Ensemble`. Both have `advance(y, t0, t1) -> (y,
  steps)` and `failure(...)`, which locates the first non-physical step.
- `march_snapshots` is the snapshot loop with its progress bar, for either.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from tqdm.auto import tqdm

from diffsim.operators import AbstractConstrainedOperator

from .. import Ensemble, RunError, compile_ahead, solve, solve_cfl
from ..internal import to_host

# ---------------------------------------------------------------- physical states


def find_violation(
    fields, names, constrained: AbstractConstrainedOperator | None = None
) -> str | None:
    """The first field and cell that is NaN or Inf or, for an operator with
    physical constraints (`AbstractConstrainedOperator`, e.g. `Euler`), the
    first constrained quantity (density, pressure) that is not strictly
    positive, as a message; None when the fields are physical."""
    # a gather (every process calls this) when sharded over processes
    fields = to_host(fields)
    for channel, name in enumerate(names):
        values = fields[channel]
        bad = ~np.isfinite(values)
        if bad.any():
            cell = tuple(int(c) for c in np.argwhere(bad)[0])
            return f"field '{name}' is {values[cell]:.6g} at cell {cell}"
    if constrained is not None:
        values = np.asarray(constrained.positive_values(jnp.asarray(fields)))
        for name, quantity in zip(constrained.positive_quantities, values):
            bad = ~(quantity > 0)
            if bad.any():
                cell = tuple(int(c) for c in np.argwhere(bad)[0])
                what = "field" if name in names else "quantity"
                return (
                    f"{what} '{name}' is {quantity[cell]:.6g} (must be > 0) "
                    f"at cell {cell}"
                )
    return None


def constraints_of(op) -> AbstractConstrainedOperator | None:
    """`op` when it declares physical constraints, else None."""
    return op if isinstance(op, AbstractConstrainedOperator) else None


def check_physical(
    fields, names, what: str, constrained: AbstractConstrainedOperator | None = None
) -> None:
    """Raise `RunError` with `find_violation`'s message, prefixed by `what`."""
    if (reason := find_violation(fields, names, constrained)) is not None:
        raise RunError(f"{what}: {reason}")


# ---------------------------------------------------------------- step rules


class FixedSteps:
    """`gap` steps of `dt` per snapshot interval; the stepper's cache (ETDRK
    coefficients) computed once by `init`.

    **Arguments:**

    - `stepper`: the time stepper.
    - `dt`: the step.
    - `gap`: steps per snapshot interval.
    """

    def __init__(self, stepper, dt: float, gap: int):
        self.stepper, self.dt, self.gap = stepper, dt, gap
        self.locate_steps = gap

    def batched(self) -> FixedSteps:
        """The rule for `vmap`: fixed steps batch as they are."""
        return self

    def init(self, op):
        return self.stepper.init(op, self.dt)

    def interval(self, op, y, t0, t1, cache):
        """`(y, steps, reached)` after the interval from `t0` to `t1`."""
        y = self._solve(op, y, t0, cache, self.gap)
        return y, jnp.asarray(self.gap, dtype=jnp.int32), t1

    def step(self, op, y, t, t1, cache):
        """`(y, reached)` after one step from `t`."""
        return self._solve(op, y, t, cache, 1), t + self.dt

    def time_after(self, t0: float, t1: float, j: int, reached) -> float:
        """The time after `j` steps from `t0`."""
        return t0 + j * self.dt

    def _solve(self, op, y, t0, cache, num_steps):
        return solve(
            op,
            self.stepper,
            y,
            dt=self.dt,
            num_steps=num_steps,
            t0=t0,
            stepper_cache=cache,
        ).ys[-1]


class CFLSteps:
    """CFL-controlled steps (`solve_cfl`), at most `max_steps` per snapshot
    interval, run as a `lax.while_loop` of `solve_cfl` chunks of `chunk`
    steps. One chunk of `max_steps` for a single run; under `vmap` (see
    `batched`) short chunks, so that the loop stops when the slowest member
    arrives (finished members idle), where one bounded scan of `max_steps`
    steps would cost every member `max_steps` steps (its `lax.cond` becomes
    a `select` when batched).

    **Arguments:**

    - `stepper`: the time stepper.
    - `cfl`: the Courant number.
    - `max_steps`: the most steps per snapshot interval.
    - `chunk`: steps per `solve_cfl` call (default `max_steps`).
    """

    dt = None

    def __init__(self, stepper, cfl: float, max_steps: int, chunk: int | None = None):
        self.stepper, self.cfl, self.max_steps = stepper, cfl, max_steps
        self.chunk = max_steps if chunk is None else min(chunk, max_steps)
        self.locate_steps = max_steps

    def batched(self) -> CFLSteps:
        """The same rule in chunks of 4 steps, for `vmap`."""
        return CFLSteps(self.stepper, self.cfl, self.max_steps, chunk=4)

    def init(self, op):
        return None

    def interval(self, op, y, t0, t1, cache):
        """`(y, steps, reached)` after the interval from `t0` to `t1`, or
        after `max_steps` steps, or at a state that admits no step."""

        def cond(carry):
            _, t, n = carry
            return (t < t1) & (n < self.max_steps)

        def body(carry):
            y, t, n = carry
            sol = self._solve(op, y, t, t1, self.chunk)
            return sol.ys[-1], sol.ts[-1], n + sol.num_steps

        n0 = jnp.asarray(0, dtype=jnp.int32)
        y, t, n = lax.while_loop(cond, body, (y, t0, n0))
        return y, n, t

    def step(self, op, y, t, t1, cache):
        sol = self._solve(op, y, t, t1, 1)
        return sol.ys[-1], sol.ts[-1]

    def time_after(self, t0: float, t1: float, j: int, reached) -> float:
        return float(reached)

    def not_reached(self, t0: float, t1: float, reached: float, member=None) -> str:
        """The `time.max_steps` message of an interval that stopped short."""
        who = "" if member is None else f" for member {member}"
        return (
            f"time.max_steps: {self.max_steps} steps were not enough{who} to "
            f"advance from t = {t0:.6g} to {t1:.6g} (reached t = {reached:.6g}); "
            "raise time.max_steps or time.snapshots"
        )

    def _solve(self, op, y, t0, t1, max_steps):
        return solve_cfl(
            op,
            self.stepper,
            y,
            t0=t0,
            t1=t1,
            cfl=self.cfl,
            max_steps=max_steps,
            throw=False,
        )


def step_rule(config, stepper) -> FixedSteps | CFLSteps:
    """The rule a config's `time:` section asks for."""
    if config.time.cfl is not None:
        return CFLSteps(stepper, config.time.cfl, config.time.max_steps)
    return FixedSteps(stepper, config.dt, config.num_steps // config.time.snapshots)


def locate(rule, op, y, t0, t1, steps_before, names, constrained) -> dict:
    """Step from `y` at `t0` one step at a time to the first non-physical
    state: `{"step", "t", "reason"}` (steps counted from the run's start)."""
    one = eqx.filter_jit(rule.step)
    cache = eqx.filter_jit(rule.init)(op)
    t = t0
    for j in range(1, rule.locate_steps + 1):
        y, reached = one(
            op, y, jnp.asarray(t, dtype=y.dtype), jnp.asarray(t1, dtype=y.dtype), cache
        )
        reached = rule.time_after(t0, t1, j, reached)
        if (reason := find_violation(y, names, constrained)) or not reached > t:
            return {
                "step": steps_before + j,
                "t": reached,
                "reason": reason or "no admissible time step (CFL)",
            }
        t = reached
    return {
        "step": steps_before + rule.locate_steps,
        "t": t1 if isinstance(rule, FixedSteps) else t,
        "reason": "non-physical state within this interval",
    }


def _as_time(t, y):
    """`t` in the real dtype of `y`'s precision (complex fields: NLS)."""
    return jnp.asarray(t, dtype=jnp.finfo(y.dtype).dtype)


def _short(reached, t1) -> np.ndarray | np.bool_:
    """Where `reached` stopped before `t1` (compared in `reached`'s dtype)."""
    reached = np.asarray(reached)
    return reached < np.asarray(t1, dtype=reached.dtype)


# ---------------------------------------------------------------- marches


class March:
    """A step rule compiled once for one operator (sharded or not): every
    snapshot interval calls the same executable (`compile_ahead`).

    **Arguments:**

    - `rule`: a `FixedSteps` or `CFLSteps`.
    - `op`: the operator.
    - `y`: initial physical fields (their shape, dtype and sharding).
    - `names`, `constrained`: field names and the operator's constraints
      (`constraints_of`), both of the unsharded operator.
    """

    def __init__(self, rule, op, y, names, constrained=None):
        self.rule, self.op = rule, op
        self.names, self.constrained = names, constrained
        t_compile = time.perf_counter()
        self.cache = eqx.filter_jit(rule.init)(op)
        t = _as_time(0.0, y)
        self.compiled = compile_ahead(rule.interval, op, y, t, t, self.cache)
        jax.block_until_ready(self.cache)
        self.compile_s = time.perf_counter() - t_compile

    @property
    def dt(self):
        return self.rule.dt

    def host(self, y) -> np.ndarray:
        """`y` on the host (a gather when sharded over processes)."""
        return to_host(y)

    def zero_steps(self):
        return 0

    def advance(self, y, t0: float, t1: float):
        """`(y, steps)` after the interval from `t0` to `t1`; raises
        `RunError` when `time.max_steps` steps did not get there."""
        y_next, taken, reached = self.compiled(
            self.op, y, _as_time(t0, y), _as_time(t1, y), self.cache
        )
        if isinstance(self.rule, CFLSteps):
            reached = to_host(reached)
            if _short(reached, t1) and np.isfinite(to_host(y_next)).all():
                raise RunError(self.rule.not_reached(t0, t1, float(reached)))
        return y_next, int(to_host(taken))

    def failure(self, host, y, previous, t0: float, t1: float, steps) -> dict | None:
        """None when `host` (the fields at `t1`) is physical; else where the
        interval from `y` at `t0` (on the device(s); `previous` on the host)
        went wrong (see `locate`)."""
        if find_violation(host, self.names, self.constrained) is None:
            return None
        return locate(
            self.rule, self.op, y, t0, t1, steps, self.names, self.constrained
        )


class BatchedMarch:
    """A step rule over every member of an `Ensemble` at once: the rule's
    interval under `eqx.filter_vmap` (stacked operator leaves mapped, shared
    ones not), the batch axis kept on `sharding`, compiled once.

    **Arguments:**

    - `rule`: a `FixedSteps` or `CFLSteps` (`CFLSteps.batched()`).
    - `ensemble`: the members, padded and sharded.
    - `sharding`: of the batched fields.
    - `size`: the number of members before padding.
    - `operators`, `names`, `constrained`: the members' own operators, field
      names and constraints, for locating a failure one member at a time.
    """

    def __init__(
        self, rule, ensemble: Ensemble, sharding, size, operators, names, constrained
    ):
        self.rule, self.ensemble, self.size = rule, ensemble, size
        self.operators, self.names = operators, names
        self.constrained = constrained
        axes = ensemble.in_axes()
        t_compile = time.perf_counter()
        if any(ensemble.batched):
            init = eqx.filter_vmap(rule.init, in_axes=(axes,))
            cache_axes = 0
        else:
            init, cache_axes = rule.init, None
        self.cache = eqx.filter_jit(init)(ensemble.operator)
        interval = eqx.filter_vmap(
            rule.interval, in_axes=(axes, 0, None, None, cache_axes)
        )

        def fn(op, y, t0, t1, cache):
            y, n, t = interval(op, y, t0, t1, cache)
            return lax.with_sharding_constraint(y, sharding), n, t

        y = ensemble.initial
        t = _as_time(0.0, y)
        self.compiled = compile_ahead(fn, ensemble.operator, y, t, t, self.cache)
        jax.block_until_ready(self.cache)
        self.compile_s = time.perf_counter() - t_compile

    @property
    def dt(self):
        return self.rule.dt

    def host(self, y) -> np.ndarray:
        """The members' fields on the host, padding dropped (a gather across
        processes when several share the batch)."""
        return to_host(y)[: self.size]

    def zero_steps(self):
        return np.zeros(self.size, dtype=np.int64)

    def advance(self, y, t0: float, t1: float):
        """`(y, steps per member)` after the interval from `t0` to `t1`;
        raises `RunError` naming the first member that `time.max_steps`
        steps did not get there."""
        y_next, taken, reached = self.compiled(
            self.ensemble.operator, y, _as_time(t0, y), _as_time(t1, y), self.cache
        )
        if isinstance(self.rule, CFLSteps):
            reached = to_host(reached)
            short = _short(reached, t1)
            if short.any():
                finite = np.isfinite(to_host(y_next)).reshape(y.shape[0], -1).all(1)
                for i in np.flatnonzero(short & finite):
                    message = self.rule.not_reached(t0, t1, reached[i], member=i)
                    raise RunError(message)
        return y_next, to_host(taken)[: self.size]

    def failure(self, host, y, previous, t0: float, t1: float, steps) -> dict | None:
        """None when every member of `host` is physical; else the first
        member that is not, and where its interval went wrong, from its last
        good snapshot `previous[i]` (one member, one step at a time: see
        `locate`)."""
        for i in range(self.size):
            if find_violation(host[i], self.names, self.constrained[i]):
                found = locate(
                    self.rule,
                    self.operators[i],
                    jnp.asarray(previous[i]),
                    t0,
                    t1,
                    int(steps[i]),
                    self.names,
                    self.constrained[i],
                )
                return {"member": i, **found}
        return None


# ---------------------------------------------------------------- the snapshot loop


@dataclasses.dataclass
class Marched:
    """What `march_snapshots` returns: the snapshot times `ts` and host fields
    `ys` up to the last good one, the steps taken (an int, or one per
    member), the failure (None, or `{"step", "t", "reason"}` with `"member"`
    for a batch) and the wall time of the loop."""

    ts: list[float]
    ys: list[np.ndarray]
    steps: int | np.ndarray
    failure: dict | None
    run_s: float


def march_snapshots(
    march: March | BatchedMarch, y, t_end: float, snapshots: int, desc: str
) -> Marched:
    """Advance `y` over `snapshots` equal intervals up to `t_end` with
    `march`, keeping each snapshot on the host, with a progress bar on a
    terminal. Stops at the first interval that ends in a non-physical state,
    keeping the snapshots before it."""
    interval = t_end / snapshots
    ts, ys = [0.0], [march.host(y)]
    steps, failure = march.zero_steps(), None
    t_run = time.perf_counter()
    progress = tqdm(
        total=t_end,
        unit="t",
        delay=2.0,
        disable=not sys.stderr.isatty(),
        desc=desc,
        leave=False,
        bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}]",
    )
    with progress:
        for k in range(snapshots):
            t0, t1 = k * interval, (k + 1) * interval
            y_next, taken = march.advance(y, t0, t1)
            host = march.host(y_next)
            failure = march.failure(host, y, ys[-1], t0, t1, steps)
            if failure is not None:
                break
            steps = steps + taken
            y = y_next  # stays on the device(s), sharded as it was
            ts.append(t1)
            ys.append(host)
            progress.update(interval)
    return Marched(ts, ys, steps, failure, time.perf_counter() - t_run)
