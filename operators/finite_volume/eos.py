"""Equation of state of a calorically perfect (ideal) gas."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..internal import checked_parameter, greater_than_one
from ._math import div


class IdealGas(eqx.Module):
    """Calorically perfect gas, `p = (gamma - 1) rho e` (Toro 2009, chapter 1).

    `gamma`, the ratio of specific heats, is an array leaf: it can be traced,
    batched with `vmap`, and differentiated (e.g. fitted with `optax`). It
    must be > 1: a concrete value is checked at construction, a traced one
    when the compiled program runs (`eqx.error_if`). Every
    method casts it to the dtype of its arguments, so a float32 state stays
    float32 when x64 is enabled.

    Energies here are per unit volume: `rho e` is the internal energy density,
    `E = rho e + rho |u|^2 / 2` the total energy density.
    """

    gamma: Array = eqx.field(
        converter=checked_parameter(
            "IdealGas", "gamma", greater_than_one, "> 1 and finite"
        ),
        default=1.4,
    )

    def __check_init__(self):
        if self.gamma.shape != ():
            raise ValueError(
                f"IdealGas: gamma must be a scalar, got shape {self.gamma.shape}"
            )

    def _gamma(self, like) -> Array:
        return self.gamma.astype(jnp.result_type(like))

    def pressure_from_internal_energy(self, density, internal_energy):
        """`p = (gamma - 1) rho e` from the internal energy density `rho e`."""
        del density
        return (self._gamma(internal_energy) - 1.0) * internal_energy

    def internal_energy(self, density, pressure):
        """Internal energy density `rho e = p / (gamma - 1)`."""
        del density
        return pressure * (1.0 / (self._gamma(pressure) - 1.0))

    def sound_speed(self, density, pressure):
        """`c = sqrt(gamma p / rho)`."""
        return jnp.sqrt(div(self._gamma(pressure) * pressure, density))

    def total_energy(
        self,
        density: Float[Array, "*cells"],
        velocity: Sequence[Float[Array, "*cells"]] | Float[Array, " dim *cells"],
        pressure: Float[Array, "*cells"],
    ) -> Float[Array, "*cells"]:
        """Total energy density `E = p / (gamma - 1) + rho |u|^2 / 2`.

        `velocity` is a sequence of components or an array with the component
        axis first.
        """
        kinetic = sum(u * u for u in velocity)
        return self.internal_energy(density, pressure) + 0.5 * density * kinetic

    def pressure(self, state: Float[Array, "vars *cells"]) -> Float[Array, "*cells"]:
        """Pressure from a conservative state `(rho, rho u, [rho v, rho w,] E)`,
        variables axis first."""
        rho, momentum, energy = state[0], state[1:-1], state[-1]
        kinetic = sum(m * m for m in momentum)
        return self.pressure_from_internal_energy(rho, energy - div(0.5 * kinetic, rho))
