"""`diffsim run`: one configured forward simulation, start to files."""

from __future__ import annotations

import contextlib
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from .. import Ensemble, RunError, batch_mesh
from ..internal import NotBatchable, is_main
from .config import (
    STEPPERS,
    RunConfig,
    check_cfl_steps,
    member_configs,
    resolved_dict,
)
from .errors import ConfigError
from .io import (
    batched_fields_dataset,
    fields_dataset,
    one_job_per_folder,
    write_fields,
    write_json,
    write_yaml,
)
from .march import (
    BatchedMarch,
    March,
    check_physical,
    constraints_of,
    march_snapshots,
    step_rule,
)
from .plots import plot_ensemble, plot_run
from .scenario import (
    Scenario,
    Setup,
    SteadyScenario,
    TimeDependentScenario,
    build_setup,
    cfl_applies,
    solve_steady,
)


@contextlib.contextmanager
def precision(name: str):
    """Run a block in float64 or float32, restoring the previous setting."""
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", name == "float64")
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def device_description() -> str:
    device = jax.devices()[0]
    processes = f", {jax.process_count()} processes" if jax.process_count() > 1 else ""
    if device.platform == "cpu":
        model = cpu_model()
        return (
            f"cpu ({model}, {jax.device_count()} device(s){processes})"
            if model
            else "cpu"
        )
    count = f"{jax.device_count()} device(s){processes}"
    return f"{device.platform} ({device.device_kind}, {count})"


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo), for summaries and benchmarks."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


@one_job_per_folder
def run(
    config: RunConfig,
    physics,
    scenario: type[Scenario],
    out: Path,
    *,
    plots: bool = True,
) -> dict:
    """Run a validated configuration and write config.yaml, fields.nc,
    summary.json and plots/ into `out`. Returns the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if is_main():  # multi-process runs: only process 0 writes shared files
        write_yaml(out / "config.yaml", resolved_dict(config))
    with precision(config.precision):
        if issubclass(scenario, SteadyScenario):
            return _run_steady(config, physics, scenario, out, plots)
        if config.batch is not None:  # an ensemble: one vmapped solve
            return _run_ensemble(config, scenario, out, plots)
        return _run(config, physics, scenario, out, plots)


def precheck(config: RunConfig, physics, scenario: type[Scenario]) -> None:
    """Checks that need the initial fields, made before `run` creates or
    writes anything: `check_cfl_steps` (a step count that cannot reach
    `time.t_end`, a fixed step beyond CFL 1) and, when the config chooses a
    discretization or boundaries, the build itself (a physics term that the
    discretization cannot evaluate, `BuildContext.discretize`). Builds the
    problem once without compiling its time loop; only for finite-volume
    scenarios (`cfl_applies`) or such choices, where the build is cheap.
    Raises `ConfigError`."""
    chosen = config.discretization is not None or config.boundary is not None
    if (
        not issubclass(scenario, TimeDependentScenario)
        or not (cfl_applies(scenario, config) or chosen)
        or config.batch is not None
    ):
        return
    with precision(config.precision):
        try:
            setup = build_setup(scenario, config, physics)
        except ConfigError:
            raise
        except (
            ValueError,
            TypeError,
            RunError,
        ):  # not a config error: `run` builds again and reports it as it does
            return
        check_cfl_steps(config, setup.operator, jnp.asarray(setup.initial))
        if config.parallel.mesh is not None:  # blocks against the stencil's halo
            sharded(setup.operator, jnp.asarray(setup.initial), config.parallel.mesh)


def _run_steady(config, physics, scenario, out, plots):
    """A stationary problem: one solve, timed as a whole (`run_s` includes
    compilation, which the scenario may report separately as `compile_s`)."""
    t_start = time.perf_counter()
    result = solve_steady(scenario, config, physics)
    summary = {
        "scenario": scenario.name,
        "status": "ok",
        "cells": list(config.grid.cells),
        "precision": config.precision,
        "device": device_description(),
        **result.summary,
    }
    summary.setdefault("run_s", time.perf_counter() - t_start)
    if is_main():
        write_fields(out / "fields.nc", result.fields)
        if plots and result.plot is not None:
            summary["plots"] = [
                str(Path(p).relative_to(out)) for p in result.plot(out / "plots")
            ]
        write_json(out / "summary.json", summary)
    return summary


def sharded(op, y, mesh_shape):
    """`op` and `y` split across a device mesh (`_parallel.py`); a mesh that
    does not fit the devices, the grid or the operator is a `ConfigError`
    naming `parallel.mesh`."""
    from ..internal import MeshError, make_mesh, shard_operator

    try:
        op, sharding = shard_operator(op, make_mesh(mesh_shape))
    except MeshError as e:
        raise ConfigError("parallel.mesh", str(e)) from None
    return op, jax.device_put(y, sharding)


def _run(config, physics, scenario, out, plots):
    setup: Setup = build_setup(scenario, config, physics)
    op, grid = setup.operator, setup.grid
    # before sharding wraps the operator
    names, constrained = op.field_names, constraints_of(op)
    y = jnp.asarray(setup.initial)
    check_physical(y, names, "initial data", constrained)
    # refuse a CFL run that cannot reach t_end, before compiling
    check_cfl_steps(config, op, y)
    if config.parallel.mesh is not None:  # one solve split across devices
        op, y = sharded(op, y, config.parallel.mesh)

    rule = step_rule(config, STEPPERS[config.stepper]())
    march = March(rule, op, y, names, constrained)
    done = march_snapshots(
        march, y, config.time.t_end, config.time.snapshots, scenario.name
    )
    ts, ys, failure = done.ts, done.ys, done.failure

    summary = run_summary(
        config,
        scenario,
        grid,
        march,
        done.steps,
        done.steps,
        ts[-1],
        done.run_s,
        failure,
    )
    dataset = fields_dataset(
        ts,
        np.stack(ys),
        grid,
        names,
        attrs={"scenario": scenario.name, "stepper": config.stepper},
    )
    exact = None
    if setup.exact is not None:
        exact_ys = np.stack([np.asarray(setup.exact(t)) for t in ts])
        exact = fields_dataset(ts, exact_ys, grid, names)
        summary["errors"] = (setup.errors or default_errors)(
            np.stack(ys), exact_ys, grid, names
        )
    if setup.diagnostics is not None:
        summary.update(setup.diagnostics(np.asarray(ts), np.stack(ys)))
    if failure:
        summary["failure"] = failure
    if is_main():
        write_fields(out / "fields.nc", dataset)
        if plots:
            paths = (
                plot_run(dataset, exact, out / "plots", scenario.name)
                if setup.standard_plots
                else []
            )
            if setup.plot is not None:
                paths += setup.plot(np.asarray(ts), np.stack(ys), out / "plots")
            summary["plots"] = [str(Path(p).relative_to(out)) for p in paths]
        write_json(out / "summary.json", summary)
    if failure:
        raise RunError(
            f"run stopped at step {failure['step']} (t = {failure['t']:.6g}): "
            f"{failure['reason']}; the last good snapshot (t = {ts[-1]:.6g}) and "
            f"summary.json are in {out}"
        )
    return summary


def _run_ensemble(config, scenario, out: Path, plots: bool = True) -> dict:
    """`diffsim run` of a config with a `batch:` section: the members built,
    stacked into one `diffsim.Ensemble` and marched by the run's step rule
    under `vmap`, the batch axis sharded across every device. Writes
    fields.nc with a leading `batch` dimension, summary.json with per-member
    entries, plots/ with an overlay of the members."""
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
                f"member {m.index} builds the grid {s.grid}, member 0 {grid}: "
                "not batchable",
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
    padded = ensemble.pad(devices).shard(mesh)
    rule = step_rule(config, STEPPERS[config.stepper]())
    march = BatchedMarch(
        rule.batched(),
        padded,
        NamedSharding(mesh, PartitionSpec("batch")),
        size,
        [s.operator for s in setups],
        names,
        constrained,
    )
    done = march_snapshots(
        march,
        padded.initial,
        config.time.t_end,
        config.time.snapshots,
        f"{scenario.name} x{size}",
    )
    ts, steps, failure = done.ts, np.asarray(done.steps), done.failure

    fields = np.stack(done.ys, axis=1)  # (batch, t, channels, *cells)
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
        done.run_s,
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
            f"member {failure['member']} ({where}) failed at step {failure['step']} "
            f"(t = {failure['t']:.6g}): {failure['reason']}; the batch stopped "
            f"there; the last good snapshot (t = {ts[-1]:.6g}) and summary.json are "
            f"in {out}"
        )
    return summary


def run_summary(
    config, scenario, grid, march, steps, cell_steps, t_final, run_s, failure
) -> dict:
    """The `summary.json` fields every time-dependent run reports: `steps`
    (the largest over ensemble members) and throughput from `cell_steps`
    (steps summed over members)."""
    return {
        "scenario": scenario.name,
        "status": "failed" if failure else "ok",
        "steps": steps,
        "dt": march.dt,
        "cfl": config.time.cfl,
        "t_final": t_final,
        "cells": list(grid.cells),
        "stepper": config.stepper,
        "precision": config.precision,
        "device": device_description(),
        **({"mesh": config.parallel.mesh} if config.parallel.mesh is not None else {}),
        "compile_s": march.compile_s,
        "run_s": run_s,
        "cell_updates_per_s": grid.num_cells * cell_steps / run_s
        if run_s > 0
        else None,
    }


def default_errors(ys, exact_ys, grid, names) -> dict:
    """Relative L2 and max errors over all fields at the final time."""
    diff = ys[-1] - exact_ys[-1]
    return {
        "l2_relative": float(np.linalg.norm(diff) / np.linalg.norm(exact_ys[-1])),
        "linf": float(np.max(np.abs(diff))),
        "l2_relative_max_over_time": float(
            max(np.linalg.norm(a - b) / np.linalg.norm(b) for a, b in zip(ys, exact_ys))
        ),
    }
