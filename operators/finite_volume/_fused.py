"""A differentiation-friendly evaluation of elementwise face computations on CPU.

XLA:CPU fuses elementwise code into loops with one output each and, unlike
its GPU backend, has no multi-output fusion: a cheap intermediate used by
several outputs is recomputed inside each of them, and an `optimization_barrier`
is stripped before fusion. The forward pass of a finite-volume right-hand side
copes (its intermediates are few and XLA keeps divisions materialized), but
the reverse pass of a WENO + Riemann face flux has dozens of outputs per face
(one cotangent per stencil cell and variable) that share almost everything,
and plain reverse mode ends up 60-160x as expensive as the forward pass (and
takes minutes to compile).

`fused_face_map` evaluates `f(params, slabs) -> outputs` (an elementwise
computation on slabs padded along one axis, one output per face) through a
`jax.custom_jvp` whose primal is the plain computation (forward-only runs
pay nothing) and whose tangent, the part that reverse mode transposes, is

- chunked: a `lax.map` over slabs of the non-reconstruction axes, so that
  every intermediate of one chunk stays in cache;
- rematerialized: each chunk's body is `jax.checkpoint`-ed, so the forward
  pass stores only the inputs and the backward pass recomputes one chunk at
  a time;
- hinted: the body evaluates the jaxpr of `f` with `x / one` (one == 1 at run
  time, unknown to the compiler) inserted after every intermediate that is
  used more than once and not trivially cheap. XLA never duplicates a
  division, so each such value is computed once, and the hint's transpose
  (`ct / one`) does the same for its cotangent in the backward pass.

The result is exact: `x / 1 == x` in IEEE arithmetic, and the tangent is
`jax.jvp` of `f` itself. On one CPU thread the reverse pass of a WENO5-Z
right-hand side then costs several times its forward evaluation instead of
tens of times with plain autodiff (figures in docs/benchmarks.md). The hints
are a performance device only; if interpreting the jaxpr fails (a future JAX), the
plain `jax.jvp` is used with a warning. On other platforms (XLA:GPU fuses
multi-output kernels itself) the tangent is the plain `jax.jvp`; the choice
follows `jax.default_backend()` when tracing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend import core as jcore

# primitives XLA never duplicates into several consumers (it keeps them
# materialized on its own), so hinting them is pointless
_EXPENSIVE = frozenset(
    {
        "div",
        "sqrt",
        "rsqrt",
        "exp",
        "log",
        "pow",
        "tanh",
        "logistic",
        "erf",
        "atan2",
        "cbrt",
    }
)
# primitives whose result is not worth a hint however often it is used
_FREE = frozenset(
    {
        "broadcast_in_dim",
        "convert_element_type",
        "neg",
        "copy",
        "reshape",
        "squeeze",
        "stop_gradient",
    }
)


def _hinted_eval(closed: jcore.ClosedJaxpr, args, one, shape, threshold: float):
    """Evaluate `closed` on `args`, dividing by `one` every float result of
    shape `shape` that is used more than once and whose (duplicated) cost
    since the last materialized value exceeds `threshold` operations, and
    every stencil slice (so that each stencil cotangent is materialized once
    before the transposed slicing sums them into cells)."""
    jaxpr = closed.jaxpr
    uses: dict = {}
    for eqn in jaxpr.eqns:
        for v in eqn.invars:
            if isinstance(v, jcore.Var):
                uses[v] = uses.get(v, 0) + 1
    for v in jaxpr.outvars:
        if isinstance(v, jcore.Var):
            uses[v] = uses.get(v, 0) + 1
    env: dict = {}
    cost: dict = {}

    def read(v):
        return v.val if isinstance(v, jcore.Literal) else env[v]

    for v, x in zip(jaxpr.constvars, closed.consts):
        env[v] = x
    for v, x in zip(jaxpr.invars, args):
        env[v] = x
    for eqn in jaxpr.eqns:
        params = eqn.primitive.get_bind_params(eqn.params)
        subfuns, params = params if isinstance(params, tuple) else ((), params)
        outs = eqn.primitive.bind(*subfuns, *[read(v) for v in eqn.invars], **params)
        if not eqn.primitive.multiple_results:
            outs = [outs]
        name = eqn.primitive.name
        c = (0.0 if name in _FREE else 1.0) + sum(
            cost.get(v, 0.0) for v in eqn.invars if isinstance(v, jcore.Var)
        )
        for v, x in zip(eqn.outvars, outs):
            u = uses.get(v, 0)
            cv = c
            if u > 1 and name in _EXPENSIVE:
                cv = 0.0
            elif (
                (
                    name == "slice"
                    or (u > 1 and name not in _FREE and (u - 1) * c > threshold)
                )
                and getattr(x, "shape", None) == shape
                and jnp.issubdtype(x.dtype, jnp.floating)
            ):
                x = x / one.astype(x.dtype)
                cv = 0.0
            env[v] = x
            cost[v] = cv
    return [read(v) for v in jaxpr.outvars]


def _layout(shape, axis: int, target: int):
    """Chunk axis, chunk length and count for slabs padded along `axis`."""
    others = [a for a in range(len(shape)) if a != axis]
    if not others:
        return None
    chunk_axis = others[0]
    n = shape[chunk_axis]
    per_line = math.prod(shape) // n
    want = max(1, target // per_line)
    size = max(d for d in range(1, min(n, want) + 1) if n % d == 0)
    return chunk_axis, size, n // size


def _to_chunks(x, chunk_axis, size, count):
    shape = x.shape
    x = x.reshape(shape[:chunk_axis] + (count, size) + shape[chunk_axis + 1 :])
    return jnp.moveaxis(x, chunk_axis, 0)


def _from_chunks(x, chunk_axis):
    x = jnp.moveaxis(x, 0, chunk_axis)
    shape = x.shape
    return x.reshape(
        shape[:chunk_axis]
        + (shape[chunk_axis] * shape[chunk_axis + 1],)
        + shape[chunk_axis + 2 :]
    )


def stencil_shifts(slabs: tuple, axis: int, width: int) -> tuple:
    """The `width` shifted copies of every slab along `axis` that a
    `width`-cell stencil reads, `out[j * len(slabs) + v]` = slab `v` from
    cell `j` on (each `width - 1` shorter along `axis`)."""
    faces = slabs[0].shape[axis] - width + 1
    return tuple(
        lax.slice_in_dim(x, j, j + faces, axis=axis)
        for j in range(width)
        for x in slabs
    )


def fused_face_map(
    f: Callable,
    params,
    slabs: tuple,
    axis: int,
    *,
    stencil: int = 1,
    chunk: int = 4096,
    threshold: float = 4.0,
):
    """`f(params, stencil_shifts(slabs, axis, stencil))` with a cache-blocked,
    hinted tangent (see module doc).

    `params` is a pytree of (differentiable) arrays broadcast to every face;
    `slabs` is a tuple of same-shape arrays padded along `axis`; `f` receives
    their `stencil` shifted copies (`stencil=1`: the slabs themselves), must
    act independently along the other axes and return a tuple of arrays that
    have the same extent as its inputs along them. The shifts are taken
    outside the chunked tangent, so each stencil cell's derivative is
    materialized once before the transposed shifts sum them into cells,
    while the forward pass keeps only `slabs` for the backward pass. `chunk`
    is the target number of cells per chunk (4096 float64 values per array:
    a few hundred intermediates of a chunk fit in L2), `threshold` the
    duplicated cost (in operations) above which a shared intermediate is
    hinted.
    """

    def shifts(xs):
        return stencil_shifts(tuple(xs), axis, stencil) if stencil > 1 else tuple(xs)

    @jax.custom_jvp
    def run(params, slabs):
        return f(params, shifts(slabs))

    @run.defjvp
    def run_jvp(primals, tangents):
        params, slabs = primals
        dparams, dslabs = tangents
        # The tangents are shifted here (linear: in reverse mode, the summing
        # of stencil cotangents into cells then acts on materialized chunk
        # outputs); the primal slabs inside each chunk's checkpointed body (so
        # the forward pass stores only the slabs, not their shifted copies).
        dslabs = shifts(dslabs)
        layout = _layout(dslabs[0].shape, axis, chunk)
        out = f(params, shifts(slabs))
        one = lax.stop_gradient(1.0 + 0.0 * slabs[0].ravel()[0])

        def tangent(p, s, dp, ds):
            shape = jax.eval_shape(lambda: f(p, s))[0].shape
            flat, treedef = jax.tree.flatten((p, s))
            dflat = jax.tree.leaves((dp, ds))
            closed = jax.make_jaxpr(lambda *xs: f(*jax.tree.unflatten(treedef, xs)))(
                *flat
            )

            def g(*xs):
                return tuple(_hinted_eval(closed, xs, one, shape, threshold))

            try:
                return jax.jvp(g, tuple(flat), tuple(dflat))[1]
            except (
                AttributeError,
                TypeError,
                KeyError,
            ) as e:  # jaxpr internals changed
                warnings.warn(
                    f"fused_face_map: hinted evaluation failed ({e!r}); using plain "
                    "jax.jvp",
                    stacklevel=2,
                )
                return tuple(jax.jvp(f, (p, s), (dp, ds))[1])

        def blocked(params, slabs, dparams, dslabs):
            body = jax.checkpoint(
                lambda xs: tuple(tangent(params, shifts(xs[0]), dparams, xs[1]))
            )
            if layout is None:
                return body((slabs, dslabs))
            chunk_axis, size, count = layout
            cs = tuple(_to_chunks(s, chunk_axis, size, count) for s in slabs)
            cds = tuple(_to_chunks(s, chunk_axis, size, count) for s in dslabs)
            dout = lax.map(body, (cs, cds))
            return tuple(_from_chunks(d, chunk_axis) for d in dout)

        def plain(params, slabs, dparams, dslabs):
            return tuple(jax.jvp(f, (params, shifts(slabs)), (dparams, dslabs))[1])

        # XLA:GPU has multi-output fusion and wants large kernels: plain JVP
        # there. The choice is made when tracing, for the default backend:
        # `lax.platform_dependent` would defer it to lowering, but reverse
        # mode then carries (zero-filled) residuals for both branches, which
        # XLA drops but `jax.vjp` reports (and `CheckpointAdjoint` sizes its
        # blocks from those).
        backend = blocked if jax.default_backend() == "cpu" else plain
        return out, tuple(backend(params, slabs, dparams, dslabs))

    return run(params, slabs)
