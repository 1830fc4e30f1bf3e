"""The `FiniteDifference` strategy: stencils on periodic grids (stepped in
Fourier space, ETDRK-ready with the stencil's symbol) and with walls (stepped
in physical space, the linear part implicit through IMEX steppers).

Physics code sees `FiniteDifferenceCalculus`; the Jacobian `J(a, b)` is
Arakawa's (1966) energy- and enstrophy-conserving one.
"""

from __future__ import annotations

from typing import cast

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Inexact

from .._operator import AbstractImexOperator
from ..discretization import (
    AbstractWallBoundary,
    FiniteDifference,
    FourierSpectral,
    Periodic,
)
from ._calculus import AbstractCalculus, over_leading
from ._discretize import register_strategy
from ._physics import AbstractPhysics, flux_rows, scatter_channels
from ._semilinear import SemilinearPDE


class FiniteDifferenceCalculus(AbstractCalculus):
    """The calculus of a `FiniteDifference` (periodic or with walls).

    - `derivative`, `laplacian`: the centred stencils of order
      `fd.order`; on a wall axis they read ghost cells filled through the
      wall condition. Derivatives of order above 2 along a wall axis are
      refused: write fourth-order terms as `d.laplacian(d.laplacian(u))`,
      which applies the wall condition to `u` and again to `laplacian(u)` --
      with `Dirichlet(0)` the "hinged" pair `u = laplacian(u) = 0`, with
      `Neumann(0)` the pair `du/dn = d(laplacian u)/dn = 0` of
      Kuramoto-Sivashinsky and Cahn-Hilliard in a closed box (a nonzero
      wall value is imposed on `laplacian(u)` too). The composition keeps
      the stencil's order in the solution (tested at orders 2 and 4).
    - `diffusion(u, coefficient)`: the compact flux form `D- (a D+ u)`
      (`FiniteDifference.derivative_of_scaled_derivative`), also for a
      constant coefficient, so that it matches `diffusion_symbol`.
    - `inverse_laplacian`: periodic only, by FFT with the stencil's
      Laplacian symbol (the exact inverse of `laplacian` on zero-mean fields).
    - `jacobian(a, b)` (2D): Arakawa's (1966) nine-point Jacobian `J_A`, whose
      discrete sums `sum(a J)` and `sum(b J)` vanish identically on a
      periodic grid (energy and enstrophy conservation of 2D flow). For
      `order >= 4` the Richardson combination `sum_k w_k J_A(k h)` over the
      Arakawa Jacobians on the stencils dilated by `k = 1 .. order / 2`
      (weights solving `sum_k w_k k^(2 j) = [j = 0]`, e.g. `(4 J_A(h) -
      J_A(2 h)) / 3` at order 4): `J_A(k h)`'s Taylor expansion holds only
      even powers, `J + (k h)^2 E_2 + (k h)^4 E_4 + ...`, so the combination
      has order `order`, and each `J_A(k h)` conserves both sums (the same
      algebra on shifts by `k`), so their combination does too. Along a
      wall axis the stencils read ghosts through the wall conditions: the
      order is kept, the conservation is exact only on periodic grids.

    Leading axes (channels) are batched with `over_leading`.

    **Arguments:**

    - `fd`: the `FiniteDifference`.
    """

    def __init__(self, fd: FiniteDifference):
        self.fd = fd
        self.grid = fd.grid

    def _walled(self, axis: int) -> bool:
        return not isinstance(self.fd.boundary[axis][0], Periodic)

    def derivative(self, u, axis, order=1):
        if order > 2 and self._walled(axis):
            raise NotImplementedError(
                f"finite differences with walls: derivative of order {order} "
                f"along axis {axis} is not defined (the wall condition fixes u "
                "and du/dn only). Write fourth-order terms as "
                "d.laplacian(d.laplacian(u)), which applies the wall condition "
                "to u and to laplacian(u) (hinged or Neumann pair)"
            )
        return over_leading(
            lambda v: self.fd.derivative(v, axis, order), u, self.grid.ndim
        )

    def laplacian(self, u):
        return over_leading(self.fd.laplacian, u, self.grid.ndim)

    def diffusion(self, u, coefficient: ArrayLike):
        coefficient = jnp.asarray(coefficient)
        ndim = self.grid.ndim

        def one(v):
            terms = [
                self.fd.derivative_of_scaled_derivative(v, coefficient, a)
                for a in range(ndim)
            ]
            return sum(terms[1:], terms[0])

        return over_leading(one, u, ndim)

    def inverse_laplacian(self, f):
        if not self.fd.periodic:
            raise NotImplementedError(
                "finite differences with walls: inverse_laplacian needs periodic "
                "boundaries (it inverts the stencil's Laplacian by FFT)"
            )
        fourier = FourierSpectral(self.grid, dealias=1.0)
        real = not jnp.iscomplexobj(f)
        lap = self.fd.laplacian_symbol(real)
        inv = np.where(lap == 0.0, 0.0, 1.0 / np.where(lap == 0.0, 1.0, lap))
        f_hat = fourier.forward(f)
        inv = inv.reshape((1,) * (f.ndim - self.grid.ndim) + inv.shape)
        return fourier.inverse(f_hat * inv.astype(f_hat.real.dtype), real)

    def jacobian(self, a, b):
        if self.grid.ndim != 2:
            raise ValueError(
                f"jacobian J(a, b) is two-dimensional; the grid has {self.grid.ndim} "
                "dimensions"
            )
        if a.shape != b.shape:
            raise ValueError(
                f"jacobian: a and b must have one shape, got {a.shape} and {b.shape}"
            )
        levels = self.fd.order // 2
        weights = richardson_weights(levels)
        hx, hy = self.grid.spacing

        def one(ab):
            a1, b1 = ab[0], ab[1]
            pa = self._pad2(a1, levels)
            pb = self._pad2(b1, levels)
            terms = [
                w * arakawa(pa, pb, k, levels, hx * k, hy * k)
                for k, w in enumerate(weights, start=1)
            ]
            return sum(terms[1:], terms[0])

        lead = a.shape[: a.ndim - 2]
        stacked = jnp.stack([a, b], axis=len(lead))  # (*lead, 2, nx, ny)
        if not lead:
            return one(stacked)
        flat = stacked.reshape(-1, *stacked.shape[len(lead) :])
        return jnp.reshape(jax.vmap(one)(flat), a.shape)

    def _pad2(self, u, width: int):
        """`u` padded by `width` cells on both sides of both axes (periodic
        wrap or ghosts through the wall conditions; corners by padding the
        padded array)."""
        return self.fd.pad(self.fd.pad(u, 0, width, width), 1, width, width)


def richardson_weights(levels: int) -> np.ndarray:
    """Weights `w_1 .. w_levels` with `sum_k w_k k^(2 j) = 1` for `j = 0` and
    `0` for `j = 1 .. levels - 1`: combining a centred approximation on
    stencils dilated `k` times cancels its error terms up to `h^(2 levels)`."""
    k = np.arange(1, levels + 1, dtype=float)
    matrix = k[None, :] ** (2 * np.arange(levels))[:, None]
    rhs = np.zeros(levels)
    rhs[0] = 1.0
    return np.linalg.solve(matrix, rhs)


def arakawa(pa, pb, k: int, width: int, hx: float, hy: float):
    """Arakawa's (1966) Jacobian `(J++ + J+x + Jx+) / 3` of `a` and `b` with
    neighbours `k` cells apart and spacings `hx`, `hy` (`k` times the cell
    widths), from arrays padded by `width >= k` cells on both sides of both
    axes."""
    nx = pa.shape[0] - 2 * width
    ny = pa.shape[1] - 2 * width

    def s(p, i, j):  # p[x + i k, y + j k] on the interior
        return jax.lax.slice(
            p,
            (width + i * k, width + j * k),
            (width + i * k + nx, width + j * k + ny),
        )

    a = lambda i, j: s(pa, i, j)  # noqa: E731
    b = lambda i, j: s(pb, i, j)  # noqa: E731
    jpp = (a(1, 0) - a(-1, 0)) * (b(0, 1) - b(0, -1)) - (a(0, 1) - a(0, -1)) * (
        b(1, 0) - b(-1, 0)
    )
    jpx = (
        a(1, 0) * (b(1, 1) - b(1, -1))
        - a(-1, 0) * (b(-1, 1) - b(-1, -1))
        - a(0, 1) * (b(1, 1) - b(-1, 1))
        + a(0, -1) * (b(1, -1) - b(-1, -1))
    )
    jxp = (
        b(0, 1) * (a(1, 1) - a(-1, 1))
        - b(0, -1) * (a(1, -1) - a(-1, -1))
        - b(1, 0) * (a(1, 1) - a(1, -1))
        + b(-1, 0) * (a(-1, 1) - a(-1, -1))
    )
    return (jpp + jpx + jxp) / (12.0 * hx * hy)


class PeriodicFiniteDifferencePDE(SemilinearPDE):
    """`physics` on a periodic `FiniteDifference`, stepped in Fourier space.

    The stencils are diagonal in Fourier space, so the state is the FFT of
    the fields and the linear part's symbol is the stencil's
    (`FiniteDifference.derivative_symbol`, `diffusion_symbol`): ETDRK
    integrates exactly the same discrete linear operator that the calculus
    applies. The other terms are evaluated in physical space with the stencils
    (`FiniteDifferenceCalculus`); nothing is de-aliased (the transform keeps
    every mode).

    **Arguments:**

    - `physics`: the `AbstractPhysics`.
    - `discretization`: a periodic `FiniteDifference`.
    """

    physics: AbstractPhysics
    discretization: FiniteDifference

    def __check_init__(self):
        if not self.discretization.periodic:
            raise ValueError(
                "PeriodicFiniteDifferencePDE: the FiniteDifference has walls; "
                "use WalledFiniteDifferencePDE"
            )

    @property
    def fourier(self):
        return FourierSpectral(self.discretization.grid, dealias=1.0)

    def calculus(self):
        return FiniteDifferenceCalculus(self.discretization)

    def symbols(self):
        fd, real = self.discretization, not self.physics.complex_fields
        # a leading axis of length 1: the symbols multiply `(channels,
        # *spectrum)` arrays (no implicit rank promotion)
        return (
            lambda axis, order: fd.derivative_symbol(axis, order, real)[None],
            lambda axis: fd.diffusion_symbol(axis, real)[None],
        )


class WalledFiniteDifferencePDE(AbstractImexOperator):
    """`physics` on a `FiniteDifference` with walls (Dirichlet, Neumann,
    Robin on some axis), stepped in physical space.

    The state is the evolved variables on the cells (`physics.encode` of the
    fields). The right-hand side splits for IMEX steppers into

    - `stiff_linear(u) = L_0 u`: the physics' linear part with the finite
      difference calculus and homogeneous walls (every wall value zero: a
      wall value makes `u -> L u` affine, `L u = L_0 u + L 0`);
    - `explicit(u, t) = - sum_a D_a F_a(u) + R(u, x, t) + N(u, t) + L 0`: the
      flux divergence (the stencil derivative of the pointwise flux
      evaluated on the state's ghost cells, so that a wall sees
      `F(u_wall)`), reaction, other terms and the wall forcing of the linear
      part.

    One condition set (`discretization.boundary`) applies to every channel.
    Explicit steppers (RK4, SSPRK3) take the sum.

    **Arguments:**

    - `physics`: the `AbstractPhysics`.
    - `discretization`: a `FiniteDifference` with at least one wall axis.
    """

    physics: AbstractPhysics
    discretization: FiniteDifference

    @property
    def grid(self):
        return self.discretization.grid

    @property
    def field_names(self):
        return self.physics.field_names(self.grid.ndim)

    def _shape(self) -> tuple[int, ...]:
        return (len(self.field_names), *self.grid.cells)

    def state_structure(self):
        dtype = jnp.result_type(float)
        if self.physics.complex_fields:
            dtype = jnp.result_type(dtype, jnp.complex64)
        return jax.ShapeDtypeStruct(self._shape(), dtype)

    def encode(self, fields):
        if fields.shape != self._shape():
            raise ValueError(
                f"{type(self.physics).__name__}: expected fields of shape "
                f"{self._shape()} ({', '.join(self.field_names)}), got "
                f"{fields.shape}"
            )
        if self.physics.complex_fields:
            fields = fields.astype(jnp.result_type(fields.dtype, jnp.complex64))
        return self.physics.encode(fields)

    def decode(self, state):
        return self.physics.decode(state)

    def _linear(self, u, fd: FiniteDifference) -> Array | None:
        return self.physics.linear(u, FiniteDifferenceCalculus(fd))

    def _homogeneous(self) -> FiniteDifference:
        """The discretization with every wall value set to zero: its ghosts,
        hence its stencils, are linear in `u` (with the values they are
        affine: `L_g u = L_0 u + L_g 0`)."""
        fd = self.discretization
        walls = [
            side
            for pair in fd.boundary
            for side in pair
            if isinstance(side, AbstractWallBoundary)
        ]
        return eqx.tree_at(
            lambda d: [
                side.value
                for pair in d.boundary
                for side in pair
                if isinstance(side, AbstractWallBoundary)
            ],
            fd,
            [jnp.zeros_like(w.value) for w in walls],
        )

    def stiff_linear(self, state):
        out = self._linear(state, self._homogeneous())
        return jnp.zeros_like(state) if out is None else out

    def explicit(self, state, t):
        calc = FiniteDifferenceCalculus(self.discretization)
        ndim = self.grid.ndim
        terms: list[Inexact[Array, "..."]] = []
        declared = [flux_rows(self.physics, state, a) for a in range(ndim)]
        if declared[0] is not None:
            # ghosts of the state, mapped by the flux: F(u_wall) at a wall;
            # a per-component flux differences only its declared rows
            parts = [
                (
                    cast(tuple[tuple[int, ...], Array], declared[a])[0],
                    self.discretization.derivative_of(
                        lambda v, a=a: cast(Array, self.physics.flux(v, a)), state, a
                    ),
                )
                for a in range(ndim)
            ]
            terms.append(-scatter_channels(parts, state.shape[0]))
        x = self.grid.mesh(jnp.finfo(state.dtype).dtype)
        for term in (
            self.physics.reaction(state, x, t),
            self.physics.nonlinear(state, calc, t),
            self._linear(jnp.zeros_like(state), self.discretization),
        ):
            if term is not None:
                terms.append(term)
        if not terms:
            return jnp.zeros_like(state)
        return sum(terms[1:], terms[0]).astype(state.dtype)


@register_strategy(FiniteDifference, "finite_difference")
def discretize_finite_difference(
    physics, fd: FiniteDifference
) -> PeriodicFiniteDifferencePDE | WalledFiniteDifferencePDE:
    """Periodic: `PeriodicFiniteDifferencePDE` (ETDRK with the stencil's
    symbol); with walls: `WalledFiniteDifferencePDE` (IMEX steppers)."""
    if fd.halo is not None:
        raise ValueError(
            "discretize: a FiniteDifference with a halo exchange (one block of a "
            "sharded field) is not supported by the physics layer"
        )
    if fd.periodic:
        return PeriodicFiniteDifferencePDE(physics, fd)
    return WalledFiniteDifferencePDE(physics, fd)


__all__ = [
    "FiniteDifferenceCalculus",
    "PeriodicFiniteDifferencePDE",
    "WalledFiniteDifferencePDE",
]
