"""One process of a multi-process test job (tests/diffsim/test_distributed.py,
tests/test_slurm.py), also importable for the single-process reference.

    python distributed_worker.py OUT
        [--coordinator HOST:PORT --num-processes N --process-id I]
        [--solve] [--optimize NAME:ITERATIONS ...]

Without `--coordinator` the processes join as SLURM's environment says
(`srun -n 2 python distributed_worker.py OUT --solve`). The problem: 2D
Navier-Stokes (pseudo-spectral, ETDRK4) on a 16 x 16 grid whose vorticity is
sharded along y over every device of every process; the optimization
recovers the viscosity and the initial vorticity (a sharded parameter) from
the final state. Only process 0 writes OUT/*.npz; each process writes
OUT/process_I.json with what it saw.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CELLS = 16
STEPS = 8
DT = 0.02
NU_TRUE = 0.02


def problem():
    """Operator factory, initial vorticity (host array) and a stepper."""
    import jax
    import numpy as np

    import diffsim as ds
    from diffsim.operators import (
        FourierSpectral,
        Grid,
        NavierStokesVorticity,
        discretize,
    )
    from diffsim.scenarios import random_smooth_field

    grid = Grid((CELLS, CELLS), (0.0, 0.0), (2 * np.pi, 2 * np.pi))
    w0 = np.asarray(random_smooth_field(jax.random.key(0), grid, k_peak=2.0, rms=1.0))[
        None
    ]

    def operator(nu):
        return discretize(NavierStokesVorticity(nu=nu), FourierSpectral(grid))

    return operator, w0, ds.ETDRK4()


def mesh_sharding():
    """Vorticity `(1, nx, ny)` split along y over all (global) devices. (Split
    along x, XLA:CPU 0.10.2 partitions the forward FFTs but fails a layout
    RET_CHECK in fft_thunk.cc on the reverse pass, on one process as on two.)"""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    return NamedSharding(
        Mesh(np.array(jax.devices()), ("y",)), PartitionSpec(None, None, "y")
    )


def shard(host):
    import jax

    sharding = mesh_sharding()
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def final_state(w0_sharded_or_not, nu=NU_TRUE):
    import jax

    import diffsim as ds

    operator, _, stepper = problem()
    return jax.jit(
        lambda w, nu: ds.solve(operator(nu), stepper, w, dt=DT, num_steps=STEPS).ys[-1]
    )(w0_sharded_or_not, nu)


def run_optimization(out: Path, name: str, iterations: int, sharded: bool):
    """Fit `{nu, w0}` to the final state of the true run with Adam, with
    checkpoints every 2 iterations in `out/name/` (resumed when present)."""
    import jax.numpy as jnp
    import numpy as np
    import optax

    import diffsim as ds
    from diffsim.internal import to_host

    operator, w0, stepper = problem()
    place = shard if sharded else jnp.asarray
    # a constant the loss closes over must live in every process (jit refuses
    # to close over an array spread over other processes' devices)
    data = to_host(final_state(place(w0)))
    guess = place(np.asarray(0.8 * w0 + 0.1 * np.roll(w0, 3, axis=1)))

    def loss(params):
        w = ds.solve(
            operator(params["nu"]), stepper, params["w0"], dt=DT, num_steps=STEPS
        ).ys[-1]
        return jnp.mean((w - data) ** 2)

    return ds.optimize(
        loss,
        {"nu": jnp.asarray(0.05), "w0": guess},
        optax.adam(0.02),
        iterations=iterations,
        checkpoint_dir=out / name / "checkpoints",
        checkpoint_every=2,
        metrics_path=out / name / "metrics.jsonl",
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--coordinator")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--solve", action="store_true")
    parser.add_argument(
        "--optimize", action="append", default=[], metavar="NAME:ITERATIONS"
    )
    args = parser.parse_args(argv)

    import jax

    from diffsim.internal import initialize, is_main, to_host, tree_to_host
    from diffsim.jobs.config import DistributedConfig

    if args.coordinator:
        config = DistributedConfig(
            enabled=True,
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
    else:
        config = DistributedConfig()  # enabled: auto, i.e. SLURM's environment
    joined = initialize(config)
    jax.config.update("jax_enable_x64", True)
    import numpy as np

    args.out.mkdir(parents=True, exist_ok=True)
    seen = {
        "joined": joined,
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "device_count": jax.device_count(),
        "local_device_count": jax.local_device_count(),
    }
    (args.out / f"process_{jax.process_index()}.json").write_text(json.dumps(seen))

    results = {}
    if args.solve:
        _, w0, _ = problem()
        w = final_state(shard(w0))
        results["solve"] = to_host(w)
        results["solve_fully_addressable"] = np.asarray(w.is_fully_addressable)
    for spec in args.optimize:
        name, iterations = spec.split(":")
        result = run_optimization(args.out, name, int(iterations), sharded=True)
        params = tree_to_host(result.params)
        results[f"{name}_nu"], results[f"{name}_w0"] = params["nu"], params["w0"]
        results[f"{name}_loss_final"] = np.asarray(result.loss_final)
        results[f"{name}_resumed_from"] = np.asarray(result.resumed_from)
    if is_main() and results:  # added to what earlier launches wrote
        path = args.out / "results.npz"
        earlier = dict(np.load(path)) if path.exists() else {}
        np.savez(path, **{**earlier, **results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
