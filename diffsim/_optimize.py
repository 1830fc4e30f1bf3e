"""`optimize`: an optax loop over any parameter pytree, with exact resume."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from ._backward_probe import locate_nonfinite_gradient
from ._compile import compile_ahead
from ._distributed import barrier, broadcast, is_main, place_like, tree_to_host
from ._errors import RunError
from ._gradients import value_and_grad

_CHECKPOINT = re.compile(r"iteration_(\d{6,})\.eqx$")


@dataclasses.dataclass
class OptimizeResult:
    """Final parameters, the per-iteration history (dicts with `iteration`,
    `loss`, `grad_norm`, `wall_s`), the loss at the start and at the final
    parameters, and timings. `resumed_from` is the checkpoint iteration the
    run continued from (0 for a fresh run)."""

    params: Any
    history: list[dict]
    loss_initial: float
    loss_final: float
    iterations: int
    wall_s: float
    compile_s: float
    resumed_from: int


def optimize(
    loss_fn: Callable[[Any], jax.Array],
    params,
    optimizer: optax.GradientTransformation,
    *,
    iterations: int,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 10,
    metrics_path: str | Path | None = None,
    progress: bool | None = None,
    gradient: str = "reverse",
) -> OptimizeResult:
    """Minimise `loss_fn(params)` with `optimizer` for `iterations` steps.

    `params` is any pytree (arrays, equinox modules); leaves that are not
    inexact arrays are held fixed. The loss and its gradient are evaluated
    in one jitted step with the optimizer update (so L-BFGS line searches
    work: the step passes `value`, `grad` and `value_fn` to optax).

    With `checkpoint_dir`, parameters, optimizer state and iteration are
    saved every `checkpoint_every` iterations as `iteration_NNNNNN.eqx`
    (written to a temporary file and renamed: complete or absent). If the
    folder already holds checkpoints, the run resumes from the latest, and
    the result is bitwise the one an uninterrupted run gives on CPU.
    `metrics_path` receives one JSON line per iteration (truncated back to
    the checkpoint on resume).

    A non-finite loss or gradient stops the run with a `RunError` naming the
    iteration and the parameter leaf; checkpoints already written are kept.

    `gradient` is `"reverse"`, `"forward"` (one JVP per parameter) or
    `"auto"` (forward for a handful of parameters), see `value_and_grad`.
    """
    optimizer = optax.with_extra_args_support(optimizer)
    dynamic, static = eqx.partition(params, eqx.is_inexact_array)

    def full_loss(dynamic):
        return loss_fn(eqx.combine(dynamic, static))

    def step(dynamic, opt_state):
        loss, grads = value_and_grad(full_loss, gradient)(dynamic)
        updates, opt_state = optimizer.update(grads, opt_state, dynamic, value=loss, grad=grads, value_fn=full_loss)
        finite = jax.tree.map(lambda g: jnp.all(jnp.isfinite(g)), grads)
        grad_norm = optax.tree.norm(grads)
        return eqx.apply_updates(dynamic, updates), opt_state, loss, finite, grad_norm

    opt_state = optimizer.init(dynamic)
    start = 0
    history: list[dict] = []
    checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    if checkpoint_dir is not None:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        latest = _agreed_checkpoint(checkpoint_dir)
        if latest is not None:
            start, dynamic, opt_state = _load(latest, dynamic, opt_state)
    if metrics_path is not None:
        history = _read_metrics(Path(metrics_path), keep_through=start)
        barrier("diffsim-optimize-metrics-read")  # every process has read before the main one rewrites
        if is_main():
            _write_lines(Path(metrics_path), history)

    t_compile = time.perf_counter()
    compiled = compile_ahead(step, dynamic, opt_state)
    compile_s = time.perf_counter() - t_compile
    leaf_names = [jax.tree_util.keystr(path) or "params" for path, _ in jax.tree_util.tree_flatten_with_path(dynamic)[0]]

    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=iterations, initial=start, unit="it", disable=not show, delay=1.0, desc="optimize")
    t_start = time.perf_counter()
    wall_before = history[-1]["wall_s"] if history else 0.0
    with bar:
        for it in range(start, iterations):
            new_dynamic, new_state, loss, finite, grad_norm = compiled(dynamic, opt_state)
            loss = float(loss)
            bad = [name for name, ok in zip(leaf_names, jax.tree.leaves(finite)) if not bool(ok)]
            if not np.isfinite(loss) or bad:
                what = "loss" if not np.isfinite(loss) else "gradient"
                leaf = bad[0] if bad else "(the loss itself)"
                # a finite loss with a non-finite gradient: re-run the gradient once, probed, to name the time step
                where = f"; {locate_nonfinite_gradient(full_loss, dynamic)}" if what == "gradient" else ""
                kept = latest_checkpoint(checkpoint_dir) if checkpoint_dir is not None else None
                raise RunError(
                    f"iteration {it}: non-finite {what} (loss = {loss}) in parameter leaf {leaf}{where}; "
                    + (f"last good checkpoint kept: {kept}" if kept else "no checkpoint was written yet")
                )
            record = {"iteration": it, "loss": loss, "grad_norm": float(grad_norm), "wall_s": wall_before + time.perf_counter() - t_start}
            history.append(record)
            if metrics_path is not None and is_main():
                _append_line(Path(metrics_path), record)
            dynamic, opt_state = new_dynamic, new_state
            if checkpoint_dir is not None and ((it + 1) % checkpoint_every == 0 or it + 1 == iterations):
                _save(checkpoint_dir, it + 1, dynamic, opt_state)
            bar.set_postfix(loss=f"{loss:.4e}", refresh=False)
            bar.update(1)
    final_loss = float(eqx.filter_jit(full_loss)(dynamic))
    wall_s = wall_before + time.perf_counter() - t_start
    loss_initial = history[0]["loss"] if history else final_loss
    return OptimizeResult(
        params=eqx.combine(dynamic, static),
        history=history,
        loss_initial=loss_initial,
        loss_final=final_loss,
        iterations=iterations,
        wall_s=wall_s,
        compile_s=compile_s,
        resumed_from=start,
    )


def latest_checkpoint(folder: Path | None) -> Path | None:
    """The checkpoint with the highest iteration in `folder`, if any."""
    if folder is None or not Path(folder).is_dir():
        return None
    found = [(int(m.group(1)), p) for p in Path(folder).iterdir() if (m := _CHECKPOINT.match(p.name))]
    return max(found)[1] if found else None


def _agreed_checkpoint(folder: Path) -> Path | None:
    """The latest checkpoint as the main process sees it, the same on every
    process (a process that starts late must not pick up a newer one)."""
    latest = latest_checkpoint(folder)
    iteration = int(broadcast(np.int64(int(_CHECKPOINT.match(latest.name).group(1)) if latest else -1)))
    return None if iteration < 0 else folder / f"iteration_{iteration:06d}.eqx"


def _save(folder: Path, iteration: int, dynamic, opt_state) -> Path:
    """Checkpoint one iteration. Multi-process: every process takes part
    in gathering sharded leaves, the main process writes the whole (small)
    parameter and optimizer state as one file, so a resume may use any
    number of processes or devices (see docs/scaling.md)."""
    path = folder / f"iteration_{iteration:06d}.eqx"
    tree = tree_to_host((jnp.asarray(iteration), dynamic, opt_state))
    if not is_main():
        return path
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".eqx")
    try:
        with os.fdopen(fd, "wb") as f:
            eqx.tree_serialise_leaves(f, tree)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _load(path: Path, dynamic, opt_state):
    like = (jnp.asarray(0), dynamic, opt_state)
    iteration, dynamic, opt_state = jax.tree.map(place_like, eqx.tree_deserialise_leaves(path, like), like)
    return int(iteration), dynamic, opt_state


def _read_metrics(path: Path, keep_through: int) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill
            break
        if record["iteration"] < keep_through:
            records.append(record)
    return records


def _write_lines(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _append_line(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def make_optimizer(config, iterations: int) -> optax.GradientTransformation:
    """The optax chain described by an `OptimizerConfig`."""
    sched = config.schedule
    lr = config.learning_rate
    if sched.name == "constant":
        rate = lr
    elif sched.name == "cosine":
        rate = optax.cosine_decay_schedule(lr, decay_steps=iterations, alpha=sched.alpha)
    elif sched.name == "exponential":
        rate = optax.exponential_decay(lr, transition_steps=sched.transition_steps, decay_rate=sched.decay_rate)
    else:
        rate = optax.warmup_cosine_decay_schedule(0.0, lr, warmup_steps=sched.warmup_steps, decay_steps=iterations, end_value=lr * sched.alpha)
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
