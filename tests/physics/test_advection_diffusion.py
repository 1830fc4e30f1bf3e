"""Advection-diffusion with a variable coefficient, written once: a
manufactured solution on a periodic domain (spectral decay on Fourier, order
4 on finite differences), and the gradient with respect to a coefficient
parameter."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim
from diffsim.operators import (
    AbstractSemilinearOperator,
    FiniteDifference,
    FourierSpectral,
    Grid,
)
from diffsim.operators.physics import discretize
from diffsim.operators.physics.advection_diffusion import AdvectionDiffusion

A = 0.7  # advection velocity
T_END = 0.5


class Kappa(eqx.Module):
    """`kappa(x) = k0 (1 + 0.5 sin x)`: a smooth, positive, periodic coefficient
    with a differentiable amplitude."""

    k0: jax.Array

    def __call__(self, x):
        return self.k0 * (1.0 + 0.5 * jnp.sin(x))


def exact(x, t):
    return jnp.exp(-0.5 * t + 0.5 * jnp.sin(x - A * t)) + 0.3 * jnp.cos(2 * x + t)


def manufactured_source(kappa):
    """`s = u_t + a u_x - (kappa u_x)_x` for `u = exact` (by automatic
    differentiation, pointwise)."""

    def s(x, t):
        u_t = jax.grad(exact, 1)(x, t)
        u_x = jax.grad(exact, 0)
        flux = lambda y: kappa(y) * u_x(y, t)  # noqa: E731
        return u_t + A * u_x(x, t) - jax.grad(flux)(x)

    def source(coords, t):
        (x,) = coords
        return jax.vmap(s, (0, None))(x.ravel(), t).reshape(x.shape)

    return source


def _run(discretization, k0=1.0, dt=1e-3):
    grid = discretization.grid
    kappa = Kappa(jnp.asarray(k0))
    physics = AdvectionDiffusion(
        velocity=A, diffusivity=kappa, source=manufactured_source(kappa)
    )
    op = discretize(physics, discretization)
    (x,) = grid.mesh()
    y = diffsim.solve(
        op, diffsim.RK4(), exact(x, 0.0)[None], dt=dt, num_steps=int(T_END / dt)
    ).ys[-1, 0]
    return y, exact(x, T_END)


def test_manufactured_fourier_spectral_decay():
    errors = []
    for n in (8, 16, 48):
        y, u = _run(FourierSpectral(Grid([n], [0.0], [2 * np.pi])))
        errors.append(float(jnp.abs(y - u).max()))
    assert errors[0] > 1e-4
    assert errors[1] < errors[0] / 100
    assert errors[2] <= 1e-10


def test_manufactured_finite_difference_order_4():
    ns = np.array([16, 32, 64])
    errors = []
    for n in ns:
        y, u = _run(FiniteDifference(Grid([int(n)], [0.0], [2 * np.pi]), order=4))
        errors.append(float(jnp.abs(y - u).max()))
    order = -np.polyfit(np.log(ns), np.log(errors), 1)[0]
    assert order >= 4 - 0.3, (errors, order)


def test_manufactured_finite_volume_muscl_order_2():
    """MUSCL + Rusanov for the advective flux, the second-order compact
    diffusion of the finite-volume calculus (measured order 1.96). Point values
    stand in for cell averages here, an O(h^2) difference, so this checks
    second order only."""
    from diffsim.operators.finite_volume import MUSCL, Rusanov
    from diffsim.operators.physics import FiniteVolume

    ns = np.array([32, 64, 128])
    errors = []
    for n in ns:
        grid = Grid([int(n)], [0.0], [2 * np.pi])
        y, u = _run(FiniteVolume(grid, MUSCL("van_leer"), Rusanov()))
        errors.append(float(jnp.abs(y - u).max()))
    order = -np.polyfit(np.log(ns), np.log(errors), 1)[0]
    assert order >= 2 - 0.2, (errors, order)


def test_constant_coefficient_is_the_linear_part():
    """A scalar diffusivity is declared stiff (ETDRK integrates it exactly);
    a field is explicit."""
    grid = Grid([16], [0.0], [2 * np.pi])
    op = discretize(
        AdvectionDiffusion(velocity=0.0, diffusivity=0.3), FourierSpectral(grid)
    )
    assert isinstance(op, AbstractSemilinearOperator)
    k = np.fft.rfftfreq(16, 1 / 16)
    np.testing.assert_allclose(op.linear_symbol()[0], -0.3 * k**2, atol=1e-13)
    # the heat equation exactly by ETDRK1 with one step
    (x,) = grid.mesh()
    y = diffsim.solve(op, diffsim.ETDRK1(), jnp.sin(3 * x)[None], dt=0.5, num_steps=1)
    np.testing.assert_allclose(
        y.ys[-1, 0], np.exp(-0.3 * 9 * 0.5) * np.sin(3 * x), atol=1e-13
    )
    variable = AdvectionDiffusion(velocity=0.0, diffusivity=0.3 + 0.1 * jnp.sin(x))
    op = discretize(variable, FourierSpectral(grid))
    assert isinstance(op, AbstractSemilinearOperator)
    np.testing.assert_allclose(op.linear_symbol(), 0.0)


def test_velocity_components_must_match_grid():
    grid = Grid([8, 8], [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="1 velocity component"):
        discretize(AdvectionDiffusion(velocity=1.0), FourierSpectral(grid)).field_names


@pytest.mark.parametrize("kind", ["fourier", "finite_difference", "finite_volume"])
def test_gradient_wrt_coefficient_amplitude(kind):
    from diffsim.operators.finite_volume import MUSCL, Rusanov
    from diffsim.operators.physics import FiniteVolume

    grid = Grid([16], [0.0], [2 * np.pi])
    disc = {
        "fourier": lambda: FourierSpectral(grid),
        "finite_difference": lambda: FiniteDifference(grid, order=4),
        "finite_volume": lambda: FiniteVolume(grid, MUSCL("van_leer"), Rusanov()),
    }[kind]()
    (x,) = grid.mesh()
    u0 = exact(x, 0.0)[None]

    def loss(k0):
        physics = AdvectionDiffusion(velocity=A, diffusivity=Kappa(k0))
        y = diffsim.solve(
            discretize(physics, disc), diffsim.RK4(), u0, dt=1e-2, num_steps=20
        )
        return jnp.sum(y.ys[-1] ** 2)

    k0, step = 0.8, 1e-5
    ad = jax.grad(loss)(jnp.asarray(k0))
    fd = (loss(k0 + step) - loss(k0 - step)) / (2 * step)
    np.testing.assert_allclose(ad, fd, rtol=1e-7)
    assert ad < 0  # more diffusion, less energy


def test_gradient_wrt_wall_value_and_velocity_with_walls():
    """Constant-coefficient advection-diffusion between Dirichlet walls on
    finite differences (the diffusion implicit-ready, IMEX split): the
    gradient with respect to the inflow wall value and the velocity."""
    from diffsim.operators import Dirichlet

    grid = Grid([24], [0.0], [1.0])
    (x,) = grid.mesh()
    u0 = jnp.sin(np.pi * x)[None]

    @jax.jit
    def loss(params):
        value, velocity = params
        walls = [(Dirichlet(value), Dirichlet(0.0))]
        physics = AdvectionDiffusion(velocity=velocity, diffusivity=0.05)
        op = discretize(physics, FiniteDifference(grid, order=4, boundary=walls))
        y = diffsim.solve(op, diffsim.RK4(), u0, dt=1e-3, num_steps=100)
        return jnp.sum(y.ys[-1] ** 2) / 24

    params = jnp.array([0.5, 1.0])
    ad = jax.grad(loss)(params)
    step = 1e-6
    for i in range(2):
        e = jnp.zeros(2).at[i].set(step)
        fd = (loss(params + e) - loss(params - e)) / (2 * step)
        np.testing.assert_allclose(ad[i], fd, rtol=1e-7)
        assert abs(ad[i]) > 1e-4


@pytest.mark.parametrize(
    "discretization, bound",
    # measured at 64 cells: 1.5e-13 (Fourier), 1.4e-5 (FD 4), 2.7e-5 (FV WENO5)
    [("fourier", 1e-11), ("finite_difference", 5e-5), ("finite_volume", 1e-4)],
)
def test_advection_diffusion_scenario_cli(tmp_path, discretization, bound):
    import json

    from diffsim.jobs.cli import main

    code = main(
        [
            "run",
            "configs/advection_diffusion.yaml",
            f"discretization={discretization}",
            "time.snapshots=2",
            "--no-plots",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["errors"]["l2_relative"] < bound
