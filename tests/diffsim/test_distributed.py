"""Multi-process runs: two local JAX processes on CPU (gloo collectives, two
host devices each) joined by `diffsim._distributed.initialize` compute one
sharded result equal to the single-process run, and a resumed two-process
optimization continues exactly where it stopped."""

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from diffsim.internal import launched_by_slurm, wanted
from diffsim.jobs import ConfigError
from diffsim.jobs.config import DistributedConfig, load_config

WORKER = Path(__file__).with_name("distributed_worker.py")


def _worker_module():
    spec = importlib.util.spec_from_file_location("distributed_worker", WORKER)
    assert spec is not None and spec.loader is not None, WORKER
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_two(out: Path, name: str, *args: str, timeout: float = 240.0) -> None:
    """Run the worker as processes 0 and 1 of one job (2 CPU devices each),
    logs in `out/NAME_I.log`."""
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "2", "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    address = f"127.0.0.1:{_free_port()}"
    procs, logs = [], []
    for i in (0, 1):
        log = open(out / f"{name}_{i}.log", "w")
        logs.append(log)
        cmd = [
            sys.executable,
            str(WORKER),
            str(out),
            "--coordinator",
            address,
            "--num-processes",
            "2",
            "--process-id",
            str(i),
            *args,
        ]
        procs.append(
            subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        )
    try:
        codes = [p.wait(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for log in logs:
            log.close()
    if codes != [0, 0]:
        text = "\n".join(Path(log.name).read_text()[-3000:] for log in logs)
        pytest.fail(f"two-process worker exited with {codes}:\n{text}")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """One two-process launch that solves, optimizes 6 iterations, and
    optimizes 3 iterations of a second run; a second launch resumes that
    one to 6."""
    out = tmp_path_factory.mktemp("two_processes")
    launch_two(
        out, "first", "--solve", "--optimize", "full:6", "--optimize", "resumed:3"
    )
    launch_two(out, "second", "--optimize", "resumed:6")
    return out, dict(np.load(out / "results.npz"))


@pytest.fixture(scope="module")
def worker():
    return _worker_module()


def test_two_processes_see_one_global_device_list(job):
    out, _ = job
    seen = [json.loads((out / f"process_{i}.json").read_text()) for i in (0, 1)]
    assert seen == [
        {
            "joined": True,
            "process_index": i,
            "process_count": 2,
            "device_count": 4,
            "local_device_count": 2,
        }
        for i in (0, 1)
    ]


def test_sharded_solve_equals_single_process(job, worker):
    _, results = job
    assert not results[
        "solve_fully_addressable"
    ]  # the state really was spread over both processes
    _, w0, _ = worker.problem()
    single = np.asarray(worker.final_state(jnp.asarray(w0)))  # one device, no sharding
    assert np.max(np.abs(single)) > 0.1
    np.testing.assert_allclose(
        results["solve"], single, rtol=0, atol=1e-13 * np.max(np.abs(single))
    )


def test_resumed_two_process_optimization_matches_uninterrupted(job, worker, tmp_path):
    out, results = job
    assert (
        int(results["resumed_resumed_from"]) == 3
        and int(results["full_resumed_from"]) == 0
    )
    # same processes, same program: the resume is bitwise the uninterrupted run
    for leaf in ("nu", "w0", "loss_final"):
        np.testing.assert_array_equal(
            results[f"resumed_{leaf}"], results[f"full_{leaf}"]
        )
    assert (out / "full/checkpoints/iteration_000006.eqx").read_bytes() == (
        out / "resumed/checkpoints/iteration_000006.eqx"
    ).read_bytes()
    # only process 0 wrote: one line per iteration, no stray temporary files
    full = [
        json.loads(line)
        for line in (out / "full/metrics.jsonl").read_text().splitlines()
    ]
    resumed = [
        json.loads(line)
        for line in (out / "resumed/metrics.jsonl").read_text().splitlines()
    ]
    assert [r["iteration"] for r in resumed] == list(range(6))
    assert [r["loss"] for r in resumed] == [r["loss"] for r in full]
    assert sorted(p.name for p in (out / "resumed/checkpoints").iterdir()) == [
        f"iteration_{i:06d}.eqx" for i in (2, 3, 4, 6)
    ]
    # and the single-process optimization agrees to round-off (other reduction order)
    single = worker.run_optimization(tmp_path, "single", 6, sharded=False)
    assert single.loss_final < 0.5 * full[0]["loss"]
    np.testing.assert_allclose(
        results["full_nu"], np.asarray(single.params["nu"]), rtol=1e-10
    )
    np.testing.assert_allclose(
        results["full_w0"], np.asarray(single.params["w0"]), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, False),
        (
            {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1", "SLURM_PROCID": "0"},
            False,
        ),  # a batch script, a submitit task
        (
            {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"},
            False,
        ),  # sbatch -n 4 script: not a task of a step
        (
            {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "2", "SLURM_PROCID": "1"},
            True,
        ),  # srun -n 2
        (
            {
                "SLURM_JOB_ID": "7",
                "SLURM_NTASKS": "4",
                "SLURM_STEP_NUM_TASKS": "1",
                "SLURM_PROCID": "0",
            },
            False,
        ),
    ],
)
def test_slurm_detection(environ, expected):
    assert launched_by_slurm(environ) is expected
    assert wanted(DistributedConfig(), environ) is expected
    assert wanted(DistributedConfig(enabled=False), environ) is False
    assert wanted(DistributedConfig(enabled=True), environ) is True
    by_hand = DistributedConfig(
        coordinator_address="127.0.0.1:1234", num_processes=2, process_id=0
    )
    assert wanted(by_hand, environ) is True


def test_distributed_section_is_validated():
    config, _, _ = load_config(
        "configs/taylor_green.yaml",
        [
            "distributed.coordinator_address=10.0.0.1:1234",
            "distributed.num_processes=2",
            "distributed.process_id=1",
        ],
    )
    assert config.distributed.process_id == 1 and config.distributed.enabled == "auto"
    with pytest.raises(
        ConfigError,
        match=(
            r"distributed\.process_id: give coordinator_address, num_processes and "
            r"process_id together"
        ),
    ):
        load_config(
            "configs/taylor_green.yaml",
            [
                "distributed.coordinator_address=10.0.0.1:1234",
                "distributed.num_processes=2",
            ],
        )
    with pytest.raises(
        ConfigError,
        match=(
            r"distributed\.process_id: expected 0 <= process_id < num_processes = 2, "
            r"got 2"
        ),
    ):
        load_config(
            "configs/taylor_green.yaml",
            [
                "distributed.coordinator_address=h:1",
                "distributed.num_processes=2",
                "distributed.process_id=2",
            ],
        )
    with pytest.raises(
        ConfigError, match=r"distributed\.coordinator_address: expected host:port"
    ):
        load_config(
            "configs/taylor_green.yaml",
            [
                "distributed.coordinator_address=localhost",
                "distributed.num_processes=2",
                "distributed.process_id=0",
            ],
        )
