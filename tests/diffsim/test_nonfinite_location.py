"""A non-finite gradient in `optimize` is located to the time step of the
rollout where the backward pass first turns non-finite."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import diffsim as ds
from diffsim.internal import locate_nonfinite_gradient, probing
from diffsim.operators import AbstractOperator

DT = 0.0625  # exact in binary: y_k = 1 - k DT is exact, and zero at step 16
STEPS = 40


class Drain(AbstractOperator):
    """`dy/dt = -1 + c sqrt|y|`. With `c = 0` the state falls linearly and
    exactly through zero at t = 1, where the step's derivative
    `c / (2 sqrt|y|) sign(y)` is `0 * inf = NaN` while its value stays finite:
    the forward pass and the loss are finite, the backward pass is not."""

    c: jax.Array

    @property
    def field_names(self):
        return ("y",)

    def __call__(self, state, t):
        return -1.0 + self.c * jnp.sqrt(jnp.abs(state))

    def encode(self, fields):
        return fields

    def decode(self, state):
        return state


def rollout_loss(adjoint):
    def loss(params):
        sol = ds.solve(
            Drain(params["c"]),
            ds.ForwardEuler(),
            params["y0"],
            dt=DT,
            num_steps=STEPS,
            adjoint=adjoint,
        )
        return jnp.sum(sol.ys[-1] ** 2)

    return loss


PARAMS = {"c": jnp.asarray(0.0), "y0": jnp.ones((1, 1))}


@pytest.mark.parametrize(
    "adjoint",
    [ds.DirectAdjoint(), ds.CheckpointAdjoint(), ds.CheckpointAdjoint(levels=3)],
    ids=["direct", "checkpoint", "checkpoint3"],
)
def test_the_step_where_the_backward_pass_turns_non_finite_is_named(adjoint):
    loss = rollout_loss(adjoint)
    assert np.isfinite(float(loss(PARAMS)))
    assert not np.isfinite(np.asarray(jax.grad(loss)(PARAMS)["y0"])).any()
    assert locate_nonfinite_gradient(loss, PARAMS) == (
        "the backward pass first turns non-finite at time step 16 of 40 of the rollout "
        "(t = 1)"
    )


def test_optimize_names_leaf_and_time_step(tmp_path):
    with pytest.raises(ds.RunError) as info:
        ds.optimize(
            rollout_loss(ds.CheckpointAdjoint()),
            PARAMS,
            optax.sgd(1e-3),
            iterations=3,
            checkpoint_dir=tmp_path,
        )
    assert str(info.value) == (
        "iteration 0: non-finite gradient (loss = 2.25) in parameter leaf ['c']; the "
        "backward pass first turns non-finite at time step 16 of 40 of the rollout "
        "(t = 1); no checkpoint was written yet"
    )


def test_the_normal_trace_has_no_marks_and_the_probe_reports_finite_rollouts():
    loss = rollout_loss(ds.DirectAdjoint())
    plain = str(jax.make_jaxpr(jax.grad(loss))(PARAMS))
    assert "custom_vjp" not in plain
    with probing():
        probed = str(jax.make_jaxpr(jax.grad(loss))(PARAMS))
    # the plain trace keeps only solve's run-time check of y0 (a pure_callback)
    assert "debug_callback" not in plain and "debug_callback" in probed
    # a gradient that is NaN outside the time loop: the rollout's cotangents stay finite
    outside = lambda p: (
        rollout_loss(ds.DirectAdjoint())({"c": p["c"] * 0 + 0.5, "y0": p["y0"]})
        + jnp.sqrt(p["c"])
    )
    assert locate_nonfinite_gradient(
        outside, {"c": jnp.asarray(0.0), "y0": jnp.full((1, 1), 4.0)}
    ).startswith("the rollout's state cotangents stay finite at every time step")
    assert locate_nonfinite_gradient(
        lambda p: jnp.sqrt(p["c"]), {"c": jnp.asarray(0.0)}
    ) == (
        "no diffsim.solve rollout was traced in the loss, so no time step can be named"
    )
