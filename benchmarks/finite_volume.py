"""Finite volumes for any physics (#14): cell updates per second of the generic
`FiniteVolume` strategy against the Euler operator.

Cases (2D, periodic, SSP-RK3 with a fixed dt, float64 by default):

- `euler`: `operators.Euler` as `configs/isentropic_vortex.yaml` builds it
  (WENO5-Z in characteristic variables, HLLC, average correction) on a
  smooth vortex: the reference figure (issue #14: >= 2.0e6 at 256^2, one
  thread).
- `burgers`: 2D inviscid Burgers `u_t + div(u u^T / 2) = 0` (two channels,
  defined here), WENO5-Z + Rusanov, wave speeds by automatic
  differentiation of the flux (the default `AbstractPhysics.wave_speeds`:
  closed-form eigenvalues of the 2x2 Jacobian). Target: >= 2x Euler.
- `shallow_water`: `(h, hu, hv)` with gravity (defined here, closed-form
  wave speeds `u_n -/+ sqrt(g h)` by an override), WENO5-Z on conserved
  variables + HLL. Target: >= 1.5x Euler.
- `shallow_water_ad`: the same without the override (speeds from the 3x3
  Jacobian's characteristic polynomial).

Each case: one jitted rollout of `--steps` steps (`diffsim.solve`), compiled
ahead of time (compile time reported), then called `--repeats` times; the
best call's time on the table's clock gives cells * steps / time.

Threads: `--threads 1` (default) sets
`XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`
and pins the process to one CPU before JAX starts; times are then this
process's CPU time (`--timer cpu`, as `benchmarks/euler.py`), which a shared
machine inflates less than wall time.

Usage::

    python benchmarks/finite_volume.py                    # 256^2, float64, 1 thread
    python benchmarks/finite_volume.py --n 128 --steps 20 --cases burgers
"""

from __future__ import annotations

import argparse
import os
import time

ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
CASES = ("euler", "burgers", "shallow_water", "shallow_water_ad")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--n", type=int, default=256, help="grid cells per axis")
    p.add_argument("--steps", type=int, default=25, help="steps per rollout")
    p.add_argument("--repeats", type=int, default=3, help="timed calls (best)")
    p.add_argument("--threads", choices=["1", "all"], default="1")
    p.add_argument("--precision", choices=["float32", "float64"], default="float64")
    p.add_argument("--timer", choices=["auto", "wall", "cpu"], default="auto")
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument(
        "--grad",
        action="store_true",
        help="also time the gradient of mean(fields(T)^2) w.r.t. the initial "
        "fields (DirectAdjoint) against the same loss's value",
    )
    return p.parse_args(argv)


ARGS = parse_args()
TIMER = (
    ARGS.timer if ARGS.timer != "auto" else ("cpu" if ARGS.threads == "1" else "wall")
)
if ARGS.threads == "1":
    os.environ.setdefault("XLA_FLAGS", ONE_THREAD_FLAGS)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import jax  # noqa: E402

jax.config.update("jax_enable_x64", ARGS.precision == "float64")
import jax.numpy as jnp  # noqa: E402

import diffsim as ds  # noqa: E402
from diffsim.operators import HLL, HLLC, WENO5Z, Euler, Grid, Rusanov  # noqa: E402
from diffsim.operators.physics import (  # noqa: E402
    AbstractPhysics,
    FiniteVolume,
    discretize,
)


class Burgers2D(AbstractPhysics):
    """`u_t + div(u u^T / 2) = 0`, `u = (u, v)`."""

    def field_names(self, ndim):
        return ("velocity_x", "velocity_y")

    def flux(self, u, axis):
        return 0.5 * u * u[axis]


class ShallowWater(AbstractPhysics):
    """`(h, hu, hv)_t + div(...) = 0` with gravity `g`; `closed_form` speeds."""

    gravity: float = 9.81
    closed_form: bool = True

    def field_names(self, ndim):
        return ("height", "velocity_x", "velocity_y")

    def encode(self, fields):
        return jnp.stack([fields[0], fields[0] * fields[1], fields[0] * fields[2]])

    def decode(self, u):
        return jnp.stack([u[0], u[1] / u[0], u[2] / u[0]])

    def flux(self, u, axis):
        h = u[0]
        un = u[1 + axis] / h
        out = [u[1 + axis], u[1] * un, u[2] * un]
        out[1 + axis] = out[1 + axis] + 0.5 * self.gravity * h * h
        return jnp.stack(out)

    def wave_speeds(self, u, axis):
        if not self.closed_form:
            return super().wave_speeds(u, axis)
        un = u[1 + axis] / u[0]
        c = jnp.sqrt(self.gravity * u[0])
        return un - c, un + c


def build(case: str, n: int):
    """`(operator, fields, dt)` of a case on an `n x n` periodic grid."""
    if case == "euler":
        grid = Grid((n, n), lower=-5.0, upper=5.0)
        x, y = grid.mesh()
        r2 = x * x + y * y
        gamma, beta = 1.4, 5.0
        du = beta / (2 * jnp.pi) * jnp.exp(0.5 * (1 - r2))
        temp = 1 - (gamma - 1) * beta**2 / (8 * gamma * jnp.pi**2) * jnp.exp(1 - r2)
        rho = temp ** (1 / (gamma - 1))
        fields = jnp.stack([rho, 1 - du * y, 1 + du * x, rho**gamma])
        op = Euler(grid, reconstruction=WENO5Z(), riemann=HLLC())
        dt = 0.5 * grid.spacing[0] / 3.0
        return op, fields, dt
    grid = Grid((n, n))
    x, y = grid.mesh()
    bump = jnp.exp(-40.0 * ((x - 0.5) ** 2 + (y - 0.5) ** 2))
    if case == "burgers":
        op = discretize(Burgers2D(), FiniteVolume(grid, WENO5Z(), Rusanov()))
        fields = jnp.stack([0.5 + 0.3 * bump, 0.2 - 0.1 * bump])
        return op, fields, 0.5 * grid.spacing[0] / 1.6
    physics = ShallowWater(closed_form=case == "shallow_water")
    op = discretize(physics, FiniteVolume(grid, WENO5Z(), HLL()))
    fields = jnp.stack([1.0 + 0.2 * bump, 0.1 + 0 * x, -0.1 + 0 * x])
    return op, fields, 0.5 * grid.spacing[0] / 4.2


def measure(case: str) -> dict:
    op, fields, dt = build(case, ARGS.n)
    dtype = jnp.result_type(float)
    fields = fields.astype(dtype)
    steps = ARGS.steps

    def run(op, y):
        return ds.solve(op, ds.SSPRK3(), y, dt=dt, num_steps=steps).ys[-1]

    t, c = time.perf_counter(), time.process_time()
    compiled = ds.compile_ahead(run, op, fields)
    compile_s = dict(wall=time.perf_counter() - t, cpu=time.process_time() - c)[TIMER]
    best = float("inf")
    for _ in range(ARGS.repeats):
        t, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(compiled(op, fields))
        clocks = dict(wall=time.perf_counter() - t, cpu=time.process_time() - c)
        best = min(best, clocks[TIMER])
    cells = ARGS.n * ARGS.n
    out = dict(
        case=case,
        compile_s=compile_s,
        step_ms=1e3 * best / steps,
        cell_updates_per_s=cells * steps / best,
    )
    if ARGS.grad:

        def loss(op, y):
            return jnp.mean(run(op, y) ** 2)

        def grad(op, y):
            return jax.grad(loss, argnums=1)(op, y)

        times = {}
        for name, fn in (("loss", loss), ("grad", grad)):
            compiled = ds.compile_ahead(fn, op, fields)
            best = float("inf")
            for _ in range(ARGS.repeats):
                t, c = time.perf_counter(), time.process_time()
                jax.block_until_ready(compiled(op, fields))
                clocks = dict(wall=time.perf_counter() - t, cpu=time.process_time() - c)
                best = min(best, clocks[TIMER])
            times[name] = best
        out.update(grad_s=times["grad"], grad_ratio=times["grad"] / times["loss"])
    return out


def main():
    print(
        f"{ARGS.n}^2, {ARGS.precision}, threads={ARGS.threads}, timer={TIMER}, "
        f"{ARGS.steps} SSP-RK3 steps, best of {ARGS.repeats}"
    )
    results = {}
    for case in ARGS.cases:
        r = measure(case)
        results[case] = r
        ratio = ""
        if "euler" in results and case != "euler":
            euler = results["euler"]["cell_updates_per_s"]
            ratio = f"  {r['cell_updates_per_s'] / euler:.2f}x Euler"
        grad = ""
        if "grad_s" in r:
            grad = f"  gradient {r['grad_s']:.2f} s = {r['grad_ratio']:.1f}x value"
        print(
            f"{case:18s} {r['cell_updates_per_s']:.3e} cell updates/s  "
            f"({r['step_ms']:.1f} ms/step, compile {r['compile_s']:.1f} s)"
            f"{ratio}{grad}",
            flush=True,
        )


if __name__ == "__main__":
    main()
