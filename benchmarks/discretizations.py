"""One physics, several discretizations: step time of finite differences
against Fourier (issue #14: Burgers and 2D Navier-Stokes at 256^2, order-4
finite differences within 1.3x of the Fourier step time).

Both run `diffsim.solve` with ETDRK4 on the same physics object
(`discretize(physics, FourierSpectral(grid))` against
`discretize(physics, FiniteDifference(grid, 4))`, periodic: state in Fourier
space, the stencil's symbol as the linear part). Per case: one jitted rollout
of `--steps` steps compiled ahead of time, then `--repeats` timed calls,
interleaved between the discretizations; the best call on this process's CPU
time (one thread: XLA_FLAGS below and the process pinned to one CPU).

Usage::

    python benchmarks/discretizations.py            # 256^2, float64, 1 thread
"""

from __future__ import annotations

import argparse
import os
import platform
import time

ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
p.add_argument("--n", type=int, default=256)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--repeats", type=int, default=5)
p.add_argument("--order", type=int, default=4)
ARGS = p.parse_args()
os.environ.setdefault("XLA_FLAGS", ONE_THREAD_FLAGS)
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import diffsim as ds  # noqa: E402
from diffsim.operators import (  # noqa: E402
    Burgers,
    FiniteDifference,
    FourierSpectral,
    Grid,
    NavierStokesVorticity,
    discretize,
)


def cases(n):
    grid = Grid((n, n), 0.0, 2 * np.pi)
    x, y = grid.mesh()
    burgers0 = jnp.stack([jnp.sin(x) * jnp.cos(y), 0.5 * jnp.cos(x + y)])
    ns0 = (jnp.sin(x) * jnp.cos(2 * y) + 0.3 * jnp.cos(x + y))[None]
    return {
        "burgers_2d": (Burgers(nu=0.01), grid, burgers0, 1e-3),
        "navier_stokes": (NavierStokesVorticity(nu=1e-3), grid, ns0, 1e-2),
    }


def compiled(op, y0, dt):
    def run(y):
        return ds.solve(op, ds.ETDRK4(), y, dt=dt, num_steps=ARGS.steps).ys[-1]

    start = time.process_time()
    fn = jax.jit(run).lower(y0).compile()
    return fn, time.process_time() - start


def main():
    print(
        f"device: {jax.devices()[0].device_kind} ({platform.processor() or 'cpu'}), "
        f"{ARGS.n}^2, float64, ETDRK4, {ARGS.steps} steps, one thread, CPU time"
    )
    print(
        f"{'case':16s} {'fourier us/step':>16s} {'fd' + str(ARGS.order):>8s} us/step"
        f" {'fd/fourier':>11s}"
    )
    for name, (physics, grid, y0, dt) in cases(ARGS.n).items():
        fns = {}
        for kind, disc in (
            ("fourier", FourierSpectral(grid)),
            ("fd", FiniteDifference(grid, ARGS.order)),
        ):
            fn, _ = compiled(discretize(physics, disc), y0, dt)
            jax.block_until_ready(fn(y0))
            fns[kind] = fn
        best = {k: np.inf for k in fns}
        for _ in range(ARGS.repeats):
            for kind, fn in fns.items():
                start = time.process_time()
                jax.block_until_ready(fn(y0))
                best[kind] = min(best[kind], time.process_time() - start)
        per = {k: 1e6 * v / ARGS.steps for k, v in best.items()}
        print(
            f"{name:16s} {per['fourier']:16.0f} {per['fd']:16.0f} "
            f"{per['fd'] / per['fourier']:11.2f}"
        )


if __name__ == "__main__":
    main()
