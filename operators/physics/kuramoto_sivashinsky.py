"""Kuramoto-Sivashinsky equations."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
from jaxtyping import Array

from ..internal import checked_parameter, checks_own_arguments, positive
from ._physics import AbstractPhysics


@checks_own_arguments
class KuramotoSivashinsky(AbstractPhysics):
    """1D Kuramoto-Sivashinsky, the standard model of spatio-temporal chaos.

    In conservative (derivative) form, `u_t + (u^2 / 2)_x + u_xx + nu4 u_xxxx
    = 0` (Kassam & Trefethen 2005, §3). The linear part `-u_xx - nu4 u_xxxx`
    is the declared stiff part (exact in ETDRK, implicit in IMEX). On
    finite differences with walls the wall condition applies to `u` and to
    `u_xx` (e.g. `Dirichlet(0)`: the hinged conditions `u = u_xx = 0`).
    Channel: `u`.

    **Arguments:**

    - `nu4`: the hyperdiffusion coefficient, > 0 (default 1; without
      hyperdiffusion the problem is ill-posed).
    """

    discretizations: ClassVar[tuple[str, ...]] = ("fourier", "finite_difference")

    nu4: Array = eqx.field(
        converter=checked_parameter(
            "KuramotoSivashinsky", "nu4", positive, "> 0 and finite"
        ),
        default=1.0,
    )

    def field_names(self, ndim):
        if ndim != 1:
            raise ValueError(
                "KuramotoSivashinsky (derivative form) is one-dimensional; "
                "use KuramotoSivashinskyCombustion in 2D/3D"
            )
        return ("u",)

    def flux(self, u, axis):
        return 0.5 * (u * u)

    def linear(self, u, d):
        # u_xxxx as the Laplacian of the Laplacian: with walls the wall
        # condition then applies to u and to u_xx (hinged: u = u_xx = 0)
        lap = d.laplacian(u)
        return -lap - self.nu4 * d.laplacian(lap)


@checks_own_arguments
class KuramotoSivashinskyCombustion(AbstractPhysics):
    """Kuramoto-Sivashinsky in potential (combustion) form, any dimension:
    `u_t + 1/2 |grad u|^2 + laplacian(u) + laplacian^2(u) = 0`.
    In 1D its x-derivative satisfies the derivative form. Channel: `u`.
    """

    discretizations: ClassVar[tuple[str, ...]] = ("fourier", "finite_difference")

    def field_names(self, ndim):
        return ("u",)

    def linear(self, u, d):
        lap = d.laplacian(u)
        return -lap - d.laplacian(lap)

    def nonlinear(self, u, d, t):
        g = d.gradient(u)
        return -0.5 * (g * g).sum(axis=0)
