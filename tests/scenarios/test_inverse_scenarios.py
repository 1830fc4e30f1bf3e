"""The shock-tube and Helmholtz-inclusion inverse problems at tiny sizes:
gradients against central finite differences (float64), and both configs run
from the command line with the loss falling by a stated factor."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from diffsim.jobs import ConfigError, build_problem, load_config
from diffsim.jobs.cli import main

# 32 cells, 20 steps of dt = 0.005 (t_end 0.1), 10 samples per sensor
SHOCK_TUBE_SMALL = [
    "grid.cells=[32]",
    "time.t_end=0.1",
    "time.dt=0.005",
    "time.snapshots=10",
    "physics.sensors=[0.3,0.45,0.6,0.75]",
]
# 32^2 cells at 1 MHz (8 points per wavelength), 4 sources, 12 receivers, one disc
HELMHOLTZ_SMALL = [
    "grid.cells=[32,32]",
    "grid.lower=[-3.0e-3,-3.0e-3]",
    "grid.upper=[3.0e-3,3.0e-3]",
    "physics.pml.width=6",
    "physics.sources=4",
    "physics.receivers=12",
    "physics.source_radius=1.75e-3",
    "physics.receiver_radius=1.6e-3",
    "physics.roi_radius=1.1e-3",
    "physics.inclusions=[{centre: [0.2e-3, 0.1e-3], radius: 0.6e-3, sound_speed: "
    "1620.0}]",
]

# (config, overrides, iterations, bound on loss_final / loss_initial, summary
# entries that must be present); measured ratios in the comments. The shock
# tube runs Adam here (L-BFGS's line search doubles the compilation time).
CASES = {
    "shock_tube_inverse": (
        [*SHOCK_TUBE_SMALL, "optimize.optimizer={name: adam, learning_rate: 0.1}"],
        12,
        0.2,  # 0.12
        (
            "parameters_true",
            "parameters_recovered",
            "parameter_errors_final",
            "max_parameter_error_final",
        ),
    ),
    "helmholtz_inclusion_inverse": (
        HELMHOLTZ_SMALL,
        4,
        0.05,  # 3.6e-3
        (
            "sound_speed_relative_error_initial",
            "sound_speed_relative_error_final",
            "contrast_relative_error_final",
        ),
    ),
}


def _directional_check(problem, key, eps):
    """`grad . v` against `(L(p + eps v) - L(p - eps v)) / (2 eps)` along a
    random unit `v`."""
    flat, unravel = ravel_pytree(problem.params)
    v = jax.random.normal(key, flat.shape, flat.dtype)
    v = v / jnp.linalg.norm(v)
    value_and_grad = jax.jit(
        jax.value_and_grad(lambda f: problem.loss(unravel(f)))
    )  # one compilation for both

    def loss(f):
        return value_and_grad(f)[0]

    _, grad = value_and_grad(flat)
    fd = (loss(flat + eps * v) - loss(flat - eps * v)) / (2 * eps)
    return float(grad @ v), float(fd)


def test_shock_tube_gradient_matches_finite_differences():
    config, physics, scenario = load_config(
        "configs/shock_tube_inverse.yaml", SHOCK_TUBE_SMALL
    )
    problem = build_problem(scenario, config, physics)
    ad, fd = _directional_check(problem, jax.random.key(1), eps=1e-5)
    assert abs(ad) > 1e-3  # the initial guess is far off: a real slope
    assert ad == pytest.approx(fd, rel=1e-7)  # measured 4e-11
    # the parameter transform keeps the states physical for any unconstrained value
    wild = jax.tree.map(lambda x: x - 30.0, problem.params)
    states = np.asarray(wild.primitive_states())
    assert float(wild.gamma) > 1.0 and np.all(states[:, [0, 2]] > 0)


def test_helmholtz_gradient_matches_finite_differences():
    config, physics, scenario = load_config(
        "configs/helmholtz_inclusion_inverse.yaml",
        [*HELMHOLTZ_SMALL, "solver.rtol=1e-12"],
    )
    problem = build_problem(scenario, config, physics)
    # away from the uniform start, where the TV term is smooth and the misfit curved
    problem = eqx.tree_at(
        lambda p: p.params,
        problem,
        problem.params
        + 0.3 * jax.random.normal(jax.random.key(2), problem.params.shape),
    )
    # eps = 1e-3: the solves' residual (1e-12) divided by eps limits finite
    # differences (7e-7 at eps = 1e-5); the O(eps^2) truncation is smaller
    ad, fd = _directional_check(problem, jax.random.key(1), eps=1e-3)
    assert abs(ad) > 1e-3
    assert ad == pytest.approx(
        fd, rel=1e-6
    )  # measured 4e-9 (implicit adjoint of BiCGStab to 1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_config_optimizes_from_the_cli(name, tmp_path):
    overrides, iterations, ratio, keys = CASES[name]
    code = main(
        [
            "optimize",
            f"configs/{name}.yaml",
            *overrides,
            f"optimize.iterations={iterations}",
            "--no-plots",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["iterations"] == iterations and summary["status"] == "ok"
    for key in ("loss_initial", "loss_final", "wall_s", *keys):
        assert key in summary, key
    assert summary["loss_final"] < ratio * summary["loss_initial"], (
        summary["loss_initial"],
        summary["loss_final"],
    )
    if name == "helmholtz_inclusion_inverse":
        assert summary["contrast_relative_error_initial"] == pytest.approx(
            1.0
        )  # the start is the background medium
        assert (
            summary["sound_speed_relative_error_final"]
            < summary["sound_speed_relative_error_initial"]
        )
    assert (tmp_path / "fields.nc").exists() and (tmp_path / "params.eqx").exists()


def test_bad_settings_are_config_errors():
    """Refused by load_config (the scenario's validate), before anything is built."""
    with pytest.raises(ConfigError, match="time.dt"):
        load_config(
            "configs/shock_tube_inverse.yaml", [*SHOCK_TUBE_SMALL, "time.dt=0.05"]
        )
    with pytest.raises(ConfigError, match="physics.sensors"):
        load_config(
            "configs/shock_tube_inverse.yaml",
            [*SHOCK_TUBE_SMALL, "physics.sensors=[1.5]"],
        )
    with pytest.raises(ConfigError, match="physics.source_radius"):
        load_config(
            "configs/helmholtz_inclusion_inverse.yaml",
            [*HELMHOLTZ_SMALL, "physics.source_radius=2.5e-3"],
        )
    with pytest.raises(ConfigError, match="physics.inclusions.0.sound_speed"):
        load_config(
            "configs/helmholtz_inclusion_inverse.yaml",
            [*HELMHOLTZ_SMALL, "physics.c_max=1600"],
        )  # inclusion above c_max
