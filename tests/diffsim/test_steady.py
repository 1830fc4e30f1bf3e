"""Steady states by Newton-Krylov, differentiated by the implicit function
theorem: against finite differences, unrolled differentiation, forward mode
and a long transient relaxing to the same state."""

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import pytest

import diffsim as ds
from diffsim.operators import FourierSpectral, Grid, discretize
from diffsim.scenarios.steady_fit import ForcedBurgers, forcing_basis

GRID = Grid(32, 0.0, 2 * np.pi)
DISC = FourierSpectral(GRID)
BASIS = jnp.asarray(forcing_basis(GRID.coordinates[0], 3))
THETA = jnp.asarray([1.2, -0.4, 0.3, 0.7, 0.5, -0.2])
Y0 = jnp.zeros((1, 32))
WEIGHT = jnp.cos(GRID.coordinates[0]) + 0.5


def operator(theta):
    return discretize(ForcedBurgers(0.1, 1.0, (theta @ BASIS)[None]), DISC)


def steady_loss(theta, adjoint=None):
    u = ds.steady_state(operator(theta), Y0, adjoint=adjoint).value
    return jnp.sum(WEIGHT * u[0] ** 2) + jnp.sum(u**3)


@pytest.fixture(scope="module")
def implicit_grad():
    return jax.jit(jax.grad(steady_loss))(THETA)


def test_newton_krylov_finds_the_steady_state_of_the_transient():
    sol = jax.jit(lambda th: ds.steady_state(operator(th), Y0))(THETA)
    assert bool(sol.converged) and float(sol.residual) < 1e-10
    assert int(sol.num_steps) <= 10  # quadratic convergence from u = 0
    assert float(jnp.max(jnp.abs(sol.value))) > 0.5  # a genuinely nonlinear state
    # the transient relaxes to it (damping 1: e^{-30} after t = 30)
    late = ds.solve(operator(THETA), ds.ETDRK4(), Y0, dt=0.05, num_steps=600).ys[-1]
    np.testing.assert_allclose(sol.value, late, atol=1e-10)


def test_residual_function_with_args():
    """A residual given as a function `(y, args)`: the Bratu-like problem
    `y_xx - y^3 + s = 0` on [0, 1], Dirichlet, by second-order differences."""
    n, h = 30, 1 / 31

    def residual(y, s):
        padded = jnp.pad(y, 1)
        return (padded[2:] - 2 * y + padded[:-2]) / h**2 - y**3 + s

    s = 20.0 * jnp.sin(jnp.pi * jnp.linspace(h, 1 - h, n))
    solver = ds.newton_krylov(
        rtol=1e-12, atol=1e-10
    )  # residuals ~ y/h^2: round-off ~1e-13
    sol = ds.steady_state(residual, jnp.zeros(n), s, solver=solver)
    assert float(jnp.max(jnp.abs(residual(sol.value, s)))) < 1e-9
    f = jax.jit(
        jax.value_and_grad(
            lambda s: jnp.sum(
                ds.steady_state(residual, jnp.zeros(n), s, solver=solver).value ** 2
            )
        )
    )
    grad = f(s)[1]
    v = jnp.sin(3 * jnp.pi * jnp.linspace(h, 1 - h, n))  # a smooth direction
    eps = 1e-4
    fd = (f(s + eps * v)[0] - f(s - eps * v)[0]) / (2 * eps)
    np.testing.assert_allclose(grad @ v, fd, rtol=1e-7)


def test_implicit_gradient_matches_finite_differences(implicit_grad):
    f = jax.jit(steady_loss)
    eps = 1e-6
    fd = np.array(
        [
            (f(THETA + eps * e) - f(THETA - eps * e)) / (2 * eps)
            for e in np.eye(THETA.size)
        ]
    )
    np.testing.assert_allclose(
        implicit_grad, fd, rtol=1e-7, atol=1e-7 * np.abs(fd).max()
    )


def test_implicit_matches_unrolled_and_forward_mode(implicit_grad):
    unrolled = jax.jit(
        jax.grad(lambda th: steady_loss(th, optx.RecursiveCheckpointAdjoint()))
    )(THETA)
    forward = jax.jit(jax.jacfwd(steady_loss))(THETA)
    scale = np.abs(implicit_grad).max()
    np.testing.assert_allclose(unrolled, implicit_grad, atol=1e-9 * scale)
    np.testing.assert_allclose(forward, implicit_grad, atol=1e-12 * scale)


def test_steady_gradient_is_cheaper_than_a_long_transient(implicit_grad):
    """The same state reached by 600 ETDRK4 steps: reverse mode through the
    rollout stores every step; the implicit adjoint one state and solves once."""

    def transient_loss(theta):
        u = ds.solve(
            operator(theta),
            ds.ETDRK4(),
            Y0,
            dt=0.05,
            num_steps=600,
            adjoint=ds.DirectAdjoint(),
        ).ys[-1]
        return jnp.sum(WEIGHT * u[0] ** 2) + jnp.sum(u**3)

    steady, transient = (
        jax.jit(jax.grad(f)).lower(THETA).compile()
        for f in (steady_loss, transient_loss)
    )
    np.testing.assert_allclose(transient(THETA), implicit_grad, rtol=1e-8)
    analyses = [c.memory_analysis() for c in (steady, transient)]
    assert all(m is not None for m in analyses), "the CPU backend reports memory"
    memory = [m.temp_size_in_bytes for m in analyses if m is not None]
    assert memory[0] * 5 < memory[1], memory

    def best(f, repeats=5):
        jax.block_until_ready(f(THETA))
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            jax.block_until_ready(f(THETA))
            times.append(time.perf_counter() - t)
        return min(times)

    t_steady, t_transient = best(steady), best(transient)
    assert t_steady < t_transient, (t_steady, t_transient)


def test_non_convergence_raises_naming_the_residual():
    with pytest.raises(
        eqx.EquinoxRuntimeError,
        match=(
            r"steady_state did not converge after max_steps=2 iterations; the RMS "
            r"residual \|\|R\(y\)\|\| reached ~\de-0"
        ),
    ):
        jax.block_until_ready(ds.steady_state(operator(THETA), Y0, max_steps=2).value)
    sol = ds.steady_state(operator(THETA), Y0, max_steps=2, throw=False)
    assert not bool(sol.converged) and float(sol.residual) > 1e-3


def test_input_errors():
    with pytest.raises(ValueError, match="must preserve both"):
        ds.steady_state(lambda y, a: y[:-1], jnp.zeros(4))
    with pytest.raises(TypeError, match="args is only for residual functions"):
        ds.steady_state(operator(THETA), Y0, 1.0)
    with pytest.raises(TypeError, match="real floating-point"):
        ds.steady_state(lambda y, a: y, jnp.zeros(4, int))
