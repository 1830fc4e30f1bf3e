"""`diffsim optimize`: a configured inverse problem, start (or resume) to files."""

from __future__ import annotations

import contextlib
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import yaml

from ._adjoint import MemoryBudgetError
from ._config import RunConfig, resolved_dict
from ._distributed import is_main, tree_to_host
from ._errors import ConfigError
from ._gradients import resolve_mode
from ._io import write_fields, write_json, write_yaml
from ._optimize import make_optimizer, optimize
from ._plots import plot_loss
from ._run import device_description, precision
from ._scenario import OptimizationScenario, Scenario


def _comparable(resolved: dict) -> dict:
    """A resolved config minus what may change between a run and its resume."""
    resolved = yaml.safe_load(yaml.safe_dump(resolved))
    resolved.get("optimize", {}).pop("iterations", None)
    resolved.pop("distributed", None)  # a resume may use other processes (each names its own process_id)
    return resolved


def run_optimize(config: RunConfig, physics, scenario: type[Scenario], out: Path, *, plots: bool = True) -> dict:
    """Optimize a configured inverse problem into `out` (resuming from
    `out/checkpoints/` when it holds checkpoints of the same configuration)."""
    if not issubclass(scenario, OptimizationScenario):
        raise ConfigError("scenario", f"{scenario.name} is not an optimization problem (use diffsim run)")
    if config.batch is not None:
        raise ConfigError("batch", "ensembles run with diffsim run; an optimization batches inside its own loss (remove batch:)")
    out = Path(out)
    resolved = resolved_dict(config)
    previous = out / "config.yaml"
    if previous.exists() and any((out / "checkpoints").glob("iteration_*.eqx")):
        if _comparable(yaml.safe_load(previous.read_text())) != _comparable(resolved):
            raise ConfigError("--out", f"{out} holds checkpoints of a different configuration; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if is_main():
        write_yaml(out / "config.yaml", resolved)
    with precision(config.precision):
        try:
            return _optimize(config, physics, scenario, out, plots)
        except MemoryBudgetError as e:  # raised while tracing the loss, before any step ran
            raise ConfigError("adjoint_memory_budget", str(e)) from None


def _optimize(config, physics, scenario, out, plots):
    problem = scenario().build_problem(config, physics, jax.random.key(config.seed))
    settings = config.optimize
    result = optimize(
        problem.loss,
        problem.params,
        make_optimizer(settings.optimizer, settings.iterations),
        iterations=settings.iterations,
        checkpoint_dir=out / "checkpoints",
        checkpoint_every=settings.checkpoint_every,
        metrics_path=out / "metrics.jsonl",
        gradient=settings.gradient,
    )
    # every process computes (collectives), only the main one writes
    params = tree_to_host(result.params)
    fields = None if problem.fields is None else (problem.fields(problem.params), problem.fields(result.params))
    if is_main():
        eqx.tree_serialise_leaves(out / "params.eqx", params)
        if fields is not None:
            write_fields(out / "fields_initial.nc", fields[0])
            write_fields(out / "fields.nc", fields[1])
    summary = {
        "scenario": scenario.name,
        "status": "ok",
        "loss_initial": result.loss_initial,
        "loss_final": result.loss_final,
        "iterations": result.iterations,
        "resumed_from": result.resumed_from,
        "wall_s": result.wall_s,
        "compile_s": result.compile_s,
        "optimizer": settings.optimizer.name,
        "gradient": resolve_mode(settings.gradient, problem.params),
        "precision": config.precision,
        "device": device_description(),
    }
    if problem.metrics is not None:
        summary.update(problem.metrics(problem.params, result.params))
    if plots and is_main():
        figures = [plot_loss(result.history, out / "plots" / "loss.png", scenario.name)]
        if problem.plot is not None:
            figures += problem.plot(problem.params, result.params, result.history, out / "plots")
        summary["plots"] = [str(Path(p).relative_to(out)) for p in figures]
    if is_main():
        write_json(out / "summary.json", summary)
    return summary
