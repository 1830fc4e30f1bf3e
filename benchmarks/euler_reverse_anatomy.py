"""Where the time of a 2D finite-volume Euler reverse pass goes (issue #3).

For the face function of `configs/isentropic_vortex.yaml`'s scheme (WENO5-Z
in characteristic variables + HLLC, float64, the 2D rows of an `n^2` grid,
both axes' faces at once, as `Euler._face_fluxes` evaluates them) it prints

1. the arithmetic floor: face-array operations in the forward function and
   in its pullback as JAX builds it (`jax.vjp`, residuals stored), so the
   ratio a reverse pass would have if it ran at the forward's speed per
   operation;
2. the measured forward and reverse (`fused_face_map`) times of the face
   function and of a whole right-hand side, one thread (set more `XLA_FLAGS`
   to try compiler options, keeping the one-thread pair);
3. the reverse pass's kernels from `jax.profiler`: how many launches, and the
   kernel groups that take the most time;
4. where the compile time of one right-hand side's reverse pass goes
   (XLA's own trace events: HLO passes, per-fusion MLIR emitters, LLVM).

    python benchmarks/euler_reverse_anatomy.py --n 128      # ~1 min
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import tempfile
import time

p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
p.add_argument("--n", type=int, default=128)
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
from diffsim.jobs.run import device_description  # noqa: E402
from diffsim.operators.internal import fused_face_map, stencil_shifts  # noqa: E402

# operations that move or relabel data rather than compute
_MOVES = {
    "broadcast_in_dim",
    "convert_element_type",
    "reshape",
    "squeeze",
    "copy",
    "stop_gradient",
    "slice",
    "concatenate",
    "pad",
    "pjit",
    "jit",
    "custom_jvp_call",
    "custom_vjp_call",
    "zeros_like",
}


def face_ops(jaxpr, shape) -> collections.Counter:
    """Arithmetic operations producing a face-shaped array, sub-jaxprs included."""
    out = collections.Counter()
    for eqn in jaxpr.eqns:
        for sub in eqn.params.values():
            inner = getattr(sub, "jaxpr", None)
            if inner is not None:
                out.update(face_ops(getattr(inner, "jaxpr", inner), shape))
        if eqn.primitive.name not in _MOVES and any(
            getattr(v.aval, "shape", None) == shape for v in eqn.outvars
        ):
            out[eqn.primitive.name] += 1
    return out


def best_time(compiled, *args, repeats=7):
    jax.block_until_ready(compiled(*args))
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        jax.block_until_ready(compiled(*args))
        best = min(best, time.process_time() - t)
    return best


def trace_events(run):
    """`run()`'s result, and the total duration (s) and count per event name
    of what it does."""
    with tempfile.TemporaryDirectory() as d:
        jax.profiler.start_trace(d, create_perfetto_trace=True)
        result = run()
        jax.profiler.stop_trace()
        (path,) = glob.glob(os.path.join(d, "**", "*.trace.json.gz"), recursive=True)
        events = json.load(gzip.open(path))["traceEvents"]
    total, count = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("ph") == "X":
            total[e["name"]] += e["dur"] * 1e-6
            count[e["name"]] += 1
    return result, total, count


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
    f, params = op.rotated_face_flux()
    g, nv = op.reconstruction.num_ghost, 2 + op.grid.ndim
    keys = jax.random.split(jax.random.key(0), nv + 1)
    # a smooth-ish random primitive state (rho, u, v, p) on both axes' rows
    base = (1.0, 0.0, 0.0, 1.0)
    slabs = tuple(
        b + 0.1 * jax.random.uniform(k, (2 * n, n + 2 * g), minval=-1, maxval=1)
        for b, k in zip(base, keys)
    )

    print(
        f"# face function of a {n}^2 grid ({2 * n} rows x {n + 1} faces), float64, one "
        f"thread; {device_description()}"
    )
    shifted = stencil_shifts(slabs, 1, 2 * g)
    out_shape = jax.eval_shape(lambda s: f(params, s), shifted)[0].shape
    cts = tuple(jax.random.normal(k, out_shape) for k in jax.random.split(keys[-1], nv))
    forward = face_ops(jax.make_jaxpr(lambda s: f(params, s))(shifted).jaxpr, out_shape)
    _, pullback = jax.vjp(lambda s: f(params, s), shifted)
    backward = face_ops(jax.make_jaxpr(pullback)(cts).jaxpr, out_shape)
    nf, nb = sum(forward.values()), sum(backward.values())
    print(f"1. operations per face: forward {nf}, pullback {nb} ({nb / nf:.2f}x)")
    print(
        f"   forward  {dict(forward.most_common(6))}\n   pullback "
        f"{dict(backward.most_common(6))}"
    )

    def loss(s):
        return sum(
            jnp.sum(a * b)
            for a, b in zip(cts, fused_face_map(f, params, s, 1, stencil=2 * g))
        )

    fwd = ds.compile_ahead(lambda s: f(params, stencil_shifts(s, 1, 2 * g)), slabs)
    rev = ds.compile_ahead(jax.grad(loss), slabs)
    tf, tr = best_time(fwd, slabs), best_time(rev, slabs)
    y = op.encode(jnp.asarray(setup.initial))
    cty = jax.random.normal(jax.random.key(1), y.shape)
    trhs = best_time(ds.compile_ahead(op, y), y)
    # the right-hand side's reverse pass, compiled once under the profiler (section 4)
    lowered = jax.jit(jax.grad(lambda y: jnp.sum(cty * op(y)))).lower(y)
    start = time.perf_counter()
    rhs_rev, compile_total, compile_count = trace_events(
        # compiler_options() is a dict[str, str]: a valid CompilerOptions, which
        # pyright rejects only because dict is invariant in its value type
        lambda: lowered.compile(ds.compiler_options())  # pyright: ignore[reportArgumentType]
    )
    compile_wall = time.perf_counter() - start
    trhs_rev = best_time(rhs_rev, y)
    print(
        f"2. face function: forward {tf * 1e3:.2f} ms, reverse (fused_face_map) "
        f"{tr * 1e3:.2f} ms: {tr / tf:.2f}x (the pullback's operation count alone "
        f"would give {1 + nb / nf:.2f}x with one recomputation)"
    )
    print(
        f"   right-hand side: forward {trhs * 1e3:.2f} ms, reverse "
        f"{trhs_rev * 1e3:.2f} ms: {trhs_rev / trhs:.2f}x"
    )

    _, total, count = trace_events(lambda: jax.block_until_ready(rev(slabs)))
    skip = ("ThunkExecutor", "$", "Pjit", "Common", "end: ", "while")
    kernels = {k: v for k, v in total.items() if not k.startswith(skip)}
    groups, launches = collections.Counter(), collections.Counter()
    for k, v in kernels.items():
        head, _, tail = k.rpartition(".")
        name = head if tail.isdigit() else k
        groups[name] += v
        launches[name] += count[k]
    print(
        f"3. face reverse pass: {len(kernels)} distinct kernels, "
        f"{sum(count[k] for k in kernels)} launches, {sum(kernels.values()) * 1e3:.2f} "
        "ms inside kernels (profiled, so slower than 2.)"
    )
    for name, v in groups.most_common(6):
        print(f"   {v * 1e3:8.3f} ms  {launches[name]:6d} launches  {name}")

    print(
        "4. compile of the right-hand side's reverse pass: "
        f"{compile_total.get('PjRtCpuClient::Compile', float('nan')):.2f} s (traced, "
        f"{compile_wall:.2f} s with the profiler)"
    )
    for name in (
        "HLO passes through layout assignment",
        "HLO passes after layout assignment",
        "FusionCompiler::Compile",
        "Codegen",
        "ThunkEmitter::EmitEntryComputation",
    ):
        hits = [(k, v) for k, v in compile_total.items() if k.startswith(name)]
        if hits:
            print(
                f"   {sum(v for _, v in hits):6.2f} s  {name} "
                f"({sum(compile_count[k] for k, _ in hits)} events)"
            )


if __name__ == "__main__":
    main()
