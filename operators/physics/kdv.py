"""Korteweg-de Vries equation."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
from jaxtyping import Array

from ..internal import checked_parameter, checks_own_arguments, finite, nonnegative
from ._physics import AbstractPhysics


@checks_own_arguments
class KortewegDeVries(AbstractPhysics):
    """1D KdV, `u_t + alpha (u^2 / 2)_x + beta u_xxx = nu u_xx`.

    With the defaults `alpha = 6`, `beta = 1`, `nu = 0` solitons are
    `2 kappa^2 sech^2(kappa (x - 4 kappa^2 t))`. The dispersive (and viscous)
    part is the declared linear part: purely imaginary in Fourier space, it is
    integrated exactly by ETDRK steppers. Dispersive: Fourier and finite
    differences only (finite volumes would damp it). Channel: `u`.

    **Arguments:**

    - `alpha`: the nonlinear coefficient (default 6).
    - `beta`: the dispersion coefficient (default 1).
    - `nu`: the viscosity (default 0).
    """

    discretizations: ClassVar[tuple[str, ...]] = ("fourier", "finite_difference")

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

    def field_names(self, ndim):
        if ndim != 1:
            raise ValueError("KortewegDeVries is one-dimensional")
        return ("u",)

    def flux(self, u, axis):
        return (0.5 * self.alpha) * (u * u)

    def linear(self, u, d):
        return -self.beta * d.derivative(u, 0, 3) + self.nu * d.derivative(u, 0, 2)
