"""Equations of state: the calorically perfect (ideal) gas and the stiffened gas."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..internal import (
    checked_parameter,
    greater_than_one,
    nonnegative,
    positive as _positive,
)
from ._math import div


class AbstractEquationOfState(eqx.Module):
    """An equation of state `p(rho, rho e)` of the Euler equations.

    Energies here are per unit volume: `rho e` is the internal energy density,
    `E = rho e + rho |u|^2 / 2` the total energy density. Every method casts
    the parameters to the dtype of its arguments, so a float32 state stays
    float32 when x64 is enabled.

    The equations of state here share the form `p + s = (gamma - 1)(rho e - q)`
    with constants `s`, `q` (`shifted_pressure(p) = p + s`): the Euler
    equations in `(rho, u, p + s)` are those of an ideal gas, which is what
    makes Roe averages, the HLLC star states, the characteristic fields and the
    exact Riemann solution carry over with `p -> p + s` (Ivings, Causon & Toro
    1998).
    """

    gamma: eqx.AbstractVar[Array]

    def _gamma(self, like) -> Array:
        return self.gamma.astype(jnp.result_type(like))

    def temperature(self, density, pressure) -> Array:
        """`T = (p + s) / (rho R)` with the specific gas constant `R`
        (`gas_constant`): the ideal-gas law, and for a stiffened gas
        `p + p_inf = (gamma - 1) rho c_v T` with `R = (gamma - 1) c_v`."""
        r = self._gas_constant(pressure)
        return div(self.shifted_pressure(pressure), density * r)

    def density(self, pressure, temperature) -> Array:
        """The density at `pressure` and `temperature`, `(p + s) / (R T)`
        (the inverse of `temperature`)."""
        return div(
            self.shifted_pressure(pressure), self._gas_constant(pressure) * temperature
        )

    def specific_heat_cp(self, like) -> Array:
        """`c_p = gamma R / (gamma - 1)`, the specific heat at constant
        pressure (in the dtype of `like`)."""
        g = self._gamma(like)
        return g * self._gas_constant(like) / (g - 1.0)

    @abc.abstractmethod
    def _gas_constant(self, like) -> Array:
        """The specific gas constant `R` in the dtype of `like` (a field of
        each equation of state, declared there so that it follows their
        positional arguments)."""

    @abc.abstractmethod
    def pressure_from_internal_energy(self, density, internal_energy) -> Array:
        """Pressure from the density and the internal energy density `rho e`."""

    @abc.abstractmethod
    def internal_energy(self, density, pressure) -> Array:
        """Internal energy density `rho e` from density and pressure."""

    @abc.abstractmethod
    def sound_speed(self, density, pressure) -> Array:
        """Speed of sound `c`."""

    @abc.abstractmethod
    def shifted_pressure(self, pressure) -> Array:
        """`p + s`: the pressure in which the gas is ideal, and what must stay
        positive (`p` for an ideal gas, `p + p_inf` for a stiffened gas)."""

    @property
    @abc.abstractmethod
    def positive_quantity(self) -> str:
        """The name of `shifted_pressure` in messages about unphysical states."""

    def total_energy(
        self,
        density: Float[Array, "*cells"],
        velocity: Sequence[Float[Array, "*cells"]] | Float[Array, " dim *cells"],
        pressure: Float[Array, "*cells"],
    ) -> Float[Array, "*cells"]:
        """Total energy density `E = rho e(rho, p) + rho |u|^2 / 2`.

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


class IdealGas(AbstractEquationOfState):
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
    gas_constant: Array = eqx.field(
        converter=checked_parameter(
            "IdealGas", "gas_constant", _positive, "> 0 and finite"
        ),
        default=1.0,
    )

    def __check_init__(self):
        for name in ("gamma", "gas_constant"):
            shape = getattr(self, name).shape
            if shape != ():
                raise ValueError(
                    f"IdealGas: {name} must be a scalar, got shape {shape}"
                )

    def _gas_constant(self, like) -> Array:
        return self.gas_constant.astype(jnp.result_type(like))

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

    def shifted_pressure(self, pressure):
        """`p` itself (no work is traced)."""
        return pressure

    @property
    def positive_quantity(self) -> str:
        return "pressure"


class StiffenedGas(AbstractEquationOfState):
    """Stiffened gas, `p = (gamma - 1) rho e - gamma p_inf` (Harlow & Amsden
    1971; Menikoff & Plohr 1989), the usual model of liquids in compressible
    flow: water is close to `gamma = 4.4`, `p_inf = 6e8` Pa (Saurel & Abgrall
    1999) or `gamma = 7.15`, `p_inf = 3e8` Pa (Ivings, Causon & Toro 1998).

    The sound speed is `c^2 = gamma (p + p_inf) / rho`; the pressure itself may
    be negative (tension), the physical constraint is `p + p_inf > 0`. With
    `p_inf = 0` it is the ideal gas (use `IdealGas` for that: its code has no
    `p_inf` terms).

    **Arguments:**

    - `gamma`: > 1 (default 4.4).
    - `p_inf`: the stiffness pressure, >= 0 (default 6e8).

    Both are array leaves (traced, batched, differentiated); concrete values
    are checked at construction.
    """

    gamma: Array = eqx.field(
        converter=checked_parameter(
            "StiffenedGas", "gamma", greater_than_one, "> 1 and finite"
        ),
        default=4.4,
    )
    p_inf: Array = eqx.field(
        converter=checked_parameter(
            "StiffenedGas", "p_inf", nonnegative, ">= 0 and finite"
        ),
        default=6e8,
    )
    gas_constant: Array = eqx.field(
        converter=checked_parameter(
            "StiffenedGas", "gas_constant", _positive, "> 0 and finite"
        ),
        default=1.0,
    )

    def __check_init__(self):
        for name in ("gamma", "p_inf", "gas_constant"):
            shape = getattr(self, name).shape
            if shape != ():
                raise ValueError(
                    f"StiffenedGas: {name} must be a scalar, got shape {shape}"
                )

    def _gas_constant(self, like) -> Array:
        return self.gas_constant.astype(jnp.result_type(like))

    def _p_inf(self, like) -> Array:
        return self.p_inf.astype(jnp.result_type(like))

    def pressure_from_internal_energy(self, density, internal_energy):
        """`p = (gamma - 1) rho e - gamma p_inf`."""
        del density
        g = self._gamma(internal_energy)
        return (g - 1.0) * internal_energy - g * self._p_inf(internal_energy)

    def internal_energy(self, density, pressure):
        """`rho e = (p + gamma p_inf) / (gamma - 1)`."""
        del density
        g = self._gamma(pressure)
        return (pressure + g * self._p_inf(pressure)) * (1.0 / (g - 1.0))

    def sound_speed(self, density, pressure):
        """`c = sqrt(gamma (p + p_inf) / rho)`."""
        return jnp.sqrt(
            div(self._gamma(pressure) * (pressure + self._p_inf(pressure)), density)
        )

    def shifted_pressure(self, pressure):
        """`p + p_inf`."""
        return pressure + self._p_inf(pressure)

    @property
    def positive_quantity(self) -> str:
        return "pressure + p_inf"
