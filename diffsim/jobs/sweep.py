"""`diffsim sweep` and `diffsim collect`: parameter sweeps as independent
`diffsim run` tasks, locally or as one SLURM job array (submitit)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import atomic_write, save_figure
from ..internal import FolderLock, remove_stale_temporaries
from .config import load_config, parse_override
from .errors import ConfigError
from .io import write_json


def split_values(text: str) -> list[str]:
    """`a,[1,2],b` -> `["a", "[1,2]", "b"]`: commas split values only
    outside brackets and quotes."""
    values, depth, quote, current = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append(current)
            current = ""
            continue
        current += ch
    values.append(current)
    return [v.strip() for v in values if v.strip()]


def expand_grid(grid_args: list[str]) -> tuple[list[str], list[list[str]]]:
    """The cross product of `--grid key=v1,v2` arguments: swept keys and one
    list of `key=value` overrides per task."""
    keys, choices = [], []
    for arg in grid_args:
        if "=" not in arg:
            raise ConfigError(arg, "--grid takes key=value1,value2,...")
        key, raw = arg.split("=", 1)
        values = split_values(raw)
        if not values:
            raise ConfigError(key, "--grid needs at least one value")
        if key in keys:
            raise ConfigError(key, "swept twice")
        keys.append(key)
        choices.append([f"{key}={v}" for v in values])
    return keys, [list(combo) for combo in itertools.product(*choices)]


def _run_task(config: str, overrides: list[str], out: str, plots: bool = True) -> int:
    """One sweep task: an ordinary `diffsim run` in its own process (also
    what each SLURM array element executes), with its figures unless `plots`
    is false (`diffsim sweep --no-plots`)."""
    cmd = [
        sys.executable,
        "-m",
        "diffsim.jobs.cli",
        "run",
        config,
        *overrides,
        *([] if plots else ["--no-plots"]),
        "--out",
        out,
    ]
    with open(Path(out) / "task.log", "w") as log:
        return subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)


def sweep(
    config: str,
    grid_args: list[str],
    overrides: list[str],
    out: Path,
    *,
    executor: str = "local",
    workers: int = 1,
    plots: bool = True,
) -> dict:
    """Expand, validate (every task, before anything runs), and run the tasks
    that have no `summary.json` yet. Returns the manifest written to
    `out/sweep.json`."""
    keys, combos = expand_grid(grid_args)
    tasks = []
    for i, combo in enumerate(combos):
        task_overrides = [*overrides, *combo]
        cfg, _, _ = load_config(
            config, task_overrides
        )  # raises ConfigError naming the key
        tasks.append(
            {
                "name": f"task_{i:04d}",
                "overrides": task_overrides,
                "swept": {k: parse_override(c)[1] for k, c in zip(keys, combo)},
                "config": cfg,
            }
        )
    with FolderLock(
        out, "--out"
    ):  # one sweep per folder; each task locks its own subfolder
        remove_stale_temporaries(out)
        return _sweep(config, tasks, keys, out, executor, workers, plots)


def _sweep(config, tasks, keys, out, executor, workers, plots) -> dict:
    manifest = {
        "config": str(config),
        "swept_keys": keys,
        "tasks": [{k: v for k, v in t.items() if k != "config"} for t in tasks],
    }
    write_json(out / "sweep.json", manifest)
    pending = []
    for t in tasks:
        folder = out / t["name"]
        folder.mkdir(exist_ok=True)
        if _finished(folder):
            continue
        # absolute paths: a SLURM task may start in another working directory
        pending.append(
            (str(Path(config).resolve()), t["overrides"], str(folder.resolve()))
        )
    manifest["skipped"] = len(tasks) - len(pending)
    if executor == "local":
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            codes = list(pool.map(lambda args: _run_task(*args, plots=plots), pending))
    elif executor == "slurm":
        codes = _submit_slurm(pending, tasks[0]["config"], out, plots)
    else:
        raise ConfigError("--executor", f"expected local or slurm, got {executor!r}")
    manifest["failed"] = [p[2] for p, c in zip(pending, codes) if c != 0]
    return manifest


def _finished(folder: Path) -> bool:
    summary = folder / "summary.json"
    if not summary.exists():
        return False
    try:
        return json.loads(summary.read_text()).get("status") == "ok"
    except json.JSONDecodeError:
        return False


def _submit_slurm(pending, config, out: Path, plots: bool = True) -> list[int]:
    """One job array through submitit, resources from the `slurm:` section;
    waits for the array and returns the tasks' exit codes (-1 for a task
    that SLURM or submitit reports failed, e.g. past its time limit). Each
    task runs this Python (`sys.executable`), so the cluster nodes must see
    the same environment (a shared file system)."""
    import submitit
    from submitit.core.utils import FailedJobError, UncompletedJobError

    if shutil.which("sbatch") is None:
        raise ConfigError(
            "--executor",
            "slurm: sbatch is not on PATH here (submit from a SLURM login node, or "
            "use --executor local)",
        )
    slurm = config.slurm
    ex = submitit.AutoExecutor(folder=out / "slurm" / "%j", cluster="slurm")
    params = {
        "timeout_min": slurm.time_limit_min,
        "cpus_per_task": slurm.cpus_per_task,
        "slurm_array_parallelism": slurm.array_parallelism,
    }
    if slurm.partition:
        params["slurm_partition"] = slurm.partition
    if slurm.gpus_per_task:
        params["gpus_per_node"] = slurm.gpus_per_task
    ex.update_parameters(name="diffsim-sweep", **params)
    if not pending:
        return []
    jobs = ex.map_array(_run_task, *zip(*pending), [plots] * len(pending))
    codes = []
    for job, (_, _, folder) in zip(jobs, pending):
        try:
            codes.append(job.result())
        except (FailedJobError, UncompletedJobError) as e:
            print(
                f"diffsim: SLURM task {job.job_id} ({folder}) failed: "
                f"{str(e).strip().splitlines()[0]}",
                file=sys.stderr,
            )
            codes.append(-1)
    return codes


def collect(
    folder: Path, metric: str | None = None, parameter: str | None = None
) -> tuple[Path, Path | None]:
    """Gather every task's `summary.json` into `folder/results.csv`: one row
    per task, a column per swept key and per (flattened) summary figure, and
    plot `metric` against `parameter` into `folder/plots/`. Without them the
    plot shows the first error norm (else the throughput, else the wall
    time) against the first swept key. Returns the CSV and the plot paths
    (no plot when no task has the metric)."""
    manifest = json.loads((folder / "sweep.json").read_text())
    rows = []
    for task in manifest["tasks"]:
        row = {
            "task": task["name"],
            **{
                k: json.dumps(v) if isinstance(v, list) else v
                for k, v in task["swept"].items()
            },
        }
        summary_path = folder / task["name"] / "summary.json"
        if summary_path.exists():
            row.update(_flatten(json.loads(summary_path.read_text())))
        else:
            row["status"] = "missing"
        rows.append(row)
    columns = list(dict.fromkeys(c for r in rows for c in r))
    path = folder / "results.csv"
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, text.getvalue())
    parameter = parameter or (
        manifest["swept_keys"][0] if manifest["swept_keys"] else None
    )
    metric = metric or _default_metric(rows)
    if metric is None or parameter is None:
        return path, None
    plot = _plot(
        rows,
        metric,
        parameter,
        folder
        / "plots"
        / f"{metric.replace('.', '_')}_vs_{parameter.replace('.', '_')}.png",
        manifest["swept_keys"],
    )
    return path, plot


# the summary figures `collect` plots when not told, in order of preference
_DEFAULT_METRICS = ("errors.", "cell_updates_per_s", "run_s", "wall_s", "loss_final")


def _default_metric(rows) -> str | None:
    numeric = [
        c
        for c in dict.fromkeys(c for r in rows for c in r)
        if any(
            isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool)
            for r in rows
        )
    ]
    for prefix in _DEFAULT_METRICS:
        for column in numeric:
            if column == prefix or (prefix.endswith(".") and column.startswith(prefix)):
                return column
    return None


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, list):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out


def _metric_units(metric: str) -> str:
    """The units of a summary.json metric, from its name (for the collect
    plot's axis label): errors and ratios are relative, `*_s` are seconds."""
    leaf = metric.rsplit(".", 1)[-1]
    if metric.startswith("errors.") or any(
        w in leaf for w in ("relative", "error", "gain", "ratio", "factor")
    ):
        return "dimensionless"
    if leaf.endswith(("_s", "seconds")):
        return "s"
    if "bytes" in leaf:
        return "bytes"
    return "as in summary.json"


def _plot(rows, metric, parameter, path, group_keys):
    """`metric` against `parameter`, one line per combination of the other
    swept keys."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    columns = sorted({c for r in rows for c in r})
    for key, what in ((metric, "--metric"), (parameter, "--param")):
        if key not in columns:
            raise ConfigError(
                what,
                f"{key!r} is not a column of results.csv (columns: "
                f"{', '.join(columns)})",
            )

    def number(v):
        v = json.loads(v) if isinstance(v, str) and v[:1] == "[" else v
        return float(np.prod(v)) if isinstance(v, list) else float(v)

    groups: dict[str, list] = {}
    for r in rows:
        if r.get(metric) in (None, ""):
            continue
        label = ", ".join(f"{k}={r[k]}" for k in group_keys if k != parameter)
        groups.setdefault(label, []).append((number(r[parameter]), float(r[metric])))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    for label, pts in sorted(groups.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=label or None)
    values = [p for pts in groups.values() for p in pts]
    if values and all(x > 0 and y > 0 for x, y in values):
        ax.set(xscale="log", yscale="log")
    ax.set(
        xlabel=parameter
        + (
            " (cells, product over axes)"
            if parameter.endswith("cells")
            else " (config units)"
        ),
        ylabel=f"{metric} ({_metric_units(metric)})",
        title=f"sweep: {metric} vs {parameter}",
    )
    if any(groups):
        ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3, which="both")
    try:
        save_figure(fig, path, dpi=130)
    finally:
        plt.close(fig)
    return path
