"""PotentialFluxLaw (a flux from a potential) on finite volumes: AD flux
against the closed form, the scheme against a hand-written Rusanov one,
conservation, and the nested (second-order) gradient of a rollout loss against
central finite differences."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.operators import Grid
from diffsim.operators.finite_volume import (
    MUSCL,
    FiniteVolume,
    FirstOrder,
    Outflow,
    Rusanov,
)
from diffsim.operators.physics import (
    FiniteVolumePDE,
    MLPPotential,
    PotentialFluxLaw,
    discretize,
)

GRID = Grid([16], [0.0], [2 * np.pi])


def burgers(u):
    return u**3 / 6


def _law(grid, potential, reconstruction=None, boundary=None):
    """The scheme of the learned_flux scenario: MUSCL-minmod + Rusanov."""
    rec = MUSCL(limiter="minmod") if reconstruction is None else reconstruction
    return discretize(
        PotentialFluxLaw(potential), FiniteVolume(grid, rec, Rusanov(), boundary)
    )


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
    u = jnp.linspace(-2.0, 2.0, 9)
    f, df = PotentialFluxLaw(burgers).flux_and_speed(u)
    np.testing.assert_allclose(f, u**2 / 2, rtol=1e-15)
    np.testing.assert_allclose(df, u, rtol=1e-15)
    low, high = PotentialFluxLaw(burgers).wave_speeds(u[None], 0)
    np.testing.assert_array_equal(low, -jnp.abs(u))
    np.testing.assert_array_equal(high, jnp.abs(u))
    # Rusanov on a smooth profile: the rate approximates -(u^2/2)_x = -u u_x
    fine = Grid([256], [0.0], [2 * np.pi])
    x = fine.coordinates[0]
    rate = _law(fine, burgers)((0.5 + 0.5 * jnp.sin(x))[None], 0.0)
    exact = -(0.5 + 0.5 * jnp.sin(x)) * 0.5 * jnp.cos(x)
    assert (
        float(jnp.max(jnp.abs(rate[0] - exact))) < 1e-2
    )  # minmod is first order at extrema


def test_zero_initial_flux_and_conservation():
    u0 = _initial()
    assert (
        float(
            jnp.max(jnp.abs(_law(GRID, MLPPotential(key=jax.random.key(0)))(u0, 0.0)))
        )
        == 0.0
    )
    op = _law(GRID, _random_potential(jax.random.key(1)))
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
        _law(GRID, burgers),
        ds.SSPRK3(),
        u0,
        dt=0.05,
        num_steps=8,
        saveat=ds.SaveAt(every=4),
    ).ys
    potential = _random_potential(jax.random.key(2))
    dynamic, static = eqx.partition(potential, eqx.is_inexact_array)

    def loss(dynamic):
        op = _law(GRID, eqx.combine(dynamic, static))
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


def test_first_order_scheme_against_hand_written_rusanov():
    """First-order reconstruction with outflow ends: the rate is exactly
    `-(F_{i+1/2} - F_{i-1/2}) / dx`, `F_{i+1/2} = (F(u_i) + F(u_{i+1})) / 2 -
    max(|F'(u_i)|, |F'(u_{i+1})|) (u_{i+1} - u_i) / 2`, with `F = sin` (the
    potential `-cos`) and copied end cells."""
    u = np.asarray(_initial()[0])
    padded = np.concatenate([u[:1], u, u[-1:]])
    left, right = padded[:-1], padded[1:]
    a = np.maximum(np.abs(np.cos(left)), np.abs(np.cos(right)))
    face = 0.5 * (np.sin(left) + np.sin(right)) - 0.5 * a * (right - left)
    expected = -(face[1:] - face[:-1]) / GRID.spacing[0]
    op = _law(
        GRID, lambda v: -jnp.cos(v), reconstruction=FirstOrder(), boundary=Outflow()
    )
    np.testing.assert_allclose(op(_initial(), 0.0)[0], expected, rtol=0, atol=1e-14)
    # the CFL step uses max |F'(u)| = max |cos(u)|
    assert isinstance(op, FiniteVolumePDE)
    np.testing.assert_allclose(
        op.stable_dt(_initial(), 0.5), 0.5 * GRID.spacing[0] / np.max(np.abs(np.cos(u)))
    )


def test_rejects_bad_arguments():
    with pytest.raises(
        ValueError, match=r"^PotentialFluxLaw: needs a 1D grid, got 2D$"
    ):
        _law(Grid([8, 8], [0, 0], [1, 1]), lambda u: u)
    with pytest.raises(
        TypeError, match=r"^PotentialFluxLaw: potential must be callable, got float$"
    ):
        PotentialFluxLaw(3.0)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"^MLPPotential: scale must be positive"):
        MLPPotential(key=jax.random.key(0), scale=0.0)
