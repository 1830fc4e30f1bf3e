"""Advection-diffusion with a variable diffusion coefficient, written once."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Inexact

from .._operator import parameter
from ._calculus import AbstractCalculus
from ._physics import AbstractPhysics


def _velocity(v: ArrayLike | Sequence[ArrayLike]) -> Array:
    return jnp.atleast_1d(parameter(v))


def _coefficient(k: ArrayLike | Callable[..., Array]) -> Array | Callable[..., Array]:
    return k if callable(k) else parameter(k)


class AdvectionDiffusion(AbstractPhysics):
    """Advection by a constant velocity `a` and diffusion with a coefficient
    `kappa` that may vary in space, plus an optional source:

        u_t + div(a u) = div(kappa(x) grad u) + s(x, t).

    - A constant `kappa` (a scalar) is the declared linear part, so ETDRK
      integrates it exactly on periodic grids (and IMEX implicitly with
      walls).
    - A variable `kappa` (an array of shape `cells`, or a callable of the
      cell-centre coordinates) is not diagonal in Fourier space; it is
      evaluated explicitly in compact flux form, `d.diffusion(u, kappa)`
      (conservative: `div(kappa grad u)`), and the time step must respect
      the explicit diffusion limit `dt ~ h^2 / max kappa`.
    - The advective flux `a_axis u` goes through the Riemann solver on finite
      volumes (closed-form wave speeds `a_axis`) and is differentiated
      directly on the other discretizations.
    - `source(x, t)` (coordinates one array per axis; returns an array of
      shape `cells`) enters as the pointwise `reaction`; it is how a
      manufactured solution is imposed.

    **Arguments:**

    - `velocity`: one component per axis (a differentiable leaf; shape `(ndim,)`,
      a scalar in 1D).
    - `diffusivity`: a scalar, an array of shape `cells` (cell centres), or a
      callable `kappa(*x) -> cells` of the coordinates (an `equinox.Module`
      whose array fields are differentiable).
    - `source`: optional `s(x, t)` with `x` a tuple of coordinate arrays.
    """

    velocity: Float[Array, " ndim"] = eqx.field(converter=_velocity)
    diffusivity: Float[Array, "..."] | Callable[..., Array] = eqx.field(
        converter=_coefficient, default=0.0
    )
    source: Callable[[tuple[Array, ...], ArrayLike], Array] | None = None

    def __check_init__(self):
        if self.velocity.ndim != 1:
            raise ValueError(
                "AdvectionDiffusion: velocity must be one number per axis, got "
                f"shape {self.velocity.shape}"
            )

    def field_names(self, ndim: int) -> tuple[str, ...]:
        if self.velocity.shape[0] != ndim:
            raise ValueError(
                f"AdvectionDiffusion: {self.velocity.shape[0]} velocity "
                f"component(s) on a {ndim}D grid"
            )
        return ("u",)

    @property
    def _constant_diffusivity(self) -> bool:
        return not callable(self.diffusivity) and jnp.ndim(self.diffusivity) == 0

    def flux(
        self, u: Inexact[Array, " channels *cells"], axis: int
    ) -> Inexact[Array, " channels *cells"]:
        return self.velocity[axis] * u

    def wave_speeds(
        self, u: Inexact[Array, " channels *cells"], axis: int
    ) -> tuple[Array, Array]:
        a = jnp.broadcast_to(self.velocity[axis], u.shape[1:]).astype(u.dtype)
        return a, a

    def linear(
        self, u: Inexact[Array, " channels *cells"], d: AbstractCalculus
    ) -> Inexact[Array, " channels *cells"] | None:
        if self._constant_diffusivity:
            return d.diffusion(u, jnp.asarray(self.diffusivity))
        return None

    def nonlinear(
        self, u: Inexact[Array, " channels *cells"], d: AbstractCalculus, t
    ) -> Inexact[Array, " channels *cells"] | None:
        if self._constant_diffusivity:
            return None
        kappa = self.coefficient(d.grid.mesh(u.real.dtype))
        return d.diffusion(u, kappa)

    def coefficient(self, x: tuple[Array, ...]) -> Array:
        """The diffusion coefficient at the points `x` (one array per axis)."""
        if callable(self.diffusivity):
            return jnp.asarray(self.diffusivity(*x))
        return jnp.broadcast_to(jnp.asarray(self.diffusivity), x[0].shape)

    def reaction(
        self, u: Inexact[Array, " channels *cells"], x: tuple[Array, ...], t
    ) -> Inexact[Array, " channels *cells"] | None:
        if self.source is None:
            return None
        return jnp.broadcast_to(jnp.asarray(self.source(x, t)), u.shape[1:])[None]
