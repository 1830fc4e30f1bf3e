"""Ensembles: the members of a `batch:` section run as one `vmap`ed solve,
the batch axis sharded across every device (a 1D `jax.sharding.Mesh`).

Each member is an ordinary configuration (the run's, with the member's
overrides) from which the scenario builds an ordinary `Setup`. The members'
operators must agree in everything static (pytree structure, grid, scheme,
array shapes); array leaves that differ between members (a viscosity, a ratio
of specific heats) are stacked along a leading batch axis, those equal in all
members are kept once. `Ensemble` holds that stacked pytree with the members'
initial fields, `(batch, channels, *cells)`, and maps a function over the
members with `eqx.filter_vmap`, so `jit`, `grad` and sharding see one program.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, Inexact
from tqdm.auto import tqdm

from operators import AbstractOperator

from ._compile import compile_ahead
from ._distributed import is_main, to_host
from ._errors import ConfigError, RunError
from ._scenario import TimeDependentScenario
from ._solve import solve, solve_cfl


# ---------------------------------------------------------------- members


@dataclasses.dataclass(frozen=True)
class Member:
    """One member of a batch: its index, the overrides that make it (`values`,
    dotted key -> value), where each key was given (`sources`, dotted key ->
    config key such as `batch.members.2.physics.nu`), and its validated
    configuration and `physics` section."""

    index: int
    values: dict[str, Any]
    sources: dict[str, str]
    config: Any
    physics: Any

    def value(self, key: str):
        """The value of the dotted `key` in this member's resolved config."""
        node = self.config.model_dump(mode="json")
        for part in key.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def error(self, error: ConfigError) -> ConfigError:
        """`error` (raised for this member's config) re-keyed to the batch key
        that caused it, e.g. `batch.vary.physics.nu: member 3 drew -0.2: ...`."""
        for key, source in self.sources.items():
            if error.key == key or error.key.startswith(key + ".") or key.startswith(error.key + "."):
                message = str(error)[len(error.key) + 2:] if error.key else str(error)
                drew = f"member {self.index} drew {self.values[key]!r}: " if source.startswith("batch.vary") else ""
                return ConfigError(source, drew + message)
        return ConfigError(f"batch.members.{self.index}" if self.sources else "batch", f"member {self.index}: {error}")


def _assign(tree, key: str, value) -> None:
    """Set the dotted `key` in nested dicts and lists (integer parts index lists)."""
    parts = key.split(".")
    node = tree
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the config"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(f"{where} is a list of {len(node)} entries: {part!r} is not an index into it")
            part = int(part)
        elif not isinstance(node, dict):
            raise ValueError(f"{where} is a value, not a section")
        if depth == len(parts) - 1:
            node[part] = value
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            node = node[part]


def member_configs(config, scenario) -> list[Member]:
    """Expand `config.batch` into validated members; raise `ConfigError`
    naming the batch key at fault. Nothing is built or compiled."""
    from ._config import load_config, resolved_dict

    batch = config.batch
    if getattr(getattr(config, "parallel", None), "mesh", None) is not None:
        raise ConfigError("parallel.mesh", "cannot be combined with batch: (the devices carry the batch axis); remove one of them")
    if not issubclass(scenario, TimeDependentScenario):
        raise ConfigError("batch", f"scenario {scenario.name} is not time-dependent; batch: runs a time-dependent scenario's members as one vmapped solve")
    base = resolved_dict(config)
    base.pop("batch")
    members = []
    for index, values in enumerate(batch.overrides(config.seed)):
        listed = batch.members[index] if batch.members is not None else {}
        sources = {key: f"batch.members.{index}.{key}" if key in listed else f"batch.vary.{key}" for key in values}
        raw = copy.deepcopy(base)
        for key, value in values.items():
            try:
                _assign(raw, key, value)
            except ValueError as e:
                raise ConfigError(sources[key], str(e)) from None
        member = Member(index, values, sources, None, None)
        try:
            member_config, physics, _ = load_config(raw)
        except ConfigError as e:
            raise member.error(e) from None
        members.append(dataclasses.replace(member, config=member_config, physics=physics))
    return members


# ---------------------------------------------------------------- the stacked pytree


class NotBatchable(ValueError):
    """Raised by `Ensemble.stack` when `member` differs from member 0 in
    something `vmap` cannot batch (static structure, shapes, dtypes)."""

    def __init__(self, member: int, reason: str):
        self.member = member
        super().__init__(f"member {member} is not batchable with member 0: {reason}")


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays in static fields: compare by value
        try:
            return np.array_equal(np.asarray(a), np.asarray(b))
        except Exception:
            return False


class Ensemble(eqx.Module):
    """Members of one problem as one pytree, ready for `vmap`.

    - `operator`: the members' operators; array leaves that differ between
      members carry a leading batch axis, the others are kept once;
    - `initial`: every member's physical fields, `(batch, channels, *cells)`;
    - `batched`: for each array leaf of `operator` (in `jax.tree.leaves`
      order), whether it is stacked.

    Build with `Ensemble.stack`; `map(fn)` is `fn(operator, initial)` per
    member as one `eqx.filter_vmap`, so a batched loss is differentiated with
    `jax.grad`/`eqx.filter_grad` like any other.
    """

    operator: AbstractOperator
    initial: Inexact[Array, "batch channels *cells"]
    batched: tuple[bool, ...] = eqx.field(static=True)

    @classmethod
    def stack(cls, operators, initial) -> Ensemble:
        """Stack members' operators and initial fields; raise `NotBatchable`
        naming the first member that differs from member 0 in static
        structure (type, grid, scheme, non-array fields) or in the shape or
        dtype of an array."""
        operators, initial = list(operators), [jnp.asarray(y) for y in initial]
        if not operators or len(operators) != len(initial):
            raise ValueError(f"Ensemble.stack: {len(operators)} operators and {len(initial)} initial states")
        ref_dynamic, ref_static = eqx.partition(operators[0], eqx.is_array)
        ref_leaves, ref_def = jax.tree.flatten(ref_dynamic)
        ref_static_leaves, ref_static_def = jax.tree.flatten(ref_static)
        columns = [[leaf] for leaf in ref_leaves]
        for i, op in enumerate(operators[1:], 1):
            dynamic, static = eqx.partition(op, eqx.is_array)
            static_leaves, static_def = jax.tree.flatten(static)
            leaves, treedef = jax.tree.flatten(dynamic)
            if not (_same(static_def, ref_static_def) and treedef == ref_def and len(static_leaves) == len(ref_static_leaves)
                    and all(_same(a, b) for a, b in zip(static_leaves, ref_static_leaves))):
                raise NotBatchable(i, f"its operator differs in static structure (type, grid, scheme or a non-array field): {type(op).__name__}")
            for leaf, ref, column in zip(leaves, ref_leaves, columns):
                if leaf.shape != ref.shape or leaf.dtype != ref.dtype:
                    raise NotBatchable(i, f"an operator array has shape {leaf.shape} ({leaf.dtype}) where member 0's has {ref.shape} ({ref.dtype})")
                column.append(leaf)
            if initial[i].shape != initial[0].shape or initial[i].dtype != initial[0].dtype:
                raise NotBatchable(i, f"initial fields of shape {initial[i].shape} ({initial[i].dtype}), member 0's are {initial[0].shape} ({initial[0].dtype})")
        batched = tuple(not all(np.array_equal(np.asarray(leaf), np.asarray(column[0])) for leaf in column[1:]) for column in columns)
        leaves = [jnp.stack(column) if b else column[0] for column, b in zip(columns, batched)]
        operator = eqx.combine(jax.tree.unflatten(ref_def, leaves), ref_static)
        return cls(operator, jnp.stack(initial), batched)

    @property
    def size(self) -> int:
        return self.initial.shape[0]

    def in_axes(self):
        """`in_axes` for `operator` in `eqx.filter_vmap`: 0 on stacked leaves, None elsewhere."""
        leaves, treedef = jax.tree.flatten(self.operator)
        flags = iter(self.batched)
        return jax.tree.unflatten(treedef, [(0 if next(flags) else None) if eqx.is_array(x) else None for x in leaves])

    def map(self, fn, *args):
        """`fn(operator, initial, *args)` for every member, one `eqx.filter_vmap`
        (`args` are shared by all members); outputs gain a leading batch axis."""
        return eqx.filter_vmap(fn, in_axes=(self.in_axes(), 0, *(None,) * len(args)))(self.operator, self.initial, *args)

    def member(self, i: int) -> tuple[AbstractOperator, Array]:
        """Member `i`'s own operator and initial fields."""
        flags = iter(self.batched)
        operator = jax.tree.map(lambda x: x[i] if eqx.is_array(x) and next(flags) else x, self.operator)
        return operator, self.initial[i]

    def pad(self, multiple: int) -> Ensemble:
        """Repeat the last member until the size is a multiple of `multiple`."""
        extra = -self.size % multiple
        if not extra:
            return self
        grow = lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], extra, axis=0)])  # noqa: E731
        flags = iter(self.batched)
        operator = jax.tree.map(lambda x: grow(x) if eqx.is_array(x) and next(flags) else x, self.operator)
        return Ensemble(operator, grow(self.initial), self.batched)

    def shard(self, mesh: Mesh, axis: str = "batch") -> Ensemble:
        """Place stacked leaves and `initial` split along `axis` of `mesh`
        (the size must divide; see `pad`), shared leaves replicated."""
        split, replicated = NamedSharding(mesh, PartitionSpec(axis)), NamedSharding(mesh, PartitionSpec())
        if self.size % mesh.shape[axis]:
            raise ValueError(f"Ensemble.shard: {self.size} members do not divide over {mesh.shape[axis]} devices; pad first")
        flags = iter(self.batched)
        operator = jax.tree.map(lambda x: jax.device_put(x, split if next(flags) else replicated) if eqx.is_array(x) else x, self.operator)
        return Ensemble(operator, jax.device_put(self.initial, split), self.batched)


def batch_mesh(devices=None) -> Mesh:
    """A 1D mesh named `batch` over `devices` (default: all of them)."""
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), ("batch",))


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
            self.cache = eqx.filter_jit(eqx.filter_vmap(stepper.init, in_axes=(axes, None)))(ensemble.operator, self.dt)
            cache_axes = 0
        else:
            self.cache = eqx.filter_jit(stepper.init)(ensemble.operator, self.dt)
            cache_axes = None
        advance = eqx.filter_vmap(self._advance, in_axes=(axes, 0, None, cache_axes))
        y = ensemble.initial
        t0 = jnp.asarray(0.0, dtype=y.dtype)
        fn = lambda op, y, t0, cache: lax.with_sharding_constraint(advance(op, y, t0, cache), sharding)  # noqa: E731
        self.compiled = compile_ahead(fn, ensemble.operator, y, t0, self.cache)
        jax.block_until_ready(self.cache)
        self.compile_s = time.perf_counter() - t_compile

    def _advance(self, op, y, t0, cache):
        return solve(op, self.stepper, y, dt=self.dt, num_steps=self.gap, t0=t0, stepper_cache=cache).ys[-1]

    def advance(self, y, t0, t1):
        y_next = self.compiled(self.ensemble.operator, y, jnp.asarray(t0, dtype=y.dtype), self.cache)
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
        interval = eqx.filter_vmap(self._interval, in_axes=(ensemble.in_axes(), 0, None, None))

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
            sol = solve_cfl(op, self.stepper, y, t0=t, t1=t1, cfl=self.cfl, max_steps=min(self.chunk, self.max_steps), throw=False)
            return sol.ys[-1], sol.ts[-1], n + sol.num_steps

        return lax.while_loop(cond, body, (y, t0, jnp.asarray(0, dtype=jnp.int32)))

    def advance(self, y, t0, t1):
        y_next, taken, reached = self.compiled(self.ensemble.operator, y, jnp.asarray(t0, dtype=y.dtype), jnp.asarray(t1, dtype=y.dtype))
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
    from ._config import STEPPERS
    from ._io import batched_fields_dataset, write_fields, write_json
    from ._plots import plot_ensemble
    from ._run import CFLMarch, default_errors, FixedMarch, check_physical, constraints_of, find_violation, run_summary

    members = member_configs(config, scenario)
    setups = []
    for m in members:
        try:
            setups.append(scenario().build(m.config, m.physics, jax.random.key(m.config.seed)))
        except ConfigError as e:
            raise m.error(e) from None
    op, grid = setups[0].operator, setups[0].grid
    names, constrained = op.field_names, [constraints_of(s.operator) for s in setups]
    for m, s, c in zip(members, setups, constrained):
        if s.grid != grid:
            raise ConfigError("batch", f"member {m.index} builds the grid {s.grid}, member 0 {grid}: not batchable")
        check_physical(s.initial, names, f"member {m.index} initial data", c)
    try:
        ensemble = Ensemble.stack([s.operator for s in setups], [s.initial for s in setups])
    except NotBatchable as e:
        where = ", ".join(f"{k}={v!r}" for k, v in members[e.member].values.items())
        raise ConfigError(f"batch.members.{e.member}" if config.batch.members is not None else "batch.vary", f"{e} ({where}); only array-valued parameters and initial data may differ") from None

    size, mesh = ensemble.size, batch_mesh()
    devices = mesh.devices.size
    sharding = NamedSharding(mesh, PartitionSpec("batch"))
    padded = ensemble.pad(devices).shard(mesh)
    stepper = STEPPERS[config.stepper]()
    march = (_BatchedCFLMarch if config.time.cfl is not None else BatchedFixedMarch)(config, padded, stepper, sharding)
    snapshots, interval = config.time.snapshots, config.time.t_end / config.time.snapshots

    y = padded.initial
    ts, ys = [0.0], [to_host(y)[:size]]
    steps, failure = np.zeros(size, dtype=np.int64), None
    t_run = time.perf_counter()
    progress = tqdm(total=config.time.t_end, unit="t", delay=2.0, disable=not sys.stderr.isatty(), desc=f"{scenario.name} x{size}", leave=False,
                    bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}]")
    with progress:
        for k in range(snapshots):
            t0, t1 = k * interval, (k + 1) * interval
            y_next, taken = march.advance(y, t0, t1)
            host = to_host(y_next)[:size]  # a gather across processes when several share the batch
            bad = next((i for i in range(size) if find_violation(host[i], names, constrained[i])), None)
            if bad is not None:
                m = members[bad]
                single = (CFLMarch if config.time.cfl is not None else FixedMarch)(m.config, setups[bad].operator, stepper, jnp.asarray(ys[-1][bad]))
                failure = {"member": bad, **single.locate(jnp.asarray(ys[-1][bad]), t0, t1, int(steps[bad]), names, constrained[bad])}
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
    entries = [{"member": m.index, **v, "steps": int(steps[m.index])} for m, v in zip(members, varied)]
    summary = run_summary(config, scenario, grid, march, int(steps.max()), int(steps.sum()), ts[-1], run_s, failure)
    summary["batch"] = {"size": size, "devices": devices, "padded_to": padded.size, "keys": keys}
    exact = None
    if setups[0].exact is not None:
        exact = np.stack([np.stack([np.asarray(s.exact(t)) for t in ts]) for s in setups])
        for entry, s, member_ys, member_exact in zip(entries, setups, fields, exact):
            entry["errors"] = (s.errors or default_errors)(member_ys, member_exact, grid, names)
        summary["errors"] = {key: max(e["errors"][key] for e in entries) for key in entries[0]["errors"]}  # the worst member
    summary["members"] = entries
    if failure:
        summary["failure"] = failure
    keyed = {key: [v[key] for v in varied] for key in keys}
    dataset = batched_fields_dataset(ts, fields, grid, names, keyed, attrs={"scenario": scenario.name, "stepper": config.stepper})
    if is_main():  # multi-process runs: only process 0 writes shared files
        write_fields(out / "fields.nc", dataset)
        if plots:
            summary["plots"] = [str(p.relative_to(out)) for p in plot_ensemble(dataset, exact, out / "plots", scenario.name)]
        write_json(out / "summary.json", summary)
    if failure:
        where = ", ".join(f"{k}={v!r}" for k, v in members[failure["member"]].values.items())
        raise RunError(
            f"member {failure['member']} ({where}) failed at step {failure['step']} (t = {failure['t']:.6g}): {failure['reason']}; "
            f"the batch stopped there; the last good snapshot (t = {ts[-1]:.6g}) and summary.json are in {out}"
        )
    return summary
