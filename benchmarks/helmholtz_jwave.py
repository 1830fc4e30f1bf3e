"""The Helmholtz comparison problem solved with j-Wave (runs in j-Wave's own venv).

j-Wave (Stanziola et al., SoftwareX 2023) pins an old jax, so it lives in
its own virtual environment and this script imports nothing from diffsim::

    python3 -m venv /work/venv-jwave && /work/venv-jwave/bin/pip install jwave
    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        taskset -c 0 /work/venv-jwave/bin/python benchmarks/helmholtz_jwave.py \\
        --out benchmarks/results

(`benchmarks/helmholtz.py --jwave-python /work/venv-jwave/bin/python` runs it
as a subprocess and compares the fields.)

The problem: 256 x 256 cells, dx = 0.1 mm, 1 MHz in water (1500 m/s, 15
points per wavelength), a disc of radius 40 cells at 2000 m/s in the middle
(cells whose centre lies inside), a 20-cell PML (j-Wave's default profile),
a point source: one cell of value `1 / dx^2` (unit integral) 80 cells left
of the disc centre; the target is the cell 80 cells right of it.

Timed with `jwave.acoustics.time_harmonic.helmholtz_solver`, j-Wave's own
solver as a user calls it: unpreconditioned `jax.scipy.sparse.linalg`
GMRES (restart 10) and BiCGStab, relative tolerance `--tol` (j-Wave's
default 1e-3), `maxiter` j-Wave's default 1000 (GMRES: restart cycles).
Those solvers report no iteration count and no residual, so

- operator applications are counted in a separate, untimed run in which the
  solver's matvec (`jwave.acoustics.time_harmonic.gmres`/`bicgstab`, patched
  to wrap the operator) ticks a host counter;
- the relative residual reached is computed here, independently of j-Wave's
  code, by a NumPy float64 implementation of j-Wave's discrete operator
  (staggered Fourier derivatives, PML `1 / (1 + 2 i d^4)` at the cell
  centres, `(omega/c)^2`), which is first checked against j-Wave's own
  operator on a random field.

The gradient is `jax.grad` of `|p(target)|^2` with respect to the whole
sound-speed map through `helmholtz_solver` (GMRES; jax's
`custom_linear_solve`, i.e. an implicit adjoint solve). Writes
`helmholtz_jwave.json`, `helmholtz_jwave_field.npy` (the GMRES field,
complex64) and `helmholtz_jwave_gradient.npy` (float32) into `--out`.
"""

# jwave is installed only in its own venv (/work/venv-jwave, see above), never in
# diffsim's: pyright cannot resolve it or the old jax it pins.
# pyright: reportMissingImports=false

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

N, DX, FREQUENCY, C0, C_DISC, RADIUS, PML, OFFSET = (
    256,
    1.0e-4,
    1.0e6,
    1500.0,
    2000.0,
    40,
    20,
    80,
)
PML_ALPHA_MAX, PML_EXPONENT = 2.0, 4.0  # j-Wave's complex_pml_on_grid defaults


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument(
        "--out",
        default="benchmarks/results",
        help="folder for the JSON, field and gradient",
    )
    p.add_argument(
        "--tol",
        type=float,
        default=1e-3,
        help="relative tolerance (j-Wave's default 1e-3)",
    )
    p.add_argument(
        "--maxiter",
        type=int,
        default=1000,
        help="j-Wave's maxiter (GMRES: restart cycles)",
    )
    p.add_argument("--restart", type=int, default=10)
    p.add_argument("--methods", default="gmres,bicgstab")
    p.add_argument("--no-gradient", action="store_true")
    p.add_argument(
        "--x64",
        action="store_true",
        help="float64 (default: float32, j-Wave's default)",
    )
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.x64:
    os.environ["JAX_ENABLE_X64"] = "1"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def problem():
    """Sound speed map, source map and target cell (NumPy, float64)."""
    centre = (
        np.arange(N) + 0.5 - N / 2
    ) * DX  # cell centres; j-Wave's Domain grid is the same
    X, Y = np.meshgrid(centre, centre, indexing="ij")
    c = np.where(X**2 + Y**2 < (RADIUS * DX) ** 2, C_DISC, C0)
    source = np.zeros((N, N), complex)
    source[N // 2 - OFFSET, N // 2] = 1.0 / DX**2
    return c, source, (N // 2 + OFFSET, N // 2)


def jwave_pml_profile(n=N, width=PML):
    """`1 / gamma` at the cell centres along one axis, as j-Wave builds it."""
    x = np.arange(n) + 0.5 - n / 2
    depth = np.clip((np.abs(x) - (n / 2 - width)) / width, 0.0, None)
    return 1.0 / (1.0 + 1j * PML_ALPHA_MAX * depth**PML_EXPONENT)


def numpy_helmholtz(u, c, omega):
    """j-Wave's discrete Helmholtz operator in NumPy float64: `sum_d g_d D-_d
    (g_d D+_d u) + (omega / c)^2 u`, `D+-` the staggered spectral derivatives
    (symbols `i k e^{+-i k h/2}`, Nyquist kept), `g_d` the PML factor at the
    cell centres."""
    u = np.asarray(u, complex)
    k = 2 * np.pi * np.fft.fftfreq(N, DX)
    g = jwave_pml_profile()
    out = (omega / c) ** 2 * u
    for axis in range(2):
        shape = [1, 1]
        shape[axis] = N
        kk, gg = k.reshape(shape), g.reshape(shape)
        du = (
            np.fft.ifft(
                np.fft.fft(u, axis=axis) * (1j * kk * np.exp(0.5j * kk * DX)), axis=axis
            )
            * gg
        )
        out = out + gg * np.fft.ifft(
            np.fft.fft(du, axis=axis) * (1j * kk * np.exp(-0.5j * kk * DX)), axis=axis
        )
    return out


def device() -> str:
    d = jax.devices()[0]
    if d.platform == "cpu":
        model = platform.processor() or "cpu"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        cpus = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count()
        )
        return (
            f"cpu: {model} ({cpus} CPU(s) in affinity); "
            f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}"
        )
    return f"{d.platform}: {d.device_kind}"


def main():
    from jwave import FourierSeries
    from jwave.acoustics import time_harmonic
    from jwave.acoustics.operators import helmholtz
    from jwave.geometry import Domain, Medium

    args = ARGS
    assert args is not None, "main() runs as a script, after parse_args()"

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    dtype = jnp.float64 if args.x64 else jnp.float32
    cdtype = jnp.complex128 if args.x64 else jnp.complex64
    omega = 2 * np.pi * FREQUENCY
    c_np, source_np, target = problem()
    domain = Domain((N, N), (DX, DX))
    source = FourierSeries(jnp.asarray(source_np[..., None], cdtype), domain)
    c_map = jnp.asarray(c_np, dtype)
    kappa = 2.0 / (
        DX * c_np.min()
    )  # j-Wave scales the source by 2 / (dx c_min) and returns p = -i omega u

    def medium_of(c):
        return Medium(
            domain=domain,
            sound_speed=FourierSeries(c[..., None], domain),
            attenuation=0.0,
            pml_size=PML,
        )

    print(
        f"device: {device()}; jax {jax.__version__}, "
        f"{'float64' if args.x64 else 'float32'}",
        flush=True,
    )

    # 1. Our NumPy operator is j-Wave's operator.
    rng = np.random.default_rng(0)
    u = rng.standard_normal((N, N)) + 1j * rng.standard_normal((N, N))
    mine = numpy_helmholtz(u, c_np, omega)
    theirs = np.asarray(
        helmholtz(
            FourierSeries(jnp.asarray(u[..., None], cdtype), domain),
            medium_of(c_map),
            omega=omega,
        ).on_grid[..., 0]
    )
    operator_check = float(np.linalg.norm(mine - theirs) / np.linalg.norm(mine))
    print(
        "NumPy replica of j-Wave's operator vs j-Wave's on a random field: relative "
        f"difference {operator_check:.1e}",
        flush=True,
    )

    def relative_residual(p):
        u = np.asarray(p, complex) / (-1j * omega)
        rhs = kappa * source_np
        return float(
            np.linalg.norm(numpy_helmholtz(u, c_np, omega) - rhs) / np.linalg.norm(rhs)
        )

    results = {
        "device": device(),
        "jax": jax.__version__,
        "precision": "float64" if args.x64 else "float32",
        "problem": {
            "cells": [N, N],
            "dx": DX,
            "frequency": FREQUENCY,
            "c0": C0,
            "disc_sound_speed": C_DISC,
            "disc_radius_cells": RADIUS,
            "pml_cells": PML,
            "source_cell": [N // 2 - OFFSET, N // 2],
            "target_cell": list(target),
        },
        "source_scale": {
            "kappa": kappa,
            "omega": omega,
            "note": "p_jwave = -i omega H^{-1}(kappa s)",
        },
        "operator_check": operator_check,
        "tol": args.tol,
        "solves": [],
    }

    def solver_kwargs(method):
        kw = {"method": method, "tol": args.tol, "maxiter": args.maxiter}
        if method == "gmres":
            kw["restart"] = args.restart
        return kw

    def solve_fn(method):
        def solve(c):
            return time_harmonic.helmholtz_solver(
                medium_of(c), omega, source, **solver_kwargs(method)
            ).on_grid[..., 0]

        return jax.jit(solve)

    field = None
    for method in args.methods.split(","):
        # (a) untimed, instrumented: count operator applications
        count = [0]

        def tick(_):
            count[0] += 1

        originals = {
            name: getattr(time_harmonic, name) for name in ("gmres", "bicgstab")
        }

        def counting(krylov):
            def wrapped(A, b, *args, **kwargs):
                def A_counted(x):
                    y = A(x)
                    jax.debug.callback(tick, jnp.zeros(()))
                    return y

                return krylov(A_counted, b, *args, **kwargs)

            return wrapped

        for name, fn in originals.items():
            setattr(time_harmonic, name, counting(fn))
        try:
            p_counted = jax.block_until_ready(solve_fn(method)(c_map))
        finally:
            for name, fn in originals.items():
                setattr(time_harmonic, name, fn)
        matvecs = count[0]
        # (b) timed, as j-Wave runs it (compiled first, then one timed call)
        fn = solve_fn(method)
        t = time.perf_counter()
        compiled = fn.lower(c_map).compile()
        compile_s = time.perf_counter() - t
        w, cpu = time.perf_counter(), time.process_time()
        p = jax.block_until_ready(compiled(c_map))
        wall, cpu = time.perf_counter() - w, time.process_time() - cpu
        p = np.asarray(p)
        res = relative_residual(p)
        same = float(np.linalg.norm(p - np.asarray(p_counted)) / np.linalg.norm(p))
        row = {
            "method": method,
            "restart": args.restart if method == "gmres" else None,
            "operator_applications": matvecs,
            "relative_residual": res,
            "finite": bool(np.all(np.isfinite(p))),
            "compile_s": compile_s,
            "solve_wall_s": wall,
            "solve_cpu_s": cpu,
            "timed_vs_counted_run": same,
            "tol": args.tol,
        }
        results["solves"].append(row)
        print(
            f"jwave {method:<8} tol {args.tol:.0e}: {matvecs} operator applications, "
            f"relative residual {res:.3e} (independent float64), solve {wall:.2f} s "
            f"wall / {cpu:.2f} s cpu (compile {compile_s:.1f} s)",
            flush=True,
        )
        if method == "gmres":
            field = p
            np.save(out_dir / "helmholtz_jwave_field.npy", p.astype(np.complex64))

    if not args.no_gradient:

        def intensity(c):
            p = time_harmonic.helmholtz_solver(
                medium_of(c), omega, source, **solver_kwargs("gmres")
            ).on_grid[..., 0]
            return jnp.abs(p[target]) ** 2

        fn = jax.jit(jax.value_and_grad(intensity))
        t = time.perf_counter()
        compiled = fn.lower(c_map).compile()
        compile_s = time.perf_counter() - t
        w, cpu = time.perf_counter(), time.process_time()
        value, grad = jax.block_until_ready(compiled(c_map))
        wall, cpu = time.perf_counter() - w, time.process_time() - cpu
        grad = np.asarray(grad)
        np.save(out_dir / "helmholtz_jwave_gradient.npy", grad.astype(np.float32))
        results["gradient"] = {
            "method": "gmres",
            "value": float(value),
            "finite": bool(np.all(np.isfinite(grad))),
            "value_and_grad_wall_s": wall,
            "value_and_grad_cpu_s": cpu,
            "compile_s": compile_s,
        }
        print(
            "jwave gradient of |p(target)|^2 w.r.t. c (GMRES): value_and_grad "
            f"{wall:.2f} s wall / {cpu:.2f} s cpu (compile {compile_s:.1f} s)",
            flush=True,
        )

    with open(out_dir / "helmholtz_jwave.json", "w") as f:
        json.dump(results, f, indent=2)
    return 0 if field is not None or "gmres" not in args.methods else 1


if __name__ == "__main__":
    sys.exit(main())
