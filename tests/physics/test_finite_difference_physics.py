"""The finite-difference strategy of the physics layer: periodic (Fourier-space
state, stencil symbols, ETDRK) and with walls (IMEX split), the calculus
(flux-form diffusion, Laplacian composition at walls, Arakawa's Jacobian),
convergence orders, exact solutions, gradients and refusals (float64)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim
from diffsim.operators import Dirichlet, FiniteDifference, Grid, Neumann
from diffsim.operators.discretization import Periodic
from diffsim.operators.physics import (
    AbstractPhysics,
    FiniteDifferenceCalculus,
    PeriodicFiniteDifferencePDE,
    WalledFiniteDifferencePDE,
    discretize,
)

TWO_PI = 2.0 * np.pi


def orders(errors):
    errors = np.asarray(errors)
    return np.log2(errors[:-1] / errors[1:])


class Heat(AbstractPhysics):
    diffusivity: jax.Array = eqx.field(converter=jnp.asarray, default=1.0)

    def field_names(self, ndim):
        return ("u",)

    def linear(self, u, d):
        return self.diffusivity * d.laplacian(u)


class ManufacturedBurgers(AbstractPhysics):
    """`u_t + (u^2/2)_x = nu u_xx + (a u_x)_x + s(x, t)`, `a = kappa (1 + 0.5
    sin x)` (explicit), with the source making `u = 0.5 + sin(x - t)` exact."""

    nu: float = 0.1
    kappa: float = 0.3

    def field_names(self, ndim):
        return ("u",)

    def flux(self, u, axis):
        return 0.5 * u * u

    def linear(self, u, d):
        return self.nu * d.laplacian(u)

    def nonlinear(self, u, d, t):
        x = d.grid.mesh()[0]
        return d.diffusion(u, self.kappa * (1.0 + 0.5 * jnp.sin(x)))

    def reaction(self, u, x, t):
        x = x[0]
        s, c = jnp.sin(x - t), jnp.cos(x - t)
        a = self.kappa * (1.0 + 0.5 * jnp.sin(x))
        ax = 0.5 * self.kappa * jnp.cos(x)
        u_ex = 0.5 + s
        return (-c + u_ex * c + self.nu * s - (ax * c - a * s))[None]


def exact_burgers(x, t):
    return 0.5 + jnp.sin(x - t)


# --- periodic: convergence ---------------------------------------------------
@pytest.mark.parametrize("order", [2, 4, 6, 8])
def test_periodic_rhs_order(order):
    """Every term (flux divergence, linear symbol, variable-coefficient flux-form
    diffusion, reaction) evaluated on the exact solution: the semi-discrete
    residual converges at the stencil's order."""
    errors = []
    for n in (16, 32):
        grid = Grid((n,), (0.0,), (TWO_PI,))
        op = discretize(ManufacturedBurgers(), FiniteDifference(grid, order))
        assert isinstance(op, PeriodicFiniteDifferencePDE)
        x = grid.mesh()[0]
        t = 0.3
        state = op.encode(exact_burgers(x, t)[None])
        rate = op.fourier.inverse(eqx.filter_jit(op)(state, t))[0]
        exact = -jnp.cos(x - t)
        errors.append(float(jnp.max(jnp.abs(rate - exact))))
    assert orders(errors)[0] >= order - 0.3, errors


@pytest.mark.parametrize("order", [2, 4])
def test_periodic_etdrk4_rollout_order(order):
    """ETDRK4 with the stencil symbol, nonlinear terms on the stencils: the
    rollout error against the manufactured solution has the spatial order."""
    errors = []
    for n in (16, 32, 64):
        grid = Grid((n,), (0.0,), (TWO_PI,))
        physics = ManufacturedBurgers(kappa=0.05)  # explicit: keep it non-stiff
        op = discretize(physics, FiniteDifference(grid, order))
        x = grid.mesh()[0]
        sol = diffsim.solve(
            op, diffsim.ETDRK4(), exact_burgers(x, 0.0)[None], dt=0.02, num_steps=50
        )
        errors.append(float(jnp.max(jnp.abs(sol.ys[-1, 0] - exact_burgers(x, 1.0)))))
    assert min(orders(errors)) >= order - 0.3, errors


def test_etdrk4_uses_the_stencil_symbol():
    """A linear stiff problem (`u_t = -u_xx - u_xxxx`, KS's linear part) is
    integrated exactly by ETDRK: the result is `exp(symbol t)` on every mode,
    with the stencil's symbol (not the spectral one)."""

    class KSLinear(AbstractPhysics):
        def field_names(self, ndim):
            return ("u",)

        def linear(self, u, d):
            return -d.derivative(u, 0, 2) - d.derivative(u, 0, 4)

    grid = Grid((32,), (0.0,), (8 * np.pi,))
    fd = FiniteDifference(grid, 4)
    op = discretize(KSLinear(), fd)
    u0 = jax.random.normal(jax.random.key(0), (1, 32))
    sol = diffsim.solve(op, diffsim.ETDRK4(), u0, dt=0.5, num_steps=4)
    d2, d4 = fd.derivative_symbol(0, 2), fd.derivative_symbol(0, 4)
    np.testing.assert_allclose(d4, d2**2)
    expected = jnp.fft.irfft(jnp.fft.rfft(u0) * np.exp(2.0 * (-d2 - d4))[None], n=32)
    np.testing.assert_allclose(sol.ys[-1], expected, atol=1e-12)
    spectral_k = np.fft.rfftfreq(32, 1 / 32) * TWO_PI / grid.lengths[0]
    assert np.max(np.abs(-d2 - d4 - (spectral_k**2 - spectral_k**4))) > 1e-2


def test_periodic_inverse_laplacian():
    grid = Grid((16, 12), (0.0, 0.0), (1.0, 2.0))
    d = FiniteDifferenceCalculus(FiniteDifference(grid, 6))
    f = jax.random.normal(jax.random.key(1), (2, 16, 12))
    phi = d.inverse_laplacian(f)
    np.testing.assert_allclose(
        d.laplacian(phi), f - f.mean(axis=(1, 2), keepdims=True), atol=1e-12
    )
    np.testing.assert_allclose(phi.mean(axis=(1, 2)), 0.0, atol=1e-14)


# --- Arakawa's Jacobian --------------------------------------------------------
@pytest.mark.parametrize("order", [2, 4, 8])
def test_arakawa_conserves_energy_and_enstrophy(order):
    grid = Grid((24, 20), (0.0, 0.0), (TWO_PI, 3.0))
    d = FiniteDifferenceCalculus(FiniteDifference(grid, order))
    psi, w = jax.random.normal(jax.random.key(2), (2, 3, 24, 20))
    jac = d.jacobian(psi, w)  # three channels at once
    scale = jnp.sum(jnp.abs(psi * jac)) + jnp.sum(jnp.abs(w * jac))
    assert float(jnp.abs(jnp.sum(psi * jac)) / scale) < 1e-14
    assert float(jnp.abs(jnp.sum(w * jac)) / scale) < 1e-14
    assert float(jnp.abs(jnp.sum(jac)) / jnp.sum(jnp.abs(jac))) < 1e-14


@pytest.mark.parametrize("order", [2, 4, 6, 8])
def test_arakawa_order(order):
    errors = []
    for n in (32, 64):
        grid = Grid((n, n), (0.0, 0.0), (TWO_PI, TWO_PI))
        d = FiniteDifferenceCalculus(FiniteDifference(grid, order))
        x, y = grid.mesh()
        a = jnp.sin(x) * jnp.cos(y)
        b = jnp.cos(x + y) + jnp.sin(x)
        ax, ay = jnp.cos(x) * jnp.cos(y), -jnp.sin(x) * jnp.sin(y)
        bx, by = -jnp.sin(x + y) + jnp.cos(x), -jnp.sin(x + y)
        errors.append(float(jnp.max(jnp.abs(d.jacobian(a, b) - (ax * by - ay * bx)))))
    assert orders(errors)[0] >= order - 0.3, errors


@pytest.mark.parametrize("order", [2, 4])
def test_arakawa_with_a_wall_axis(order):
    """Dirichlet walls on x, periodic y: the stencils read ghosts through the
    wall condition and keep the order for fields that satisfy it."""
    errors = []
    for n in (32, 64):
        grid = Grid((n, n), (0.0, 0.0), (1.0, TWO_PI))
        fd = FiniteDifference(grid, order, boundary=[Dirichlet(0.0), Periodic()])
        d = FiniteDifferenceCalculus(fd)
        x, y = grid.mesh()
        a = jnp.sin(np.pi * x) * jnp.cos(y)
        b = jnp.sin(2 * np.pi * x) * jnp.sin(y)
        ax, ay = (
            np.pi * jnp.cos(np.pi * x) * jnp.cos(y),
            -jnp.sin(np.pi * x) * jnp.sin(y),
        )
        bx = 2 * np.pi * jnp.cos(2 * np.pi * x) * jnp.sin(y)
        by = jnp.sin(2 * np.pi * x) * jnp.cos(y)
        errors.append(float(jnp.max(jnp.abs(d.jacobian(a, b) - (ax * by - ay * bx)))))
    assert orders(errors)[0] >= order - 0.3, errors


# --- walls ------------------------------------------------------------------
# two grids each (one compilation per grid); at order 4 coarse enough that the
# spatial error stays far above the time stepping's
GRIDS = {2: (16, 32), 4: (8, 16)}


@pytest.mark.parametrize("order", [2, 4])
def test_heat_dirichlet_exact(order):
    """`u = 1 + x + exp(-pi^2 t) sin(pi x)`, walls `u(0) = 1`, `u(1) = 2`."""
    t1, errors = 0.1, []
    for n in GRIDS[order]:
        grid = Grid((n,), (0.0,), (1.0,))
        fd = FiniteDifference(grid, order, boundary=[(Dirichlet(1.0), Dirichlet(2.0))])
        op = discretize(Heat(), fd)
        assert isinstance(op, WalledFiniteDifferencePDE)
        x = grid.mesh()[0]
        u0 = (1 + x + jnp.sin(np.pi * x))[None]
        sol = diffsim.solve(op, diffsim.IMEXARS443(), u0, dt=t1 / 100, num_steps=100)
        exact = 1 + x + np.exp(-(np.pi**2) * t1) * jnp.sin(np.pi * x)
        errors.append(float(jnp.max(jnp.abs(sol.ys[-1, 0] - exact))))
    assert min(orders(errors)) >= order - 0.3, errors


@pytest.mark.parametrize("order", [2, 4])
def test_heat_neumann_exact(order):
    """`u = t + x^2/2 + exp(-pi^2 t) cos(pi x)`: `du/dn = 0` at `x = 0`,
    `du/dn = 1` at `x = 1`."""
    t1, errors = 0.1, []
    for n in GRIDS[order]:
        grid = Grid((n,), (0.0,), (1.0,))
        fd = FiniteDifference(grid, order, boundary=[(Neumann(0.0), Neumann(1.0))])
        op = discretize(Heat(), fd)
        x = grid.mesh()[0]
        u0 = (x**2 / 2 + jnp.cos(np.pi * x))[None]
        sol = diffsim.solve(op, diffsim.IMEXARS443(), u0, dt=t1 / 100, num_steps=100)
        exact = t1 + x**2 / 2 + np.exp(-(np.pi**2) * t1) * jnp.cos(np.pi * x)
        errors.append(float(jnp.max(jnp.abs(sol.ys[-1, 0] - exact))))
    assert min(orders(errors)) >= order - 0.3, errors


@pytest.mark.parametrize("order", [2, 4])
def test_variable_diffusion_with_walls_order(order):
    """Flux-form `(a u_x)_x` with Dirichlet walls and a coefficient varying
    up to the wall keeps the stencil's order."""

    class VariableDiffusion(AbstractPhysics):
        def field_names(self, ndim):
            return ("u",)

        def linear(self, u, d):
            return d.diffusion(u, 1.0 + 0.5 * jnp.cos(2 * d.grid.mesh()[0]))

    errors = []
    for n in (16, 32, 64):
        grid = Grid((n,), (0.0,), (1.0,))
        upper = 1.0 + np.sin(3.0)
        fd = FiniteDifference(
            grid, order, boundary=[(Dirichlet(1.0), Dirichlet(upper))]
        )
        op = discretize(VariableDiffusion(), fd)
        x = grid.mesh()[0]
        u = 1.0 + jnp.sin(3 * x) * x
        ux = 3 * jnp.cos(3 * x) * x + jnp.sin(3 * x)
        uxx = -9 * jnp.sin(3 * x) * x + 6 * jnp.cos(3 * x)
        exact = -jnp.sin(2 * x) * ux + (1.0 + 0.5 * jnp.cos(2 * x)) * uxx
        rate = eqx.filter_jit(op)(u[None], 0.0)[0]
        errors.append(float(jnp.max(jnp.abs(rate - exact))))
    assert min(orders(errors)) >= order - 0.3, errors


@pytest.mark.parametrize(
    "wall, mode", [(Dirichlet(0.0), jnp.sin), (Neumann(0.0), jnp.cos)]
)
def test_fourth_order_term_with_walls(wall, mode):
    """`u_t = -laplacian(laplacian(u))` with the wall condition applied to `u`
    and to its Laplacian (hinged: `u = u_xx = 0`; Neumann: `u_x = u_xxx =
    0`): exact solution `exp(-pi^4 t) mode(pi x)`, order 2 and 4."""

    class Biharmonic(AbstractPhysics):
        def field_names(self, ndim):
            return ("u",)

        def linear(self, u, d):
            return -d.laplacian(d.laplacian(u))

    t1 = 0.01
    for order in (2, 4):
        errors = []
        for n in (16, 32):
            grid = Grid((n,), (0.0,), (1.0,))
            op = discretize(Biharmonic(), FiniteDifference(grid, order, boundary=wall))
            x = grid.mesh()[0]
            sol = diffsim.solve(
                op,
                diffsim.IMEXARS443(),
                mode(np.pi * x)[None],
                dt=t1 / 40,
                num_steps=40,
            )
            exact = np.exp(-(np.pi**4) * t1) * mode(np.pi * x)
            errors.append(float(jnp.max(jnp.abs(sol.ys[-1, 0] - exact))))
        assert orders(errors)[0] >= order - 0.3, (order, errors)


# --- gradients ----------------------------------------------------------------
def _walled_heat_loss(diffusivity, lower):
    grid = Grid((12,), (0.0,), (1.0,))
    fd = FiniteDifference(grid, 4, boundary=[(Dirichlet(lower), Dirichlet(0.5))])
    op = discretize(Heat(diffusivity), fd)
    x = grid.mesh()[0]
    u0 = jnp.sin(np.pi * x)[None]
    sol = diffsim.solve(op, diffsim.IMEXARS222(), u0, dt=0.005, num_steps=10)
    return jnp.sum(sol.ys[-1] ** 2)


def test_gradients_wrt_parameter_and_wall_value():
    args = (jnp.asarray(0.7), jnp.asarray(0.3))
    grads = jax.jit(jax.grad(_walled_heat_loss, argnums=(0, 1)))(*args)
    eps = 1e-6
    for k in range(2):
        plus = list(args)
        minus = list(args)
        plus[k] = plus[k] + eps
        minus[k] = minus[k] - eps
        fd = (_walled_heat_loss(*plus) - _walled_heat_loss(*minus)) / (2 * eps)
        np.testing.assert_allclose(grads[k], fd, rtol=1e-7)
    assert abs(float(grads[1])) > 1e-3  # the wall value matters


def test_gradient_wrt_parameter_periodic():
    def loss(nu):
        grid = Grid((16,), (0.0,), (TWO_PI,))
        op = discretize(ManufacturedBurgers(nu=nu), FiniteDifference(grid, 4))  # type: ignore[arg-type]
        x = grid.mesh()[0]
        sol = diffsim.solve(
            op, diffsim.ETDRK2(), exact_burgers(x, 0.0)[None], dt=0.05, num_steps=6
        )
        return jnp.sum(sol.ys[-1] ** 3)

    g = jax.grad(loss)(jnp.asarray(0.1))
    eps = 1e-5
    central = (loss(0.1 + eps) - loss(0.1 - eps)) / (2 * eps)
    np.testing.assert_allclose(g, central, rtol=1e-6)


# --- jit / vmap ---------------------------------------------------------------
def test_walled_operator_under_jit_and_vmap():
    grid = Grid((10, 8), (0.0, 0.0), (1.0, 1.0))

    def run(value, u0):
        fd = FiniteDifference(grid, 2, boundary=[Dirichlet(value), Neumann(0.0)])
        op = discretize(Heat(0.5), fd)
        return diffsim.solve(op, diffsim.IMEXEuler(), u0, dt=0.01, num_steps=5).ys[-1]

    values = jnp.array([0.0, 1.0, -0.5])
    u0 = jax.random.normal(jax.random.key(3), (3, 1, 10, 8))
    batched = jax.jit(jax.vmap(run))(values, u0)
    for k in range(3):
        np.testing.assert_allclose(batched[k], run(values[k], u0[k]), atol=1e-13)


# --- refusals ----------------------------------------------------------------
def test_refusals():
    grid = Grid((12,), (0.0,), (1.0,))
    walled = FiniteDifference(grid, 4, boundary=Dirichlet(0.0))
    d = FiniteDifferenceCalculus(walled)
    u = jnp.ones((1, 12))
    with pytest.raises(NotImplementedError, match=r"d\.laplacian\(d\.laplacian\(u\)\)"):
        d.derivative(u, 0, 4)
    with pytest.raises(NotImplementedError, match="inverse_laplacian needs periodic"):
        d.inverse_laplacian(u)
    with pytest.raises(ValueError, match="jacobian J\\(a, b\\) is two-dimensional"):
        d.jacobian(u, u)
    op = discretize(Heat(), walled)
    with pytest.raises(TypeError, match="use an IMEX stepper"):
        diffsim.solve(op, diffsim.ETDRK4(), u, dt=0.1, num_steps=1)
    periodic = discretize(Heat(), FiniteDifference(grid, 4))
    with pytest.raises(TypeError, match="needs an operator split into a stiff linear"):
        diffsim.solve(periodic, diffsim.IMEXARS222(), u, dt=0.1, num_steps=1)

    class FluxOnly(AbstractPhysics):
        discretizations = ("finite_volume",)

        def field_names(self, ndim):
            return ("u",)

    with pytest.raises(
        ValueError,
        match="cannot run on finite_difference: valid choices are finite_volume",
    ):
        discretize(FluxOnly(), walled)


class ViscousBurgers(AbstractPhysics):
    nu: float = 0.25

    def field_names(self, ndim):
        return ("u",)

    def flux(self, u, axis):
        return 0.5 * u * u

    def linear(self, u, d):
        return self.nu * d.laplacian(u)


@pytest.mark.parametrize("order", [2, 4])
def test_flux_sees_the_wall_value(order):
    """Steady viscous Burgers `u = -tanh(x / (2 nu))` between Dirichlet walls
    `u(-1) = tanh(2)`, `u(1) = -tanh(2)`: the flux's ghosts come from the
    state's, so the wall flux is `F(u_wall)` and the steady state holds at the
    scheme's order (padding `F(u)` with `u`'s wall value gave an O(1) error)."""
    nu, errors = 0.25, []
    wall = float(np.tanh(1.0 / (2 * nu)))
    for n in (16, 32, 64):
        grid = Grid((n,), (-1.0,), (1.0,))
        fd = FiniteDifference(
            grid, order, boundary=[(Dirichlet(wall), Dirichlet(-wall))]
        )
        op = discretize(ViscousBurgers(nu), fd)
        x = grid.mesh()[0]
        exact = -jnp.tanh(x / (2 * nu))[None]
        sol = diffsim.solve(op, diffsim.IMEXARS222(), exact, dt=0.01, num_steps=50)
        errors.append(float(jnp.max(jnp.abs(sol.ys[-1] - exact))))
    assert errors[-1] < 1e-2
    assert min(orders(errors)) >= order - 0.3, errors


def test_kuramoto_sivashinsky_between_hinged_walls():
    """KS between `Dirichlet(0)` walls (hinged: `u = u_xx = 0`), IMEX: a
    small first mode `sin(pi x / L)` grows at the linear rate `k^2 - k^4`
    (the nonlinear term is O(amplitude^2)), to the order-4 stencil's
    accuracy."""
    from diffsim.operators.physics import KuramotoSivashinsky

    length, n, t1 = 3.0, 64, 0.5
    grid = Grid((n,), (0.0,), (length,))
    fd = FiniteDifference(grid, 4, boundary=Dirichlet(0.0))
    op = discretize(KuramotoSivashinsky(), fd)
    x = grid.mesh()[0]
    k = np.pi / length
    u0 = 1e-8 * jnp.sin(k * x)[None]
    sol = diffsim.solve(op, diffsim.IMEXARS443(), u0, dt=t1 / 50, num_steps=50)
    exact = u0 * np.exp((k**2 - k**4) * t1)
    error = float(jnp.max(jnp.abs(sol.ys[-1] - exact)) / jnp.max(jnp.abs(exact)))
    assert error < 1e-6, error  # 4.2e-8
