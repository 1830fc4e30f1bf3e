"""Inverse problems are modules: their loss, metrics and forward models are
methods that can be called directly, on data built without noise, where the
true parameters fit exactly."""

import jax.numpy as jnp
import numpy as np
import pytest

from diffsim.jobs import AbstractInverseProblem, build_problem, load_config
from diffsim.scenarios.burgers_inverse import BurgersInitialCondition
from diffsim.scenarios.shock_tube_inverse import (
    Physics as ShockTubePhysics,
    ShockTubeFit,
)
from diffsim.scenarios.steady_fit import SteadyForcingFit

SHOCK_TUBE_CLEAN = [
    "grid.cells=[32]",
    "time.t_end=0.1",
    "time.dt=0.005",
    "time.snapshots=10",
    "physics.sensors=[0.3,0.45,0.6,0.75]",
    "physics.noise=0.0",
]
BURGERS_CLEAN = [
    "grid.cells=[32]",
    "time.t_end=0.3",
    "physics.observation_every=5",
    "physics.noise=0.0",
    "physics.regularization=0.0",
]
STEADY_CLEAN = [
    "grid.cells=[32]",
    "physics.sensors=16",
    "physics.noise=0.0",
    "physics.regularization=0.0",
]


def _problem(config_path, overrides):
    config, physics, scenario = load_config(config_path, overrides)
    problem = build_problem(scenario, config, physics)
    assert isinstance(problem, AbstractInverseProblem)
    return problem, physics


def test_shock_tube_loss_vanishes_at_the_truth():
    problem, physics = _problem("configs/shock_tube_inverse.yaml", SHOCK_TUBE_CLEAN)
    assert isinstance(problem, ShockTubeFit)
    assert isinstance(physics, ShockTubePhysics)
    # 20 steps saved every 2 from t = 0: 11 samples at each of the 4 sensors
    assert problem.model.traces(problem.truth).shape == (11, 4)
    assert float(problem.loss(problem.truth)) < 1e-20
    assert float(problem.loss(problem.params)) > 1e-3  # the guess is far off
    metrics = problem.metrics(problem.truth)
    assert metrics["parameters_true"] == {
        "gamma": pytest.approx(physics.gamma),
        "left": pytest.approx(list(physics.left)),
        "right": pytest.approx(list(physics.right)),
    }
    assert metrics["max_parameter_error_final"] < 1e-12
    assert metrics["max_parameter_error_initial"] > 0.1
    assert metrics["loss_noise_floor"] == 0.0 and metrics["observations"] == 44


def test_burgers_initial_condition_metrics():
    problem, _ = _problem("configs/burgers_inverse.yaml", BURGERS_CLEAN)
    assert isinstance(problem, BurgersInitialCondition)
    assert float(problem.loss(problem.truth)) < 1e-20
    assert problem.error(problem.truth) == 0.0
    # the initial guess is zero: relative error exactly 1
    assert problem.metrics(problem.truth) == {
        "ic_error_initial": 1.0,
        "ic_error_final": 0.0,
    }
    # 30 steps of 0.01 observed every 5: 6 times at 16 sensors
    assert problem.observe(problem.truth).shape == (6, 16)


def test_steady_fit_loss_vanishes_at_the_true_forcing():
    problem, _ = _problem("configs/steady_fit.yaml", STEADY_CLEAN)
    assert isinstance(problem, SteadyForcingFit)
    assert float(problem.loss(problem.theta_true)) < 1e-20
    u = problem.steady(problem.theta_true)
    np.testing.assert_allclose(u, problem.u_true, rtol=0, atol=1e-12)
    metrics = problem.metrics(problem.theta_true)
    assert metrics["parameter_error_final"] == 0.0
    assert metrics["parameter_error_initial"] == pytest.approx(
        float(
            jnp.linalg.norm(problem.params - problem.theta_true)
            / jnp.linalg.norm(problem.theta_true)
        )
    )
