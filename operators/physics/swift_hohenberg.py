"""The Swift-Hohenberg equation: pattern selection at a finite wavenumber."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
from jaxtyping import Array, Inexact

from ..internal import checked_parameter, checks_own_arguments, finite
from ._calculus import AbstractCalculus
from ._physics import AbstractPhysics


@checks_own_arguments
class SwiftHohenberg(AbstractPhysics):
    """`u_t = r u - (1 + lap)^2 u + g u^2 - u^3` (Swift & Hohenberg 1977), in
    any dimension.

    A single Fourier mode of wavenumber `k` grows at the rate
    `r - (1 - k^2)^2` while small: for `r > 0` a band around `k = 1` is
    unstable and saturates into rolls (stripes, `g = 0`) or hexagons (large
    enough `g`). The linear part `(r - 1) u - 2 lap u - lap^2 u` is
    integrated exactly by ETDRK; the reaction `g u^2 - u^3` is explicit.

    **Arguments:**

    - `r`: the control parameter (distance from onset), finite.
    - `g`: the quadratic coefficient (breaks `u -> -u` symmetry), finite.

    Both are differentiable leaves.
    """

    discretizations: ClassVar[tuple[str, ...]] = ("fourier", "finite_difference")

    r: Array = eqx.field(
        converter=checked_parameter("SwiftHohenberg", "r", finite, "finite"),
        default=0.3,
    )
    g: Array = eqx.field(
        converter=checked_parameter("SwiftHohenberg", "g", finite, "finite"),
        default=0.0,
    )

    def field_names(self, ndim: int) -> tuple[str, ...]:
        return ("u",)

    def linear(
        self, u: Inexact[Array, " 1 *cells"], d: AbstractCalculus
    ) -> Inexact[Array, " 1 *cells"]:
        lap = d.laplacian(u)
        return (self.r - 1.0) * u - 2.0 * lap - d.laplacian(lap)

    def reaction(
        self, u: Inexact[Array, " 1 *cells"], x: tuple[Array, ...], t
    ) -> Inexact[Array, " 1 *cells"]:
        return self.g * u**2 - u**3
