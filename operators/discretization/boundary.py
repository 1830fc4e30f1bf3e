"""Boundary conditions of `FiniteDifference`, per axis and side.

Each condition is written `alpha u + beta du/dn = value` at the wall, with
`du/dn` the outward normal derivative; `FiniteDifference` fills its ghost cells
by polynomial extrapolation through that condition and the nearest interior
cells. Values are JAX arrays (differentiable leaves); the kinds and the
coefficients `alpha`, `beta` are static.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._operator import parameter


class AbstractBoundary(eqx.Module):
    """A boundary condition for one side of one axis of a `FiniteDifference`."""


class Periodic(AbstractBoundary):
    """Periodic wrap-around; must be given on both sides of an axis."""


class AbstractWallBoundary(AbstractBoundary):
    """A wall condition `alpha u + beta du/dn = value` (outward normal
    derivative `du/dn`), with static `alpha`, `beta` and a differentiable
    scalar `value`."""

    value: eqx.AbstractVar[Float[Array, ""]]

    @property
    @abc.abstractmethod
    def coefficients(self) -> tuple[float, float]:
        """The static pair `(alpha, beta)`."""


def _check_scalar_value(kind: str, value: Array) -> None:
    if value.ndim != 0:
        raise ValueError(f"{kind}: value must be a scalar, got shape {value.shape}")


class Dirichlet(AbstractWallBoundary):
    """`u = value` at the wall.

    **Arguments:**

    - `value`: the prescribed wall value (a differentiable scalar).
    """

    value: Float[Array, ""] = eqx.field(converter=parameter)

    def __check_init__(self):
        _check_scalar_value("Dirichlet", self.value)

    @property
    def coefficients(self) -> tuple[float, float]:
        return 1.0, 0.0


class Neumann(AbstractWallBoundary):
    """`du/dn = value` at the wall, `du/dn` the outward normal derivative
    (`-du/dx` at the lower wall, `du/dx` at the upper one).

    **Arguments:**

    - `value`: the prescribed normal derivative (a differentiable scalar).
    """

    value: Float[Array, ""] = eqx.field(converter=parameter)

    def __check_init__(self):
        _check_scalar_value("Neumann", self.value)

    @property
    def coefficients(self) -> tuple[float, float]:
        return 0.0, 1.0


class Robin(AbstractWallBoundary):
    """`alpha u + beta du/dn = value` at the wall (outward normal derivative).

    **Arguments:**

    - `alpha`, `beta`: static coefficients, not both zero.
    - `value`: the right-hand side (a differentiable scalar).
    """

    alpha: float = eqx.field(static=True)
    beta: float = eqx.field(static=True)
    value: Float[Array, ""]

    def __init__(self, alpha: float, beta: float, value: ArrayLike):
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.value = parameter(value)

    def __check_init__(self):
        if not (np.isfinite(self.alpha) and np.isfinite(self.beta)):
            raise ValueError(
                f"Robin: alpha and beta must be finite, got {self.alpha}, {self.beta}"
            )
        if self.alpha == 0 and self.beta == 0:
            raise ValueError("Robin: alpha and beta must not both be zero")
        _check_scalar_value("Robin", self.value)

    @property
    def coefficients(self) -> tuple[float, float]:
        return float(self.alpha), float(self.beta)


BoundarySpec = (
    AbstractBoundary
    | Sequence[AbstractBoundary | tuple[AbstractBoundary, AbstractBoundary]]
)


def normalize_boundary(
    boundary: Any,
    ndim: int,
    *,
    owner: str = "FiniteDifference",
    kinds: tuple[type, ...] = (AbstractBoundary,),
    periodic: tuple[type, ...] = (Periodic,),
) -> tuple[tuple[Any, Any], ...]:
    """`((lower, upper), ...)` per axis from one condition for every side, or a
    sequence (one entry per axis) of a condition for both sides or a
    `(lower, upper)` pair. `None` means periodic everywhere.

    `owner` names the discretization in error messages; `kinds` are the
    accepted condition types and `periodic` the types that wrap around
    (`FiniteVolume` passes its own, this function being the one normalisation
    of both)."""
    if boundary is None:
        boundary = periodic[0]()
    if isinstance(boundary, kinds):
        boundary = [boundary] * ndim
    if isinstance(boundary, (str, bytes)) or not isinstance(boundary, Sequence):
        raise TypeError(
            f"{owner}: boundary must be a boundary condition or a sequence "
            f"of one per axis, got {type(boundary).__name__}"
        )
    if len(boundary) != ndim:
        raise ValueError(
            f"{owner}: boundary needs one entry per axis ({ndim}), got {len(boundary)}"
        )
    out = []
    for axis, entry in enumerate(boundary):
        pair = (entry, entry) if isinstance(entry, kinds) else entry
        if (
            not isinstance(pair, (tuple, list))
            or len(pair) != 2
            or not all(isinstance(b, kinds) for b in pair)
        ):
            raise TypeError(
                f"{owner}: boundary of axis {axis} must be a condition or "
                f"a (lower, upper) pair of conditions, got {entry!r}"
            )
        lower, upper = pair
        if isinstance(lower, periodic) != isinstance(upper, periodic):
            raise ValueError(
                f"{owner}: axis {axis} is periodic on one side only; "
                "use Periodic() on both sides or on neither"
            )
        out.append((lower, upper))
    return tuple(out)


def ghost_weights(
    alpha: float, beta: float, h: float, num_interior: int, num_ghost: int
) -> tuple[np.ndarray, np.ndarray]:
    """Weights `(W, w)` of the ghost values `g = W @ u + w * value`.

    `u[k]` is the interior cell `k` from the wall (distance `(k + 1/2) h`) and
    `g[j]` the ghost cell `j` beyond it (distance `-(j + 1/2) h`). The ghosts
    are the values of the polynomial of degree `num_interior` through the
    interior values that satisfies `alpha p + beta dp/dn = value` at the wall
    (the classical ghost-cell extrapolation; the error of `g` is
    `O(h^(num_interior + 1))` for smooth `u`).
    """
    degree = num_interior
    powers = np.arange(degree + 1)
    # in units of h (conditioning): inward distance t = s / h from the wall
    t = np.arange(num_interior) + 0.5
    rows = t[:, None] ** powers[None, :]
    # wall row: alpha p(0) - beta dp/ds(0), the outward normal being -d/ds
    wall = np.zeros(degree + 1)
    wall[0] = alpha
    wall[1] = -beta / h
    matrix = np.vstack([rows, wall])
    inverse = np.linalg.inv(matrix)  # coefficients = inverse @ [u, value]
    ghosts = -(np.arange(num_ghost) + 0.5)
    evaluation = ghosts[:, None] ** powers[None, :]
    weights = evaluation @ inverse
    return weights[:, :num_interior], weights[:, num_interior]
