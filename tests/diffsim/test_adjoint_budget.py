"""`CheckpointAdjoint(memory_budget=...)`: plans that fit, the same gradient,
compiled memory under the budget, and the config key `adjoint_memory_budget`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
import diffsim.jobs  # noqa: F401  (ds.jobs)
from diffsim.internal import format_bytes, plan_checkpoints, step_bytes
from diffsim.jobs import ConfigError, load_config
from diffsim.operators import FourierSpectral, Grid, KuramotoSivashinsky, discretize

S, R = (
    8_000,
    256_000,
)  # one state, one step's residuals (32 states, like an ETDRK4 spectral step)


@pytest.mark.parametrize(
    "n, factors",
    [(10, [1, 2]), (100, [1, 2]), (1000, [1, 2, 3, 4]), (10_000, [2, 2, 3, 3, 4])],
)
def test_plans_fit_their_budget_and_recompute_more_as_it_shrinks(n, factors):
    """Budgets of 100, 1, 1/2, 1/4 and 1/8 times the unbounded plan's
    prediction; budgets below what any plan needs are refused (checked below)."""
    unbounded = plan_checkpoints(n, S, R)
    assert unbounded.levels == 2 and unbounded.recompute_factor == 2.0
    got = []
    for budget in [
        unbounded.predicted_bytes * f for f in (100.0, 1.0, 0.5, 0.25, 0.12)
    ]:
        try:
            plan = plan_checkpoints(n, S, R, memory_budget=budget)
        except ds.MemoryBudgetError:
            continue
        assert plan.predicted_bytes <= budget
        assert plan.levels == len(plan.blocks) + 1
        assert list(plan.blocks) == sorted(plan.blocks) and all(
            b <= n for b in plan.blocks
        )
        got.append(plan.recompute_factor)
    assert (
        got == factors
    )  # 1: every step's residuals stored (10,000 steps of them need more than 100x)


def test_plan_recomputation_and_memory_are_those_of_the_blocks():
    # 1000 steps: 25 blocks of 40 blocks of 1 step store 25 + 40 states and one
    # step's residuals, plus the working set of one step's backward pass (its
    # residuals' worth and 4 states); every step runs 3 times forward (the forward
    # pass and once per checkpointed level)
    plan = plan_checkpoints(1000, S, R, levels=3)
    assert plan.levels == 3 and plan.blocks == (1, 40) and plan.recompute_factor == 3.0
    assert plan.predicted_bytes == (25 + 40) * S + R + (R + 4 * S)
    assert plan_checkpoints(1000, S, R, levels=3, memory_budget=1e12) == plan.__class__(
        **{**vars(plan), "memory_budget": 1e12}
    )
    direct = plan_checkpoints(1000, S, R, memory_budget=1e12)
    assert direct.levels == 1 and direct.blocks == () and direct.recompute_factor == 1.0
    assert direct.predicted_bytes == 1000 * R + R + 4 * S
    # a remainder block (997 is prime) is one more stored state and its own
    # recomputation
    odd = plan_checkpoints(997, S, R, levels=2)
    assert (
        odd.blocks == (6,) and odd.predicted_bytes == (166 + 1) * S + 6 * R + R + 4 * S
    )
    assert odd.recompute_factor == 2.0


def test_too_small_a_budget_names_itself_and_the_minimum():
    minimum = min(
        plan_checkpoints(1000, S, R, memory_budget=1e12, levels=lv).predicted_bytes
        for lv in range(1, 12)
    )
    with pytest.raises(ds.MemoryBudgetError) as e:
        plan_checkpoints(1000, S, R, memory_budget=300_000)
    message = str(e.value)
    assert message.startswith(
        "CheckpointAdjoint: memory_budget=3e+05 bytes (293 KiB) is too small for 1000 "
        "steps"
    )
    assert f"needs at least {format_bytes(minimum)}" in message, message
    with pytest.raises(ValueError, match=r"needs at least .* with levels=2"):
        plan_checkpoints(1000, S, R, memory_budget=2 * minimum, levels=2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(levels=0), "levels must be an int >= 1 (or None), got 0"),
        (dict(levels=True), "levels must be an int >= 1 (or None), got True"),
        (dict(levels=2.0), "levels must be an int >= 1 (or None), got 2.0"),
        (
            dict(memory_budget=0),
            "memory_budget must be a positive finite number of bytes (or None), got 0",
        ),
        (
            dict(memory_budget=-1e9),
            "memory_budget must be a positive finite number of bytes (or None), got "
            "-1000000000.0",
        ),
        (
            dict(memory_budget=float("nan")),
            "memory_budget must be a positive finite number of bytes (or None), got "
            "nan",
        ),
        (
            dict(memory_budget="1 GB"),
            "memory_budget must be a positive finite number of bytes (or None), got "
            "'1 GB'",
        ),
        (
            dict(memory_budget=True),
            "memory_budget must be a positive finite number of bytes (or None), got "
            "True",
        ),
    ],
)
def test_arguments_are_validated(kwargs, message):
    with pytest.raises(ValueError) as e:
        ds.CheckpointAdjoint(**kwargs)
    assert str(e.value) == f"CheckpointAdjoint: {message}"


def test_step_bytes_counts_state_dependent_residuals_only():
    x = jnp.ones(1000)
    coefficients = jnp.linspace(0.0, 1.0, 1000)
    costly = lambda c: jnp.sin(
        jnp.sin(jnp.sin(jnp.sin(c)))
    )  # 4 residual states per step
    scaled = lambda c: (
        c * jnp.cos(coefficients)
    )  # residual cos(coefficients) does not depend on the state
    assert step_bytes(costly, x) == (8000, 32000)
    assert step_bytes(scaled, x) == (8000, 0)
    plan = ds.CheckpointAdjoint(memory_budget=40 * 8000).plan(costly, x, 400)
    assert isinstance(plan, ds.CheckpointPlan) and plan.predicted_bytes <= 40 * 8000
    assert (plan.levels, plan.blocks, plan.recompute_factor) == (4, (2, 16, 80), 4.0)
    assert ds.CheckpointAdjoint().plan(costly, x, 400).blocks == (
        10,
    )  # sqrt(400 / 4), as without a budget
    with pytest.raises(ValueError, match="n must be a non-negative int, got -1"):
        ds.CheckpointAdjoint().plan(costly, x, -1)


# --- a spectral rollout: the plan the loop runs, its gradient, its compiled memory ---

GRID = Grid(64, 0.0, 32 * np.pi)
KS = discretize(KuramotoSivashinsky(), FourierSpectral(GRID))
Y0 = (
    0.1 * jnp.cos(2 * np.pi * jnp.asarray(GRID.coordinates[0]) / (32 * np.pi) * 3)[None]
)


def _loss(adjoint, stepper, n):
    def loss(y):
        return jnp.sum(
            ds.solve(KS, stepper, y, dt=0.05, num_steps=n, adjoint=adjoint).ys ** 2
        )

    return loss


def _plan_of(adjoint, stepper, n):
    """The plan `adjoint.loop` makes for the KS step.

    Body and carry are built as `solve` builds them.
    """
    cache = stepper.init(KS, jnp.asarray(0.05))
    body = lambda c: (
        stepper.step(KS, c[0], c[1] * 0.05, jnp.asarray(0.05), cache),
        c[1] + 1,
    )
    return adjoint.plan(body, (KS.encode(Y0), jnp.asarray(0, jnp.int32)), n)


def test_gradient_under_a_tight_budget_equals_the_direct_one():
    n, stepper = 60, ds.RK4()
    unbounded = _plan_of(ds.CheckpointAdjoint(), stepper, n)
    tight = ds.CheckpointAdjoint(memory_budget=0.65 * unbounded.predicted_bytes)
    plan = _plan_of(tight, stepper, n)
    assert plan.levels >= 3 and plan.recompute_factor >= 3.0, plan
    grads = [
        jax.jit(jax.grad(_loss(a, stepper, n)))(Y0) for a in (ds.DirectAdjoint(), tight)
    ]
    np.testing.assert_allclose(
        grads[1], grads[0], rtol=1e-11, atol=1e-13 * float(jnp.max(jnp.abs(grads[0])))
    )


def _compiled_bytes(adjoint, n):
    m = (
        jax.jit(jax.grad(_loss(adjoint, ds.RK4(), n)))
        .lower(Y0)
        .compile()
        .memory_analysis()
    )
    assert m is not None, "the CPU backend reports memory"
    return m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes


def test_compiled_memory_stays_under_the_budget():
    """XLA's buffer assignment of the compiled gradient (temp + arguments +
    outputs, all of it, not only the loop's) for 2000 RK4 steps: the
    unbounded plan needs more than the budget, the budgeted one fits."""
    n, budget = 2000, 60_000
    unbounded = _compiled_bytes(ds.CheckpointAdjoint(), n)
    budgeted = _compiled_bytes(ds.CheckpointAdjoint(memory_budget=budget), n)
    # measured: 106248 and 48584 bytes (3 levels, blocks [2, 80])
    assert unbounded > budget > budgeted, (unbounded, budgeted)
    plan = _plan_of(ds.CheckpointAdjoint(memory_budget=budget), ds.RK4(), n)
    assert plan.levels == 3 and plan.predicted_bytes <= budget


# --- the config key -------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (1e9, 1e9),
        (2_000_000, 2e6),
        ("1 GB", 1e9),
        ("512 MiB", 512 * 2**20),
        ("1.5GiB", 1.5 * 2**30),
        ("1e9", 1e9),
        ("64 kB", 64e3),
        (None, None),
    ],
)
def test_config_reads_a_budget(value, expected):
    config, _, _ = load_config(
        "configs/shock_tube_inverse.yaml",
        [f"adjoint_memory_budget={'null' if value is None else value}"],
    )
    assert config.adjoint_memory_budget == expected
    adjoint = diffsim.jobs.adjoint_from(config)
    assert (
        isinstance(adjoint, ds.CheckpointAdjoint) and adjoint.memory_budget == expected
    )
    assert diffsim.jobs.ADJOINTS["checkpoint"] is ds.CheckpointAdjoint


@pytest.mark.parametrize(
    "value", ["lots", "1 XB", "-5", "0", "1e400", "true", "[1]", "GB"]
)
def test_config_refuses_a_bad_budget(value):
    with pytest.raises(ConfigError) as e:
        load_config(
            "configs/shock_tube_inverse.yaml", [f"adjoint_memory_budget={value}"]
        )
    assert str(e.value).startswith(
        "adjoint_memory_budget: expected a positive number of bytes or a string like "
        '"1 GB" or "512 MiB", got '
    )
    assert "\n" not in str(e.value)


def test_config_refuses_a_budget_without_checkpointing():
    with pytest.raises(ConfigError) as e:
        load_config("configs/learned_flux.yaml", ["adjoint_memory_budget=1 GB"])
    assert (
        str(e.value)
        == "adjoint_memory_budget: applies to adjoint: checkpoint only (adjoint is "
        "direct); remove it or set it to null"
    )
    config, _, _ = load_config("configs/learned_flux.yaml")
    assert config.adjoint_memory_budget is None and isinstance(
        diffsim.jobs.adjoint_from(config), ds.DirectAdjoint
    )


def test_config_refuses_a_budget_where_no_time_loop_is_checkpointed():
    with pytest.raises(ConfigError) as e:
        load_config(
            "configs/steady_fit.yaml",
            ["adjoint=checkpoint", "adjoint_memory_budget=1 GB"],
        )
    assert str(e.value).startswith(
        "adjoint_memory_budget: steady_fit has no time loop to checkpoint"
    )


def test_optimize_with_too_small_a_budget_exits_2_in_one_line(tmp_path, capsys):
    from diffsim.jobs.cli import main

    code = main(
        [
            "optimize",
            "configs/shock_tube_inverse.yaml",
            "adjoint_memory_budget=1000",
            "optimize.iterations=1",
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(
        "diffsim: config error: adjoint_memory_budget: CheckpointAdjoint: "
        "memory_budget=1000 bytes (1000 B) is too small"
    ), err
    assert err.count("\n") == 1
