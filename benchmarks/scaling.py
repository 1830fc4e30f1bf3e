"""Overhead of the sharded (domain-decomposed) solve on CPU host devices.

For N = 1, 2, 4 host devices (`XLA_FLAGS=--xla_force_host_platform_device_count=N`,
one child process each) and equal total work (the same global grid):

- 2D Euler, WENO5-Z (characteristic, HLLC, high-order face average),
  SSP-RK3: the one-device solve and the sharded one (blocks, halo exchange
  by `ppermute`; mesh [1,1], [2,1], [2,2]);
- 2D spectral Navier-Stokes, ETDRK4: the one-device solve, the sharded one
  with `SlabFFT` (all-to-all transposition), and XLA's own partitioning of
  `jnp.fft.rfftn` on a sharded input (the alternative `SlabFFT` replaces).

Per case: wall time per step (median of repeats after a warm-up), the bytes
each device receives through collectives per step (summed over the result
shapes of the collectives in the compiled per-device program of one step)
and XLA's cost analysis of that program (bytes accessed, flops).

All host devices share the machine's cores, so N devices cannot run faster
than one here: the ratio to one device is the overhead of the sharded path
(partitioning, halo copies and collectives, the wider padded blocks), which
is what carries over to N GPUs (see docs/benchmarks.md for the estimate).

    python benchmarks/scaling.py [--euler-cells 128] [--ns-cells 256] \\
        [--out benchmarks/results/scaling.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

_BYTES = {
    "f64": 8,
    "f32": 4,
    "c128": 16,
    "c64": 8,
    "s32": 4,
    "u32": 4,
    "s64": 8,
    "u64": 8,
    "pred": 1,
    "bf16": 2,
    "f16": 2,
}
_COLLECTIVES = ("collective-permute", "all-to-all", "all-gather", "all-reduce")


def collective_bytes(hlo: str) -> dict:
    """Bytes of the results of each kind of collective in an HLO module text
    (per device; ops inside loops counted once)."""
    out = {k: 0 for k in _COLLECTIVES}
    counts = {k: 0 for k in _COLLECTIVES}
    for line in hlo.splitlines():
        for kind in _COLLECTIVES:
            m = re.search(rf"=\s*(.*?)\s{kind}(-start)?\(", line)
            if m and "-done" not in line:
                for dtype, dims in re.findall(r"(\w+)\[([\d,]*)\]", m.group(1)):
                    size = 1
                    for d in dims.split(","):
                        if d:
                            size *= int(d)
                    out[kind] += size * _BYTES.get(dtype, 8)
                counts[kind] += 1
                break
    return {"bytes": out, "count": counts}


def _time(fn, *args, repeats):
    out = fn(*args)
    jax_block(out)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax_block(fn(*args))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def jax_block(x):
    import jax

    jax.block_until_ready(x)


def child(args) -> list[dict]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    import diffsim
    from diffsim.internal import make_mesh, shard_operator
    from diffsim.operators import (
        FourierSpectral,
        Grid,
        NavierStokesVorticity,
        discretize,
    )
    from diffsim.operators.finite_volume import Euler, Periodic

    n_dev = jax.device_count()
    rows = []

    def measure(problem, variant, mesh, op, y0, stepper, dt, steps, sharding=None):
        if sharding is not None:
            y0 = jax.device_put(y0, sharding)
        run = jax.jit(
            lambda op, y: diffsim.solve(op, stepper, y, dt=dt, num_steps=steps).ys[-1]
        )
        one = jax.jit(
            lambda op, y: diffsim.solve(op, stepper, y, dt=dt, num_steps=1).ys[-1]
        )
        t0 = time.perf_counter()
        compiled_one = one.lower(op, y0).compile()
        compile_s = time.perf_counter() - t0
        cost = compiled_one.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        hlo = compiled_one.as_text()
        assert cost is not None and hlo is not None, "CPU executables report both"
        comm = collective_bytes(hlo)
        per_step = _time(run, op, y0, repeats=args.repeats) / steps
        cells = int(np.prod(op.grid.cells))
        rows.append(
            {
                "problem": problem,
                "variant": variant,
                "devices": n_dev,
                "mesh": mesh,
                "cells": list(op.grid.cells),
                "state_bytes_per_device": int(
                    y0.size * y0.dtype.itemsize // (1 if sharding is None else n_dev)
                ),
                "step_ms": per_step * 1e3,
                "cell_updates_per_s": cells / per_step,
                "compile_s": compile_s,
                "collective_bytes_per_step": comm["bytes"],
                "collective_ops_per_step": comm["count"],
                "xla_bytes_accessed_per_step": float(
                    cost.get("bytes accessed", float("nan"))
                ),
                "xla_flops_per_step": float(cost.get("flops", float("nan"))),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    mesh_shape = {1: [1, 1], 2: [2, 1], 4: [2, 2]}[n_dev]

    # 2D Euler, WENO5-Z, a smooth periodic flow
    n = args.euler_cells
    grid = Grid((n, n), (0.0, 0.0), (1.0, 1.0))
    x, y = grid.mesh()
    w = jnp.stack(
        [
            1 + 0.2 * jnp.sin(2 * np.pi * x) * jnp.cos(2 * np.pi * y),
            0.5 + 0.1 * jnp.cos(2 * np.pi * y),
            0.3 + 0.1 * jnp.sin(2 * np.pi * x),
            1 + 0.1 * jnp.cos(2 * np.pi * (x + y)),
        ]
    )
    op = Euler(grid, boundaries=Periodic())
    dt = 0.2 / n
    if n_dev == 1:
        measure(
            "euler2d_weno5",
            "one device",
            None,
            op,
            w,
            diffsim.SSPRK3(),
            dt,
            args.euler_steps,
        )
    sop, sharding = shard_operator(op, make_mesh(mesh_shape))
    measure(
        "euler2d_weno5",
        "sharded (halo ppermute)",
        mesh_shape,
        sop,
        w,
        diffsim.SSPRK3(),
        dt,
        args.euler_steps,
        sharding,
    )

    # 2D Navier-Stokes, ETDRK4
    n = args.ns_cells
    grid = Grid((n, n), (0.0, 0.0), (2 * np.pi, 2 * np.pi))
    op = discretize(
        NavierStokesVorticity(nu=1e-3, forcing_amplitude=1.0), FourierSpectral(grid)
    )
    w0 = jnp.asarray(np.random.default_rng(0).standard_normal((1, n, n)))
    if n_dev == 1:
        measure(
            "ns2d_spectral",
            "one device",
            None,
            op,
            w0,
            diffsim.ETDRK4(),
            1e-3,
            args.ns_steps,
        )
    sop, sharding = shard_operator(op, make_mesh(mesh_shape))
    measure(
        "ns2d_spectral",
        "sharded (SlabFFT all-to-all)",
        mesh_shape,
        sop,
        w0,
        diffsim.ETDRK4(),
        1e-3,
        args.ns_steps,
        sharding,
    )
    if n_dev > 1:
        measure(
            "ns2d_spectral",
            "sharded (XLA-partitioned rfftn)",
            mesh_shape,
            op,
            w0,
            diffsim.ETDRK4(),
            1e-3,
            args.ns_steps,
            sharding,
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--euler-cells", type=int, default=128)
    parser.add_argument("--ns-cells", type=int, default=256)
    parser.add_argument("--euler-steps", type=int, default=4)
    parser.add_argument("--ns-steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/scaling.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    rows = []
    for n in args.devices:
        env = {
            **os.environ,
            "XLA_FLAGS": (
                f"{os.environ.get('XLA_FLAGS', '')} "
                f"--xla_force_host_platform_device_count={n}"
            ).strip(),
        }
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--euler-cells",
            str(args.euler_cells),
            "--ns-cells",
            str(args.ns_cells),
            "--euler-steps",
            str(args.euler_steps),
            "--ns-steps",
            str(args.ns_steps),
            "--repeats",
            str(args.repeats),
        ]
        result = subprocess.run(
            cmd, env=env, check=True, stdout=subprocess.PIPE, text=True
        )
        rows += json.loads(result.stdout.strip().splitlines()[-1])
    from diffsim.jobs.run import cpu_model

    base = {(r["problem"]): r["step_ms"] for r in rows if r["variant"] == "one device"}
    for r in rows:
        r["time_vs_one_device"] = (
            r["step_ms"] / base[r["problem"]] if r["problem"] in base else float("nan")
        )
        halo = sum(r["collective_bytes_per_step"].values())
        r["collective_over_bytes_accessed"] = halo / r["xla_bytes_accessed_per_step"]
    meta = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "argv": sys.argv[1:],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(
        f"{'problem':15} {'variant':34} {'N':>2} {'mesh':8} {'ms/step':>9} "
        f"{'x 1 dev':>8} {'coll. KiB/step':>14} {'MiB acc./step':>13} {'ratio':>8}"
    )
    for r in rows:
        print(
            f"{r['problem']:15} {r['variant']:34} {r['devices']:>2} {str(r['mesh']):8} "
            f"{r['step_ms']:9.2f} {r['time_vs_one_device']:8.2f} "
            f"{sum(r['collective_bytes_per_step'].values()) / 1024:14.1f} "
            f"{r['xla_bytes_accessed_per_step'] / 2**20:13.2f} "
            f"{r['collective_over_bytes_accessed']:8.4f}"
        )


if __name__ == "__main__":
    main()
