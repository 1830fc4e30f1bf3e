"""The Allen-Cahn equation: phase separation of a non-conserved order
parameter."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Inexact

from ..internal import checked_parameter, checks_own_arguments, positive
from ._calculus import AbstractCalculus
from ._physics import AbstractPhysics


@checks_own_arguments
class AllenCahn(AbstractPhysics):
    """`u_t = epsilon^2 lap u + u - u^3` (Allen & Cahn 1979), in any dimension.

    The order parameter `u` relaxes to the two phases `u = +-1`, separated by
    interfaces of width `~ epsilon` that move by mean curvature, so domains
    coarsen. It is the `L^2` gradient flow of the free energy
    `E(u) = integral (u^2 - 1)^2 / 4 + epsilon^2 |grad u|^2 / 2 dx`
    (`free_energy`), which never increases. The planar interface
    `u = tanh(x / (sqrt(2) epsilon))` is stationary. The stiff linear part
    is the diffusion `epsilon^2 lap u` (integrated exactly by ETDRK); the
    reaction `u - u^3` is explicit.

    **Arguments:**

    - `epsilon`: the interface width, > 0 (a differentiable leaf).
    """

    discretizations: ClassVar[tuple[str, ...]] = ("fourier", "finite_difference")

    epsilon: Array = eqx.field(
        converter=checked_parameter("AllenCahn", "epsilon", positive, "> 0 and finite"),
        default=0.05,
    )

    def field_names(self, ndim: int) -> tuple[str, ...]:
        return ("u",)

    def linear(
        self, u: Inexact[Array, " 1 *cells"], d: AbstractCalculus
    ) -> Inexact[Array, " 1 *cells"]:
        return self.epsilon**2 * d.laplacian(u)

    def reaction(
        self, u: Inexact[Array, " 1 *cells"], x: tuple[Array, ...], t
    ) -> Inexact[Array, " 1 *cells"]:
        return u - u**3

    def free_energy(
        self, u: Inexact[Array, " 1 *cells"], d: AbstractCalculus
    ) -> Inexact[Array, ""]:
        """The Ginzburg-Landau free energy
        `integral (u^2 - 1)^2 / 4 + epsilon^2 |grad u|^2 / 2 dx`, with the
        gradient of the calculus `d` (the quantity the flow decreases).

        **Arguments:**

        - `u`: the fields, shape `(1, *cells)`.
        - `d`: a calculus on the grid of `u` (e.g. `FourierCalculus`).

        **Returns:** a scalar.
        """
        grad = d.gradient(u)
        density = 0.25 * (u**2 - 1.0) ** 2 + 0.5 * self.epsilon**2 * jnp.sum(
            grad**2, axis=0
        )
        return jnp.sum(density) * d.grid.cell_volume
