"""Every scenario config runs at reduced size; exact references are matched."""

import json
from pathlib import Path

import numpy as np
import pytest

from diffsim.jobs import TimeDependentScenario, load_config, registry
from diffsim.jobs.run import run
from diffsim.scenarios.burgers_shock import cole_hopf_sine
from diffsim.scenarios.kdv_two_soliton import two_soliton

CONFIGS = sorted(Path("configs").glob("*.yaml"))

# reduced overrides, and bounds on the reported errors where there is an exact solution
REDUCED = {
    "ks_chaos": (["grid.cells=[64]", "time.t_end=5", "time.snapshots=5"], {}),
    "burgers_shock": (
        ["grid.cells=[256]", "physics.nu=0.05", "time.t_end=1.5", "time.snapshots=3"],
        {"l2_relative": 1e-6},
    ),
    "burgers_inverse": (["grid.cells=[32]", "time.t_end=0.5"], {}),
    "kdv_two_soliton": (
        ["grid.cells=[256]", "time.t_end=4.0", "time.snapshots=4"],
        {"l2_relative": 1e-4},
    ),
    "taylor_green": (
        ["grid.cells=[16,16]", "time.t_end=2", "time.snapshots=2"],
        {"l2_relative": 1e-12},
    ),
    "kolmogorov_flow": (
        ["grid.cells=[32,32]", "time.t_end=0.5", "time.snapshots=2"],
        {},
    ),
    "decaying_turbulence": (
        [
            "grid.cells=[32,32]",
            "time.t_end=0.5",
            "time.snapshots=2",
            "physics.peak_wavenumber=3",
        ],
        {},
    ),
    # finite volumes: coarse grids, so the bounds are loose (measured values in
    # the comments)
    "sod": (["grid.cells=[50]", "time.snapshots=2"], {"l1_density": 0.02}),  # 9.4e-3
    "lax": (["grid.cells=[50]", "time.snapshots=2"], {"l1_density": 0.04}),
    "water_shock_tube": (  # 3.26 kg/m^3 (density range 224)
        ["grid.cells=[50]", "time.snapshots=2"],
        {"l1_density": 5.0},
    ),
    "shu_osher": (["grid.cells=[100]", "time.t_end=0.2", "time.snapshots=1"], {}),
    "woodward_colella": (
        ["grid.cells=[100]", "time.t_end=0.005", "time.snapshots=1"],
        {},
    ),
    "isentropic_vortex": (
        ["grid.cells=[16,16]", "time.t_end=0.2", "time.snapshots=1"],
        {"l1_density": 0.01},
    ),
    "riemann_2d": (["grid.cells=[24,24]", "time.t_end=0.05", "time.snapshots=1"], {}),
    "kelvin_helmholtz": (
        ["grid.cells=[16,16]", "time.t_end=0.05", "time.snapshots=1"],
        {},
    ),
    "double_mach_reflection": (
        ["grid.cells=[32,8]", "time.t_end=0.01", "time.snapshots=1"],
        {},
    ),
    "acoustic_pulse_outflow": (  # non_reflecting: test_acoustic_pulse.py
        [
            "grid.cells=[16,16]",
            "time.t_end=0.2",
            "time.snapshots=1",
            "physics.outflow=zero_gradient",
        ],
        {},
    ),
    # compressible Navier-Stokes (their numbers: test_navier_stokes_scenarios.py)
    "taylor_green_viscous": (
        ["grid.cells=[8,8]", "time.t_end=0.05", "time.snapshots=2"],
        {},
    ),
    "couette_heating": (["time.t_end=0.05", "time.snapshots=2"], {}),
    "rayleigh_taylor": (
        ["grid.cells=[8,32]", "time.t_end=0.05", "time.snapshots=2"],
        {},
    ),
    "viscous_shock_tube": (
        ["grid.cells=[20,10]", "time.t_end=0.01", "time.snapshots=2"],
        {},
    ),
    "explosion_3d": (["grid.cells=[8,8,8]", "time.t_end=0.02", "time.snapshots=1"], {}),
    # pattern formation (physics written once): Fourier by default
    "allen_cahn": (["grid.cells=[32,32]", "time.t_end=1", "time.snapshots=2"], {}),
    "cahn_hilliard": (
        ["grid.cells=[32,32]", "time.t_end=0.005", "time.snapshots=2"],
        {},
    ),
    "gray_scott": (["grid.cells=[32,32]", "time.t_end=20", "time.snapshots=2"], {}),
    "swift_hohenberg": (
        ["grid.cells=[32,32]", "time.t_end=5", "time.snapshots=2"],
        {},
    ),
    "nls_soliton": (
        ["grid.cells=[256]", "time.t_end=1", "time.snapshots=2"],
        {"l2_relative": 1e-5},
    ),
    "shallow_water_dam_break": (
        ["grid.cells=[50]", "time.snapshots=1"],
        {"l1_height": 0.01, "l1_discharge": 0.02},  # 4.6e-3, 1.06e-2
    ),
    "shallow_water_circular_dam": (
        ["grid.cells=[16,16]", "time.t_end=0.03", "time.snapshots=1"],
        {},
    ),
    "shallow_water_standing_wave": (
        ["grid.cells=[16]", "time.t_end=0.1", "time.snapshots=1"],
        {"height_relative": 0.02},  # 6.9e-3
    ),
    "fisher_kpp_front": (["grid.cells=[120]", "time.t_end=4", "time.snapshots=2"], {}),
    "advection_diffusion": (
        ["grid.cells=[16]", "time.t_end=0.2", "time.snapshots=1"],
        {"l2_relative": 1e-6},  # 3.7e-7
    ),
}


def test_every_scenario_has_a_config():
    """Every config names a registered scenario, and every scenario has a
    config (ensemble variants and the like may add more)."""
    import yaml

    named = {yaml.safe_load(p.read_text())["scenario"] for p in CONFIGS}
    assert named == set(registry())
    # time-dependent ones run here; steady (Helmholtz) ones in
    # test_helmholtz_scenarios.py
    assert set(REDUCED) == {
        n for n, s in registry().items() if issubclass(s, TimeDependentScenario)
    }
    # time-dependent ones run here; steady (Helmholtz) ones in
    # test_helmholtz_scenarios.py
    assert set(REDUCED) == {
        n for n, s in registry().items() if issubclass(s, TimeDependentScenario)
    }


@pytest.mark.parametrize(
    "path", [p for p in CONFIGS if p.stem in REDUCED], ids=lambda p: p.stem
)
def test_config_runs_at_reduced_size(path, tmp_path):
    overrides, bounds = REDUCED[path.stem]
    config, physics, scenario = load_config(path, overrides)
    summary = run(config, physics, scenario, tmp_path, plots=False)
    assert summary["status"] == "ok"
    assert config.time is not None
    assert summary["t_final"] == pytest.approx(config.time.t_end, rel=1e-12)
    saved = json.loads((tmp_path / "summary.json").read_text())
    if config.num_steps is not None:
        assert saved["steps"] == summary["steps"] == config.num_steps
    else:  # CFL stepping: at least t_end / (largest admissible step) steps
        assert saved["steps"] >= 1 and saved["cfl"] == config.time.cfl
    assert saved.get("errors", {}).keys() >= bounds.keys()
    if not bounds:
        assert "errors" not in saved
    for name, bound in bounds.items():
        assert saved["errors"][name] < bound, (name, saved["errors"][name])


def test_cole_hopf_reference_is_a_burgers_solution():
    """Independent check of the reference: residual of u_t + u u_x - nu u_xx
    by finite differences."""
    nu, t, h = 0.05, 0.7, 1e-3
    x = np.linspace(0.0, 2 * np.pi, 201)[1:-1]
    u = lambda x, t: cole_hopf_sine(x, t, nu, 1.0)
    u_t = (u(x, t + h) - u(x, t - h)) / (2 * h)
    u_x = (u(x + h, t) - u(x - h, t)) / (2 * h)
    u_xx = (u(x + h, t) - 2 * u(x, t) + u(x - h, t)) / h**2
    residual = u_t + u(x, t) * u_x - nu * u_xx
    assert np.max(np.abs(residual)) < 1e-4 * np.max(np.abs(u_xx))
    np.testing.assert_allclose(u(x, 1e-8), np.sin(x), atol=1e-6)


def test_two_soliton_reference_is_a_kdv_solution():
    x = np.linspace(-20.0, 20.0, 401)
    h = 1e-3
    p = dict(kappa1=1.0, kappa2=0.6, x1=-6.0, x2=0.0)
    u = lambda x, t: two_soliton(x, t, **p)
    t = 1.5  # mid-collision
    u_t = (u(x, t + h) - u(x, t - h)) / (2 * h)
    u_x = (u(x + h, t) - u(x - h, t)) / (2 * h)
    u_xxx = (u(x + 2 * h, t) - 2 * u(x + h, t) + 2 * u(x - h, t) - u(x - 2 * h, t)) / (
        2 * h**3
    )
    residual = u_t + 6 * u(x, t) * u_x + u_xxx
    assert np.max(np.abs(residual)) < 1e-3 * np.max(np.abs(u_t))
    # far apart, each soliton is 2 kappa^2 sech^2(kappa (x - x_i - 4 kappa^2 t))
    # up to a phase shift
    far = np.linspace(-60.0, 20.0, 8001)
    assert u(far, -8.0).max() == pytest.approx(2.0, rel=1e-5)  # big one at about -38
    small = u(far, -8.0)[far > -25.0].max()
    assert small == pytest.approx(2 * 0.6**2, rel=1e-5)  # small one at about -11.5
