"""What a physics operator is, as far as a time stepper is concerned."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Inexact, Scalar


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
    def __call__(
        self, state: Inexact[Array, "..."], t: Scalar | float
    ) -> Inexact[Array, "..."]:
        """The time derivative of `state` at time `t`."""

    @abc.abstractmethod
    def encode(
        self, fields: Inexact[Array, " channels *cells"]
    ) -> Inexact[Array, "..."]:
        """Physical fields to internal state."""

    @abc.abstractmethod
    def decode(
        self, state: Inexact[Array, "..."]
    ) -> Inexact[Array, " channels *cells"]:
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
    def nonlinear(
        self, state: Inexact[Array, "..."], t: Scalar | float
    ) -> Inexact[Array, "..."]:
        """`N(state, t)`."""

    def __call__(self, state, t):
        return self.linear_symbol() * state + self.nonlinear(state, t)


class AbstractCFLOperator(AbstractOperator):
    """An operator with a CFL condition: the largest stable explicit step
    depends on the state (wave speeds over cell widths). `solve_cfl` and the
    run loop choose each step from `stable_dt`; operators without this
    capability take a fixed `dt`.
    """

    @abc.abstractmethod
    def stable_dt(self, state: Inexact[Array, "..."], cfl: Scalar | float) -> Scalar:
        """The stable step of internal `state` at Courant number `cfl`."""


class AbstractConstrainedOperator(AbstractOperator):
    """An operator whose physical fields are only meaningful while some
    quantities stay strictly positive (density and pressure of a gas, for
    instance). Solvers and the run loop check them: a state that violates
    them is reported, naming the quantity and the cell, instead of being
    integrated on until it turns into NaN.

    Subclasses name the quantities (`positive_quantities`) and compute them
    from physical fields (`positive_values`); `physical_violation` is the
    per-cell mask built from both.
    """

    @property
    @abc.abstractmethod
    def positive_quantities(self) -> tuple[str, ...]:
        """Names of the quantities that must stay > 0, e.g.
        `("density", "pressure")`."""

    @abc.abstractmethod
    def positive_values(
        self, fields: Inexact[Array | np.ndarray, " channels *cells"]
    ) -> Inexact[Array, " quantities *cells"]:
        """The constrained quantities of physical `fields` (JAX or NumPy: the
        runner checks snapshots on the host), one row per name in
        `positive_quantities`, in the same order."""

    def physical_violation(self, state: Inexact[Array, "..."]) -> Bool[Array, "*cells"]:
        """Mask of cells whose internal `state` is unphysical: a constrained
        quantity `<= 0` (or NaN), or a non-finite physical field. `jnp.any`
        of it says whether a run failed; `jnp.argmax(mask.ravel())`
        (unravelled) finds the first such cell."""
        fields = self.decode(state)
        values = self.positive_values(fields)
        return jnp.any(~(values > 0), axis=0) | jnp.any(~jnp.isfinite(fields), axis=0)


def parameter(x: ArrayLike | Sequence[ArrayLike]) -> Array:
    """Converter for physical parameters: a JAX array in the default float dtype,
    so that `eqx.filter_grad` sees it as a differentiable leaf."""
    return jnp.asarray(x, dtype=jnp.result_type(float))


class AbstractImexOperator(AbstractOperator):
    """An operator split as `L state + E(state, t)` with `L` linear and stiff
    but not diagonal (finite differences with walls, for instance): IMEX
    steppers solve with `L` implicitly (a linear solve per stage) and treat
    `E` explicitly. Explicit steppers use the sum.
    """

    @abc.abstractmethod
    def state_structure(self) -> jax.ShapeDtypeStruct:
        """Shape and dtype of `state` (in the current default precision): IMEX
        steppers build the implicit solve from it once per solve, before any
        state exists."""

    @abc.abstractmethod
    def stiff_linear(self, state: Inexact[Array, "..."]) -> Inexact[Array, "..."]:
        """`L state` (linear in `state`)."""

    @abc.abstractmethod
    def explicit(
        self, state: Inexact[Array, "..."], t: Scalar | float
    ) -> Inexact[Array, "..."]:
        """`E(state, t)`."""

    def __call__(self, state, t):
        return self.stiff_linear(state) + self.explicit(state, t)
