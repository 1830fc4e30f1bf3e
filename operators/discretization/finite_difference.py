"""Central finite differences on periodic domains."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from .._grid import Grid
from ._base import AbstractDiscretization, _check_scalar

# One-sided coefficients c_1..c_m of the antisymmetric first-derivative stencil
# u' ~ sum_j c_j (u_{i+j} - u_{i-j}) / h, and c_0..c_m of the symmetric second
# derivative stencil u'' ~ (c_0 u_i + sum_j c_j (u_{i+j} + u_{i-j})) / h^2
# (Fornberg 1988, Table 1).
_FIRST = {
    2: (1 / 2,),
    4: (2 / 3, -1 / 12),
    6: (3 / 4, -3 / 20, 1 / 60),
    8: (4 / 5, -1 / 5, 4 / 105, -1 / 280),
}
_SECOND = {
    2: (-2.0, 1.0),
    4: (-5 / 2, 4 / 3, -1 / 12),
    6: (-49 / 18, 3 / 2, -3 / 20, 1 / 90),
    8: (-205 / 72, 8 / 5, -1 / 5, 8 / 315, -1 / 560),
}


class FiniteDifference(AbstractDiscretization):
    """Central finite differences of formal order `order` (2, 4, 6 or 8).

    Boundaries are periodic. First and second derivatives use the classical
    centred stencils; higher derivatives are compositions of those, which keeps
    the formal order.
    """

    grid: Grid
    order: int = eqx.field(static=True, default=4)

    def __check_init__(self):
        if self.order not in _FIRST:
            raise ValueError(f"FiniteDifference: order must be one of {sorted(_FIRST)}, got {self.order}")

    @property
    def stencil_radius(self) -> int:
        return self.order // 2

    def _first(self, u, axis):
        h = self.grid.spacing[axis]
        ax = axis - self.grid.ndim
        out = 0.0
        for j, c in enumerate(_FIRST[self.order], start=1):
            out = out + c * (jnp.roll(u, -j, ax) - jnp.roll(u, j, ax))
        return out / h

    def _second(self, u, axis):
        h = self.grid.spacing[axis]
        ax = axis - self.grid.ndim
        c0, *cs = _SECOND[self.order]
        out = c0 * u
        for j, c in enumerate(cs, start=1):
            out = out + c * (jnp.roll(u, -j, ax) + jnp.roll(u, j, ax))
        return out / h**2

    def derivative(self, u, axis: int, order: int = 1):
        _check_scalar(self.grid, u)
        if order < 0:
            raise ValueError(f"derivative order must be >= 0, got {order}")
        for _ in range(order // 2):
            u = self._second(u, axis)
        return self._first(u, axis) if order % 2 else u

    def laplacian(self, u):
        _check_scalar(self.grid, u)
        return sum(self._second(u, a) for a in range(self.grid.ndim))
