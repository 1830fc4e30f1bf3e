"""Ensembles: the members of a `batch:` section run as one `vmap`ed solve,
the batch axis sharded across every device (a 1D `jax.sharding.Mesh`).

Each member is an ordinary configuration (the run's, with the member's
overrides) from which the scenario builds an ordinary `Setup`. The members'
operators must agree in everything static (pytree structure, grid, scheme,
array shapes); array leaves that differ between members (a viscosity, a ratio
of specific heats) are stacked along a leading batch axis, those equal in all
members are kept once. `Ensemble` holds that stacked pytree with the members'
initial fields, `(batch, channels, *cells)`, and maps a function over the
members with `eqx.filter_vmap`, so `jit`, `grad` and sharding see one program.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, Inexact

from diffsim.operators import AbstractOperator

# ---------------------------------------------------------------- the stacked pytree


class NotBatchable(ValueError):
    """Raised by `Ensemble.stack` when `member` differs from member 0 in
    something `vmap` cannot batch (static structure, shapes, dtypes)."""

    def __init__(self, member: int, reason: str):
        self.member = member
        super().__init__(f"member {member} is not batchable with member 0: {reason}")


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays in static fields: compare by value
        try:
            return np.array_equal(np.asarray(a), np.asarray(b))
        except Exception:
            return False


class Ensemble(eqx.Module):
    """Members of one problem as one pytree, ready for `vmap`.

    - `operator`: the members' operators; array leaves that differ between
      members carry a leading batch axis, the others are kept once;
    - `initial`: every member's physical fields, `(batch, channels, *cells)`;
    - `batched`: for each array leaf of `operator` (in `jax.tree.leaves`
      order), whether it is stacked.

    Build with `Ensemble.stack`; `map(fn)` is `fn(operator, initial)` per
    member as one `eqx.filter_vmap`, so a batched loss is differentiated with
    `jax.grad`/`eqx.filter_grad` like any other.
    """

    operator: AbstractOperator
    initial: Inexact[Array, "batch channels *cells"]
    batched: tuple[bool, ...] = eqx.field(static=True)

    @classmethod
    def stack(cls, operators, initial) -> Ensemble:
        """Stack members' operators and initial fields; raise `NotBatchable`
        naming the first member that differs from member 0 in static
        structure (type, grid, scheme, non-array fields) or in the shape or
        dtype of an array."""
        operators, initial = list(operators), [jnp.asarray(y) for y in initial]
        if not operators or len(operators) != len(initial):
            raise ValueError(
                f"Ensemble.stack: {len(operators)} operators and {len(initial)} "
                "initial states"
            )
        ref_dynamic, ref_static = eqx.partition(operators[0], eqx.is_array)
        ref_leaves, ref_def = jax.tree.flatten(ref_dynamic)
        ref_static_leaves, ref_static_def = jax.tree.flatten(ref_static)
        columns = [[leaf] for leaf in ref_leaves]
        for i, op in enumerate(operators[1:], 1):
            dynamic, static = eqx.partition(op, eqx.is_array)
            static_leaves, static_def = jax.tree.flatten(static)
            leaves, treedef = jax.tree.flatten(dynamic)
            if not (
                _same(static_def, ref_static_def)
                and treedef == ref_def
                and len(static_leaves) == len(ref_static_leaves)
                and all(_same(a, b) for a, b in zip(static_leaves, ref_static_leaves))
            ):
                raise NotBatchable(
                    i,
                    "its operator differs in static structure (type, grid, scheme or "
                    f"a non-array field): {type(op).__name__}",
                )
            for leaf, ref, column in zip(leaves, ref_leaves, columns):
                if leaf.shape != ref.shape or leaf.dtype != ref.dtype:
                    raise NotBatchable(
                        i,
                        f"an operator array has shape {leaf.shape} ({leaf.dtype}) "
                        f"where member 0's has {ref.shape} ({ref.dtype})",
                    )
                column.append(leaf)
            if (
                initial[i].shape != initial[0].shape
                or initial[i].dtype != initial[0].dtype
            ):
                raise NotBatchable(
                    i,
                    f"initial fields of shape {initial[i].shape} "
                    f"({initial[i].dtype}), member 0's are {initial[0].shape} "
                    f"({initial[0].dtype})",
                )
        batched = tuple(
            not all(
                np.array_equal(np.asarray(leaf), np.asarray(column[0]))
                for leaf in column[1:]
            )
            for column in columns
        )
        leaves = [
            jnp.stack(column) if b else column[0] for column, b in zip(columns, batched)
        ]
        operator = eqx.combine(jax.tree.unflatten(ref_def, leaves), ref_static)
        return cls(operator, jnp.stack(initial), batched)

    @property
    def size(self) -> int:
        return self.initial.shape[0]

    def in_axes(self):
        """`in_axes` for `operator` in `eqx.filter_vmap`: 0 on stacked leaves, None
        elsewhere.
        """
        leaves, treedef = jax.tree.flatten(self.operator)
        flags = iter(self.batched)
        return jax.tree.unflatten(
            treedef,
            [(0 if next(flags) else None) if eqx.is_array(x) else None for x in leaves],
        )

    def map(self, fn, *args):
        """`fn(operator, initial, *args)` for every member, one `eqx.filter_vmap`
        (`args` are shared by all members); outputs gain a leading batch axis."""
        return eqx.filter_vmap(fn, in_axes=(self.in_axes(), 0, *(None,) * len(args)))(
            self.operator, self.initial, *args
        )

    def member(self, i: int) -> tuple[AbstractOperator, Array]:
        """Member `i`'s own operator and initial fields."""
        flags = iter(self.batched)
        operator = jax.tree.map(
            lambda x: x[i] if eqx.is_array(x) and next(flags) else x, self.operator
        )
        return operator, self.initial[i]

    def pad(self, multiple: int) -> Ensemble:
        """Repeat the last member until the size is a multiple of `multiple`."""
        extra = -self.size % multiple
        if not extra:
            return self
        grow = lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], extra, axis=0)])  # noqa: E731
        flags = iter(self.batched)
        operator = jax.tree.map(
            lambda x: grow(x) if eqx.is_array(x) and next(flags) else x, self.operator
        )
        return Ensemble(operator, grow(self.initial), self.batched)

    def shard(self, mesh: Mesh, axis: str = "batch") -> Ensemble:
        """Place stacked leaves and `initial` split along `axis` of `mesh`
        (the size must divide; see `pad`), shared leaves replicated."""
        split, replicated = (
            NamedSharding(mesh, PartitionSpec(axis)),
            NamedSharding(mesh, PartitionSpec()),
        )
        if self.size % mesh.shape[axis]:
            raise ValueError(
                f"Ensemble.shard: {self.size} members do not divide over "
                f"{mesh.shape[axis]} devices; pad first"
            )
        flags = iter(self.batched)
        operator = jax.tree.map(
            lambda x: (
                jax.device_put(x, split if next(flags) else replicated)
                if eqx.is_array(x)
                else x
            ),
            self.operator,
        )
        return Ensemble(operator, jax.device_put(self.initial, split), self.batched)


def batch_mesh(devices=None) -> Mesh:
    """A 1D mesh named `batch` over `devices` (default: all of them)."""
    return Mesh(
        np.asarray(devices if devices is not None else jax.devices()), ("batch",)
    )
