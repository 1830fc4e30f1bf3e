"""Run configuration: YAML files plus dotted overrides, validated before any
compilation. Every error names the offending key in one line."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pydantic
import yaml
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from ..operators import AbstractCFLOperator
from .boundary import BoundaryConfig, check_boundary
from .errors import ConfigError, KeyedError, config_key
from .scenario import (
    STEPPERS,
    OptimizationScenario,
    Scenario,
    SteadyScenario,
    TimeDependentScenario,
    cfl_applies,
    discretization_of,
    get_scenario,
    registry,
    stepper_rule,
    strict_numbers,
)
from .schemes import FiniteVolumeScheme

#: Upper bounds that turn absurd requests into config errors instead of
#: hangs or overflows: steps of a fixed-step run (`time.t_end / time.dt`)
#: and `time.max_steps`, saved snapshots, and seeds (JAX takes int64 seeds).
MAX_STEPS = 10**8
MAX_SNAPSHOTS = 10_000
MAX_SEED = 2**63 - 1
#: The largest `time.cfl`: above 1 no explicit finite-volume step here is stable.
MAX_CFL = 1.0

#: Memory estimate of a run, in units of its state's size per saved
#: snapshot: time-dependent runs hold every snapshot on the host plus about
#: `WORKING_SET` copies of the state while stepping (stages, compiled
#: temporaries); steady solves hold about `STEADY_WORKING_SET` complex
#: copies (Krylov vectors, preconditioner, PML coefficients).
WORKING_SET = 16
STEADY_WORKING_SET = 64


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        schema = handler(source)
        strict_numbers(schema)  # `true` is not an integer, `"2"` not a number
        return schema


class GridConfig(_Strict):
    """`grid:` — cells per axis and the domain `[lower, upper)` per axis."""

    cells: list[PositiveInt] = Field(min_length=1, max_length=3)
    lower: list[float] | None = None
    upper: list[float] | None = None

    @pydantic.model_validator(mode="after")
    def _same_lengths(self):
        for name in ("lower", "upper"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.cells):
                raise _KeyedError(
                    name,
                    f"expected {len(self.cells)} entries (one per axis of cells), got "
                    f"{len(value)}",
                )
        if self.lower is not None and self.upper is not None:
            for axis, (lo, hi) in enumerate(zip(self.lower, self.upper)):
                if not hi > lo:
                    raise _KeyedError(
                        "upper",
                        f"expected upper > lower on every axis, axis {axis} has {lo} "
                        f">= {hi}",
                    )
        return self


class TimeConfig(_Strict):
    """`time:` — end time, number of saved snapshots, and either a fixed
    (maximum) step `dt` or a CFL number `cfl` (with at most `max_steps`
    steps per snapshot interval)."""

    t_end: PositiveFloat
    dt: PositiveFloat | None = None
    cfl: PositiveFloat | None = Field(default=None, le=MAX_CFL)
    max_steps: PositiveInt = Field(default=100_000, le=MAX_STEPS)
    snapshots: PositiveInt = Field(default=50, le=MAX_SNAPSHOTS)

    @pydantic.model_validator(mode="after")
    def _one_step_rule(self):
        if self.dt is None and self.cfl is None:
            raise _KeyedError(
                "dt",
                "give either time.dt (fixed steps) or time.cfl (CFL-controlled steps)",
            )
        if self.dt is not None and self.cfl is not None:
            raise _KeyedError(
                "cfl",
                "give either time.dt or time.cfl, not both (set the other to null)",
            )
        if self.dt is not None and not self.t_end / self.dt <= MAX_STEPS:
            raise _KeyedError(
                "dt",
                f"t_end / dt = {self.t_end / self.dt:.3g} steps, more than the limit "
                f"of {MAX_STEPS:.0e}; raise time.dt or lower time.t_end",
            )
        if self.t_end / self.snapshots == 0.0:
            raise _KeyedError(
                "t_end", f"t_end / snapshots underflows to 0 (t_end = {self.t_end!r})"
            )
        return self


class ScheduleConfig(_Strict):
    """`optimize.optimizer.schedule:` — learning-rate schedule (optax)."""

    name: Literal["constant", "cosine", "exponential", "warmup_cosine"] = "constant"
    alpha: float = Field(
        default=0.0, ge=0.0, le=1.0, description="final fraction of the rate (cosine)"
    )
    decay_rate: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="factor per transition_steps (exponential)",
    )
    transition_steps: PositiveInt = 100
    warmup_steps: NonNegativeInt = 0


class OptimizerConfig(_Strict):
    """`optimize.optimizer:` — an optax optimizer chain. `lbfgs` takes its
    step length from a zoom line search, so it accepts no learning rate."""

    name: Literal["adam", "adamw", "sgd", "lbfgs"] = "adam"
    learning_rate: PositiveFloat = 1e-2
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    clip_norm: PositiveFloat | None = None
    weight_decay: float = Field(default=1e-4, ge=0.0)
    momentum: float | None = Field(default=None, ge=0.0, lt=1.0)

    @pydantic.model_validator(mode="after")
    def _lbfgs_has_no_rate(self):
        if (
            self.name == "lbfgs"
            and {"learning_rate", "schedule"} & self.model_fields_set
        ):
            key = (
                "learning_rate"
                if "learning_rate" in self.model_fields_set
                else "schedule"
            )
            raise _KeyedError(
                key, "lbfgs sets its step by a line search; remove this key"
            )
        return self


class OptimizeConfig(_Strict):
    """`optimize:` — iterations, checkpoint cadence and the optimizer."""

    iterations: PositiveInt = 100
    checkpoint_every: PositiveInt = 10
    gradient: Literal["reverse", "forward", "auto"] = "auto"
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)


_BATCHABLE = (
    "only physics.* keys and seed can vary within a batch (grid, time, stepper, "
    "scheme and precision fix shapes and compiled code: use diffsim sweep for them)"
)


def flatten_member(member: dict, prefix: str = "") -> dict:
    """`{physics: {nu: 0.1}}` -> `{"physics.nu": 0.1}`; dotted keys pass through."""
    flat = {}
    for key, value in member.items():
        key = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_member(value, f"{key}."))
        else:
            flat[key] = value
    return flat


_Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class DistributionConfig(_Strict):
    """A random law in `batch.vary`: exactly one of `uniform: [low, high]`,
    `loguniform: [low, high]` (low > 0), `normal: [mean, std]` or
    `integers: [low, high]` (high excluded)."""

    uniform: tuple[float, float] | None = None
    loguniform: tuple[PositiveFloat, PositiveFloat] | None = None
    normal: tuple[float, pydantic.NonNegativeFloat] | None = None
    integers: tuple[_Int64, _Int64] | None = None

    @pydantic.model_validator(mode="after")
    def _exactly_one(self):
        given = [
            name for name in type(self).model_fields if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise _KeyedError(
                given[1] if given else "uniform",
                "give exactly one of uniform, loguniform, normal, integers",
            )
        name = given[0]
        if name != "normal" and not getattr(self, name)[0] < getattr(self, name)[1]:
            raise _KeyedError(
                name,
                "expected [low, high] with low < high, got "
                f"{list(getattr(self, name))}",
            )
        return self

    def draw(self, rng, size: int) -> list:
        """`size` independent draws from a `numpy.random.Generator`."""
        if self.uniform is not None:
            values = rng.uniform(*self.uniform, size)
        elif self.loguniform is not None:
            values = np.exp(rng.uniform(*np.log(self.loguniform), size))
        elif self.normal is not None:
            values = rng.normal(*self.normal, size)
        else:
            assert self.integers is not None  # exactly one law (_exactly_one)
            values = rng.integers(*self.integers, size)
        return values.tolist()


class BatchConfig(_Strict):
    """`batch:` — an ensemble run as one vmapped solve whose batch axis is
    sharded across the devices. `members` lists per-member overrides (dotted
    keys, `physics.left.2` for a list entry); `vary` draws `size` members from
    random laws (numpy, seeded by `seed`, default the run's `seed`). Both may be
    given: each listed member then also gets the random draws."""

    members: list[dict[str, Any]] | None = Field(default=None, min_length=1)
    size: PositiveInt | None = None
    vary: dict[str, DistributionConfig] = Field(default_factory=dict)
    seed: NonNegativeInt | None = Field(default=None, le=MAX_SEED)

    @pydantic.field_validator("members", mode="before")
    @classmethod
    def _flatten(cls, members):
        if isinstance(members, list):
            return [flatten_member(m) if isinstance(m, dict) else m for m in members]
        return members

    @pydantic.model_validator(mode="after")
    def _consistent(self):
        keys = [
            (f"members.{i}.{key}", key)
            for i, m in enumerate(self.members or [])
            for key in m
        ]
        keys += [(f"vary.{key}", key) for key in self.vary]
        for where, key in keys:
            if key != "seed" and not (
                key.startswith("physics.") and len(key) > len("physics.")
            ):
                raise _KeyedError(where, _BATCHABLE)
        if self.members is None and self.size is not None and not self.vary:
            raise _KeyedError("vary", "size needs vary (a random law per key)")
        if self.members is None and not self.vary:
            raise _KeyedError(
                "members",
                "give members (a list of overrides) and/or size with vary (random "
                "laws)",
            )
        if self.members is None and self.size is None:
            raise _KeyedError(
                "size",
                "required with vary when no members are listed: how many members to "
                "draw",
            )
        if (
            self.members is not None
            and self.size is not None
            and self.size != len(self.members)
        ):
            raise _KeyedError(
                "size",
                f"{len(self.members)} members are listed but size is {self.size}",
            )
        for i, member in enumerate(self.members or []):
            if clash := sorted(set(member) & set(self.vary)):
                raise _KeyedError(
                    f"vary.{clash[0]}",
                    f"also set by batch.members.{i}; give each key in one place",
                )
        return self

    @property
    def count(self) -> int:
        if self.members is not None:
            return len(self.members)
        assert self.size is not None  # size or members (validated)
        return self.size

    def overrides(self, run_seed: int) -> list[dict[str, Any]]:
        """Each member's overrides, `{dotted key: value}`, random draws included."""
        rng = np.random.default_rng(self.seed if self.seed is not None else run_seed)
        draws = {key: law.draw(rng, self.count) for key, law in self.vary.items()}
        listed = self.members or [{}] * self.count
        return [
            {**member, **{key: values[i] for key, values in draws.items()}}
            for i, member in enumerate(listed)
        ]


class SlurmConfig(_Strict):
    """`slurm:` — resources of each task of a `diffsim sweep --executor slurm`."""

    partition: str | None = None
    time_limit_min: PositiveInt = 60
    cpus_per_task: PositiveInt = 2
    gpus_per_task: NonNegativeInt = 0
    array_parallelism: PositiveInt = 64


class DistributedConfig(_Strict):
    """`distributed:` — one job as several JAX processes
    (`jax.distributed.initialize`, see `diffsim/_distributed.py`).
    `enabled: auto` joins when SLURM started this process as one of several
    tasks (`srun -n N`, N > 1), reading everything from SLURM's environment,
    or when `coordinator_address` is given; `true` always joins, with
    `coordinator_address` (`host:port`),
    `num_processes` and `process_id` given here or detected from the cluster;
    `false` never joins."""

    enabled: bool | Literal["auto"] = "auto"
    coordinator_address: str | None = None
    num_processes: PositiveInt | None = None
    process_id: NonNegativeInt | None = None
    local_device_ids: list[NonNegativeInt] | None = None
    initialization_timeout_s: PositiveInt = 300

    @pydantic.model_validator(mode="after")
    def _complete(self):
        given = {
            k: getattr(self, k) is not None
            for k in ("coordinator_address", "num_processes", "process_id")
        }
        if any(given.values()) and not all(given.values()):
            missing = next(k for k, ok in given.items() if not ok)
            raise _KeyedError(
                missing,
                "give coordinator_address, num_processes and process_id together (or "
                "none, to detect them from SLURM)",
            )
        if (
            self.coordinator_address is not None
            and not self.coordinator_address.rpartition(":")[2].isdigit()
        ):
            raise _KeyedError(
                "coordinator_address",
                f"expected host:port, got {self.coordinator_address!r}",
            )
        if (
            self.process_id is not None
            and self.num_processes is not None
            and self.process_id >= self.num_processes
        ):
            raise _KeyedError(
                "process_id",
                f"expected 0 <= process_id < num_processes = {self.num_processes}, "
                f"got {self.process_id}",
            )
        return self


class ParallelConfig(_Strict):
    """`parallel:` — one solve split across the devices of this process
    (domain decomposition, `diffsim/_parallel.py`): `mesh` gives the number
    of blocks per grid axis (`[px, py]` in 2D), whose product of devices is
    used; null runs on one device. Finite volumes exchange halos between
    blocks; Fourier-spectral fields are split into `px * py` slabs along x."""

    mesh: list[PositiveInt] | None = Field(default=None, min_length=1, max_length=3)


class RunConfig(_Strict):
    """Top level of a `diffsim run` configuration."""

    scenario: str
    precision: Literal["float32", "float64"] = "float64"
    seed: NonNegativeInt = Field(default=0, le=MAX_SEED)
    stepper: Literal[tuple(STEPPERS)] = "etdrk4"  # type: ignore[valid-type]
    # implicit: steady states (implicit function theorem), for scenarios that declare it
    adjoint: Literal["direct", "checkpoint", "implicit"] = "checkpoint"
    # bytes for the reverse pass of each time loop under adjoint: checkpoint (null:
    # unbounded)
    adjoint_memory_budget: float | None = None
    grid: GridConfig
    time: TimeConfig | None = None
    discretization: Literal["fourier", "finite_difference", "finite_volume"] | None = (
        None
    )
    fd_order: Literal[2, 4, 6, 8] | None = None
    boundary: BoundaryConfig | None = None
    physics: dict[str, Any] = Field(default_factory=dict)
    scheme: dict[str, Any] = Field(default_factory=dict)
    solver: dict[str, Any] = Field(default_factory=dict)
    optimize: OptimizeConfig = Field(default_factory=OptimizeConfig)
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    parallel: ParallelConfig = Field(default_factory=ParallelConfig)
    batch: BatchConfig | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _memory_budget_bytes(cls, data):
        if isinstance(data, dict) and data.get("adjoint_memory_budget") is not None:
            data = {
                **data,
                "adjoint_memory_budget": parse_bytes(
                    data["adjoint_memory_budget"], "adjoint_memory_budget"
                ),
            }
        return data

    @pydantic.model_validator(mode="after")
    def _memory_budget_needs_checkpoint(self):
        if self.adjoint_memory_budget is not None and self.adjoint != "checkpoint":
            raise _KeyedError(
                "adjoint_memory_budget",
                f"applies to adjoint: checkpoint only (adjoint is {self.adjoint}); "
                "remove it or set it to null",
            )
        return self

    @property
    def num_steps(self) -> int | None:
        """Fixed steps taken: at least `t_end / dt`, rounded up to a multiple
        of `snapshots` so that snapshots are equally spaced (None with CFL)."""
        t = self.time
        if t is None or t.dt is None:
            return None
        steps = math.ceil(t.t_end / t.dt * (1.0 - 1e-12))
        return t.snapshots * math.ceil(steps / t.snapshots)

    @property
    def dt(self) -> float | None:
        """The fixed step actually used, `t_end / num_steps <= time.dt`."""
        if self.time is None or self.num_steps is None:
            return None
        return self.time.t_end / self.num_steps


_KeyedError = KeyedError  # raised inside validators to name a sub-key


_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
    "tb": 1e12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_bytes(value, key: str) -> float:
    """A byte count from a number or a string such as `"1 GB"` (10^9) or
    `"512 MiB"` (2^29); raises `_KeyedError` naming `key` otherwise."""
    expected = (
        'expected a positive number of bytes or a string like "1 GB" or "512 MiB"'
    )
    if isinstance(value, str):
        text = value.strip().lower()
        number = text.rstrip("kmgtibB ")
        unit = text[len(number) :].strip()
        try:
            value = float(number) * _BYTE_UNITS[unit]
        except (ValueError, KeyError):
            raise _KeyedError(key, f"{expected}, got {value!r}") from None
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _KeyedError(key, f"{expected}, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise _KeyedError(key, f"{expected}, got {value!r}")
    return float(value)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (["a", "b", "c"], value), the value parsed as YAML."""
    if "=" not in text:
        raise ConfigError(
            text, "overrides must look like key=value, e.g. time.t_end=2.0"
        )
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(text, "empty key in override")
    try:
        value = _load_yaml_text(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(
            key, f"cannot parse value {raw!r}: {_yaml_problem(e)}"
        ) from None
    except ConfigError as e:
        raise ConfigError(
            f"{key}.{e.key}", f"in value {raw!r}: {str(e)[len(e.key) + 2 :]}"
        ) from None
    return key.split("."), value


def _plain(value):
    """A schema default as config data: models as dicts, tuples as lists."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _default_of(scenario: type[Scenario] | None, path: list[str]):
    """The schema default of `physics.key` / `scheme.key` / `solver.key`
    (so that `physics.left.2=0.5` can set one entry of a default list)."""
    schemas = {"physics": "Physics", "scheme": "Scheme", "solver": "Solver"}
    if scenario is None or len(path) != 2 or path[0] not in schemas:
        return None
    field = getattr(scenario, schemas[path[0]]).model_fields.get(path[1])
    if field is None or field.is_required():
        return None
    return _plain(field.get_default(call_default_factory=True))


def _set(
    tree: dict, path: list[str], value, scenario: type[Scenario] | None = None
) -> None:
    """Set the dotted `path` in nested dicts and lists (an integer part
    indexes a list; a dict value is merged into an existing section)."""
    node: Any = tree
    part: Any  # a dict key, or an index once node is a list
    for i, part in enumerate(path):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    ".".join(path),
                    f"{'.'.join(path[:i])} is a list of {len(node)} entries: {part!r} "
                    f"is not an index into it (0 to {len(node) - 1})",
                )
            part = int(part)
        elif not isinstance(node, dict):
            raise ConfigError(
                ".".join(path[:i]),
                f"is a value, not a section; cannot set {'.'.join(path)}",
            )
        if i == len(path) - 1:
            current = node[part] if isinstance(node, list) else node.get(part)
            node[part] = (
                _merge(current, value)
                if isinstance(value, dict) and isinstance(current, dict)
                else value
            )
        elif isinstance(node, dict) and not isinstance(node.get(part), (dict, list)):
            default = _default_of(scenario, path[: i + 1])
            node[part] = (
                default
                if isinstance(default, (dict, list)) and node.get(part) is None
                else node.get(part, {})
            )
            if node[part] is None:
                node[part] = {}
            node = node[part]
        else:
            node = node[part]


def _merge(base: dict, top: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# ---------------------------------------------------------------- YAML


def _yaml_problem(e: yaml.YAMLError, path: str = "", what: str = "") -> str:
    """A YAML error as one line: `file:line:column: what problem (context)`."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None)
    if mark is None or problem is None:
        return (f"{path}: " if path else "") + what + " ".join(str(e).split())
    where = (
        f"{path}:{mark.line + 1}:{mark.column + 1}: "
        if path
        else f"line {mark.line + 1}, column {mark.column + 1}: "
    )
    context = getattr(e, "context", None)
    return (
        where
        + what
        + " ".join(problem.split())
        + (f" ({' '.join(context.split())})" if context else "")
    )


def _check_duplicates(node, path: list[str], source: str) -> None:
    """Refuse a key given twice in one mapping, at any depth (PyYAML would
    silently keep the last)."""
    if isinstance(node, yaml.MappingNode):
        seen = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if name is not None:
                mark = key_node.start_mark
                if (key_node.tag, name) in seen:
                    where = (
                        f"{source}:{mark.line + 1}:{mark.column + 1}"
                        if source
                        else f"line {mark.line + 1}"
                    )
                    raise ConfigError(
                        ".".join([*path, name]),
                        f"{where}: duplicate key (first given on line "
                        f"{seen[key_node.tag, name]}); give each key once",
                    )
                seen[key_node.tag, name] = mark.line + 1
            _check_duplicates(value_node, [*path, str(name)], source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicates(item, [*path, str(i)], source)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader reading `1e-3` as a number (YAML 1.2), not as
    the string PyYAML 1.1 makes of it."""


_Loader.yaml_implicit_resolvers = {
    k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _load_yaml_text(text: str, source: str = ""):
    """Safe YAML with duplicate keys refused and `1e-3` read as a number."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_duplicates(node, [], source)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Any:
    """Read a YAML config file; every problem (missing file, a directory,
    not UTF-8, a syntax error, a duplicate key) is a one-line `ConfigError`
    with `file:line:column` where there is one."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            "", f"config file {str(path)!r} is a directory, not a YAML file"
        )
    if not path.is_file():
        raise ConfigError("", f"config file {str(path)!r} does not exist")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(
            "", f"cannot read config file {str(path)!r}: {e.strerror or e}"
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError(
            "",
            f"{path}:{line}:{column}: not UTF-8 text (byte 0x{data[e.start]:02x}); "
            "save the config as UTF-8",
        ) from None
    try:
        return _load_yaml_text(text, str(path))
    except yaml.YAMLError as e:
        raise ConfigError("", _yaml_problem(e, str(path), "not valid YAML: ")) from None
    except RecursionError:
        raise ConfigError("", f"{path}: not valid YAML: nested too deeply") from None


# ---------------------------------------------------------------- errors

# : pydantic's union-member tags in an error location (`bool`, `literal['auto']`), not
# keys
_TYPE_TAG = re.compile(
    r"^(?:[a-z][a-z0-9_-]*\[.*\]|(?:constrained-)?(?:int|float)|bool|str|none)$"
)


def models_in(annotation) -> list[type[pydantic.BaseModel]]:
    """The pydantic models named in a field's type annotation (unions and
    containers searched), for walking nested config schemas."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    return [
        m for arg in getattr(annotation, "__args__", ()) or () for m in models_in(arg)
    ]


def _model_at(
    model: type[pydantic.BaseModel] | None, parts: list[str]
) -> type[pydantic.BaseModel] | None:
    """The schema of the section at `parts` below `model` (list indices and
    dict keys skipped), or None when it is not a schema."""
    for part in parts:
        if model is None:
            return None
        field = model.model_fields.get(part)
        if field is None:
            continue  # a list index or a dict key (batch.vary.<key>)
        models = models_in(field.annotation)
        model = models[0] if models else None
    return model


def unknown_key_message(key: str, valid: list[str]) -> str:
    """`unknown key` with the closest valid key and the list of valid ones."""
    close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown key{hint}; valid keys: {', '.join(valid) if valid else 'none'}"


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "greater than or equal to"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "less than or equal to"),
}


def _format(
    error: pydantic.ValidationError,
    prefix: str = "",
    model: type[pydantic.BaseModel] | None = None,
) -> ConfigError:
    errors = error.errors()
    first = errors[0]
    if first["type"] == "missing":  # a misspelt required key: name the misspelling
        first = next(
            (
                e
                for e in errors
                if e["type"] == "extra_forbidden" and e["loc"][:-1] == first["loc"][:-1]
            ),
            first,
        )
    loc = [
        str(p) if p != "" else '""'
        for p in first["loc"]
        if not (isinstance(p, str) and _TYPE_TAG.match(p))
    ]
    ctx = first.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, KeyedError):
        loc = [*loc, inner.key]
        message = str(inner)
    elif isinstance(inner, Exception):
        message = str(inner)
    elif first["type"] == "extra_forbidden":
        section = _model_at(model, loc[:-1])
        message = (
            unknown_key_message(loc[-1], list(section.model_fields))
            if section is not None
            else "unknown key"
        )
    elif first["type"] == "missing" and loc and loc[-1].isdigit():
        message = f"missing: the list is too short (entry {loc[-1]} is required)"
    elif first["type"] == "missing":
        message = "required key is missing"
    elif first["type"] in _BOUNDS:
        bound = ctx[_BOUNDS[first["type"]][0]]
        bound = f"{bound:g}" if isinstance(bound, float) else str(bound)
        relation = _BOUNDS[first["type"]][1]
        got = _short(first.get("input"))
        message = f"Input should be {relation} {bound} (got {got})"
    else:
        message = f"{first['msg']} (got {_short(first.get('input'))})"
    key = ".".join(p for p in [prefix, *loc] if p)
    return ConfigError(key, " ".join(message.split()))


# ---------------------------------------------------------------- up-front checks


def available_memory() -> int | None:
    """Bytes of memory available to a new job (`MemAvailable` of
    /proc/meminfo, else free physical pages), None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_estimate(config: RunConfig, scenario: type[Scenario]) -> tuple[int, str]:
    """Bytes a run needs, roughly, and how the figure was made: cells x
    fields x copies x bytes per value x members, with one copy per saved
    snapshot plus `WORKING_SET` (time-dependent) or `STEADY_WORKING_SET`
    complex copies (steady)."""
    cells = math.prod(config.grid.cells)
    itemsize = 4 if config.precision == "float32" else 8
    members = config.batch.count if config.batch is not None else 1
    if issubclass(scenario, SteadyScenario) or config.time is None:
        copies, itemsize, what = (
            STEADY_WORKING_SET,
            2 * itemsize,
            f"{STEADY_WORKING_SET} complex working copies",
        )
    else:
        copies, what = (
            config.time.snapshots + 1 + WORKING_SET,
            f"{config.time.snapshots + 1} snapshots + {WORKING_SET} working copies",
        )
    need = cells * scenario.channels * copies * itemsize * members
    batch = f" x {members} members" if members > 1 else ""
    return (
        need,
        f"{cells} cells x {scenario.channels} field(s) x ({what}) x {itemsize} "
        f"bytes{batch}",
    )


def _check_memory(config: RunConfig, scenario: type[Scenario]) -> None:
    need, how = memory_estimate(config, scenario)
    available = available_memory()
    if available is None or need <= available:
        return
    members = config.batch.count if config.batch is not None else 1
    if members > 1 and need // members <= available:
        batch = config.batch
        key = "batch.members" if batch and batch.members is not None else "batch.size"
    elif (
        config.time is not None
        and issubclass(scenario, TimeDependentScenario)
        and need * (1 + WORKING_SET) // (config.time.snapshots + 1 + WORKING_SET)
        <= available
    ):
        key = "time.snapshots"
    else:
        key = "grid.cells"
    raise ConfigError(
        key,
        f"the run needs about {need / 2**30:.3g} GiB ({how}), more than the "
        f"{available / 2**30:.3g} GiB of memory available",
    )


def _check_mesh(config: RunConfig, scenario: type[Scenario]) -> None:
    from ..internal import check_divisible, make_mesh, wanted

    if not issubclass(scenario, TimeDependentScenario):
        raise ConfigError(
            "parallel.mesh",
            f"scenario {scenario.name} is not time-dependent: only time-dependent "
            "runs are split across devices (remove parallel.mesh)",
        )
    mesh = list(config.parallel.mesh or ())
    with config_key("parallel.mesh"):  # the library's ValueError, keyed
        check_divisible(config.grid.cells, mesh)  # divisibility here
    kind = discretization_of(scenario, config)
    if kind == "fourier" or (
        kind is None and not scenario.cfl_steps
    ):  # Fourier-spectral: slabs along x over every device (see shard_operator)
        shards = math.prod(mesh)
        if scenario.ndim == 1:
            raise ConfigError(
                "parallel.mesh",
                "1D Fourier-spectral problems cannot be split across devices; run "
                "them on one device",
            )
        if config.grid.cells[0] % shards:
            raise ConfigError(
                "parallel.mesh",
                "a Fourier-spectral field is split into slabs along x over all "
                f"{shards} devices of mesh "
                f"{mesh}: grid.cells[0] = {config.grid.cells[0]} must be divisible by "
                f"{shards}",
            )
    if not wanted(
        config.distributed
    ):  # device count, unless processes join later (then known only after they do)
        with config_key("parallel.mesh"):
            make_mesh(mesh)


def check_cfl_steps(config: RunConfig, operator, y) -> None:
    """Refuse a fixed step beyond CFL 1 on the initial fields, and a
    CFL-controlled run that cannot reach `time.t_end` within
    `time.max_steps x time.snapshots` steps, estimating the step from the
    initial fields' stable step (cheap: no time loop is compiled). The
    estimate is optimistic (steps usually shrink), so what it refuses would
    certainly exhaust `max_steps`."""
    t = config.time
    if t is not None and t.dt is not None and isinstance(operator, AbstractCFLOperator):
        stable = float(operator.stable_dt(operator.encode(y), MAX_CFL))
        fixed_dt = config.dt
        assert fixed_dt is not None  # time.dt is set
        # a fixed step beyond CFL 1 on the initial fields blows up at once
        if fixed_dt > stable:
            raise ConfigError(
                "time.dt",
                f"the step {fixed_dt:.4g} exceeds the stable step {stable:.4g} of the "
                f"initial fields (CFL {MAX_CFL:g}); lower time.dt or use time.cfl",
            )
    if t is None or t.cfl is None:
        return
    if not isinstance(operator, AbstractCFLOperator):
        raise ConfigError(
            "time.cfl",
            f"{type(operator).__name__} has no CFL condition: give a fixed time.dt and "
            "set time.cfl to null",
        )
    dt = float(operator.stable_dt(operator.encode(y), t.cfl))
    budget = t.max_steps * t.snapshots
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(
            "time.cfl",
            f"the initial fields give no admissible CFL step (stable dt = {dt:g})",
        )
    steps = t.t_end / dt
    if steps > budget:
        key = "time.cfl" if t.cfl < 0.05 else "time.t_end"
        count = f"about {steps:.3g}" if math.isfinite(steps) else "more than 1e308"
        raise ConfigError(
            key,
            f"{count} steps of dt = {dt:.3g} (CFL {t.cfl:g} on the initial fields) are "
            f"needed to reach t_end = {t.t_end:g}, more than time.max_steps x "
            f"time.snapshots = {budget:.3g}; lower time.t_end, raise time.cfl or "
            "time.max_steps",
        )


def _check_discretization(config: RunConfig, scenario: type[Scenario]) -> str | None:
    """The discretization in effect (`discretization_of`), after refusing one
    that the scenario does not run on, naming the key and the allowed values."""
    allowed = scenario.discretizations
    if config.discretization is not None and config.discretization not in allowed:
        raise ConfigError(
            "discretization",
            f"{config.discretization} is not available for {scenario.name}; "
            "allowed: "
            + (
                ", ".join(allowed)
                if allowed
                else "none (the scenario fixes its discretization; remove the key)"
            ),
        )
    return discretization_of(scenario, config)


def scheme_schema(
    scenario: type[Scenario], kind: str | None
) -> type[pydantic.BaseModel]:
    """The schema of the `scheme:` section: the scenario's own, or on
    `discretization: finite_volume` of a scenario that has none, the shared
    finite-volume keys (`FiniteVolumeScheme`)."""
    if kind == "finite_volume" and not scenario.Scheme.model_fields:
        return FiniteVolumeScheme
    return scenario.Scheme


def load_config(
    source: str | Path | dict, overrides: Sequence[str] = ()
) -> tuple[RunConfig, pydantic.BaseModel, type[Scenario]]:
    """Read, override, fill in scenario defaults and validate a run config.

    Returns the validated `RunConfig`, its parsed `physics` section and the
    scenario class. Raises `ConfigError` naming the first offending key:
    everything that can be checked without building the problem (memory,
    step counts, devices, the scenario's own `validate`) is checked here.
    """
    raw = (
        copy.deepcopy(source) if isinstance(source, dict) else (load_yaml(source) or {})
    )
    if not isinstance(raw, dict):
        raise ConfigError(
            "",
            f"the config must be a mapping of keys to values, got {type(raw).__name__}",
        )
    if bad := [key for key in raw if not isinstance(key, str)]:
        raise ConfigError(str(bad[0]), "keys must be names (strings)")
    parsed = [parse_override(text) for text in overrides]
    for path, value in parsed:
        if path == ["scenario"]:
            raw["scenario"] = value

    name = raw.get("scenario")
    if name is None:
        raise ConfigError(
            "scenario", f"required key is missing (one of: {', '.join(registry())})"
        )
    if not isinstance(name, str):
        raise ConfigError(
            "scenario",
            f"expected a scenario name, got {_short(name)} (one of: "
            f"{', '.join(registry())})",
        )
    try:
        scenario = get_scenario(name)
    except KeyError:
        close = difflib.get_close_matches(name, list(registry()), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(
            "scenario",
            f"unknown scenario {name!r}{hint} (one of: {', '.join(registry())})",
        ) from None

    merged = _merge(scenario.defaults, raw)
    for path, value in parsed:
        _set(merged, path, value, scenario)
    cells = (
        (merged.get("grid") or {}).get("cells")
        if isinstance(merged.get("grid"), dict)
        else None
    )
    if isinstance(cells, list) and len(cells) != scenario.ndim:
        raise ConfigError(
            "grid.cells",
            f"scenario {scenario.name} is {scenario.ndim}D: expected {scenario.ndim} "
            f"entries, got {len(cells)}",
        )
    try:
        config = RunConfig.model_validate(merged)
    except pydantic.ValidationError as e:
        raise _format(e, model=RunConfig) from None
    try:
        physics = scenario.Physics.model_validate(config.physics)
    except pydantic.ValidationError as e:
        raise _format(e, "physics", scenario.Physics) from None
    kind = _check_discretization(config, scenario)
    sections = {}
    for section, schema in (
        ("scheme", scheme_schema(scenario, kind)),
        ("solver", scenario.Solver),
    ):
        try:
            sections[section] = schema.model_validate(
                getattr(config, section)
            ).model_dump()
        except pydantic.ValidationError as e:
            raise _format(e, section, schema) from None
    if issubclass(scenario, TimeDependentScenario) and config.time is None:
        raise ConfigError(
            "time",
            f"scenario {scenario.name} is time-dependent: the time section is required",
        )

    if config.grid.lower is None or config.grid.upper is None:
        raise ConfigError(
            "grid.lower",
            f"scenario {scenario.name} gives no default domain; set grid.lower and "
            "grid.upper",
        )
    config = config.model_copy(update={"physics": physics.model_dump(), **sections})
    check_boundary(config.boundary, scenario, kind, scenario.channels)
    _check_memory(config, scenario)
    if config.parallel.mesh is not None:
        _check_mesh(config, scenario)
    if (
        issubclass(scenario, TimeDependentScenario)
        and not cfl_applies(scenario, config)
        and config.time is not None
        and config.time.cfl is not None
    ):
        on = f" on {kind}" if kind is not None else ""
        raise ConfigError(
            "time.cfl",
            f"scenario {scenario.name} has no CFL condition{on} "
            f"({'spectral' if kind in (None, 'fourier') else 'fixed steps'}): give a "
            "fixed time.dt and set time.cfl to null",
        )
    steppers, why = stepper_rule(scenario, config)
    if config.stepper not in steppers:
        raise ConfigError(
            "stepper",
            f"{config.stepper} does not apply to {scenario.name} ({why}): "
            f"use one of {', '.join(steppers)}",
        )
    if (
        config.adjoint == "implicit"
        and issubclass(scenario, OptimizationScenario)
        and not issubclass(scenario, SteadyScenario)
        and "implicit" not in scenario.adjoints
    ):
        raise ConfigError(
            "adjoint",
            f"implicit differentiation applies to steady states; {scenario.name} "
            "differentiates a "
            f"time-dependent rollout: use one of {', '.join(scenario.adjoints)}",
        )
    scenario.validate(config, physics)
    if (
        config.batch is not None
    ):  # every member validated too, naming batch.members.i.key / batch.vary.key
        member_configs(config, scenario)
    return config, physics, scenario


def resolved_dict(config: RunConfig) -> dict:
    """The fully resolved configuration, as written to `config.yaml`: it
    loads back as the same configuration (keys a choice forbids, such as an
    L-BFGS learning rate, are left out, and so are the top-level keys that do
    not apply to the scenario: see `_inapplicable_keys`)."""
    out = config.model_dump(mode="json")
    optimizer = (out.get("optimize") or {}).get("optimizer")
    if optimizer and optimizer.get("name") == "lbfgs":
        optimizer.pop("learning_rate", None)
        optimizer.pop("schedule", None)
    if config.boundary is not None:
        out["boundary"] = config.boundary.model_dump(mode="json", exclude_none=True)
    for key in _inapplicable_keys(config):
        out.pop(key, None)
    return out


def _inapplicable_keys(config: RunConfig) -> set[str]:
    """Top-level keys that nothing reads for this configuration, so that
    `config.yaml` lists only what applies. Dropping them is lossless: each
    is either unset (`None`) or ignored, and loads back as its default.

    - `time`, `stepper`: only a problem with a time axis (a `time:` section) steps;
    - `adjoint`: without a time axis only an optimization scenario that
      differentiates a steady state implicitly reads it;
    - `discretization` and `boundary` when unset; `fd_order` unless the
      discretization in effect (set, or the scenario's default) is
      `finite_difference`.
    """
    from .scenario import OptimizationScenario, registry

    drop = set()
    if config.time is None:
        drop |= {"time", "stepper"}
        scenario = registry().get(config.scenario)
        if not (
            scenario is not None
            and issubclass(scenario, OptimizationScenario)
            and "implicit" in scenario.adjoints
        ):
            drop.add("adjoint")
    if config.discretization is None:
        drop.add("discretization")
    if config.boundary is None:
        drop.add("boundary")
    if discretization_of(registry().get(config.scenario), config) != (
        "finite_difference"
    ):
        drop.add("fd_order")
    return drop


# ---------------------------------------------------------------- diffsim scenarios
# NAME

#: Meanings of the general keys (scenario sections carry theirs as pydantic
#: `Field(description=...)`), printed by `diffsim scenarios NAME`.
KEY_HELP = {
    "scenario": "the registered problem (diffsim scenarios lists them)",
    "precision": "float64 or float32 for every array of the run",
    "seed": f"seed of the JAX random key (random initial data, noise), 0 to {MAX_SEED}",
    "stepper": f"time stepper: {', '.join(STEPPERS)}",
    "adjoint": (
        "reverse-mode strategy of an optimization: direct, checkpoint (bounded "
        "memory), implicit (steady states)"
    ),
    "grid.cells": "cells per axis (a list, one entry per dimension)",
    "grid.lower": "lower domain bound per axis",
    "grid.upper": "upper domain bound per axis (the domain is [lower, upper))",
    "time.t_end": "end time of the run",
    "time.dt": f"fixed (maximum) step; t_end / dt at most {MAX_STEPS:.0e} steps",
    "time.cfl": (
        "CFL number: steps chosen from the fields' stable step (finite volumes); give "
        "dt or cfl"
    ),
    "time.max_steps": (
        f"most steps per snapshot interval with cfl (at most {MAX_STEPS:.0e})"
    ),
    "time.snapshots": (
        f"saved snapshots after t = 0, equally spaced (at most {MAX_SNAPSHOTS})"
    ),
    "discretization": (
        "spatial discretization: fourier (spectral), finite_difference or "
        "finite_volume, among those the scenario allows"
    ),
    "boundary": (
        "conditions per axis (x, y, z) and side (lower, upper): kind periodic, "
        "dirichlet, neumann, robin; outflow, reflecting, inflow on finite volumes; "
        "no_slip on compressible flow (see the README)"
    ),
    "fd_order": "order of the finite differences (2, 4, 6, 8; default 4)",
    "optimize.iterations": "optimizer iterations",
    "optimize.checkpoint_every": "iterations between resumable checkpoints",
    "optimize.gradient": "reverse, forward or auto (forward up to 4 parameters)",
    "optimize.optimizer.name": "adam, adamw, sgd or lbfgs",
    "optimize.optimizer.learning_rate": "step size (not for lbfgs)",
    "optimize.optimizer.clip_norm": (
        "clip the gradient to this global norm (null: no clipping)"
    ),
    "optimize.optimizer.weight_decay": "decoupled weight decay (adamw)",
    "optimize.optimizer.momentum": "momentum (sgd; null: none)",
    "optimize.optimizer.schedule.name": (
        "learning-rate schedule: constant, cosine, exponential, warmup_cosine"
    ),
    "optimize.optimizer.schedule.transition_steps": (
        "steps per decay (exponential) or of the decay (cosine)"
    ),
    "optimize.optimizer.schedule.warmup_steps": "linear warm-up steps (warmup_cosine)",
    "parallel.mesh": (
        "blocks per grid axis to split one solve across devices (null: one device)"
    ),
    "batch": (
        "an ensemble of members run as one vmapped solve (members: overrides, or size "
        "+ vary: random laws)"
    ),
    "slurm.partition": "SLURM partition of a sweep's tasks",
    "slurm.time_limit_min": "time limit per task (minutes)",
    "slurm.cpus_per_task": "CPUs per task",
    "slurm.gpus_per_task": "GPUs per task",
    "slurm.array_parallelism": "most tasks running at once",
    "distributed.enabled": (
        "join several JAX processes: auto (under srun -n N), true or false"
    ),
    "distributed.coordinator_address": "host:port of process 0",
    "distributed.num_processes": "number of processes",
    "distributed.process_id": "this process's index",
    "distributed.local_device_ids": "devices this process uses",
    "distributed.initialization_timeout_s": "seconds to wait for the other processes",
}


def _section_lines(
    model: type[pydantic.BaseModel], values: dict, prefix: str, help_of
) -> list[tuple[str, str, str]]:
    """(dotted key, default, meaning) for every field of `model`, nested
    schemas expanded."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        value = values.get(name) if isinstance(values, dict) else None
        nested = models_in(field.annotation)
        if nested and isinstance(value, dict):
            rows += _section_lines(nested[0], value, f"{key}.", help_of)
            continue
        meaning = field.description or help_of(key) or ""
        default = (
            "(required)"
            if field.is_required() and value is None
            else yaml.safe_dump(value, default_flow_style=True, width=10**6)
            .strip()
            .removesuffix("...")
            .strip()
        )
        rows.append((key, default, " ".join(meaning.split())))
    return rows


def describe_scenario(name: str) -> str:
    """What `diffsim scenarios NAME` prints: the scenario's description and
    every config key with its default and meaning. Raises `ConfigError` for
    an unknown name."""
    scenarios = registry()
    if name not in scenarios:
        close = difflib.get_close_matches(name, list(scenarios), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(
            "scenario",
            f"unknown scenario {name!r}{hint} (one of: {', '.join(scenarios)})",
        )
    scenario = scenarios[name]
    kinds = [
        k
        for cls, k in (
            (TimeDependentScenario, "time-dependent"),
            (SteadyScenario, "steady"),
            (OptimizationScenario, "optimization"),
        )
        if issubclass(scenario, cls)
    ]
    try:
        resolved = resolved_dict(load_config({"scenario": name})[0])
    except ConfigError:  # defaults that need a key from the user: show what is known
        resolved = copy.deepcopy(scenario.defaults)
    lines = [
        f"{name} ({scenario.ndim}D, {', '.join(kinds)}): {scenario.description}",
        "",
    ]
    sections = [
        ("physics", scenario.Physics),
        ("scheme", scenario.Scheme),
        ("solver", scenario.Solver),
    ]
    general = {"time": TimeConfig, "grid": GridConfig}
    for section, schema in sections:
        if schema.model_fields:
            lines.append(f"{section}:")
            rows = _section_lines(
                schema, resolved.get(section) or {}, f"{section}.", lambda key: None
            )
            lines += _table(rows)
    for section, schema in general.items():
        if (
            section == "time"
            and not issubclass(scenario, TimeDependentScenario)
            and resolved.get("time") is None
        ):
            continue
        lines.append(f"{section}:")
        lines += _table(
            _section_lines(
                schema, resolved.get(section) or {}, f"{section}.", KEY_HELP.get
            )
        )
    lines.append("run:")
    top = [
        (
            k,
            yaml.safe_dump(resolved.get(k), default_flow_style=True)
            .strip()
            .removesuffix("...")
            .strip(),
            KEY_HELP.get(k, ""),
        )
        for k in ("precision", "seed", "stepper", "adjoint", "fd_order")
    ]
    allowed = scenario.discretizations
    top.insert(
        4,
        (
            "discretization",
            allowed[0] if allowed else "(fixed)",
            f"spatial discretization, one of: {', '.join(allowed)}"
            if allowed
            else "set by the scenario (the key is refused)",
        ),
    )
    own_kinds = getattr(scenario, "boundary_kinds", None)
    if (allowed or own_kinds) and scenario.configurable_boundary:
        given = resolved.get("boundary")
        top.append(
            (
                "boundary",
                yaml.safe_dump(given, default_flow_style=True, width=10**6).strip()
                if given
                else "periodic"
                if allowed
                else "the scenario's",
                KEY_HELP["boundary"],
            )
        )
    lines += _table(top)
    if issubclass(scenario, OptimizationScenario):
        lines.append("optimize:")
        lines += _table(
            _section_lines(
                OptimizeConfig,
                resolved.get("optimize") or {},
                "optimize.",
                KEY_HELP.get,
            )
        )
    lines.append("(also parallel.mesh, batch, slurm, distributed: see the README)")
    return "\n".join(lines)


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    width = max((len(f"{k} = {d}") for k, d, _ in rows), default=0)
    width = min(width, 48)
    return [f"  {f'{k} = {d}':<{width}}  {m}".rstrip() for k, d, m in rows]


# ---------------------------------------------------------------- members


@dataclasses.dataclass(frozen=True)
class Member:
    """One member of a batch: its index, the overrides that make it (`values`,
    dotted key -> value), where each key was given (`sources`, dotted key ->
    config key such as `batch.members.2.physics.nu`), and its validated
    configuration and `physics` section."""

    index: int
    values: dict[str, Any]
    sources: dict[str, str]
    config: Any
    physics: Any

    def value(self, key: str):
        """The value of the dotted `key` in this member's resolved config."""
        node = self.config.model_dump(mode="json")
        for part in key.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def error(self, error: ConfigError) -> ConfigError:
        """`error` (raised for this member's config) re-keyed to the batch key
        that caused it, e.g. `batch.vary.physics.nu: member 3 drew -0.2: ...`."""
        for key, source in self.sources.items():
            if (
                error.key == key
                or error.key.startswith(key + ".")
                or key.startswith(error.key + ".")
            ):
                message = str(error)[len(error.key) + 2 :] if error.key else str(error)
                drew = (
                    f"member {self.index} drew {self.values[key]!r}: "
                    if source.startswith("batch.vary")
                    else ""
                )
                return ConfigError(source, drew + message)
        return ConfigError(
            f"batch.members.{self.index}" if self.sources else "batch",
            f"member {self.index}: {error}",
        )


def _assign(tree, key: str, value) -> None:
    """Set the dotted `key` in nested dicts and lists (integer parts index lists)."""
    parts = key.split(".")
    node: Any = tree
    part: Any  # a dict key, or an index once node is a list
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the config"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(
                    f"{where} is a list of {len(node)} entries: {part!r} is not an "
                    "index into it"
                )
            part = int(part)
        elif not isinstance(node, dict):
            raise ValueError(f"{where} is a value, not a section")
        if depth == len(parts) - 1:
            node[part] = value
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            node = node[part]


def member_configs(config, scenario) -> list[Member]:
    """Expand `config.batch` into validated members; raise `ConfigError`
    naming the batch key at fault. Nothing is built or compiled."""
    batch = config.batch
    if getattr(getattr(config, "parallel", None), "mesh", None) is not None:
        raise ConfigError(
            "parallel.mesh",
            "cannot be combined with batch: (the devices carry the batch axis); "
            "remove one of them",
        )
    if not issubclass(scenario, TimeDependentScenario):
        raise ConfigError(
            "batch",
            f"scenario {scenario.name} is not time-dependent; batch: runs a "
            "time-dependent scenario's members as one vmapped solve",
        )
    base = resolved_dict(config)
    base.pop("batch")
    members = []
    for index, values in enumerate(batch.overrides(config.seed)):
        listed = batch.members[index] if batch.members is not None else {}
        sources = {
            key: f"batch.members.{index}.{key}"
            if key in listed
            else f"batch.vary.{key}"
            for key in values
        }
        raw = copy.deepcopy(base)
        for key, value in values.items():
            with config_key(sources[key], ValueError):
                _assign(raw, key, value)
        member = Member(index, values, sources, None, None)
        try:
            member_config, physics, _ = load_config(raw)
        except ConfigError as e:
            raise member.error(e) from None
        members.append(
            dataclasses.replace(member, config=member_config, physics=physics)
        )
    return members
