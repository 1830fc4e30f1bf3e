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

from ._config import STEPPERS, RunConfig, resolved_dict
from ._io import fields_dataset, write_fields, write_json, write_yaml
from ._plots import plot_run
from ._scenario import Scenario, Setup
from ._solve import SaveAt, solve


class RunError(RuntimeError):
    """A run that could not start (bad initial data) or stopped (non-finite state)."""


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
    if device.platform == "cpu":
        model = _cpu_model()
        return f"cpu ({model}, {jax.device_count()} device(s))" if model else "cpu"
    return f"{device.platform} ({device.device_kind}, {jax.device_count()} device(s))"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def check_finite(fields, names, what: str) -> None:
    """Raise `RunError` naming the first field and cell that is NaN or Inf."""
    bad = ~np.isfinite(np.asarray(fields))
    if bad.any():
        channel, *cell = np.argwhere(bad)[0]
        raise RunError(f"{what}: field '{names[channel]}' is {np.asarray(fields)[(channel, *cell)]} at cell {tuple(int(c) for c in cell)}")


def run(config: RunConfig, physics, scenario: type[Scenario], out: Path, *, plots: bool = True) -> dict:
    """Run a validated configuration and write config.yaml, fields.nc,
    summary.json and plots/ into `out`. Returns the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_yaml(out / "config.yaml", resolved_dict(config))
    with precision(config.precision):
        return _run(config, physics, scenario, out, plots)


def _run(config, physics, scenario, out, plots):
    setup: Setup = scenario().build(config, physics, jax.random.key(config.seed))
    op, grid = setup.operator, setup.grid
    names = op.field_names
    y = jnp.asarray(setup.initial)
    check_finite(y, names, "initial data")

    stepper = STEPPERS[config.stepper]()
    num_steps, snapshots = config.num_steps, config.time.snapshots
    gap, dt = num_steps // snapshots, config.dt

    @eqx.filter_jit
    def advance(op, y, t0, cache):
        return solve(op, stepper, y, dt=dt, num_steps=gap, t0=t0, stepper_cache=cache).ys[-1]

    t_compile = time.perf_counter()
    cache = eqx.filter_jit(stepper.init)(op, dt)
    t0 = jnp.asarray(0.0, dtype=y.dtype)
    compiled = advance.lower(op, y, t0, cache).compile()
    jax.block_until_ready(cache)
    compile_s = time.perf_counter() - t_compile

    ts, ys = [0.0], [np.asarray(y)]
    failure = None
    t_run = time.perf_counter()
    progress = tqdm(total=num_steps, unit="step", delay=2.0, disable=not sys.stderr.isatty(), desc=scenario.name, leave=False)
    with progress:
        for k in range(snapshots):
            y_next = np.asarray(compiled(op, y, jnp.asarray(k * gap * dt, dtype=y.dtype), cache))
            if not np.isfinite(y_next).all():
                failure = _locate_failure(op, stepper, y, k * gap, gap, dt, cache, names)
                break
            y = jnp.asarray(y_next)
            ts.append((k + 1) * gap * dt)
            ys.append(y_next)
            progress.update(gap)
    run_s = time.perf_counter() - t_run
    steps = failure["step"] - 1 if failure else num_steps

    summary = {
        "scenario": scenario.name,
        "status": "nonfinite" if failure else "ok",
        "steps": steps,
        "dt": dt,
        "t_final": ts[-1],
        "cells": list(grid.cells),
        "stepper": config.stepper,
        "precision": config.precision,
        "device": device_description(),
        "compile_s": compile_s,
        "run_s": run_s,
        "cell_updates_per_s": grid.num_cells * steps / run_s if run_s > 0 else None,
    }
    dataset = fields_dataset(ts, np.stack(ys), grid, names, attrs={"scenario": scenario.name, "stepper": config.stepper})
    exact = None
    if setup.exact is not None:
        exact_ys = np.stack([np.asarray(setup.exact(t)) for t in ts])
        exact = fields_dataset(ts, exact_ys, grid, names)
        diff = ys[-1] - exact_ys[-1]
        summary["errors"] = {
            "l2_relative": float(np.linalg.norm(diff) / np.linalg.norm(exact_ys[-1])),
            "linf": float(np.max(np.abs(diff))),
            "l2_relative_max_over_time": float(max(np.linalg.norm(a - b) / np.linalg.norm(b) for a, b in zip(ys, exact_ys))),
        }
    if failure:
        summary["failure"] = failure
    write_fields(out / "fields.nc", dataset)
    if plots:
        summary["plots"] = [str(p.relative_to(out)) for p in plot_run(dataset, exact, out / "plots", scenario.name)]
    write_json(out / "summary.json", summary)
    if failure:
        raise RunError(
            f"run stopped at step {failure['step']} (t = {failure['t']:.6g}): non-finite values in field "
            f"'{failure['field']}' at cell {tuple(failure['cell'])}; the last good snapshot (t = {ts[-1]:.6g}) "
            f"and summary.json are in {out}"
        )
    return summary


def _locate_failure(op, stepper, y, first_step, num_steps, dt, cache, names) -> dict:
    """Re-run a failed chunk one step at a time to name the first bad step,
    field and cell."""
    one = eqx.filter_jit(lambda op, y, t0, cache: solve(op, stepper, y, dt=dt, num_steps=1, t0=t0, stepper_cache=cache).ys[-1])
    for k in range(first_step + 1, first_step + num_steps + 1):
        y = one(op, y, jnp.asarray((k - 1) * dt, dtype=y.dtype), cache)
        bad = ~np.isfinite(np.asarray(y))
        if bad.any():
            channel, *cell = np.argwhere(bad)[0]
            return {"step": k, "t": k * dt, "field": names[channel], "cell": [int(c) for c in cell]}
    # Stepping singly stayed finite (should not happen on CPU); report the chunk.
    bad = ~np.isfinite(np.asarray(y))
    return {"step": first_step + num_steps, "t": (first_step + num_steps) * dt, "field": names[0], "cell": []}
