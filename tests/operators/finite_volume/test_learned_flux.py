"""ScalarConservationLaw with a flux from a potential: AD flux against the
closed form, conservation, and the nested (second-order) gradient of a rollout
loss against central finite differences."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.operators import Grid
from diffsim.operators.finite_volume import MLPPotential, ScalarConservationLaw

GRID = Grid([16], [0.0], [2 * np.pi])


def _random_potential(key, width=8):
    pot = MLPPotential(key=key, width=width, depth=2, scale=1.5)
    leaves, treedef = jax.tree.flatten(pot)
    keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
    leaves = [
        0.5 * jax.random.normal(k, x.shape, x.dtype) if eqx.is_inexact_array(x) else x
        for k, x in zip(keys, leaves)
    ]
    return jax.tree.unflatten(treedef, leaves)


def _initial():
    x = GRID.coordinates[0]
    return (0.3 + jnp.sin(x) + 0.4 * jnp.cos(2 * x))[None]


def test_flux_and_wave_speed_of_the_burgers_potential():
    op = ScalarConservationLaw(GRID, lambda u: u**3 / 6)
    u = jnp.linspace(-2.0, 2.0, 9)
    f, df = op.flux_and_speed(u)
    np.testing.assert_allclose(f, u**2 / 2, rtol=1e-15)
    np.testing.assert_allclose(df, u, rtol=1e-15)
    # Rusanov on a smooth profile: the rate approximates -(u^2/2)_x = -u u_x
    fine = Grid([256], [0.0], [2 * np.pi])
    x = fine.coordinates[0]
    rate = ScalarConservationLaw(fine, lambda u: u**3 / 6)(
        (0.5 + 0.5 * jnp.sin(x))[None], 0.0
    )
    exact = -(0.5 + 0.5 * jnp.sin(x)) * 0.5 * jnp.cos(x)
    assert (
        float(jnp.max(jnp.abs(rate[0] - exact))) < 1e-2
    )  # minmod is first order at extrema


def test_zero_initial_flux_and_conservation():
    u0 = _initial()
    assert (
        float(
            jnp.max(
                jnp.abs(
                    ScalarConservationLaw(GRID, MLPPotential(key=jax.random.key(0)))(
                        u0, 0.0
                    )
                )
            )
        )
        == 0.0
    )
    op = ScalarConservationLaw(GRID, _random_potential(jax.random.key(1)))
    rate = op(u0, 0.0)
    assert float(jnp.max(jnp.abs(rate))) > 1e-2
    np.testing.assert_allclose(
        jnp.sum(rate), 0.0, atol=1e-14 * float(jnp.sum(jnp.abs(rate)))
    )


def test_nested_gradient_matches_central_differences():
    """d/dtheta of a rollout loss whose right-hand side contains Phi' and
    Phi'' (jax.grad / jax.jvp of the network): third derivatives of the MLP
    in u, second-order AD through the rollout."""
    u0 = _initial()
    data = ds.solve(
        ScalarConservationLaw(GRID, lambda u: u**3 / 6),
        ds.SSPRK3(),
        u0,
        dt=0.05,
        num_steps=8,
        saveat=ds.SaveAt(every=4),
    ).ys
    potential = _random_potential(jax.random.key(2))
    dynamic, static = eqx.partition(potential, eqx.is_inexact_array)

    def loss(dynamic):
        op = ScalarConservationLaw(GRID, eqx.combine(dynamic, static))
        ys = ds.solve(
            op, ds.SSPRK3(), u0, dt=0.05, num_steps=8, saveat=ds.SaveAt(every=4)
        ).ys
        return jnp.mean((ys - data) ** 2)

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    _, grad = value_and_grad(dynamic)
    leaves = jax.tree.leaves(dynamic)
    keys = jax.random.split(jax.random.key(3), len(leaves))
    v = jax.tree.unflatten(
        jax.tree.structure(dynamic),
        [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)],
    )
    directional = sum(
        float(jnp.vdot(g, w)) for g, w in zip(jax.tree.leaves(grad), jax.tree.leaves(v))
    )
    eps = 1e-6
    plus, _ = value_and_grad(jax.tree.map(lambda x, w: x + eps * w, dynamic, v))
    minus, _ = value_and_grad(jax.tree.map(lambda x, w: x - eps * w, dynamic, v))
    fd = (float(plus) - float(minus)) / (2 * eps)
    assert abs(directional) > 1e-6
    np.testing.assert_allclose(directional, fd, rtol=1e-6)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="1D Grid"):
        ScalarConservationLaw(Grid([8, 8], [0, 0], [1, 1]), lambda u: u)
    with pytest.raises(TypeError, match="callable"):
        ScalarConservationLaw(GRID, 3.0)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="needs at least"):
        ScalarConservationLaw(Grid([1], [0.0], [1.0]), lambda u: u)
