"""Where a reverse-mode gradient turns non-finite inside a rollout.

A diagnosis for `optimize`, run once after a non-finite gradient: the
gradient is traced again inside `probing()`, and while that is active every
`solve` marks each state of its time loop with an identity whose backward
pass reports, by a host callback, whether the cotangent arriving at that
state is finite. The latest state (in forward time) whose cotangent is
non-finite is where the backward pass, which runs from the last step to the
first, first turned non-finite. Programs traced outside `probing()` are
unchanged: the switch acts at trace time, so the normal path has no marks and
no callbacks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

_active: list[BackwardProbe] = []


@dataclasses.dataclass
class RolloutRecord:
    """One probed `solve`: its number of steps and, per state index `k`
    (0 the initial state, `k` the state after step `k`), the time `t0 + k dt`
    and whether every cotangent that reached it was finite."""

    num_steps: int
    times: dict[int, float] = dataclasses.field(default_factory=dict)
    finite: dict[int, bool] = dataclasses.field(default_factory=dict)

    def report(self, k, t, finite) -> None:
        # under vmap the flags may arrive batched: a state is bad if any
        # member's cotangent is non-finite
        k, t = int(np.ravel(k)[0]), float(np.ravel(t)[0])
        self.times[k] = t
        self.finite[k] = self.finite.get(k, True) and bool(np.all(finite))

    def latest_nonfinite(self) -> int | None:
        bad = [k for k, ok in self.finite.items() if not ok]
        return max(bad) if bad else None


class BackwardProbe:
    """The records of the rollouts traced while a `probing()` block is active."""

    def __init__(self):
        self.rollouts: list[RolloutRecord] = []

    def rollout(self, num_steps: int) -> Callable:
        """A new record and its marker `mark(state, k, t) -> state`."""
        record = RolloutRecord(num_steps)
        self.rollouts.append(record)
        return functools.partial(_mark, record.report)

    def describe(self) -> str:
        """Where the backward pass first turned non-finite, in words."""
        if not self.rollouts:
            return (
                "no diffsim.solve rollout was traced in the loss, so no time step can "
                "be named"
            )
        if not any(r.finite for r in self.rollouts):
            return (
                "no rollout cotangent was reported (the rollout is not differentiated "
                "in reverse mode)"
            )
        for i, record in enumerate(self.rollouts):
            k = record.latest_nonfinite()
            if k is not None:
                which = (
                    "the rollout"
                    if len(self.rollouts) == 1
                    else f"rollout {i + 1} of the {len(self.rollouts)} in the loss"
                )
                return (
                    f"the backward pass first turns non-finite at time step {k} of "
                    f"{record.num_steps} of {which} "
                    f"(t = {record.times[k]:.6g})"
                )
        return (
            "the rollout's state cotangents stay finite at every time step: the "
            "non-finite value enters outside the time loop (the loss after the "
            "rollout, a parameter's own derivative, or before the rollout)"
        )


def active_marker(num_steps: int) -> Callable | None:
    """For `solve`, while tracing: the marker of a new rollout record when a
    `probing()` block is active, else None (nothing is added)."""
    return _active[-1].rollout(num_steps) if _active else None


@contextlib.contextmanager
def probing() -> Iterator[BackwardProbe]:
    """Within this block, `solve` calls being traced mark their states."""
    probe = BackwardProbe()
    _active.append(probe)
    try:
        yield probe
    finally:
        _active.remove(probe)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _mark(report, state, k, t):
    return state


def _mark_fwd(report, state, k, t):
    return state, (k, t)


def _mark_bwd(report, residuals, cotangent):
    k, t = residuals
    finite = jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(c)) for c in jax.tree.leaves(cotangent)])
    )
    jax.debug.callback(report, k, t, finite)
    return cotangent, None, None


_mark.defvjp(_mark_fwd, _mark_bwd)


def locate_nonfinite_gradient(loss: Callable, params) -> str:
    """Trace and run `jax.grad(loss)(params)` once more with every `solve`
    probed, and say where its backward pass first turned non-finite.

    Slow on purpose (a host callback per time step) and only for diagnosis.
    JAX's trace caches are cleared before (so that functions the loss jitted
    earlier are traced again, with marks) and after (so that no marked
    program is reused later). Always reverse mode: a forward-mode failure is
    located through the equivalent backward pass. Never raises: a re-run
    that fails returns a sentence saying so.
    """
    jax.clear_caches()
    try:
        with probing() as probe:
            grads = jax.jit(jax.grad(loss))(params)
            jax.block_until_ready(grads)
            jax.effects_barrier()
    except Exception as e:  # a diagnosis must not hide the error it diagnoses
        return (
            "its time step could not be located (the probed re-run failed: "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        )
    finally:
        jax.clear_caches()
    if all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads)):
        return (
            "a reverse-mode re-run of the gradient is finite, so no time step can be "
            "named"
        )
    return probe.describe()
