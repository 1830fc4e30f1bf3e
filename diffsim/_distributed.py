"""Multi-process jobs: several JAX processes (one per node, or one per GPU)
joined by `jax.distributed.initialize`, which then see one global device
list (`jax.devices()`) and run one SPMD program over it.

Rules every multi-process code path follows:

- every process executes the same program; the collectives below
  (`to_host`, `broadcast`, `barrier`) are called by all of them;
- only the main process (`is_main()`, process index 0) writes shared files
  (config.yaml, fields.nc, summary.json, plots, checkpoints);
- on CPU the processes talk through gloo collectives.

Under SLURM (`srun -n N`, N > 1) `jax.distributed.initialize()` reads the
coordinator, process count and index from `SLURM_JOB_ID`, `SLURM_NTASKS`,
`SLURM_PROCID`, `SLURM_LOCALID` and `SLURM_STEP_NODELIST`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol, runtime_checkable

import jax
import numpy as np
from jax.experimental import multihost_utils

from ._errors import RunError


@runtime_checkable
class DistributedSettings(Protocol):
    """What `initialize` reads from its settings (the job layer's
    `distributed:` section is one): `enabled` (`"auto"`, True or False) and
    JAX's `jax.distributed.initialize` arguments, None to detect them."""

    @property
    def enabled(self) -> bool | Literal["auto"]: ...
    @property
    def coordinator_address(self) -> str | None: ...
    @property
    def num_processes(self) -> int | None: ...
    @property
    def process_id(self) -> int | None: ...
    @property
    def local_device_ids(self) -> Sequence[int] | None: ...
    @property
    def initialization_timeout_s(self) -> int | float | None: ...


def launched_by_slurm(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process is one task of a SLURM job step with several
    tasks (what `srun -n N`, N > 1, sets up). A batch script itself, or a
    submitit array task, is a single task and runs alone."""
    if "SLURM_JOB_ID" not in environ or "SLURM_PROCID" not in environ:
        return False
    tasks = environ.get("SLURM_STEP_NUM_TASKS") or environ.get("SLURM_NTASKS") or "1"
    try:
        return int(tasks) > 1
    except ValueError:
        return False


def wanted(
    config: DistributedSettings | None, environ: Mapping[str, str] = os.environ
) -> bool:
    """Whether `config` asks for a multi-process run here:
    `enabled: auto` means under `srun -n N` (N > 1) or when a coordinator
    address is given."""
    if config is None:
        return launched_by_slurm(environ)
    if config.enabled == "auto":
        return launched_by_slurm(environ) or config.coordinator_address is not None
    return bool(config.enabled)


def initialize(
    config: DistributedSettings | None = None,
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """Join the job's other processes when `config` or SLURM's environment
    asks for it. Must run before anything touches a JAX backend.

    **Arguments:**

    - `config`: the settings (the job layer passes its `distributed:`
        section); None joins only under `srun -n N`, N > 1.
    - `environ`: the environment read for SLURM's variables.

    **Returns:** whether this is a multi-process run.

    Raises `RunError` with JAX's reason when the coordinator cannot be
    reached or the backend was already started."""
    if jax.distributed.is_initialized():
        return True
    if not wanted(config, environ):
        return False
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        raise RunError(
            "distributed: jax.distributed.initialize() must run before any JAX "
            "computation; a backend is already started"
        )
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {}
    if config is not None:
        kwargs = {
            "coordinator_address": config.coordinator_address,
            "num_processes": config.num_processes,
            "process_id": config.process_id,
            "local_device_ids": config.local_device_ids,
            "initialization_timeout": config.initialization_timeout_s,
        }
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
    try:
        jax.distributed.initialize(**kwargs)
    except (RuntimeError, ValueError) as e:
        where = kwargs.get(
            "coordinator_address", "detected from the cluster environment"
        )
        raise RunError(
            f"distributed: jax.distributed.initialize() failed (coordinator {where}): "
            f"{e}"
        ) from None
    return True


def is_main() -> bool:
    """Whether this is the process that writes shared outputs (index 0)."""
    return jax.process_index() == 0


def to_host(x) -> np.ndarray:
    """The whole value of an array as a NumPy array on every process: a
    gather across processes when `x` is sharded over devices that other
    processes own (a collective: every process must call it)."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def tree_to_host(tree):
    """`to_host` on every array leaf of a pytree (other leaves unchanged)."""
    return jax.tree.map(
        lambda x: to_host(x) if isinstance(x, (jax.Array, np.ndarray)) else x, tree
    )


def place_like(value, like):
    """`value` (a host or single-device array) laid out like the array
    `like`: same sharding when `like` spans several devices (in this process
    or others), otherwise `value` as it is."""
    if isinstance(like, jax.Array) and len(like.sharding.device_set) > 1:
        host = np.asarray(value)
        return jax.make_array_from_callback(
            like.shape, like.sharding, lambda index: host[index]
        )
    return value


def broadcast(x):
    """Process 0's value of a pytree of host scalars/arrays, on every process."""
    if jax.process_count() == 1:
        return x
    return multihost_utils.broadcast_one_to_all(x)


def barrier(name: str) -> None:
    """Wait until every process has reached the barrier called `name`."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)
