"""The adjoint menu: gradient time and memory relative to the forward run.

For each problem and number of steps n (100 / 1,000 / 10,000 by default) the
loss `L(p) = mean(fields(T)^2)` of a rollout by `diffsim.solve` is
differentiated with respect to two scalar parameters `p` by

- `direct`: reverse mode through the plain scan (`DirectAdjoint`);
- `checkpoint2` / `checkpoint4`: reverse mode with nested checkpointing
  (`CheckpointAdjoint(levels=2 | 4)`, ~`levels n^(1/levels)` stored states);
- `forward`: forward mode, one JVP per parameter (`value_and_grad(...,
  "forward")`, two JVPs batched with vmap);

Problems:

- `euler1d`: `operators.Euler`, 200 cells, periodic smooth density wave
  (rho = 1 + A sin 2 pi x, u = 1, p = p0; parameters A, p0), WENO5-Z in
  characteristic variables + HLLC, SSPRK3, fixed dt (CFL 0.4);
- `ns2d`: `operators.NavierStokesVorticity` 64^2 (parameters nu and the
  amplitude of a random smooth initial vorticity), ETDRK4, dt = 0.01.

Time: the best of a few calls of the compiled function (compile excluded).
Memory: XLA's own accounting of the compiled executable
(`compiled.memory_analysis()`: temp + argument + output bytes, i.e. the peak
of buffers live at once as XLA assigned them), deterministic and independent
of the allocator and of other processes, unlike a process's peak RSS (which
on CPU also counts the JAX runtime, compiler and freed-but-kept memory). It is
reported relative to the forward run's and to one state (the fields of one
time step). A gradient whose compiled temp memory exceeds `--max-gb` is not
run (reported as such).

With `--memory-budget BYTES` the modes are `checkpoint` (the unbounded
`CheckpointAdjoint()`) and `budget` (`CheckpointAdjoint(memory_budget=...)`),
in one process. The budget is for the whole compiled gradient: the loop gets
it less what the rest of the program holds (initial data, stepper
coefficients and, with a traced viscosity, their gradient), measured as the
compiled memory of the same gradient over one step. Each gradient row also
gives the process's peak RSS during its calls (`VmHWM`, reset before each
mode through `/proc/self/clear_refs`) and, for `budget`, the plan's levels,
blocks, predicted bytes and recomputation factor.

Usage::

    python benchmarks/adjoints.py [--steps 100 1000 10000] [--json PATH]
    python benchmarks/adjoints.py --problems ns2d --ns-cells 256 --steps 10000 \\
        --memory-budget 1e9 --calls 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Literal

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import diffsim as ds  # noqa: E402
from diffsim.jobs.run import device_description  # noqa: E402
from diffsim.operators import (  # noqa: E402
    Euler,
    FourierSpectral,
    Grid,
    NavierStokesVorticity,
    discretize,
)

#: name -> (adjoint, direction of the gradient)
Modes = dict[str, tuple[ds.AbstractAdjoint, Literal["reverse", "forward"]]]
MODES: Modes = {
    "direct": (ds.DirectAdjoint(), "reverse"),
    "checkpoint2": (ds.CheckpointAdjoint(levels=2), "reverse"),
    "checkpoint4": (ds.CheckpointAdjoint(levels=4), "reverse"),
    "forward": (ds.DirectAdjoint(), "forward"),
}


def euler1d():
    grid = Grid(200, 0.0, 1.0)
    (x,) = grid.coordinates
    op = Euler(grid)  # WENO5-Z, HLLC, characteristic variables, periodic
    dt = 0.4 * (1 / 200) / (1.0 + np.sqrt(1.4 * 1.2 / 0.8))  # max |u| + c over the wave

    def fields(p):
        rho = 1.0 + p["amplitude"] * jnp.sin(2 * np.pi * x)
        return jnp.stack([rho, jnp.ones_like(x), p["pressure"] * jnp.ones_like(x)])

    return (
        op,
        ds.SSPRK3(),
        dt,
        fields,
        {"amplitude": jnp.asarray(0.2), "pressure": jnp.asarray(1.0)},
        lambda p: op,
    )


NS_CELLS = 64


def ns2d():
    grid = Grid((NS_CELLS, NS_CELLS), (0.0, 0.0), (2 * np.pi, 2 * np.pi))
    disc = FourierSpectral(grid)
    from diffsim.scenarios import random_smooth_field

    w0 = random_smooth_field(jax.random.key(0), grid, k_peak=4.0, rms=1.0)

    def fields(p):
        return (p["amplitude"] * w0)[None]

    return (
        None,
        ds.ETDRK4(),
        0.01,
        fields,
        {"amplitude": jnp.asarray(1.0), "nu": jnp.asarray(1e-3)},
        lambda p: discretize(NavierStokesVorticity(p["nu"]), disc),
    )


PROBLEMS = {"euler1d": euler1d, "ns2d": ns2d}


def memory(compiled) -> int:
    m = compiled.memory_analysis()
    return int(m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes)


def best_time(
    f, args, budget_s: float = 2.0, max_calls: int = 3, warm: bool = True
) -> float:
    if warm:
        jax.block_until_ready(f(*args))
    times = []
    while len(times) < max_calls and sum(times) < budget_s:
        t = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - t)
    return min(times)


def reset_peak_rss() -> None:
    """Reset this process's peak RSS (`VmHWM`), Linux only."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss() -> int:
    """This process's peak RSS in bytes since the last reset (`VmHWM`)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def bench(
    name: str, steps: int, max_gb: float, budget: float | None = None, calls: int = 3
) -> list[dict]:
    _, stepper, dt, fields, params, operator = PROBLEMS[name]()

    def loss_with(adjoint):
        def loss(p):
            sol = ds.solve(
                operator(p), stepper, fields(p), dt=dt, num_steps=steps, adjoint=adjoint
            )
            return jnp.mean(sol.ys[-1] ** 2)

        return loss

    state_bytes = int(fields(params).nbytes)
    t0 = time.perf_counter()
    fwd = jax.jit(loss_with(ds.DirectAdjoint())).lower(params).compile()
    fwd_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    value = float(fwd(params))
    fwd_time = time.perf_counter() - t0  # the first call, taken when no other is
    if calls > 1:
        fwd_time = min(
            fwd_time, best_time(fwd, (params,), max_calls=calls - 1, warm=False)
        )
    fwd_mem = memory(fwd)
    rows = [
        {
            "problem": name,
            "steps": steps,
            "mode": "forward run",
            "time_s": fwd_time,
            "time_ratio": 1.0,
            "memory_bytes": fwd_mem,
            "memory_ratio": 1.0,
            "memory_states": fwd_mem / state_bytes,
            "compile_s": fwd_compile,
            "state_bytes": state_bytes,
        }
    ]
    reference = None
    modes: Modes = MODES
    plans = []
    if budget is not None:
        # what the program holds outside the time loop: the compiled gradient over
        # one step
        one_step = jax.jit(
            jax.grad(
                lambda p: jnp.mean(
                    ds.solve(operator(p), stepper, fields(p), dt=dt, num_steps=1).ys[-1]
                    ** 2
                )
            )
        )
        rest = memory(one_step.lower(params).compile())
        print(
            f"budget {budget:.4g} B: rest of the program (1-step gradient) "
            f"{rest / 2**20:.2f} MiB, loop budget {(budget - rest) / 2**20:.2f} MiB",
            flush=True,
        )
        modes = {
            "budget": (ds.CheckpointAdjoint(memory_budget=budget - rest), "reverse"),
            "checkpoint": (ds.CheckpointAdjoint(), "reverse"),
        }
        spied = ds.CheckpointAdjoint.plan

        def plan(self, body, carry, n):  # record the plan the loop uses
            result = spied(self, body, carry, n)
            plans.append(result)
            return result

    for mode, (adjoint, direction) in modes.items():
        t0 = time.perf_counter()
        if budget is not None:
            ds.CheckpointAdjoint.plan = plan
        try:
            grad = (
                jax.jit(ds.value_and_grad(loss_with(adjoint), direction))
                .lower(params)
                .compile()
            )
        finally:
            if budget is not None:
                ds.CheckpointAdjoint.plan = spied
        compile_s = time.perf_counter() - t0
        mem = memory(grad)
        row = {
            "problem": name,
            "steps": steps,
            "mode": mode,
            "memory_bytes": mem,
            "memory_ratio": mem / fwd_mem,
            "memory_states": mem / state_bytes,
            "compile_s": compile_s,
            "state_bytes": state_bytes,
        }
        if budget is not None:
            p = plans[-1]
            row.update(
                budget_bytes=budget,
                rest_bytes=rest,
                levels=p.levels,
                blocks=list(p.blocks),
                predicted_bytes=rest + p.predicted_bytes,
                recompute_factor=p.recompute_factor,
            )
            print(
                f"{mode}: {p}; predicted with the rest "
                f"{(rest + p.predicted_bytes) / 2**20:.1f} MiB, XLA {mem / 2**20:.1f} "
                f"MiB, budget {budget / 2**20:.1f} MiB",
                flush=True,
            )
        if mem > max_gb * 2**30:
            row.update(
                time_s=None,
                time_ratio=None,
                skipped=f"needs {mem / 2**30:.1f} GiB > --max-gb {max_gb}",
            )
        else:
            reset_peak_rss()
            t0 = time.perf_counter()
            v, g = jax.block_until_ready(grad(params))
            first = time.perf_counter() - t0
            g = np.array([float(g[k]) for k in sorted(g)])
            if reference is None:
                reference = g
            row["max_rel_diff_vs_first"] = float(
                np.max(np.abs(g - reference)) / np.max(np.abs(reference))
            )
            assert abs(float(v) - value) <= 1e-12 * abs(value), (mode, float(v), value)
            row["time_s"] = (
                first
                if calls <= 1
                else min(
                    first, best_time(grad, (params,), max_calls=calls - 1, warm=False)
                )
            )
            row["time_ratio"] = row["time_s"] / fwd_time
            row["peak_rss_bytes"] = peak_rss()
        rows.append(row)
        print(_format(row), flush=True)
    print(_format(rows[0]), "(reference)", flush=True)
    return rows


def _format(r):
    t = (
        "skipped"
        if r["time_s"] is None
        else f"{r['time_s'] * 1e3:10.1f} ms {r['time_ratio']:6.2f}x"
    )
    agree = (
        f"  grad rel. diff {r['max_rel_diff_vs_first']:.1e}"
        if "max_rel_diff_vs_first" in r
        else ""
    )
    if "peak_rss_bytes" in r:
        agree += f"  peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB"
    return (
        f"{r['problem']:<8} {r['steps']:>6} {r['mode']:<12} {t:>22}  mem "
        f"{r['memory_bytes'] / 2**20:9.2f} MiB {r['memory_ratio']:7.1f}x fwd "
        f"{r['memory_states']:8.1f} "
        f"states{agree}{'  ' + r['skipped'] if 'skipped' in r else ''}"
    )


def main():
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS)
    )
    parser.add_argument("--steps", nargs="+", type=int, default=[100, 1000, 10000])
    parser.add_argument(
        "--max-gb",
        type=float,
        default=4.0,
        help="skip gradients whose compiled memory exceeds this (GiB)",
    )
    parser.add_argument("--json", help="write all rows to this file")
    parser.add_argument(
        "--memory-budget",
        type=float,
        help=(
            "bytes for the whole gradient: run CheckpointAdjoint(memory_budget=...) "
            "against CheckpointAdjoint()"
        ),
    )
    parser.add_argument(
        "--ns-cells", type=int, default=64, help="ns2d grid cells per axis"
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=3,
        help=(
            "timed calls per case, best taken; 1: no warm-up call, the gradient's "
            "first call (run) is timed"
        ),
    )
    args = parser.parse_args()
    global NS_CELLS
    NS_CELLS = args.ns_cells
    device = device_description()
    print(f"device: {device}; jax {jax.__version__}; float64")
    print(
        f"{'problem':<8} {'steps':>6} {'mode':<12} {'time, ratio to fwd':>22}  memory "
        "(XLA buffers), ratio to forward run, in states"
    )
    rows, t0 = [], time.perf_counter()
    for name in args.problems:
        for steps in args.steps:
            rows += bench(name, steps, args.max_gb, args.memory_budget, args.calls)
            if (
                args.json
            ):  # after each case, so an interrupted run keeps what it measured
                with open(args.json, "w") as f:
                    json.dump(
                        {
                            "device": device,
                            "jax": jax.__version__,
                            "argv": sys.argv,
                            "rows": rows,
                        },
                        f,
                        indent=1,
                    )
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
