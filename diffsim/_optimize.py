"""`optimize`: an optax loop over any parameter pytree, with exact resume."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import numbers
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._backward_probe import locate_nonfinite_gradient
from ._compile import compile_ahead
from ._distributed import barrier, broadcast, is_main, place_like, tree_to_host
from ._errors import RunError
from ._files import WriteError, append_line, atomic_write, sync_file
from ._gradients import GradientMode, value_and_grad
from .operators.internal import checks_own_arguments

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


@checks_own_arguments
def optimize(
    loss_fn: Callable[[Any], jax.Array],
    params,
    optimizer: optax.GradientTransformation,
    *,
    iterations: int,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 10,
    metrics_path: str | Path | None = None,
    progress: Callable[[int, float], None] | None = None,
    gradient: GradientMode = "reverse",
    on_resume: Callable[[int, Path], None] | None = None,
) -> OptimizeResult:
    """Minimise `loss_fn(params)` with `optimizer` for `iterations` steps,
    with checkpoints that a later call resumes from exactly.

    The loss and its gradient are evaluated in one jitted step with the
    optimizer update (so L-BFGS line searches work: the step passes `value`,
    `grad` and `value_fn` to optax).

    **Arguments:**

    - `loss_fn`: params -> scalar loss.
    - `params`: the starting point, any pytree (arrays, equinox modules);
        leaves that are not inexact arrays are held fixed.
    - `optimizer`: an `optax.GradientTransformation`.
    - `iterations`: the iteration the run ends at (counting those before a
        resume).
    - `checkpoint_dir`: where parameters, optimizer state and iteration are
        saved every `checkpoint_every` iterations as `iteration_NNNNNN.eqx`
        (written to a temporary file and renamed: complete or absent; a
        header holds a checksum and the structure of the optimizer state). If
        the folder already holds checkpoints, the run resumes from the newest
        intact one (a damaged one is named in a warning on stderr and
        skipped), and the result is bitwise the one an uninterrupted run
        gives on CPU. A checkpoint written with another optimizer or
        parameter structure is refused with a `RunError` naming the file.
    - `checkpoint_every`: iterations between checkpoints.
    - `metrics_path`: receives one JSON line per iteration, appended; on
        resume it is replaced atomically by the lines before the checkpoint
        (a kill never loses them).
    - `progress`: called as `progress(iteration, loss)` after each iteration
        (the 0-based index of the one just done and its loss), e.g. to drive
        a progress bar (the job layer's `IterationProgress` is one). None:
        no progress is shown.
    - `gradient`: `"reverse"`, `"forward"` (one JVP per parameter) or
        `"auto"` (forward for a handful of parameters), see `value_and_grad`.
    - `on_resume`: called as `on_resume(iteration, path)` (main process) when
        the run continues from a checkpoint, with the one actually loaded.

    **Returns:** an `OptimizeResult`.

    A non-finite loss or gradient stops the run with a `RunError` naming the
    iteration and the parameter leaf; checkpoints already written are kept.
    So does a run-time error of the loss, such as a linear or steady solve
    that does not converge (named with the residual it reached). A file that
    cannot be written raises `WriteError` (an `OSError`) naming it.
    """
    _check_arguments(
        loss_fn,
        optimizer,
        iterations,
        checkpoint_dir,
        checkpoint_every,
        metrics_path,
        progress,
        gradient,
    )
    optimizer = optax.with_extra_args_support(optimizer)
    dynamic, static = eqx.partition(params, eqx.is_inexact_array)

    def full_loss(dynamic):
        return loss_fn(eqx.combine(dynamic, static))

    def step(dynamic, opt_state):
        loss, grads = value_and_grad(full_loss, gradient)(dynamic)
        updates, opt_state = optimizer.update(
            grads, opt_state, dynamic, value=loss, grad=grads, value_fn=full_loss
        )
        finite = jax.tree.map(lambda g: jnp.all(jnp.isfinite(g)), grads)
        grad_norm = optax.tree.norm(grads)
        return eqx.apply_updates(dynamic, updates), opt_state, loss, finite, grad_norm

    opt_state = optimizer.init(dynamic)
    start = 0
    history: list[dict] = []
    checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    if checkpoint_dir is not None:
        try:
            checkpoint_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WriteError(checkpoint_dir, e) from None
        latest = _agreed_checkpoint(checkpoint_dir, dynamic, opt_state)
        if latest is not None:
            start, dynamic, opt_state = _load(latest, dynamic, opt_state)
            if on_resume is not None and is_main():
                on_resume(start, latest)
    if metrics_path is not None:
        history = _read_metrics(Path(metrics_path), keep_through=start)
        barrier(
            "diffsim-optimize-metrics-read"
        )  # every process has read before the main one rewrites
        if is_main():
            _write_lines(Path(metrics_path), history)

    t_compile = time.perf_counter()
    compiled = compile_ahead(step, dynamic, opt_state)
    compile_s = time.perf_counter() - t_compile
    leaf_names = [
        jax.tree_util.keystr(path) or "params"
        for path, _ in jax.tree_util.tree_flatten_with_path(dynamic)[0]
    ]

    t_start = time.perf_counter()
    wall_before = history[-1]["wall_s"] if history else 0.0
    for it in range(start, iterations):
        new_dynamic, new_state, loss, finite, grad_norm = _step(
            compiled, dynamic, opt_state, it, checkpoint_dir
        )
        loss = float(loss)
        bad = [
            name
            for name, ok in zip(leaf_names, jax.tree.leaves(finite))
            if not bool(ok)
        ]
        if not np.isfinite(loss) or bad:
            what = "loss" if not np.isfinite(loss) else "gradient"
            leaf = bad[0] if bad else "(the loss itself)"
            # a finite loss with a non-finite gradient: re-run the gradient once,
            # probed, to name the time step
            where = (
                f"; {locate_nonfinite_gradient(full_loss, dynamic)}"
                if what == "gradient"
                else ""
            )
            kept = (
                latest_checkpoint(checkpoint_dir)
                if checkpoint_dir is not None
                else None
            )
            raise RunError(
                f"iteration {it}: non-finite {what} (loss = {loss}) in parameter leaf "
                f"{leaf}{where}; "
                + (
                    f"last good checkpoint kept: {kept}"
                    if kept
                    else "no checkpoint was written yet"
                )
            )
        record = {
            "iteration": it,
            "loss": loss,
            "grad_norm": float(grad_norm),
            "wall_s": wall_before + time.perf_counter() - t_start,
        }
        history.append(record)
        if metrics_path is not None and is_main():
            _append_line(Path(metrics_path), record)
        dynamic, opt_state = new_dynamic, new_state
        if checkpoint_dir is not None and (
            (it + 1) % checkpoint_every == 0 or it + 1 == iterations
        ):
            if metrics_path is not None and is_main():
                sync_file(
                    metrics_path
                )  # the lines a checkpoint covers reach the disk first
            _save(checkpoint_dir, it + 1, dynamic, opt_state)
        if progress is not None:
            progress(it, loss)
    try:
        final_loss = float(eqx.filter_jit(full_loss)(dynamic))
    except (jax.errors.JaxRuntimeError, eqx.EquinoxRuntimeError) as e:
        if (message := runtime_error_message(e)) is None:
            raise
        raise RunError(f"the loss at the final parameters failed: {message}") from None
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
    found = _checkpoints(folder)
    return found[0] if found else None


def runtime_error_message(error: Exception) -> str | None:
    """The message of the `equinox.error_if` check that stopped a compiled
    computation (an unconverged linear or steady solve, ...), from the
    `JaxRuntimeError` / `EquinoxRuntimeError` that carries it; None for
    other run-time errors."""
    for line in str(error).splitlines():
        found = re.search(r"EquinoxRuntimeError: (.+)", line)
        if found and not found.group(1).startswith("Above is the stack"):
            return found.group(1).strip()
    return None


def _check_arguments(
    loss_fn,
    optimizer,
    iterations,
    checkpoint_dir,
    checkpoint_every,
    metrics_path,
    progress,
    gradient,
) -> None:
    """Refuse bad arguments before anything compiles, naming the argument."""
    if not callable(loss_fn):
        raise TypeError(
            "optimize: loss_fn must be a callable params -> scalar loss, got "
            f"{type(loss_fn).__name__}"
        )
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            "optimize: optimizer must be an optax.GradientTransformation (e.g. "
            f"optax.adam(1e-2)), got {type(optimizer).__name__}"
        )
    for name, value, least in (
        ("iterations", iterations, 0),
        ("checkpoint_every", checkpoint_every, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"optimize: {name} must be an integer, got {value!r}")
        if value < least:
            raise ValueError(f"optimize: {name} must be >= {least}, got {value}")
    for name, value in (
        ("checkpoint_dir", checkpoint_dir),
        ("metrics_path", metrics_path),
    ):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(
                f"optimize: {name} must be a path or None, got {type(value).__name__}"
            )
        if value is not None and not str(value).strip():
            raise ValueError(f"optimize: {name} is an empty path")
    if (
        checkpoint_dir is not None
        and Path(checkpoint_dir).exists()
        and not Path(checkpoint_dir).is_dir()
    ):
        raise ValueError(
            f"optimize: checkpoint_dir {checkpoint_dir} is a file, not a folder"
        )
    if metrics_path is not None and Path(metrics_path).is_dir():
        raise ValueError(
            f"optimize: metrics_path {metrics_path} is a folder, not a file"
        )
    if progress is not None and not callable(progress):
        raise TypeError(
            "optimize: progress must be a callable (iteration, loss) or None, "
            f"got {progress!r}"
        )
    if gradient not in ("reverse", "forward", "auto"):
        raise ValueError(
            "optimize: gradient must be 'reverse', 'forward' or 'auto', got "
            f"{gradient!r}"
        )


def _step(compiled, dynamic, opt_state, it: int, checkpoint_dir):
    """One compiled iteration, waited for, so that a run-time error of the
    loss (an unconverged solve) surfaces here as a one-line `RunError`."""
    try:
        return jax.block_until_ready(compiled(dynamic, opt_state))
    except (jax.errors.JaxRuntimeError, eqx.EquinoxRuntimeError) as e:
        if (message := runtime_error_message(e)) is None:
            raise
        kept = latest_checkpoint(checkpoint_dir)
        raise RunError(
            f"iteration {it}: the loss or its gradient failed: {message} "
            + (
                f"(last good checkpoint kept: {kept})"
                if kept
                else "(no checkpoint was written yet)"
            )
        ) from None


def _checkpoints(folder: Path | None) -> list[Path]:
    """The checkpoints in `folder`, newest first."""
    if folder is None or not Path(folder).is_dir():
        return []
    found = [p for p in Path(folder).iterdir() if _CHECKPOINT.match(p.name)]
    return sorted(found, key=_iteration_of, reverse=True)


def _iteration_of(checkpoint: Path) -> int:
    """The iteration a checkpoint file (`iteration_NNNNNN.eqx`) was saved at."""
    found = _CHECKPOINT.match(checkpoint.name)
    if found is None:
        raise ValueError(f"{checkpoint} is not named iteration_NNNNNN.eqx")
    return int(found.group(1))


def _agreed_checkpoint(folder: Path, dynamic, opt_state) -> Path | None:
    """The newest intact checkpoint as the main process sees it, the same on
    every process (a process that starts late must not pick up a newer one).
    Damaged checkpoints are skipped with a warning naming them."""
    chosen, refused = -1, None
    if is_main():
        for path in _checkpoints(folder):
            try:
                _read(path, dynamic, opt_state)
            except _Damaged as e:
                print(
                    f"diffsim: warning: skipping damaged checkpoint {path} ({e}); "
                    "trying an older one",
                    file=sys.stderr,
                )
                continue
            except RunError as e:  # another optimizer's: every process stops
                chosen, refused = -2, e
                break
            chosen = _iteration_of(path)
            break
    iteration = int(broadcast(np.int64(chosen)))
    if iteration == -2:
        raise refused or RunError(
            f"the main process refused the checkpoints in {folder}"
        )
    return None if iteration < 0 else Path(folder) / f"iteration_{iteration:06d}.eqx"


# A checkpoint file: one header line, then equinox's serialised leaves of
# (iteration, dynamic parameters, optimizer state).
_MAGIC = b"diffsim-checkpoint 1 "


class _Damaged(Exception):
    """A checkpoint that cannot be read back (truncated, overwritten)."""


def _structure(dynamic, opt_state) -> tuple[str, list[str]]:
    """A fingerprint of the parameter and optimizer-state pytrees (node types,
    leaf shapes and dtypes: no values, nothing process-specific) and the
    optimizer state's node types, for messages."""

    def node_types(treedef) -> list[str]:
        data = treedef.node_data()
        here = [] if data is None else [data[0].__qualname__]
        return here + [t for child in treedef.children() for t in node_types(child)]

    leaves, treedef = jax.tree.flatten((dynamic, opt_state))
    described = [
        node_types(treedef),
        [[list(np.shape(x)), str(jnp.result_type(x))] for x in leaves],
    ]
    state_types = [
        t
        for t in node_types(jax.tree.structure(opt_state))
        if t not in ("tuple", "list", "dict", "NoneType")
    ]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16], state_types


def _save(folder: Path, iteration: int, dynamic, opt_state) -> Path:
    """Checkpoint one iteration. Multi-process: every process takes part
    in gathering sharded leaves, the main process writes the whole (small)
    parameter and optimizer state as one file, so a resume may use any
    number of processes or devices (see docs/scaling.md)."""
    path = Path(folder) / f"iteration_{iteration:06d}.eqx"
    tree = tree_to_host((jnp.asarray(iteration), dynamic, opt_state))
    if not is_main():
        return path
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, tree)
    payload = buffer.getvalue()
    fingerprint, state_types = _structure(dynamic, opt_state)
    header = {
        "iteration": iteration,
        "bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "structure": fingerprint,
        "optimizer_state": state_types,
    }
    atomic_write(path, _MAGIC + json.dumps(header).encode() + b"\n" + payload)
    return path


def _read(path: Path, dynamic, opt_state):
    """`(iteration, dynamic, opt_state)` from a checkpoint, as host arrays.
    Raises `_Damaged` for a file that is not a whole checkpoint and
    `RunError` for one of another optimizer or parameter structure."""
    like = (jnp.asarray(0), dynamic, opt_state)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise _Damaged(e.strerror or str(e)) from None
    if not data:
        raise _Damaged("empty file")
    if data.startswith(_MAGIC):
        end = data.find(b"\n")
        try:
            header = json.loads(data[len(_MAGIC) : end])
        except (ValueError, UnicodeDecodeError):
            raise _Damaged("unreadable header") from None
        payload = data[end + 1 :]
        if len(payload) != header.get("bytes"):
            raise _Damaged(f"truncated: {len(payload)} of {header.get('bytes')} bytes")
        if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
            raise _Damaged(
                "checksum mismatch: the content was changed after it was written"
            )
        fingerprint, state_types = _structure(dynamic, opt_state)
        if header.get("structure") != fingerprint:
            raise RunError(
                f"checkpoint {path} was written by another optimizer or parameter "
                "structure (optimizer state "
                f"{'+'.join(header.get('optimizer_state', [])) or 'empty'}, this run's "
                f"is {'+'.join(state_types) or 'empty'}); "
                "resume with the optimizer that wrote it, or use another checkpoint "
                "folder"
            )
    else:  # written before checkpoints had a header
        payload = data
    try:
        stream = io.BytesIO(payload)
        tree = eqx.tree_deserialise_leaves(stream, like)
    # noqa: BLE001 - anything numpy's reader raises on a cut file
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise _Damaged(
            f"unreadable ({type(e).__name__}: {first})"
            if payload is not data
            else "no checkpoint header, and unreadable as a checkpoint of an "
            f"earlier version ({type(e).__name__}: {first})"
        ) from None
    if stream.tell() != len(payload):
        raise _Damaged(
            f"{len(payload) - stream.tell()} bytes left over: not a checkpoint of this "
            "optimizer and parameters"
        )
    return tree


def _load(path: Path, dynamic, opt_state):
    like = (jnp.asarray(0), dynamic, opt_state)
    try:
        tree = _read(path, dynamic, opt_state)
    except _Damaged as e:  # another process saw it intact a moment ago
        raise RunError(f"checkpoint {path} cannot be read: {e}") from None
    iteration, dynamic, opt_state = jax.tree.map(place_like, tree, like)
    return int(iteration), dynamic, opt_state


def _read_metrics(path: Path, keep_through: int) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill or a full disk
            break
        if record["iteration"] < keep_through:
            records.append(record)
    return records


def _write_lines(path: Path, records: list[dict]) -> None:
    """Replace the metrics file by `records`, atomically (a kill keeps the
    old file or the new one, never an empty one)."""
    atomic_write(path, "".join(json.dumps(r) + "\n" for r in records))


def _append_line(path: Path, record: dict) -> None:
    append_line(path, json.dumps(record))
