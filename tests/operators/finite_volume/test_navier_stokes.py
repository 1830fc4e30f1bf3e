"""The compressible Navier-Stokes terms of `Euler`: viscous stress and heat
flux (`Transport`), gravity with well-balancing (`equilibrium`), general
sources, no-slip walls, and their gradients (float64)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.operators import Grid
from diffsim.operators.finite_volume import (
    MUSCL,
    WENO5Z,
    ConstantViscosity,
    Euler,
    FirstOrder,
    IdealGas,
    Inflow,
    NeuralFlux,
    NoSlipWall,
    Outflow,
    Periodic,
    PowerLawViscosity,
    ReflectingWall,
    Rusanov,
    SutherlandViscosity,
    Transport,
)

GAMMA, PR = 1.4, 0.72
CP = GAMMA / (GAMMA - 1)


# --- transport laws -----------------------------------------------------------
def test_viscosity_laws_match_their_formulas():
    """Sutherland's air defaults give White's tabulated 1.846e-5 Pa s at 300 K
    (White 2006, table A.2: 1.846e-5); the power law and the constant law are
    their formulas; k = mu c_p / Pr, or the given conductivity."""
    t = jnp.asarray([250.0, 300.0, 400.0])
    sutherland = SutherlandViscosity()
    np.testing.assert_allclose(sutherland(t)[1], 1.846e-5, rtol=2e-3)
    np.testing.assert_allclose(
        sutherland(t),
        1.716e-5 * (t / 273.15) ** 1.5 * (273.15 + 110.4) / (t + 110.4),
        rtol=1e-14,
    )
    power = PowerLawViscosity(2e-5, 300.0, 0.7)
    np.testing.assert_allclose(power(t), 2e-5 * (t / 300.0) ** 0.7, rtol=1e-14)
    np.testing.assert_allclose(ConstantViscosity(0.3)(t), 0.3)
    mu, mu_b, k = Transport(0.3, prandtl=0.5).coefficients(t, jnp.asarray(3.5))
    np.testing.assert_allclose(k, 0.3 * 3.5 / 0.5)
    assert float(mu_b) == 0.0
    _, _, k = Transport(0.3, conductivity=2.0).coefficients(t, jnp.asarray(3.5))
    np.testing.assert_allclose(k, 2.0)


def test_invalid_transport_and_walls_are_refused():
    with pytest.raises(ValueError, match="Transport: prandtl must be > 0"):
        Transport(1e-3, prandtl=0.0)
    with pytest.raises(ValueError, match="ConstantViscosity: value must be >= 0"):
        Transport(-1.0)
    grid = Grid((8, 8))
    with pytest.raises(ValueError, match="NoSlipWall on axis 1 needs a viscous fluid"):
        Euler(grid, boundaries=(Periodic(), NoSlipWall()))
    with pytest.raises(ValueError, match="gravity must have 2 components"):
        Euler(grid, gravity=[0.0, -1.0, 0.0])
    with pytest.raises(ValueError, match="FirstOrder has 1; use average_correction"):
        Euler(
            grid,
            reconstruction=FirstOrder(),
            average_correction=True,
            transport=Transport(1e-3),
        )
    with pytest.raises(TypeError, match="source must be a callable"):
        Euler(grid, source=3.0)  # pyright: ignore[reportArgumentType]


# --- accuracy -------------------------------------------------------------------
def _primitive(x, y):
    rho = 1.0 + 0.2 * jnp.sin(x + y)
    u = 0.5 + 0.1 * jnp.cos(x - y)
    v = 0.3 + 0.1 * jnp.sin(y + 2 * x)
    p = 1.0 + 0.1 * jnp.cos(x + 2 * y)
    return jnp.stack([rho, u, v, p])


def _conservative(x, y):
    rho, u, v, p = _primitive(x, y)
    return jnp.stack(
        [rho, rho * u, rho * v, p / (GAMMA - 1) + 0.5 * rho * (u * u + v * v)]
    )


def _flux(x, y, axis, mu):
    """The exact Navier-Stokes flux (inviscid minus viscous) along `axis`."""
    rho, u, v, p = _primitive(x, y)
    xy = jnp.stack([x, y])
    grad_u = jax.jacfwd(lambda z: _primitive(z[0], z[1])[1:3])(xy)  # [c, d]
    grad_t = jax.grad(lambda z: (lambda w: w[3] / w[0])(_primitive(z[0], z[1])))(xy)
    div = grad_u[0, 0] + grad_u[1, 1]
    tau = [
        mu * (grad_u[axis, c] + grad_u[c, axis])
        - (2 / 3 * mu * div if c == axis else 0)
        for c in range(2)
    ]
    vel = (u, v)
    energy = p / (GAMMA - 1) + 0.5 * rho * (u * u + v * v)
    inviscid = jnp.stack(
        [
            rho * vel[axis],
            rho * vel[axis] * u + (p if axis == 0 else 0.0),
            rho * vel[axis] * v + (p if axis == 1 else 0.0),
            (energy + p) * vel[axis],
        ]
    )
    heat = -(mu * CP / PR) * grad_t[axis]
    return inviscid - jnp.stack([0.0, tau[0], tau[1], tau[0] * u + tau[1] * v - heat])


def _cell_averages(fn, grid):
    nodes, weights = np.polynomial.legendre.leggauss(4)
    x, y = grid.mesh()
    h = grid.spacing
    total = 0.0
    for gi, wi in zip(nodes, weights):
        for gj, wj in zip(nodes, weights):
            total = total + 0.25 * wi * wj * fn(
                x + 0.5 * h[0] * gi, y + 0.5 * h[1] * gj
            )
    return jnp.moveaxis(total, -1, 0)


def _manufactured_error(n, mu):
    """L1 error after t = 0.2 of a steady manufactured solution, its source
    `div F(U)` from the exact flux by automatic differentiation, cell-averaged
    by 4x4 Gauss quadrature; WENO5-Z + HLLC in characteristic variables, RK4."""

    def residual(x, y):
        return jax.jacfwd(_flux, 0)(x, y, 0, mu) + jax.jacfwd(_flux, 1)(x, y, 1, mu)

    pointwise = jax.vmap(jax.vmap(residual))
    grid = Grid((n, n), lower=(0.0, 0.0), upper=(2 * np.pi, 2 * np.pi))
    source_averages = _cell_averages(pointwise, grid)
    exact = _cell_averages(jax.vmap(jax.vmap(_conservative)), grid)
    op = Euler(
        grid,
        transport=Transport(mu, prandtl=PR),
        source=lambda state, x, t: source_averages.astype(state.dtype),
    )
    t_end = 0.2
    steps = int(np.ceil(t_end / float(op.stable_dt(exact, 0.4))))
    out = ds.solve(op, ds.RK4(), op.decode(exact), dt=t_end / steps, num_steps=steps)
    return float(jnp.mean(jnp.abs(op.encode(out.ys[-1]) - exact)))


def test_manufactured_solution_converges_at_fourth_order():
    """Viscosity 0.5 (the viscous terms dominate the truncation error):
    L1 errors 1.70e-4 (16^2) and 6.07e-6 (32^2), observed order 4.81 (the
    issue asks >= 3.5 with WENO5-Z and fourth-order viscous fluxes). The
    convective test at mu = 0.05 gives orders 5.17 and 5.37 (16-32-64)."""
    errors = [_manufactured_error(n, 0.5) for n in (16, 32)]
    order = np.log2(errors[0] / errors[1])
    assert errors[1] < 2e-5
    assert order >= 3.5, (errors, order)


def _couette_residual(n, ac):
    """Max |dU/dt| of the cell averages of the exact compressible Couette
    flow (constant mu, k; isothermal walls T = 1, upper wall at U = 1)."""
    h = 1.0 / n
    grid = Grid((1, n), lower=(0.0, 0.0), upper=(h, 1.0))
    mu = 0.05
    op = Euler(
        grid,
        transport=Transport(mu, prandtl=PR),
        average_correction=ac,
        boundaries=(
            Periodic(),
            (
                NoSlipWall(temperature=1.0),
                NoSlipWall(temperature=1.0, velocity=(1.0, 0.0)),
            ),
        ),
    )

    def exact(x, y):
        t = 1.0 + PR / (2 * CP) * y * (1 - y)
        rho = 1.0 / t
        return jnp.stack([rho, rho * y, 0.0 * y, 1.0 / (GAMMA - 1) + 0.5 * rho * y * y])

    if ac:
        state = _cell_averages(jax.vmap(jax.vmap(exact)), grid)
    else:  # the classical scheme takes cell values for point values
        state = jnp.moveaxis(jax.vmap(jax.vmap(exact))(*grid.mesh()), -1, 0)
    return float(jnp.max(jnp.abs(op(state))))


def test_couette_flow_is_a_discrete_steady_state():
    """The exact Couette profile (linear velocity, quadratic temperature from
    viscous heating) is steady to round-off without average correction, in
    cell-centre values (every stencil and the walls' cubic extrapolation are
    exact for quadratics), and, in cell averages, to O(h^2) with it
    (residuals 4.3e-6, 7.7e-7, 1.7e-7 at 16, 32, 64 cells: no O(1) wall
    error)."""
    assert _couette_residual(16, False) < 1e-11
    coarse, fine = _couette_residual(16, True), _couette_residual(32, True)
    assert fine < 1e-6
    assert np.log2(coarse / fine) > 1.8


def test_viscous_time_step_limit():
    """With a large viscosity the step is the viscous limit: `cfl / (D 14/3
    sum h^-2 / 2.5 + convective)`, D = max(4/3 mu, gamma k / c_p) / rho, and
    the run at cfl 0.9 stays bounded (it blows up at twice that step)."""
    grid = Grid((16, 16), lower=(0.0, 0.0), upper=(1.0, 1.0))
    mu = 0.2
    op = Euler(grid, transport=Transport(mu, prandtl=PR))
    x, y = grid.mesh()
    w0 = jnp.stack([1.0 + 0 * x, 0.1 * jnp.sin(2 * np.pi * y), 0 * x, 1.0 + 0 * x])
    u0 = op.encode(w0)
    diffusivity = max(4 / 3 * mu, GAMMA * mu * CP / PR / CP)
    viscous = diffusivity * 14 / 3 / 2.5 * 2 * 16**2
    convective = float(jnp.max(jnp.abs(w0[1]) + jnp.sqrt(GAMMA))) * 16 * 2
    dt = float(op.stable_dt(u0, 0.9))
    np.testing.assert_allclose(dt, 0.9 / (viscous + convective), rtol=0.05)

    def amplitude(step):
        out = ds.solve(op, ds.SSPRK3(), w0, dt=step, num_steps=200, throw=False)
        return float(jnp.max(jnp.abs(out.ys[-1][1])))

    assert amplitude(dt) < 0.1
    assert not amplitude(2.2 * dt) < 0.1


# --- gravity ----------------------------------------------------------------------
def _atmosphere(kind, n=16):
    """A resting isothermal (T = 1) or polytropic (p ~ rho^1.2) atmosphere
    under g = -1 along y between walls, as exact cell averages."""
    grid = Grid((2, n), lower=(0.0, 0.0), upper=(2.0 / n, 1.0))
    g = 1.0
    if kind == "isothermal":
        density = lambda y: jnp.exp(-g * y)  # noqa: E731
        pressure = density
    else:  # p = K rho^nu, K = 1: rho^(nu - 1) = 1 - g (nu - 1) / nu y
        nu = 1.2
        density = lambda y: (1 - g * (nu - 1) / nu * y) ** (1 / (nu - 1))  # noqa: E731
        pressure = lambda y: density(y) ** nu  # noqa: E731

    def state(x, y):
        return jnp.stack([density(y), 0 * y, 0 * y, pressure(y) / (GAMMA - 1) + 0 * x])

    return grid, _cell_averages(jax.vmap(jax.vmap(state)), grid)


@pytest.mark.parametrize("kind", ["isothermal", "polytropic"])
def test_hydrostatic_atmosphere_stays_at_rest(kind):
    """1,000 SSP-RK3 steps of WENO5-Z/HLLC (viscous, slip walls): with the
    atmosphere as `equilibrium`, max |u| stays below 1e-10 c (it is 0
    exactly: the residual is subtracted); without it, the discretization's
    imbalance drives spurious flow (measured 2.4e-5 c / 1.4e-5 c)."""
    grid, averages = _atmosphere(kind)
    walls = (Periodic(), ReflectingWall())
    balanced, plain = (
        Euler(
            grid,
            gravity=[0.0, -1.0],
            boundaries=walls,
            transport=Transport(1e-3),
            equilibrium=equilibrium,
        )
        for equilibrium in (averages, None)
    )
    c = float(jnp.sqrt(GAMMA * jnp.max(balanced.decode(averages)[-1])))
    dt = float(balanced.stable_dt(averages, 0.5))
    w0 = balanced.decode(averages)

    def max_speed(op):
        out = ds.solve(op, ds.SSPRK3(), w0, dt=dt, num_steps=1000)
        return float(jnp.max(jnp.abs(out.ys[-1][1:3]))) / c

    assert max_speed(balanced) <= 1e-10
    assert max_speed(plain) > 1e-7


# --- gradients ----------------------------------------------------------------------
def _central(f, x, eps):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def _rollout_loss(make, steps=8, dt=2e-3):
    """A weighted sum of squares of the state after a short MUSCL/Rusanov
    rollout of the operator `make(p)` from a smooth state (smooth limiter
    branches, so central differences are meaningful)."""
    grid = Grid((12, 12), lower=(0.0, 0.0), upper=(1.0, 1.0))
    x, y = grid.mesh()
    w0 = jnp.stack(
        [
            1.0 + 0.1 * jnp.sin(2 * np.pi * x) * jnp.sin(np.pi * y),
            0.3 + 0.1 * jnp.sin(np.pi * y),
            0.05 * jnp.cos(2 * np.pi * x),
            1.0 + 0.05 * jnp.cos(2 * np.pi * (x + y)),
        ]
    )
    weights = jax.random.normal(jax.random.PRNGKey(0), w0.shape)

    def loss(p):
        op = make(p, grid)
        out = ds.solve(op, ds.SSPRK3(), w0, dt=dt, num_steps=steps)
        return jnp.sum(weights * out.ys[-1] ** 2)

    return loss


def _viscous(grid, *, mu=0.05, prandtl=PR, gravity=None, walls=None):
    return Euler(
        grid,
        reconstruction=FirstOrder(),
        riemann=Rusanov(),
        variables="primitive",
        transport=Transport(mu, prandtl=prandtl),
        gravity=gravity,
        boundaries=walls
        or (Periodic(), (NoSlipWall(temperature=1.1), NoSlipWall(velocity=(0.5, 0.0)))),
    )


@pytest.mark.parametrize(
    "name, make, p0",
    [
        ("viscosity", lambda p, g: _viscous(g, mu=p), 0.05),
        ("prandtl", lambda p, g: _viscous(g, prandtl=p), 0.72),
        ("gravity", lambda p, g: _viscous(g, gravity=jnp.stack([0.0, -p])), 1.0),
        (
            "wall temperature",
            lambda p, g: _viscous(
                g, walls=(Periodic(), (NoSlipWall(temperature=p), NoSlipWall()))
            ),
            1.1,
        ),
        (
            "inflow density",
            lambda p, g: _viscous(
                g,
                walls=(
                    (Inflow(p, [0.3, 0.0], 1.0), Outflow()),
                    (NoSlipWall(temperature=1.0), NoSlipWall()),
                ),
            ),
            1.0,
        ),
    ],
)
def test_gradients_match_central_differences(name, make, p0):
    """Reverse mode through 8 steps of the viscous solver with no-slip walls
    against central differences: viscosity, Prandtl number, gravity, a wall
    temperature and an inflow value (the issue's list); finite."""
    loss = _rollout_loss(make)
    p0 = jnp.asarray(p0)
    grad = jax.jit(jax.grad(loss))(p0)
    fd = _central(jax.jit(loss), p0, 1e-5)
    assert np.isfinite(float(grad))
    assert abs(float(fd)) > 1e-6, name
    np.testing.assert_allclose(grad, fd, rtol=1e-6, err_msg=name)


def test_network_source_is_differentiable():
    """An `eqx.nn.MLP` source `S(state, x, t)`: the gradient of a rollout loss
    with respect to its weights matches central differences along a random
    direction."""
    grid = Grid((8, 8), lower=(0.0, 0.0), upper=(1.0, 1.0))
    mlp = eqx.nn.MLP(4, 4, 8, 1, key=jax.random.PRNGKey(1))

    class Source(eqx.Module):
        net: eqx.nn.MLP

        def __call__(self, state, x, t):
            flat = state.reshape(4, -1).T
            return 1e-2 * jax.vmap(self.net)(flat).T.reshape(state.shape)

    x, y = grid.mesh()
    w0 = jnp.stack([1.0 + 0.1 * jnp.sin(2 * np.pi * x), 0 * x, 0 * x, 1.0 + 0 * y])

    def loss(net):
        op = Euler(
            grid,
            reconstruction=MUSCL(),
            transport=Transport(0.01),
            source=Source(net),
        )
        out = ds.solve(op, ds.SSPRK3(), w0, dt=1e-3, num_steps=5)
        return jnp.sum(out.ys[-1] ** 2)

    params, static = eqx.partition(mlp, eqx.is_inexact_array)
    grads = eqx.filter_grad(loss)(mlp)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    direction = jax.random.normal(jax.random.PRNGKey(2), flat.shape)
    g = jnp.dot(
        jax.flatten_util.ravel_pytree(eqx.filter(grads, eqx.is_inexact_array))[0],
        direction,
    )

    def along(s):
        return loss(eqx.combine(unravel(flat + s * direction), static))

    fd = _central(jax.jit(along), 0.0, 1e-5)
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_neural_flux_closure_runs_on_the_viscous_solver():
    """`NeuralFlux` on a viscous base: the initial operator is the viscous
    base exactly (its last layer starts at zero), the viscous terms are in
    it (it differs from the inviscid base), and the gradient of a rollout
    loss with respect to the network is finite and non-zero."""
    grid = Grid((8, 8), lower=(0.0, 0.0), upper=(1.0, 1.0))
    x, y = grid.mesh()
    w0 = jnp.stack(
        [1.0 + 0 * x, jnp.sin(2 * np.pi * y), 0.1 * jnp.sin(2 * np.pi * x), 1.0 + 0 * x]
    )
    viscous = Euler(grid, reconstruction=MUSCL(), transport=Transport(0.02))
    inviscid = Euler(grid, reconstruction=MUSCL())
    closure = NeuralFlux(viscous, key=jax.random.PRNGKey(0))
    u0 = viscous.encode(w0)
    np.testing.assert_allclose(closure(u0), viscous(u0), atol=1e-14)
    assert float(jnp.max(jnp.abs(viscous(u0) - inviscid(u0)))) > 1e-2

    def loss(model):
        out = ds.solve(model, ds.SSPRK3(), w0, dt=2e-3, num_steps=4)
        return jnp.sum(out.ys[-1][1] ** 2)

    grads = eqx.filter_grad(loss)(closure)
    leaves = jax.tree_util.tree_leaves(eqx.filter(grads.network, eqx.is_inexact_array))
    norm = float(sum(jnp.sum(g**2) for g in leaves))
    assert np.isfinite(norm) and norm > 0.0


# --- walls ----------------------------------------------------------------------
def test_no_slip_box_conserves_mass_and_brings_the_fluid_to_rest():
    """A vortex in a closed box with adiabatic no-slip walls on every side:
    mass and total energy are conserved to round-off (walls take no mass;
    adiabatic walls at rest do no work and pass no heat) while the kinetic
    energy decays."""
    grid = Grid((16, 16), lower=(0.0, 0.0), upper=(1.0, 1.0))
    x, y = grid.mesh()
    psi_x = jnp.sin(np.pi * x) ** 2 * jnp.sin(2 * np.pi * y)
    psi_y = -jnp.sin(2 * np.pi * x) * jnp.sin(np.pi * y) ** 2
    w0 = jnp.stack([1.0 + 0 * x, 0.3 * psi_x, 0.3 * psi_y, 1.0 + 0 * x])
    op = Euler(
        grid,
        reconstruction=WENO5Z(),
        transport=Transport(0.01),
        boundaries=NoSlipWall(),
    )
    u0 = op.encode(w0)
    out = ds.solve(op, ds.SSPRK3(), w0, dt=float(op.stable_dt(u0, 0.5)), num_steps=100)
    u1 = op.encode(out.ys[-1])
    np.testing.assert_allclose(jnp.sum(u1[0]), jnp.sum(u0[0]), rtol=1e-13)
    np.testing.assert_allclose(jnp.sum(u1[3]), jnp.sum(u0[3]), rtol=1e-13)
    kinetic = lambda u: float(jnp.sum(u[1] ** 2 + u[2] ** 2))  # noqa: E731
    assert kinetic(u1) < 0.9 * kinetic(u0)


def test_ideal_gas_keeps_its_numbers_with_a_gas_constant():
    """The gas constant only enters the temperature: an inviscid operator's
    right-hand side is the same for R = 1 and R = 287."""
    grid = Grid((16,))
    x = grid.mesh()[0]
    w = jnp.stack([1.0 + 0.1 * jnp.sin(2 * np.pi * x), 0.2 + 0 * x, 1.0 + 0 * x])
    a = Euler(grid, IdealGas(GAMMA))
    b = Euler(grid, IdealGas(GAMMA, 287.0))
    np.testing.assert_array_equal(a(a.encode(w)), b(b.encode(w)))
    np.testing.assert_allclose(b.eos.temperature(w[0], w[-1]), w[-1] / (287.0 * w[0]))


def test_three_dimensional_viscous_fluxes_agree_with_two_dimensional_ones():
    """A 3D flow that varies along one axis and moves in a plane is the 2D
    flow: the Navier-Stokes right-hand side on an 8 x 4 x 4 grid (each axis
    taking its turn as the varying one, with the in-plane velocity along
    another) equals the 2D one to round-off, the third momentum rate
    vanishing."""
    n = 8
    s = jnp.linspace(0.0, 1.0, n, endpoint=False) + 0.5 / n
    rho = 1.0 + 0.2 * jnp.sin(2 * np.pi * s)
    u = 0.3 * jnp.cos(2 * np.pi * s)
    v = 0.2 * jnp.sin(4 * np.pi * s)
    p = 1.0 + 0.1 * jnp.cos(2 * np.pi * s)
    grid2 = Grid((n, 4), lower=(0.0, 0.0), upper=(1.0, 0.5))
    kw = dict(
        reconstruction=MUSCL(),
        variables="primitive",
        average_correction=True,
        transport=Transport(0.05),
    )
    flat = Euler(grid2, **kw)  # pyright: ignore[reportArgumentType]
    w2 = jnp.stack([jnp.broadcast_to(q[:, None], (n, 4)) for q in (rho, u, v, p)])
    rate2 = flat(flat.encode(w2))[:, :, 0]
    apply = eqx.filter_jit(lambda op, w: op(op.encode(w)))
    for axis, other in ((0, 2), (2, 1), (1, 0)):
        cells, upper = [4, 4, 4], [0.5, 0.5, 0.5]
        cells[axis], upper[axis] = n, 1.0
        grid3 = Grid(tuple(cells), lower=(0.0, 0.0, 0.0), upper=tuple(upper))
        op = Euler(grid3, **kw)  # pyright: ignore[reportArgumentType]
        shape = [1, 1, 1]
        shape[axis] = n
        velocity = [jnp.zeros(n)] * 3
        velocity[axis], velocity[other] = u, v
        w3 = jnp.stack(
            [
                jnp.broadcast_to(q.reshape(shape), tuple(cells))
                for q in (rho, *velocity, p)
            ]
        )
        rate3 = apply(op, w3)
        line = jnp.moveaxis(rate3, axis + 1, 1).reshape(5, n, -1)[:, :, 0]
        third = 3 - axis - other
        np.testing.assert_allclose(
            jnp.stack([line[0], line[1 + axis], line[1 + other], line[4]]),
            rate2,
            atol=1e-13,
        )
        np.testing.assert_allclose(line[1 + third], 0.0, atol=1e-13)
