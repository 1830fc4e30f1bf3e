"""The scenario interface and registry.

`diffsim` knows no particular scenario. Packages register theirs with
`@register` and announce the module under the `diffsim.scenarios` entry-point
group (our own `scenarios` package does so in `pyproject.toml`), so the
command line finds them without importing anything by name.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, ClassVar

import pydantic
from jaxtyping import Array

from operators import AbstractOperator, Grid


@dataclasses.dataclass(frozen=True)
class Setup:
    """What a scenario hands to the solver: the operator, its grid, the
    initial physical fields `(channels, *cells)` and, where one exists, the
    exact solution `exact(t) -> (channels, *cells)`."""

    operator: AbstractOperator
    grid: Grid
    initial: Array
    exact: Callable[[float], Array] | None = None
    errors: Callable[..., dict] | None = None


class PhysicsConfig(pydantic.BaseModel):
    """Base of a scenario's `physics:` schema: unknown keys and non-finite
    numbers are rejected."""

    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)


class Scenario(abc.ABC):
    """A concrete problem: defaults for every config key, schemas for its
    `physics:` and `scheme:` sections (by default: no keys allowed), and
    `build`, which returns the `Setup`."""

    name: ClassVar[str]
    description: ClassVar[str]
    ndim: ClassVar[int]
    Physics: ClassVar[type[pydantic.BaseModel]] = PhysicsConfig
    Scheme: ClassVar[type[pydantic.BaseModel]] = PhysicsConfig
    defaults: ClassVar[dict[str, Any]]

    @abc.abstractmethod
    def build(self, config, physics: pydantic.BaseModel, key) -> Setup:
        """`config` is the validated `RunConfig` (its `scheme` already parsed
        by `Scheme`), `physics` its parsed `physics:` section and `key` a JAX
        PRNG key from `config.seed`."""


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
