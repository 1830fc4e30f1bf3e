"""IMEX steppers (IMEX Euler, ARS(2,2,2), ARS(4,4,3)) on a stiff
reaction-diffusion problem with walls: temporal orders, dense LU vs GMRES,
jit / vmap / grad, refusals (float64)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim
from diffsim.jobs import STEPPERS
from diffsim.operators import (
    Dirichlet,
    FiniteDifference,
    FourierSpectral,
    Grid,
    Robin,
)
from diffsim.operators.physics import AbstractPhysics, discretize

T1 = 0.5


class ReactionDiffusion(AbstractPhysics):
    """`u_t = D u_xx + sin(u)`: the diffusion is stiff on the grid
    (`D dt / h^2` up to 16 here), the reaction explicit."""

    diffusivity: jax.Array = eqx.field(converter=jnp.asarray, default=1.0)

    def field_names(self, ndim):
        return ("u",)

    def linear(self, u, d):
        return self.diffusivity * d.laplacian(u)

    def reaction(self, u, x, t):
        return jnp.sin(u)


def _problem(diffusivity=1.0, wall=0.0):
    grid = Grid((16,), (0.0,), (1.0,))
    fd = FiniteDifference(grid, 2, boundary=[(Dirichlet(wall), Dirichlet(0.0))])
    op = discretize(ReactionDiffusion(jnp.asarray(diffusivity)), fd)
    x = grid.mesh()[0]
    return op, (jnp.sin(np.pi * x) + x * (1 - x))[None]


@pytest.fixture(scope="module")
def reference():
    op, u0 = _problem()
    # RK4 at dt = T1 / 4000 (D dt / h^2 = 0.03): converged to ~1e-14
    return diffsim.solve(op, diffsim.RK4(), u0, dt=T1 / 4000, num_steps=4000).ys[-1]


@pytest.mark.parametrize(
    "stepper, order",
    [(diffsim.IMEXEuler(), 1), (diffsim.IMEXARS222(), 2), (diffsim.IMEXARS443(), 3)],
)
def test_temporal_order(stepper, order, reference):
    op, u0 = _problem()
    errors = []
    for m in (8, 16, 32):
        y = diffsim.solve(op, stepper, u0, dt=T1 / m, num_steps=m).ys[-1]
        errors.append(float(jnp.max(jnp.abs(y - reference))))
    observed = np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))
    assert stepper.order == order
    assert min(observed) >= order - 0.3, (errors, observed)


def test_two_coupled_channels_with_robin_walls():
    """A stiff linear part that couples two channels (`u_t = u_xx + v`, `v_t =
    0.5 v_xx - u`, plus `u v` explicitly) under Robin walls `u + du/dn = 0.1`
    (one condition set for both channels): ARS(2,2,2) converges at second
    order to an RK4 reference."""

    class Coupled(AbstractPhysics):
        def field_names(self, ndim):
            return ("u", "v")

        def linear(self, u, d):
            lap = d.laplacian(u)
            return jnp.stack([lap[0] + u[1], 0.5 * lap[1] - u[0]])

        def reaction(self, u, x, t):
            return jnp.stack([u[0] * u[1], -u[0] * u[1]])

    grid = Grid((12,), (0.0,), (1.0,))
    fd = FiniteDifference(grid, 2, boundary=Robin(1.0, 1.0, 0.1))
    op = discretize(Coupled(), fd)
    x = grid.mesh()[0]
    u0 = jnp.stack([jnp.cos(np.pi * x), x * (1 - x)])
    ref = diffsim.solve(op, diffsim.RK4(), u0, dt=0.2 / 2000, num_steps=2000).ys[-1]
    errors = [
        float(
            jnp.max(
                jnp.abs(
                    diffsim.solve(
                        op, diffsim.IMEXARS222(), u0, dt=0.2 / m, num_steps=m
                    ).ys[-1]
                    - ref
                )
            )
        )
        for m in (8, 16, 32)
    ]
    observed = np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))
    assert min(observed) >= 1.7, (errors, observed)


def test_gmres_path_matches_dense():
    op, u0 = _problem()
    dense = diffsim.solve(op, diffsim.IMEXARS222(), u0, dt=0.05, num_steps=4).ys
    krylov = diffsim.solve(
        op, diffsim.IMEXARS222(dense_limit=0), u0, dt=0.05, num_steps=4
    ).ys
    np.testing.assert_allclose(krylov, dense, atol=1e-9)


def test_jit_vmap_grad():
    """A batch of rollouts (vmap) of the gradient with respect to the
    diffusivity (inside the implicit matrix) and a wall value, jitted, against
    central differences."""

    def loss(params):
        op, u0 = _problem(params[0], params[1])
        y = diffsim.solve(op, diffsim.IMEXARS222(), u0, dt=0.05, num_steps=4).ys[-1]
        return jnp.sum(y**2)

    params = jnp.array([[0.5, 0.0], [2.0, 0.2]])
    values, grads = jax.jit(jax.vmap(jax.value_and_grad(loss)))(params)
    eps = 1e-6
    shifts = eps * jnp.eye(2)
    central = jax.jit(
        jax.vmap(
            lambda p: jax.vmap(lambda e: (loss(p + e) - loss(p - e)) / (2 * eps))(
                shifts
            )
        )
    )(params)
    np.testing.assert_allclose(values, jax.vmap(loss)(params), rtol=1e-12)
    np.testing.assert_allclose(grads, central, rtol=1e-6)
    assert np.all(np.abs(grads) > 1e-3)


def test_steppers_table_and_refusals():
    assert STEPPERS["imex_euler"] is diffsim.IMEXEuler
    assert STEPPERS["imex_ars222"] is diffsim.IMEXARS222
    assert STEPPERS["imex_ars443"] is diffsim.IMEXARS443
    grid = Grid((16,), (0.0,), (1.0,))
    u0 = jnp.ones((1, 16))
    fourier = discretize(ReactionDiffusion(), FourierSpectral(grid))
    with pytest.raises(
        TypeError,
        match="IMEXEuler needs an operator split into a stiff linear part and an "
        "explicit part",
    ):
        diffsim.solve(fourier, diffsim.IMEXEuler(), u0, dt=0.1, num_steps=1)
    op, u0 = _problem()
    with pytest.raises(TypeError, match=r"ETDRK2 needs a linear part diagonal.*imex_"):
        diffsim.solve(op, diffsim.ETDRK2(), u0, dt=0.1, num_steps=1)
