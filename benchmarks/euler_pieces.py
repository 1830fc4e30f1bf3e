"""Cost of the pieces of a 2D finite-volume Euler gradient (issue #3): one
right-hand side, its reverse pass (fused and plain autodiff), one SSP-RK3 step
and its reverse pass, each jitted, compiled as diffsim's jobs compile, and
timed on one thread (best of `--repeats` calls, CPU time).

    python benchmarks/euler_pieces.py --n 128          # ~1 min

The scheme is `configs/isentropic_vortex.yaml`'s (WENO5-Z characteristic,
HLLC, average correction, periodic) on the isentropic vortex, float64.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
p.add_argument("--n", type=int, default=128)
p.add_argument("--repeats", type=int, default=5)
p.add_argument("--no-plain", action="store_true", help="skip plain autodiff (slow)")
ARGS = p.parse_args()
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

import diffsim as ds  # noqa: E402
import diffsim.jobs  # noqa: E402, F401  (ds.jobs)


def timed(name, f, *args):
    t = time.process_time()
    compiled = ds.compile_ahead(f, *args)
    compile_s = time.process_time() - t
    jax.block_until_ready(compiled(*args))
    best = float("inf")
    for _ in range(ARGS.repeats):
        t = time.process_time()
        jax.block_until_ready(compiled(*args))
        best = min(best, time.process_time() - t)
    print(f"{name:34s} {best * 1e3:9.2f} ms   compile {compile_s:6.2f} s", flush=True)
    return best


def main():
    n = ARGS.n
    config, physics, scenario = diffsim.jobs.load_config(
        "configs/isentropic_vortex.yaml", [f"grid.cells=[{n},{n}]"]
    )
    assert issubclass(scenario, diffsim.jobs.TimeDependentScenario)
    assert config.time is not None and config.time.cfl is not None
    setup = diffsim.jobs.scenario.build_setup(scenario, config, physics)
    op = setup.operator
    from diffsim.operators import Euler

    assert isinstance(op, Euler)
    y = op.encode(jnp.asarray(setup.initial))
    ct = jax.random.normal(jax.random.key(1), y.shape)
    dt = float(op.stable_dt(y, config.time.cfl))
    print(f"# {n}^2, float64, one thread, {jax.devices()[0].device_kind}")
    rhs = timed("right-hand side", lambda y: op(y), y)
    vjp = timed(
        "right-hand side reverse (fused)",
        lambda y: jax.grad(lambda y: jnp.sum(ct * op(y)))(y),
        y,
    )
    if not ARGS.no_plain:
        plain = dataclasses.replace(op, fused_derivatives=False)
        vjp_plain = timed(
            "right-hand side reverse (plain)",
            lambda y: jax.grad(lambda y: jnp.sum(ct * plain(y)))(y),
            y,
        )
    step = timed("SSP-RK3 step", lambda y: ds.SSPRK3().step(op, y, 0.0, dt, None), y)
    step_vjp = timed(
        "SSP-RK3 step reverse",
        lambda y: jax.grad(
            lambda y: jnp.sum(ct * ds.SSPRK3().step(op, y, 0.0, dt, None))
        )(y),
        y,
    )
    print(
        f"reverse / forward: right-hand side {vjp / rhs:.1f}x (fused)"
        + ("" if ARGS.no_plain else f", {vjp_plain / rhs:.1f}x (plain)")
        + f"; step {step_vjp / step:.1f}x"
    )


if __name__ == "__main__":
    main()
