"""The scenario interfaces and registry.

`diffsim` knows no particular scenario. Packages register theirs with
`@register` and announce the module under the `diffsim.scenarios` entry-point
group (our own `scenarios` package does so in `pyproject.toml`), so the
command line finds them without importing anything by name.

Three kinds of scenario, each an abstract class with one method to write,
which receives a `BuildContext` (the validated config, its physics section,
the grid, the stepper, the adjoint and a PRNG key, each built once here):

- `TimeDependentScenario.build(ctx) -> Setup`: an initial-value problem that
  `diffsim run` integrates in time;
- `SteadyScenario.solve(ctx) -> SteadyResult`: a stationary problem
  (Helmholtz) that `diffsim run` solves once;
- `OptimizationScenario.build_problem(ctx) -> AbstractInverseProblem`: what
  `diffsim optimize` minimises, a final `equinox.Module` whose data live in
  its fields and whose loss, fields, metrics and figures are methods. A
  scenario may be both steady (or time-dependent) and an optimization
  problem.

The job layer calls them through `build_setup`, `solve_steady` and
`build_problem` only.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pydantic
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from diffsim.operators import AbstractOperator, Grid

from .. import AbstractAdjoint, CheckpointAdjoint, DirectAdjoint
from ..steppers import (
    ETDRK1,
    ETDRK2,
    ETDRK4,
    IMEXARS222,
    IMEXARS443,
    RK4,
    SSPRK3,
    AbstractStepper,
    ForwardEuler,
    IMEXEuler,
)
from .errors import ConfigError, config_key
from .schema import (
    MAX_FLOAT as MAX_FLOAT,
    MAX_INT as MAX_INT,
    PhysicsConfig as PhysicsConfig,
    strict_numbers as strict_numbers,
)

#: The steppers for operators without a diagonal linear part (finite volumes).
EXPLICIT_STEPPERS = ("euler", "ssprk3", "rk4")


#: The config's `stepper:` names and the steppers they build.
STEPPERS: dict[str, Callable[[], AbstractStepper]] = {
    "euler": ForwardEuler,
    "ssprk3": SSPRK3,
    "rk4": RK4,
    "etdrk1": ETDRK1,
    "etdrk2": ETDRK2,
    "etdrk4": ETDRK4,
    "imex_euler": IMEXEuler,
    "imex_ars222": IMEXARS222,
    "imex_ars443": IMEXARS443,
}


def _no_implicit_time_loop() -> AbstractAdjoint:
    raise ConfigError(
        "adjoint",
        "implicit differentiation applies to steady states (diffsim.steady_state); "
        "a time-dependent rollout needs direct or checkpoint",
    )


#: The config's `adjoint:` for time loops. `implicit` (the implicit function
#: theorem) is for steady scenarios, which build their own
#: `optimistix.ImplicitAdjoint`; a rollout asked for it is a config error.
ADJOINTS: dict[str, Callable[[], AbstractAdjoint]] = {
    "direct": DirectAdjoint,
    "checkpoint": CheckpointAdjoint,
    "implicit": _no_implicit_time_loop,
}


def adjoint_from(config) -> AbstractAdjoint:
    """The time-loop adjoint a run configuration asks for: `ADJOINTS[config.adjoint]`,
    with `config.adjoint_memory_budget` (bytes, or None) for `checkpoint`
    (the config refuses a budget with another adjoint; a copy switched to
    another adjoint, as `gradcheck --all-modes` makes, runs it unbudgeted).

    **Arguments:**

    - `config`: anything with `adjoint` and `adjoint_memory_budget` attributes
      (a validated `RunConfig`).

    **Returns:** an `AbstractAdjoint`.
    """
    if config.adjoint == "checkpoint" and config.adjoint_memory_budget is not None:
        return CheckpointAdjoint(memory_budget=config.adjoint_memory_budget)
    return ADJOINTS[config.adjoint]()


def grid_from(config) -> Grid:
    """The `Grid` of a config's `grid:` section (also for `Scenario.validate`,
    which runs before any `BuildContext` exists)."""
    return Grid(config.grid.cells, config.grid.lower, config.grid.upper)


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What a scenario's `build`, `solve` and `build_problem` receive: the
    pieces of a validated config that every scenario needs, each built once
    by the job layer (`build_context`).

    **Arguments:**

    - `config`: the validated `RunConfig` (its own sections already checked).
    - `physics`: its parsed `physics:` section (the scenario's `Physics`).
    - `grid`: the `Grid` of the `grid:` section.
    - `stepper`: the time stepper `stepper:` names.
    - `key`: a JAX PRNG key from `seed`.
    - `dtype`: the floating dtype in effect (that of `precision:` inside the
      job's precision context).
    - `scenario`: the scenario class (its default discretization), or None.
    """

    config: Any
    physics: Any
    grid: Grid
    stepper: AbstractStepper
    key: PRNGKeyArray
    dtype: np.dtype
    scenario: type[Scenario] | None = None

    @property
    def adjoint(self) -> AbstractAdjoint:
        """The time-loop adjoint `adjoint:` names (`adjoint_from`); asked for
        under `adjoint: implicit`, which no time loop takes, a `ConfigError`.
        Steady scenarios build their own implicit adjoint instead."""
        return adjoint_from(self.config)

    @property
    def discretization(self) -> str | None:
        """The discretization in effect: `discretization:` or else the
        scenario's default (`discretization_of`)."""
        return discretization_of(self.scenario, self.config)

    def discretize(self, physics, *, boundary=None) -> AbstractOperator:
        """The operator of `physics` (an `AbstractPhysics`) on the
        discretization in effect (`discretization:`, default the scenario's
        first, else the physics' first):

        - `fourier`: `FourierSpectral(grid)` (periodic only);
        - `finite_difference`: `FiniteDifference(grid, order=fd_order or 4,
          boundary=...)`;
        - `finite_volume`: `FiniteVolume(grid, reconstruction, riemann,
          boundary=...)` from the `scheme:` keys `reconstruction`, `limiter`,
          `weno_eps`, `riemann` (`FiniteVolumeScheme`).

        **Arguments:**

        - `physics`: the `AbstractPhysics` to discretize.
        - `boundary`: the scenario's own conditions for this discretization
          (library objects in any form `FiniteDifference` / `FiniteVolume`
          take), or None for periodic. Every side the config's `boundary:`
          section gives replaces the condition there; its numbers become
          differentiable leaves.

        **Returns:** the `AbstractOperator`. A choice the physics or the
        discretization refuses is a `ConfigError` naming the key.
        """
        from diffsim.operators.physics import discretize

        from .boundary import build_boundary

        kind = self.discretization or physics.discretizations[0]
        if kind not in physics.discretizations:
            raise ConfigError(
                "discretization",
                f"{kind} is not available for {type(physics).__name__}; allowed: "
                f"{', '.join(physics.discretizations)}",
            )
        ndim = self.grid.ndim
        with config_key("boundary"):
            default = None if boundary is None else _pairs(boundary, ndim)
            section = getattr(self.config, "boundary", None)
            pairs = build_boundary(section, ndim, kind, default)
        if kind == "fourier":
            from diffsim.operators import FourierSpectral
            from diffsim.operators.discretization import Periodic

            if pairs is not None and not all(
                isinstance(side, Periodic) for pair in pairs for side in pair
            ):
                raise ConfigError(
                    "boundary",
                    "fourier accepts only periodic boundaries (this scenario has "
                    "walls): use discretization: finite_difference or finite_volume",
                )
            disc = FourierSpectral(self.grid)
        elif kind == "finite_difference":
            from diffsim.operators import FiniteDifference

            with config_key("boundary"):
                disc = FiniteDifference(
                    self.grid, order=self.config.fd_order or 4, boundary=pairs
                )
        else:
            disc = self._finite_volume(pairs)
        from diffsim.operators import finite_volume
        from diffsim.operators.discretization import Periodic

        periodic = (Periodic, finite_volume.Periodic)
        sides = [side for pair in pairs or () for side in pair]
        walls = not all(isinstance(side, periodic) for side in sides)
        try:
            op = discretize(physics, disc)
        except (ValueError, TypeError) as e:
            # name the config key whose object the library's message names
            named = {type(side).__name__ for side in sides} - {"Periodic"}
            reconstruction = getattr(disc, "reconstruction", None)
            key = (
                "boundary"
                if any(name in str(e) for name in named)
                else "scheme.reconstruction"
                if reconstruction is not None
                and type(reconstruction).__name__ in str(e)
                else "discretization"
            )
            raise ConfigError(key, str(e)) from None
        _probe(op, physics, self.grid, "boundary" if walls else "discretization")
        self._check_stepper(op, kind)
        return op

    def _check_stepper(self, op: AbstractOperator, kind: str) -> None:
        """Refuse a `stepper:` that cannot serve the built operator (walls
        a scenario sets in Python are not visible when the config loads)."""
        from diffsim.operators import AbstractImexOperator, AbstractSemilinearOperator

        name = self.config.stepper
        walls = isinstance(op, AbstractImexOperator)
        if name in EXPONENTIAL_STEPPERS and not isinstance(
            op, AbstractSemilinearOperator
        ):
            why = (
                "walls leave no linear part diagonal in Fourier space"
                if walls
                else f"no linear part for an exponential integrator on {kind}"
            )
        elif name in IMEX_STEPPERS and not walls:
            why = f"IMEX steppers serve finite differences with walls, not {kind}"
        else:
            return
        usable = [
            n
            for n in STEPPERS
            if n not in EXPONENTIAL_STEPPERS and (walls or n not in IMEX_STEPPERS)
        ]
        raise ConfigError(
            "stepper",
            f"{name} cannot step this run ({why}): use one of " + ", ".join(usable),
        )

    def _finite_volume(self, boundary):
        """The `FiniteVolume` discretization of the `scheme:` section."""
        from diffsim.operators import FiniteVolume

        from .schemes import FiniteVolumeScheme

        fields = FiniteVolumeScheme.model_fields
        with config_key("scheme"):
            scheme = FiniteVolumeScheme.model_validate(
                {k: v for k, v in self.config.scheme.items() if k in fields}
            )
        reconstruction = scheme.build_reconstruction()
        riemann = scheme.build_riemann()
        with config_key("scheme"):
            return FiniteVolume(
                self.grid,
                reconstruction=reconstruction,
                riemann=riemann,
                boundary=boundary,
            )


def _probe(op: AbstractOperator, physics, grid: Grid, key: str) -> None:
    """Trace (without compiling or computing) one evaluation of `op` on
    fields of the right shape, so that a term the discretization cannot
    evaluate (a fourth derivative across a wall, a variable coefficient in an
    exponential integrator's linear part) is a `ConfigError` naming `key`
    before anything is compiled."""
    from diffsim.operators import AbstractSemilinearOperator

    dtype = jnp.result_type(float)
    if physics.complex_fields:
        dtype = jnp.result_type(dtype, jnp.complex64)
    fields = jax.ShapeDtypeStruct((len(op.field_names), *grid.cells), dtype)

    def evaluate(f):
        out = op(op.encode(f), jnp.zeros((), jnp.result_type(float)))
        if isinstance(op, AbstractSemilinearOperator):
            return out, op.linear_symbol()
        return out

    try:
        jax.eval_shape(evaluate, fields)
    except (ValueError, TypeError, NotImplementedError) as e:
        message = " ".join(str(e).split("\n")[0].split())
        raise ConfigError(
            key, f"{type(physics).__name__} cannot run this way: {message}"
        ) from None


def _pairs(boundary, ndim: int) -> list[tuple[Any, Any]]:
    """A scenario's `boundary=` (one condition, or one per axis, each a
    condition or a `(lower, upper)` pair) as one `(lower, upper)` per axis."""
    if not isinstance(boundary, (list, tuple)):
        boundary = [boundary] * ndim
    if len(boundary) != ndim:
        raise ValueError(
            f"boundary needs one entry per axis ({ndim}), got {len(boundary)}"
        )
    return [
        (entry[0], entry[1]) if isinstance(entry, (list, tuple)) else (entry, entry)
        for entry in boundary
    ]


def discretization_of(scenario: type[Scenario] | None, config) -> str | None:
    """The discretization a run uses: `config.discretization`, or else the
    scenario's default (the first of its `discretizations`); None when the
    scenario fixes its own (no `discretizations`) and the config names none."""
    if config.discretization is not None:
        return config.discretization
    if scenario is not None and scenario.discretizations:
        return scenario.discretizations[0]
    return None


#: The `stepper:` names of exponential integrators, which need a linear part
#: diagonal in Fourier space (Fourier, periodic finite differences).
EXPONENTIAL_STEPPERS = ("etdrk1", "etdrk2", "etdrk4")
#: The `stepper:` names of IMEX schemes, which need an operator split into an
#: implicit stiff linear part and an explicit rest (finite differences with
#: walls).
IMEX_STEPPERS = ("imex_euler", "imex_ars222", "imex_ars443")


def has_walls(config) -> bool:
    """Whether the config's `boundary:` section puts a non-periodic side anywhere."""
    section = getattr(config, "boundary", None)
    return section is not None and any(
        side is not None and side.kind != "periodic"
        for pair in section.sides(3)
        for side in pair
    )


def stepper_rule(scenario: type[Scenario], config) -> tuple[tuple[str, ...], str]:
    """The `stepper:` values that apply to a run of `scenario` under `config`,
    and why the others do not: the scenario's own `steppers` on its default
    discretization; exponential integrators only where the linear part is
    diagonal in Fourier space (Fourier, periodic finite differences), IMEX
    only on finite differences with walls."""
    kind = discretization_of(scenario, config)
    default = scenario.discretizations[0] if scenario.discretizations else None
    names = tuple(STEPPERS)
    why = "no linear part for an exponential integrator"
    if scenario.steppers is not None and kind == default:
        names = scenario.steppers
    if kind is None:
        return names, why
    if kind == "finite_difference" and has_walls(config):
        excluded = EXPONENTIAL_STEPPERS
        why = (
            "walls leave no linear part diagonal in Fourier space for an "
            "exponential integrator"
        )
    elif kind == "finite_volume":
        excluded = EXPONENTIAL_STEPPERS + IMEX_STEPPERS
        why = f"no linear part for an exponential or IMEX integrator on {kind}"
    else:
        excluded = IMEX_STEPPERS
        why = (
            f"IMEX steppers serve finite differences with walls; on {kind} "
            "the linear part is diagonal: use an exponential integrator"
        )
    if config.stepper not in excluded:
        why = "no linear part for an exponential integrator"
    return tuple(n for n in names if n not in excluded), why


def cfl_applies(scenario: type[Scenario], config) -> bool:
    """Whether a run of `scenario` under `config` has a CFL condition, so
    that `time.cfl` applies: the scenario's `cfl_steps` on its default
    discretization, and on another one whether that is `finite_volume`."""
    kind = discretization_of(scenario, config)
    default = scenario.discretizations[0] if scenario.discretizations else None
    cfl = getattr(scenario, "cfl_steps", True)
    return cfl if kind == default else kind == "finite_volume"


def build_context(
    config, physics, scenario: type[Scenario] | None = None
) -> BuildContext:
    """The `BuildContext` of a validated `config`, its parsed `physics` and
    (for its default discretization) the `scenario` class."""
    return BuildContext(
        config=config,
        physics=physics,
        grid=grid_from(config),
        stepper=STEPPERS[config.stepper](),
        key=jax.random.key(config.seed),
        dtype=np.dtype(jnp.result_type(float)),
        scenario=scenario,
    )


class Scenario(abc.ABC):
    """A registered problem: its name, a one-line description, its spatial
    dimension, defaults for every config key, and schemas for its own
    sections (by default they accept no keys)."""

    name: ClassVar[str]
    description: ClassVar[str]
    ndim: ClassVar[int]
    defaults: ClassVar[dict[str, Any]]
    Physics: ClassVar[type[pydantic.BaseModel]] = PhysicsConfig
    Scheme: ClassVar[type[pydantic.BaseModel]] = PhysicsConfig
    Solver: ClassVar[type[pydantic.BaseModel]] = PhysicsConfig
    #: `summary.json` keys `diffsim optimize` prints when it ends, with labels
    #: (the figure a job is about, e.g. `{"focal_gain": "focal intensity gain"}`).
    headline: ClassVar[dict[str, str]] = {}
    #: Fields per cell (density, momenta, energy: `ndim + 2` for Euler), for
    #: the memory estimate `load_config` refuses oversized grids with.
    channels: ClassVar[int] = 1
    #: The `stepper:` values that apply (None: all). Finite volumes have no
    #: linear part for the exponential (ETDRK) steppers: `EXPLICIT_STEPPERS`.
    steppers: ClassVar[tuple[str, ...] | None] = None
    #: The `discretization:` values the scenario runs on (a subset of
    #: `fourier`, `finite_difference`, `finite_volume`; usually its physics'
    #: `discretizations`), the first being the default. Empty: the scenario
    #: fixes its discretization and refuses the key. `steppers` and
    #: `cfl_steps` describe the default; other choices get the rules of
    #: theirs (`stepper_rule`, `cfl_applies`).
    discretizations: ClassVar[tuple[str, ...]] = ()
    #: Whether the scenario builds through `BuildContext.discretize`, so that
    #: the config's `boundary:` section applies (with a `discretizations`
    #: choice). Helmholtz scenarios, bounded by a PML, set False.
    configurable_boundary: ClassVar[bool] = True
    #: The `boundary:` kinds of a scenario that fixes its discretization
    #: but takes the section (a key of `diffsim.jobs.boundary.KINDS_OF`:
    #: `"euler"` for the compressible-flow scenarios), or None: such a
    #: scenario refuses the section.
    boundary_kinds: ClassVar[str | None] = None

    @classmethod
    def validate(cls, config, physics) -> None:
        """Checks of the validated `config` (a `RunConfig`) and its parsed
        `physics` section that need several sections together (a sensor
        inside `grid`, a PML narrower than the domain): raise `ConfigError`
        naming the key. `load_config` calls it, so every such error comes
        before anything is compiled or written. The default checks nothing."""


@dataclasses.dataclass(frozen=True)
class Setup:
    """What a time-dependent scenario hands to the solver: the operator, its
    grid, the initial physical fields `(channels, *cells)` and, where one
    exists, the exact solution `exact(t) -> (channels, *cells)`.
    `errors(ys, exact_ys, grid, names) -> dict` replaces the default error
    norms (relative L2 and max over all fields) when a scenario reports
    others. `diagnostics(ts, ys) -> dict` adds `summary.json` entries
    measured on the snapshots `ys` `(t, channels, *cells)` at the times `ts`
    (mass drift, free energy, pattern wavenumber). `plot(ts, ys, folder) ->
    list of paths` draws figures of the scenario's own (density contours)
    next to the standard ones; `standard_plots=False` leaves the standard
    ones out (a 2D grid one cell wide, which they cannot draw)."""

    operator: AbstractOperator
    grid: Grid
    initial: ArrayLike
    exact: Callable[[float], ArrayLike] | None = None
    errors: Callable[..., dict] | None = None
    diagnostics: Callable[[np.ndarray, np.ndarray], dict] | None = None
    plot: Callable[[np.ndarray, np.ndarray, Path], list] | None = None
    standard_plots: bool = True


class TimeDependentScenario(Scenario):
    #: Whether the operator has a CFL condition (`stable_dt`), so that
    #: `time.cfl` applies; spectral scenarios step with a fixed `time.dt`.
    cfl_steps: ClassVar[bool] = True

    @abc.abstractmethod
    def build(self, ctx: BuildContext) -> Setup:
        """The operator, grid and initial fields of the configured problem."""


def build_setup(scenario: type[Scenario], config, physics) -> Setup:
    """The `Setup` of a time-dependent `scenario` for a validated `config`:
    the one place the job layer asks a scenario to build (run, ensemble,
    horizon, precheck)."""
    if not issubclass(scenario, TimeDependentScenario):
        raise TypeError(f"{scenario.name} is not a time-dependent scenario")
    return scenario().build(build_context(config, physics, scenario))


@dataclasses.dataclass(frozen=True)
class SteadyResult:
    """A solved stationary problem: fields to write (`xarray.Dataset`),
    entries for `summary.json` (solver iterations, residual, errors), and a
    function drawing its figures into a folder."""

    fields: Any
    summary: dict
    plot: Callable[[Path], list] | None = None


class SteadyScenario(Scenario):
    @abc.abstractmethod
    def solve(self, ctx: BuildContext) -> SteadyResult:
        """Solve once (called inside the configured precision)."""


def solve_steady(scenario: type[Scenario], config, physics) -> SteadyResult:
    """The solved stationary problem of a steady `scenario` for a validated
    `config`: the one place the job layer asks a scenario to solve."""
    if not issubclass(scenario, SteadyScenario):
        raise TypeError(f"{scenario.name} is not a steady scenario")
    return scenario().solve(build_context(config, physics, scenario))


class AbstractInverseProblem(eqx.Module):
    """What an optimization scenario hands to `diffsim optimize`: a final
    `equinox.Module` whose data (targets, operators, grids, masks,
    observation times) are its fields, and whose parts are methods.

    - `params` (field): the initial parameter pytree, in the unconstrained
      coordinates the optimizer works in (bounds are applied inside `loss`
      by a parameter transform);
    - `loss_label` (class variable): what `loss` is, with units (the loss
      plot's y label);
    - `loss(params) -> scalar`: a pure JAX function, jitted and
      differentiated with respect to `params` only (the optimizer closes
      over the problem; its fields are constants of the compiled step);
    - `fields(params) -> xarray.Dataset | None`: physical fields worth saving
      for a parameter set (written for the initial and the final
      parameters);
    - `metrics(params) -> dict`: extra `summary.json` entries for the final
      `params`, compared with the initial `self.params` (e.g. `focal_gain`);
    - `plot(params, out, history) -> list[Path]`: figures beyond the loss
      curve the optimizer draws itself, of the final `params` against the
      initial ones, with the optimizer's `history` (one dict per iteration).

    `fields`, `metrics` and `plot` default to nothing.
    """

    params: eqx.AbstractVar[Any]
    loss_label: eqx.AbstractClassVar[str]

    @abc.abstractmethod
    def loss(self, params) -> Array:
        """The scalar to minimise at `params`."""

    def fields(self, params) -> Any:
        """Fields to write for `params` (an `xarray.Dataset`), or None."""
        del params
        return None

    def metrics(self, params) -> dict:
        """`summary.json` entries for the final `params`."""
        del params
        return {}

    def plot(self, params, out: Path, history: Sequence[dict]) -> list[Path]:
        """Figures of the final `params` written into the folder `out`."""
        del params, out, history
        return []


class OptimizationScenario(Scenario):
    #: The config `adjoint:` values the problem supports, each with what it
    #: runs (`diffsim gradcheck` prints it); the others are refused. `diffsim
    #: gradcheck --all-modes` checks each in reverse mode and the first in
    #: forward mode. Time loops: `direct` and `checkpoint`; steady states and
    #: linear solves: `implicit` first.
    adjoints: ClassVar[dict[str, str]] = {
        "direct": "reverse mode through the time loop, every step's residuals stored "
        "(DirectAdjoint)",
        "checkpoint": "reverse mode through the time loop, recomputed from "
        "checkpoints (CheckpointAdjoint)",
    }
    #: The `solver.rtol` that `diffsim gradcheck` uses (unless the config's
    #: is tighter) for the gradient and the finite differences alike, so that
    #: iterative solves inside the loss converge far below the finite
    #: differences' resolution; `None`: the loss has no iterative solve.
    gradcheck_rtol: ClassVar[float | None] = None

    @abc.abstractmethod
    def build_problem(self, ctx: BuildContext) -> AbstractInverseProblem:
        """The inverse problem `diffsim optimize` minimises."""


def build_problem(scenario: type[Scenario], config, physics) -> AbstractInverseProblem:
    """The inverse problem of an optimization `scenario` for a validated
    `config`: the one place the job layer asks a scenario for one
    (optimize, gradcheck)."""
    if not issubclass(scenario, OptimizationScenario):
        raise TypeError(f"{scenario.name} is not an optimization scenario")
    return scenario().build_problem(build_context(config, physics, scenario))


_REGISTRY: dict[str, type[Scenario]] = {}
_S = TypeVar("_S", bound=type[Scenario])
_loaded = False


def register(cls: _S) -> _S:
    """Class decorator adding a scenario to the registry under `cls.name`."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"scenario {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove the scenario registered under `name` (a no-op for an unknown
    name): for tests and plugins that register a scenario for a while."""
    _REGISTRY.pop(name, None)


def registry() -> dict[str, type[Scenario]]:
    """All registered scenarios, loading entry-point plugins on first use."""
    global _loaded
    if not _loaded:
        for ep in entry_points(group="diffsim.scenarios"):
            ep.load()
        _loaded = True
    return dict(sorted(_REGISTRY.items()))


def get_scenario(name: str) -> type[Scenario]:
    scenarios = registry()
    if name not in scenarios:
        raise KeyError(name)
    return scenarios[name]
