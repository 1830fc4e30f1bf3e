"""Ensembles (`batch:`): one vmapped solve sharded over the 4 host devices,
equal to the members' own runs, its files, config errors, gradients."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from jax.sharding import NamedSharding, PartitionSpec

from diffsim import RK4, Ensemble, batch_mesh, solve
from diffsim.internal import NotBatchable
from diffsim.jobs import ConfigError, load_config
from diffsim.jobs.cli import main
from diffsim.jobs.config import flatten_member
from diffsim.jobs.march import BatchedMarch, FixedSteps, step_rule
from diffsim.jobs.run import run
from diffsim.operators import Burgers, FourierSpectral, Grid, discretize

BURGERS = {
    "scenario": "burgers_shock",
    "grid": {"cells": [32]},
    "time": {"t_end": 0.2, "dt": 0.01, "snapshots": 2},
    "stepper": "etdrk4",
    "physics": {"nu": 0.1, "amplitude": 1.0},
    "batch": {
        "members": [
            {"physics.nu": 0.05},
            {"physics": {"nu": 0.1, "amplitude": 0.5}},
            {"physics.nu": 0.2},
        ]
    },
}
SOD = {
    "scenario": "sod",
    "grid": {"cells": [32]},
    "time": {"t_end": 0.04, "cfl": 0.5, "snapshots": 2},
    "scheme": {"reconstruction": "muscl", "riemann": "hll", "variables": "primitive"},
    "batch": {"members": [{"physics.left.2": 0.5}, {"physics.left": [1.0, 0.0, 2.0]}]},
}


def _dump(tmp_path, name, config):
    import yaml

    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _unbatched(config, index, out):
    """Member `index` run on its own, through the ordinary (unbatched) path."""
    member = {key: value for key, value in config.items() if key != "batch"}
    values = flatten_member(config["batch"]["members"][index])
    run(
        *load_config(member, [f"{k}={json.dumps(v)}" for k, v in values.items()]),
        out,
        plots=False,
    )
    return xr.open_dataset(out / "fields.nc", engine="h5netcdf").load()


@pytest.fixture(scope="module")
def burgers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("burgers_batch")
    assert main(["run", _dump(tmp, "b", BURGERS), "--out", str(tmp / "out")]) == 0
    return tmp / "out"


def test_batched_run_equals_member_runs_and_writes_batch_outputs(burgers, tmp_path):
    ds = xr.open_dataset(burgers / "fields.nc", engine="h5netcdf").load()
    assert (
        ds["velocity_x"].dims == ("batch", "t", "x") and ds.sizes["batch"] == 3
    )  # padding to 4 devices is dropped
    np.testing.assert_array_equal(ds["physics.nu"].values, [0.05, 0.1, 0.2])
    np.testing.assert_array_equal(ds["physics.amplitude"].values, [1.0, 0.5, 1.0])
    for i in range(3):
        single = _unbatched(BURGERS, i, tmp_path / f"m{i}")
        np.testing.assert_allclose(
            ds["velocity_x"].values[i], single["velocity_x"].values, rtol=0, atol=1e-13
        )

    summary = json.loads((burgers / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["steps"] == 20
    assert summary["batch"] == {
        "size": 3,
        "devices": 4,
        "padded_to": 4,
        "keys": ["physics.amplitude", "physics.nu"],
    }
    assert [
        (m["member"], m["physics.nu"], m["physics.amplitude"], m["steps"])
        for m in summary["members"]
    ] == [(0, 0.05, 1.0, 20), (1, 0.1, 0.5, 20), (2, 0.2, 1.0, 20)]
    for m in summary["members"]:
        assert (
            m["errors"]["l2_relative"] < 1e-6
        )  # against Cole-Hopf; measured 4e-8 at nu = 0.05
    assert summary["errors"]["l2_relative"] == max(
        m["errors"]["l2_relative"] for m in summary["members"]
    )
    assert summary["cell_updates_per_s"] == pytest.approx(32 * 60 / summary["run_s"])
    assert (
        summary["plots"] == ["plots/ensemble_final.png"]
        and (burgers / "plots/ensemble_final.png").stat().st_size > 10_000
    )


def test_cfl_batch_each_member_takes_its_own_steps(tmp_path):
    """Sod tubes with left pressures 0.5 and 2 under CFL control: each member
    equals its own run (steps and fields), padded from 2 to 4 devices."""
    summary = run(*load_config(SOD), tmp_path / "batch", plots=False)
    ds = xr.open_dataset(tmp_path / "batch/fields.nc", engine="h5netcdf").load()
    assert ds["physics.left"].dims == ("batch", "physics.left_index")
    np.testing.assert_array_equal(
        ds["physics.left"].values, [[1.0, 0.0, 0.5], [1.0, 0.0, 2.0]]
    )
    steps = []
    member = {k: v for k, v in SOD.items() if k != "batch"}
    for i, left in enumerate(["[1.0, 0.0, 0.5]", "[1.0, 0.0, 2.0]"]):
        single = run(
            *load_config(member, [f"physics.left={left}"]),
            tmp_path / f"m{i}",
            plots=False,
        )
        one = xr.open_dataset(tmp_path / f"m{i}/fields.nc", engine="h5netcdf").load()
        for name in ("density", "velocity_x", "pressure"):
            np.testing.assert_allclose(
                ds[name].values[i], one[name].values, rtol=0, atol=1e-12
            )
        assert summary["members"][i]["steps"] == single["steps"]
        steps.append(single["steps"])
    assert steps[0] < steps[1]  # the stronger tube needs smaller steps
    assert summary["batch"]["padded_to"] == 4 and summary["steps"] == max(steps)


def _burgers_ensemble(nus, cells=16):
    grid = Grid([cells], [0.0], [2 * np.pi])
    (x,) = grid.coordinates
    ops = [discretize(Burgers(nu=nu), FourierSpectral(grid)) for nu in nus]
    return Ensemble.stack(
        ops, [(1.0 + 0.1 * i) * np.sin(x)[None] for i in range(len(nus))]
    )


def test_batch_axis_is_sharded_across_the_devices():
    ens = _burgers_ensemble([0.05, 0.1, 0.15, 0.2, 0.25])
    assert ens.batched == (True,) and ens.size == 5  # nu stacked; the grid is static
    mesh = batch_mesh()
    padded = ens.pad(4).shard(mesh)
    assert padded.size == 8
    config, _, _ = load_config(
        {**BURGERS, "time": {"t_end": 0.1, "dt": 0.01, "snapshots": 1}}
    )
    ops = [ens.member(i)[0] for i in range(ens.size)]
    march = BatchedMarch(
        step_rule(config, RK4()),
        padded,
        NamedSharding(mesh, PartitionSpec("batch")),
        ens.size,
        ops,
        ("u",),
        [None] * ens.size,
    )
    assert isinstance(march.rule, FixedSteps) and march.dt == 0.01
    y, taken = march.advance(padded.initial, 0.0, 0.1)
    assert isinstance(y.sharding, NamedSharding) and y.sharding.spec == PartitionSpec(
        "batch"
    )
    assert len(y.sharding.device_set) == 4 == jax.device_count()
    assert sorted(s.data.shape for s in y.addressable_shards) == [(2, 1, 16)] * 4
    assert list(taken) == [10] * 5  # the padding is not counted
    for i in (0, 4, 7):  # padding repeats the last member
        op, y0 = ens.member(min(i, 4))
        ref = solve(op, RK4(), y0, dt=0.01, num_steps=10).ys[-1]
        np.testing.assert_allclose(y[i], ref, rtol=0, atol=1e-14)


def test_members_differing_in_static_structure_are_rejected():
    grid, fine = Grid([16], [0.0], [2 * np.pi]), Grid([32], [0.0], [2 * np.pi])
    with pytest.raises(
        NotBatchable,
        match="member 1 is not batchable with member 0: its operator differs in "
        "static structure",
    ):
        Ensemble.stack(
            [
                discretize(Burgers(nu=0.1), FourierSpectral(grid)),
                discretize(Burgers(nu=0.1), FourierSpectral(fine)),
            ],
            [np.zeros((1, 16)), np.zeros((1, 32))],
        )
    with pytest.raises(
        NotBatchable, match=r"member 1 .* initial fields of shape \(1, 8\)"
    ):
        Ensemble.stack(
            [discretize(Burgers(nu=0.1), FourierSpectral(grid))] * 2,
            [np.zeros((1, 16)), np.zeros((1, 8))],
        )


def test_gradient_of_batched_loss_matches_finite_differences():
    """d/d nu_m of the mean over members of sum(u_m(T)^2) / cells, through the
    vmapped rollout with the batch sharded over 4 devices, float64."""
    nus = jnp.array([0.05, 0.1, 0.15, 0.2])
    ens = _burgers_ensemble(nus).shard(batch_mesh())

    @jax.jit
    def loss(nu):
        e = eqx.tree_at(lambda e: e.operator.physics.nu, ens, nu)
        u = e.map(lambda op, y0: solve(op, RK4(), y0, dt=0.02, num_steps=15).ys[-1])
        return jnp.mean(jnp.sum(u**2, axis=(1, 2)) / 16)

    grad = jax.grad(loss)(nus)
    eps = 1e-6
    for m in range(4):
        step = jnp.zeros(4).at[m].set(eps)
        fd = (loss(nus + step) - loss(nus - step)) / (2 * eps)
        np.testing.assert_allclose(grad[m], fd, rtol=1e-7)
    assert np.all(grad < 0)  # more viscosity, less energy
    # the whole ensemble's gradient as a pytree, initial data included
    g = eqx.filter_jit(
        eqx.filter_grad(
            lambda e: jnp.mean(
                e.map(lambda op, y0: solve(op, RK4(), y0, dt=0.02, num_steps=3).ys[-1])
                ** 2
            )
        )
    )(ens)
    assert g.operator.physics.nu.shape == (4,) and g.initial.shape == (4, 1, 16)


def test_non_physical_member_is_named(tmp_path, capsys):
    """Explicit RK4 at nu = 20 is unstable (dt nu k^2 >> 2.8): member 1 fails,
    the batch stops there and the error names the member, step and cell."""
    config = {
        **BURGERS,
        "stepper": "rk4",
        "batch": {"members": [{"physics.nu": 0.1}, {"physics.nu": 20.0}]},
    }
    code = main(
        [
            "run",
            _dump(tmp_path, "bad", config),
            "--no-plots",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 3
    err = capsys.readouterr().err
    assert (
        "member 1 (physics.nu=20.0) failed at step" in err
        and "field 'velocity_x' is" in err
        and "at cell (" in err
    )
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["status"] == "failed" and summary["failure"]["member"] == 1
    assert 1 <= summary["failure"]["step"] <= 10 and summary["t_final"] == 0.0


@pytest.mark.parametrize(
    "batch, key",
    [
        (
            {"members": [{"physics.nu": 0.1}, {"grid.cells": [64]}]},
            "batch.members.1.grid.cells",
        ),
        ({"members": [{"grid": {"cells": [64]}}]}, "batch.members.0.grid.cells"),
        (
            {"size": 4, "vary": {"time.t_end": {"uniform": [1, 2]}}},
            "batch.vary.time.t_end",
        ),
        ({"members": [{"physics.nuu": 0.1}]}, "batch.members.0.physics.nuu"),
        ({"members": [{"physics.nu": -0.1}]}, "batch.members.0.physics.nu"),
        (
            {"size": 64, "vary": {"physics.nu": {"normal": [0.05, 0.1]}}},
            "batch.vary.physics.nu",
        ),
        (
            {"size": 4, "vary": {"physics.nu": {"uniform": [0.2, 0.1]}}},
            "batch.vary.physics.nu.uniform",
        ),
        (
            {
                "size": 4,
                "vary": {"physics.nu": {"uniform": [0.1, 0.2], "normal": [0, 1]}},
            },
            "batch.vary.physics.nu.normal",
        ),
        ({"vary": {"physics.nu": {"uniform": [0.1, 0.2]}}}, "batch.size"),
        ({"size": 3, "members": [{"physics.nu": 0.1}]}, "batch.size"),
        (
            {
                "members": [{"physics.nu": 0.1}],
                "vary": {"physics.nu": {"uniform": [0.1, 0.2]}},
            },
            "batch.vary.physics.nu",
        ),
        ({"members": []}, "batch.members"),
        ({"size": 2}, "batch.vary"),
        ({"members": [{"physics.nu": 0.1}], "devices": 2}, "batch.devices"),
        ({"members": [{"physics.nu": 0.1}]}, "parallel.mesh"),
    ],
)
def test_config_errors_name_the_key(batch, key):
    parallel = {"parallel": {"mesh": [2]}} if key == "parallel.mesh" else {}
    with pytest.raises(ConfigError) as info:
        load_config({**BURGERS, **parallel, "batch": batch})
    assert info.value.key == key, str(info.value)


def test_config_errors_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "out"
    bad = {
        **SOD,
        "batch": {"members": [{"physics.left.2": 0.5}, {"physics.left.7": 1.0}]},
    }
    assert main(["run", _dump(tmp_path, "sod", bad), "--out", str(out)]) == 2
    assert (
        "batch.members.1.physics.left.7: physics.left is a list of 3 entries"
        in capsys.readouterr().err
    )
    assert (
        main(["run", "configs/sod_ensemble.yaml", "batch.size=3", "--out", str(out)])
        == 2
    )
    assert "batch.size: 5 members are listed but size is 3" in capsys.readouterr().err
    assert (
        main(
            [
                "run",
                "configs/helmholtz_point_source.yaml",
                "batch.members=[{physics.omega: 2.0}]",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert (
        "batch: scenario helmholtz_point_source is not time-dependent"
        in capsys.readouterr().err
    )
    assert not out.exists()  # rejected before anything ran


def test_random_members_are_drawn_reproducibly():
    from diffsim.jobs.config import member_configs

    config, _, scenario = load_config(
        {
            **BURGERS,
            "batch": {
                "size": 6,
                "seed": 3,
                "vary": {
                    "physics.nu": {"loguniform": [0.01, 0.1]},
                    "seed": {"integers": [0, 100]},
                },
            },
        }
    )
    members = member_configs(config, scenario)
    nus = [m.physics.nu for m in members]
    assert len(set(nus)) == 6 and all(0.01 <= nu <= 0.1 for nu in nus)
    assert all(
        0 <= m.config.seed < 100 and m.value("seed") == m.config.seed for m in members
    )
    again = member_configs(config, scenario)
    assert [m.values for m in again] == [m.values for m in members]
    assert all(
        m.config.physics["amplitude"] == 1.0 for m in members
    )  # unvaried keys keep the run's value


def test_example_configs_validate():
    for path, size in (
        ("configs/burgers_ensemble.yaml", 16),
        ("configs/sod_ensemble.yaml", 5),
    ):
        config, _, _ = load_config(path)
        assert config.batch is not None and config.batch.count == size


def test_optimize_and_gradcheck_refuse_a_batch_section(tmp_path, capsys):
    from diffsim.jobs.cli import main

    for command in ("optimize", "gradcheck"):
        args = [
            command,
            "configs/burgers_inverse.yaml",
            "batch.size=2",
            "batch.vary.physics.nu.uniform=[0.01,0.02]",
        ]
        if command == "optimize":
            args += ["--out", str(tmp_path / "o")]
        assert main(args) == 2
        assert "batch" in capsys.readouterr().err
