"""Ideal-gas EOS and conservative <-> primitive conversions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim.operators import Grid
from diffsim.operators.finite_volume import (
    Euler,
    IdealGas,
    conservative_to_primitive,
    primitive_to_conservative,
)


def random_primitive(key, ndim, shape=(7,)):
    k1, k2, k3 = jax.random.split(key, 3)
    rho = 0.5 + jax.random.uniform(k1, shape)
    vel = jax.random.normal(k2, (ndim, *shape))
    p = 0.2 + jax.random.uniform(k3, shape)
    return jnp.concatenate([rho[None], vel, p[None]])


def test_ideal_gas_formulas():
    eos = IdealGas(1.4)
    rho, p = jnp.asarray(1.3), jnp.asarray(0.7)
    np.testing.assert_allclose(
        eos.sound_speed(rho, p), np.sqrt(1.4 * 0.7 / 1.3), rtol=1e-15
    )
    np.testing.assert_allclose(eos.internal_energy(rho, p), 0.7 / 0.4, rtol=1e-15)
    np.testing.assert_allclose(
        eos.pressure_from_internal_energy(rho, jnp.asarray(2.0)), 0.8, rtol=1e-15
    )
    E = eos.total_energy(rho, (jnp.asarray(0.5), jnp.asarray(-2.0)), p)
    np.testing.assert_allclose(E, 0.7 / 0.4 + 0.5 * 1.3 * (0.25 + 4.0), rtol=1e-15)
    U = jnp.asarray([1.3, 1.3 * 0.5, 1.3 * -2.0, float(E)])
    np.testing.assert_allclose(eos.pressure(U), 0.7, rtol=1e-14)


def test_gamma_is_a_differentiable_leaf():
    eos = IdealGas(1.4)
    assert eos.gamma.dtype == jnp.float64 and eos.gamma.shape == ()
    g = jax.grad(lambda e: e.sound_speed(1.0, 1.0))(eos)
    np.testing.assert_allclose(g.gamma, 0.5 / np.sqrt(1.4), rtol=1e-14)


@pytest.mark.parametrize("gamma", [1.0, 0.5, -1.0])
def test_gamma_must_exceed_one(gamma):
    with pytest.raises(ValueError, match="gamma must be > 1"):
        IdealGas(gamma)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_round_trip(ndim):
    eos = IdealGas(1.3)
    w = random_primitive(jax.random.PRNGKey(ndim), ndim)
    u = primitive_to_conservative(w, eos)
    assert u.shape == w.shape
    np.testing.assert_allclose(u[0], w[0], rtol=1e-15)
    np.testing.assert_allclose(
        u[1 : 1 + ndim], w[0][None] * w[1 : 1 + ndim], rtol=1e-15
    )
    np.testing.assert_allclose(
        conservative_to_primitive(u, eos), w, rtol=1e-13, atol=1e-14
    )


def test_float32_state_stays_float32():
    eos = IdealGas(1.4)  # float64 gamma under x64
    w = random_primitive(jax.random.PRNGKey(0), 2).astype(jnp.float32)
    u = primitive_to_conservative(w, eos)
    assert u.dtype == jnp.float32
    assert conservative_to_primitive(u, eos).dtype == jnp.float32


def test_conversions_reject_bad_shapes():
    with pytest.raises(ValueError, match="3, 4 or 5 variables"):
        primitive_to_conservative(jnp.ones((6, 3)), IdealGas())


def test_encode_decode_and_field_names():
    for cells, names in [
        ((8,), ("density", "velocity_x", "pressure")),
        ((8, 6), ("density", "velocity_x", "velocity_y", "pressure")),
        ((6, 5, 4), ("density", "velocity_x", "velocity_y", "velocity_z", "pressure")),
    ]:
        op = Euler(Grid(cells))
        assert op.field_names == names
        w = random_primitive(jax.random.PRNGKey(1), len(cells), cells)
        u = op.encode(w)
        np.testing.assert_allclose(u, primitive_to_conservative(w, op.eos), rtol=1e-15)
        np.testing.assert_allclose(op.decode(u), w, rtol=1e-13, atol=1e-14)
        with pytest.raises(ValueError, match="expected fields of shape"):
            op.encode(w[:, :3])
