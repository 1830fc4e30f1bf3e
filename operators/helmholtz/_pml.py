"""Perfectly matched layers by complex coordinate stretching."""

from __future__ import annotations

import equinox as eqx
import numpy as np

from .._grid import Grid


class PML(eqx.Module):
    """A perfectly matched layer of `width` cells inside each face of the box.

    With the time convention `e^{-i omega t}`, each coordinate is stretched as
    `d/dx -> (1 / gamma(x)) d/dx`, `gamma = 1 + i sigma(x) / omega`, so that
    outgoing waves `e^{i k x}` decay as `exp(-k int sigma / omega dx)` inside
    the layer and are not reflected at its inner face in the continuum limit
    (Berenger 1994; Chew & Weedon 1994; Johnson, *Notes on PML*, MIT 2010).
    The profile is a polynomial in the depth into the layer,

        sigma / omega = strength * (depth / (width * h)) ** order,

    so it is dimensionless and frequency independent: a wave crossing the
    layer and back is damped by `exp(-2 k width h strength / (order + 1))`.
    A smooth onset (`order >= 2`) keeps the discrete reflection at the inner
    face small.

    Fields are periodic in both discretizations, so the layers on opposite
    faces of an axis join across the periodic boundary; a wave leaving one
    side is absorbed before it re-enters on the other.

    **Arguments:**

    - `width`: cells per layer, one number for every axis or one per axis
      (`0` disables the layer on that axis).
    - `strength`: `sigma / omega` at the outer edge.
    - `order`: polynomial order of the profile.
    """

    width: int | tuple[int, ...] = eqx.field(static=True, default=20)
    strength: float = eqx.field(static=True, default=2.0)
    order: float = eqx.field(static=True, default=2.0)

    def __check_init__(self):
        widths = self.width if isinstance(self.width, tuple) else (self.width,)
        if any(int(w) != w or w < 0 for w in widths):
            raise ValueError(
                "PML: width must be a non-negative integer (cells) or one per axis, "
                f"got {self.width}"
            )
        if not self.strength >= 0:
            raise ValueError(f"PML: strength must be >= 0, got {self.strength}")
        if not self.order >= 0:
            raise ValueError(f"PML: order must be >= 0, got {self.order}")

    def widths(self, grid: Grid) -> tuple[int, ...]:
        """Cells per layer on each axis of `grid`."""
        if isinstance(self.width, tuple):
            if len(self.width) != grid.ndim:
                raise ValueError(
                    f"PML: width has {len(self.width)} entries, the grid has "
                    f"{grid.ndim} axes"
                )
            widths = tuple(int(w) for w in self.width)
        else:
            widths = (int(self.width),) * grid.ndim
        for axis, (w, n) in enumerate(zip(widths, grid.cells)):
            if 2 * w >= n:
                raise ValueError(
                    f"PML: two layers of {w} cells do not fit in {n} cells on axis "
                    f"{axis}"
                )
        return widths

    def depth(self, grid: Grid, axis: int, at_faces: bool = False) -> np.ndarray:
        """Normalised depth into the layer in [0, 1] (0 in the interior), at
        the cell centres or at the faces `x + h/2` along `axis`."""
        width = self.widths(grid)[axis]
        n = grid.cells[axis]
        if width == 0:
            return np.zeros(n)
        s = np.arange(n) + (1.0 if at_faces else 0.5)  # position in cells from `lower`
        into = np.maximum(width - s, s - (n - width))
        return np.clip(into / width, 0.0, 1.0)

    def inverse_stretch(
        self, grid: Grid, axis: int, at_faces: bool = False
    ) -> np.ndarray:
        """`1 / gamma` along `axis`, complex128, shaped `(1, .., n, .., 1)`."""
        gamma = (
            1.0 + 1j * self.strength * self.depth(grid, axis, at_faces) ** self.order
        )
        shape = [1] * grid.ndim
        shape[axis] = grid.cells[axis]
        return (1.0 / gamma).reshape(shape)

    def mask(self, grid: Grid) -> np.ndarray:
        """Boolean field, `True` inside any layer (for plots and error norms)."""
        inside = np.zeros(grid.cells, dtype=bool)
        for axis in range(grid.ndim):
            d = self.depth(grid, axis) > 0
            shape = [1] * grid.ndim
            shape[axis] = grid.cells[axis]
            inside = inside | d.reshape(shape)
        return inside

    def interior_bounds(self, grid: Grid) -> tuple[tuple[float, float], ...]:
        """`(lower, upper)` per axis of the region outside the layers."""
        return tuple(
            (lo + w * h, hi - w * h)
            for lo, hi, h, w in zip(
                grid.lower, grid.upper, grid.spacing, self.widths(grid)
            )
        )
