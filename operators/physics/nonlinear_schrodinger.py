"""The cubic nonlinear Schrodinger equation: a complex field."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Inexact

from ..internal import checked_parameter, checks_own_arguments, finite
from ._calculus import AbstractCalculus
from ._physics import AbstractPhysics


@checks_own_arguments
class NonlinearSchrodinger(AbstractPhysics):
    """`i psi_t + lap psi / 2 + kappa |psi|^2 psi = 0`, i.e.
    `psi_t = i lap psi / 2 + i kappa |psi|^2 psi`, for a complex field `psi`
    in any dimension (Sulem & Sulem 1999).

    Focusing for `kappa > 0`: in 1D with `kappa = 1` the bright soliton
    `a sech(a (x - c t)) exp(i (c x + (a^2 - c^2) t / 2))` travels unchanged.
    Defocusing for `kappa < 0`. The dispersion `i lap / 2` is the linear
    part: purely imaginary in Fourier space, integrated exactly by ETDRK.
    Mass `integral |psi|^2` and energy are conserved.

    **Arguments:**

    - `kappa`: the nonlinear coefficient, finite (a differentiable leaf).
    """

    discretizations: ClassVar[tuple[str, ...]] = ("fourier", "finite_difference")
    complex_fields: ClassVar[bool] = True

    kappa: Array = eqx.field(
        converter=checked_parameter("NonlinearSchrodinger", "kappa", finite, "finite"),
        default=1.0,
    )

    def field_names(self, ndim: int) -> tuple[str, ...]:
        return ("psi",)

    def linear(
        self, u: Inexact[Array, " 1 *cells"], d: AbstractCalculus
    ) -> Inexact[Array, " 1 *cells"]:
        return 0.5j * d.laplacian(u)

    def reaction(
        self, u: Inexact[Array, " 1 *cells"], x: tuple[Array, ...], t
    ) -> Inexact[Array, " 1 *cells"]:
        return 1j * self.kappa * (jnp.real(u) ** 2 + jnp.imag(u) ** 2) * u
