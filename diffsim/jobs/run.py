"""`diffsim run`: one configured forward simulation, start to files."""

from __future__ import annotations

import contextlib
import platform
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from diffsim.operators import AbstractConstrainedOperator

from .. import RunError, compile_ahead, solve, solve_cfl
from ..internal import ConfigError, is_main, to_host
from .config import STEPPERS, RunConfig, check_cfl_steps, resolved_dict
from .io import fields_dataset, one_job_per_folder, write_fields, write_json, write_yaml
from .plots import plot_run
from .scenario import (
    Scenario,
    Setup,
    SteadyScenario,
    TimeDependentScenario,
    build_setup,
)


@contextlib.contextmanager
def precision(name: str):
    """Run a block in float64 or float32, restoring the previous setting."""
    previous = jax.config.jax_enable_x64
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
    return f"{device.platform} ({device.device_kind}, {jax.device_count()} device(s){processes})"


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo), for summaries and benchmarks."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def find_violation(
    fields, names, constrained: AbstractConstrainedOperator | None = None
) -> str | None:
    """The first field and cell that is NaN or Inf or, for an operator with
    physical constraints (`AbstractConstrainedOperator`, e.g. `Euler`), the
    first constrained quantity (density, pressure) that is not strictly
    positive, as a message; None when the fields are physical."""
    fields = to_host(
        fields
    )  # a gather (every process calls this) when sharded over processes
    for channel, name in enumerate(names):
        values = fields[channel]
        bad = ~np.isfinite(values)
        if bad.any():
            cell = tuple(int(c) for c in np.argwhere(bad)[0])
            return f"field '{name}' is {values[cell]:.6g} at cell {cell}"
    if constrained is not None:
        values = np.asarray(constrained.positive_values(fields))
        for name, quantity in zip(constrained.positive_quantities, values):
            bad = ~(quantity > 0)
            if bad.any():
                cell = tuple(int(c) for c in np.argwhere(bad)[0])
                what = "field" if name in names else "quantity"
                return f"{what} '{name}' is {quantity[cell]:.6g} (must be > 0) at cell {cell}"
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
        if config.batch is not None:  # an ensemble: one vmapped solve (_ensemble.py)
            from .ensemble import run_ensemble

            return run_ensemble(config, scenario, out, plots)
        return _run(config, physics, scenario, out, plots)


def precheck(config: RunConfig, physics, scenario: type[Scenario]) -> None:
    """Checks that need the initial fields, made before `run` creates or
    writes anything: `check_cfl_steps` (a step count that cannot reach
    `time.t_end`, a fixed step beyond CFL 1). Builds the problem once
    without compiling its time loop; only for finite-volume scenarios
    (`cfl_steps`), where the build is cheap. Raises `ConfigError`."""
    if (
        not issubclass(scenario, TimeDependentScenario)
        or not scenario.cfl_steps
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
            from ..internal import make_mesh, shard_operator

            shard_operator(setup.operator, make_mesh(config.parallel.mesh))


def _run_steady(config, physics, scenario, out, plots):
    """A stationary problem: one solve, timed as a whole (`run_s` includes
    compilation, which the scenario may report separately as `compile_s`)."""
    t_start = time.perf_counter()
    result = scenario().solve(config, physics, jax.random.key(config.seed))
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


def _run(config, physics, scenario, out, plots):
    setup: Setup = build_setup(scenario, config, physics)
    op, grid = setup.operator, setup.grid
    names, constrained = (
        op.field_names,
        constraints_of(op),
    )  # before sharding wraps the operator
    y = jnp.asarray(setup.initial)
    check_physical(y, names, "initial data", constrained)
    check_cfl_steps(
        config, op, y
    )  # refuse a CFL run that cannot reach t_end, before compiling
    if (
        config.parallel.mesh is not None
    ):  # one solve split across devices (_parallel.py)
        from ..internal import make_mesh, shard_operator

        op, sharding = shard_operator(op, make_mesh(config.parallel.mesh))
        y = jax.device_put(y, sharding)

    stepper = STEPPERS[config.stepper]()
    march = (CFLMarch if config.time.cfl is not None else FixedMarch)(
        config, op, stepper, y
    )
    snapshots, interval = (
        config.time.snapshots,
        config.time.t_end / config.time.snapshots,
    )

    ts, ys = [0.0], [to_host(y)]
    failure, steps = None, 0
    t_run = time.perf_counter()
    progress = tqdm(
        total=config.time.t_end,
        unit="t",
        delay=2.0,
        disable=not sys.stderr.isatty(),
        desc=scenario.name,
        leave=False,
        bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}]",
    )
    with progress:
        for k in range(snapshots):
            y_next, taken = march.advance(y, k * interval, (k + 1) * interval)
            host = to_host(y_next)  # a gather when the state is sharded over processes
            if find_violation(host, names, constrained):
                failure = march.locate(
                    y, k * interval, (k + 1) * interval, steps, names, constrained
                )
                break
            steps += int(taken)
            y = y_next  # stays on the device(s), sharded as it was
            ts.append((k + 1) * interval)
            ys.append(host)
            progress.update(interval)
    run_s = time.perf_counter() - t_run

    summary = run_summary(
        config, scenario, grid, march, steps, steps, ts[-1], run_s, failure
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
    if failure:
        summary["failure"] = failure
    if is_main():
        write_fields(out / "fields.nc", dataset)
        if plots:
            summary["plots"] = [
                str(p.relative_to(out))
                for p in plot_run(dataset, exact, out / "plots", scenario.name)
            ]
        write_json(out / "summary.json", summary)
    if failure:
        raise RunError(
            f"run stopped at step {failure['step']} (t = {failure['t']:.6g}): {failure['reason']}; "
            f"the last good snapshot (t = {ts[-1]:.6g}) and summary.json are in {out}"
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


class FixedMarch:
    """Fixed steps: `num_steps / snapshots` steps per snapshot interval, one
    compiled function for every interval, ETDRK coefficients computed once."""

    def __init__(self, config, op, stepper, y):
        self.op, self.stepper = op, stepper
        self.gap, self.dt = config.num_steps // config.time.snapshots, config.dt
        t_compile = time.perf_counter()
        self.cache = eqx.filter_jit(stepper.init)(op, self.dt)
        t0 = jnp.asarray(0.0, dtype=y.dtype)
        self.compiled = compile_ahead(self._advance, op, y, t0, self.cache)
        jax.block_until_ready(self.cache)
        self.compile_s = time.perf_counter() - t_compile

    def _advance(self, op, y, t0, cache, num_steps=None):
        return solve(
            op,
            self.stepper,
            y,
            dt=self.dt,
            num_steps=num_steps or self.gap,
            t0=t0,
            stepper_cache=cache,
        ).ys[-1]

    def advance(self, y, t0, t1):
        return self.compiled(
            self.op, y, jnp.asarray(t0, dtype=y.dtype), self.cache
        ), self.gap

    def locate(self, y, t0, t1, steps_before, names, constrained):
        one = eqx.filter_jit(
            lambda op, y, t0, cache: self._advance(op, y, t0, cache, num_steps=1)
        )
        for j in range(1, self.gap + 1):
            y = one(
                self.op,
                y,
                jnp.asarray(t0 + (j - 1) * self.dt, dtype=y.dtype),
                self.cache,
            )
            if reason := find_violation(y, names, constrained):
                return {
                    "step": steps_before + j,
                    "t": t0 + j * self.dt,
                    "reason": reason,
                }
        return {
            "step": steps_before + self.gap,
            "t": t1,
            "reason": "non-physical state within this interval",
        }


class CFLMarch:
    """CFL-controlled steps (`solve_cfl`), one compiled function per snapshot
    interval with traced end points, at most `time.max_steps` steps each."""

    def __init__(self, config, op, stepper, y):
        self.op, self.stepper = op, stepper
        self.cfl, self.max_steps, self.dt = config.time.cfl, config.time.max_steps, None
        t_compile = time.perf_counter()
        t = jnp.asarray(0.0, dtype=y.dtype)
        self.compiled = compile_ahead(self._advance, op, y, t, t)
        self.compile_s = time.perf_counter() - t_compile

    def _advance(self, op, y, t0, t1, max_steps=None):
        sol = solve_cfl(
            op,
            self.stepper,
            y,
            t0=t0,
            t1=t1,
            cfl=self.cfl,
            max_steps=max_steps or self.max_steps,
            throw=False,
        )
        return sol.ys[-1], sol.num_steps, sol.ts[-1]

    def advance(self, y, t0, t1):
        y_next, taken, reached = self.compiled(
            self.op, y, jnp.asarray(t0, dtype=y.dtype), jnp.asarray(t1, dtype=y.dtype)
        )
        if float(reached) < t1 and np.isfinite(to_host(y_next)).all():
            raise RunError(
                f"time.max_steps: {self.max_steps} steps were not enough to advance from t = {t0:.6g} to {t1:.6g} "
                f"(reached t = {float(reached):.6g}); raise time.max_steps or time.snapshots"
            )
        return y_next, taken

    def locate(self, y, t0, t1, steps_before, names, constrained):
        one = eqx.filter_jit(
            lambda op, y, t0, t1: self._advance(op, y, t0, t1, max_steps=1)
        )
        t = t0
        for j in range(1, self.max_steps + 1):
            y, _, reached = one(
                self.op,
                y,
                jnp.asarray(t, dtype=y.dtype),
                jnp.asarray(t1, dtype=y.dtype),
            )
            reached = float(reached)
            if (reason := find_violation(y, names, constrained)) or not reached > t:
                return {
                    "step": steps_before + j,
                    "t": reached,
                    "reason": reason or "no admissible time step (CFL)",
                }
            t = reached
        return {
            "step": steps_before + self.max_steps,
            "t": t,
            "reason": "non-physical state within this interval",
        }
