"""`discretization:` and `boundary:` from config: every wrong choice is
refused when the config loads, naming the key (and the allowed values),
with exit 2 and nothing built or written; the right ones build the physics on
the chosen discretization with the configured walls, whose values are
differentiable leaves.

A test-local scenario (the heat equation `u_t = nu u_xx`, written once as an
`AbstractPhysics`) is registered for the duration of each test."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from diffsim.jobs import (
    BuildContext,
    ConfigError,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    load_config,
    register,
    unregister,
)
from diffsim.jobs.cli import main
from diffsim.jobs.config import resolved_dict
from diffsim.jobs.scenario import build_context
from diffsim.operators import Dirichlet, Neumann
from diffsim.operators.physics import (
    AbstractPhysics,
    FiniteVolumePDE,
    PeriodicFiniteDifferencePDE,
    WalledFiniteDifferencePDE,
)

NAME = "test_heat_discretization"
#: Every `build` of the test scenario, so that a test can assert that a
#: refused config built (and therefore compiled) nothing.
BUILDS: list[str] = []


class Heat(AbstractPhysics):
    """`u_t = nu u_xx`."""

    nu: float

    def field_names(self, ndim):
        return ("u",)

    def linear(self, u, d):
        return self.nu * d.laplacian(u)


class Hyperdiffusion(AbstractPhysics):
    """`u_t = -u_xxxx`: a fourth derivative, which walls cannot take."""

    def field_names(self, ndim):
        return ("u",)

    def linear(self, u, d):
        return -d.derivative(u, 0, 4)


class HeatConfig(PhysicsConfig):
    nu: float = 0.5
    hyper: bool = False


class HeatScenario(TimeDependentScenario):
    """`sin x` decaying as `exp(-nu t)`: exact on the periodic [0, 2 pi) and
    between the walls `u = 0` at 0 and pi."""

    name = NAME
    description = "heat equation from sin x (test)"
    ndim = 1
    cfl_steps = False
    discretizations = ("fourier", "finite_difference")
    Physics = HeatConfig
    defaults = {
        "grid": {"cells": [32], "lower": [0.0], "upper": [2 * np.pi]},
        "time": {"t_end": 0.5, "dt": 0.01, "snapshots": 2},
        "stepper": "etdrk4",
    }

    def build(self, ctx: BuildContext) -> Setup:
        BUILDS.append(ctx.config.discretization or "default")
        nu = ctx.physics.nu
        (x,) = ctx.grid.coordinates
        op = ctx.discretize(Hyperdiffusion() if ctx.physics.hyper else Heat(nu))

        def exact(t):
            return (np.sin(x) * np.exp(-nu * t))[None]

        return Setup(op, ctx.grid, np.sin(x)[None], exact)


@pytest.fixture(autouse=True)
def heat_scenario():
    register(HeatScenario)
    BUILDS.clear()
    yield
    unregister(NAME)


def _refused(overrides, scenario=NAME) -> str:
    with pytest.raises(ConfigError) as info:
        load_config({"scenario": scenario}, overrides)
    assert BUILDS == []
    return str(info.value)


WALLS = [
    "discretization=finite_difference",
    "grid.upper=[3.141592653589793]",
    "boundary.x.kind=dirichlet",
    "boundary.x.value=0.0",
]


@pytest.mark.parametrize(
    "scenario, overrides, message",
    [
        (
            NAME,
            ["discretization=finite_volume"],
            f"discretization: finite_volume is not available for {NAME}; allowed: "
            "fourier, finite_difference",
        ),
        (
            "helmholtz_point_source",
            ["discretization=finite_volume"],
            "discretization: finite_volume is not available for "
            "helmholtz_point_source; allowed: fourier, finite_difference",
        ),
        (
            "sod",
            ["discretization=fourier"],
            "discretization: fourier is not available for sod; allowed: none (the "
            "scenario fixes its discretization; remove the key)",
        ),
        (
            NAME,
            ["discretization=spectral"],
            "discretization: Input should be 'fourier', 'finite_difference' or "
            "'finite_volume' (got 'spectral')",
        ),
        # Fourier takes periodic boundaries only, and says which discretization
        # has walls
        (
            NAME,
            ["boundary.x.lower.kind=dirichlet", "boundary.x.lower.value=1.0"],
            "boundary.x.lower.kind: dirichlet is not available on fourier; allowed: "
            "periodic; use discretization: finite_difference for walls",
        ),
        (
            NAME,
            ["boundary.x.kind=neumann", "boundary.x.value=0.0"],
            "boundary.x.kind: neumann is not available on fourier; allowed: periodic",
        ),
        # a kind that does not exist, or not on finite differences
        (
            NAME,
            ["discretization=finite_difference", "boundary.x.upper.kind=wall"],
            "boundary.x.upper.kind: Input should be 'periodic', 'dirichlet', "
            "'neumann', 'robin', 'outflow', 'reflecting', 'inflow', 'no_slip', "
            "'non_reflecting' or 'total_inflow' (got 'wall')",
        ),
        (
            NAME,
            ["discretization=finite_difference", "boundary.x.kind=outflow"],
            "boundary.x.kind: outflow is not available on finite_difference; "
            "allowed: periodic, dirichlet, neumann, robin",
        ),
        # missing, superfluous and malformed numbers
        (
            NAME,
            ["discretization=finite_difference", "boundary.x.lower.kind=dirichlet"],
            "boundary.x.lower.value: required for kind dirichlet",
        ),
        (
            NAME,
            [
                "discretization=finite_difference",
                "boundary.x.kind=robin",
                "boundary.x.value=0.0",
                "boundary.x.alpha=1.0",
            ],
            "boundary.x.beta: required for kind robin (it takes alpha, beta, value)",
        ),
        (
            NAME,
            [
                "discretization=finite_difference",
                "boundary.x.kind=robin",
                "boundary.x.value=0.0",
                "boundary.x.alpha=0",
                "boundary.x.beta=0",
            ],
            "boundary.x.beta: alpha and beta must not both be zero",
        ),
        (
            NAME,
            ["boundary.x.kind=periodic", "boundary.x.value=1.0"],
            "boundary.x.value: kind periodic takes no numbers; remove it or set it "
            "to null",
        ),
        (
            NAME,
            [*WALLS[:3], "boundary.x.value=[0.0, 1.0]"],
            "boundary.x.value: expected one number for kind dirichlet, got a list",
        ),
        (
            NAME,
            [*WALLS[:3], "boundary.x.value=true"],
            "boundary.x.value: Input should be a valid number (got True)",
        ),
        (
            NAME,
            ["boundary.x.value=1.0"],
            "boundary.x.kind: required with value (the kind of both sides), or give "
            "lower/upper instead",
        ),
        (
            NAME,
            ["boundary.x.lower.kund=periodic"],
            "boundary.x.lower.kund: unknown key (did you mean kind?); valid keys: "
            "kind, value, alpha, beta",
        ),
        # geometry: periodic on one side only, an axis the grid lacks
        (
            NAME,
            [*WALLS, "boundary.x.upper.kind=periodic"],
            "boundary.x.upper.kind: periodic must be given on both sides of an axis "
            "or on neither (the other side is dirichlet)",
        ),
        (
            NAME,
            ["boundary.y.kind=periodic"],
            f"boundary.y: scenario {NAME} is 1D: its axes are x",
        ),
        # boundaries of scenarios that set their own
        (
            "euler_closure",
            ["boundary.x.kind=periodic"],
            "boundary: scenario euler_closure sets its own boundaries; the boundary: "
            "section applies to scenarios with a discretization: choice",
        ),
        (
            "helmholtz_point_source",
            ["boundary.x.kind=periodic"],
            "boundary: scenario helmholtz_point_source sets its own boundaries",
        ),
        # steppers and step rules that cannot serve the discretization
        (
            NAME,
            WALLS,
            "stepper: etdrk4 does not apply to test_heat_discretization (walls leave "
            "no linear part diagonal in Fourier space for an exponential integrator)",
        ),
        (
            NAME,
            ["stepper=imex_euler"],
            f"stepper: imex_euler does not apply to {NAME} (IMEX steppers serve "
            "finite differences with walls; on fourier the linear part is diagonal: "
            "use an exponential integrator): use one of euler, ssprk3, rk4, etdrk1",
        ),
        (
            NAME,
            ["time.dt=null", "time.cfl=0.5"],
            f"time.cfl: scenario {NAME} has no CFL condition on fourier (spectral)",
        ),
    ],
)
def test_refused_at_load_naming_the_key(scenario, overrides, message):
    assert _refused(overrides, scenario).startswith(message)


def test_cli_exit_2_before_anything_is_built(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "run",
            str(_config_file(tmp_path)),
            "discretization=finite_volume",
            "--out",
            str(out),
        ]
    )
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2
    assert err == [
        f"diffsim: config error: discretization: finite_volume is not available for "
        f"{NAME}; allowed: fourier, finite_difference"
    ]
    assert BUILDS == [] and not out.exists()
    code = main(
        [
            "run",
            str(_config_file(tmp_path)),
            "discretization=finite_difference",
            "boundary.x.lower.kind=dirichlet",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == (
        "diffsim: config error: boundary.x.lower.value: required for kind dirichlet"
    )
    assert BUILDS == [] and not out.exists()


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "heat.yaml"
    path.write_text(yaml.safe_dump({"scenario": NAME, "physics": {"nu": 0.5}}))
    return path


def test_overrides_resolve_and_reload_unchanged():
    """Command-line overrides build the section (a both-sides kind, one side
    replaced); the resolved config lists it without nulls and loads back as
    the same configuration. Without the section, config.yaml has no key."""
    config, _, _ = load_config(
        {"scenario": NAME},
        [
            *WALLS,
            "boundary.x.upper.kind=robin",
            "boundary.x.upper.alpha=1.0",
            "boundary.x.upper.beta=0.5",
            "boundary.x.upper.value=0.25",
            "stepper=rk4",
            "fd_order=6",
        ],
    )
    resolved = resolved_dict(config)
    assert resolved["boundary"] == {
        "x": {
            "kind": "dirichlet",
            "value": 0.0,
            "upper": {"kind": "robin", "value": 0.25, "alpha": 1.0, "beta": 0.5},
        }
    }
    assert resolved["discretization"] == "finite_difference"
    assert resolved["fd_order"] == 6
    again, _, _ = load_config(resolved)
    assert again == config
    assert config.boundary is not None
    lower, upper = config.boundary.sides(1)[0]
    assert lower is not None and upper is not None
    assert (lower.kind, lower.value) == ("dirichlet", 0.0)
    assert (upper.kind, upper.alpha, upper.beta) == ("robin", 1.0, 0.5)
    plain, _, _ = load_config({"scenario": NAME})
    assert not {"boundary", "discretization", "fd_order"} & resolved_dict(plain).keys()


def test_fourier_run_from_the_cli_matches_the_exact_solution(tmp_path, capsys):
    out = tmp_path / "fourier"
    assert (
        main(
            [
                "run",
                str(_config_file(tmp_path)),
                "boundary.x.kind=periodic",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = yaml.safe_load((out / "summary.json").read_text())
    assert summary["errors"]["linf"] < 1e-10
    assert BUILDS == ["default", "default"]  # precheck (a boundary: choice), run
    assert yaml.safe_load((out / "config.yaml").read_text())["boundary"] == {
        "x": {"kind": "periodic"}
    }
    capsys.readouterr()


def _context(overrides) -> BuildContext:
    config, physics, scenario = load_config({"scenario": NAME}, overrides)
    return build_context(config, physics, scenario)


def test_walls_reach_finite_differences_as_differentiable_leaves():
    """`boundary:` builds `FiniteDifference(order=fd_order, boundary=...)`
    with the configured kinds per side and the values as float64 arrays."""
    ctx = _context(
        [
            *WALLS,
            "stepper=imex_ars222",
            "boundary.x.upper.kind=neumann",
            "boundary.x.upper.value=-1.0",
            "fd_order=6",
        ]
    )
    op = ctx.discretize(Heat(0.5))
    assert isinstance(op, WalledFiniteDifferencePDE)
    disc = op.discretization
    lower, upper = disc.boundary[0]
    assert isinstance(lower, Dirichlet) and isinstance(upper, Neumann)
    assert isinstance(upper.value, jax.Array) and upper.value.dtype == jnp.float64
    assert (float(lower.value), float(upper.value), disc.order) == (0.0, -1.0, 6)
    # no boundary: section and finite differences: periodic (ETDRK-ready)
    periodic = _context(["discretization=finite_difference"]).discretize(Heat(0.5))
    assert isinstance(periodic, PeriodicFiniteDifferencePDE)


def test_walled_run_from_the_cli_matches_the_exact_solution(tmp_path, capsys):
    """`u_t = nu u_xx` between the walls u = 0 at 0 and pi (IMEX ARS(2,2,2),
    order-4 stencils) from the command line: sin x exp(-nu t) to the
    discretization error (measured 3.8e-9 with 32 cells; order 2: 1.6e-4)."""
    out = tmp_path / "walls"
    argv = ["run", str(_config_file(tmp_path)), *WALLS, "stepper=imex_ars222"]
    assert main([*argv, "--no-plots", "--out", str(out)]) == 0
    summary = yaml.safe_load((out / "summary.json").read_text())
    assert summary["errors"]["linf"] < 1e-6
    assert BUILDS == ["finite_difference"] * 2  # precheck, run
    capsys.readouterr()


def test_gradient_with_respect_to_a_configured_wall_value():
    """The heat equation with u(0) = 0 and u(pi) = g from config, 50 IMEX
    steps: d u(x_mid, t) / d g by reverse mode matches central finite
    differences (the value is a leaf of the operator)."""
    import equinox as eqx

    import diffsim

    ctx = _context(
        [
            *WALLS,
            "stepper=imex_euler",
            "boundary.x.upper.kind=dirichlet",
            "boundary.x.upper.value=2.0",
        ]
    )
    op = ctx.discretize(Heat(0.5))
    (x,) = ctx.grid.coordinates
    u0 = jnp.asarray(np.sin(x))[None]

    def probe(g):
        walled = eqx.tree_at(lambda o: o.discretization.boundary[0][1].value, op, g)
        sol = diffsim.solve(walled, diffsim.IMEXEuler(), u0, dt=0.01, num_steps=50)
        return sol.ys[-1, 0, 16]

    g = jnp.asarray(2.0)
    grad = jax.grad(probe)(g)
    eps = 1e-4
    fd = (probe(g + eps) - probe(g - eps)) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-7)
    assert 0.01 < float(grad) < 0.1  # measured 0.0321: the wall's heat reaches x_mid


def test_a_term_the_walls_cannot_take_is_refused_before_out_is_created(
    tmp_path, capsys
):
    """The build traces one evaluation (no compilation): a fourth derivative
    across a wall is a config error naming `boundary`, exit 2, no `--out`."""
    out = tmp_path / "out"
    argv = ["run", str(_config_file(tmp_path)), *WALLS, "physics.hyper=true"]
    code = main([*argv, "stepper=imex_euler", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert err.startswith(
        "diffsim: config error: boundary: Hyperdiffusion cannot run this way: finite "
        "differences with walls: derivative of order 4 along axis 0 is not defined"
    )


@pytest.mark.parametrize(
    "overrides, tolerance",
    [
        (["discretization=fourier"], 1e-10),  # measured 2.3e-12
        (["discretization=finite_difference", "fd_order=8"], 1e-7),  # 2.5e-8
        (["discretization=finite_volume", "stepper=ssprk3"], 5e-4),  # 1.7e-4
    ],
)
def test_burgers_shock_runs_on_every_discretization_from_the_cli(
    tmp_path, capsys, overrides, tolerance
):
    """The shipped spectral config switched by one override: viscous Burgers
    (128 cells, t = 0.5, before the shock) against the exact Cole-Hopf
    solution; WENO5-Z finite volumes evolve cell averages started from point
    values (a second-order difference), hence their larger error."""
    out = tmp_path / "burgers"
    argv = ["run", "configs/burgers_shock.yaml", *overrides, "grid.cells=[128]"]
    argv += ["time.t_end=0.5", "time.snapshots=5", "--no-plots", "--out", str(out)]
    assert main(argv) == 0
    summary = yaml.safe_load((out / "summary.json").read_text())
    assert summary["errors"]["linf"] < tolerance
    assert (
        yaml.safe_load((out / "config.yaml").read_text())["discretization"]
        == (overrides[0].split("=")[1])
    )
    capsys.readouterr()


FV = ["discretization=finite_volume", "stepper=ssprk3"]


def test_finite_volume_boundaries_and_scheme_from_config():
    """On finite volumes the FV-only kinds build their conditions (an inflow
    state as an array leaf), and the shared `scheme:` keys pick the
    reconstruction and the Riemann solver."""
    from diffsim.operators import HLL, MUSCL, InflowState, Outflow

    config, physics, scenario = load_config(
        {"scenario": "burgers_shock"},
        [
            *FV,
            "boundary.x.lower.kind=inflow",
            "boundary.x.lower.value=[0.5]",
            "boundary.x.upper.kind=outflow",
            "scheme.reconstruction=muscl",
            "scheme.limiter=van_leer",
            "scheme.riemann=hll",
        ],
    )
    ctx = build_context(config, physics, scenario)
    op = ctx.discretize(Heat(0.5))
    assert isinstance(op, FiniteVolumePDE)
    disc = op.discretization
    lower, upper = disc.boundary[0]
    assert isinstance(lower, InflowState) and isinstance(upper, Outflow)
    np.testing.assert_array_equal(lower.values, [0.5])
    assert isinstance(lower.values, jax.Array)
    assert isinstance(disc.reconstruction, MUSCL)
    assert disc.reconstruction.limiter == "van_leer"
    assert isinstance(disc.riemann, HLL)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            [*FV, "boundary.x.lower.kind=inflow", "boundary.x.lower.value=[1.0, 2.0]"],
            "boundary.x.lower.value: expected one number per field (1), got 2",
        ),
        (
            [*FV, "scheme.riemann=hllc"],
            "scheme.riemann: Input should be 'rusanov' or 'hll' (got 'hllc')",
        ),
        (
            [*FV, "scheme.limiter=minmod"],
            "scheme.limiter: applies to reconstruction=muscl only, not weno5z",
        ),
        (
            ["scheme.riemann=hll"],
            "scheme.riemann: unknown key; valid keys: none",
        ),
    ],
)
def test_finite_volume_keys_refused_at_load(overrides, message):
    assert _refused(overrides, "burgers_shock").startswith(message)


def test_a_wall_the_physics_cannot_mirror_is_refused_when_built():
    """`reflecting` needs the physics' mirror state (`reflect`); the test's
    heat equation has none, which the build finds before anything compiles,
    naming `boundary`."""
    config, physics, scenario = load_config(
        {"scenario": "burgers_shock"}, [*FV, "boundary.x.kind=reflecting"]
    )
    with pytest.raises(ConfigError) as info:
        build_context(config, physics, scenario).discretize(Heat(0.5))
    assert str(info.value) == (
        "boundary: FiniteVolume: a ReflectingWall needs Heat.reflect(u, axis) (the "
        "mirror state behind the wall), which it does not define"
    )


def test_scenario_listing_and_description_show_the_discretizations(capsys):
    from diffsim.jobs.config import describe_scenario

    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    burgers = next(line for line in lines if line.startswith("burgers_shock "))
    assert burgers.endswith("[fourier, finite_difference, finite_volume]")
    sod = next(line for line in lines if line.startswith("sod "))
    assert not sod.endswith("]")
    text = describe_scenario("ks_chaos")
    assert "discretization = fourier" in text
    assert "spatial discretization, one of: fourier, finite_difference" in text
    assert "boundary = periodic" in text
    assert "discretization = (fixed)" in describe_scenario("sod")


def test_fd_order_is_kept_when_finite_differences_are_the_default():
    """config.yaml keeps `fd_order` whenever finite differences are in effect,
    also as the scenario's default (no `discretization:` key), so it reruns
    as is."""

    class Walled(HeatScenario):
        name = "test_heat_fd_default"
        discretizations = ("finite_difference", "fourier")

    register(Walled)
    try:
        config, _, _ = load_config({"scenario": Walled.name}, ["fd_order=6"])
        assert resolved_dict(config)["fd_order"] == 6
        config, _, _ = load_config(
            {"scenario": Walled.name}, ["fd_order=6", "discretization=fourier"]
        )
        assert "fd_order" not in resolved_dict(config)
    finally:
        unregister(Walled.name)


def test_characteristic_boundaries_from_config():
    """The compressible scenarios' `boundary:` builds `TotalInflow` and
    `NonReflecting` with their numbers as leaves, the operator's gas in
    them; a missing or wrong number is refused at load, naming the key."""
    from diffsim.jobs.scenario import build_setup
    from diffsim.operators.finite_volume import Euler, NonReflecting, TotalInflow

    overrides = [
        "grid.cells=[16,16]",
        "boundary.x.lower.kind=total_inflow",
        "boundary.x.lower.total_pressure=1.2",
        "boundary.x.lower.total_temperature=1.1",
        "boundary.x.lower.direction=[1.0, 0.0]",
        "boundary.x.upper.kind=non_reflecting",
        "boundary.x.upper.pressure=1.0",
        "boundary.x.upper.relaxation=0.5",
    ]
    config, physics, scenario = load_config(
        {"scenario": "isentropic_vortex"}, overrides
    )
    op = build_setup(scenario, config, physics).operator
    assert isinstance(op, Euler)
    lower, upper = op.boundaries[0]
    assert isinstance(lower, TotalInflow) and isinstance(upper, NonReflecting)
    np.testing.assert_array_equal(lower.total_pressure, 1.2)
    np.testing.assert_array_equal(upper.relaxation, 0.5)
    import equinox as eqx

    assert eqx.tree_equal(upper.eos, op.eos) and eqx.tree_equal(lower.eos, op.eos)
    assert _refused(
        ["boundary.x.upper.kind=non_reflecting"], "isentropic_vortex"
    ).startswith("boundary.x.upper.pressure: required for kind non_reflecting")
    assert _refused(
        [
            "boundary.x.kind=total_inflow",
            "boundary.x.total_pressure=1.0",
            "boundary.x.total_temperature=1.0",
            "boundary.x.direction=[1.0]",
        ],
        "isentropic_vortex",
    ).startswith("boundary.x.direction: expected one component per axis (2), got 1")
