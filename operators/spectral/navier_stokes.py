"""Two-dimensional incompressible Navier-Stokes in vorticity form."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..discretization import FourierSpectral
from ..internal import checked_parameter, checks_own_arguments, finite, nonnegative
from ._base import AbstractSpectralOperator, check_discretization

_amplitude = checked_parameter(
    "NavierStokesVorticity", "forcing_amplitude", finite, "finite"
)


@checks_own_arguments
class NavierStokesVorticity(AbstractSpectralOperator):
    """`w_t + u . grad w = nu laplacian(w) - drag w + f` on a periodic 2D domain.

    The velocity is recovered from the vorticity through the stream function,
    `laplacian(psi) = -w`, `u = (d psi/dy, -d psi/dx)`. Optional Kolmogorov
    forcing (`forcing_amplitude=None` switches it off) is the curl of the body
    force `F_x = A sin(k_f y)`, i.e. `f = -A k_f cos(k_f y)` with `k_f` counted
    in multiples of `2 pi / L_y` (Chandler & Kerswell 2013). Channel:
    `vorticity`.

    **Arguments:**

    - `discretization`: a 2D `FourierSpectral`.
    - `nu`: kinematic viscosity, >= 0.
    - `drag`: linear (Rayleigh) drag coefficient, >= 0 (default 0).
    - `forcing_amplitude`: `A`, or `None` (default) for no forcing.
    - `forcing_wavenumber`: `k_f` in multiples of `2 pi / L_y` (default 4).
    """

    discretization: FourierSpectral
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
        check_discretization(self)
        if self.discretization.grid.ndim != 2:
            raise ValueError("NavierStokesVorticity is two-dimensional")
        if (
            isinstance(self.forcing_wavenumber, bool)
            or not isinstance(self.forcing_wavenumber, (int, np.integer))
            or self.forcing_wavenumber < 1
        ):
            raise ValueError(
                "NavierStokesVorticity: forcing_wavenumber must be an int >= 1, got "
                f"{self.forcing_wavenumber!r}"
            )

    @property
    def field_names(self):
        return ("vorticity",)

    def linear_symbol(self):
        return (self.nu * self.discretization.laplacian_symbol() - self.drag)[None]

    def velocity(self, state):
        """Spectral velocity `(u_hat, v_hat)` of vorticity spectrum `(1, *spectrum)`."""
        kx, ky = self.discretization.wavenumbers(odd=True)
        k2 = -self.discretization.laplacian_symbol()
        inv_k2 = np.where(k2 == 0.0, 0.0, 1.0 / np.where(k2 == 0.0, 1.0, k2))
        psi = state[0] * inv_k2
        return jnp.stack([1j * ky * psi, -1j * kx * psi])

    def _forcing_hat(self) -> np.ndarray:
        """Spectrum of `-k_f' cos(k_f' y)` at unit amplitude (a trace-time constant)."""
        grid = self.grid
        kf = 2.0 * np.pi * self.forcing_wavenumber / grid.lengths[1]
        _, y = np.meshgrid(*grid.coordinates, indexing="ij")
        return np.fft.rfftn(-kf * np.cos(kf * y))[None]

    def nonlinear(self, state, t):
        kx, ky = (k[0] for k in self._ik())
        uv_hat = self.velocity(state)
        # conservative form -div(u w): 3 inverse and 2 forward transforms
        u, v, w = self._to_physical(jnp.concatenate([uv_hat, state]))
        flux = self._to_spectral(jnp.stack([u * w, v * w]))
        out = -(kx * flux[0] + ky * flux[1])[None]
        if self.forcing_amplitude is not None:
            out = out + self.forcing_amplitude * self._forcing_hat().astype(out.dtype)
        return out
