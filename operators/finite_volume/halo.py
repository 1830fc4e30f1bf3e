"""The faces of one block of a domain split across devices, for `Euler`."""

from __future__ import annotations

import jax.numpy as jnp

from .._halo import HaloExchange
from .boundary import AbstractBoundaryCondition, Periodic


class HaloBoundary(AbstractBoundaryCondition):
    """Ghost cells of one block of a sharded grid (evaluated under
    `jax.shard_map`): the neighbouring block's cells, exchanged with
    `lax.ppermute` by `exchange`, except on the outer faces of the domain,
    where the physical `condition` fills them from the block's own cells
    (a `Periodic` condition wraps around to the block at the other end).

    An `Euler` operator on the block's grid whose every face is a
    `HaloBoundary` computes the block of the global right-hand side exactly:
    every face flux sees the same stencil values as on one device.
    """

    condition: AbstractBoundaryCondition
    exchange: HaloExchange

    def ghost_cells(self, primitive, axis, side, num_ghost):
        periodic = isinstance(self.condition, Periodic)
        ghost = (
            None
            if periodic
            else jnp.stack(self.condition.ghost_cells(primitive, axis, side, num_ghost))
        )
        # all variables in one message
        halo = self.exchange.halo(
            jnp.stack(primitive), axis, side, num_ghost, periodic=periodic, ghost=ghost
        )
        return tuple(halo)
