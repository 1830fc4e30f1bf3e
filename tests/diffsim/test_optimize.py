"""The optax loop: convergence, exact resume, NaN stops."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import diffsim as ds
from diffsim.jobs import make_optimizer
from diffsim.jobs.config import OptimizerConfig
from diffsim.jobs.progress import IterationProgress


def quadratic(params):
    target = jnp.arange(3.0)
    return jnp.sum((params["x"] - target) ** 2) + 10.0 * (params["y"] - 1.0) ** 2


def start():
    return {"x": jnp.zeros(3), "y": jnp.asarray(3.0)}


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "lbfgs"])
def test_optimizers_from_config_converge(name):
    settings = (
        OptimizerConfig(name="lbfgs")
        if name == "lbfgs"
        else OptimizerConfig(name=name, learning_rate=0.02 if name == "sgd" else 0.1)
    )
    opt = make_optimizer(settings, iterations=200)
    result = ds.optimize(
        quadratic, start(), opt, iterations=200 if name != "lbfgs" else 20
    )
    assert result.loss_initial == pytest.approx(45.0)
    assert result.loss_final < 1e-3 * result.loss_initial
    np.testing.assert_allclose(result.params["x"], [0.0, 1.0, 2.0], atol=0.05)


def test_lbfgs_rejects_a_learning_rate():
    with pytest.raises(ValueError, match="line search"):
        OptimizerConfig(name="lbfgs", learning_rate=0.1)


def test_resume_is_bitwise_identical(tmp_path):
    opt = optax.adam(0.05)
    full = ds.optimize(
        quadratic,
        start(),
        opt,
        iterations=20,
        checkpoint_dir=tmp_path / "a",
        checkpoint_every=3,
    )
    first = ds.optimize(
        quadratic,
        start(),
        opt,
        iterations=10,
        checkpoint_dir=tmp_path / "b",
        checkpoint_every=3,
        metrics_path=tmp_path / "b.jsonl",
    )
    assert first.resumed_from == 0
    second = ds.optimize(
        quadratic,
        start(),
        opt,
        iterations=20,
        checkpoint_dir=tmp_path / "b",
        checkpoint_every=3,
        metrics_path=tmp_path / "b.jsonl",
    )
    assert second.resumed_from == 10
    for key in ("x", "y"):
        np.testing.assert_array_equal(
            np.asarray(second.params[key]), np.asarray(full.params[key])
        )
    assert second.loss_final == full.loss_final
    lines = [
        json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()
    ]
    assert [r["iteration"] for r in lines] == list(range(20))
    assert [r["loss"] for r in lines] == [h["loss"] for h in full.history]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        f"iteration_{i:06d}.eqx" for i in (3, 6, 9, 10, 12, 15, 18, 20)
    ]


def test_progress_is_called_per_iteration_and_resumes(tmp_path, monkeypatch):
    calls = []
    result = ds.optimize(
        quadratic,
        start(),
        optax.adam(0.1),
        iterations=4,
        checkpoint_dir=tmp_path / "c",
        checkpoint_every=2,
        progress=lambda it, loss: calls.append((it, loss)),
    )
    assert calls == [(r["iteration"], r["loss"]) for r in result.history]
    assert [it for it, _ in calls] == [0, 1, 2, 3]
    calls.clear()
    ds.optimize(
        quadratic,
        start(),
        optax.adam(0.1),
        iterations=6,
        checkpoint_dir=tmp_path / "c",
        checkpoint_every=2,
        progress=lambda it, loss: calls.append((it, loss)),
    )
    assert [it for it, _ in calls] == [4, 5]  # after the checkpoint at 4

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with IterationProgress(6, delay=0) as bar:  # the job layer's bar
        bar(4, 0.5)
        bar(5, 0.25)
    shown = terminal.getvalue()
    first, last = shown.strip("\r\n").split("\r")[-2:]
    assert first.startswith("optimize:  67%") and "| 4/6 [" in first
    assert last.startswith("optimize: 100%") and "| 6/6 [" in last
    assert last.endswith(", loss=2.5000e-01]")


def test_non_finite_gradient_names_iteration_and_leaf(tmp_path):
    def nan_loss(p):
        return jnp.sum(p["a"] ** 2) + jnp.sqrt(p["b"])

    params = {"a": jnp.ones(2), "b": jnp.asarray(1.0)}
    with pytest.raises(ds.RunError) as info:
        ds.optimize(
            nan_loss,
            params,
            optax.sgd(0.5),
            iterations=10,
            checkpoint_dir=tmp_path,
            checkpoint_every=2,
        )
    message = str(info.value)
    # b: 1 -> 0.75 -> 0.461 -> 0.093 -> -0.73, so the loss at iteration 4 is sqrt(-0.73)
    assert message.startswith("iteration 4: non-finite loss (loss = nan)")
    assert "last good checkpoint kept" in message and "iteration_000004.eqx" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "iteration_000002.eqx",
        "iteration_000004.eqx",
    ]

    def grad_nan(p):  # finite loss, NaN gradient in leaf 'a' only
        return (
            jnp.sum(jnp.where(p["a"] > 0.5, jnp.sqrt(p["a"] - 0.5), 0.0)) + p["b"] ** 2
        )

    with pytest.raises(
        ds.RunError,
        match=r"iteration 0: non-finite gradient \(loss = 1.0\) "
        r"in parameter leaf \['a'\]",
    ):
        ds.optimize(
            grad_nan,
            {"a": jnp.asarray([0.5, 0.25]), "b": jnp.asarray(1.0)},
            optax.sgd(0.1),
            iterations=3,
        )


def _optimize_cmd(out, iterations):
    return [
        sys.executable,
        "-m",
        "diffsim.jobs.cli",
        "optimize",
        "configs/burgers_inverse.yaml",
        "grid.cells=[32]",
        "time.t_end=0.5",
        "physics.observation_every=5",
        "physics.sensors=8",
        f"optimize.iterations={iterations}",
        "optimize.checkpoint_every=5",
        "--no-plots",
        "--out",
        str(out),
    ]


def test_sigkill_and_resume_matches_uninterrupted_run(tmp_path, capsys):
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
        "intra_op_parallelism_threads=1",
    }
    iterations = 300
    killed = tmp_path / "killed"
    from diffsim.jobs.cli import main
    from diffsim.jobs.config import load_config

    load_config(
        "configs/burgers_inverse.yaml", []
    )  # imports the scenarios now, so that the second job below is refused at once
    proc = subprocess.Popen(
        _optimize_cmd(killed, iterations),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 300
    while (
        time.time() < deadline
        and not (killed / "checkpoints" / "iteration_000010.eqx").exists()
    ):
        if proc.poll() is not None:
            pytest.fail(
                "optimize ended before it could be killed: "
                f"{proc.communicate()[1].decode()}"
            )
        time.sleep(0.01)
    assert (
        main(_optimize_cmd(killed, iterations)[3:]) == 4
    )  # a second job on the same --out, while the first runs
    assert proc.poll() is None, (
        "the first job ended before the second was refused; the test proves nothing"
    )
    assert capsys.readouterr().err.splitlines() == [
        f"diffsim: --out {killed} is in use by another diffsim job (process "
        f"{proc.pid}); wait for it to finish or choose another --out"
    ]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists(), (
        "the run finished before SIGKILL; the test proves nothing"
    )
    resumed = subprocess.run(
        _optimize_cmd(killed, iterations), env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    reference = tmp_path / "reference"
    straight = subprocess.run(
        _optimize_cmd(reference, iterations), env=env, capture_output=True, text=True
    )
    assert straight.returncode == 0, straight.stderr

    a = json.loads((killed / "summary.json").read_text())
    b = json.loads((reference / "summary.json").read_text())
    assert a["resumed_from"] >= 10 and b["resumed_from"] == 0
    assert a["loss_final"] == b["loss_final"]  # bitwise: JSON floats round-trip exactly
    assert (killed / "params.eqx").read_bytes() == (
        reference / "params.eqx"
    ).read_bytes()
    history = [
        json.loads(line)["iteration"]
        for line in (killed / "metrics.jsonl").read_text().splitlines()
    ]
    assert history == list(range(iterations))


def test_cli_optimize_refuses_other_config_in_same_dir(tmp_path, capsys):
    from diffsim.jobs.cli import main

    args = [
        "optimize",
        "configs/burgers_inverse.yaml",
        "grid.cells=[32]",
        "optimize.iterations=2",
        "--no-plots",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    assert (
        main(args[:-3] + ["physics.nu=0.1", "--no-plots", "--out", str(tmp_path)]) == 2
    )
    assert "holds checkpoints of a different configuration" in capsys.readouterr().err
    assert (
        main(["optimize", "configs/taylor_green.yaml", "--out", str(tmp_path / "x")])
        == 2
    )
    assert "not an optimization problem" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"iterations": -2}, ValueError, "optimize: iterations must be >= 0, got -2"),
        (
            {"iterations": 2.5},
            TypeError,
            "optimize: iterations must be an integer, got 2.5",
        ),
        (
            {"iterations": True},
            TypeError,
            "optimize: iterations must be an integer, got True",
        ),
        (
            {"checkpoint_every": 0},
            ValueError,
            "optimize: checkpoint_every must be >= 1, got 0",
        ),
        (
            {"gradient": "sideways"},
            ValueError,
            "optimize: gradient must be 'reverse', 'forward' or 'auto', got 'sideways'",
        ),
        (
            {"optimizer": "adam"},
            TypeError,
            "optimize: optimizer must be an optax.GradientTransformation (e.g. "
            "optax.adam(1e-2)), got str",
        ),
        (
            {"loss_fn": 3.0},
            TypeError,
            "optimize: loss_fn must be a callable params -> scalar loss, got float",
        ),
        (
            {"progress": "yes"},
            TypeError,
            "optimize: progress must be a callable (iteration, loss) or None, "
            "got 'yes'",
        ),
        ({"metrics_path": ""}, ValueError, "optimize: metrics_path is an empty path"),
    ],
)
def test_arguments_are_checked_before_compiling(kwargs, error, message, tmp_path):
    args = {
        "loss_fn": quadratic,
        "params": start(),
        "optimizer": optax.adam(0.1),
        "iterations": 3,
        **kwargs,
    }
    with pytest.raises(error) as info:
        ds.optimize(**args)
    assert str(info.value) == message
    (tmp_path / "file").write_text("x")
    with pytest.raises(
        ValueError,
        match=f"optimize: checkpoint_dir {tmp_path}/file is a file, not a folder",
    ):
        ds.optimize(
            quadratic,
            start(),
            optax.adam(0.1),
            iterations=3,
            checkpoint_dir=tmp_path / "file",
        )


def test_resume_with_another_optimizer_is_refused(tmp_path):
    ds.optimize(
        quadratic,
        start(),
        optax.adam(0.05),
        iterations=4,
        checkpoint_dir=tmp_path,
        checkpoint_every=2,
    )
    for other in (
        optax.sgd(0.05),
        optax.adamw(0.05),
        optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.05)),
    ):
        with pytest.raises(ds.RunError) as info:
            ds.optimize(
                quadratic,
                start(),
                other,
                iterations=8,
                checkpoint_dir=tmp_path,
                checkpoint_every=2,
            )
        assert str(info.value).startswith(
            f"checkpoint {tmp_path}/iteration_000004.eqx was written by another "
            "optimizer or parameter structure "
            "(optimizer state ScaleByAdamState+EmptyState, this run's is "
        )
    with pytest.raises(
        ds.RunError, match="this run's is ScaleByAdamState"
    ):  # same optimizer, other parameters
        ds.optimize(
            quadratic,
            {"x": jnp.zeros(3), "y": jnp.zeros(2)},
            optax.adam(0.05),
            iterations=8,
            checkpoint_dir=tmp_path,
        )
    assert (
        ds.optimize(
            quadratic,
            start(),
            optax.adam(0.05),
            iterations=6,
            checkpoint_dir=tmp_path,
            checkpoint_every=2,
        ).resumed_from
        == 4
    )


def test_unconverged_solve_in_the_loss_is_one_line_naming_the_iteration(tmp_path):
    """(I + p D) x = 1 with one GMRES step: exact for p = 0 (iteration 0),
    not once the optimizer has moved p (iteration 1)."""
    d = jnp.arange(6.0)
    solver = ds.GMRES(rtol=1e-10, max_steps=1, restart=1)

    def loss(p):
        x = ds.linear_solve(lambda v: v + p["p"] * d * v, jnp.ones(6), solver).value
        return jnp.sum(x) + (p["p"] - 1.0) ** 2

    with pytest.raises(ds.RunError) as info:
        ds.optimize(
            loss,
            {"p": jnp.asarray(0.0)},
            optax.sgd(0.1),
            iterations=5,
            checkpoint_dir=tmp_path,
            checkpoint_every=1,
        )
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "iteration 1: the loss or its gradient failed: linear_solve (GMRES) did not "
        "converge: relative residual"
    )
    assert message.endswith(
        f"(last good checkpoint kept: {tmp_path}/iteration_000001.eqx)"
    )


def test_cli_unconverged_solve_exits_3_in_one_line(tmp_path, capsys, caplog):
    """A solve that fails inside compiled code (the Helmholtz scenarios) or
    eagerly (steady_fit): one line, exit 3, no logged traceback."""
    from diffsim.jobs.cli import main

    small = [
        "grid.cells=[32,32]",
        "physics.pml.width=6",
        "physics.receivers=8",
        "physics.sources=2",
    ]
    for config, extra, start in (
        (
            "helmholtz_inclusion_inverse",
            small,
            "linear_solve (BiCGStab) did not converge: relative residual ||b - A x|| "
            "/ ||b|| reached ~",
        ),
        (
            "steady_fit",
            [],
            "steady_state did not converge after max_steps=3 iterations; the RMS "
            "residual ||R(y)|| reached ~",
        ),
    ):
        args = [
            "optimize",
            f"configs/{config}.yaml",
            *extra,
            "solver.max_steps=3",
            "optimize.iterations=2",
            "--no-plots",
            "--out",
            str(tmp_path / config),
        ]
        assert main(args) == 3
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(
            f"diffsim: {config}, setting up the problem (before iteration 0): {start}"
        ), err
    assert [
        r for r in caplog.records if r.name == "jax._src.callback"
    ] == []  # JAX's own log of the failed check is filtered
