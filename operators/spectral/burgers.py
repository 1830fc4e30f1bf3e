"""Viscous Burgers equation."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from ..discretization import FourierSpectral
from ..internal import checked_parameter, checks_own_arguments, nonnegative
from ._base import AbstractSpectralOperator


@checks_own_arguments
class Burgers(AbstractSpectralOperator):
    """`u_t + (u . grad) u = nu laplacian(u)` for a velocity field with one
    component per spatial dimension (1D: `u_t + u u_x = nu u_xx`).

    The advection term is evaluated in advective form, pseudo-spectrally and
    de-aliased. Channels: `velocity_x` (, `velocity_y`, `velocity_z`).

    **Arguments:**

    - `discretization`: a `FourierSpectral` on the grid.
    - `nu`: the viscosity, >= 0 (checked at construction, or at run time when
      traced).
    """

    discretization: FourierSpectral
    nu: Array = eqx.field(
        converter=checked_parameter("Burgers", "nu", nonnegative, ">= 0 and finite")
    )

    @property
    def field_names(self):
        return tuple(f"velocity_{a}" for a in self.grid.axis_names)

    def linear_symbol(self):
        lap = self.discretization.laplacian_symbol()
        return (self.nu * lap)[None]

    def nonlinear(self, state, t):
        ik = self._ik()
        d = self.grid.ndim
        # velocity and all first derivatives in one batched inverse transform
        grads = jnp.stack([state * k for k in ik], axis=1)  # (i, j, ...) = d_j u_i
        phys = self._to_physical(
            jnp.concatenate([state, grads.reshape(d * d, *state.shape[1:])])
        )
        u, du = phys[:d], phys[d:].reshape(d, d, *phys.shape[1:])
        advection = jnp.einsum("j...,ij...->i...", u, du)
        return -self._to_spectral(advection)
