"""Multi-dimensional FFTs of fields split across devices into slabs."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh, PartitionSpec


class SlabFFT(eqx.Module):
    """FFTs over the trailing `ndim` axes (2 or 3) of arrays whose first grid
    axis is split across the devices of `mesh` (a slab decomposition; all
    mesh axes together form one ring of `P` devices).

    Each device transforms its slab along the axes it holds whole (the last
    one by `rfft` for real input), then the first axis is made whole by a
    transposition (`lax.all_to_all`, Foster & Worley 1997; the slab version
    of pencil decompositions such as P3DFFT), transformed, and transposed
    back. The spectrum keeps the layout and shape of the unsharded
    `jnp.fft.rfftn` (first axis split across devices), so spectral-space
    code is unchanged. The second axis is zero-padded to a multiple of `P`
    for the transposition (`n // 2 + 1` of a real transform rarely divides).

    Why not XLA's partitioned FFT: on the CPU backend (jax 0.10) `rfftn` of a
    sharded array all-gathers it and transforms the whole field on every
    device (see `benchmarks/scaling.py`).

    **Arguments:**

    - `mesh`: the device mesh.
    - `axis_names`: the mesh axes the first grid axis is split over
      (default: all of them).
    """

    mesh: Mesh = eqx.field(static=True)
    axis_names: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, mesh: Mesh, axis_names=None):
        self.mesh = mesh
        self.axis_names = tuple(mesh.axis_names if axis_names is None else axis_names)

    @property
    def num_shards(self) -> int:
        return math.prod(self.mesh.shape[a] for a in self.axis_names)

    def spec(self, ndim_total: int, ndim: int) -> PartitionSpec:
        """Partition spec of an array with `ndim_total - ndim` leading axes
        and `ndim` grid axes, the first grid axis split."""
        return PartitionSpec(
            *([None] * (ndim_total - ndim)), self.axis_names, *([None] * (ndim - 1))
        )

    def _map(self, fn, x, ndim):
        spec = self.spec(x.ndim, ndim)
        return jax.shard_map(fn, mesh=self.mesh, in_specs=spec, out_specs=spec)(x)

    def _check(self, shape, ndim):
        if ndim not in (2, 3):
            raise ValueError(f"SlabFFT: transforms of 2 or 3 axes only, got {ndim}")
        if shape[-ndim] % self.num_shards:
            raise ValueError(
                f"SlabFFT: the first grid axis ({shape[-ndim]} cells) does not divide "
                f"into {self.num_shards} slabs"
            )

    def _first_axis(self, x, ndim, transform):
        """`transform` along the first grid axis of a slab, by transposition."""
        a0, a1 = x.ndim - ndim, x.ndim - ndim + 1
        p, m = self.num_shards, x.shape[a1]
        mp = -(-m // p) * p
        if mp != m:
            widths = [(0, 0)] * x.ndim
            widths[a1] = (0, mp - m)
            x = jnp.pad(x, widths)
        x = lax.all_to_all(x, self.axis_names, a1, a0, tiled=True)  # first axis whole
        x = transform(x, axis=a0)
        x = lax.all_to_all(x, self.axis_names, a0, a1, tiled=True)  # back to slabs
        return lax.slice_in_dim(x, 0, m, axis=a1)

    def rfftn(self, u, ndim: int):
        """`jnp.fft.rfftn(u, axes=trailing ndim)` of a real array."""
        self._check(u.shape, ndim)
        axes = tuple(range(-ndim + 1, 0))
        return self._map(
            lambda x: self._first_axis(jnp.fft.rfftn(x, axes=axes), ndim, jnp.fft.fft),
            u,
            ndim,
        )

    def irfftn(self, u_hat, cells):
        """`jnp.fft.irfftn(u_hat, s=cells, axes=trailing)` to a real array."""
        ndim = len(cells)
        self._check(u_hat.shape, ndim)
        axes = tuple(range(-ndim + 1, 0))
        return self._map(
            lambda x: jnp.fft.irfftn(
                self._first_axis(x, ndim, jnp.fft.ifft), s=cells[1:], axes=axes
            ),
            u_hat,
            ndim,
        )

    def fftn(self, u, ndim: int):
        """`jnp.fft.fftn(u, axes=trailing ndim)`."""
        self._check(u.shape, ndim)
        axes = tuple(range(-ndim + 1, 0))
        return self._map(
            lambda x: self._first_axis(jnp.fft.fftn(x, axes=axes), ndim, jnp.fft.fft),
            u,
            ndim,
        )

    def ifftn(self, u_hat, ndim: int):
        """`jnp.fft.ifftn(u_hat, axes=trailing ndim)`."""
        self._check(u_hat.shape, ndim)
        axes = tuple(range(-ndim + 1, 0))
        return self._map(
            lambda x: jnp.fft.ifftn(self._first_axis(x, ndim, jnp.fft.ifft), axes=axes),
            u_hat,
            ndim,
        )
