"""NeuralFlux: exact base scheme at initialisation, conservation, symmetry,
scale invariance and gradients against finite differences."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.operators import Grid
from diffsim.operators.finite_volume import (
    HLLC,
    MUSCL,
    Euler,
    IdealGas,
    NeuralFlux,
    Outflow,
    Periodic,
)


def _random_network(op, key, scale=0.3):
    """The operator with every network weight replaced by a random value."""
    leaves, treedef = jax.tree.flatten(op.network)
    keys = jax.random.split(key, len(leaves))
    leaves = [
        scale * jax.random.normal(k, x.shape, x.dtype) if eqx.is_inexact_array(x) else x
        for k, x in zip(keys, leaves)
    ]
    return eqx.tree_at(lambda m: m.network, op, jax.tree.unflatten(treedef, leaves))


def _state(op, key):
    k1, k2, k3 = jax.random.split(key, 3)
    shape = op.grid.cells
    rho = 0.5 + jax.random.uniform(k1, shape)
    vel = [
        0.5 * jax.random.normal(k, shape) for k in jax.random.split(k2, op.grid.ndim)
    ]
    p = 0.3 + jax.random.uniform(k3, shape)
    return op.encode(jnp.stack([rho, *vel, p]))


@eqx.filter_jit
def rhs(op, u):
    return op(u, 0.0)


def _base(cells, boundaries):
    grid = Grid(cells, [0.0] * len(cells), [1.0] * len(cells))
    return Euler(
        grid, IdealGas(1.4), MUSCL("minmod"), HLLC(), boundaries, variables="primitive"
    )


def test_zero_initial_correction_is_the_base_scheme():
    base = _base([16], Outflow())
    op = NeuralFlux(base, key=jax.random.key(0))
    u = _state(base, jax.random.key(1))
    np.testing.assert_array_equal(rhs(op, u), rhs(base, u))


@pytest.mark.parametrize("cells,form", [([16], "flux"), ([8, 6], "jump")])
def test_conservative_with_a_random_network(cells, form):
    op = _random_network(
        NeuralFlux(_base(cells, Periodic()), key=jax.random.key(0), form=form),
        jax.random.key(2),
    )
    u = _state(op, jax.random.key(3))
    rate = rhs(op, u)
    correction = rate - rhs(op.base, u)
    assert (
        float(jnp.max(jnp.abs(correction))) > 1e-2
    )  # the network does change the scheme
    totals = jnp.sum(rate, axis=tuple(range(1, rate.ndim)))
    np.testing.assert_allclose(totals, 0.0, atol=1e-13 * float(jnp.sum(jnp.abs(rate))))


@pytest.mark.parametrize("form", ["flux", "jump"])
def test_mirror_symmetry_and_scale_invariance(form):
    op = _random_network(
        NeuralFlux(_base([16], Outflow()), key=jax.random.key(0), form=form),
        jax.random.key(4),
    )
    u = _state(op, jax.random.key(5))
    rate = rhs(op, u)
    # x -> -x: cells reversed, momentum negated; the rate transforms alike
    flip = jnp.asarray([1.0, -1.0, 1.0])[:, None]
    np.testing.assert_allclose(
        rhs(op, flip * u[:, ::-1]), flip * rate[:, ::-1], rtol=1e-12, atol=1e-12
    )
    # rho -> a rho, p -> b p, u -> sqrt(b/a) u: conserved variables scale by
    # (a, sqrt(ab), b), time by sqrt(a/b)
    a, b = 3.0, 0.5
    s = jnp.asarray([a, np.sqrt(a * b), b])[:, None]
    np.testing.assert_allclose(
        rhs(op, s * u), s * rate * np.sqrt(b / a), rtol=1e-11, atol=1e-12
    )


def test_gradient_matches_central_differences():
    op = _random_network(
        NeuralFlux(_base([16], Outflow()), key=jax.random.key(0), width=8),
        jax.random.key(6),
        0.2,
    )
    y0 = op.decode(_state(op, jax.random.key(7)))
    target = y0[:, ::-1]
    dynamic, static = eqx.partition(op.network, eqx.is_inexact_array)

    def loss(dynamic):
        o = eqx.tree_at(lambda m: m.network, op, eqx.combine(dynamic, static))
        ys = ds.solve(
            o, ds.SSPRK3(), y0, dt=2e-3, num_steps=6, saveat=ds.SaveAt(every=3)
        ).ys
        return jnp.mean((ys - target[None]) ** 2)

    value_and_grad = jax.jit(
        jax.value_and_grad(loss)
    )  # one compilation for the gradient and the differences
    _, grad = value_and_grad(dynamic)
    leaves = jax.tree.leaves(dynamic)
    keys = jax.random.split(jax.random.key(8), len(leaves))
    v = jax.tree.unflatten(
        jax.tree.structure(dynamic),
        [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)],
    )
    directional = sum(
        float(jnp.vdot(g, w)) for g, w in zip(jax.tree.leaves(grad), jax.tree.leaves(v))
    )
    eps = 1e-5
    plus, _ = value_and_grad(jax.tree.map(lambda x, w: x + eps * w, dynamic, v))
    minus, _ = value_and_grad(jax.tree.map(lambda x, w: x - eps * w, dynamic, v))
    fd = (float(plus) - float(minus)) / (2 * eps)
    assert abs(directional) > 1e-6
    np.testing.assert_allclose(directional, fd, rtol=1e-6)


def test_rejects_a_non_euler_base():
    with pytest.raises(TypeError, match="base must be an Euler"):
        NeuralFlux(object(), key=jax.random.key(0))  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="form must be one of"):
        NeuralFlux(_base([16], Outflow()), key=jax.random.key(0), form="replace")
