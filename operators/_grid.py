"""Uniform Cartesian grids in one, two or three dimensions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


class Grid(eqx.Module):
    """A uniform Cartesian grid of `cells[i]` cells on `[lower[i], upper[i])`.

    Fields live at cell centres, `x_j = lower + (j + 1/2) * dx`. On a periodic
    domain this is the usual equispaced Fourier grid shifted by half a cell,
    and it is the natural location of finite-volume cell averages, so one grid
    serves every discretization.

    Everything here is static (plain Python numbers): a grid is configuration,
    not something one differentiates.

    **Arguments:**

    - `cells`: cells per axis (an int for 1D); one to three axes.
    - `lower`: lower domain corner, a number for every axis or one per axis
      (default 0).
    - `upper`: upper domain corner, likewise (default 1).
    """

    cells: tuple[int, ...] = eqx.field(static=True)
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)

    def __init__(
        self,
        cells: int | Sequence[int],
        lower: float | Sequence[float] | None = None,
        upper: float | Sequence[float] | None = None,
    ):
        self.cells = (
            (int(cells),)
            if isinstance(cells, (int, np.integer))
            else tuple(int(c) for c in cells)
        )
        ndim = len(self.cells)

        def per_axis(value: float | Sequence[float] | None, default: float):
            if value is None:
                return (default,) * ndim
            if isinstance(value, (int, float, np.number)):
                return (float(value),) * ndim
            return tuple(float(v) for v in value)

        self.lower = per_axis(lower, 0.0)
        self.upper = per_axis(upper, 1.0)

    def __check_init__(self):
        if not 1 <= len(self.cells) <= 3:
            raise ValueError(f"Grid: cells must have 1 to 3 entries, got {self.cells}")
        if any(c < 1 for c in self.cells):
            raise ValueError(
                f"Grid: every entry of cells must be >= 1, got {self.cells}"
            )
        if not len(self.lower) == len(self.upper) == len(self.cells):
            raise ValueError(
                f"Grid: lower {self.lower}, upper {self.upper} and cells {self.cells} "
                "must have the same length"
            )
        if not all(np.isfinite(self.lower + self.upper)):
            raise ValueError(
                f"Grid: bounds must be finite, got lower {self.lower}, upper "
                f"{self.upper}"
            )
        if any(u <= lo for lo, u in zip(self.lower, self.upper)):
            raise ValueError(
                f"Grid: need upper > lower on every axis, got {self.lower} {self.upper}"
            )

    @property
    def ndim(self) -> int:
        return len(self.cells)

    @property
    def num_cells(self) -> int:
        return math.prod(self.cells)

    @property
    def lengths(self) -> tuple[float, ...]:
        return tuple(u - lo for lo, u in zip(self.lower, self.upper))

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(length / n for length, n in zip(self.lengths, self.cells))

    @property
    def cell_volume(self) -> float:
        return math.prod(self.spacing)

    def axis_coordinates(self, axis: int) -> np.ndarray:
        """Cell-centre coordinates along one axis, as a NumPy array (static)."""
        n, lo, h = self.cells[axis], self.lower[axis], self.spacing[axis]
        return lo + (np.arange(n) + 0.5) * h

    @property
    def coordinates(self) -> tuple[np.ndarray, ...]:
        """Cell-centre coordinates per axis, 1D arrays (`x`, `y`, `z`)."""
        return tuple(self.axis_coordinates(a) for a in range(self.ndim))

    def mesh(self, dtype=None) -> tuple[Float[Array, "*cells"], ...]:
        """Cell-centre coordinates broadcast to the full grid (`indexing="ij"`)."""
        return tuple(
            jnp.asarray(m, dtype=dtype)
            for m in np.meshgrid(*self.coordinates, indexing="ij")
        )

    @property
    def axis_names(self) -> tuple[str, ...]:
        return ("x", "y", "z")[: self.ndim]
