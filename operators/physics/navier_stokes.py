"""Two-dimensional incompressible Navier-Stokes in vorticity form."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..internal import checked_parameter, checks_own_arguments, finite, nonnegative
from ._physics import AbstractPhysics

_amplitude = checked_parameter(
    "NavierStokesVorticity", "forcing_amplitude", finite, "finite"
)


@checks_own_arguments
class NavierStokesVorticity(AbstractPhysics):
    """`w_t + u . grad w = nu laplacian(w) - drag w + f` on a periodic 2D domain.

    The velocity is recovered from the vorticity through the stream function,
    `laplacian(psi) = -w`, `u = (d psi/dy, -d psi/dx)`, so the advection is
    the Jacobian `u . grad w = -J(psi, w) = -J(w, phi)` with
    `phi = laplacian^-1(w) = -psi`. Pseudo-spectrally it costs three inverse
    and two forward transforms; finite differences use Arakawa's (1966)
    energy- and enstrophy-conserving Jacobian. Optional Kolmogorov forcing
    (`forcing_amplitude=None` switches it off) is the curl of the body force
    `F_x = A sin(k_f y)`, i.e. `f = -A k_f cos(k_f y)` with `k_f` counted in
    multiples of `2 pi / L_y` (Chandler & Kerswell 2013). Channel:
    `vorticity`.

    **Arguments:**

    - `nu`: kinematic viscosity, >= 0.
    - `drag`: linear (Rayleigh) drag coefficient, >= 0 (default 0).
    - `forcing_amplitude`: `A`, or `None` (default) for no forcing.
    - `forcing_wavenumber`: `k_f` in multiples of `2 pi / L_y` (default 4).
    """

    discretizations: ClassVar[tuple[str, ...]] = ("fourier", "finite_difference")

    nu: Array = eqx.field(
        converter=checked_parameter(
            "NavierStokesVorticity", "nu", nonnegative, ">= 0 and finite"
        )
    )
    drag: Array = eqx.field(
        converter=checked_parameter(
            "NavierStokesVorticity", "drag", nonnegative, ">= 0 and finite"
        ),
        default=0.0,
    )
    forcing_amplitude: Array | None = eqx.field(
        converter=lambda a: None if a is None else _amplitude(a), default=None
    )
    forcing_wavenumber: int = eqx.field(static=True, default=4)

    def __check_init__(self):
        if (
            isinstance(self.forcing_wavenumber, bool)
            or not isinstance(self.forcing_wavenumber, (int, np.integer))
            or self.forcing_wavenumber < 1
        ):
            raise ValueError(
                "NavierStokesVorticity: forcing_wavenumber must be an int >= 1, got "
                f"{self.forcing_wavenumber!r}"
            )

    def field_names(self, ndim):
        if ndim != 2:
            raise ValueError("NavierStokesVorticity is two-dimensional")
        return ("vorticity",)

    def linear(self, u, d):
        return self.nu * d.laplacian(u) - self.drag * u

    def velocity(self, w, d):
        """The velocity `(d psi/dy, -d psi/dx)`, `laplacian(psi) = -w`, of a
        vorticity field `w` of shape `(1, nx, ny)`, computed with the calculus
        `d` (shape `(2, nx, ny)`)."""
        grad_phi = d.gradient(d.inverse_laplacian(w))[:, 0]  # phi = -psi
        return jnp.stack([-grad_phi[1], grad_phi[0]])

    def nonlinear(self, u, d, t):
        # -u . grad w = J(psi, w) = J(w, phi), phi = laplacian^-1 w = -psi
        return d.jacobian(u, d.inverse_laplacian(u))

    def reaction(self, u, x, t):
        if self.forcing_amplitude is None:
            return None
        y = x[1]
        # L_y from the cell centres of the (uniform) grid: n cells of width h
        length = y.shape[1] * (y[0, 1] - y[0, 0])
        kf = 2.0 * np.pi * self.forcing_wavenumber / length
        return (-self.forcing_amplitude * kf * jnp.cos(kf * y))[None]
