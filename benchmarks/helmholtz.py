"""Heterogeneous Helmholtz solve and its gradient: iterations and time.

The problem (the j-Wave comparison problem): 256 x 256 cells, dx = 0.1 mm,
1 MHz in water (c0 = 1500 m/s, 15 points per wavelength), a disc of radius
40 cells at 2000 m/s in the middle, a 20-cell PML, a point source 80 cells
left of the disc centre. For each precision this prints

- the forward solve `H p = -s` to relative residual `rtol` (1e-6 in float64;
  in float32 the residual of the operator itself cannot be evaluated much
  below ~1e-5 at 15 points per wavelength, so float32 is run to 3e-5 and the
  attempt at 1e-6 is reported with the residual it reached): Krylov
  iterations, compile time, and the best of `--repeat` timed solves, for
  GMRES(restart) and BiCGStab with the convergent-Born-series preconditioner;
- the gradient of `|p(target)|^2` with respect to the whole sound-speed map
  (`jax.value_and_grad`, implicit adjoint: one forward and one adjoint solve)
  and its cost relative to the forward solve.

Only our solver is timed here (the j-Wave side is to be added).

Usage (one thread, as for the other benchmarks)::

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        taskset -c 0 python benchmarks/helmholtz.py --threads 1

`--threads 1` also pins the process to one CPU and sets those XLA_FLAGS if
they are not set (before jax is imported). Both wall-clock and process CPU
times are printed (on a shared machine, single-threaded CPU time is the
robust one). `--quick` runs a 128 x 128 version; `--json PATH` writes all
numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

DEFAULT_ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", choices=["1", "all"], default="all",
                   help="1: pin to one CPU and single-threaded XLA flags (if XLA_FLAGS unset); all: leave as is")
    p.add_argument("--precision", default="float64,float32", help="comma-separated: float64, float32")
    p.add_argument("--discretization", choices=["fourier", "fd4", "fd8"], default="fourier")
    p.add_argument("--repeat", type=int, default=3, help="timed repetitions (best is reported)")
    p.add_argument("--quick", action="store_true", help="128 x 128 (disc radius 20 cells, PML 20), one repetition")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    return p.parse_args(argv)


ARGS = parse_args()
if ARGS.threads == "1":
    # Must happen before jax (and its thread pools) start.
    os.environ.setdefault("XLA_FLAGS", DEFAULT_ONE_THREAD_FLAGS)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from diffsim import BiCGStab, GMRES, linear_solve  # noqa: E402
from diffsim._run import cpu_model as _cpu_model  # noqa: E402
from operators import FiniteDifference, FourierSpectral, Grid  # noqa: E402
from operators.helmholtz import PML, Helmholtz, point_source  # noqa: E402




def device() -> str:
    d = jax.devices()[0]
    if d.platform == "cpu":
        threads = "1 thread" if ARGS.threads == "1" else f"{os.cpu_count()} CPUs visible"
        return f"cpu: {_cpu_model()} ({threads}); XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}"
    return f"{d.platform}: {d.device_kind}"


def timed(fn, *args, repeat):
    """Best wall and CPU seconds over `repeat` calls (after one warm-up)."""
    jax.block_until_ready(fn(*args))
    best_wall = best_cpu = float("inf")
    out = None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = jax.block_until_ready(fn(*args))
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return out, best_wall, best_cpu


def problem(n, radius_cells, dx=1.0e-4):
    grid = Grid((n, n), -n * dx / 2, n * dx / 2)
    X, Y = grid.mesh()
    c = jnp.where(X**2 + Y**2 < (radius_cells * dx) ** 2, 2000.0, 1500.0)
    disc = {"fourier": FourierSpectral, "fd4": lambda g: FiniteDifference(g, 4), "fd8": lambda g: FiniteDifference(g, 8)}[ARGS.discretization](grid)
    source = point_source(grid, (-2 * radius_cells * dx + dx / 2, dx / 2))
    probe = point_source(grid, (2 * radius_cells * dx + dx / 2, dx / 2)) * grid.cell_volume
    return grid, disc, c, source, probe


def run(precision: str) -> dict:
    jax.config.update("jax_enable_x64", precision == "float64")
    n, radius = (128, 20) if ARGS.quick else (256, 40)
    repeat = 1 if ARGS.quick else ARGS.repeat
    grid, disc, c, source, probe = problem(n, radius)
    omega = 2 * np.pi * 1.0e6
    pml = PML(20)
    rtols = [1e-6] if precision == "float64" else [3e-5, 1e-6]
    results = {"precision": precision, "cells": [n, n], "solves": []}

    def operator(c):
        return Helmholtz(disc, c, omega, pml=pml)

    for rtol in rtols:
        for solver in (GMRES(rtol=rtol, max_steps=5000, restart=20), BiCGStab(rtol=rtol, max_steps=5000)):
            @eqx.filter_jit
            def solve(c, source, solver=solver):
                op = operator(c)
                return linear_solve(op, -source, solver, preconditioner=op.preconditioner(), throw=False)

            t = time.perf_counter()
            solve.lower(c, source).compile()
            compile_s = time.perf_counter() - t
            sol, wall, cpu = timed(solve, c, source, repeat=repeat)
            row = {
                "solver": f"{type(solver).__name__}" + (f"(restart={solver.restart})" if isinstance(solver, GMRES) else ""),
                "rtol": rtol, "converged": bool(sol.converged), "iterations": int(sol.num_steps),
                "relative_residual": float(sol.relative_residual), "compile_s": compile_s, "solve_wall_s": wall, "solve_cpu_s": cpu,
            }
            results["solves"].append(row)
            print(f"  {precision} {row['solver']:<18} rtol {rtol:.0e}: {row['iterations']:4d} iterations, residual "
                  f"{row['relative_residual']:.2e}{'' if row['converged'] else ' (NOT converged)'}, "
                  f"solve {wall:.3f} s wall / {cpu:.3f} s cpu (compile {compile_s:.1f} s)", flush=True)

    # gradient of the focal intensity w.r.t. the sound-speed map, at the precision's tolerance
    rtol = rtols[0]
    results["gradient"] = []
    for solver in (GMRES(rtol=rtol, max_steps=5000, restart=20), BiCGStab(rtol=rtol, max_steps=5000)):
        def intensity(c, solver=solver):
            op = operator(c)
            p = linear_solve(op, -source, solver, preconditioner=op.preconditioner()).value
            return jnp.abs(jnp.sum(probe * p)) ** 2

        forward = jax.jit(intensity)
        value_and_grad = jax.jit(jax.value_and_grad(intensity))
        t = time.perf_counter()
        value_and_grad.lower(c).compile()
        compile_s = time.perf_counter() - t
        _, f_wall, f_cpu = timed(forward, c, repeat=repeat)
        (_, grad), g_wall, g_cpu = timed(value_and_grad, c, repeat=repeat)
        assert bool(jnp.all(jnp.isfinite(grad)))
        name = type(solver).__name__
        results["gradient"].append({
            "solver": name, "rtol": rtol, "forward_wall_s": f_wall, "forward_cpu_s": f_cpu, "value_and_grad_wall_s": g_wall,
            "value_and_grad_cpu_s": g_cpu, "ratio_wall": g_wall / f_wall, "ratio_cpu": g_cpu / f_cpu, "compile_s": compile_s,
        })
        print(f"  {precision} gradient of |p(target)|^2 w.r.t. c ({n}x{n} map), {name} rtol {rtol:.0e}: "
              f"forward {f_wall:.3f} s, value_and_grad {g_wall:.3f} s wall ({g_wall / f_wall:.2f}x), "
              f"cpu {f_cpu:.3f} / {g_cpu:.3f} s ({g_cpu / f_cpu:.2f}x) (compile {compile_s:.1f} s)", flush=True)
    return results


def main():
    print(f"device: {device()}")
    n = 128 if ARGS.quick else 256
    print(f"problem: {n}x{n}, dx = 0.1 mm, 1 MHz, water 1500 m/s, disc r = {n // 6.4:.0f} cells at 2000 m/s, "
          f"PML 20 cells, point source; {ARGS.discretization}, Born-preconditioned Krylov")
    out = {"device": device(), "discretization": ARGS.discretization, "runs": []}
    for precision in ARGS.precision.split(","):
        out["runs"].append(run(precision.strip()))
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
