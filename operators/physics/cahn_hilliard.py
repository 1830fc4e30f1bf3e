"""The Cahn-Hilliard equation: phase separation with a conserved order
parameter (spinodal decomposition)."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Inexact

from ..internal import checked_parameter, checks_own_arguments, positive
from ._calculus import AbstractCalculus
from ._physics import AbstractPhysics


@checks_own_arguments
class CahnHilliard(AbstractPhysics):
    """`u_t = lap(u^3 - u - gamma lap u)` (Cahn & Hilliard 1958), in any
    dimension.

    The gradient flow in `H^-1` of the free energy
    `E(u) = integral (u^2 - 1)^2 / 4 + gamma |grad u|^2 / 2 dx`
    (`free_energy`): the mean of `u` (the mass) is conserved and `E` never
    increases. A mixture with `|mean u| < 1/sqrt(3)` is unstable to the
    wavenumbers `k^2 < 1 / gamma` and separates into domains `u = +-1`.

    Split for exponential integrators (a linearly stabilized split, as in
    Eyre 1998): the linear part is the linearization about the separated
    phases `u = +-1`, `2 lap u - gamma lap^2 u` (symbol `-2 k^2 - gamma k^4`,
    integrated exactly by ETDRK), and the nonlinear part is the rest,
    `lap(u^3 - 3 u)`, which vanishes to first order inside the phases. This
    allows steps several times longer than putting all of `lap(u^3 - u)`
    in the explicit part. Both parts are derivatives, so the mean of `u` is
    conserved to round-off on periodic grids.

    **Arguments:**

    - `gamma`: the squared interface width, > 0 (a differentiable leaf).
    """

    discretizations: ClassVar[tuple[str, ...]] = ("fourier", "finite_difference")

    gamma: Array = eqx.field(
        converter=checked_parameter(
            "CahnHilliard", "gamma", positive, "> 0 and finite"
        ),
        default=1e-2,
    )

    def field_names(self, ndim: int) -> tuple[str, ...]:
        return ("u",)

    def linear(
        self, u: Inexact[Array, " 1 *cells"], d: AbstractCalculus
    ) -> Inexact[Array, " 1 *cells"]:
        lap = d.laplacian(u)
        return 2.0 * lap - self.gamma * d.laplacian(lap)

    def nonlinear(
        self, u: Inexact[Array, " 1 *cells"], d: AbstractCalculus, t
    ) -> Inexact[Array, " 1 *cells"]:
        return d.laplacian(u**3 - 3.0 * u)

    def free_energy(
        self, u: Inexact[Array, " 1 *cells"], d: AbstractCalculus
    ) -> Inexact[Array, ""]:
        """The Ginzburg-Landau free energy
        `integral (u^2 - 1)^2 / 4 + gamma |grad u|^2 / 2 dx`, with the
        gradient of the calculus `d` (the quantity the flow decreases).

        **Arguments:**

        - `u`: the fields, shape `(1, *cells)`.
        - `d`: a calculus on the grid of `u` (e.g. `FourierCalculus`).

        **Returns:** a scalar.
        """
        grad = d.gradient(u)
        density = 0.25 * (u**2 - 1.0) ** 2 + 0.5 * self.gamma * jnp.sum(grad**2, axis=0)
        return jnp.sum(density) * d.grid.cell_volume
