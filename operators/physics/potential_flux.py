"""A scalar conservation law whose flux is the derivative of a potential
(for instance a learned one, `MLPPotential`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

from ..internal import checks_own_arguments
from ._physics import AbstractPhysics


class MLPPotential(eqx.Module):
    """A learned potential `Phi(u) = scale * N_theta(u / scale)`, `N_theta` a
    scalar-to-scalar `eqx.nn.MLP` with a smooth activation (so that `Phi'`
    and `Phi''`, which `PotentialFluxLaw` takes by automatic
    differentiation, are smooth too). The last layer starts at zero, so the
    initial flux `Phi'` vanishes.

    **Arguments:**

    - `key`: PRNG key of the hidden layers.
    - `width`, `depth`: of the MLP (default 32, 2 hidden layers).
    - `scale`: the typical magnitude of `u` (inputs are divided by it and
      outputs multiplied, keeping the network's inputs O(1)).
    - `activation`: default `jax.nn.softplus` (C-infinity).
    """

    mlp: eqx.nn.MLP
    scale: float = eqx.field(static=True)

    def __init__(
        self,
        *,
        key: PRNGKeyArray,
        width: int = 32,
        depth: int = 2,
        scale: float = 1.0,
        activation: Callable = jax.nn.softplus,
    ):
        if not scale > 0:
            raise ValueError(f"MLPPotential: scale must be positive, got {scale!r}")
        mlp = eqx.nn.MLP(
            "scalar", "scalar", width, depth, activation=activation, key=key
        )
        last = mlp.layers[-1]
        assert last.bias is not None  # eqx.nn.MLP layers have biases by default
        self.mlp = eqx.tree_at(
            lambda m: (m.layers[-1].weight, m.layers[-1].bias),
            mlp,
            (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)),
        )
        self.scale = float(scale)

    def __call__(self, u: Scalar) -> Scalar:
        return self.scale * self.mlp(u / self.scale)


@checks_own_arguments
class PotentialFluxLaw(AbstractPhysics):
    """`u_t + F(u)_x = 0` in 1D with the flux `F = dPhi/du` of a scalar
    potential `Phi` (any differentiable `Phi(u: scalar) -> scalar`, e.g. an
    `MLPPotential`; `Phi = u^3 / 6` gives inviscid Burgers). Channel: `u`.

    Both `F = Phi'` and the wave speed `F' = Phi''` are taken by automatic
    differentiation, elementwise (`Phi'''` by forward over reverse mode: one
    `jax.jvp` of `jax.grad(Phi)` per value), so the gradient of a rollout
    loss with respect to the parameters of `Phi` is a nested (third-order
    in `u`, second-order through the rollout) derivative. Discretized by
    finite volumes (`discretize(law, FiniteVolume(grid, MUSCL("minmod"),
    Rusanov()))` is the MUSCL / local Lax-Friedrichs scheme, Rusanov 1961;
    LeVeque 2002, §12.5): without viscosity the solutions form shocks.

    **Arguments:**

    - `potential`: `Phi`, a callable (an `eqx.Module` such as `MLPPotential`
      carries its parameters as differentiable leaves).
    """

    potential: Callable[[Scalar], Scalar]
    discretizations: ClassVar[tuple[str, ...]] = ("finite_volume",)

    def __check_init__(self):
        if not callable(self.potential):
            raise TypeError(
                "PotentialFluxLaw: potential must be callable, got "
                f"{type(self.potential).__name__}"
            )

    def field_names(self, ndim):
        if ndim != 1:
            raise ValueError(f"PotentialFluxLaw: needs a 1D grid, got {ndim}D")
        return ("u",)

    def flux_and_speed(
        self, u: Float[Array, "..."]
    ) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
        """`F(u) = Phi'(u)` and `F'(u) = Phi''(u)`, elementwise, by forward
        over reverse automatic differentiation of the potential.

        **Arguments:**

        - `u`: values of any shape.

        **Returns:**

        `(F(u), F'(u))`, both shaped like `u`.
        """
        first = jax.grad(self.potential)

        def one(x):
            return jax.jvp(first, (x,), (jnp.ones_like(x),))

        f, df = jax.vmap(one)(u.ravel())
        return f.reshape(u.shape), df.reshape(u.shape)

    def flux(self, u, axis):
        return self.flux_and_speed(u)[0]

    def wave_speeds(self, u, axis):
        # the single speed Phi'' as the symmetric bounds (-|Phi''|, |Phi''|):
        # Rusanov's max(-low, high) is then |Phi''| with the derivative of
        # `abs` (1 at a zero speed, e.g. of an `MLPPotential` at
        # initialisation: the dissipation's gradient does not vanish there)
        speed = jnp.abs(self.flux_and_speed(u[0])[1])
        return -speed, speed
