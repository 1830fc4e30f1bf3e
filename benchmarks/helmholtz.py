"""Heterogeneous Helmholtz solve and its gradient, against j-Wave.

The problem (the j-Wave comparison problem of issue #4): 256 x 256 cells,
dx = 0.1 mm, 1 MHz in water (c0 = 1500 m/s, 15 points per wavelength), a
disc of radius 40 cells at 2000 m/s in the middle (cells whose centre lies
inside), a 20-cell PML with j-Wave's profile (`1 / gamma = 1 / (1 + 2 i
d^4)`, `d` the normalised depth), a point source: one cell of value
`1 / dx^2` 80 cells left of the disc centre; the target cell 80 cells right
of it. `benchmarks/helmholtz_jwave.py` builds exactly the same arrays.

Ours: `operators.Helmholtz` on `FourierSpectral` (the same staggered Fourier
scheme as j-Wave; see "fields" below for the one difference), solved by
`diffsim.linear_solve` with the convergent-Born-series preconditioner,
GMRES(20) and BiCGStab, to relative residual 1e-6 in float64. In float32 the
attempt at 1e-6 is reported with the residual it reached, and the float32
floor is measured: the float64 solution rounded to complex64 has a residual
of ~1e-5 on its own, so no float32 field can reach 1e-6; float32 is timed to
3e-5. Gradient: `jax.value_and_grad` of `|p(target)|^2` w.r.t. the whole
sound-speed map (implicit adjoint: one forward and one adjoint solve), and
its cost relative to the forward solve.

j-Wave: `helmholtz_jwave.py` is run as a subprocess in its own venv
(`--jwave-python`, default /work/venv-jwave/bin/python), pinned to the same
CPU with the same XLA flags; `--reuse-jwave` reads its last results instead.

Fields: j-Wave returns `p_jw = -i omega H_jw^{-1}(kappa s)`, `kappa =
2 / (dx c_min)`; ours solves `H p = -s`, so `p_jw / (i omega kappa)` is
compared with ours. The difference is split into (a) j-Wave's solver error
(its field against j-Wave's own discrete operator solved here to 1e-10 with
our solver) and (b) the discretization difference between the two
operators: ours evaluates the PML factor of the inner derivative at the
staggered faces `x + h/2` where the flux lives, j-Wave at the cell centres
(its `shift=dx/2` is added to coordinates measured in cells, so it is
1/2000 of a cell).

Usage (one thread)::

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        taskset -c 0 /work/venv/bin/python benchmarks/helmholtz.py

Both wall-clock and process CPU times are measured (on a shared machine
single-threaded CPU time is the robust one); the table shows wall time.
`--quick` runs our side only at 128 x 128; `--json PATH` writes all numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_ONE_THREAD_FLAGS = (
    "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
HERE = Path(__file__).resolve().parent


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument(
        "--threads",
        choices=["1", "all"],
        default="1",
        help=(
            "1 (default): pin to one CPU and single-threaded XLA flags (if XLA_FLAGS "
            "unset); all: leave as is"
        ),
    )
    p.add_argument(
        "--precision",
        default="float64,float32",
        help="comma-separated: float64, float32",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed repetitions of our solves (best is reported)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="128 x 128 (disc radius 20 cells, offset 40), ours only, one repetition",
    )
    p.add_argument(
        "--jwave-python",
        default="/work/venv-jwave/bin/python",
        help="python of the venv with jwave installed",
    )
    p.add_argument(
        "--reuse-jwave",
        action="store_true",
        help="do not run j-Wave; read its last results from --out",
    )
    p.add_argument("--no-jwave", action="store_true", help="ours only")
    p.add_argument(
        "--out",
        default=str(HERE / "results"),
        help="folder for j-Wave's results and ours (helmholtz*.json)",
    )
    p.add_argument("--json", metavar="PATH", help="also write all numbers here")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else parse_args([])
if ARGS.threads == "1":
    # Must happen before jax (and its thread pools) start.
    os.environ.setdefault("XLA_FLAGS", DEFAULT_ONE_THREAD_FLAGS)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from diffsim import GMRES, BiCGStab, linear_solve  # noqa: E402
from diffsim.jobs.run import cpu_model as _cpu_model  # noqa: E402
from diffsim.operators import FourierSpectral, Grid  # noqa: E402
from diffsim.operators.helmholtz import PML, Helmholtz  # noqa: E402

DX, FREQUENCY, C0, C_DISC = 1.0e-4, 1.0e6, 1500.0, 2000.0
OMEGA = 2 * np.pi * FREQUENCY
JWAVE_PML = PML(
    20, strength=2.0, order=4.0
)  # j-Wave: 1 / (1 + i alpha_max d^exponent), alpha_max 2, exponent 4


def device() -> str:
    d = jax.devices()[0]
    if d.platform == "cpu":
        threads = (
            "1 thread" if ARGS.threads == "1" else f"{os.cpu_count()} CPUs visible"
        )
        return (
            f"cpu: {_cpu_model()} ({threads}); "
            f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}"
        )
    return f"{d.platform}: {d.device_kind}"


def timed(fn, *args, repeat):
    """Best wall and CPU seconds over `repeat` calls (after one warm-up)."""
    out = jax.block_until_ready(fn(*args))
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = jax.block_until_ready(fn(*args))
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return out, best_wall, best_cpu


def problem(n=256, radius=40, offset=80):
    """Grid, sound speed, source map (one cell, unit integral), target cell."""
    grid = Grid((n, n), -n * DX / 2, n * DX / 2)
    X, Y = grid.mesh()
    c = jnp.where(X**2 + Y**2 < (radius * DX) ** 2, C_DISC, C0)
    source = np.zeros((n, n), complex)
    source[n // 2 - offset, n // 2] = 1.0 / DX**2
    return grid, c, jnp.asarray(source), (n // 2 + offset, n // 2)


class JWaveOperator(eqx.Module):
    """j-Wave's discrete operator, for the field comparison: the same
    staggered Fourier derivatives as `Helmholtz`, with the PML factor of the
    inner derivative taken at the cell centres instead of the faces."""

    disc: FourierSpectral
    sound_speed: jax.Array
    pml: PML = eqx.field(static=True)

    def __call__(self, p):
        out = (OMEGA / self.sound_speed) ** 2 * p
        for axis in range(2):
            g = jnp.asarray(self.pml.inverse_stretch(self.disc.grid, axis), p.dtype)
            out = out + g * self.disc.derivative_of_scaled_derivative(
                p, g, axis, at_faces=True
            )
        return out


class Counted(eqx.Module):
    """`op` that ticks a host counter per application (untimed runs only)."""

    op: Helmholtz

    def __call__(self, p):
        out = self.op(p)
        jax.debug.callback(_tick, jnp.zeros(()))
        return out


_COUNT = [0]


def _tick(_):
    _COUNT[0] += 1


def solvers(rtol):
    return (
        GMRES(rtol=rtol, max_steps=5000, restart=20),
        BiCGStab(rtol=rtol, max_steps=5000),
    )


def solver_name(solver):
    return type(solver).__name__ + (
        f"({solver.restart})" if isinstance(solver, GMRES) else ""
    )


def run(precision: str, n, radius, offset, repeat) -> dict:
    jax.config.update("jax_enable_x64", precision == "float64")
    grid, c, source, target = problem(n, radius, offset)
    disc = FourierSpectral(grid)
    cdtype = jnp.complex128 if precision == "float64" else jnp.complex64
    source = source.astype(cdtype)
    c = c.astype(jnp.float64 if precision == "float64" else jnp.float32)
    rtols = [1e-6] if precision == "float64" else [1e-6, 3e-5]
    out = {"precision": precision, "cells": [n, n], "solves": [], "gradients": []}

    def operator(c):
        return Helmholtz(disc, c, OMEGA, pml=JWAVE_PML)

    for rtol in rtols:
        for solver in solvers(rtol):

            def solve(c, source, solver=solver, count=False):
                op = operator(c)
                return linear_solve(
                    Counted(op) if count else op,
                    -source,
                    solver,
                    preconditioner=op.preconditioner(),
                    throw=False,
                )

            _COUNT[0] = 0
            jax.block_until_ready(
                eqx.filter_jit(lambda c, s: solve(c, s, count=True))(c, source)
            )
            applications = _COUNT[0]
            fn = eqx.filter_jit(solve)
            t = time.perf_counter()
            fn.lower(c, source).compile()
            compile_s = time.perf_counter() - t
            sol, wall, cpu = timed(fn, c, source, repeat=repeat)
            row = {
                "solver": solver_name(solver),
                "rtol": rtol,
                "converged": bool(sol.converged),
                "iterations": int(sol.num_steps),
                "operator_applications": applications,
                "relative_residual": float(sol.relative_residual),
                "compile_s": compile_s,
                "solve_wall_s": wall,
                "solve_cpu_s": cpu,
            }
            out["solves"].append(row)
            print(
                f"  ours {precision} {row['solver']:<10} rtol {rtol:.0e}: "
                f"{row['iterations']:4d} iterations ({applications} operator "
                "applications), residual "
                f"{row['relative_residual']:.2e}"
                f"{'' if row['converged'] else ' (NOT converged)'}, "
                f"solve {wall:.3f} s wall / {cpu:.3f} s cpu "
                f"(compile {compile_s:.1f} s)",
                flush=True,
            )
            if precision == "float64" and isinstance(solver, GMRES):
                out["field"] = np.asarray(sol.value)

    if precision == "float64":
        # the float32 floor: the float64 solution rounded to complex64, residual in
        # float64
        p64 = jnp.asarray(out["field"])
        op = operator(c)
        rounded = p64.astype(jnp.complex64).astype(jnp.complex128)
        floor = float(jnp.linalg.norm(op(rounded) + source) / jnp.linalg.norm(source))
        out["float32_floor"] = floor
        print(
            "  float32 floor: the float64 solution rounded to complex64 has relative "
            f"residual {floor:.2e}",
            flush=True,
        )

    rtol = rtols[0] if precision == "float64" else rtols[-1]
    for solver in solvers(rtol):

        def intensity(c, solver=solver):
            op = operator(c)
            p = linear_solve(
                op, -source, solver, preconditioner=op.preconditioner()
            ).value
            return jnp.abs(p[target]) ** 2

        forward = jax.jit(intensity)
        value_and_grad = jax.jit(jax.value_and_grad(intensity))
        t = time.perf_counter()
        value_and_grad.lower(c).compile()
        compile_s = time.perf_counter() - t
        _, f_wall, f_cpu = timed(forward, c, repeat=repeat)
        (value, grad), g_wall, g_cpu = timed(value_and_grad, c, repeat=repeat)
        assert bool(jnp.all(jnp.isfinite(grad)))
        row = {
            "solver": solver_name(solver),
            "rtol": rtol,
            "value": float(value),
            "forward_wall_s": f_wall,
            "forward_cpu_s": f_cpu,
            "value_and_grad_wall_s": g_wall,
            "value_and_grad_cpu_s": g_cpu,
            "ratio_wall": g_wall / f_wall,
            "ratio_cpu": g_cpu / f_cpu,
            "compile_s": compile_s,
        }
        out["gradients"].append(row)
        if precision == "float64" and isinstance(solver, GMRES):
            out["gradient_map"] = np.asarray(grad)
        print(
            f"  ours {precision} gradient of |p(target)|^2 w.r.t. c ({n}x{n}), "
            f"{row['solver']} rtol {rtol:.0e}: forward {f_wall:.3f} s, value_and_grad "
            f"{g_wall:.3f} s wall ({g_wall / f_wall:.2f}x), cpu {f_cpu:.3f} / "
            f"{g_cpu:.3f} s ({g_cpu / f_cpu:.2f}x) (compile {compile_s:.1f} s)",
            flush=True,
        )
    return out


def run_jwave(out_dir: Path) -> dict | None:
    if not ARGS.reuse_jwave:
        python = Path(ARGS.jwave_python)
        if not python.exists():
            print(
                f"j-Wave: {python} not found; create it with `python3 -m venv "
                "/work/venv-jwave && /work/venv-jwave/bin/pip install jwave`, or "
                "pass --no-jwave",
                flush=True,
            )
            return None
        env = dict(os.environ)
        env.setdefault("XLA_FLAGS", DEFAULT_ONE_THREAD_FLAGS)
        cmd = [str(python), str(HERE / "helmholtz_jwave.py"), "--out", str(out_dir)]
        if ARGS.threads == "1" and hasattr(os, "sched_getaffinity"):
            cmd = ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[0]), *cmd]
        print(f"j-Wave: {' '.join(cmd)}", flush=True)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        for line in done.stdout.splitlines():
            print(f"  {line}", flush=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], flush=True)
            raise SystemExit(f"j-Wave run failed (exit {done.returncode})")
    path = out_dir / "helmholtz_jwave.json"
    if not path.exists():
        print(f"j-Wave: no results at {path}", flush=True)
        return None
    results = json.loads(path.read_text())
    results["field"] = np.load(out_dir / "helmholtz_jwave_field.npy").astype(
        np.complex128
    )
    grad_path = out_dir / "helmholtz_jwave_gradient.npy"
    results["gradient_map"] = (
        np.load(grad_path).astype(np.float64) if grad_path.exists() else None
    )
    return results


def compare_fields(ours: dict, jw: dict) -> dict:
    """Ours against j-Wave's field, and the split of the difference."""
    jax.config.update("jax_enable_x64", True)
    grid, c, source, target = problem()
    disc = FourierSpectral(grid)
    kappa, omega = jw["source_scale"]["kappa"], jw["source_scale"]["omega"]
    p_jw = jw["field"] / (1j * omega * kappa)  # onto ours: H p = -s
    p_ours = ours["field"]
    interior = ~JWAVE_PML.mask(grid)
    replica = JWaveOperator(disc, c, JWAVE_PML)
    p_rep = linear_solve(
        replica,
        -source,
        GMRES(rtol=1e-10, max_steps=5000, restart=20),
        preconditioner=Helmholtz(disc, c, OMEGA, pml=JWAVE_PML).preconditioner(),
    ).value
    p_rep = np.asarray(p_rep)

    def rel(a, b, where=None):
        if where is not None:
            a, b = a[where], b[where]
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    op = Helmholtz(disc, c, OMEGA, pml=JWAVE_PML)
    out = {
        "ours_vs_jwave": {
            "all": rel(p_ours, p_jw),
            "interior": rel(p_ours, p_jw, interior),
        },
        "jwave_solver_error": {
            "all": rel(p_jw, p_rep),
            "interior": rel(p_jw, p_rep, interior),
        },
        "discretization_difference": {
            "all": rel(p_ours, p_rep),
            "interior": rel(p_ours, p_rep, interior),
        },
        "jwave_field_residual_in_our_operator": float(
            jnp.linalg.norm(op(jnp.asarray(p_jw)) + source) / jnp.linalg.norm(source)
        ),
        "jwave_residual_in_its_operator_by_our_replica": float(
            jnp.linalg.norm(replica(jnp.asarray(p_jw)) + source)
            / jnp.linalg.norm(source)
        ),
        "target_intensity_ratio": float(
            np.abs(p_jw[target]) ** 2 / np.abs(p_ours[target]) ** 2
        ),
    }
    if jw.get("gradient_map") is not None and ours.get("gradient_map") is not None:
        g_jw = (
            jw["gradient_map"] / (omega * kappa) ** 2
        )  # |p_jw|^2 = (omega kappa)^2 |p|^2 (up to d kappa / d c_min)
        out["gradient_ours_vs_jwave"] = {
            "all": rel(ours["gradient_map"], g_jw),
            "interior": rel(ours["gradient_map"], g_jw, interior),
        }
    return out


def table(ours_runs, jw, comparison) -> str:
    """Times are process CPU seconds (one thread; robust on a loaded machine),
    wall seconds in brackets."""
    cells = 256 * 256
    head = (
        f"{'code':<7} {'precision':<9} {'solver':<10} {'tol':>6} {'op.appl.':>8} "
        f"{'residual':>9} {'solve s (wall)':>16} {'grad s (wall)':>16} "
        f"{'grad/solve':>10} {'Mcell/s':>8} {'j-Wave/ours':>11}"
    )
    lines = [head, "-" * len(head)]
    jw_solve = {r["method"]: r for r in jw["solves"]} if jw else {}
    jw_gmres = jw_solve.get("gmres")
    nan = float("nan")
    for run in ours_runs:
        grads = {(g["solver"], g["rtol"]): g for g in run["gradients"]}
        for s in run["solves"]:
            g = grads.get((s["solver"], s["rtol"]))
            thr = s["operator_applications"] * cells / s["solve_cpu_s"] / 1e6
            speed = (
                f"{jw_gmres['solve_cpu_s'] / s['solve_cpu_s']:.0f}x"
                if jw_gmres and s["converged"]
                else ""
            )
            resid = f"{s['relative_residual']:.1e}" + ("" if s["converged"] else "*")
            grad = (
                f"{g['value_and_grad_cpu_s']:.3f} ({g['value_and_grad_wall_s']:.2f})"
                if g
                else ""
            )
            lines.append(
                f"{'ours':<7} {run['precision']:<9} {s['solver']:<10} "
                f"{s['rtol']:>6.0e} {s['operator_applications']:>8} {resid:>9} "
                f"{s['solve_cpu_s']:>8.3f} ({s['solve_wall_s']:.2f}) {grad:>16} "
                f"{g['ratio_cpu'] if g else nan:>10.2f} {thr:>8.1f} {speed:>11}"
            )
    if jw:
        grad = jw.get("gradient")
        for method, s in jw_solve.items():
            thr = s["operator_applications"] * cells / s["solve_cpu_s"] / 1e6
            g = grad if method == "gmres" and grad else None
            name = "GMRES(10)" if method == "gmres" else "BiCGStab"
            gtxt = (
                f"{g['value_and_grad_cpu_s']:.1f} ({g['value_and_grad_wall_s']:.0f})"
                if g
                else ""
            )
            lines.append(
                f"{'j-Wave':<7} {jw['precision']:<9} {name:<10} {s['tol']:>6.0e} "
                f"{s['operator_applications']:>8} {s['relative_residual']:>9.1e} "
                f"{s['solve_cpu_s']:>8.2f} ({s['solve_wall_s']:.0f}) {gtxt:>16} "
                f"{g['value_and_grad_cpu_s'] / s['solve_cpu_s'] if g else nan:>10.2f} "
                f"{thr:>8.1f} {'':>11}"
            )
    lines.append(
        "residual: true ||b - A x|| / ||b|| (ours: reported by our solver; j-Wave: "
        "computed independently in float64); * = tolerance not reached (float32 "
        "floor: see below)"
    )
    lines.append(
        "times: process CPU seconds of one thread, wall seconds in brackets (shared, "
        "loaded machine); grad: value_and_grad of |p(target)|^2 w.r.t. the 256x256 "
        "sound-speed map; Mcell/s: cells x operator applications / CPU s; "
        "j-Wave/ours: j-Wave GMRES solve CPU time / ours"
    )
    f64 = next((r for r in ours_runs if "float32_floor" in r), None)
    if f64:
        lines.append(
            "float32 floor: the float64 solution rounded to complex64 already has "
            f"relative residual {f64['float32_floor']:.1e}"
        )
    if comparison:
        c = comparison
        lines.append(
            "fields (outside the PML / whole grid): ours vs j-Wave "
            f"{c['ours_vs_jwave']['interior']:.1e} / {c['ours_vs_jwave']['all']:.1e} ; "
            "split into j-Wave's solver error "
            f"{c['jwave_solver_error']['interior']:.1e} / "
            f"{c['jwave_solver_error']['all']:.1e} and the discretization difference "
            "(PML at faces vs centres) "
            f"{c['discretization_difference']['interior']:.1e} / "
            f"{c['discretization_difference']['all']:.1e}; j-Wave's field has residual "
            f"{c['jwave_field_residual_in_our_operator']:.1e} in our operator, "
            f"{c['jwave_residual_in_its_operator_by_our_replica']:.1e} in its own"
        )
        if "gradient_ours_vs_jwave" in c:
            lines.append(
                "gradients (ours vs j-Wave's rescaled): relative difference "
                f"{c['gradient_ours_vs_jwave']['interior']:.1e} outside the PML, "
                f"{c['gradient_ours_vs_jwave']['all']:.1e} overall"
            )
    return "\n".join(lines)


def main():
    n, radius, offset = (128, 20, 40) if ARGS.quick else (256, 40, 80)
    repeat = 1 if ARGS.quick else ARGS.repeat
    out_dir = Path(ARGS.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"device: {device()}")
    print(
        f"problem: {n}x{n}, dx = 0.1 mm, 1 MHz, water 1500 m/s, disc r = {radius} "
        "cells at 2000 m/s, PML 20 cells (j-Wave profile), one-cell point source "
        f"{offset} cells left of the disc, target {offset} cells right",
        flush=True,
    )
    ours = [
        run(p.strip(), n, radius, offset, repeat) for p in ARGS.precision.split(",")
    ]
    jw = None if (ARGS.quick or ARGS.no_jwave) else run_jwave(out_dir)
    f64 = next((r for r in ours if r["precision"] == "float64"), None)
    comparison = compare_fields(f64, jw) if (jw and f64) else None
    text = table(ours, jw, comparison)
    print("\n" + text)
    strip = lambda d: {k: v for k, v in d.items() if k not in ("field", "gradient_map")}  # noqa: E731
    results = {
        "device": device(),
        "date": time.strftime("%Y-%m-%d"),
        "ours": [strip(r) for r in ours],
        "jwave": strip(jw) if jw else None,
        "comparison": comparison,
        "table": text,
    }
    if not ARGS.quick:
        (out_dir / "helmholtz.json").write_text(json.dumps(results, indent=2))
        (out_dir / "helmholtz.txt").write_text(f"device: {device()}\n{text}\n")
    if ARGS.json:
        Path(ARGS.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
