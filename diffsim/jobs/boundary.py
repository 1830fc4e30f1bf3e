"""The `boundary:` config section: one condition per axis and side.

```yaml
discretization: finite_difference
boundary:
  x:
    lower: {kind: dirichlet, value: 1.0}
    upper: {kind: neumann, value: 0.0}
  y: {kind: periodic}            # both sides of y
```

An axis takes `kind` (with `value`, `alpha`, `beta` as the kind needs) for
both of its sides, and `lower` / `upper` for one side each; a side given
there replaces the both-sides condition on that side. Axes and sides not
given keep the scenario's default (periodic unless the scenario says
otherwise). Kinds:

- `periodic` (both sides of an axis or neither);
- `dirichlet` (`u = value`), `neumann` (`du/dn = value`, outward normal),
  `robin` (`alpha u + beta du/dn = value`);
- finite volumes only: `outflow` (zero gradient), `reflecting` (a slip
  wall, the physics' mirror state) and `inflow` (a fixed state: `value`, one
  number per field or one for all).

The compressible-flow (Euler / Navier-Stokes) scenarios fix their
discretization but take the section too (their `boundary_kinds` is
`"euler"`), with the kinds `periodic`, `outflow`, `reflecting`, `inflow`
(`value: [density, velocity.., pressure]`) and `no_slip` (a viscous wall,
`NoSlipWall`: `temperature` for an isothermal one, else adiabatic;
`velocity`, one component per axis, for a moving one), `non_reflecting`
(the characteristic NSCBC boundary `NonReflecting`: far-field `pressure`,
optional `relaxation` (default 0.25), `density`, `velocity`, `transverse`
(default 0.5)) and `total_inflow` (`TotalInflow`: `total_pressure`,
`total_temperature`, `direction`, one component per axis).

`discretization: fourier` accepts only `periodic`. Everything is checked when
the config loads (`check_boundary`), before anything is built; the values
become differentiable leaves of the operator (`build_boundary`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import pydantic

from .errors import ConfigError, KeyedError
from .schema import PhysicsConfig

#: Every kind the section knows.
KINDS = (
    "periodic",
    "dirichlet",
    "neumann",
    "robin",
    "outflow",
    "reflecting",
    "inflow",
    "no_slip",
    "non_reflecting",
    "total_inflow",
)
#: The config's names of the grid axes.
AXES = ("x", "y", "z")
#: The kinds each discretization accepts.
KINDS_OF = {
    "fourier": ("periodic",),
    "finite_difference": ("periodic", "dirichlet", "neumann", "robin"),
    "finite_volume": (
        "periodic",
        "dirichlet",
        "neumann",
        "robin",
        "outflow",
        "reflecting",
        "inflow",
    ),
    # the compressible-flow scenarios (`Scenario.boundary_kinds = "euler"`)
    "euler": (
        "periodic",
        "outflow",
        "reflecting",
        "inflow",
        "no_slip",
        "non_reflecting",
        "total_inflow",
    ),
}
#: The numbers each kind needs (and the only ones it takes).
_NEEDS = {
    "periodic": (),
    "dirichlet": ("value",),
    "neumann": ("value",),
    "robin": ("alpha", "beta", "value"),
    "outflow": (),
    "reflecting": (),
    "inflow": ("value",),
    "no_slip": (),
    "non_reflecting": ("pressure",),
    "total_inflow": ("total_pressure", "total_temperature", "direction"),
}
#: The numbers a kind may take without needing them.
_OPTIONAL = {
    "no_slip": ("temperature", "velocity"),
    "non_reflecting": ("relaxation", "density", "velocity", "transverse"),
}
#: Every number a side's condition can carry.
NUMBERS = (
    "value",
    "alpha",
    "beta",
    "temperature",
    "velocity",
    "pressure",
    "relaxation",
    "density",
    "transverse",
    "total_pressure",
    "total_temperature",
    "direction",
)
_POSITIVE = (
    "temperature",
    "pressure",
    "density",
    "total_pressure",
    "total_temperature",
)

Kind = Literal[
    "periodic",
    "dirichlet",
    "neumann",
    "robin",
    "outflow",
    "reflecting",
    "inflow",
    "no_slip",
    "non_reflecting",
    "total_inflow",
]


def _check_numbers(kind: str, numbers: dict[str, Any]) -> None:
    """Refuse a number `kind` needs but lacks, or takes but does not need,
    naming the sub-key."""
    need, optional = _NEEDS[kind], _OPTIONAL.get(kind, ())
    for name in NUMBERS:
        given = numbers.get(name) is not None
        if name in need and not given:
            takes = f" (it takes {', '.join(need)})" if len(need) > 1 else ""
            raise KeyedError(name, f"required for kind {kind}{takes}")
        if given and name not in need + optional:
            accepted = need + optional
            takes = (
                f"takes only {', '.join(accepted)}" if accepted else "takes no numbers"
            )
            raise KeyedError(name, f"kind {kind} {takes}; remove it or set it to null")
    for name in _POSITIVE:
        if numbers.get(name) is not None and numbers[name] <= 0:
            raise KeyedError(name, "must be > 0")
    if numbers.get("relaxation") is not None and numbers["relaxation"] < 0:
        raise KeyedError("relaxation", "must be >= 0")
    if isinstance(numbers.get("value"), list):
        if kind != "inflow":
            raise KeyedError(
                "value", f"expected one number for kind {kind}, got a list"
            )
        if not numbers["value"]:
            raise KeyedError("value", "expected one number per field, got []")
    if kind == "robin" and numbers["alpha"] == 0 and numbers["beta"] == 0:
        raise KeyedError("beta", "alpha and beta must not both be zero")


class ConditionNumbers(PhysicsConfig):
    """A condition's `kind` and the numbers (`NUMBERS`) kinds take, on one
    side (`SideBoundary`) or on both sides of an axis (`AxisBoundary`)."""

    kind: Kind | None = pydantic.Field(
        None, description="the kind on both sides (lower/upper override a side)"
    )
    value: float | list[float] | None = pydantic.Field(
        None,
        description="u (dirichlet), du/dn (neumann), the right-hand side "
        "(robin) or the state, one number per field (inflow)",
    )
    alpha: float | None = pydantic.Field(None, description="robin: coefficient of u")
    beta: float | None = pydantic.Field(None, description="robin: coefficient of du/dn")
    temperature: float | None = pydantic.Field(
        None, description="no_slip: wall temperature (null: adiabatic)"
    )
    velocity: list[float] | None = pydantic.Field(
        None,
        description="no_slip: wall velocity; non_reflecting: far-field velocity "
        "(one component per axis)",
    )
    pressure: float | None = pydantic.Field(
        None, description="non_reflecting: far-field pressure"
    )
    relaxation: float | None = pydantic.Field(
        None, description="non_reflecting: relaxation coefficient sigma (0.25)"
    )
    density: float | None = pydantic.Field(
        None, description="non_reflecting: far-field density"
    )
    transverse: float | None = pydantic.Field(
        None, description="non_reflecting: transverse-term fraction (0.5)"
    )
    total_pressure: float | None = pydantic.Field(
        None, description="total_inflow: stagnation pressure"
    )
    total_temperature: float | None = pydantic.Field(
        None, description="total_inflow: stagnation temperature"
    )
    direction: list[float] | None = pydantic.Field(
        None, description="total_inflow: flow direction, one component per axis"
    )

    def numbers(self) -> dict[str, Any]:
        """The numbers (`NUMBERS`) of the condition."""
        return {name: getattr(self, name) for name in NUMBERS}


class SideBoundary(ConditionNumbers):
    """The condition on one side (`lower` or `upper`) of one axis."""

    kind: Kind = pydantic.Field(description=f"one of {', '.join(KINDS)}")

    @pydantic.model_validator(mode="after")
    def _numbers(self):
        _check_numbers(self.kind, self.numbers())
        return self


class AxisBoundary(ConditionNumbers):
    """The conditions on both sides of one axis: `kind` (with its numbers)
    for both, `lower` / `upper` for one side each (replacing `kind` there)."""

    lower: SideBoundary | None = pydantic.Field(
        None, description="the condition at the lower end"
    )
    upper: SideBoundary | None = pydantic.Field(
        None, description="the condition at the upper end"
    )

    @pydantic.model_validator(mode="after")
    def _numbers(self):
        if self.kind is not None:
            _check_numbers(self.kind, self.numbers())
        else:
            for name in NUMBERS:
                if getattr(self, name) is not None:
                    raise KeyedError(
                        "kind",
                        f"required with {name} (the kind of both sides), or give "
                        "lower/upper instead",
                    )
        return self

    def sides(self) -> tuple[SideBoundary | None, SideBoundary | None]:
        """`(lower, upper)`, each None where this axis leaves it unset."""
        both = (
            None
            if self.kind is None
            else SideBoundary.model_validate({"kind": self.kind, **self.numbers()})
        )
        return (
            self.lower if self.lower is not None else both,
            self.upper if self.upper is not None else both,
        )


class BoundaryConfig(PhysicsConfig):
    """`boundary:` — conditions per axis (`x`, `y`, `z`) and side."""

    x: AxisBoundary | None = pydantic.Field(None, description="first axis")
    y: AxisBoundary | None = pydantic.Field(None, description="second axis")
    z: AxisBoundary | None = pydantic.Field(None, description="third axis")

    def sides(self, ndim: int) -> list[tuple[SideBoundary | None, SideBoundary | None]]:
        """`(lower, upper)` per axis of an `ndim`-dimensional grid (None: unset)."""
        return [
            (None, None) if axis is None else axis.sides()
            for axis in (getattr(self, name) for name in AXES[:ndim])
        ]


def check_boundary(
    section: BoundaryConfig | None, scenario, kind: str | None, channels: int
) -> None:
    """Refuse, before anything is built, a `boundary:` section that `scenario`
    on the discretization `kind` cannot honour: an axis beyond the grid's, a
    kind the discretization lacks (Fourier: periodic only), periodic on one
    side only, an inflow state with the wrong number of fields. Raises
    `ConfigError` naming the key.

    **Arguments:**

    - `section`: the validated `boundary:` section, or None.
    - `scenario`: the scenario class (`ndim`, `discretizations`,
      `configurable_boundary`).
    - `kind`: the discretization in effect (None: the scenario fixes it;
      then its `boundary_kinds`, if any, say which kinds apply).
    - `channels`: the number of fields (for inflow states).
    """
    if section is None:
        return
    if kind is None:
        kind = getattr(scenario, "boundary_kinds", None)
    if kind is None or not scenario.configurable_boundary:
        raise ConfigError(
            "boundary",
            f"scenario {scenario.name} sets its own boundaries; the boundary: "
            "section applies to scenarios with a discretization: choice "
            "(diffsim scenarios lists them) and to the compressible-flow ones",
        )
    for name in AXES[scenario.ndim :]:
        if getattr(section, name) is not None:
            raise ConfigError(
                f"boundary.{name}",
                f"scenario {scenario.name} is {scenario.ndim}D: its axes are "
                f"{', '.join(AXES[: scenario.ndim])}",
            )
    allowed = KINDS_OF[kind]
    for axis, pair in zip(AXES, section.sides(scenario.ndim)):
        for side, condition in zip(("lower", "upper"), pair):
            if condition is None:
                continue
            where = _where(section, axis, side)
            if condition.kind not in allowed:
                walls = [
                    k for k in scenario.discretizations if "dirichlet" in KINDS_OF[k]
                ]
                hint = (
                    f"; use discretization: {' or '.join(walls)} for walls"
                    if kind == "fourier" and walls
                    else ""
                )
                raise ConfigError(
                    f"{where}.kind",
                    f"{condition.kind} is not available on {kind}; allowed: "
                    f"{', '.join(allowed)}{hint}",
                )
            value = condition.value
            if (
                condition.kind == "inflow"
                and isinstance(value, list)
                and len(value) != channels
            ):
                raise ConfigError(
                    f"{where}.value",
                    f"expected one number per field ({channels}), got {len(value)}",
                )
            if kind == "euler" and condition.kind == "inflow":
                if not isinstance(value, list):
                    raise ConfigError(
                        f"{where}.value",
                        f"expected the inflow state [density, velocity.., pressure] "
                        f"({channels} numbers), got one number",
                    )
                if value[0] <= 0 or value[-1] <= 0:
                    raise ConfigError(
                        f"{where}.value",
                        "inflow density and pressure must be > 0",
                    )
            for name in ("velocity", "direction"):
                vector = getattr(condition, name)
                if vector is not None and len(vector) != scenario.ndim:
                    raise ConfigError(
                        f"{where}.{name}",
                        f"expected one component per axis ({scenario.ndim}), got "
                        f"{len(vector)}",
                    )
            velocity = condition.velocity
            if (
                condition.kind == "no_slip"
                and velocity is not None
                and velocity[AXES.index(axis)] != 0
            ):
                raise ConfigError(
                    f"{where}.velocity",
                    f"a wall moves along itself: its {axis} component must be 0",
                )
        lower, upper = pair
        if lower is None or upper is None:
            continue  # the unset side keeps the default; checked when built
        if (lower.kind == "periodic") != (upper.kind == "periodic"):
            side = "lower" if lower.kind == "periodic" else "upper"
            other = upper.kind if side == "lower" else lower.kind
            raise ConfigError(
                f"{_where(section, axis, side)}.kind",
                f"periodic must be given on both sides of an axis or on neither "
                f"(the other side is {other})",
            )


def _where(section: BoundaryConfig, axis: str, side: str) -> str:
    """The key a side's condition was given under: `boundary.x.lower` or,
    for a both-sides condition, `boundary.x`."""
    entry = getattr(section, axis)
    return (
        f"boundary.{axis}.{side}"
        if entry is not None and getattr(entry, side) is not None
        else f"boundary.{axis}"
    )


def _library_condition(condition: SideBoundary, kind: str):
    """The library object of one side's `condition` on the discretization
    `kind`: `Periodic`, `Dirichlet`, `Neumann`, `Robin` of
    `operators.discretization` (finite differences and finite volumes), and
    on finite volumes `Outflow`, `ReflectingWall`, `InflowState`."""
    from diffsim.operators import finite_volume as fv
    from diffsim.operators.discretization import Dirichlet, Neumann, Periodic, Robin

    value = condition.value
    if kind == "euler":
        if condition.kind == "inflow":
            assert isinstance(value, list)  # checked by check_boundary
            return fv.Inflow(value[0], value[1:-1], value[-1])
        if condition.kind == "no_slip":
            return fv.NoSlipWall(condition.temperature, condition.velocity)
        if condition.kind == "non_reflecting":
            assert condition.pressure is not None  # checked by _check_numbers
            options = {
                name: getattr(condition, name)
                for name in ("relaxation", "density", "velocity", "transverse")
                if getattr(condition, name) is not None
            }
            return fv.NonReflecting(condition.pressure, **options)
        if condition.kind == "total_inflow":
            assert condition.total_pressure is not None
            assert condition.total_temperature is not None
            assert condition.direction is not None
            return fv.TotalInflow(
                condition.total_pressure,
                condition.total_temperature,
                condition.direction,
            )
    if condition.kind in ("outflow", "reflecting", "inflow"):
        return {
            "outflow": fv.Outflow,
            "reflecting": fv.ReflectingWall,
            "inflow": lambda: fv.InflowState(value),
        }[condition.kind]()
    if condition.kind == "periodic":
        return fv.Periodic() if kind in ("finite_volume", "euler") else Periodic()
    assert isinstance(value, float)  # a number for a wall (_check_numbers)
    if condition.kind == "dirichlet":
        return Dirichlet(value)
    if condition.kind == "neumann":
        return Neumann(value)
    assert condition.alpha is not None and condition.beta is not None
    return Robin(condition.alpha, condition.beta, value)


def build_boundary(
    section: BoundaryConfig | None,
    ndim: int,
    kind: str,
    default: Sequence[tuple[Any, Any]] | None,
) -> tuple[tuple[Any, Any], ...] | None:
    """The `(lower, upper)` library conditions per axis for the discretization
    `kind`: the `default` pairs (None: periodic) with every side the config
    `section` gives replaced by its condition, whose numbers become
    differentiable leaves. None when neither gives anything (periodic).

    **Arguments:**

    - `section`: the validated `boundary:` section (checked by
      `check_boundary`), or None.
    - `ndim`: the grid's dimension.
    - `kind`: `"fourier"`, `"finite_difference"` or `"finite_volume"`.
    - `default`: the scenario's conditions, normalised to one `(lower,
      upper)` pair per axis, or None.
    """
    if section is None:
        return None if default is None else tuple(default)
    periodic = _library_condition(
        SideBoundary.model_validate({"kind": "periodic"}), kind
    )
    pairs = [list(p) for p in (default or [(periodic, periodic)] * ndim)]
    for axis, sides in enumerate(section.sides(ndim)):
        for side, condition in enumerate(sides):
            if condition is not None:
                pairs[axis][side] = _library_condition(condition, kind)
    return tuple((lower, upper) for lower, upper in pairs)
