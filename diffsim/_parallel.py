"""Domain decomposition: one solve with its grid split across the devices of
a `jax.sharding.Mesh` (`parallel: {mesh: [px, py]}` in a config).

- Finite-volume `Euler`: the state is split into blocks along every grid
  axis (`PartitionSpec(None, "x", "y")`); each right-hand side is one
  `jax.shard_map` in which every device evaluates the operator on its block,
  with `HaloBoundary` ghost cells: the neighbours' cells by `lax.ppermute`,
  the physical boundary condition on the outer faces of the domain.
- Fourier-spectral operators (`FourierPDE`, 2D, 3D): the fields are split
  into slabs along the first grid axis over all devices;
  `FourierSpectral(fft=SlabFFT(mesh))`
  transposes with all-to-all. The spectral state keeps its unsharded shape.
- Everything between right-hand sides (Runge-Kutta stage combinations,
  ETDRK coefficients, CFL reductions, encode/decode) is ordinary `jit` code
  on sharded arrays, which XLA partitions elementwise (with an all-reduce for
  `max`).

Results agree with one device to round-off, and `jax.grad` goes through
(`ppermute` and `all_to_all` transpose into each other's inverses).

What is done to an operator depends on its type: `shard_operator`,
`halo_width` and `localize` are `functools.singledispatch` functions, and
the wrapper class declares the wrapped operator's capabilities
(`sharded_class`). A mesh that does not fit raises `MeshError`, a
`ValueError`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from diffsim.operators import (
    AbstractCFLOperator,
    AbstractConstrainedOperator,
    AbstractOperator,
    Grid,
)
from diffsim.operators.discretization import FiniteDifference, FourierSpectral
from diffsim.operators.discretization.slab_fft import SlabFFT
from diffsim.operators.finite_volume import Euler, NoSlipWall
from diffsim.operators.finite_volume.halo import HaloBoundary
from diffsim.operators.internal import HaloExchange
from diffsim.operators.physics import FourierPDE

MESH_AXES = ("x", "y", "z")


class MeshError(ValueError):
    """A mesh that does not fit the devices, the grid or the operator. The job
    layer reports it as a config error naming `parallel.mesh`."""


def make_mesh(shape: Sequence[int], devices=None) -> Mesh:
    """A mesh of `prod(shape)` devices with axes named `x`, `y`, `z` (one per
    grid axis). Raises `MeshError` when there are too few devices."""
    shape = tuple(int(p) for p in shape)
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise MeshError(f"expected 1 to 3 positive entries, got {list(shape)}")
    devices = jax.devices() if devices is None else list(devices)
    need = math.prod(shape)
    if need > len(devices):
        hint = (
            "; on CPU, set XLA_FLAGS=--xla_force_host_platform_device_count="
            f"{need} before starting"
            if devices[0].platform == "cpu"
            else ""
        )
        raise MeshError(
            f"{list(shape)} needs {need} devices, {len(devices)} "
            f"{devices[0].platform} device(s) available{hint}"
        )
    return Mesh(np.asarray(devices[:need]).reshape(shape), MESH_AXES[: len(shape)])


def check_divisible(cells: Sequence[int], shape: Sequence[int]) -> None:
    """`MeshError` unless the mesh has one entry per grid axis and each
    divides the grid's cells along it."""
    cells, shape = list(cells), list(shape)
    if len(shape) != len(cells):
        raise MeshError(
            f"expected {len(cells)} entries (one per axis of grid.cells = "
            f"{cells}), got {shape}"
        )
    for axis, (n, p) in enumerate(zip(cells, shape)):
        if n % p:
            raise MeshError(
                f"grid.cells[{axis}] = {n} does not divide into {p} blocks "
                f"(mesh {shape}); choose cells divisible by the mesh on every axis"
            )


def local_grid(grid: Grid, shards: Sequence[int]) -> Grid:
    """The grid of one block (spacing of `grid`, `cells // shards` cells);
    its bounds are those of the first block (a block's stencils only use the
    spacing)."""
    cells = tuple(n // p for n, p in zip(grid.cells, shards))
    upper = tuple(lo + h * n for lo, h, n in zip(grid.lower, grid.spacing, cells))
    return Grid(cells, grid.lower, upper)


def halo_exchange(mesh: Mesh) -> HaloExchange:
    """Grid axis `i` split over mesh axis `i`."""
    return HaloExchange(
        tuple(mesh.axis_names), tuple(mesh.shape[a] for a in mesh.axis_names)
    )


def block_spec(mesh: Mesh, leading: int = 0) -> PartitionSpec:
    """Blocks: grid axis `i` split over mesh axis `i`, `leading` axes whole."""
    return PartitionSpec(*([None] * leading), *mesh.axis_names)


# ---------------------------------------------------------------- by type


@functools.singledispatch
def halo_width(operator) -> int:
    """The widest stencil of `operator`, in cells: each block needs that many
    ghost cells from its neighbours. Registered per operator type."""
    raise MeshError(f"{type(operator).__name__} has no block stencil (halo width)")


@halo_width.register
def _(operator: FiniteDifference) -> int:
    return operator.stencil_radius


@halo_width.register
def _(operator: Euler) -> int:
    # the normal reconstruction, plus the two 5-point average <-> point-value
    # kernels of `average_correction` (4 cells)
    return operator.reconstruction.num_ghost + (4 if operator.average_correction else 0)


@functools.singledispatch
def localize(operator, mesh: Mesh) -> AbstractOperator | FiniteDifference:
    """The operator (or discretization) of one block of `mesh`, to be
    evaluated under `jax.shard_map` with `block_spec(mesh)`: its neighbours'
    cells come by halo exchange. Registered per type."""
    raise MeshError(f"{type(operator).__name__} has no block-local form")


@localize.register
def local_discretization(
    discretization: FiniteDifference, mesh: Mesh
) -> FiniteDifference:
    """The `FiniteDifference` of one block: periodic stencils whose
    neighbours come from the adjacent blocks. Only periodic domains are
    split: walls would need their ghost cells on the outermost blocks only."""
    if not discretization.periodic:
        raise MeshError(
            "a FiniteDifference with walls (non-periodic boundaries) cannot be "
            "split across devices yet; remove parallel.mesh"
        )
    _check_blocks(
        discretization.grid, mesh, halo_width(discretization), "FiniteDifference"
    )
    shards = tuple(mesh.shape[a] for a in mesh.axis_names)
    return FiniteDifference(
        local_grid(discretization.grid, shards),
        discretization.order,
        halo=halo_exchange(mesh),
    )


@localize.register
def local_euler(operator: Euler, mesh: Mesh) -> Euler:
    """The `Euler` operator of one block: halo boundaries between blocks, the
    physical boundary condition on the outer faces of the domain."""
    unsplittable = [
        what
        for what, present in (
            ("equilibrium", operator.equilibrium is not None),
            ("source", operator.source is not None),
            (
                "NoSlipWall",
                any(
                    isinstance(bc, NoSlipWall) for p in operator.boundaries for bc in p
                ),
            ),
        )
        if present
    ]
    if unsplittable:
        raise MeshError(
            f"an Euler operator with {', '.join(unsplittable)} cannot be split "
            "across devices yet (they need the global grid on every block); "
            "remove parallel.mesh"
        )
    exchange = halo_exchange(mesh)
    boundaries = tuple(
        (HaloBoundary(lo, exchange), HaloBoundary(hi, exchange))
        for lo, hi in operator.boundaries
    )
    return dataclasses.replace(
        operator, grid=local_grid(operator.grid, exchange.shards), boundaries=boundaries
    )


# ---------------------------------------------------------------- the wrappers


class ShardedOperator(AbstractOperator):
    """A stencil operator whose state is split into blocks across `mesh`:
    `__call__` is one `jax.shard_map` in which every device applies
    `localize(operator, mesh)` (the operator of its block, with halo
    exchange) to its block. `encode` and `decode` are the wrapped operator's,
    applied to the global (sharded) arrays, which XLA partitions.

    The capabilities of the wrapped operator are declared by subclasses
    (`ShardedCFLOperator`, `ShardedConstrainedOperator`, both at once), so
    that `isinstance` sees them; nothing else is forwarded. Build with
    `shard_operator`, which picks the class.

    **Arguments:**

    - `operator`: the operator on the whole grid.
    - `mesh`: the devices, one mesh axis per grid axis.
    - `spec`: the partition of the state, `block_spec(mesh, leading=1)`.
    """

    operator: AbstractOperator
    mesh: Mesh = eqx.field(static=True)
    spec: PartitionSpec = eqx.field(static=True)

    @property
    def field_names(self):
        return self.operator.field_names

    def encode(self, fields):
        return jax.lax.with_sharding_constraint(
            self.operator.encode(fields), NamedSharding(self.mesh, self.spec)
        )

    def decode(self, state):
        return self.operator.decode(state)

    def __call__(self, state, t):
        params, static = eqx.partition(self.operator, eqx.is_array)

        def block(params, state, t):
            local = localize(eqx.combine(params, static), self.mesh)
            assert isinstance(local, AbstractOperator)
            return local(state, t)

        rep = PartitionSpec()
        return jax.shard_map(
            block, mesh=self.mesh, in_specs=(rep, self.spec, rep), out_specs=self.spec
        )(params, state, jnp.asarray(t))


class ShardedCFLOperator(ShardedOperator, AbstractCFLOperator):
    """A `ShardedOperator` of an `AbstractCFLOperator`: `stable_dt` is the
    wrapped operator's on the global state (one reduction over all blocks)."""

    operator: AbstractCFLOperator

    def stable_dt(self, state, cfl):
        return self.operator.stable_dt(state, cfl)


class ShardedConstrainedOperator(ShardedOperator, AbstractConstrainedOperator):
    """A `ShardedOperator` of an `AbstractConstrainedOperator`: the constrained
    quantities are the wrapped operator's."""

    operator: AbstractConstrainedOperator

    @property
    def positive_quantities(self):
        return self.operator.positive_quantities

    def positive_values(self, fields):
        return self.operator.positive_values(fields)


class ShardedCFLConstrainedOperator(ShardedCFLOperator, ShardedConstrainedOperator):
    """A `ShardedOperator` with both capabilities (e.g. of `Euler`)."""

    operator: Euler


def sharded_class(operator: AbstractOperator) -> type[ShardedOperator]:
    """The `ShardedOperator` subclass declaring `operator`'s capabilities."""
    cfl = isinstance(operator, AbstractCFLOperator)
    constrained = isinstance(operator, AbstractConstrainedOperator)
    return {
        (False, False): ShardedOperator,
        (True, False): ShardedCFLOperator,
        (False, True): ShardedConstrainedOperator,
        (True, True): ShardedCFLConstrainedOperator,
    }[cfl, constrained]


@functools.singledispatch
def shard_operator(
    operator: AbstractOperator, mesh: Mesh
) -> tuple[AbstractOperator, NamedSharding]:
    """The operator of a solve split across `mesh`, and the sharding to give
    its physical input fields (`jax.device_put(fields, sharding)`).

    Dispatches on the operator's type:

    - `Euler`: a `ShardedOperator` (of the subclass declaring its
      capabilities) on blocks, grid axis `i` over mesh axis `i`;
    - 2D/3D `FourierPDE`s (a physics on `FourierSpectral`): the same
      operator with a `SlabFFT` (first grid axis over all devices).

    Raises `MeshError` for other operators or blocks too small for the
    stencil.
    """
    raise MeshError(
        f"{type(operator).__name__} cannot be split across devices (Euler and "
        "2D/3D Fourier-spectral operators can)"
    )


@shard_operator.register
def _(operator: Euler, mesh: Mesh) -> tuple[AbstractOperator, NamedSharding]:
    _check_blocks(operator.grid, mesh, halo_width(operator), "Euler")
    spec = block_spec(mesh, leading=1)
    wrapper = sharded_class(operator)(operator, mesh, spec)
    return wrapper, NamedSharding(mesh, spec)


@shard_operator.register
def _(operator: FourierPDE, mesh: Mesh) -> tuple[AbstractOperator, NamedSharding]:
    grid = operator.grid
    if grid.ndim == 1:
        raise MeshError(
            "1D Fourier-spectral problems cannot be split across devices; run "
            "them on one device"
        )
    fft = SlabFFT(mesh)
    if grid.cells[0] % fft.num_shards:
        raise MeshError(
            "a Fourier-spectral field is split into slabs along x over all "
            f"{fft.num_shards} devices of mesh {list(mesh.devices.shape)}: "
            f"grid.cells[0] = {grid.cells[0]} must be divisible by {fft.num_shards}"
        )
    disc = operator.discretization
    sharded = dataclasses.replace(
        operator, discretization=FourierSpectral(disc.grid, disc.dealias, fft=fft)
    )
    return sharded, NamedSharding(mesh, fft.spec(grid.ndim + 1, grid.ndim))


def _check_blocks(grid: Grid, mesh: Mesh, width: int, what: str) -> None:
    shape = list(mesh.devices.shape)
    check_divisible(grid.cells, shape)
    for axis, (n, p) in enumerate(zip(grid.cells, shape)):
        if p > 1 and n // p < width:
            raise MeshError(
                f"blocks of {n // p} cells along axis {axis} (grid.cells[{axis}] = "
                f"{n} over {p}) are narrower than the {width}-cell halo of {what}; "
                "use fewer blocks along this axis"
            )
