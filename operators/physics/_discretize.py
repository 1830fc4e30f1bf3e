"""`discretize(physics, discretization)`: one PDE, any discretization."""

from __future__ import annotations

from collections.abc import Callable

from .._operator import AbstractOperator
from ..internal import checks_own_arguments
from ._physics import AbstractPhysics

# discretization class -> (kind name, builder(physics, discretization, **options))
_STRATEGIES: dict[type, tuple[str, Callable[..., AbstractOperator]]] = {}


def register_strategy(discretization_type: type, kind: str):
    """Decorator registering the builder that turns a physics and a
    `discretization_type` into an operator; `kind` is the name users pick
    (`"fourier"`, `"finite_difference"`, `"finite_volume"`)."""

    def decorate(builder):
        _STRATEGIES[discretization_type] = (kind, builder)
        return builder

    return decorate


def kind_of(discretization) -> str:
    for cls in type(discretization).__mro__:
        if cls in _STRATEGIES:
            return _STRATEGIES[cls][0]
    raise TypeError(
        f"discretize: no strategy for {type(discretization).__name__}; known: "
        + ", ".join(sorted(t.__name__ for t in _STRATEGIES))
    )


@checks_own_arguments
def discretize(physics: AbstractPhysics, discretization, **options) -> AbstractOperator:
    """The operator (right-hand side for the time steppers) of `physics` on
    `discretization`.

    **Arguments:**

    - `physics`: an `AbstractPhysics`.
    - `discretization`: `FourierSpectral`, `FiniteDifference` (periodic or with
      walls) or `FiniteVolume`.
    - `options`: passed to the strategy.

    **Returns:** an `AbstractOperator`: semilinear (ETDRK-ready) on Fourier
    and periodic finite differences; with an implicit linear part (IMEX) on
    finite differences with walls; with a CFL condition on finite volumes.

    **Raises:** `ValueError` naming the valid choices when the pair makes no
    sense (e.g. KdV on first-order finite volumes).
    """
    if not isinstance(physics, AbstractPhysics):
        raise TypeError(
            f"discretize: physics must be an AbstractPhysics, got "
            f"{type(physics).__name__}"
        )
    kind = kind_of(discretization)
    if kind not in physics.discretizations:
        raise ValueError(
            f"{type(physics).__name__} cannot run on {kind}: valid choices are "
            + ", ".join(physics.discretizations)
        )
    # a physics refuses the dimensions it is not written for (ValueError)
    physics.field_names(discretization.grid.ndim)
    for cls in type(discretization).__mro__:
        if cls in _STRATEGIES:
            return _STRATEGIES[cls][1](physics, discretization, **options)
    raise AssertionError("unreachable")
