"""The reconstruction interface: cell averages -> values on both sides of faces."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

import equinox as eqx
from jax import lax
from jaxtyping import Array, Float


class AbstractReconstruction(eqx.Module):
    """Reconstructs face values from cell averages along one axis.

    A reconstruction of `stencil_radius` r computes the value at face
    `i + 1/2` seen from cell `i` (the *left* state) from the cells
    `i - r .. i + r`, and the value seen from cell `i + 1` (the *right* state)
    from `i + 1 - r .. i + 1 + r`. Both therefore lie within the
    `2 * num_ghost` cells `i - r .. i + 1 + r` around the face, with
    `num_ghost = r + 1`: the number of ghost cells a boundary condition must
    supply on each side so that every face of the `n` interior cells,
    including the two boundary faces, can be reconstructed.

    Concrete classes implement `reconstruct_stencil`, which acts elementwise on
    a list of such stencils (arrays of any common shape: one entry per face).
    Keeping it a function of the stencil values lets the Euler operator project
    a stencil onto characteristic variables before reconstructing.
    """

    stencil_radius: ClassVar[int]
    # formal order of accuracy on smooth data (what `FiniteVolume` compares
    # with a physics' `min_finite_volume_order`)
    order: ClassVar[int]

    @property
    def num_ghost(self) -> int:
        """Ghost cells needed on each side of the domain: `stencil_radius + 1`."""
        return self.stencil_radius + 1

    @abc.abstractmethod
    def reconstruct_stencil(self, stencil: Sequence[Array]) -> tuple[Array, Array]:
        """Left and right states at the face in the middle of `stencil`.

        `stencil` holds `2 * num_ghost` arrays of the same shape: the values of
        cells `i - r, ..., i + 1 + r` around face `i + 1/2`. Returns
        `(left, right)`: the face value extrapolated from cell `i` and from
        cell `i + 1`.
        """

    def reconstruct(
        self, q: Float[Array, "..."], axis: int
    ) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
        """Face values along `axis` of an array padded with `num_ghost` ghost
        cells on both sides of that axis.

        If `q` has `n + 2 * num_ghost` entries along `axis`, the result has
        `n + 1` (the faces of the `n` interior cells, boundary faces
        included); face `k` lies between interior cells `k - 1` and `k`.
        Built from static slices only, so XLA fuses it with its consumers.
        """
        g = self.num_ghost
        m = q.shape[axis]
        faces = m - 2 * g + 1
        if faces < 1:
            raise ValueError(
                f"{type(self).__name__}.reconstruct: need at least {2 * g} cells along "
                f"axis {axis} (interior plus {g} ghost cells per side), got {m}"
            )
        stencil = [lax.slice_in_dim(q, j, j + faces, axis=axis) for j in range(2 * g)]
        return self.reconstruct_stencil(stencil)
