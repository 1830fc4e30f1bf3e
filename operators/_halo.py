"""Halo exchange: the local block of a field split across a device mesh,
padded with its neighbours' cells, for stencils evaluated under `shard_map`."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array


class HaloExchange(eqx.Module):
    """How each grid axis of a field is split across the axes of a device mesh.

    Inside `jax.shard_map` every device holds one block of the grid; `pad`
    extends the block along one grid axis with cells of the neighbouring
    blocks, received by `lax.ppermute` (one collective per side). On a
    periodic axis the first and last blocks are neighbours; on a
    non-periodic axis the outer faces of the first and last block receive
    caller-supplied ghost cells (the physical boundary condition), every
    other block its neighbours' cells.

    **Arguments:**

    - `axis_names`: per grid axis, the mesh axis name it is split over, or
      None (not split: the block holds the whole axis).
    - `shards`: per grid axis, the number of blocks (1 where not split).
    """

    axis_names: tuple[str | None, ...] = eqx.field(static=True)
    shards: tuple[int, ...] = eqx.field(static=True)

    def __check_init__(self):
        if len(self.axis_names) != len(self.shards):
            raise ValueError(
                f"HaloExchange: {len(self.axis_names)} axis names but "
                f"{len(self.shards)} shard counts"
            )
        for name, p in zip(self.axis_names, self.shards):
            if p < 1 or (name is None and p != 1):
                raise ValueError(f"HaloExchange: axis {name!r} split into {p} blocks")

    @property
    def ndim(self) -> int:
        return len(self.shards)

    def pad(
        self,
        x: Array,
        axis: int,
        lo: int,
        hi: int,
        *,
        periodic: bool = True,
        low: Array | None = None,
        high: Array | None = None,
    ) -> Array:
        """`x` (whose trailing `ndim` axes are the grid axes of this block)
        extended by `lo` cells before and `hi` cells after along grid axis
        `axis`.

        `periodic=True`: the cells come from the neighbouring blocks, wrapping
        around at the ends of the domain. `periodic=False`: `low` (extent `lo`
        along the axis) and `high` (extent `hi`) are the ghost cells of the
        domain's two ends, used by the first and last block; they are
        computed by every block from its own cells (so must be cheap) and
        ignored by the inner blocks.
        """
        if not periodic and ((lo and low is None) or (hi and high is None)):
            raise ValueError(
                "HaloExchange.pad: a non-periodic axis needs the ghost cells low and "
                "high"
            )
        parts = [self.halo(x, axis, 0, lo, periodic=periodic, ghost=low)] if lo else []
        parts.append(x)
        if hi:
            parts.append(self.halo(x, axis, 1, hi, periodic=periodic, ghost=high))
        return jnp.concatenate(parts, axis=axis - self.ndim + x.ndim)

    def halo(
        self,
        x: Array,
        axis: int,
        side: int,
        width: int,
        *,
        periodic: bool = True,
        ghost: Array | None = None,
    ) -> Array:
        """The `width` cells beyond the low (`side=0`) or high (`side=1`) end
        of this block along grid axis `axis`, ordered by increasing
        coordinate (what `pad` concatenates; see there for `ghost`)."""
        ax = axis - self.ndim + x.ndim
        n = x.shape[ax]
        if width > n:
            raise ValueError(
                f"HaloExchange: a halo of {width} cells is wider than the local block "
                f"({n} cells along grid axis {axis}); use fewer shards along this axis"
            )
        name, p = self.axis_names[axis], self.shards[axis]
        if side == 0:  # the top of the block below
            return self._receive(
                lax.slice_in_dim(x, n - width, n, axis=ax), name, p, +1, periodic, ghost
            )
        # the bottom of the block above
        return self._receive(
            lax.slice_in_dim(x, 0, width, axis=ax), name, p, -1, periodic, ghost
        )

    @staticmethod
    def _receive(send, name, p, shift, periodic, ghost):
        """What block `i` receives when every block `j` sends `send` to block
        `j + shift`; the end block that receives nothing gets `ghost`."""
        if p == 1:
            return send if periodic else ghost
        pairs = [(j, j + shift) for j in range(p) if 0 <= j + shift < p]
        if periodic:
            pairs.append((p - 1, 0) if shift > 0 else (0, p - 1))
        received = lax.ppermute(send, name, pairs)
        if periodic:
            return received
        end = 0 if shift > 0 else p - 1
        return jnp.where(
            lax.axis_index(name) == end, ghost.astype(received.dtype), received
        )
