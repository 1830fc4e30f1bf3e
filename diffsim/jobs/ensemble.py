"""The ensemble job: a config's `batch:` members built, stacked into one
`diffsim.Ensemble` and marched as one vmapped (and batch-sharded) solve."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from .. import Ensemble, RunError, batch_mesh, compile_ahead, solve, solve_cfl
from ..internal import ConfigError, NotBatchable, is_main, to_host
from .config import STEPPERS, member_configs
from .scenario import build_setup

# ---------------------------------------------------------------- marching a batch


class BatchedFixedMarch:
    """Fixed steps for every member: the vmapped counterpart of `_run.FixedMarch`
    (stepper caches computed once, batched where the operator is)."""

    def __init__(self, config, ensemble: Ensemble, stepper, sharding):
        self.ensemble, self.stepper = ensemble, stepper
        self.gap, self.dt = config.num_steps // config.time.snapshots, config.dt
        axes = ensemble.in_axes()
        t_compile = time.perf_counter()
        if any(ensemble.batched):
            self.cache = eqx.filter_jit(
                eqx.filter_vmap(stepper.init, in_axes=(axes, None))
            )(ensemble.operator, self.dt)
            cache_axes = 0
        else:
            self.cache = eqx.filter_jit(stepper.init)(ensemble.operator, self.dt)
            cache_axes = None
        advance = eqx.filter_vmap(self._advance, in_axes=(axes, 0, None, cache_axes))
        y = ensemble.initial
        t0 = jnp.asarray(0.0, dtype=y.dtype)
        fn = lambda op, y, t0, cache: lax.with_sharding_constraint(
            advance(op, y, t0, cache), sharding
        )  # noqa: E731
        self.compiled = compile_ahead(fn, ensemble.operator, y, t0, self.cache)
        jax.block_until_ready(self.cache)
        self.compile_s = time.perf_counter() - t_compile

    def _advance(self, op, y, t0, cache):
        return solve(
            op,
            self.stepper,
            y,
            dt=self.dt,
            num_steps=self.gap,
            t0=t0,
            stepper_cache=cache,
        ).ys[-1]

    def advance(self, y, t0, t1):
        y_next = self.compiled(
            self.ensemble.operator, y, jnp.asarray(t0, dtype=y.dtype), self.cache
        )
        return y_next, np.full(y.shape[0], self.gap)


class _BatchedCFLMarch:
    """CFL-controlled steps, each member its own: per snapshot interval a
    `lax.while_loop` of `solve_cfl` chunks of `chunk` steps. Under `vmap` the
    loop runs until the slowest member arrives (finished members idle), where
    `solve_cfl`'s bounded scan of `time.max_steps` steps would cost every
    member `max_steps` steps (its `lax.cond` becomes a `select` when batched)."""

    chunk = 4

    def __init__(self, config, ensemble: Ensemble, stepper, sharding):
        self.ensemble, self.stepper = ensemble, stepper
        self.cfl, self.max_steps, self.dt = config.time.cfl, config.time.max_steps, None
        interval = eqx.filter_vmap(
            self._interval, in_axes=(ensemble.in_axes(), 0, None, None)
        )

        def fn(op, y, t0, t1):
            y, t, n = interval(op, y, t0, t1)
            return lax.with_sharding_constraint(y, sharding), n, t

        t_compile = time.perf_counter()
        t = jnp.asarray(0.0, dtype=ensemble.initial.dtype)
        self.compiled = compile_ahead(fn, ensemble.operator, ensemble.initial, t, t)
        self.compile_s = time.perf_counter() - t_compile

    def _interval(self, op, y, t0, t1):
        def cond(carry):
            _, t, n = carry
            return (t < t1) & (n < self.max_steps)

        def body(carry):
            y, t, n = carry
            sol = solve_cfl(
                op,
                self.stepper,
                y,
                t0=t,
                t1=t1,
                cfl=self.cfl,
                max_steps=min(self.chunk, self.max_steps),
                throw=False,
            )
            return sol.ys[-1], sol.ts[-1], n + sol.num_steps

        return lax.while_loop(cond, body, (y, t0, jnp.asarray(0, dtype=jnp.int32)))

    def advance(self, y, t0, t1):
        y_next, taken, reached = self.compiled(
            self.ensemble.operator,
            y,
            jnp.asarray(t0, dtype=y.dtype),
            jnp.asarray(t1, dtype=y.dtype),
        )
        reached = to_host(reached)
        finite = np.isfinite(to_host(y_next)).reshape(y.shape[0], -1).all(axis=1)
        for i in np.flatnonzero((reached < t1) & finite):
            raise RunError(
                f"time.max_steps: {self.max_steps} steps were not enough for member {i} to advance from t = {t0:.6g} to {t1:.6g} "
                f"(reached t = {reached[i]:.6g}); raise time.max_steps or time.snapshots"
            )
        return y_next, to_host(taken)


# ---------------------------------------------------------------- the job


def run_ensemble(config, scenario, out: Path, plots: bool = True) -> dict:
    """`diffsim run` of a config with a `batch:` section (called by `_run.run`
    inside the configured precision, after config.yaml is written): fields.nc
    with a leading `batch` dimension, summary.json with per-member entries,
    plots/ with an overlay of the members."""
    from .io import batched_fields_dataset, write_fields, write_json
    from .plots import plot_ensemble
    from .run import (
        CFLMarch,
        FixedMarch,
        check_physical,
        constraints_of,
        default_errors,
        find_violation,
        run_summary,
    )

    members = member_configs(config, scenario)
    setups = []
    for m in members:
        try:
            setups.append(build_setup(scenario, m.config, m.physics))
        except ConfigError as e:
            raise m.error(e) from None
    op, grid = setups[0].operator, setups[0].grid
    names, constrained = op.field_names, [constraints_of(s.operator) for s in setups]
    for m, s, c in zip(members, setups, constrained):
        if s.grid != grid:
            raise ConfigError(
                "batch",
                f"member {m.index} builds the grid {s.grid}, member 0 {grid}: not batchable",
            )
        check_physical(s.initial, names, f"member {m.index} initial data", c)
    try:
        ensemble = Ensemble.stack(
            [s.operator for s in setups], [s.initial for s in setups]
        )
    except NotBatchable as e:
        where = ", ".join(f"{k}={v!r}" for k, v in members[e.member].values.items())
        raise ConfigError(
            f"batch.members.{e.member}"
            if config.batch.members is not None
            else "batch.vary",
            f"{e} ({where}); only array-valued parameters and initial data may differ",
        ) from None

    size, mesh = ensemble.size, batch_mesh()
    devices = mesh.devices.size
    sharding = NamedSharding(mesh, PartitionSpec("batch"))
    padded = ensemble.pad(devices).shard(mesh)
    stepper = STEPPERS[config.stepper]()
    march = (_BatchedCFLMarch if config.time.cfl is not None else BatchedFixedMarch)(
        config, padded, stepper, sharding
    )
    snapshots, interval = (
        config.time.snapshots,
        config.time.t_end / config.time.snapshots,
    )

    y = padded.initial
    ts, ys = [0.0], [to_host(y)[:size]]
    steps, failure = np.zeros(size, dtype=np.int64), None
    t_run = time.perf_counter()
    progress = tqdm(
        total=config.time.t_end,
        unit="t",
        delay=2.0,
        disable=not sys.stderr.isatty(),
        desc=f"{scenario.name} x{size}",
        leave=False,
        bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}]",
    )
    with progress:
        for k in range(snapshots):
            t0, t1 = k * interval, (k + 1) * interval
            y_next, taken = march.advance(y, t0, t1)
            host = to_host(y_next)[
                :size
            ]  # a gather across processes when several share the batch
            bad = next(
                (
                    i
                    for i in range(size)
                    if find_violation(host[i], names, constrained[i])
                ),
                None,
            )
            if bad is not None:
                m = members[bad]
                single = (CFLMarch if config.time.cfl is not None else FixedMarch)(
                    m.config, setups[bad].operator, stepper, jnp.asarray(ys[-1][bad])
                )
                failure = {
                    "member": bad,
                    **single.locate(
                        jnp.asarray(ys[-1][bad]),
                        t0,
                        t1,
                        int(steps[bad]),
                        names,
                        constrained[bad],
                    ),
                }
                break
            steps += taken[:size]
            y = y_next
            ts.append(t1)
            ys.append(host)
            progress.update(interval)
    run_s = time.perf_counter() - t_run

    fields = np.stack(ys, axis=1)  # (batch, t, channels, *cells)
    keys = sorted({k for m in members for k in m.values})
    varied = [{key: m.value(key) for key in keys} for m in members]
    entries = [
        {"member": m.index, **v, "steps": int(steps[m.index])}
        for m, v in zip(members, varied)
    ]
    summary = run_summary(
        config,
        scenario,
        grid,
        march,
        int(steps.max()),
        int(steps.sum()),
        ts[-1],
        run_s,
        failure,
    )
    summary["batch"] = {
        "size": size,
        "devices": devices,
        "padded_to": padded.size,
        "keys": keys,
    }
    exact = None
    if setups[0].exact is not None:
        exact = np.stack(
            [np.stack([np.asarray(s.exact(t)) for t in ts]) for s in setups]
        )
        for entry, s, member_ys, member_exact in zip(entries, setups, fields, exact):
            entry["errors"] = (s.errors or default_errors)(
                member_ys, member_exact, grid, names
            )
        summary["errors"] = {
            key: max(e["errors"][key] for e in entries) for key in entries[0]["errors"]
        }  # the worst member
    summary["members"] = entries
    if failure:
        summary["failure"] = failure
    keyed = {key: [v[key] for v in varied] for key in keys}
    dataset = batched_fields_dataset(
        ts,
        fields,
        grid,
        names,
        keyed,
        attrs={"scenario": scenario.name, "stepper": config.stepper},
    )
    if is_main():  # multi-process runs: only process 0 writes shared files
        write_fields(out / "fields.nc", dataset)
        if plots:
            summary["plots"] = [
                str(p.relative_to(out))
                for p in plot_ensemble(dataset, exact, out / "plots", scenario.name)
            ]
        write_json(out / "summary.json", summary)
    if failure:
        where = ", ".join(
            f"{k}={v!r}" for k, v in members[failure["member"]].values.items()
        )
        raise RunError(
            f"member {failure['member']} ({where}) failed at step {failure['step']} (t = {failure['t']:.6g}): {failure['reason']}; "
            f"the batch stopped there; the last good snapshot (t = {ts[-1]:.6g}) and summary.json are in {out}"
        )
    return summary
