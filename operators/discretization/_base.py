"""The interface every discretization implements, so physics is written once."""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Inexact

from .._grid import Grid


class AbstractDiscretization(eqx.Module):
    """How a field on a `Grid` is represented and differentiated.

    Scalar fields have shape `grid.cells`; vector fields carry a leading axis of
    length `grid.ndim`. Real and complex fields are both accepted.

    Physics code only calls the methods below, so an operator such as
    `div(grad(u) / rho)` runs unchanged on any concrete discretization.
    """

    grid: eqx.AbstractVar[Grid]

    @abc.abstractmethod
    def derivative(self, u: Inexact[Array, "*cells"], axis: int, order: int = 1) -> Inexact[Array, "*cells"]:
        """The `order`-th partial derivative of a scalar field along `axis`."""

    @abc.abstractmethod
    def laplacian(self, u: Inexact[Array, "*cells"]) -> Inexact[Array, "*cells"]:
        """Sum of unmixed second derivatives of a scalar field."""

    def gradient(self, u: Inexact[Array, "*cells"]) -> Inexact[Array, "ndim *cells"]:
        """Stacked first derivatives `(d/dx, d/dy, d/dz)` of a scalar field."""
        _check_scalar(self.grid, u)
        return jnp.stack([self.derivative(u, a) for a in range(self.grid.ndim)])

    def divergence(self, v: Inexact[Array, "ndim *cells"]) -> Inexact[Array, "*cells"]:
        """`sum_i d v_i / d x_i` of a vector field with a leading component axis."""
        if v.shape != (self.grid.ndim, *self.grid.cells):
            raise ValueError(
                f"divergence: expected a vector field of shape {(self.grid.ndim, *self.grid.cells)}, "
                f"got {v.shape}"
            )
        return sum(self.derivative(v[a], a) for a in range(self.grid.ndim))


def _check_scalar(grid: Grid, u) -> None:
    if u.shape != grid.cells:
        raise ValueError(f"expected a scalar field of shape {grid.cells}, got {u.shape}")
