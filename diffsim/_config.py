"""Run configuration: YAML files plus dotted overrides, validated before any
compilation. Every error names the offending key in one line."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydantic
import yaml
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from ._errors import ConfigError
from ._scenario import Scenario, TimeDependentScenario, get_scenario, registry
from .steppers import ETDRK1, ETDRK2, ETDRK4, RK4, SSPRK3, ForwardEuler

STEPPERS = {
    "euler": ForwardEuler,
    "ssprk3": SSPRK3,
    "rk4": RK4,
    "etdrk1": ETDRK1,
    "etdrk2": ETDRK2,
    "etdrk4": ETDRK4,
}


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)


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
                raise _KeyedError(name, f"expected {len(self.cells)} entries (one per axis of cells), got {len(value)}")
        if self.lower is not None and self.upper is not None:
            for axis, (lo, hi) in enumerate(zip(self.lower, self.upper)):
                if not hi > lo:
                    raise _KeyedError("upper", f"expected upper > lower on every axis, axis {axis} has {lo} >= {hi}")
        return self


class TimeConfig(_Strict):
    """`time:` — end time, number of saved snapshots, and either a fixed
    (maximum) step `dt` or a CFL number `cfl` (with at most `max_steps`
    steps per snapshot interval)."""

    t_end: PositiveFloat
    dt: PositiveFloat | None = None
    cfl: PositiveFloat | None = None
    max_steps: PositiveInt = 100_000
    snapshots: PositiveInt = 50

    @pydantic.model_validator(mode="after")
    def _one_step_rule(self):
        if self.dt is None and self.cfl is None:
            raise _KeyedError("dt", "give either time.dt (fixed steps) or time.cfl (CFL-controlled steps)")
        if self.dt is not None and self.cfl is not None:
            raise _KeyedError("cfl", "give either time.dt or time.cfl, not both (set the other to null)")
        return self


class ScheduleConfig(_Strict):
    """`optimize.optimizer.schedule:` — learning-rate schedule (optax)."""

    name: Literal["constant", "cosine", "exponential", "warmup_cosine"] = "constant"
    alpha: float = Field(0.0, ge=0.0, le=1.0, description="final fraction of the rate (cosine)")
    decay_rate: float = Field(0.5, gt=0.0, le=1.0, description="factor per transition_steps (exponential)")
    transition_steps: PositiveInt = 100
    warmup_steps: NonNegativeInt = 0


class OptimizerConfig(_Strict):
    """`optimize.optimizer:` — an optax optimizer chain. `lbfgs` takes its
    step length from a zoom line search, so it accepts no learning rate."""

    name: Literal["adam", "adamw", "sgd", "lbfgs"] = "adam"
    learning_rate: PositiveFloat = 1e-2
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    clip_norm: PositiveFloat | None = None
    weight_decay: float = Field(1e-4, ge=0.0)
    momentum: float | None = Field(None, ge=0.0, lt=1.0)

    @pydantic.model_validator(mode="after")
    def _lbfgs_has_no_rate(self):
        if self.name == "lbfgs" and {"learning_rate", "schedule"} & self.model_fields_set:
            key = "learning_rate" if "learning_rate" in self.model_fields_set else "schedule"
            raise _KeyedError(key, "lbfgs sets its step by a line search; remove this key")
        return self


class OptimizeConfig(_Strict):
    """`optimize:` — iterations, checkpoint cadence and the optimizer."""

    iterations: PositiveInt = 100
    checkpoint_every: PositiveInt = 10
    gradient: Literal["reverse", "forward", "auto"] = "auto"
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)


_BATCHABLE = "only physics.* keys and seed can vary within a batch (grid, time, stepper, scheme and precision fix shapes and compiled code: use diffsim sweep for them)"


def _flatten_member(member: dict, prefix: str = "") -> dict:
    """`{physics: {nu: 0.1}}` -> `{"physics.nu": 0.1}`; dotted keys pass through."""
    flat = {}
    for key, value in member.items():
        key = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten_member(value, f"{key}."))
        else:
            flat[key] = value
    return flat


class DistributionConfig(_Strict):
    """A random law in `batch.vary`: exactly one of `uniform: [low, high]`,
    `loguniform: [low, high]` (low > 0), `normal: [mean, std]` or
    `integers: [low, high]` (high excluded)."""

    uniform: tuple[float, float] | None = None
    loguniform: tuple[PositiveFloat, PositiveFloat] | None = None
    normal: tuple[float, pydantic.NonNegativeFloat] | None = None
    integers: tuple[int, int] | None = None

    @pydantic.model_validator(mode="after")
    def _exactly_one(self):
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            raise _KeyedError(given[1] if given else "uniform", "give exactly one of uniform, loguniform, normal, integers")
        name = given[0]
        if name != "normal" and not getattr(self, name)[0] < getattr(self, name)[1]:
            raise _KeyedError(name, f"expected [low, high] with low < high, got {list(getattr(self, name))}")
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
            values = rng.integers(*self.integers, size)
        return values.tolist()


class BatchConfig(_Strict):
    """`batch:` — an ensemble run as one vmapped solve whose batch axis is
    sharded across the devices. `members` lists per-member overrides (dotted
    keys, `physics.left.2` for a list entry); `vary` draws `size` members from
    random laws (numpy, seeded by `seed`, default the run's `seed`). Both may be
    given: each listed member then also gets the random draws."""

    members: list[dict[str, Any]] | None = Field(None, min_length=1)
    size: PositiveInt | None = None
    vary: dict[str, DistributionConfig] = Field(default_factory=dict)
    seed: NonNegativeInt | None = None

    @pydantic.field_validator("members", mode="before")
    @classmethod
    def _flatten(cls, members):
        if isinstance(members, list):
            return [_flatten_member(m) if isinstance(m, dict) else m for m in members]
        return members

    @pydantic.model_validator(mode="after")
    def _consistent(self):
        keys = [(f"members.{i}.{key}", key) for i, m in enumerate(self.members or []) for key in m]
        keys += [(f"vary.{key}", key) for key in self.vary]
        for where, key in keys:
            if key != "seed" and not (key.startswith("physics.") and len(key) > len("physics.")):
                raise _KeyedError(where, _BATCHABLE)
        if self.members is None and self.size is not None and not self.vary:
            raise _KeyedError("vary", "size needs vary (a random law per key)")
        if self.members is None and not self.vary:
            raise _KeyedError("members", "give members (a list of overrides) and/or size with vary (random laws)")
        if self.members is None and self.size is None:
            raise _KeyedError("size", "required with vary when no members are listed: how many members to draw")
        if self.members is not None and self.size is not None and self.size != len(self.members):
            raise _KeyedError("size", f"{len(self.members)} members are listed but size is {self.size}")
        for i, member in enumerate(self.members or []):
            if clash := sorted(set(member) & set(self.vary)):
                raise _KeyedError(f"vary.{clash[0]}", f"also set by batch.members.{i}; give each key in one place")
        return self

    @property
    def count(self) -> int:
        return len(self.members) if self.members is not None else self.size

    def overrides(self, run_seed: int) -> list[dict[str, Any]]:
        """Each member's overrides, `{dotted key: value}`, random draws included."""
        rng = np.random.default_rng(self.seed if self.seed is not None else run_seed)
        draws = {key: law.draw(rng, self.count) for key, law in self.vary.items()}
        listed = self.members or [{}] * self.count
        return [{**member, **{key: values[i] for key, values in draws.items()}} for i, member in enumerate(listed)]


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
    or when `coordinator_address` is given; `true` always joins, with `coordinator_address` (`host:port`),
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
        given = {k: getattr(self, k) is not None for k in ("coordinator_address", "num_processes", "process_id")}
        if any(given.values()) and not all(given.values()):
            missing = next(k for k, ok in given.items() if not ok)
            raise _KeyedError(missing, "give coordinator_address, num_processes and process_id together (or none, to detect them from SLURM)")
        if self.coordinator_address is not None and not self.coordinator_address.rpartition(":")[2].isdigit():
            raise _KeyedError("coordinator_address", f"expected host:port, got {self.coordinator_address!r}")
        if self.process_id is not None and self.process_id >= self.num_processes:
            raise _KeyedError("process_id", f"expected 0 <= process_id < num_processes = {self.num_processes}, got {self.process_id}")
        return self


class ParallelConfig(_Strict):
    """`parallel:` — one solve split across the devices of this process
    (domain decomposition, `diffsim/_parallel.py`): `mesh` gives the number
    of blocks per grid axis (`[px, py]` in 2D), whose product of devices is
    used; null runs on one device. Finite volumes exchange halos between
    blocks; Fourier-spectral fields are split into `px * py` slabs along x."""

    mesh: list[PositiveInt] | None = Field(None, min_length=1, max_length=3)


class RunConfig(_Strict):
    """Top level of a `diffsim run` configuration."""

    scenario: str
    precision: Literal["float32", "float64"] = "float64"
    seed: NonNegativeInt = 0
    stepper: Literal[tuple(STEPPERS)] = "etdrk4"  # type: ignore[valid-type]
    # implicit: steady states (implicit function theorem), for scenarios that declare it
    adjoint: Literal["direct", "checkpoint", "implicit"] = "checkpoint"
    # bytes for the reverse pass of each time loop under adjoint: checkpoint (null: unbounded)
    adjoint_memory_budget: float | None = None
    grid: GridConfig
    time: TimeConfig | None = None
    discretization: Literal["fourier", "finite_difference"] | None = None
    fd_order: Literal[2, 4, 6, 8] | None = None
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
            data = {**data, "adjoint_memory_budget": parse_bytes(data["adjoint_memory_budget"], "adjoint_memory_budget")}
        return data

    @pydantic.model_validator(mode="after")
    def _memory_budget_needs_checkpoint(self):
        if self.adjoint_memory_budget is not None and self.adjoint != "checkpoint":
            raise _KeyedError("adjoint_memory_budget", f"applies to adjoint: checkpoint only (adjoint is {self.adjoint}); remove it or set it to null")
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
        return None if self.num_steps is None else self.time.t_end / self.num_steps


class _KeyedError(ValueError):
    """Raised inside validators to name a sub-key."""

    def __init__(self, key, message):
        self.key = key
        super().__init__(message)


_BYTE_UNITS = {"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(value, key: str) -> float:
    """A byte count from a number or a string such as `"1 GB"` (10^9) or
    `"512 MiB"` (2^29); raises `_KeyedError` naming `key` otherwise."""
    expected = 'expected a positive number of bytes or a string like "1 GB" or "512 MiB"'
    if isinstance(value, str):
        text = value.strip().lower()
        number = text.rstrip("kmgtibB ")
        unit = text[len(number):].strip()
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
        raise ConfigError(text, "overrides must look like key=value, e.g. time.t_end=2.0")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(text, "empty key in override")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(key, f"cannot parse value {raw!r}: {e.problem if hasattr(e, 'problem') else e}") from None
    return key.split("."), value


def _set(tree: dict, path: list[str], value) -> None:
    node = tree
    for i, part in enumerate(path[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(".".join(path[: i + 1]), f"is a value, not a section; cannot set {'.'.join(path)}")
        node = child
    node[path[-1]] = value


def _merge(base: dict, top: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _format(error: pydantic.ValidationError, prefix: str = "") -> ConfigError:
    first = error.errors()[0]
    loc = [str(p) for p in first["loc"]]
    ctx = first.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, _KeyedError):
        loc = [*loc, inner.key]
        message = str(inner)
    elif first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    else:
        message = f"{first['msg']} (got {first.get('input')!r})"
    key = ".".join(p for p in [prefix, *loc] if p)
    return ConfigError(key, message)


def load_config(source: str | Path | dict, overrides: list[str] = ()) -> tuple[RunConfig, pydantic.BaseModel, type[Scenario]]:
    """Read, override, fill in scenario defaults and validate a run config.

    Returns the validated `RunConfig`, its parsed `physics` section and the
    scenario class. Raises `ConfigError` naming the first offending key.
    """
    if isinstance(source, dict):
        raw = copy.deepcopy(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError("", f"config file {str(path)!r} does not exist")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError("", f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError("", "the config must be a mapping of keys to values")
    for text in overrides:
        _set(raw, *parse_override(text))

    name = raw.get("scenario")
    if name is None:
        raise ConfigError("scenario", f"required key is missing (one of: {', '.join(registry())})")
    try:
        scenario = get_scenario(str(name))
    except KeyError:
        raise ConfigError("scenario", f"unknown scenario {name!r} (one of: {', '.join(registry())})") from None

    merged = _merge(scenario.defaults, raw)
    cells = (merged.get("grid") or {}).get("cells") if isinstance(merged.get("grid"), dict) else None
    if isinstance(cells, list) and len(cells) != scenario.ndim:
        raise ConfigError(
            "grid.cells",
            f"scenario {scenario.name} is {scenario.ndim}D: expected {scenario.ndim} entries, got {len(cells)}",
        )
    try:
        config = RunConfig.model_validate(merged)
    except pydantic.ValidationError as e:
        raise _format(e) from None
    try:
        physics = scenario.Physics.model_validate(config.physics)
    except pydantic.ValidationError as e:
        raise _format(e, "physics") from None
    sections = {}
    for section, schema in (("scheme", scenario.Scheme), ("solver", scenario.Solver)):
        try:
            sections[section] = schema.model_validate(getattr(config, section)).model_dump()
        except pydantic.ValidationError as e:
            raise _format(e, section) from None
    if issubclass(scenario, TimeDependentScenario) and config.time is None:
        raise ConfigError("time", f"scenario {scenario.name} is time-dependent: the time section is required")

    if config.grid.lower is None or config.grid.upper is None:
        raise ConfigError("grid.lower", f"scenario {scenario.name} gives no default domain; set grid.lower and grid.upper")
    config = config.model_copy(update={"physics": physics.model_dump(), **sections})
    if config.parallel.mesh is not None:  # divisibility here; device count when the run starts
        from ._parallel import check_divisible

        check_divisible(config.grid.cells, config.parallel.mesh)
    if config.batch is not None:  # every member validated too, naming batch.members.i.key / batch.vary.key
        from ._ensemble import member_configs

        member_configs(config, scenario)
    return config, physics, scenario


def resolved_dict(config: RunConfig) -> dict:
    """The fully resolved configuration, as written to `config.yaml`: it
    loads back as the same configuration (keys a choice forbids, such as an
    L-BFGS learning rate, are left out)."""
    out = config.model_dump(mode="json")
    optimizer = (out.get("optimize") or {}).get("optimizer")
    if optimizer and optimizer.get("name") == "lbfgs":
        optimizer.pop("learning_rate", None)
        optimizer.pop("schedule", None)
    return out
