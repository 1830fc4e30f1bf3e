"""Kuramoto-Sivashinsky equations."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from ..discretization import FourierSpectral
from ..internal import checked_parameter, checks_own_arguments, positive
from ._base import AbstractSpectralOperator, check_discretization


@checks_own_arguments
class KuramotoSivashinsky(AbstractSpectralOperator):
    """1D Kuramoto-Sivashinsky, the standard model of spatio-temporal chaos.

    In conservative (derivative) form, `u_t + u u_x + u_xx + nu4 u_xxxx = 0`
    (Kassam & Trefethen 2005, §3).

    **Arguments:**

    - `discretization`: a 1D `FourierSpectral`.
    - `nu4`: the hyperdiffusion coefficient, > 0 (default 1; without
      hyperdiffusion the problem is ill-posed).
    """

    discretization: FourierSpectral
    nu4: Array = eqx.field(
        converter=checked_parameter(
            "KuramotoSivashinsky", "nu4", positive, "> 0 and finite"
        ),
        default=1.0,
    )

    def __check_init__(self):
        check_discretization(self)
        if self.discretization.grid.ndim != 1:
            raise ValueError(
                "KuramotoSivashinsky (derivative form) is one-dimensional; "
                "use KuramotoSivashinskyCombustion in 2D/3D"
            )

    @property
    def field_names(self):
        return ("u",)

    def linear_symbol(self):
        (k,) = self.discretization.wavenumbers()
        return (k**2 - self.nu4 * k**4)[None]

    def nonlinear(self, state, t):
        (ik,) = self._ik()
        u = self._to_physical(state)
        return -0.5 * ik * self._to_spectral(u * u)


@checks_own_arguments
class KuramotoSivashinskyCombustion(AbstractSpectralOperator):
    """Kuramoto-Sivashinsky in potential (combustion) form, any dimension:
    `u_t + 1/2 |grad u|^2 + laplacian(u) + laplacian^2(u) = 0`.
    In 1D its x-derivative satisfies the derivative form.
    """

    discretization: FourierSpectral

    @property
    def field_names(self):
        return ("u",)

    def linear_symbol(self):
        k2 = -self.discretization.laplacian_symbol()
        return (k2 - k2**2)[None]

    def nonlinear(self, state, t):
        grads = jnp.concatenate([state * k for k in self._ik()])
        g = self._to_physical(grads)
        return -0.5 * self._to_spectral(jnp.sum(g * g, axis=0, keepdims=True))
