"""2D finite-volume Euler: throughput, compile time, gradient cost and memory (#3).

Scheme: `operators.Euler` as `configs/isentropic_vortex.yaml` builds it (WENO5-Z
in characteristic variables, HLLC, high-order average correction, periodic),
SSP-RK3 with a fixed dt (CFL 0.5 on the initial state). Problem: the isentropic
vortex (Shu 1998) advected across the periodic box `[-5, 5]^2`, built by
`diffsim.jobs.load_config("configs/isentropic_vortex.yaml", overrides)` and
`ds.jobs.build_setup(...)`: smooth but not trivial (every WENO weight and
characteristic projection is exercised, nothing is constant).

Cases, each in its own subprocess (so that its peak RSS is its own):

- `forward`: a jitted rollout of a fixed number of steps (`diffsim.solve`),
  compiled ahead of time (`lower(...).compile()`, timed: the compile time),
  then timed over several calls (`block_until_ready`, best call): cell
  updates per second = cells * steps / time. 128^2, 256^2 (512^2 with
  `--sizes 128 256 512`).
- `gradient`: for a 1,000-step rollout (`--grad-steps`), the reverse-mode
  gradient of `L = mean(fields(T)^2)` with respect to the initial fields,
  with `CheckpointAdjoint(levels=2)` (and `DirectAdjoint`, run only where
  its compiled memory is below `--max-gb`); its time relative to the
  1,000-step forward run (the same loss, value only), its compile time, and
  its memory.
- `sod`: the accuracy check: Sod, 200 cells, WENO5-Z/HLLC/SSP-RK3, CFL 0.5,
  t = 0.2 (`configs/sod.yaml`, `diffsim.solve_cfl`), L1 density error
  against the scenario's exact (cell-averaged) solution.

Memory is reported two ways. `compiled.memory_analysis()` (temp + argument +
output bytes) is XLA's own accounting of the buffers the executable needs at
once: deterministic, what the algorithm costs. Peak RSS (`ru_maxrss` of the
case's process) is what the operating system saw: it adds the Python/JAX
runtime (~0.3-0.5 GB), the compiler's working memory (large for gradients)
and allocator slack, so it is an upper bound on what a user needs.

Threads. `--threads 1` sets `XLA_FLAGS="--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1"` (unless XLA_FLAGS is set) and pins the
process (and its case subprocesses) to its first allowed CPU before JAX is
imported: the same as running under

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        taskset -c 0 python benchmarks/euler.py --threads 1

(`intra_op_parallelism_threads=1` is not an XLA flag and XLA ignores it after
the first flag; the single thread comes from the affinity and
`--xla_cpu_multi_thread_eigen=false`). `--threads all` leaves both as they are.

Clock. With `--threads 1` the table's times are this process's CPU time by
default (`--timer cpu`): on a shared machine other processes take turns on the
same core, which inflates wall time but not CPU time (it does not hide their
cache and memory-bandwidth pressure). Wall-clock times are recorded as well.
With `--threads all` the table uses wall time.

Peer: JAX-Fluids is not on PyPI; it runs in its own virtual environment,
built from its GitHub source snapshot, by `benchmarks/jaxfluids_peer.py` on
the same case (inviscid, and viscous with `--viscosity`). Run both in turn
on the same machine and compare the JSON files (docs/benchmarks.md,
"Compressible Navier-Stokes"). `--viscosity MU` adds
`Transport(MU, prandtl=0.72)`: the compressible Navier-Stokes equations.

Usage::

    # writes results/euler_1thread_float64.json
    python benchmarks/euler.py --threads 1 --precision float64
    python benchmarks/euler.py --threads all --precision float32
    # smoke test: small grids, few steps
    python benchmarks/euler.py --quick
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
TARGETS = dict(
    cell_updates_per_s=1.0e6,  # >= , 256^2 float64 one thread
    compile_s=5.0,  # <=
    grad_ratio=4.0,  # <=
    grad_compile_s=10.0,  # <=
    peak_bytes=2.0e9,  # < , 1,000 steps at 256^2
    sod_l1=1.9e-3,  # <=
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--threads", choices=["1", "all"], default="1")
    p.add_argument("--precision", choices=["float32", "float64"], default="float64")
    p.add_argument(
        "--quick",
        action="store_true",
        help="small grids and few steps: a smoke test, the numbers mean little",
    )
    p.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=None,
        help="grid sizes n (n x n) of the forward cases (default 128 256)",
    )
    p.add_argument(
        "--forward-steps",
        type=int,
        default=None,
        help=(
            "steps of each forward case (default: ~1.6e6 cell updates per call, at "
            "least 10)"
        ),
    )
    p.add_argument(
        "--grad-sizes",
        type=int,
        nargs="*",
        default=None,
        help=(
            "grid sizes of the gradient cases (default 128 256; none: no gradient "
            "cases)"
        ),
    )
    p.add_argument(
        "--grad-steps",
        type=int,
        default=None,
        help="steps of the gradient cases (default 1000)",
    )
    p.add_argument(
        "--grad-steps-256",
        type=int,
        default=None,
        help=(
            "steps of the gradient case at 256^2 and above if not --grad-steps (for "
            "a loaded machine)"
        ),
    )
    p.add_argument(
        "--levels",
        type=int,
        nargs="+",
        default=[2],
        help="CheckpointAdjoint levels to measure",
    )
    p.add_argument(
        "--direct-sizes",
        type=int,
        nargs="*",
        default=None,
        help=(
            "gradient sizes at which DirectAdjoint is also measured (default 128; "
            "none: no DirectAdjoint)"
        ),
    )
    p.add_argument(
        "--max-gb",
        type=float,
        default=6.0,
        help="do not run a gradient whose compiled memory exceeds this (GiB)",
    )
    p.add_argument(
        "--viscosity",
        type=float,
        default=0.0,
        help=(
            "dynamic viscosity of the vortex cases (default 0: inviscid); > 0 adds "
            "Transport(viscosity, prandtl=0.72): the compressible Navier-Stokes "
            "equations with fourth-order viscous and heat fluxes"
        ),
    )
    p.add_argument("--timer", choices=["auto", "wall", "cpu"], default="auto")
    p.add_argument(
        "--case-timeout",
        type=float,
        default=3600.0,
        help="seconds before a case subprocess is killed",
    )
    p.add_argument(
        "--json",
        default=None,
        help=(
            "output path (default "
            "benchmarks/results/euler_<1thread|allthreads>_<precision>.json)"
        ),
    )
    p.add_argument(
        "--case", default=None, help=argparse.SUPPRESS
    )  # internal: run one case (JSON) and print its result
    return p.parse_args(argv)


ARGS = parse_args()
TIMER = (
    ARGS.timer if ARGS.timer != "auto" else ("cpu" if ARGS.threads == "1" else "wall")
)
if ARGS.threads == "1":
    # before JAX starts its thread pools; inherited by the case subprocesses
    os.environ.setdefault("XLA_FLAGS", ONE_THREAD_FLAGS)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def _current_rss() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf(
            "SC_PAGE_SIZE"
        )
    except OSError:
        return 0


class _RssSampler:
    """Largest current resident set of this process seen by a background
    thread sampling /proc/self/statm while the block runs: the memory of the
    run itself, unlike `ru_maxrss`, which also keeps the compiler's peak."""

    def __enter__(self):
        import threading

        self.start = self.max = _current_rss()
        self._stop = threading.Event()

        def sample():
            while not self._stop.wait(0.02):
                self.max = max(self.max, _current_rss())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.max = max(self.max, _current_rss())


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


# ------------------------------------------------------------ cases (subprocess side)


def _child(case: dict) -> dict:
    import jax

    jax.config.update("jax_enable_x64", ARGS.precision == "float64")
    import jax.numpy as jnp
    import numpy as np

    import diffsim as ds

    rss_start = _rss_bytes()
    out = dict(
        case,
        precision=ARGS.precision,
        rss_after_import_bytes=rss_start,
        jax_device=f"{jax.devices()[0].platform} ({jax.devices()[0].device_kind})",
    )

    def timed_calls(f, args, calls) -> dict:
        """Times of `calls` calls on both clocks, and the largest resident set
        sampled (every 20 ms) while they ran."""
        wall, cpu = [], []
        with _RssSampler() as sampler:
            for _ in range(calls):
                t, c = time.perf_counter(), time.process_time()
                jax.block_until_ready(f(*args))
                cpu.append(time.process_time() - c)
                wall.append(time.perf_counter() - t)
        return dict(
            wall=wall,
            cpu=cpu,
            rss_max_sampled_bytes=sampler.max,
            rss_before_bytes=sampler.start,
        )

    def compile_timed(fn, *args):
        """AOT trace + lower + compile; its time on the table's clock, both clocks."""
        t, c = time.perf_counter(), time.process_time()
        compiled = ds.compile_ahead(fn, *args)  # as diffsim's jobs compile
        clocks = dict(wall=time.perf_counter() - t, cpu=time.process_time() - c)
        compile_clocks.append(clocks)
        return compiled, clocks[TIMER]

    compile_clocks = []
    out["compile_clocks_s"] = (
        compile_clocks  # every compile of this case, in order: {wall, cpu}
    )

    def memory(compiled) -> dict:
        m = compiled.compiled.memory_analysis()  # equinox's Compiled wraps jax's
        parts = dict(
            temp=int(m.temp_size_in_bytes),
            argument=int(m.argument_size_in_bytes),
            output=int(m.output_size_in_bytes),
        )
        return dict(parts, total=sum(parts.values()))

    # `import diffsim` leaves the job layer out; the cases load their configs
    import diffsim.jobs

    if case["kind"] == "sod":
        config, physics, scenario = diffsim.jobs.load_config(
            ROOT / "configs" / "sod.yaml", [f"precision={ARGS.precision}"]
        )
        assert issubclass(scenario, diffsim.jobs.TimeDependentScenario)
        assert config.time is not None and config.time.cfl is not None
        setup = diffsim.jobs.scenario.build_setup(scenario, config, physics)
        assert setup.errors is not None and setup.exact is not None
        y0 = jnp.asarray(setup.initial, dtype=jnp.result_type(float))
        t_end, cfl = config.time.t_end, config.time.cfl

        def run(op, y):
            sol = ds.solve_cfl(op, ds.SSPRK3(), y, t1=t_end, cfl=cfl, max_steps=10_000)
            return sol.ys[-1], sol.num_steps

        compiled, compile_s = compile_timed(run, setup.operator, y0)
        y, steps = compiled(setup.operator, y0)
        names = setup.operator.field_names
        errors = setup.errors(
            np.asarray(y)[None], np.asarray(setup.exact(t_end))[None], setup.grid, names
        )
        out.update(
            cells=list(setup.grid.cells),
            t_end=t_end,
            cfl=config.time.cfl,
            steps=int(steps),
            compile_s=compile_s,
            scheme=dict(config.scheme),
            **errors,
        )
        return out

    n = case["n"]
    config, physics, scenario = diffsim.jobs.load_config(
        ROOT / "configs" / "isentropic_vortex.yaml",
        [f"grid.cells=[{n},{n}]", f"precision={ARGS.precision}"],
    )
    assert issubclass(scenario, diffsim.jobs.TimeDependentScenario)
    assert config.time is not None and config.time.cfl is not None
    setup = diffsim.jobs.scenario.build_setup(scenario, config, physics)
    op = setup.operator
    from diffsim.operators import Euler

    assert isinstance(op, Euler)
    if ARGS.viscosity > 0:
        from diffsim.operators import Transport

        op = Euler(
            op.grid,
            op.eos,
            op.reconstruction,
            op.riemann,
            op.boundaries,
            variables=op.variables,
            positivity=op.positivity,
            average_correction=op.average_correction,
            fused_derivatives=op.fused_derivatives,
            transport=Transport(ARGS.viscosity, prandtl=0.72),
        )
    y0 = jnp.asarray(setup.initial, dtype=jnp.result_type(float))
    dt = float(op.stable_dt(op.encode(y0), config.time.cfl))
    stepper = ds.SSPRK3()
    out.update(
        cells=n * n,
        dt=dt,
        cfl=config.time.cfl,
        scheme=dict(config.scheme),
        state_bytes=int(y0.nbytes),
        operator=dict(
            variables=op.variables,
            reconstruction=type(op.reconstruction).__name__,
            riemann=type(op.riemann).__name__,
            average_correction=op.average_correction,
            fused_derivatives=op.fused_derivatives,
            viscosity=ARGS.viscosity,
        ),
    )

    if case["kind"] == "forward":
        steps = case["steps"]

        def rollout(op, y):
            return ds.solve(op, stepper, y, dt=dt, num_steps=steps).ys[-1]

        compiled, compile_s = compile_timed(rollout, op, y0)
        times = timed_calls(
            compiled, (op, y0), 1 + case["repeats"]
        )  # the first call is a warm-up, not counted
        times.update(wall=times["wall"][1:], cpu=times["cpu"][1:])
        y = compiled(op, y0)
        out.update(
            steps=steps,
            compile_s=compile_s,
            times_s=times,
            memory=memory(compiled),
            finite=bool(jnp.all(jnp.isfinite(y))),
            rss_peak_bytes=_rss_bytes(),
        )
        return out

    # gradient: forward run of the loss, then the gradient with one adjoint
    steps = case["steps"]
    adjoint = (
        ds.DirectAdjoint()
        if case["adjoint"] == "direct"
        else ds.CheckpointAdjoint(levels=case["levels"])
    )

    def loss_with(adj):
        def loss(op, y):
            return jnp.mean(
                ds.solve(op, stepper, y, dt=dt, num_steps=steps, adjoint=adj).ys[-1]
                ** 2
            )

        return loss

    fwd, fwd_compile_s = compile_timed(loss_with(ds.DirectAdjoint()), op, y0)
    fwd_times = timed_calls(
        fwd, (op, y0), 0 if case.get("compile_only") else case["fwd_repeats"]
    )
    value = float(fwd(op, y0))
    rss_forward = _rss_bytes()
    grad_fn = jax.grad(loss_with(adjoint), argnums=1)
    grad, grad_compile_s = compile_timed(grad_fn, op, y0)
    mem = memory(grad)
    out.update(
        steps=steps,
        forward_compile_s=fwd_compile_s,
        forward_times_s=fwd_times,
        forward_memory=memory(fwd),
        value=value,
        rss_after_forward_bytes=rss_forward,
        grad_compile_s=grad_compile_s,
        grad_memory=mem,
    )
    if case.get("compile_only"):
        out.update(
            skipped="compile only (memory analysis)", rss_peak_bytes=_rss_bytes()
        )
        return out
    if mem["total"] > ARGS.max_gb * 2**30:
        out.update(
            skipped=(
                f"compiled memory {mem['total'] / 2**30:.1f} GiB > --max-gb "
                f"{ARGS.max_gb}"
            ),
            rss_peak_bytes=_rss_bytes(),
        )
        return out
    grad_times = timed_calls(grad, (op, y0), case["grad_repeats"])
    g = grad(op, y0)
    out.update(
        grad_times_s=grad_times,
        grad_finite=bool(jnp.all(jnp.isfinite(g))),
        grad_norm=float(
            jnp.sqrt(
                jnp.sum(
                    g.astype(
                        jnp.float64 if ARGS.precision == "float64" else jnp.float32
                    )
                    ** 2
                )
            )
        ),
        rss_peak_bytes=_rss_bytes(),
    )
    return out


# -------------------------------------------------------------- driver (parent side)


def run_case(case: dict) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--threads",
        ARGS.threads,
        "--precision",
        ARGS.precision,
        "--max-gb",
        str(ARGS.max_gb),
        "--viscosity",
        str(ARGS.viscosity),
        "--case",
        json.dumps(case),
    ]
    t = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=ARGS.case_timeout, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return dict(case, error=f"timed out after {ARGS.case_timeout:.0f} s")
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[len("RESULT ") :])
            res["case_wall_s"] = time.perf_counter() - t
            return res
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return dict(case, error=f"exit {proc.returncode}: " + " | ".join(tail))


def best(times: dict) -> float:
    return min(times[TIMER])


def plan() -> list[dict]:
    q = ARGS.quick
    sizes = ARGS.sizes or ([32, 64] if q else [128, 256])
    grad_sizes = (
        ([32] if q else [128, 256]) if ARGS.grad_sizes is None else ARGS.grad_sizes
    )
    cases: list[dict] = [dict(kind="sod")]
    for n in sizes:
        steps = ARGS.forward_steps or (
            10 if q else max(10, int(round(100 * (128 / n) ** 2)))
        )  # ~1.6e6 cell updates per call
        cases.append(dict(kind="forward", n=n, steps=steps, repeats=2 if q else 5))
    full = 20 if q else (ARGS.grad_steps or 1000)
    for n in grad_sizes:
        steps = (
            ARGS.grad_steps_256
            if (n >= 256 and ARGS.grad_steps_256 and not q)
            else full
        )
        reps = dict(
            fwd_repeats=2 if (q or n < 256) else 1,
            grad_repeats=2 if (q or n < 256) else 1,
        )
        for levels in ARGS.levels:
            cases.append(
                dict(
                    kind="gradient",
                    n=n,
                    steps=steps,
                    adjoint="checkpoint",
                    levels=levels,
                    **reps,
                )
            )
            if (
                steps < full
            ):  # the full-length gradient compiled (not run) for its memory
                cases.append(
                    dict(
                        kind="gradient",
                        n=n,
                        steps=full,
                        adjoint="checkpoint",
                        levels=levels,
                        compile_only=True,
                        **reps,
                    )
                )
        if n in (
            ([32] if q else [128]) if ARGS.direct_sizes is None else ARGS.direct_sizes
        ):
            cases.append(
                dict(
                    kind="gradient",
                    n=n,
                    steps=steps,
                    adjoint="direct",
                    levels=None,
                    **reps,
                )
            )
    return cases


def _gb(x):
    return "-" if x is None else f"{x / 1e9:.2f}"


def summarize(rows: list[dict]) -> dict:
    """Figures compared with the issue's targets; each check's `ratio` is > 1
    when the figure is better than its target (ours / target for throughput,
    target / ours for times and memory)."""
    checks = []

    def check(name, value, target, better, note=""):
        if value is None:
            checks.append(
                dict(
                    name=name,
                    value=None,
                    target=target,
                    ok=None,
                    ratio=None,
                    note=note or "not measured",
                )
            )
            return
        ok = (
            value >= target
            if better == "higher"
            else (value <= target if better == "lower" else value < target)
        )
        # ratio > 1 means better than the target
        ratio = (
            value / target
            if better == "higher"
            else target / value
            if value
            else float("inf")
        )
        checks.append(
            dict(name=name, value=value, target=target, ok=ok, ratio=ratio, note=note)
        )

    fwd = {r["n"]: r for r in rows if r.get("kind") == "forward" and "error" not in r}
    for n, r in sorted(fwd.items()):
        cups = r["cells"] * r["steps"] / best(r["times_s"])
        r["cell_updates_per_s"] = cups
        target_note = "target at 256^2 float64 one thread" + (
            ""
            if (n == 256 and ARGS.precision == "float64" and ARGS.threads == "1")
            else "; this row is for reference"
        )
        check(
            f"cell updates/s {n}^2",
            cups,
            TARGETS["cell_updates_per_s"],
            "higher",
            target_note,
        )
        check(f"compile s {n}^2", r["compile_s"], TARGETS["compile_s"], "lower")
    for r in rows:
        if r.get("kind") != "gradient" or "error" in r:
            continue
        name = f"{r['adjoint']}{r['levels'] or ''} {r['n']}^2 x {r['steps']}"
        if r["forward_times_s"][TIMER]:
            r["forward_s"] = best(r["forward_times_s"])
            r["forward_cell_updates_per_s"] = r["cells"] * r["steps"] / r["forward_s"]
        check(
            f"grad compile s {name}",
            r["grad_compile_s"],
            TARGETS["grad_compile_s"],
            "lower",
        )
        if "grad_times_s" in r:
            r["grad_s"] = best(r["grad_times_s"])
            r["grad_ratio"] = r["grad_s"] / r["forward_s"]
            check(
                f"grad/forward {name}", r["grad_ratio"], TARGETS["grad_ratio"], "lower"
            )
        elif not r.get("compile_only"):
            check(
                f"grad/forward {name}",
                None,
                TARGETS["grad_ratio"],
                "lower",
                r.get("skipped", ""),
            )
        if r["n"] >= 256 and r["adjoint"] == "checkpoint":
            note = "" if r["steps"] >= 1000 else f"{r['steps']} steps, not 1000"
            check(
                f"XLA memory {name}",
                r["grad_memory"]["total"],
                TARGETS["peak_bytes"],
                "less",
                note,
            )
            if "grad_times_s" in r:
                check(
                    f"run RSS (sampled) {name}",
                    r["grad_times_s"]["rss_max_sampled_bytes"],
                    TARGETS["peak_bytes"],
                    "less",
                    note,
                )
                check(
                    f"process peak RSS {name}",
                    r["rss_peak_bytes"],
                    TARGETS["peak_bytes"],
                    "less",
                    (note + "; " if note else "") + "includes the compiler's peak",
                )
    sod = [r for r in rows if r.get("kind") == "sod" and "error" not in r]
    if sod:
        check(
            "Sod L1 density 200 cells", sod[0]["l1_density"], TARGETS["sod_l1"], "lower"
        )
    return dict(checks=checks)


def print_report(info, rows, summary):
    print(
        "# 2D Euler benchmark: WENO5-Z (characteristic) + HLLC + SSP-RK3, isentropic "
        "vortex, periodic"
        + (
            f"; Navier-Stokes, viscosity {ARGS.viscosity:g}, Prandtl 0.72, "
            "fourth-order viscous fluxes"
            if ARGS.viscosity > 0
            else ""
        )
    )
    for k in (
        "date",
        "cpu",
        "device",
        "cpu_count",
        "affinity",
        "threads",
        "xla_flags",
        "precision",
        "jax",
        "command",
        "loadavg_start",
        "loadavg_end",
        "uptime_start",
    ):
        print(f"# {k}: {info.get(k)}")
    print(
        f"# timer: {TIMER} "
        f"({'CPU time of the case process' if TIMER == 'cpu' else 'wall clock'}); best "
        "of the timed calls, compile excluded"
    )
    print()
    print(
        f"{'case':<34} {'steps':>6} {'time s':>9} {'wall s':>9} {'cell upd/s':>11} "
        f"{'compile s':>9} {'grad/fwd':>8} {'gcomp s':>8} {'XLA GB':>7} {'run RSS':>7} "
        f"{'peakRSS':>7}"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['kind']:<34} ERROR {r['error']}")
            continue
        if r["kind"] == "sod":
            print(
                f"{'sod 200 cells (accuracy)':<34} {r['steps']:>6} {'':>9} {'':>9} "
                f"{'':>11} {r['compile_s']:>9.2f}   L1 density error "
                f"{r['l1_density']:.3e}"
            )
        elif r["kind"] == "forward":
            print(
                f"{'forward ' + str(r['n']) + '^2':<34} {r['steps']:>6} "
                f"{best(r['times_s']):>9.3f} {min(r['times_s']['wall']):>9.3f} "
                f"{r['cell_updates_per_s']:>11.3e} {r['compile_s']:>9.2f} {'':>8} "
                f"{'':>8} {_gb(r['memory']['total']):>7} "
                f"{_gb(r['times_s']['rss_max_sampled_bytes']):>7} "
                f"{_gb(r['rss_peak_bytes']):>7}"
            )
        else:
            label = f"{r['adjoint']}{r['levels'] or ''} grad {r['n']}^2"
            if "forward_s" in r:
                ft = r["forward_times_s"]
                print(
                    f"{'forward (loss) ' + str(r['n']) + '^2':<34} {r['steps']:>6} "
                    f"{r['forward_s']:>9.3f} {min(ft['wall']):>9.3f} "
                    f"{r['forward_cell_updates_per_s']:>11.3e} "
                    f"{r['forward_compile_s']:>9.2f} {'':>8} {'':>8} "
                    f"{_gb(r['forward_memory']['total']):>7} "
                    f"{_gb(ft['rss_max_sampled_bytes']):>7} "
                    f"{_gb(r['rss_after_forward_bytes']):>7}"
                )
            if "grad_s" in r:
                gt = r["grad_times_s"]
                print(
                    f"{label:<34} {r['steps']:>6} {r['grad_s']:>9.3f} "
                    f"{min(gt['wall']):>9.3f} {'':>11} {'':>9} {r['grad_ratio']:>8.2f} "
                    f"{r['grad_compile_s']:>8.2f} {_gb(r['grad_memory']['total']):>7} "
                    f"{_gb(gt['rss_max_sampled_bytes']):>7} "
                    f"{_gb(r['rss_peak_bytes']):>7}"
                )
            else:
                print(
                    f"{label:<34} {r['steps']:>6} {'-':>9} {'':>9} {'':>11} {'':>9} "
                    f"{'':>8} {r['grad_compile_s']:>8.2f} "
                    f"{_gb(r['grad_memory']['total']):>7} {'-':>7} "
                    f"{_gb(r['rss_peak_bytes']):>7}  not run: {r.get('skipped', '')}"
                )
    print()
    print(
        "XLA GB: compiled.memory_analysis() temp + argument + output (the "
        "executable's buffers). run RSS: largest"
    )
    print(
        "resident set sampled every 20 ms while the timed calls ran (runtime + "
        "buffers + allocator slack; memory the"
    )
    print(
        "compiler freed but the allocator kept counts too). peakRSS: ru_maxrss of the "
        "case's process, which also holds"
    )
    print(
        "the compiler's peak and, for a gradient row, the forward run and compile "
        "before it. GB = 1e9 bytes."
    )
    print()
    print(
        f"Targets ({info['cpu']}, {ARGS.threads} thread(s), {ARGS.precision}); ratio > "
        "1 is better than the target:"
    )
    for c in summary["checks"]:
        if c["value"] is None:
            print(
                f"  {c['name']:<44} {'-':>11}  target {c['target']:.3g}   not measured "
                f"{c['note']}"
            )
            continue
        status = "ok" if c["ok"] else "MISSED"
        print(
            f"  {c['name']:<44} {c['value']:>11.4g}  target {c['target']:.3g}  ratio "
            f"{c['ratio']:6.2f}  {status}{'  (' + c['note'] + ')' if c['note'] else ''}"
        )
    print()
    print(f"Peer: {info['peer']}")


def main():
    if ARGS.case is not None:
        res = _child(json.loads(ARGS.case))
        print("RESULT " + json.dumps(res), flush=True)
        return
    import importlib.metadata as md

    from diffsim.jobs.run import cpu_model

    try:
        uptime = subprocess.run(
            ["uptime"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        uptime = None
    mode = "1thread" if ARGS.threads == "1" else "allthreads"
    path = (
        Path(ARGS.json)
        if ARGS.json
        else ROOT
        / "benchmarks"
        / "results"
        / f"euler_{mode}_{ARGS.precision}{'_quick' if ARGS.quick else ''}.json"
    )
    info: dict[str, object] = dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        cpu=cpu_model(),
        device=f"cpu ({cpu_model()})",
        cpu_count=os.cpu_count(),
        affinity=sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        threads=ARGS.threads,
        xla_flags=os.environ.get("XLA_FLAGS", ""),
        precision=ARGS.precision,
        timer=TIMER,
        python=platform.python_version(),
        jax=md.version("jax"),
        jaxlib=md.version("jaxlib"),
        quick=ARGS.quick,
        command=" ".join([os.path.relpath(sys.executable), *sys.argv]),
        loadavg_start=_loadavg(),
        uptime_start=uptime,
        targets=TARGETS,
        peer=(
            "JAX-Fluids: run benchmarks/jaxfluids_peer.py in its own venv on the "
            "same machine (docs/benchmarks.md)"
        ),
    )
    rows = []
    t0 = time.perf_counter()
    for case in plan():
        r = run_case(case)
        rows.append(r)
        brief = r.get("error") or ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in r.items()
            if k
            in ("n", "steps", "compile_s", "grad_compile_s", "l1_density", "skipped")
        )
        print(
            f"# {time.perf_counter() - t0:7.0f} s  {case['kind']} "
            f"{case.get('adjoint', '')}: {brief}",
            flush=True,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(
            path, "w"
        ) as f:  # after each case: an interrupted run keeps what it measured
            json.dump(dict(info=info, rows=rows), f, indent=1)
    devices = [
        r["jax_device"]
        for r in rows
        if not r.get("jax_device", "cpu").startswith("cpu")
    ]
    if devices:  # an accelerator ran the cases: say so instead of the host CPU
        info["device"] = devices[0]
    info["loadavg_end"] = _loadavg()
    info["total_s"] = time.perf_counter() - t0
    summary = summarize(rows)
    print()
    print_report(info, rows, summary)
    with open(path, "w") as f:
        json.dump(dict(info=info, rows=rows, summary=summary), f, indent=1)
    print(f"\n# wrote {os.path.relpath(path, ROOT)} ({info['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
