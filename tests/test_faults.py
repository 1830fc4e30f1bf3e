"""Nothing lost: a full disk, a kill at every write, a damaged checkpoint,
two jobs on one folder, bad --out paths. Faults are injected by patching
`diffsim.files.write_fd`, the one place output bytes reach a file, and
once for real, with a file-size limit on a subprocess."""

import contextlib
import errno
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import xarray as xr

import diffsim as ds
from diffsim.internal import files
from diffsim.jobs.cli import EXIT_CONFIG, EXIT_IO, main

ENOSPC = "No space left on device"
RUN = [
    "run",
    "configs/kdv_two_soliton.yaml",
    "grid.cells=[64]",
    "time.t_end=0.2",
    "time.snapshots=2",
    "precision=float64",
]
OPTIMIZE = [
    "optimize",
    "configs/burgers_inverse.yaml",
    "grid.cells=[32]",
    "time.t_end=0.5",
    "physics.observation_every=5",
    "physics.sensors=8",
    "optimize.iterations=4",
    "optimize.checkpoint_every=2",
    "--no-plots",
]


class Killed(BaseException):
    """Stands for SIGKILL: nothing catches it (`except Exception` does not)."""


@contextlib.contextmanager
def faults(at=None, error=None):
    """Record the path of every write; the write number `at` (or the first
    write of a file named `at`) raises `error`."""
    written = []
    real = files.write_fd

    def write_fd(fd, data, path):
        written.append(Path(path))
        if len(written) - 1 == at or Path(path).name == at:
            assert error is not None  # faults(at=...) is given an error to raise
            raise error
        return real(fd, data, path)

    with mock.patch.object(files, "write_fd", write_fd):
        yield written


def no_space():
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def temporaries(folder):
    return sorted(p for p in Path(folder).rglob("*") if p.name.startswith(".tmp-"))


def snapshot(folder):
    return {
        p: p.read_bytes()
        for p in Path(folder).rglob("*")
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
    """Every run here compiles the same few programs: a persistent cache
    makes the repeats cheap (the executables, and so the results, are the same)."""
    from jax._src import compilation_cache

    names = (
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
        "jax_persistent_cache_min_entry_size_bytes",
    )
    before = {name: getattr(jax.config, name) for name in names}
    jax.config.update(
        "jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla_cache"))
    )
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    compilation_cache.reset_cache()
    yield
    for name, value in before.items():
        jax.config.update(name, value)
    compilation_cache.reset_cache()


# ------------------------------------------------------------ the helpers


def test_atomic_write_keeps_the_old_file_on_a_full_disk_and_a_kill(tmp_path):
    target = tmp_path / "summary.json"
    files.atomic_write(target, "old\n")
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~files.UMASK)
    for error in (no_space(), Killed()):
        with faults(at=0, error=error), pytest.raises(type(error)) as info:
            files.atomic_write(target, "new\n")
        assert target.read_text() == "old\n" and temporaries(tmp_path) == []
    assert str(info.value) == ""  # the kill is not dressed up
    with faults(at=0, error=no_space()), pytest.raises(files.WriteError) as info:
        files.atomic_write(target, b"new")
    assert (
        str(info.value) == f"cannot write {target}: {ENOSPC}"
        and info.value.errno == errno.ENOSPC
    )


def test_append_line_and_stale_temporaries(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    files.append_line(metrics, '{"iteration": 0}')
    files.append_line(metrics, '{"iteration": 1}')
    assert metrics.read_text() == '{"iteration": 0}\n{"iteration": 1}\n'
    with (
        faults(at=0, error=no_space()),
        pytest.raises(files.WriteError, match=f"cannot write {metrics}: {ENOSPC}"),
    ):
        files.append_line(metrics, '{"iteration": 2}')
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "other").mkdir()
    stale = [
        tmp_path / ".tmp-fields.nc-k1ll3d_0",
        tmp_path / "checkpoints" / ".tmp-iteration_000004.eqx-x8zq0a1b",
        tmp_path / "checkpoints" / ".tmp-a1b2c3d4.eqx",
        tmp_path / ".summary.json.a1b2c3d4.tmp",
    ]  # the last two: older versions'
    kept = [
        tmp_path / ".tmp-notes",
        tmp_path / "other" / ".tmp-fields.nc-k1ll3d_0",
    ]  # not ours, or not an output folder
    for p in stale + kept:
        p.write_bytes(b"half")
        os.utime(
            p, (files.PROCESS_START - 60, files.PROCESS_START - 60)
        )  # left by a killed, earlier process
    fresh = (
        tmp_path / ".tmp-summary.json-abcdefgh"
    )  # a write of this process, under way
    fresh.write_bytes(b"")
    os.utime(fresh, (time.time() + 5, time.time() + 5))
    assert sorted(
        files.remove_stale_temporaries(tmp_path, ["checkpoints", "plots"])
    ) == sorted(stale)
    assert sorted(temporaries(tmp_path)) == sorted([fresh, *kept]) and metrics.exists()


def test_folder_lock_refuses_a_second_holder_and_is_released(tmp_path):
    with files.FolderLock(tmp_path, "--out"):
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
        with (
            pytest.raises(files.FolderInUse) as info,
            files.FolderLock(tmp_path, "--out"),
        ):
            pass
        assert str(info.value) == (
            f"--out {tmp_path} is in use by another diffsim job (process "
            f"{os.getpid()}); wait for it to finish or choose another --out"
        )
    with files.FolderLock(tmp_path, "--out"):  # released on exit
        pass


# ------------------------------------------------------------ --out


@pytest.mark.parametrize(
    "command",
    [
        RUN,
        OPTIMIZE,
        ["sweep", "configs/kdv_two_soliton.yaml", "--grid", "grid.cells=[32],[64]"],
    ],
)
def test_bad_out_is_one_line_exit_2_before_anything_runs(command, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = {
        "": "diffsim: --out: is empty; give an output folder, e.g. --out runs/x",
        str(a_file): f"diffsim: --out: {a_file} is an existing file, not a folder",
        str(
            a_file / "sub" / "dir"
        ): f"diffsim: --out: {a_file}/sub/dir lies under {a_file}, which is a file, "
        "not a folder",
    }
    for out, message in cases.items():
        with mock.patch(
            "diffsim.jobs.config.load_config",
            side_effect=AssertionError("read the config"),
        ):
            assert main([*command, "--out", out]) == EXIT_CONFIG
        assert capsys.readouterr().err.splitlines() == [message]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
    with mock.patch(
        "os.access", return_value=False
    ):  # as a non-root user sees a read-only folder
        assert main([*command, "--out", str(tmp_path / "new")]) == EXIT_CONFIG
    assert capsys.readouterr().err.splitlines() == [
        f"diffsim: --out: {tmp_path}/new: its parent {tmp_path} is not writable"
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out(tmp_path, capsys):
    tmp_path.chmod(0o555)
    try:
        assert main([*RUN, "--out", str(tmp_path)]) == EXIT_CONFIG
    finally:
        tmp_path.chmod(0o755)
    assert capsys.readouterr().err.splitlines() == [
        f"diffsim: --out: {tmp_path}: the folder is not writable"
    ]


# ------------------------------------------------------------ diffsim run


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    with faults() as written:
        assert main([*RUN, "--out", str(out)]) == 0
    assert [p.relative_to(out).as_posix() for p in written] == [
        "config.yaml",
        "fields.nc",
        "plots/spacetime.png",
        "plots/final.png",
        "summary.json",
    ]
    return out, written


def test_run_full_disk_at_every_write(finished_run, tmp_path, capsys):
    """A rerun into a finished run's folder, the disk full at write k: exit 4,
    one line naming the file, no temporaries, and every output complete
    (the earlier run's, or this run's up to k)."""
    reference, written = finished_run
    capsys.readouterr()
    for k, target in enumerate(written):
        out = tmp_path / f"k{k}"
        shutil.copytree(reference, out)
        before = snapshot(out)
        with faults(at=k, error=no_space()):
            assert main([*RUN, "--out", str(out)]) == EXIT_IO
        assert capsys.readouterr().err.splitlines() == [
            f"diffsim: cannot write {out / target.relative_to(reference)}: {ENOSPC}"
        ]
        assert temporaries(out) == []
        after = snapshot(out)
        assert set(after) == set(before)
        assert (
            after[out / target.relative_to(reference)]
            == before[out / target.relative_to(reference)]
        )
        assert json.loads(after[out / "summary.json"])["status"] == "ok"
        with (
            xr.open_dataset(out / "fields.nc", engine="h5netcdf") as a,
            xr.open_dataset(reference / "fields.nc", engine="h5netcdf") as b,
        ):
            xr.testing.assert_identical(a.load(), b.load())
        assert all(
            after[p][:8] == b"\x89PNG\r\n\x1a\n" for p in after if p.suffix == ".png"
        )


def test_run_real_file_size_limit_no_segfault(finished_run, tmp_path):
    """A real write failure (RLIMIT_FSIZE: the kernel refuses to grow a file,
    EFBIG) in a fresh process. Before: h5py died mid-write with a segfault."""
    reference, _ = finished_run
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = snapshot(out)
    # files up to 4 KiB (config.yaml fits, fields.nc does not); SIGXFSZ ignored, so a
    # write fails with EFBIG
    limited = (
        f"trap '' XFSZ; ulimit -f 4; exec {shlex.quote(sys.executable)} -m "
        f'diffsim.jobs.cli "$@"'
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        ["bash", "-c", limited, "bash", *RUN, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == EXIT_IO, proc.stderr[-2000:]
    assert proc.stderr.splitlines() == [
        f"diffsim: cannot write {out}/fields.nc: File too large"
    ]
    assert temporaries(out) == [] and snapshot(out) == before


# ------------------------------------------------------------ diffsim optimize


@pytest.fixture(scope="module")
def optimized(tmp_path_factory):
    out = tmp_path_factory.mktemp("optimize")
    with faults() as written:
        assert main([*OPTIMIZE, "--out", str(out)]) == 0
    names = [p.relative_to(out).as_posix() for p in written]
    assert names == [
        "config.yaml",
        "metrics.jsonl",
        "metrics.jsonl",
        "metrics.jsonl",
        "checkpoints/iteration_000002.eqx",
        "metrics.jsonl",
        "metrics.jsonl",
        "checkpoints/iteration_000004.eqx",
        "params.eqx",
        "fields_initial.nc",
        "fields.nc",
        "summary.json",
    ]
    return out, names


def metrics(out):
    return [
        json.loads(line)
        for line in (Path(out) / "metrics.jsonl").read_text().splitlines()
    ]


def assert_same_result(out, reference):
    assert (out / "params.eqx").read_bytes() == (reference / "params.eqx").read_bytes()
    a, b = (
        json.loads((out / "summary.json").read_text()),
        json.loads((reference / "summary.json").read_text()),
    )
    assert a["loss_final"] == b["loss_final"] and a["loss_initial"] == b["loss_initial"]
    assert [(r["iteration"], r["loss"]) for r in metrics(out)] == [
        (r["iteration"], r["loss"]) for r in metrics(reference)
    ]


def test_optimize_full_disk_at_every_write_then_resume(optimized, tmp_path, capsys):
    """The disk full at write k: exit 4, one line naming the file, no
    temporaries, what was written stays readable; the same command later
    finishes with the result of an uninterrupted run."""
    reference, names = optimized
    for k, name in enumerate(names):
        out = tmp_path / f"k{k}"
        with faults(at=k, error=no_space()):
            assert main([*OPTIMIZE, "--out", str(out)]) == EXIT_IO
        assert capsys.readouterr().err.splitlines() == [
            f"diffsim: cannot write {out / name}: {ENOSPC}"
        ]
        assert temporaries(out) == []
        assert not (out / name).exists() or name == "metrics.jsonl"
        done = (
            [int(r["iteration"]) for r in metrics(out)]
            if (out / "metrics.jsonl").exists()
            else []
        )
        assert done == list(range(len(done)))
        assert main([*OPTIMIZE, "--out", str(out)]) == 0
        capsys.readouterr()
        assert_same_result(out, reference)


def test_optimize_killed_at_every_write_of_a_resume(optimized, tmp_path):
    """A run killed after its checkpoint at iteration 2 is resumed, and the
    resume is killed at each of its writes (the metrics rewrite included):
    the history before the resume point is never lost, no temporary is left,
    and the next start ends where an uninterrupted run ends."""
    reference, _ = optimized
    prefix = tmp_path / "prefix"
    shutil.copytree(reference, prefix)
    for name in (
        "checkpoints/iteration_000004.eqx",
        "params.eqx",
        "fields_initial.nc",
        "fields.nc",
        "summary.json",
    ):
        (prefix / name).unlink()
    with faults() as written:
        shutil.copytree(prefix, tmp_path / "count")
        assert main([*OPTIMIZE, "--out", str(tmp_path / "count")]) == 0
    # config.yaml, the metrics rewrite, 2 lines, checkpoint 4, params, 2 x fields,
    # summary
    assert len(written) == 9
    for k in range(len(written)):
        out = tmp_path / f"k{k}"
        shutil.copytree(prefix, out)
        with faults(at=k, error=Killed()), pytest.raises(Killed):
            main([*OPTIMIZE, "--out", str(out)])
        assert [(r["iteration"], r["loss"]) for r in metrics(out)][:2] == [
            (r["iteration"], r["loss"]) for r in metrics(reference)
        ][:2]
        assert temporaries(out) == []
        assert main([*OPTIMIZE, "--out", str(out)]) == 0
        assert_same_result(out, reference)


def test_optimize_figures_on_a_full_disk(optimized, tmp_path, capsys):
    """The figures, the library's and the scenario's, are written atomically too."""
    reference, _ = optimized
    for name in ("loss.png", "initial_condition.png"):
        out = tmp_path / name
        shutil.copytree(reference, out)
        with faults(at=name, error=no_space()):
            assert (
                main([*[a for a in OPTIMIZE if a != "--no-plots"], "--out", str(out)])
                == EXIT_IO
            )
        assert capsys.readouterr().err.splitlines() == [
            f"diffsim: cannot write {out}/plots/{name}: {ENOSPC}"
        ]
        assert temporaries(out) == [] and not (out / "plots" / name).exists()
        assert (out / "summary.json").read_bytes() == (
            reference / "summary.json"
        ).read_bytes()


def test_optimize_damaged_checkpoint_and_stale_temporaries(optimized, tmp_path, capsys):
    """The newest checkpoint cut short (a kill before atomic writes, a full
    disk, a copy): named in one warning, skipped; the resume from the one
    before ends bitwise where an uninterrupted run ends. Temporaries a kill
    left behind are removed when the next job starts."""
    reference, _ = optimized
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    (out / "summary.json").unlink()
    newest = out / "checkpoints" / "iteration_000004.eqx"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    stale = [
        out / ".tmp-fields.nc-k1ll3d00",
        out / "checkpoints" / ".tmp-iteration_000004.eqx-k1ll3d00",
        out / "checkpoints" / ".tmp-k1ll3d00.eqx",
    ]
    for p in stale:
        p.write_bytes(b"half a file")
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    capsys.readouterr()
    assert main([*OPTIMIZE, "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    size = (reference / "checkpoints" / "iteration_000004.eqx").stat().st_size
    header = (reference / "checkpoints" / "iteration_000004.eqx").read_bytes().index(
        b"\n"
    ) + 1
    assert err == [
        f"diffsim: warning: skipping damaged checkpoint {newest} (truncated: "
        f"{size // 2 - header} of {size - header} bytes); trying an older one"
    ]
    assert json.loads((out / "summary.json").read_text())["resumed_from"] == 2
    assert temporaries(out) == []
    assert_same_result(out, reference)


def test_second_job_on_one_out_is_refused(optimized, capsys):
    reference, _ = optimized
    with files.FolderLock(
        reference, "--out"
    ):  # a job in another process holds the folder
        before = snapshot(reference)
        assert main([*OPTIMIZE, "--out", str(reference)]) == EXIT_IO
        assert main([*RUN, "--out", str(reference)]) == EXIT_IO
        assert snapshot(reference) == before
    err = capsys.readouterr().err.splitlines()
    assert (
        err
        == [
            f"diffsim: --out {reference} is in use by another diffsim job (process "
            f"{os.getpid()}); wait for it to finish or choose another --out"
        ]
        * 2
    )


# ------------------------------------------------------------ the library loop


def quadratic(params):
    return (
        jnp.sum((params["x"] - jnp.arange(3.0)) ** 2) + 10.0 * (params["y"] - 1.0) ** 2
    )


START = {"x": jnp.zeros(3), "y": jnp.asarray(3.0)}


def run_quadratic(folder, iterations):
    return ds.optimize(
        quadratic,
        START,
        optax.adam(0.05),
        iterations=iterations,
        checkpoint_dir=folder / "checkpoints",
        checkpoint_every=3,
        metrics_path=folder / "metrics.jsonl",
    )


def test_kill_at_every_write_then_resume_is_bitwise(tmp_path):
    """A fresh run to 4 iterations, then a resumed run to 9 killed at each of
    its writes (the metrics rewrite of the resume included), then the same
    call again: the result and the loss history are those of an uninterrupted
    run, and no kill loses a metrics line before the resume point."""
    full = run_quadratic(tmp_path / "full", 9)
    with faults() as written:
        run_quadratic(tmp_path / "count", 4)
        count_first = len(written)
        run_quadratic(tmp_path / "count", 9)
    assert (
        len(written) - count_first == 1 + 5 + 2
    )  # metrics rewrite, 5 lines, checkpoints 6 and 9
    for stage, iterations, points in (
        (1, 4, range(count_first)),
        (2, 9, range(len(written) - count_first)),
    ):
        for k in points:
            folder = tmp_path / f"s{stage}k{k}"
            if stage == 2:
                run_quadratic(folder, 4)
            before = (
                [(r["iteration"], r["loss"]) for r in metrics(folder)]
                if stage == 2
                else []
            )
            with faults(at=k, error=Killed()), pytest.raises(Killed):
                run_quadratic(folder, iterations)
            kept = (
                [(r["iteration"], r["loss"]) for r in metrics(folder)]
                if (folder / "metrics.jsonl").exists()
                else []
            )
            assert (
                kept[: len(before)] == before
            )  # the history before the resume point survives the kill
            assert temporaries(folder) == []
            assert main_check_resume(folder, full)


def main_check_resume(folder, full):
    again = run_quadratic(folder, 9)
    for key in ("x", "y"):
        np.testing.assert_array_equal(
            np.asarray(again.params[key]), np.asarray(full.params[key])
        )
    assert again.loss_final == full.loss_final
    assert [(r["iteration"], r["loss"]) for r in metrics(folder)] == [
        (h["iteration"], h["loss"]) for h in full.history
    ]
    return True


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_damaged_newest_checkpoint_falls_back(tmp_path, capsys, damage):
    full = run_quadratic(tmp_path / "full", 9)
    run_quadratic(tmp_path / "b", 7)  # checkpoints 3, 6, 7
    newest = tmp_path / "b" / "checkpoints" / "iteration_000007.eqx"
    data = bytearray(newest.read_bytes())
    if damage == "truncate":
        data = data[:-9]
    elif damage == "flip":
        data[-5] ^= 0xFF
    else:
        data = b""
    newest.write_bytes(bytes(data))
    capsys.readouterr()
    resumed = run_quadratic(tmp_path / "b", 9)
    err = capsys.readouterr().err.splitlines()
    why = {
        "truncate": "truncated: ",
        "flip": "checksum mismatch: the content was changed after it was written)",
        "empty": "(empty file)",
    }[damage]
    assert (
        len(err) == 1
        and err[0].startswith(
            f"diffsim: warning: skipping damaged checkpoint {newest} ("
        )
        and why in err[0]
    ), err
    assert resumed.resumed_from == 6
    assert main_check_resume(tmp_path / "b", full)


def test_checkpoint_without_header_still_resumes(tmp_path):
    """Checkpoints written before they had a header load as before."""
    full = run_quadratic(tmp_path / "full", 9)
    run_quadratic(tmp_path / "b", 6)
    path = tmp_path / "b" / "checkpoints" / "iteration_000006.eqx"
    data = path.read_bytes()
    path.write_bytes(data[data.index(b"\n") + 1 :])
    (tmp_path / "b" / "checkpoints" / "iteration_000003.eqx").unlink()
    assert run_quadratic(tmp_path / "b", 9).resumed_from == 6
    assert main_check_resume(tmp_path / "b", full)


def test_sweep_full_disk_and_lock(tmp_path, capsys):
    sweep = [
        "sweep",
        "configs/kdv_two_soliton.yaml",
        "--grid",
        "grid.cells=[32],[64]",
        "--out",
        str(tmp_path),
    ]
    with faults(at="sweep.json", error=no_space()):
        assert main(sweep) == EXIT_IO
    assert capsys.readouterr().err.splitlines() == [
        f"diffsim: cannot write {tmp_path}/sweep.json: {ENOSPC}"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]  # no task started
    with files.FolderLock(tmp_path, "--out"):
        assert main(sweep) == EXIT_IO
    assert capsys.readouterr().err.splitlines() == [
        f"diffsim: --out {tmp_path} is in use by another diffsim job (process "
        f"{os.getpid()}); wait for it to finish or choose another --out"
    ]
