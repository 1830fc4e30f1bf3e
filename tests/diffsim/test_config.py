"""Config parsing, overrides, defaults and step arithmetic."""

from pathlib import Path

import pytest

from diffsim.jobs import ConfigError, load_config
from diffsim.jobs.config import parse_override
from diffsim.operators import WENO5JS, WENO5Z, Euler
from diffsim.scenarios import kdv_two_soliton, taylor_green


@pytest.mark.parametrize(
    "text, path, value",
    [
        ("grid.cells=[512]", ["grid", "cells"], [512]),
        ("grid.cells=[64, 32]", ["grid", "cells"], [64, 32]),
        ("time.t_end=2.0", ["time", "t_end"], 2.0),
        (
            "time.dt=1e-3",
            ["time", "dt"],
            1e-3,
        ),  # a number (YAML 1.2), not the string PyYAML 1.1 makes of it
        ("precision=float64", ["precision"], "float64"),
        ("physics.initial=random", ["physics", "initial"], "random"),
    ],
)
def test_parse_override(text, path, value):
    assert parse_override(text) == (path, value)


def test_overrides_and_defaults_resolve():
    config, physics, scenario = load_config(
        "configs/kdv_two_soliton.yaml",
        ["time.dt=1e-3", "grid.cells=[128]", "physics.kappa2=0.5"],
    )
    assert scenario.name == "kdv_two_soliton"
    assert config.time is not None
    assert isinstance(physics, kdv_two_soliton.Physics)
    assert config.time.dt == 1e-3 and config.grid.cells == [128]
    assert physics.kappa2 == 0.5 and physics.kappa1 == 1.0
    assert config.physics == {"kappa1": 1.0, "kappa2": 0.5, "x1": -12.0, "x2": -4.0}


def test_minimal_config_gets_scenario_defaults():
    config, physics, _ = load_config({"scenario": "taylor_green"})
    assert config.grid.cells == [64, 64] and config.stepper == "etdrk4"
    assert isinstance(physics, taylor_green.Physics)
    assert physics.nu == 0.01


@pytest.mark.parametrize(
    "t_end, dt, snapshots, steps, dt_used",
    [
        (1.0, 0.1, 10, 10, 0.1),
        (1.0, 0.3, 1, 4, 0.25),  # dt is a maximum: rounded down to fit t_end
        (1.0, 0.1, 4, 12, 1.0 / 12),  # and steps are a multiple of snapshots
        (6.0, 2e-3, 120, 3000, 2e-3),
    ],
)
def test_step_arithmetic(t_end, dt, snapshots, steps, dt_used):
    config, _, _ = load_config(
        {
            "scenario": "taylor_green",
            "time": {"t_end": t_end, "dt": dt, "snapshots": snapshots},
        }
    )
    assert config.num_steps == steps
    assert config.dt == pytest.approx(dt_used, rel=1e-14)
    assert config.dt <= dt * (1 + 1e-14)


@pytest.mark.parametrize(
    "raw, key",
    [
        ({}, "scenario"),
        ({"scenario": "taylor_green", "grid": 3}, "grid"),
        (
            {
                "scenario": "taylor_green",
                "grid": {"cells": [8, 8], "lower": [1, 1], "upper": [0, 2]},
            },
            "grid.upper",
        ),
        ({"scenario": "taylor_green", "seed": -1}, "seed"),
        ({"scenario": "taylor_green", "time": {"t_end": "soon"}}, "time.t_end"),
        ({"scenario": "taylor_green", "physics": {"nu": float("nan")}}, "physics.nu"),
        ({"scenario": "taylor_green", "time": {"cfl": 0.5}}, "time.cfl"),
        ({"scenario": "taylor_green", "time": {"dt": None}}, "time.dt"),
        ({"scenario": "taylor_green", "scheme": {"riemann": "hllc"}}, "scheme.riemann"),
        ({"scenario": "sod", "scheme": {"weno_eps": -1}}, "scheme.weno_eps"),
        (
            {
                "scenario": "sod",
                "scheme": {"reconstruction": "muscl", "weno_eps": 1e-6},
            },
            "scheme.weno_eps",
        ),  # the sub-key, not the section
        ({"scenario": "sod", "scheme": {"limiter": "minmod"}}, "scheme.limiter"),
        (
            {"scenario": "taylor_green", "grid": {"cells": [True, 8]}},
            "grid.cells.0",
        ),  # a bool is not an int
        (
            {
                "scenario": "taylor_green",
                "time": {"t_end": 1.0, "dt": 0.1, "snapshots": 2.0},
            },
            "time.snapshots",
        ),
    ],
)
def test_errors_name_the_key(raw, key):
    with pytest.raises(ConfigError) as info:
        load_config(raw)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}: ")


def test_override_into_a_value_is_an_error():
    with pytest.raises(ConfigError, match="precision: is a value, not a section"):
        load_config("configs/kdv_two_soliton.yaml", ["precision.x=1"])


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("configs/nope.yaml")


@pytest.mark.parametrize(
    "path", sorted(Path("configs").glob("*.yaml")), ids=lambda p: p.stem
)
def test_resolved_config_loads_back_unchanged(path, tmp_path):
    """config.yaml as a job writes it is itself a valid config (users rerun
    `diffsim run OUT/config.yaml`), and resolves to the same thing."""
    from diffsim.jobs.config import resolved_dict
    from diffsim.jobs.io import write_yaml

    config, _, _ = load_config(path, [])
    write_yaml(tmp_path / "config.yaml", resolved_dict(config))
    again, _, _ = load_config(tmp_path / "config.yaml", [])
    assert resolved_dict(again) == resolved_dict(config)


def test_weno_eps_reaches_the_reconstruction():
    from diffsim.jobs import build_setup

    config, physics, scenario = load_config(
        {"scenario": "sod", "scheme": {"weno_eps": 1e-40}}
    )
    setup = build_setup(scenario, config, physics)
    assert isinstance(setup.operator, Euler)
    assert isinstance(setup.operator.reconstruction, (WENO5JS, WENO5Z))
    assert setup.operator.reconstruction.eps == 1e-40
    config, physics, scenario = load_config({"scenario": "sod"})
    setup = build_setup(scenario, config, physics)
    assert isinstance(setup.operator, Euler)
    assert isinstance(setup.operator.reconstruction, (WENO5JS, WENO5Z))
    assert setup.operator.reconstruction.eps == 1e-6
