"""What physics code sees of a discretization: derivatives of fields."""

from __future__ import annotations

import abc

import jax
from jaxtyping import Array, ArrayLike, Inexact

from .._grid import Grid


class AbstractCalculus(abc.ABC):
    """Discrete differential operators acting on the trailing `grid.ndim` axes
    of an array (any leading axes, e.g. channels, are batched).

    A calculus is a trace-time helper built by a discretized operator for one
    evaluation of the right-hand side (it is not a pytree and is never stored).
    Physics code calls only these methods, so it runs unchanged on every
    discretization: `FourierCalculus` (pseudo-spectral), the finite-difference
    calculus (stencils, walls through ghost cells) and the finite-volume one.
    """

    grid: Grid

    @abc.abstractmethod
    def derivative(
        self, u: Inexact[Array, "*batch *cells"], axis: int, order: int = 1
    ) -> Inexact[Array, "*batch *cells"]:
        """The `order`-th partial derivative along `axis`."""

    def laplacian(
        self, u: Inexact[Array, "*batch *cells"]
    ) -> Inexact[Array, "*batch *cells"]:
        """Sum of the unmixed second derivatives."""
        terms = [self.derivative(u, a, 2) for a in range(self.grid.ndim)]
        return sum(terms[1:], terms[0])

    def gradient(
        self, u: Inexact[Array, "*batch *cells"]
    ) -> Inexact[Array, " ndim *batch *cells"]:
        """First derivatives stacked on a new leading axis."""
        import jax.numpy as jnp

        return jnp.stack([self.derivative(u, a) for a in range(self.grid.ndim)])

    def divergence(
        self, v: Inexact[Array, " ndim *batch *cells"]
    ) -> Inexact[Array, "*batch *cells"]:
        """`sum_a d v_a / dx_a` of a vector with a leading component axis."""
        terms = [self.derivative(v[a], a) for a in range(self.grid.ndim)]
        return sum(terms[1:], terms[0])

    def curl(self, v: Inexact[Array, " ndim *cells"]) -> Inexact[Array, "*curl *cells"]:
        """The curl of a vector field with a leading component axis of length
        `ndim`: in 2D the scalar `d_x v_y - d_y v_x` (shape `cells`), in 3D
        the vector `(d_y v_z - d_z v_y, d_z v_x - d_x v_z, d_x v_y - d_y v_x)`.
        By default from `gradient(v)` (the pseudo-spectral calculus
        transforms only the curl's components).

        **Raises:** `ValueError` on a 1D grid or when `v` does not have
        `ndim` components."""
        g = self.gradient(check_vector(self, v, "curl"))  # g[a, i] = d_a v_i
        if self.grid.ndim == 2:
            return g[0, 1] - g[1, 0]
        import jax.numpy as jnp

        return jnp.stack([g[1, 2] - g[2, 1], g[2, 0] - g[0, 2], g[0, 1] - g[1, 0]])

    @abc.abstractmethod
    def diffusion(
        self, u: Inexact[Array, "*batch *cells"], coefficient: ArrayLike
    ) -> Inexact[Array, "*batch *cells"]:
        """`div(coefficient grad u)` in compact flux form (conservative, no
        odd-even null space). `coefficient`: a scalar or a field of shape
        `cells` (variable coefficient), given at cell centres."""

    def inverse_laplacian(
        self, f: Inexact[Array, "*batch *cells"]
    ) -> Inexact[Array, "*batch *cells"]:
        """Zero-mean `phi` with `laplacian(phi) = f - mean(f)` (periodic only)."""
        raise NotImplementedError(
            f"{type(self).__name__}: inverse_laplacian needs a periodic "
            "Fourier or finite-difference discretization"
        )

    def jacobian(
        self, a: Inexact[Array, "*batch *cells"], b: Inexact[Array, "*batch *cells"]
    ) -> Inexact[Array, "*batch *cells"]:
        """The 2D Jacobian `J(a, b) = a_x b_y - a_y b_x` (advection of `b` by the
        stream function `a`). Finite differences use Arakawa's (1966)
        energy- and enstrophy-conserving form."""
        return self.derivative(a, 0) * self.derivative(b, 1) - self.derivative(
            a, 1
        ) * self.derivative(b, 0)


def check_vector(calculus: AbstractCalculus, v, what: str):
    """`v`, checked to be a vector field of a 2D or 3D grid (leading
    component axis of length `ndim`) for `what` (`"curl"`)."""
    ndim = calculus.grid.ndim
    if ndim not in (2, 3):
        raise ValueError(f"{what} needs a 2D or 3D grid, got a {ndim}D one")
    if v.ndim != ndim + 1 or v.shape[0] != ndim:
        raise ValueError(
            f"{what}: expected a vector field of shape ({ndim}, *cells), got {v.shape}"
        )
    return v


def over_leading(fn, u, ndim: int):
    """Apply `fn` (acting on one `cells`-shaped array) over every leading axis
    of `u` with `jax.vmap`."""
    lead = u.shape[: u.ndim - ndim]
    if not lead:
        return fn(u)
    flat = u.reshape(-1, *u.shape[u.ndim - ndim :])
    out = jax.vmap(fn)(flat)
    return out.reshape(*lead, *out.shape[1:])
