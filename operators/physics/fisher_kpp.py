"""The Fisher-KPP reaction-diffusion equation, written once."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Inexact

from .._operator import parameter
from ._calculus import AbstractCalculus
from ._physics import AbstractPhysics


class FisherKPP(AbstractPhysics):
    """Fisher-Kolmogorov-Petrovsky-Piskunov: `u_t = D laplacian(u) + r u (1 - u)`,
    the simplest model of a population (or a flame, or an allele) invading
    an unstable state.

    From a step (`u = 1` behind, `0` ahead) the front travels at the
    asymptotic speed `2 sqrt(D r)` (the minimal, "pulled" speed), which it
    approaches only slowly: Bramson's (1983) logarithmic delay makes the
    position `2 sqrt(D r) t - 3 / (2 lambda) ln t` with `lambda = sqrt(r / D)`,
    so the speed falls short of `2 sqrt(D r)` by `3 / (2 lambda t)`.

    The diffusion is the declared linear part (treated exactly by ETDRK on
    periodic grids, implicitly by IMEX with walls), the logistic growth a
    pointwise reaction. The invading front needs a non-periodic domain
    (walls `u = 1` / `u = 0` or zero gradient), so the physics runs on
    finite differences and finite volumes.

    **Arguments:**

    - `diffusivity`: `D` > 0 (a differentiable leaf).
    - `rate`: the growth rate `r` > 0 (a differentiable leaf).
    """

    diffusivity: Float[Array, ""] = eqx.field(converter=parameter, default=1.0)
    rate: Float[Array, ""] = eqx.field(converter=parameter, default=1.0)

    discretizations: ClassVar[tuple[str, ...]] = ("finite_difference", "finite_volume")

    def __check_init__(self):
        for name in ("diffusivity", "rate"):
            if getattr(self, name).ndim != 0:
                raise ValueError(f"FisherKPP: {name} must be a scalar")

    def field_names(self, ndim: int) -> tuple[str, ...]:
        return ("u",)

    def linear(
        self, u: Inexact[Array, " channels *cells"], d: AbstractCalculus
    ) -> Inexact[Array, " channels *cells"]:
        return d.diffusion(u, self.diffusivity)

    def reaction(
        self, u: Inexact[Array, " channels *cells"], x: tuple[Array, ...], t
    ) -> Inexact[Array, " channels *cells"]:
        return self.rate * u * (1.0 - u)

    def front_speed_theory(self) -> Array:
        """The asymptotic speed `2 sqrt(D r)` of a front invading `u = 0`."""
        return 2.0 * jnp.sqrt(self.diffusivity * self.rate)
