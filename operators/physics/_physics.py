"""The physics vocabulary: a PDE written once, independent of discretization."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Inexact

from ._calculus import AbstractCalculus

DISCRETIZATIONS = ("fourier", "finite_difference", "finite_volume")


class AbstractPhysics(eqx.Module):
    """A PDE for `channels` fields `u`, written once as a sum of terms:

        u_t = - sum_a d/dx_a F_a(u)      (`flux`: conservative flux divergence)
              + L u                      (`linear`: the declared stiff linear part)
              + R(u, x, t)               (`reaction`: pointwise sources)
              + N(u, t)                  (`nonlinear`: anything else, written with
                                          the calculus `d`)

    Every method is optional (returns `None` by default) except `field_names`.
    Fields have shape `(channels, *cells)`; terms return the same shape.

    - `flux(u, axis)` is *pointwise* in `u`. Finite volumes difference it
      through a Riemann solver (upwinded, shock-capturing); Fourier and finite
      differences take its derivative.
    - `linear(u, d)` must be linear in `u`. It is what ETDRK integrates exactly
      (then it must also have constant coefficients and not couple channels,
      i.e. be diagonal in Fourier space) and what IMEX treats implicitly.
    - `d` is the discretization's `AbstractCalculus`: `d.derivative(u, axis,
      order)`, `d.laplacian(u)`, `d.diffusion(u, coefficient)`, `d.jacobian(a,
      b)`, `d.inverse_laplacian(u)`, ... acting on the trailing `ndim` axes.

    `discretizations` lists the discretizations that make sense for the
    physics (a subset of `"fourier"`, `"finite_difference"`,
    `"finite_volume"`); `discretize` refuses the others with that list.
    `min_finite_volume_order` refuses too-diffusive finite volumes for
    dispersive physics (KdV on first-order finite volumes).
    """

    discretizations: ClassVar[tuple[str, ...]] = DISCRETIZATIONS
    complex_fields: ClassVar[bool] = False
    min_finite_volume_order: ClassVar[int] = 1

    def field_names(self, ndim: int) -> tuple[str, ...]:
        """Names of the channels on an `ndim`-dimensional grid."""
        raise NotImplementedError

    def encode(
        self, fields: Inexact[Array, " channels *cells"]
    ) -> Inexact[Array, " channels *cells"]:
        """Physical fields (those named by `field_names`) to the variables the
        equations evolve, e.g. velocity to momentum (default: the same)."""
        return fields

    def decode(
        self, u: Inexact[Array, " channels *cells"]
    ) -> Inexact[Array, " channels *cells"]:
        """Inverse of `encode`."""
        return u

    def flux(
        self, u: Inexact[Array, " channels *cells"], axis: int
    ) -> Inexact[Array, " channels *cells"] | None:
        """Pointwise flux `F_axis(u)` (None: no conservative flux term)."""
        return None

    def linear(
        self, u: Inexact[Array, " channels *cells"], d: AbstractCalculus
    ) -> Inexact[Array, " channels *cells"] | None:
        """The stiff linear part `L u` (None: none)."""
        return None

    def reaction(
        self, u: Inexact[Array, " channels *cells"], x: tuple[Array, ...], t
    ) -> Inexact[Array, " channels *cells"] | None:
        """Pointwise source `R(u, x, t)`; `x` holds the cell-centre coordinates,
        one array of shape `cells` per axis (None: none)."""
        return None

    def nonlinear(
        self, u: Inexact[Array, " channels *cells"], d: AbstractCalculus, t
    ) -> Inexact[Array, " channels *cells"] | None:
        """Any other (non-stiff) term, written with the calculus `d`."""
        return None

    def wave_speeds(
        self, u: Inexact[Array, " channels *cells"], axis: int
    ) -> tuple[Array, Array]:
        """Smallest and largest characteristic speeds of `flux(., axis)` at every
        point, shape `cells` each: by default the eigenvalues of the flux
        Jacobian `dF/du`, by automatic differentiation (real parts).
        Override with closed forms where known (cheaper)."""
        return jacobian_eigenvalue_bounds(lambda v: self.flux(v, axis), u)

    def reflect(
        self, u: Inexact[Array, " channels *cells"], axis: int
    ) -> Inexact[Array, " channels *cells"]:
        """The mirror state behind a reflecting wall normal to `axis` (for
        finite-volume `ReflectingWall`): e.g. flip the normal velocity."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define reflect(u, axis), so it "
            "cannot have a reflecting wall"
        )


def jacobian_eigenvalue_bounds(flux, u) -> tuple[Array, Array]:
    """`(min, max)` over the eigenvalues (real parts) of the pointwise Jacobian
    of `flux` at each point of `u` (channels first). One channel: the
    derivative itself, no eigenvalue solve."""
    channels = u.shape[0]
    points = jnp.moveaxis(u, 0, -1).reshape(-1, channels)

    def point_flux(v):
        return flux(v.reshape(channels, *([1] * (u.ndim - 1)))).reshape(channels)

    jac = jax.vmap(jax.jacfwd(point_flux))(points)  # (points, c, c)
    if channels == 1:
        lam = jac[:, 0, 0][:, None]
    else:
        lam = jnp.real(jnp.linalg.eigvals(jac))
    shape = u.shape[1:]
    return lam.min(axis=-1).reshape(shape), lam.max(axis=-1).reshape(shape)
