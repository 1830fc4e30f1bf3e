"""The Helmholtz scenario configs run at reduced size and match their exact
solutions; the acoustic lens is an inverse problem whose loss falls under Adam."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import xarray as xr

from diffsim.jobs import ConfigError, build_problem, load_config
from diffsim.jobs.run import run
from diffsim.scenarios.acoustic_lens import Physics as AcousticLensPhysics
from diffsim.scenarios.helmholtz_scattering import sphere_series

SMALL_2D = [
    "grid.cells=[64,64]",
    "grid.lower=[-3.2e-3,-3.2e-3]",
    "grid.upper=[3.2e-3,3.2e-3]",
    "physics.pml.width=16",
]
LENS_SMALL = [
    "grid.cells=[64,64]",
    "grid.lower=[-4.8e-3,-4.8e-3]",
    "grid.upper=[4.8e-3,4.8e-3]",
    "physics.pml.width=10",
    "physics.lens.centre=[-1.0e-3,0.0]",
    "physics.lens.size=[1.2e-3,4.0e-3]",
    "physics.target=[2.0e-3,0.0]",
    "physics.source_x=-2.8e-3",
]

# config, overrides, bounds on summary["errors"] (measured values in comments)
CASES = {
    "point_source_fourier": (
        "helmholtz_point_source",
        [*SMALL_2D, "physics.exclude_radius=8"],
        {"l2_relative": 2e-3},
    ),  # 4.3e-4
    "point_source_fd4": (
        "helmholtz_point_source",
        [
            *SMALL_2D,
            "physics.exclude_radius=8",
            "discretization=finite_difference",
            "fd_order=4",
        ],
        {"l2_relative": 4e-3},
    ),  # 9.2e-4
    "point_source_3d": (
        "helmholtz_point_source_3d",
        [
            "grid.cells=[32,32,32]",
            "grid.lower=[-2.4e-3,-2.4e-3,-2.4e-3]",
            "grid.upper=[2.4e-3,2.4e-3,2.4e-3]",
            "physics.pml.width=8",
            "physics.exclude_radius=5",
        ],
        {"l2_relative": 1.5e-2},
    ),  # 3.8e-3
    "scattering": (
        "helmholtz_scattering",
        [*SMALL_2D, "physics.inclusion.radius=0.8e-3"],
        {"l2_relative": 6e-3},
    ),  # 1.5e-3
    # sphere of radius 5 cells (ka = 2.1) on 32^3, 8-cell PML, against the
    # Mie-type series
    "scattering_3d": (
        "helmholtz_scattering_3d",
        [
            "grid.cells=[32,32,32]",
            "grid.lower=[-1.6e-3,-1.6e-3,-1.6e-3]",
            "grid.upper=[1.6e-3,1.6e-3,1.6e-3]",
            "physics.pml.width=8",
            "physics.inclusion.radius=0.5e-3",
        ],
        {"l2_relative": 4e-3, "max_relative": 8e-3},
    ),  # 1.4e-3, 2.6e-3
    "lens_initial_design": ("acoustic_lens", LENS_SMALL, {}),
}


def _sphere_series(points, *args):
    """`sphere_series` at `points` `(3, ...)`."""
    return sphere_series(points[0], points[1], points[2], *args)


@pytest.mark.parametrize("case", list(CASES))
def test_config_runs_at_reduced_size(case, tmp_path):
    name, overrides, bounds = CASES[case]
    config, physics, scenario = load_config(Path("configs") / f"{name}.yaml", overrides)
    summary = run(
        config, physics, scenario, tmp_path, plots=case == "point_source_fourier"
    )
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["status"] == "ok"
    for key in ("omega", "c0", "iterations", "relative_residual"):
        assert key in saved, key
    assert saved["relative_residual"] <= config.solver["rtol"]
    assert saved["omega"] == pytest.approx(2 * np.pi * 1e6)
    for key, bound in bounds.items():
        assert saved["errors"][key] < bound, (key, saved["errors"][key])
    if name == "acoustic_lens":
        assert saved["focal_gain"] == pytest.approx(
            1.0
        )  # the uniform initial design is no lens
    with xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf") as ds:
        assert {"pressure_real", "pressure_imag", "sound_speed"} <= set(ds.data_vars)
        assert set(ds["pressure_real"].dims) == set(
            ("x", "y", "z")[: len(config.grid.cells)]
        )
        assert ds["pressure_real"].shape == tuple(config.grid.cells)
    if summary.get("plots"):
        for path in summary["plots"]:
            assert (tmp_path / path).stat().st_size > 10_000


def test_sphere_series_is_exact():
    """The Mie-type series: no scatterer gives the incident wave; `p` and
    `(1/rho) dp/dr` are continuous at the surface; it solves the Helmholtz
    equation inside and outside (second differences, step 1e-6 m)."""
    k0, k1, rho0, rho1, a = (
        2 * np.pi / 1.5e-3,
        2 * np.pi / 1.8e-3,
        1000.0,
        1300.0,
        1.0e-3,
    )
    direction = np.array([0.0, 0.6, 0.8])
    pts = np.random.default_rng(0).uniform(-3e-3, 3e-3, (3, 40))
    assert_allclose = np.testing.assert_allclose
    assert_allclose(
        _sphere_series(pts, k0, k0, rho0, rho0, a, direction),
        np.exp(1j * k0 * direction @ pts),
        atol=1e-12,
    )
    u = np.array([0.48, -0.36, 0.8])  # a unit vector off the symmetry axis
    r = a * np.array([1 - 1e-8, 1 + 1e-8])
    p = _sphere_series((u[:, None] * r), k0, k1, rho0, rho1, a, direction)
    assert abs(p[1] - p[0]) < 1e-6 * abs(p[0])
    dr = 1e-7
    flux = [
        (
            _sphere_series(
                (u[:, None] * (rr + np.array([dr, -dr]))),
                k0,
                k1,
                rho0,
                rho1,
                a,
                direction,
            )
            @ [1, -1]
        )
        / (2 * dr)
        / rho
        for rr, rho in ((a - 2 * dr, rho1), (a + 2 * dr, rho0))
    ]
    assert abs(flux[1] - flux[0]) < 1e-3 * abs(flux[0])
    h = 1e-6
    for point, k in (
        (np.array([1.7e-3, 0.4e-3, -0.9e-3]), k0),
        (np.array([0.3e-3, 0.2e-3, -0.4e-3]), k1),
    ):
        f = lambda x: _sphere_series(x, k0, k1, rho0, rho1, a, direction)  # noqa: E731
        lap = (
            sum(f(point + h * e) - 2 * f(point) + f(point - h * e) for e in np.eye(3))
            / h**2
        )
        assert abs(lap + k**2 * f(point)) < 1e-4 * abs(k**2 * f(point))


def test_bad_positions_are_config_errors(tmp_path):
    """Refused by load_config (the scenario's validate), before anything is built."""
    with pytest.raises(ConfigError, match="physics.source_position"):
        load_config(
            "configs/helmholtz_point_source.yaml",
            [*SMALL_2D, "physics.source_position=[3.1e-3,0.0]"],
        )
    with pytest.raises(ConfigError, match="physics.target"):
        load_config(
            "configs/acoustic_lens.yaml", [*LENS_SMALL, "physics.target=[-1.0e-3,0.0]"]
        )
    with pytest.raises(ConfigError, match="physics.c_min"):
        load_config("configs/acoustic_lens.yaml", ["physics.c_min=1600.0"])


def test_lens_inverse_problem(tmp_path):
    """At reduced size: the loss is 0 at the initial design, its gradient
    (one forward + one adjoint solve) is finite and non-zero, a few Adam
    steps raise the focal intensity, and metrics, fields and figures come out."""
    config, physics, scenario = load_config("configs/acoustic_lens.yaml", LENS_SMALL)
    problem = build_problem(scenario, config, physics)
    value_and_grad = jax.jit(jax.value_and_grad(problem.loss))
    loss0, grad0 = value_and_grad(problem.params)
    assert abs(float(loss0)) < 1e-9
    assert (
        grad0.shape == problem.params.shape
        and bool(jnp.all(jnp.isfinite(grad0)))
        and float(jnp.abs(grad0).max()) > 0
    )

    optimizer = optax.adam(0.3)
    params, state = problem.params, optimizer.init(problem.params)

    @jax.jit
    def step(params, state):
        loss, grad = jax.value_and_grad(problem.loss)(params)
        updates, state = optimizer.update(grad, state, params)
        return optax.apply_updates(params, updates), state, loss

    losses = []
    for _ in range(6):
        params, state, loss = step(params, state)
        losses.append(float(loss))
    final = float(problem.loss(params))
    assert all(b < a for a, b in zip(losses, losses[1:] + [final])), (losses, final)
    assert final < -0.25, (
        losses,
        final,
    )  # focal intensity up by > 28 % in 6 steps (measured 42 %)

    metrics = problem.metrics(params)
    assert metrics["focal_gain"] == pytest.approx(np.exp(-final), rel=1e-6)
    for key in ("omega", "c0", "solver_iterations", "relative_residual"):
        assert key in metrics
    c_lo, c_hi = metrics["lens_sound_speed_range"]
    assert isinstance(physics, AcousticLensPhysics)
    assert physics.c_min <= c_lo <= c_hi <= physics.c_max
    fields = problem.fields(params)
    assert {"pressure_real", "pressure_imag", "sound_speed"} <= set(fields.data_vars)
    history = [{"iteration": i, "loss": v} for i, v in enumerate(losses)]
    paths = problem.plot(params, tmp_path, history)
    assert len(paths) >= 2 and all(Path(p).exists() for p in paths)
