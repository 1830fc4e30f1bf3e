"""What a physics operator is, as far as a time stepper is concerned."""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Inexact, Scalar


class AbstractOperator(eqx.Module):
    """The right-hand side `d state / dt = operator(state, t)` of a PDE.

    `state` is the operator's internal representation (Fourier coefficients for
    spectral operators, cell averages for finite volumes). `encode` maps
    physical fields, shape `(len(field_names), *grid.cells)`, to it and
    `decode` maps it back, so solvers take and return physical fields.
    """

    @property
    @abc.abstractmethod
    def field_names(self) -> tuple[str, ...]:
        """Physical names of the channels, e.g. `("vorticity",)`."""

    @abc.abstractmethod
    def __call__(self, state: Inexact[Array, "..."], t: Scalar | float) -> Inexact[Array, "..."]:
        """The time derivative of `state` at time `t`."""

    @abc.abstractmethod
    def encode(self, fields: Inexact[Array, "channels *cells"]) -> Inexact[Array, "..."]:
        """Physical fields to internal state."""

    @abc.abstractmethod
    def decode(self, state: Inexact[Array, "..."]) -> Inexact[Array, "channels *cells"]:
        """Internal state to physical fields."""


class AbstractSemilinearOperator(AbstractOperator):
    """An operator split as `L state + N(state, t)` with `L` diagonal.

    The split is what exponential integrators (ETDRK) need: `L` holds the stiff
    dissipation and dispersion and is integrated exactly, `N` the rest.
    Explicit Runge-Kutta steppers use the sum.
    """

    @abc.abstractmethod
    def linear_symbol(self) -> Inexact[Array, "..."]:
        """The diagonal of `L`, broadcastable against `state`."""

    @abc.abstractmethod
    def nonlinear(self, state: Inexact[Array, "..."], t: Scalar | float) -> Inexact[Array, "..."]:
        """`N(state, t)`."""

    def __call__(self, state, t):
        return self.linear_symbol() * state + self.nonlinear(state, t)


def parameter(x: ArrayLike) -> Array:
    """Converter for physical parameters: a JAX array in the default float dtype,
    so that `eqx.filter_grad` sees it as a differentiable leaf."""
    return jnp.asarray(x, dtype=jnp.result_type(float))
