"""The Gray-Scott reaction-diffusion system: self-replicating spots, stripes
and labyrinths."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Inexact

from ..internal import checked_parameter, checks_own_arguments, nonnegative, positive
from ._calculus import AbstractCalculus
from ._physics import AbstractPhysics


@checks_own_arguments
class GrayScott(AbstractPhysics):
    """Two species `u` (the substrate) and `v` (the autocatalyst), in any
    dimension (Gray & Scott 1984; Pearson 1993):

        u_t = D_u lap u - u v^2 + F (1 - u)
        v_t = D_v lap v + u v^2 - (F + k) v

    The substrate is fed at rate `F` towards `u = 1`, the autocatalyst is
    removed at rate `F + k`. The homogeneous state `(u, v) = (1, 0)` is a
    stable steady state; a local perturbation grows, for Pearson's `(F, k)`
    classes, into spots, stripes or labyrinths. The diffusion of each species
    is the stiff linear part (diagonal in Fourier space, integrated exactly
    by ETDRK), the reaction is pointwise.

    **Arguments:**

    - `diffusivity_u`, `diffusivity_v`: `D_u`, `D_v` > 0.
    - `feed`: the feed rate `F` >= 0.
    - `kill`: the removal rate `k` >= 0.

    All four are differentiable leaves.
    """

    discretizations: ClassVar[tuple[str, ...]] = ("fourier", "finite_difference")

    diffusivity_u: Array = eqx.field(
        converter=checked_parameter(
            "GrayScott", "diffusivity_u", positive, "> 0 and finite"
        ),
        default=2e-5,
    )
    diffusivity_v: Array = eqx.field(
        converter=checked_parameter(
            "GrayScott", "diffusivity_v", positive, "> 0 and finite"
        ),
        default=1e-5,
    )
    feed: Array = eqx.field(
        converter=checked_parameter(
            "GrayScott", "feed", nonnegative, ">= 0 and finite"
        ),
        default=0.04,
    )
    kill: Array = eqx.field(
        converter=checked_parameter(
            "GrayScott", "kill", nonnegative, ">= 0 and finite"
        ),
        default=0.06,
    )

    def field_names(self, ndim: int) -> tuple[str, ...]:
        return ("u", "v")

    def linear(
        self, u: Inexact[Array, " 2 *cells"], d: AbstractCalculus
    ) -> Inexact[Array, " 2 *cells"]:
        lap = d.laplacian(u)
        return jnp.stack([self.diffusivity_u * lap[0], self.diffusivity_v * lap[1]])

    def reaction(
        self, u: Inexact[Array, " 2 *cells"], x: tuple[Array, ...], t
    ) -> Inexact[Array, " 2 *cells"]:
        a, b = u[0], u[1]
        uvv = a * b * b
        return jnp.stack(
            [-uvv + self.feed * (1.0 - a), uvv - (self.feed + self.kill) * b]
        )
