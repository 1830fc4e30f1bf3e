"""Korteweg-de Vries equation."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import Array

from ..discretization import FourierSpectral
from ..internal import checked_parameter, checks_own_arguments, finite, nonnegative
from ._base import AbstractSpectralOperator, check_discretization


@checks_own_arguments
class KortewegDeVries(AbstractSpectralOperator):
    """1D KdV, `u_t + alpha u u_x + beta u_xxx = nu u_xx`.

    With the defaults `alpha = 6`, `beta = 1`, `nu = 0` solitons are
    `2 kappa^2 sech^2(kappa (x - 4 kappa^2 t))`. The dispersive part is purely
    imaginary in Fourier space and is integrated exactly by ETDRK steppers.

    **Arguments:**

    - `discretization`: a 1D `FourierSpectral`.
    - `alpha`: the nonlinear coefficient (default 6).
    - `beta`: the dispersion coefficient (default 1).
    - `nu`: the viscosity (default 0).
    """

    discretization: FourierSpectral
    alpha: Array = eqx.field(
        converter=checked_parameter("KortewegDeVries", "alpha", finite, "finite"),
        default=6.0,
    )
    beta: Array = eqx.field(
        converter=checked_parameter("KortewegDeVries", "beta", finite, "finite"),
        default=1.0,
    )
    nu: Array = eqx.field(
        converter=checked_parameter(
            "KortewegDeVries", "nu", nonnegative, ">= 0 and finite"
        ),
        default=0.0,
    )

    def __check_init__(self):
        check_discretization(self)
        if self.discretization.grid.ndim != 1:
            raise ValueError("KortewegDeVries is one-dimensional")

    @property
    def field_names(self):
        return ("u",)

    def linear_symbol(self):
        (k,) = self.discretization.wavenumbers()
        (k_odd,) = self.discretization.wavenumbers(odd=True)
        return (1j * self.beta * k_odd**3 - self.nu * k**2)[None]

    def nonlinear(self, state, t):
        (ik,) = self._ik()
        u = self._to_physical(state)
        return -0.5 * self.alpha * ik * self._to_spectral(u * u)
