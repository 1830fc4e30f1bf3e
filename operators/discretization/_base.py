"""The interface every discretization implements, so physics is written once."""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Inexact

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
    def derivative(
        self, u: Inexact[Array, "*cells"], axis: int, order: int = 1
    ) -> Inexact[Array, "*cells"]:
        """The `order`-th partial derivative of a scalar field along `axis`."""

    @abc.abstractmethod
    def laplacian(self, u: Inexact[Array, "*cells"]) -> Inexact[Array, "*cells"]:
        """Sum of unmixed second derivatives of a scalar field."""

    def gradient(self, u: Inexact[Array, "*cells"]) -> Inexact[Array, " ndim *cells"]:
        """Stacked first derivatives `(d/dx, d/dy, d/dz)` of a scalar field."""
        check_scalar(self.grid, u)
        return jnp.stack([self.derivative(u, a) for a in range(self.grid.ndim)])

    def divergence(self, v: Inexact[Array, " ndim *cells"]) -> Inexact[Array, "*cells"]:
        """`sum_i d v_i / d x_i` of a vector field with a leading component axis."""
        if v.shape != (self.grid.ndim, *self.grid.cells):
            raise ValueError(
                "divergence: expected a vector field of shape "
                f"{(self.grid.ndim, *self.grid.cells)}, got {v.shape}"
            )
        terms = [self.derivative(v[a], a) for a in range(self.grid.ndim)]
        return sum(terms[1:], terms[0])

    # --- flux-form second derivatives (variable-coefficient operators) ----
    #
    # Not abstract, so that discretizations without them still instantiate;
    # calling one on such a discretization raises a readable error.
    # Faces: face `j` along `axis` sits half a cell above centre `j`,
    # `x_j + h / 2` (the last face is the periodic boundary).

    @abc.abstractmethod
    def derivative_of_scaled_derivative(
        self, u: Inexact[Array, "*cells"], a, axis: int, *, at_faces: bool = False
    ) -> Inexact[Array, "*cells"]:
        """`d/dx_axis (a d/dx_axis u)` in flux form.

        Written as a difference of face fluxes, so that variable-coefficient
        operators such as `div(grad(u) / rho)` are discretized compactly:
        composing two collocated first derivatives gives a stencil twice as
        wide whose null space contains the grid-scale (odd-even) mode.

        **Arguments:**

        - `u`: a scalar field.
        - `a`: the coefficient: a scalar, or an array of `grid.ndim`
          dimensions broadcastable to `grid.cells` (length 1 or `cells[i]`
          per axis), real or complex.
        - `axis`: the axis differentiated.
        - `at_faces`: if `True`, `a` is already sampled at the faces
          `x + h/2` along `axis`; otherwise it is given at cell centres and
          interpolated to the faces (`interpolate_to_faces`).
        """

    @abc.abstractmethod
    def interpolate_to_faces(self, a: ArrayLike, axis: int) -> ArrayLike:
        """A cell-centred field (or a broadcastable coefficient, see
        `derivative_of_scaled_derivative`) interpolated to the faces
        `x + h/2` along `axis`."""

    @abc.abstractmethod
    def derivative_of_scaled_derivative_symbol(self, axis: int) -> np.ndarray:
        """The Fourier symbol of `u -> derivative_of_scaled_derivative(u, 1, axis)`
        on a periodic grid: a real NumPy array (float64), shaped to broadcast
        over the full complex spectrum (`fftn` ordering, `fftfreq` wavenumbers).

        Spectral preconditioners (e.g. a shifted Laplacian inverted by FFT)
        are built from it, so that they match the discretization."""


def check_scalar(grid: Grid, u) -> None:
    if u.shape != grid.cells:
        raise ValueError(
            f"expected a scalar field of shape {grid.cells}, got {u.shape}"
        )


def check_coefficient(grid: Grid, a, name: str = "a") -> None:
    """`a` is a scalar or has `grid.ndim` axes broadcastable to `grid.cells`."""
    shape = jnp.shape(a)
    if shape == ():
        return
    if len(shape) != grid.ndim or any(
        s not in (1, c) for s, c in zip(shape, grid.cells)
    ):
        raise ValueError(
            f"expected the coefficient {name} to be a scalar or an array of "
            f"{grid.ndim} axes broadcastable to {grid.cells} (each axis 1 or full "
            f"length), got shape {shape}"
        )


def axis_profile_shape(grid: Grid, axis: int, n: int) -> tuple[int, ...]:
    """`(1, ..., n, ..., 1)`: the shape of a 1D array along `axis` on the grid."""
    shape = [1] * grid.ndim
    shape[axis] = n
    return tuple(shape)
