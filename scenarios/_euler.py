"""What the compressible-flow scenarios share: the `scheme:` config section,
building the `Euler` operator from it, cell averages of exact solutions and
the error norms shock tubes report."""

from __future__ import annotations

from typing import Any, Literal

import jax.numpy as jnp
import numpy as np
import pydantic

from diffsim.jobs import ConfigError, FiniteVolumeScheme, KeyedError, PhysicsConfig
from diffsim.jobs.boundary import BoundaryConfig, build_boundary
from diffsim.operators.finite_volume import (
    AbstractViscosity,
    ConstantViscosity,
    Euler,
    IdealGas,
    PowerLawViscosity,
    StiffenedGas,
    SutherlandViscosity,
    Transport,
)
from diffsim.operators.finite_volume.boundary import normalize_boundaries


class EulerScheme(FiniteVolumeScheme):
    """`scheme:` — the finite-volume method (keys map onto the constructors):
    the shared finite-volume keys (`diffsim.jobs.FiniteVolumeScheme`) with
    HLLC by default and the Euler-only solvers `hllc`, `hllc_lm` (HLLC-LM,
    low dissipation at low Mach numbers, with its `ma_limit`) and `roe`, plus
    Euler's wave-speed estimates, reconstructed variables, positivity
    limiting and average correction."""

    riemann: Literal["rusanov", "hll", "hllc", "hllc_lm", "roe"] = pydantic.Field(
        "hllc",
        description="approximate Riemann solver at faces: rusanov, hll, hllc, "
        "hllc_lm (HLLC with low-Mach dissipation reduction) or roe",
    )
    wave_speeds: Literal["davis", "einfeldt"] = pydantic.Field(
        "einfeldt",
        description="wave-speed estimates of hll/hllc/hllc_lm: davis or einfeldt",
    )
    # HLLC-LM only: the Mach number from which the flux is HLLC's
    ma_limit: float | None = pydantic.Field(
        None,
        gt=0.0,
        allow_inf_nan=False,
        description="hllc_lm: the local Mach number at and above which the flux is "
        "HLLC's (null: 0.1, Fleischmann et al. 2020)",
    )
    variables: Literal["primitive", "characteristic"] = pydantic.Field(
        "characteristic",
        description="reconstruct primitive or characteristic variables",
    )
    positivity: bool = pydantic.Field(
        False, description="limit reconstructed states to positive density and pressure"
    )
    # high-order average <-> point-value conversion; default: on above second order
    average_correction: bool | None = pydantic.Field(
        None,
        description="convert cell averages to point values at high order (null: on "
        "above second order)",
    )

    @pydantic.model_validator(mode="after")
    def _ma_limit_only_for_hllc_lm(self):
        if self.ma_limit is not None and self.riemann != "hllc_lm":
            raise KeyedError(
                "ma_limit",
                f"applies to riemann=hllc_lm only, not {self.riemann} "
                "(set scheme.ma_limit to null)",
            )
        return self


class TransportPhysics(PhysicsConfig):
    """The `physics:` keys every compressible-flow scenario shares: the
    viscosity law and Prandtl number of the compressible Navier-Stokes
    equations (`operators.finite_volume.Transport`). `viscosity: 0` (the
    default) is the inviscid Euler equations, exactly as before the keys
    existed."""

    viscosity: pydantic.NonNegativeFloat = pydantic.Field(
        0.0,
        description="dynamic viscosity mu (at viscosity_t_ref for power_law and "
        "sutherland); 0: inviscid",
    )
    prandtl: pydantic.PositiveFloat = pydantic.Field(
        0.72, description="Prandtl number mu c_p / k (heat conduction)"
    )
    viscosity_law: Literal["constant", "power_law", "sutherland"] = pydantic.Field(
        "constant",
        description="mu(T): constant; power_law mu (T/T_ref)^exponent; sutherland "
        "mu (T/T_ref)^1.5 (T_ref + S)/(T + S)",
    )
    viscosity_t_ref: pydantic.PositiveFloat = pydantic.Field(
        1.0,
        description="reference temperature T_ref of power_law and sutherland "
        "(T = p / rho with the unit gas constant)",
    )
    viscosity_exponent: float = pydantic.Field(
        0.76, description="exponent of power_law"
    )
    sutherland_constant: pydantic.PositiveFloat = pydantic.Field(
        110.4 / 273.15,
        description="Sutherland temperature S of sutherland, in the units of "
        "viscosity_t_ref (default: air's 110.4 K over T_ref = 273.15 K)",
    )

    @pydantic.model_validator(mode="after")
    def _law_needs_viscosity(self):
        if self.viscosity_law != "constant" and self.viscosity == 0.0:
            raise KeyedError(
                "viscosity",
                f"viscosity_law {self.viscosity_law} needs viscosity > 0 (the "
                "viscosity at viscosity_t_ref)",
            )
        return self

    def transport(self) -> Transport | None:
        """The `Transport` these keys describe, or None when inviscid."""
        if self.viscosity == 0.0:
            return None
        mu, t_ref = jnp.asarray(self.viscosity), jnp.asarray(self.viscosity_t_ref)
        law: AbstractViscosity
        if self.viscosity_law == "power_law":
            law = PowerLawViscosity(mu, t_ref, jnp.asarray(self.viscosity_exponent))
        elif self.viscosity_law == "sutherland":
            law = SutherlandViscosity(mu, t_ref, jnp.asarray(self.sutherland_constant))
        else:
            law = ConstantViscosity(mu)
        return Transport(law, prandtl=self.prandtl)


def make_euler(
    grid,
    scheme: dict,
    gamma: float,
    boundaries,
    p_inf: float | None = None,
    *,
    physics: PhysicsConfig | None = None,
    gravity=None,
    equilibrium=None,
    section: BoundaryConfig | None = None,
) -> Euler:
    """The `Euler` operator a `scheme:` section describes; an ideal gas, or a
    stiffened gas when `p_inf` is given; viscous and heat-conducting when
    `physics` (a `TransportPhysics`) has `viscosity > 0`; with a `gravity`
    acceleration and a well-balancing `equilibrium` (conservative) state when
    given. A config `boundary:` `section` (checked at load against the
    `"euler"` kinds) replaces the sides of `boundaries` it gives."""
    s = EulerScheme.model_validate(scheme)
    if section is not None:
        boundaries = build_boundary(
            section,
            grid.ndim,
            "euler",
            normalize_boundaries(boundaries, grid.ndim),
        )
        try:  # a side given periodic against the scenario's other side
            normalize_boundaries(boundaries, grid.ndim)
        except ValueError as e:
            raise ConfigError("boundary", str(e).removeprefix("Euler: ")) from None
    transport = physics.transport() if isinstance(physics, TransportPhysics) else None
    return Euler(
        grid,
        eos=IdealGas(gamma) if p_inf is None else StiffenedGas(gamma, p_inf),
        reconstruction=s.build_reconstruction(),
        riemann=s.build_riemann(
            wave_speeds=s.wave_speeds,
            **({} if s.ma_limit is None else {"ma_limit": s.ma_limit}),
        ),
        boundaries=boundaries,
        variables=s.variables,
        positivity=s.positivity,
        average_correction=s.average_correction,
        transport=transport,
        gravity=gravity,
        equilibrium=equilibrium,
    )


EULER_DEFAULTS = {"stepper": "ssprk3", "scheme": {}}


def conservative_averages_to_primitive(rho, momenta, energy, gamma):
    """Primitive fields `(rho, u.., p)` whose conservative form is exactly the
    given cell averages (so `Euler.encode` recovers the averages)."""
    velocities = [m / rho for m in momenta]
    kinetic = 0.5 * sum(m * v for m, v in zip(momenta, velocities))
    return np.stack([rho, *velocities, (gamma - 1) * (energy - kinetic)])


def gauss_cell_average(fn, grid, points: int = 5) -> np.ndarray:
    """Cell averages of `fn(*coords) -> array (vars, *cells)` by tensor
    Gauss-Legendre quadrature with `points` nodes per axis (exact for
    polynomials of degree `2 points - 1`: high-order convergence studies
    need averages, not point values)."""
    nodes, weights = np.polynomial.legendre.leggauss(points)
    total: Any = 0.0
    for idx in np.ndindex(*(points,) * grid.ndim):
        coords = [
            lo + (np.arange(n) + 0.5 + 0.5 * nodes[i]) * h
            for lo, n, h, i in zip(grid.lower, grid.cells, grid.spacing, idx)
        ]
        w = np.prod([weights[i] / 2 for i in idx])
        total = total + w * fn(*np.meshgrid(*coords, indexing="ij"))
    return total


def density_errors(ys, exact_ys, grid, names) -> dict:
    """Domain-averaged L1 and L2 norms of the density error at the final time
    (for shock tubes on [0, 1] the L1 norm is the usual sum |e_i| dx)."""
    i = names.index("density")
    e = ys[-1][i] - exact_ys[-1][i]
    return {
        "l1_density": float(np.mean(np.abs(e))),
        "l2_density": float(np.sqrt(np.mean(e**2))),
    }
