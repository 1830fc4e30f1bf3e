"""Domain decomposition: one solve with its grid split across the devices of
a `jax.sharding.Mesh` (`parallel: {mesh: [px, py]}` in a config).

- Finite-volume `Euler`: the state is split into blocks along every grid
  axis (`PartitionSpec(None, "x", "y")`); each right-hand side is one
  `jax.shard_map` in which every device evaluates the operator on its block,
  with `HaloBoundary` ghost cells: the neighbours' cells by `lax.ppermute`,
  the physical boundary condition on the outer faces of the domain.
- Fourier-spectral operators (2D, 3D): the fields are split into slabs along
  the first grid axis over all devices; `FourierSpectral(fft=SlabFFT(mesh))`
  transposes with all-to-all. The spectral state keeps its unsharded shape.
- Everything between right-hand sides (Runge-Kutta stage combinations,
  ETDRK coefficients, CFL reductions, encode/decode) is ordinary `jit` code
  on sharded arrays, which XLA partitions elementwise (with an all-reduce for
  `max`).

Results agree with one device to round-off, and `jax.grad` goes through
(`ppermute` and `all_to_all` transpose into each other's inverses).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from diffsim.operators import AbstractOperator, AbstractSpectralOperator, Grid
from diffsim.operators.discretization import FiniteDifference, FourierSpectral
from diffsim.operators.discretization.slab_fft import SlabFFT
from diffsim.operators.finite_volume import Euler
from diffsim.operators.finite_volume.halo import HaloBoundary
from diffsim.operators.internal import HaloExchange

from ._errors import ConfigError

MESH_AXES = ("x", "y", "z")
_KEY = "parallel.mesh"


def make_mesh(shape: Sequence[int], devices=None) -> Mesh:
    """A mesh of `prod(shape)` devices with axes named `x`, `y`, `z` (one per
    grid axis). Raises `ConfigError` naming `parallel.mesh` when there are
    too few devices."""
    shape = tuple(int(p) for p in shape)
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise ConfigError(_KEY, f"expected 1 to 3 positive entries, got {list(shape)}")
    devices = jax.devices() if devices is None else list(devices)
    need = math.prod(shape)
    if need > len(devices):
        hint = (
            f"; on CPU, set XLA_FLAGS=--xla_force_host_platform_device_count={need} before starting"
            if devices[0].platform == "cpu"
            else ""
        )
        raise ConfigError(
            _KEY,
            f"{list(shape)} needs {need} devices, {len(devices)} {devices[0].platform} device(s) available{hint}",
        )
    return Mesh(np.asarray(devices[:need]).reshape(shape), MESH_AXES[: len(shape)])


def check_divisible(cells: Sequence[int], shape: Sequence[int]) -> None:
    """`ConfigError` naming `parallel.mesh` unless the mesh has one entry per
    grid axis and each divides the grid's cells along it."""
    cells, shape = list(cells), list(shape)
    if len(shape) != len(cells):
        raise ConfigError(
            _KEY,
            f"expected {len(cells)} entries (one per axis of grid.cells = {cells}), got {shape}",
        )
    for axis, (n, p) in enumerate(zip(cells, shape)):
        if n % p:
            raise ConfigError(
                _KEY,
                f"grid.cells[{axis}] = {n} does not divide into {p} blocks (mesh {shape}); "
                f"choose cells divisible by the mesh on every axis",
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


def local_discretization(
    discretization: FiniteDifference, mesh: Mesh
) -> FiniteDifference:
    """The `FiniteDifference` of one block, to be evaluated under
    `jax.shard_map` with `block_spec(mesh)`: periodic stencils whose
    neighbours come from the adjacent blocks."""
    _check_blocks(
        discretization.grid, mesh, discretization.stencil_radius, "FiniteDifference"
    )
    shards = tuple(mesh.shape[a] for a in mesh.axis_names)
    return FiniteDifference(
        local_grid(discretization.grid, shards),
        discretization.order,
        halo=halo_exchange(mesh),
    )


def local_euler(operator: Euler, mesh: Mesh) -> Euler:
    """The `Euler` operator of one block (see `ShardedOperator`)."""
    exchange = halo_exchange(mesh)
    boundaries = tuple(
        (HaloBoundary(lo, exchange), HaloBoundary(hi, exchange))
        for lo, hi in operator.boundaries
    )
    return dataclasses.replace(
        operator, grid=local_grid(operator.grid, exchange.shards), boundaries=boundaries
    )


class ShardedOperator(AbstractOperator):
    """A stencil operator whose state is split into blocks across `mesh`:
    `__call__` is one `jax.shard_map` in which every device applies
    `localize(operator, mesh)` (the operator of its block, with halo
    exchange) to its block. `encode`, `decode` and every other attribute
    (`stable_dt`, `max_wave_speed`, ...) are the wrapped operator's, applied
    to the global (sharded) arrays, which XLA partitions.

    Build with `shard_operator`.
    """

    operator: AbstractOperator
    mesh: Mesh = eqx.field(static=True)
    spec: PartitionSpec = eqx.field(static=True)
    localize: object = eqx.field(static=True)

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
            return self.localize(eqx.combine(params, static), self.mesh)(state, t)

        rep = PartitionSpec()
        return jax.shard_map(
            block, mesh=self.mesh, in_specs=(rep, self.spec, rep), out_specs=self.spec
        )(params, state, jnp.asarray(t))

    def __getattr__(self, name):
        if name.startswith("__") or name == "operator":
            raise AttributeError(name)
        return getattr(self.operator, name)


def shard_operator(
    operator: AbstractOperator, mesh: Mesh
) -> tuple[AbstractOperator, NamedSharding]:
    """The operator of a solve split across `mesh`, and the sharding to give
    its physical input fields (`jax.device_put(fields, sharding)`).

    `Euler`: a `ShardedOperator` on blocks (grid axis `i` over mesh axis `i`).
    2D/3D `AbstractSpectralOperator`s: the same operator with a `SlabFFT`
    (first grid axis over all devices). Raises `ConfigError` naming
    `parallel.mesh` for other operators or blocks too small for the stencil.
    """
    grid = operator.grid
    if isinstance(operator, Euler):
        check_divisible(grid.cells, mesh.devices.shape)
        # widest halo: the normal reconstruction, plus the two 5-point
        # average <-> point-value kernels of `average_correction` (4 cells)
        width = operator.reconstruction.num_ghost + (
            4 if operator.average_correction else 0
        )
        _check_blocks(grid, mesh, width, "Euler")
        spec = block_spec(mesh, leading=1)
        return ShardedOperator(operator, mesh, spec, local_euler), NamedSharding(
            mesh, spec
        )
    if isinstance(operator, AbstractSpectralOperator):
        if grid.ndim == 1:
            raise ConfigError(
                _KEY,
                "1D Fourier-spectral problems cannot be split across devices; run them on one device",
            )
        fft = SlabFFT(mesh)
        if grid.cells[0] % fft.num_shards:
            raise ConfigError(
                _KEY,
                f"a Fourier-spectral field is split into slabs along x over all {fft.num_shards} devices of mesh "
                f"{list(mesh.devices.shape)}: grid.cells[0] = {grid.cells[0]} must be divisible by {fft.num_shards}",
            )
        disc = operator.discretization
        sharded = dataclasses.replace(
            operator, discretization=FourierSpectral(disc.grid, disc.dealias, fft=fft)
        )
        return sharded, NamedSharding(mesh, fft.spec(grid.ndim + 1, grid.ndim))
    raise ConfigError(
        _KEY,
        f"{type(operator).__name__} cannot be split across devices (Euler and 2D/3D Fourier-spectral operators can)",
    )


def _check_blocks(grid: Grid, mesh: Mesh, width: int, what: str) -> None:
    shape = list(mesh.devices.shape)
    check_divisible(grid.cells, shape)
    for axis, (n, p) in enumerate(zip(grid.cells, shape)):
        if p > 1 and n // p < width:
            raise ConfigError(
                _KEY,
                f"blocks of {n // p} cells along axis {axis} (grid.cells[{axis}] = {n} over {p}) are narrower than "
                f"the {width}-cell halo of {what}; use fewer blocks along this axis",
            )
