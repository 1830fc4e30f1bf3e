"""Viscous Burgers equation, 1-3D."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from ..internal import checked_parameter, checks_own_arguments, nonnegative
from ._physics import AbstractPhysics


@checks_own_arguments
class Burgers(AbstractPhysics):
    """`u_t + (u . grad) u = nu laplacian(u)` for a velocity field with one
    component per spatial dimension (1D: `u_t + (u^2 / 2)_x = nu u_xx`).

    Written as a conservative flux plus, in 2D and 3D, the rotational rest
    (the identity `(u . grad) u = grad(|u|^2 / 2) - u x curl(u)`):

        u_t = - grad(|u|^2 / 2) + [u x curl(u)] + nu laplacian(u),

    the flux of component `i` along axis `a` being `delta_ia |u|^2 / 2`: a
    per-component flux (`flux_channels(a) = (a,)`, one row). The bracket
    (`nonlinear`, from `d.curl(u)`) vanishes in 1D and for curl-free
    velocities, which stay curl-free: the class with the Cole-Hopf
    solutions, in which shocks form. On Fourier the advection is evaluated
    pseudo-spectrally, 2/3 de-aliased (the flux form equals the advective
    one there exactly up to round-off), with the transforms of `u` and of
    its curl, one forward transform of `|u|^2 / 2` (the same row on every
    axis) and one of the bracket: 6 field transforms in 2D and 10 in 3D,
    where the advective form `(u . grad) u` costs 8 and 15. Finite volumes
    upwind the flux. Channels: `velocity_x` (, `velocity_y`, `velocity_z`).

    **Arguments:**

    - `nu`: the viscosity, >= 0 (checked at construction, or at run time when
      traced).
    """

    nu: Array = eqx.field(
        converter=checked_parameter("Burgers", "nu", nonnegative, ">= 0 and finite")
    )

    def field_names(self, ndim):
        return tuple(f"velocity_{a}" for a in ("x", "y", "z")[:ndim])

    def flux_channels(self, axis):
        return (axis,)

    def flux(self, u, axis):
        return 0.5 * jnp.sum(u * u, axis=0)[None]

    def linear(self, u, d):
        return self.nu * d.laplacian(u)

    def nonlinear(self, u, d, t):
        if u.shape[0] == 1:
            return None
        w = d.curl(u)
        if u.shape[0] == 2:  # u x (w e_z)
            return jnp.stack([u[1] * w, -(u[0] * w)])
        return jnp.stack(
            [
                u[1] * w[2] - u[2] * w[1],
                u[2] * w[0] - u[0] * w[2],
                u[0] * w[1] - u[1] * w[0],
            ]
        )

    def wave_speeds(self, u, axis):
        # the flux Jacobian along `axis` has one row, u^T, in row `axis`: its
        # eigenvalues are u_axis and zeros
        if u.shape[0] == 1:
            return u[0], u[0]
        return jnp.minimum(u[axis], 0.0), jnp.maximum(u[axis], 0.0)
