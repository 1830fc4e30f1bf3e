"""`FiniteVolume`: the finite-volume discretization of any physics with a
pointwise flux (`operators.physics.discretize`)."""

from __future__ import annotations

from typing import Any

import equinox as eqx

from .._grid import Grid
from ..discretization.boundary import (
    AbstractBoundary,
    Periodic as PeriodicWrap,
    normalize_boundary,
)
from ..internal import check_instance, checks_own_arguments, describe
from .boundary import AbstractBoundaryCondition, Inflow, Periodic
from .reconstruction import WENO5Z, AbstractReconstruction
from .riemann import AbstractRiemannSolver, Rusanov

_CALCULUS_ORDERS = (2, 4)


class FiniteVolume(eqx.Module):
    """Finite volumes for a physics written once (`AbstractPhysics`):
    `discretize(physics, FiniteVolume(grid, ...))` gives a
    `FiniteVolumePDE`, a method of lines on cell averages of the physics'
    evolved variables (`physics.encode(fields)`).

    Per axis, the state is padded with ghost cells (`boundary`), reconstructed
    to both sides of every face on the evolved (conserved) variables
    (`reconstruction`), and the `riemann` solver's numerical flux, built from
    `physics.flux` and `physics.wave_speeds`, is differenced. The other terms
    of the physics (`linear`, `reaction`, `nonlinear`) see a finite-volume
    calculus: central differences on the cell averages with the same ghost
    cells, of order `calculus_order`.

    **Arguments:**

    - `grid`: the `Grid`.
    - `reconstruction`: `FirstOrder()`, `MUSCL(limiter)`, `WENO5JS()` or
      `WENO5Z()` (default).
    - `riemann`: a solver that needs no eigenstructure, `Rusanov()`
      (default) or `HLL()` (Davis wave-speed bounds).
    - `boundary`: per axis and side (one condition for every face, one per
      axis, or a `(low, high)` pair per axis): `Periodic()` (default),
      `Outflow()` (zero gradient), `ReflectingWall()` (mirror state from
      `physics.reflect`), `InflowState(values)` (prescribed physical
      fields), `Dirichlet(value)` / `Neumann(value)` / `Robin(alpha, beta,
      value)` (ghost averages extrapolated so that the wall value or normal
      derivative is the given one, on every channel of the evolved
      variables), or `Switch(...)`. Values are differentiable leaves.
    - `calculus_order`: 2 or 4, the order of the central differences of the
      non-flux terms (default: 2 with `FirstOrder`/`MUSCL`, 4 with WENO5).
      On cell averages a central difference of a linear term is a cell
      average of the derivative to that order; products (nonlinear terms)
      of averages are second order.
    """

    grid: Grid
    reconstruction: AbstractReconstruction
    riemann: AbstractRiemannSolver
    boundary: tuple[tuple[Any, Any], ...]
    calculus_order: int = eqx.field(static=True)

    @checks_own_arguments
    def __init__(
        self,
        grid: Grid,
        reconstruction: AbstractReconstruction | None = None,
        riemann: AbstractRiemannSolver | None = None,
        boundary=None,
        calculus_order: int | None = None,
    ):
        check_instance("FiniteVolume", "grid", grid, Grid, "Grid(cells=[200])")
        self.grid = grid
        self.reconstruction = WENO5Z() if reconstruction is None else reconstruction
        self.riemann = Rusanov() if riemann is None else riemann
        pairs = normalize_boundary(
            boundary,
            grid.ndim,
            owner="FiniteVolume",
            kinds=(AbstractBoundaryCondition, AbstractBoundary),
            periodic=(Periodic, PeriodicWrap),
        )

        def unify(b):
            return Periodic() if isinstance(b, PeriodicWrap) else b

        self.boundary = tuple((unify(lo), unify(hi)) for lo, hi in pairs)
        if calculus_order is None:
            calculus_order = 2 if self.reconstruction.order <= 2 else 4
        self.calculus_order = calculus_order

    def __check_init__(self):
        check_instance(
            "FiniteVolume",
            "reconstruction",
            self.reconstruction,
            AbstractReconstruction,
            "WENO5Z()",
        )
        check_instance(
            "FiniteVolume", "riemann", self.riemann, AbstractRiemannSolver, "Rusanov()"
        )
        if not self.riemann.generic:
            raise ValueError(
                f"FiniteVolume: {type(self.riemann).__name__} needs the eigenstructure "
                "of the Euler equations (use operators.Euler); for a generic flux "
                "the choices are Rusanov() and HLL()"
            )
        if self.calculus_order not in _CALCULUS_ORDERS:
            raise ValueError(
                f"FiniteVolume: calculus_order must be one of {_CALCULUS_ORDERS}, "
                f"got {describe(self.calculus_order)}"
            )
        for axis, pair in enumerate(self.boundary):
            for b in pair:
                if isinstance(b, Inflow):
                    raise TypeError(
                        f"FiniteVolume: boundary of axis {axis}: Inflow(density, "
                        "velocity, pressure) is Euler's; for any physics use "
                        "InflowState(values) with one value per field"
                    )
            periodic = isinstance(pair[0], Periodic)
            n, g = self.grid.cells[axis], self.num_ghost
            if not periodic and n < g + 1:
                raise ValueError(
                    f"FiniteVolume: a boundary on axis {axis} needs at least "
                    f"{g + 1} cells with {type(self.reconstruction).__name__}, got {n}"
                )

    @property
    def num_ghost(self) -> int:
        """Ghost cells per side: enough for the reconstruction and the calculus."""
        return max(self.reconstruction.num_ghost, self.calculus_order // 2)

    @property
    def periodic(self) -> tuple[bool, ...]:
        """Per axis, whether it is periodic."""
        return tuple(isinstance(lo, Periodic) for lo, _ in self.boundary)
