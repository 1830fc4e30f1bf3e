"""`diffsim optimize`: a configured inverse problem, start (or resume) to files."""

from __future__ import annotations

import contextlib
from pathlib import Path

import equinox as eqx
import jax
import optax
import yaml

from .. import MemoryBudgetError, RunError, optimize
from ..internal import is_main, resolve_mode, runtime_error_message, tree_to_host
from .config import RunConfig, resolved_dict
from .errors import ConfigError
from .io import one_job_per_folder, write_fields, write_json, write_pytree, write_yaml
from .plots import plot_loss
from .progress import IterationProgress
from .run import device_description, precision
from .scenario import OptimizationScenario, Scenario, build_problem


def _comparable(
    resolved: dict, scenario: type[OptimizationScenario], keys=None
) -> dict:
    """A resolved config minus what may change between a run and its resume.
    `keys` restricts it to the top-level keys of the current resolved config:
    an older `config.yaml` may list keys that do not apply (a Helmholtz job's
    `stepper`), and a scenario with one adjoint has nothing to compare."""
    resolved = yaml.safe_load(yaml.safe_dump(resolved))
    resolved.get("optimize", {}).pop("iterations", None)
    resolved.pop(
        "distributed", None
    )  # a resume may use other processes (each names its own process_id)
    if len(scenario.adjoints) <= 1:
        resolved.pop("adjoint", None)
    return (
        resolved if keys is None else {k: v for k, v in resolved.items() if k in keys}
    )


@one_job_per_folder
def run_optimize(
    config: RunConfig,
    physics,
    scenario: type[Scenario],
    out: Path,
    *,
    plots: bool = True,
) -> dict:
    """Optimize a configured inverse problem into `out` (resuming from
    `out/checkpoints/` when it holds checkpoints of the same configuration)."""
    if not issubclass(scenario, OptimizationScenario):
        raise ConfigError(
            "scenario",
            f"{scenario.name} is not an optimization problem (use diffsim run)",
        )
    if config.batch is not None:
        raise ConfigError(
            "batch",
            "ensembles run with diffsim run; an optimization batches inside its own "
            "loss (remove batch:)",
        )
    out = Path(out)
    resolved = resolved_dict(config)
    previous = out / "config.yaml"
    if previous.exists() and any((out / "checkpoints").glob("iteration_*.eqx")):
        current = _comparable(resolved, scenario)
        if (
            _comparable(yaml.safe_load(previous.read_text()), scenario, current.keys())
            != current
        ):
            raise ConfigError(
                "--out",
                f"{out} holds checkpoints of a different configuration; choose "
                "another --out",
            )
    out.mkdir(parents=True, exist_ok=True)
    if is_main():
        write_yaml(out / "config.yaml", resolved)
    with precision(config.precision):
        try:
            return _optimize(config, physics, scenario, out, plots)
        except (
            MemoryBudgetError
        ) as e:  # raised while tracing the loss, before any step ran
            raise ConfigError("adjoint_memory_budget", str(e)) from None


@contextlib.contextmanager
def _stage(scenario, what: str):
    """A failed check in compiled code outside the loop (an unconverged solve
    while making the synthetic data or the final fields) as one `RunError`
    line naming the stage; the loop names its iteration itself."""
    try:
        yield
    except (jax.errors.JaxRuntimeError, eqx.EquinoxRuntimeError) as e:
        if (message := runtime_error_message(e)) is None:
            raise
        raise RunError(f"{scenario.name}, {what}: {message}") from None


def _optimize(config, physics, scenario, out, plots):
    with _stage(scenario, "setting up the problem (before iteration 0)"):
        problem = build_problem(scenario, config, physics)
    settings = config.optimize
    # `problem.loss` is a bound method: the optimizer differentiates it with
    # respect to the inexact arrays of `params` only; the problem's own
    # fields (data, operators, masks) are constants of the compiled step.
    with IterationProgress(settings.iterations) as progress:
        result = optimize(
            problem.loss,
            problem.params,
            make_optimizer(settings.optimizer, settings.iterations),
            iterations=settings.iterations,
            checkpoint_dir=out / "checkpoints",
            checkpoint_every=settings.checkpoint_every,
            metrics_path=out / "metrics.jsonl",
            gradient=settings.gradient,
            on_resume=lambda it, path: print(
                f"resuming from iteration {it} ({path.relative_to(out)})", flush=True
            ),
            progress=progress,
        )
    # every process computes (collectives), only the main one writes
    params = tree_to_host(result.params)
    with _stage(
        scenario, "fields of the initial and final parameters (checkpoints kept)"
    ):
        initial_fields = problem.fields(problem.params)
        fields = (
            None
            if initial_fields is None
            else (initial_fields, problem.fields(result.params))
        )
    if is_main():
        write_pytree(out / "params.eqx", params)
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
    with _stage(
        scenario, "metrics and figures of the final parameters (checkpoints kept)"
    ):
        summary.update(problem.metrics(result.params))
        if plots and is_main():
            figures = [
                plot_loss(
                    result.history,
                    out / "plots" / "loss.png",
                    scenario.name,
                    problem.loss_label,
                )
            ]
            figures += problem.plot(result.params, out / "plots", result.history)
            summary["plots"] = [str(Path(p).relative_to(out)) for p in figures]
    if is_main():
        write_json(out / "summary.json", summary)
    return summary


def make_optimizer(config, iterations: int) -> optax.GradientTransformation:
    """The optax chain described by an `OptimizerConfig`."""
    sched = config.schedule
    lr = config.learning_rate
    if sched.name == "constant":
        rate = lr
    elif sched.name == "cosine":
        rate = optax.cosine_decay_schedule(
            lr, decay_steps=iterations, alpha=sched.alpha
        )
    elif sched.name == "exponential":
        rate = optax.exponential_decay(
            lr, transition_steps=sched.transition_steps, decay_rate=sched.decay_rate
        )
    else:
        rate = optax.warmup_cosine_decay_schedule(
            0.0,
            lr,
            warmup_steps=sched.warmup_steps,
            decay_steps=iterations,
            end_value=lr * sched.alpha,
        )
    if config.name == "adam":
        opt = optax.adam(rate)
    elif config.name == "adamw":
        opt = optax.adamw(rate, weight_decay=config.weight_decay)
    elif config.name == "sgd":
        opt = optax.sgd(rate, momentum=config.momentum)
    else:
        opt = optax.lbfgs()
    parts = [optax.clip_by_global_norm(config.clip_norm)] if config.clip_norm else []
    return optax.chain(*parts, opt)
