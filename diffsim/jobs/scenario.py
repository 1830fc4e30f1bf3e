"""The scenario interfaces and registry.

`diffsim` knows no particular scenario. Packages register theirs with
`@register` and announce the module under the `diffsim.scenarios` entry-point
group (our own `scenarios` package does so in `pyproject.toml`), so the
command line finds them without importing anything by name.

Three kinds of scenario, each an abstract class with one method to write:

- `TimeDependentScenario.build -> Setup`: an initial-value problem that
  `diffsim run` integrates in time;
- `SteadyScenario.solve -> SteadyResult`: a stationary problem (Helmholtz)
  that `diffsim run` solves once;
- `OptimizationScenario.build_problem -> InverseProblem`: what
  `diffsim optimize` minimises. A scenario may be both steady (or
  time-dependent) and an optimization problem.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import jax
import numpy as np
import pydantic
from jaxtyping import Array

from diffsim.operators import AbstractOperator, Grid

#: Bounds of every config number that sets none tighter: integers fit
#: int32 (JAX's default integer), floats stay far from overflow.
MAX_INT = 2**31 - 1
MAX_FLOAT = 1e100


def strict_numbers(schema) -> None:
    """Make every int, float and bool in a pydantic core schema strict, in
    place: `true` is not an integer, `1` not a boolean, `"2"` not a number
    (floats still accept integers; lists still fill tuples). Numbers without
    tighter bounds are bounded by `MAX_INT` / `MAX_FLOAT` in magnitude."""
    if isinstance(schema, dict):
        if schema.get("type") in ("int", "float", "bool"):
            schema["strict"] = True
        if schema.get("type") in ("int", "float"):
            limit = MAX_INT if schema["type"] == "int" else MAX_FLOAT
            if "le" not in schema and "lt" not in schema:
                schema["le"] = limit
            if "ge" not in schema and "gt" not in schema:
                schema["ge"] = -limit
        for value in schema.values():
            strict_numbers(value)
    elif isinstance(schema, list):
        for value in schema:
            strict_numbers(value)


#: The steppers for operators without a diagonal linear part (finite volumes).
EXPLICIT_STEPPERS = ("euler", "ssprk3", "rk4")


class PhysicsConfig(pydantic.BaseModel):
    """Base of a scenario's own config sections (`physics:`, `scheme:`,
    `solver:`): unknown keys and non-finite numbers are rejected, and
    numbers are strict (a boolean is not an integer). Validators name the
    sub-key at fault by raising `diffsim.jobs.KeyedError`. Give each field a
    `Field(description=...)`: `diffsim scenarios NAME` prints it."""

    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        schema = handler(source)
        strict_numbers(schema)
        return schema


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
    others."""

    operator: AbstractOperator
    grid: Grid
    initial: Array | np.ndarray
    exact: Callable[[float], Array] | None = None
    errors: Callable[..., dict] | None = None


class TimeDependentScenario(Scenario):
    #: Whether the operator has a CFL condition (`stable_dt`), so that
    #: `time.cfl` applies; spectral scenarios step with a fixed `time.dt`.
    cfl_steps: ClassVar[bool] = True

    @abc.abstractmethod
    def build(self, config, physics, key) -> Setup:
        """`config` is the validated `RunConfig` (its own sections already
        checked), `physics` its parsed `physics:` section and `key` a JAX
        PRNG key from `config.seed`."""


def build_setup(scenario: type[TimeDependentScenario], config, physics) -> Setup:
    """The `Setup` of a time-dependent `scenario` for a validated `config`:
    the one place the job layer asks a scenario to build (run, ensemble,
    horizon, precheck)."""
    return scenario().build(config, physics, jax.random.key(config.seed))


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
    def solve(self, config, physics, key) -> SteadyResult:
        """Solve once (called inside the configured precision)."""


@dataclasses.dataclass(frozen=True)
class InverseProblem:
    """What an optimization scenario hands to `diffsim optimize`.

    - `params`: the initial parameter pytree, in the unconstrained
      coordinates the optimizer works in (bounds are applied inside `loss`
      by a parameter transform);
    - `loss(params) -> scalar`: a pure JAX function (jitted and
      differentiated by the optimizer);
    - `fields(params) -> xarray.Dataset`: physical fields worth saving for a
      parameter set (written for the initial and the final parameters);
    - `metrics(initial, final) -> dict`: extra `summary.json` entries
      (e.g. `focal_gain`);
    - `plot(initial, final, history, out_dir) -> list[Path]`: figures beyond
      the loss curve the optimizer draws itself;
    - `loss_label`: what the loss is, with units (the loss plot's y label).
    """

    params: Any
    loss: Callable[[Any], Array]
    fields: Callable[[Any], Any] | None = None
    metrics: Callable[[Any, Any], dict] | None = None
    plot: Callable[..., list] | None = None
    #: what `loss` is, with units, for the loss plot's axis label
    loss_label: str = "loss"


class OptimizationScenario(Scenario):
    #: The config `adjoint:` values the problem supports, each with what it
    #: runs (`diffsim gradcheck` prints it); the others are refused. `diffsim
    #: gradcheck --all-modes` checks each in reverse mode and the first in
    #: forward mode. Time loops: `direct` and `checkpoint`; steady states and
    #: linear solves: `implicit` first.
    adjoints: ClassVar[dict[str, str]] = {
        "direct": "reverse mode through the time loop, every step's residuals stored (DirectAdjoint)",
        "checkpoint": "reverse mode through the time loop, recomputed from checkpoints (CheckpointAdjoint)",
    }
    #: The `solver.rtol` that `diffsim gradcheck` uses (unless the config's
    #: is tighter) for the gradient and the finite differences alike, so that
    #: iterative solves inside the loss converge far below the finite
    #: differences' resolution; `None`: the loss has no iterative solve.
    gradcheck_rtol: ClassVar[float | None] = None

    @abc.abstractmethod
    def build_problem(self, config, physics, key) -> InverseProblem:
        """The inverse problem `diffsim optimize` minimises."""


_REGISTRY: dict[str, type[Scenario]] = {}
_loaded = False


def register(cls: type[Scenario]) -> type[Scenario]:
    """Class decorator adding a scenario to the registry under `cls.name`."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"scenario {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


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
