"""Piecewise-constant reconstruction (Godunov's first-order scheme)."""

from __future__ import annotations

from typing import ClassVar

from ._base import AbstractReconstruction


class FirstOrder(AbstractReconstruction):
    """Piecewise-constant reconstruction: the face values are the adjacent cell
    averages (Godunov 1959; Toro 2009, chapter 6). First order in space."""

    stencil_radius: ClassVar[int] = 0
    order: ClassVar[int] = 1

    def reconstruct_stencil(self, stencil):
        left, right = stencil
        return left, right
