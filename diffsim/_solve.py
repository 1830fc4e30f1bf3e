"""Fixed-step time integration: `solve`."""

from __future__ import annotations

import itertools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import Tracer
from jaxtyping import Array, Inexact

from diffsim.operators import (
    AbstractCFLOperator,
    AbstractConstrainedOperator,
    AbstractOperator,
)
from diffsim.operators.internal import (
    check_instance,
    check_value,
    checks_own_arguments,
    concrete,
    describe,
    error_if,
    finite,
    operator_name,
    positive,
)

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
        if self.every is not None and (
            isinstance(self.every, bool)
            or not isinstance(self.every, (int, np.integer))
            or self.every < 1
        ):
            raise ValueError(f"SaveAt: every must be >= 1 (an int), got {self.every!r}")
        if self.ts is not None and not all(np.isfinite(self.ts)):
            raise ValueError(f"SaveAt: ts must be finite, got {list(self.ts)}")

    def resolve(self, num_steps: int, t0, dt) -> tuple[int, ...]:
        """The sorted step indices to save."""
        steps: set[int] = set()
        if self.ts is not None:
            try:
                t0f, dtf = float(t0), float(dt)
            except (TypeError, jax.errors.ConcretizationTypeError):
                raise ValueError(
                    "SaveAt(ts=...) needs concrete t0 and dt; use SaveAt(steps=...) "
                    "under jit"
                ) from None
            for t in self.ts:
                k = (t - t0f) / dtf
                if abs(k - round(k)) > 1e-6 * max(1.0, abs(k)):
                    raise ValueError(
                        f"SaveAt: time {t} is not on the step grid t0 + k*dt "
                        f"(t0={t0f}, dt={dtf})"
                    )
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
            raise ValueError(
                f"SaveAt: steps {sorted(bad)} lie outside [0, num_steps={num_steps}]"
            )
        return tuple(sorted(steps))


class Solution(eqx.Module):
    """Output of `solve` and `solve_cfl`: saved times `ts`, shape
    `(num_saves,)`, physical fields `ys`, shape `(num_saves, channels, *cells)`,
    and the number of steps taken (an int for fixed steps, an array for CFL
    stepping, where it is only known at run time)."""

    ts: Array
    ys: Inexact[Array, "saves channels *cells"]
    num_steps: Array | int


# ---------------------------------------------------------------- argument checks
# Run once per call, before anything is traced into the time loop. Concrete
# values raise ValueError/TypeError here; traced ones (y0's contents, a traced
# dt or t1) are threaded through `eqx.error_if`, which raises when the
# compiled program runs and costs one reduction per call, not per step.


def _check_common(name, operator, stepper, adjoint, saveat):
    check_instance(
        name,
        "operator",
        operator,
        AbstractOperator,
        "discretize(Burgers(nu=0.01), FourierSpectral(grid))",
    )
    check_instance(
        name,
        "stepper",
        stepper,
        AbstractStepper,
        "ETDRK4()" if name == "solve" else "SSPRK3()",
    )
    check_instance(name, "adjoint", adjoint, AbstractAdjoint, "DirectAdjoint()")
    check_instance(name, "saveat", saveat, SaveAt, "SaveAt(t0=True)")


def _check_count(name, arg, value, minimum):
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or value < minimum
    ):
        expected = "a non-negative int" if minimum == 0 else f"an int >= {minimum}"
        raise ValueError(f"{name}: {arg} must be {expected}, got {describe(value)}")


def _check_scalar(name, arg, value, rule, expected, throw):
    """A scalar time argument: eagerly when concrete, `eqx.error_if` when
    traced (only with `throw`)."""
    array = concrete(value)
    if array is not None:
        if (
            array.shape != ()
            or array.dtype.kind not in "biuf"
            or array.dtype.kind == "b"
        ):
            got = (
                describe(value)
                if array.dtype == object
                else f"shape {array.shape}, dtype {array.dtype}"
            )
            raise TypeError(f"{name}: {arg} must be a real scalar, got {got}")
        return check_value(name, arg, value, rule, expected)
    if jnp.shape(value) != () or not jnp.issubdtype(
        jnp.result_type(value), jnp.floating
    ):
        raise TypeError(
            f"{name}: {arg} must be a real scalar, got shape {jnp.shape(value)}, dtype "
            f"{jnp.result_type(value)}"
        )
    return (
        error_if(value, ~rule(value), f"{name}: {arg} must be {expected}")
        if throw
        else value
    )


def _operator_dtype(operator):
    """The promoted dtype of the operator's floating-point arrays (None if it
    has none)."""
    leaves = [x for x in jax.tree.leaves(operator) if eqx.is_inexact_array(x)]
    return jnp.result_type(*leaves) if leaves else None


def _check_y0(name, operator, y0, throw) -> Any:
    """`y0`'s type, shape and dtype (always); its values, finite and, for an
    `AbstractConstrainedOperator`, physical (with `throw`). Returns y0."""
    if not isinstance(y0, (jax.Array, np.ndarray)):
        raise TypeError(
            f"{name}: y0 must be an array of physical fields, shape (channels, "
            f"*cells), got {describe(y0)}; "
            "pass jnp.asarray(y0, dtype=float)"
        )
    fields = operator.field_names
    if y0.ndim < 1 or y0.shape[0] != len(fields):
        raise ValueError(
            f"{name}: y0 must have shape (channels, *cells) with {len(fields)} "
            f"channel(s) ({', '.join(fields)}) for {operator_name(operator)}, got "
            f"shape {y0.shape}"
        )
    if not jnp.issubdtype(y0.dtype, jnp.inexact):
        raise TypeError(
            f"{name}: y0 must be floating point, got dtype {y0.dtype}; pass "
            f"y0.astype({jnp.result_type(float).name})"
        )
    try:
        jax.eval_shape(operator.encode, y0)
    except ValueError as e:
        raise ValueError(
            f"{name}: y0 does not fit {operator_name(operator)}: {e}"
        ) from None
    except TypeError as e:
        raise TypeError(
            f"{name}: y0 of dtype {y0.dtype} does not fit {operator_name(operator)}: "
            f"{e}"
        ) from None
    if not throw:
        return y0
    constrained = isinstance(operator, AbstractConstrainedOperator)
    if isinstance(y0, Tracer):  # inside jit/vmap/grad: checked when the program runs
        y0 = error_if(
            y0,
            ~jnp.all(jnp.isfinite(y0)),
            f"{name}: y0 must be finite (it holds NaN or Inf)",
        )
        if constrained:
            bad = ~jnp.all(operator.positive_values(jnp.asarray(y0)) > 0)
            y0 = error_if(
                y0,
                bad,
                f"{name}: y0 is not physical: {operator_name(operator)} needs "
                f"{' and '.join(operator.positive_quantities)} > 0 in every cell",
            )
        return y0
    with (
        jax.ensure_compile_time_eval()
    ):  # concrete y0, even while an outer function is traced
        finite = jnp.isfinite(y0)
        all_finite = bool(jnp.all(finite))
        values = operator.positive_values(jnp.asarray(y0)) if constrained else None
        ok = None if values is None else values > 0
        # the quantities depend on traced operator parameters
        traced = isinstance(ok, Tracer)
        all_ok = ok is None or traced or bool(jnp.all(ok))
    if not all_finite:
        where = tuple(int(i) for i in np.argwhere(~np.asarray(finite))[0])
        raise ValueError(
            f"{name}: y0 must be finite, got {np.asarray(y0)[where]} in field "
            f"'{fields[where[0]]}' at cell {where[1:]}"
        )
    if traced and ok is not None:
        y0 = error_if(
            y0,
            ~jnp.all(ok),
            f"{name}: y0 is not physical: {operator_name(operator)} needs "
            f"{' and '.join(operator.positive_quantities)} > 0 in every cell",
        )
    elif not all_ok:
        q, *cell = (int(i) for i in np.argwhere(~np.asarray(ok))[0])
        raise ValueError(
            f"{name}: y0 is not physical: {operator.positive_quantities[q]} is "
            f"{np.asarray(values)[(q, *cell)]:.6g} (must be > 0) at cell {tuple(cell)}"
        )
    return y0


def _check_step_dtype(name, operator, y0, step):
    """When `y0` is complex, or the operator's arrays would promote it
    (float32 fields, float64 parameters), check that one step keeps the
    state's shape and dtype, as the time loop needs (where operator and
    stepper compute in the state's dtype, or the fields are complex, it does)."""
    op_dtype = _operator_dtype(operator)
    complex_y0 = jnp.issubdtype(y0.dtype, jnp.complexfloating)
    if not complex_y0 and (
        op_dtype is None or jnp.result_type(y0.dtype, op_dtype) == y0.dtype
    ):
        return
    op_complex = op_dtype is not None and jnp.issubdtype(op_dtype, jnp.complexfloating)
    hint = (
        "pass real fields (y0.real)"
        if complex_y0 and not op_complex
        else f"pass y0.astype({op_dtype}), or build the operator in {y0.dtype.name}"
    )
    state = jax.eval_shape(operator.encode, y0)
    try:
        out = eqx.filter_eval_shape(step, state)
    except (TypeError, ValueError) as e:
        if isinstance(e, ValueError) and not complex_y0:
            raise
        if complex_y0:
            reason = str(e).strip().splitlines()[0]
            raise TypeError(
                f"{name}: y0 has dtype {y0.dtype}, with which a step of "
                f"{operator_name(operator)} fails ({reason}); {hint}"
            ) from None
        out = None  # a loop inside the step met the promoted dtype
    before = jax.tree.leaves(state)
    after = None if out is None else jax.tree.leaves(out)
    if after is None or [(x.shape, x.dtype) for x in before] != [
        (x.shape, x.dtype) for x in after
    ]:
        turns = (
            "does not keep the state's dtype"
            if after is None
            else "turns the state from "
            + ", ".join(f"{a.dtype} into {b.dtype}" for a, b in zip(before, after))
        )
        raise TypeError(
            f"{name}: y0 has dtype {y0.dtype} but {operator_name(operator)}'s "
            f"parameters are {op_dtype}, and "
            f"one step {turns}; {hint}"
        )


@checks_own_arguments
def solve(
    operator: AbstractOperator,
    stepper: AbstractStepper,
    y0: Inexact[Array, " channels *cells"],
    *,
    dt,
    num_steps: int,
    t0=0.0,
    saveat: SaveAt = SaveAt(),
    adjoint: AbstractAdjoint = DirectAdjoint(),
    stepper_cache=None,
    throw: bool = True,
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

    Arguments are checked first, with errors that name them: instances of
    the abstract classes for `operator`, `stepper`, `adjoint` and `saveat`
    (`TypeError`); `y0` a floating-point array of the operator's field
    shape (`TypeError`/`ValueError`; a `y0` of another precision or
    kind than the operator's parameters is accepted only if a step keeps its
    dtype, which with a float64 `dt` means float64 fields when x64 is on);
    `dt > 0`, `t0` finite, `num_steps >= 0` (`ValueError`). The values of
    `y0` (finite; for an `AbstractConstrainedOperator` also physical) and a
    traced `dt` are checked with `eqx.error_if` when traced, so the error is
    raised when the compiled program runs; `throw=False` skips these
    data-dependent checks (a NaN then propagates to the result).
    """
    _check_common("solve", operator, stepper, adjoint, saveat)
    _check_count("solve", "num_steps", num_steps, 0)
    if not isinstance(throw, bool):
        raise TypeError(f"solve: throw must be True or False, got {describe(throw)}")
    num_steps = int(num_steps)
    dt = _check_scalar("solve", "dt", dt, positive, "> 0 and finite", throw)
    t0 = _check_scalar("solve", "t0", t0, finite, "finite", throw)
    y0 = _check_y0("solve", operator, y0, throw)
    save_steps = saveat.resolve(num_steps, t0, dt)
    # With a concrete operator and dt (the common case under jit), the stepper
    # coefficients are computed once while tracing and become constants of the
    # compiled program instead of being recomputed on every call; traced
    # operators (gradients w.r.t. physical parameters) fall back to tracing.
    with jax.ensure_compile_time_eval():
        t0 = jnp.asarray(t0, dtype=jnp.result_type(float))
        dt = jnp.asarray(dt, dtype=jnp.result_type(float))
        cache = stepper.init(operator, dt) if stepper_cache is None else stepper_cache
    _check_step_dtype(
        "solve", operator, y0, lambda s: stepper.step(operator, s, t0, dt, cache)
    )

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


@checks_own_arguments
def solve_cfl(
    operator: AbstractCFLOperator,
    stepper: AbstractStepper,
    y0: Inexact[Array, " channels *cells"],
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

    Arguments are checked first, as in `solve`: `cfl > 0`, `t0`, `t1` finite
    with `t1 >= t0`, `max_steps >= 1`, save times in `[t0, t1]`, and `y0`
    finite and (for an `AbstractConstrainedOperator` such as `Euler`)
    physical. Concrete values raise `ValueError`/`TypeError` at once; traced
    ones raise when the compiled program runs (with `throw=True`).
    """
    _check_common("solve_cfl", operator, stepper, adjoint, saveat)
    if not isinstance(operator, AbstractCFLOperator):
        raise TypeError(
            f"solve_cfl needs an AbstractCFLOperator (one with stable_dt(state, "
            f"cfl)); {operator_name(operator)} is not one: use solve with a "
            "fixed dt"
        )
    _check_count("solve_cfl", "max_steps", max_steps, 1)
    if not isinstance(throw, bool):
        raise TypeError(
            f"solve_cfl: throw must be True or False, got {describe(throw)}"
        )
    if saveat.steps is not None or saveat.every is not None:
        raise ValueError(
            "solve_cfl: step counts are not known in advance; save at times "
            "(SaveAt(ts=...)) instead"
        )
    cfl = _check_scalar("solve_cfl", "cfl", cfl, positive, "> 0 and finite", throw)
    t0 = _check_scalar("solve_cfl", "t0", t0, finite, "finite", throw)
    t1 = _check_scalar("solve_cfl", "t1", t1, finite, "finite", throw)
    t0c, t1c = concrete(t0), concrete(t1)
    if t0c is not None and t1c is not None:
        if not t1c >= t0c:
            raise ValueError(
                f"solve_cfl: t1 must be >= t0, got t1={t1c.item()!r} < "
                f"t0={t0c.item()!r}"
            )
        outside = [t for t in saveat.ts or () if not t0c <= t <= t1c]
        if outside:
            raise ValueError(
                f"solve_cfl: saveat.ts must lie in [t0, t1] = [{t0c.item()!r}, "
                f"{t1c.item()!r}], got {outside}"
            )
    elif throw:
        t1 = error_if(t1, t1 < t0, "solve_cfl: t1 must be >= t0")
    if saveat.ts is not None and list(saveat.ts) != sorted(saveat.ts):
        raise ValueError(
            f"solve_cfl: saveat.ts must be increasing, got {list(saveat.ts)}"
        )
    y0 = _check_y0("solve_cfl", operator, y0, throw)
    dtype = jnp.result_type(float)
    t0 = jnp.asarray(t0, dtype=dtype)
    t1 = jnp.asarray(t1, dtype=dtype)

    def one_step(state):  # as in the loop below, dt in the default float dtype
        stable = operator.stable_dt(state, cfl)
        dt = jnp.where(stable >= t1 - t0, t1 - t0, stable)
        return stepper.step(operator, state, t0, dt, stepper.init(operator, dt))

    _check_step_dtype("solve_cfl", operator, y0, one_step)
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
            jnp.any(ts[-targets.shape[0] :] < targets),
            f"solve_cfl: a save time was not reached within max_steps={max_steps} "
            "steps (or the state became non-finite); raise max_steps or check the data",
        )
    return Solution(ts=ts, ys=ys, num_steps=carry[2])
