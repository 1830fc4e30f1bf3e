"""Transport properties of a compressible fluid: viscosity laws and the
thermal conductivity, for the viscous stress and heat flux of `Euler`."""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from ..internal import checked_parameter, nonnegative, positive


class AbstractViscosity(eqx.Module):
    """A dynamic viscosity law `mu(T)`; its parameters are differentiable
    array leaves."""

    @abc.abstractmethod
    def __call__(self, temperature: Array) -> Array:
        """The dynamic viscosity at `temperature` (any shape)."""

    @property
    def constant(self) -> bool:
        """Whether `mu` does not depend on the temperature."""
        return False


class ConstantViscosity(AbstractViscosity):
    """`mu = value`, independent of the temperature.

    **Arguments:**

    - `value`: the dynamic viscosity, >= 0 (0 switches the stress off but
      keeps the heat flux's conductivity, if given directly).
    """

    value: Array = eqx.field(
        converter=checked_parameter(
            "ConstantViscosity", "value", nonnegative, ">= 0 and finite"
        )
    )

    def __call__(self, temperature):
        return jnp.broadcast_to(
            self.value.astype(jnp.result_type(temperature)), jnp.shape(temperature)
        )

    @property
    def constant(self) -> bool:
        return True


class PowerLawViscosity(AbstractViscosity):
    """`mu = mu_ref (T / T_ref)^exponent` (e.g. `exponent = 0.76` for air near
    room temperature; 0.5 for hard spheres; White 2006, section 1-3).

    **Arguments:**

    - `mu_ref`: the viscosity at `T_ref`, > 0.
    - `t_ref`: the reference temperature, > 0.
    - `exponent`: the power, default 0.76.
    """

    mu_ref: Array = eqx.field(
        converter=checked_parameter(
            "PowerLawViscosity", "mu_ref", positive, "> 0 and finite"
        )
    )
    t_ref: Array = eqx.field(
        converter=checked_parameter(
            "PowerLawViscosity", "t_ref", positive, "> 0 and finite"
        )
    )
    exponent: Array = eqx.field(
        converter=checked_parameter(
            "PowerLawViscosity",
            "exponent",
            lambda x: abs(x) < float("inf"),
            "finite",
        ),
        default=0.76,
    )

    def __call__(self, temperature):
        dtype = jnp.result_type(temperature)
        ratio = temperature / self.t_ref.astype(dtype)
        return self.mu_ref.astype(dtype) * ratio ** self.exponent.astype(dtype)


class SutherlandViscosity(AbstractViscosity):
    """Sutherland's law, `mu = mu_ref (T / T_ref)^(3/2) (T_ref + S) / (T + S)`
    (Sutherland 1893; White 2006, equation 1-36): for air `mu_ref = 1.716e-5`
    Pa s, `T_ref = 273.15` K, `S = 110.4` K (the defaults).

    **Arguments:**

    - `mu_ref`, `t_ref`, `s`: as above, > 0.
    """

    mu_ref: Array = eqx.field(
        converter=checked_parameter(
            "SutherlandViscosity", "mu_ref", positive, "> 0 and finite"
        ),
        default=1.716e-5,
    )
    t_ref: Array = eqx.field(
        converter=checked_parameter(
            "SutherlandViscosity", "t_ref", positive, "> 0 and finite"
        ),
        default=273.15,
    )
    s: Array = eqx.field(
        converter=checked_parameter(
            "SutherlandViscosity", "s", positive, "> 0 and finite"
        ),
        default=110.4,
    )

    def __call__(self, temperature):
        dtype = jnp.result_type(temperature)
        t_ref, s = self.t_ref.astype(dtype), self.s.astype(dtype)
        ratio = temperature / t_ref
        return (self.mu_ref.astype(dtype) * ratio * jnp.sqrt(ratio) * (t_ref + s)) / (
            temperature + s
        )


class Transport(eqx.Module):
    """The transport properties of `Euler`'s viscous stress and heat flux
    (the compressible Navier-Stokes equations):

        tau = mu (grad u + grad u^T) + (mu_b - 2/3 mu) (div u) I,
        q = -k grad T,

    with `mu = viscosity(T)` and the conductivity `k` either given directly
    or from a Prandtl number, `k = mu c_p / Pr`.

    **Arguments:**

    - `viscosity`: an `AbstractViscosity`, or a number (a
      `ConstantViscosity`).
    - `prandtl`: `Pr = mu c_p / k`, > 0 (default 0.72, air). Ignored when
      `conductivity` is given.
    - `conductivity`: a constant thermal conductivity `k` >= 0, or None
      (default: from `prandtl`).
    - `bulk_viscosity`: `mu_b` >= 0 (default 0, Stokes' hypothesis).

    Every coefficient is an array leaf: traced, batched with `vmap`, and
    differentiated like any other parameter.
    """

    viscosity: AbstractViscosity
    prandtl: Array
    conductivity: Array | None
    bulk_viscosity: Array

    def __init__(
        self,
        viscosity: AbstractViscosity | float | Array,
        prandtl: float | Array = 0.72,
        conductivity: float | Array | None = None,
        bulk_viscosity: float | Array = 0.0,
    ):
        if not isinstance(viscosity, AbstractViscosity):
            viscosity = ConstantViscosity(viscosity)
        self.viscosity = viscosity
        self.prandtl = checked_parameter(
            "Transport", "prandtl", positive, "> 0 and finite"
        )(prandtl)
        self.conductivity = (
            None
            if conductivity is None
            else checked_parameter(
                "Transport", "conductivity", nonnegative, ">= 0 and finite"
            )(conductivity)
        )
        self.bulk_viscosity = checked_parameter(
            "Transport", "bulk_viscosity", nonnegative, ">= 0 and finite"
        )(bulk_viscosity)

    def __check_init__(self):
        for name in ("prandtl", "conductivity", "bulk_viscosity"):
            value = getattr(self, name)
            if value is not None and value.shape != ():
                raise ValueError(
                    f"Transport: {name} must be a scalar, got shape {value.shape}"
                )

    def coefficients(self, temperature: Array, cp: Array) -> tuple[Array, Array, Array]:
        """`(mu, mu_b, k)` at `temperature`, with `c_p` for the conductivity
        from the Prandtl number."""
        dtype = jnp.result_type(temperature)
        mu = self.viscosity(temperature)
        if self.conductivity is None:
            k = mu * (cp / self.prandtl.astype(dtype))
        else:
            k = self.conductivity.astype(dtype)
        return mu, self.bulk_viscosity.astype(dtype), k

    def diffusivity_bound(self, temperature: Array, density: Array, cp, gamma):
        """An upper bound of the largest diffusivity of the viscous system at
        each cell, for the explicit time-step limit:
        `max(4/3 mu + mu_b, gamma k / c_p) / rho` (momentum and heat;
        the heat diffusivity of the energy equation is `k / (rho c_v)`)."""
        mu, mu_b, k = self.coefficients(temperature, cp)
        momentum = (4.0 / 3.0) * mu + mu_b
        heat = k * (gamma / cp)
        return jnp.maximum(momentum, heat) / density
