"""The `FiniteVolume` strategy: any physics with a pointwise flux on finite
volumes (float64, small grids)."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.operators import (
    HLL,
    HLLC,
    MUSCL,
    WENO5Z,
    Dirichlet,
    FirstOrder,
    Grid,
    Inflow,
    InflowState,
    Neumann,
    Outflow,
    Periodic,
    ReflectingWall,
    Rusanov,
)
from diffsim.operators.physics import (
    AbstractPhysics,
    FiniteVolume,
    FiniteVolumePDE,
    discretize,
)


class Advection(AbstractPhysics):
    """`u_t + velocity . grad u = 0`."""

    velocity: jax.Array = eqx.field(converter=jnp.asarray, default=1.0)

    def field_names(self, ndim):
        return ("u",)

    def flux(self, u, axis):
        return jnp.atleast_1d(self.velocity)[axis] * u


class Heat(AbstractPhysics):
    """`u_t = diffusivity u_xx` (no flux)."""

    diffusivity: float = 1.0

    def field_names(self, ndim):
        return ("u",)

    def linear(self, u, d):
        return self.diffusivity * d.laplacian(u)


class VariableHeat(AbstractPhysics):
    """`u_t = (a(x) u_x)_x`, `a = 1 + x / 2`, on [0, 1]."""

    def field_names(self, ndim):
        return ("u",)

    def nonlinear(self, u, d, t):
        (x,) = d.grid.mesh(u.dtype)
        return d.diffusion(u, 1.0 + 0.5 * x)


class Burgers2D(AbstractPhysics):
    """`u_t + div(u u^T / 2) = 0`, wave speeds by automatic differentiation."""

    def field_names(self, ndim):
        return ("velocity_x", "velocity_y")

    def flux(self, u, axis):
        return 0.5 * u * u[axis][None]


class ShallowWater(AbstractPhysics):
    """`(h, h u, [h v])` with gravity; speeds by automatic differentiation."""

    gravity: jax.Array = eqx.field(converter=jnp.asarray, default=9.81)

    def field_names(self, ndim):
        return ("height", "velocity_x", "velocity_y")[: 1 + ndim]

    def encode(self, fields):
        return jnp.concatenate([fields[:1], fields[:1] * fields[1:]])

    def decode(self, u):
        return jnp.concatenate([u[:1], u[1:] / u[:1]])

    def flux(self, u, axis):
        h = u[0]
        un = u[1 + axis] / h
        out = [u[1 + axis]] + [m * un for m in u[1:]]
        out[1 + axis] = out[1 + axis] + 0.5 * self.gravity * h * h
        return jnp.stack(out)

    def reflect(self, u, axis):
        return u.at[1 + axis].multiply(-1.0)


class Dispersive(AbstractPhysics):
    min_finite_volume_order = 3

    def field_names(self, ndim):
        return ("u",)

    def flux(self, u, axis):
        return 0.5 * u * u


def fv_operator(physics, fv) -> FiniteVolumePDE:
    op = discretize(physics, fv)
    assert isinstance(op, FiniteVolumePDE)
    return op


def sine_averages(grid, t=0.0, velocity=1.0):
    """Exact cell averages of `sin(2 pi (x - velocity t))`."""
    x, h = grid.coordinates[0], grid.spacing[0]
    k = 2 * np.pi
    lo, hi = x - h / 2 - velocity * t, x + h / 2 - velocity * t
    return ((np.cos(k * lo) - np.cos(k * hi)) / (k * h))[None]


def observed_orders(errors, ns):
    return [
        np.log(errors[i] / errors[i + 1]) / np.log(ns[i + 1] / ns[i])
        for i in range(len(ns) - 1)
    ]


@pytest.mark.parametrize(
    "reconstruction, riemann, expected",
    [(MUSCL("van_leer"), HLL(), 1.8), (WENO5Z(), Rusanov(), 4.5)],
)
def test_convergence_smooth_advection(reconstruction, riemann, expected):
    """L1 error of a sine advected for t = 0.25 with RK4 (dt = 0.1 h, so that
    the time error stays below the spatial one)."""
    ns = (20, 40, 80)
    errors = []
    for n in ns:
        grid = Grid(n)
        op = discretize(Advection(), FiniteVolume(grid, reconstruction, riemann))
        dt = 0.1 / n
        steps = round(0.25 / dt)
        y = ds.solve(
            op, ds.RK4(), jnp.asarray(sine_averages(grid)), dt=dt, num_steps=steps
        ).ys[-1]
        errors.append(float(np.mean(np.abs(np.asarray(y) - sine_averages(grid, 0.25)))))
    orders = observed_orders(errors, ns)
    assert orders[-1] >= expected, (errors, orders)


@pytest.mark.parametrize("order, expected", [(2, 1.9), (4, 3.8)])
def test_heat_with_dirichlet_walls_converges(order, expected):
    """`u_t = D u_xx` with `u(0) = a`, `u(1) = b`: the exact solution
    `a + (b - a) x + exp(-D pi^2 t) sin(pi x)` feels both walls."""
    a, b, diff, t_end = 0.3, -0.2, 0.1, 0.2
    ns = (10, 20, 40)
    errors = []
    for n in ns:
        grid = Grid(n)
        x, h = grid.coordinates[0], grid.spacing[0]

        def averages(t):
            lo, hi = x - h / 2, x + h / 2
            line = a + (b - a) * x
            sine = (np.cos(np.pi * lo) - np.cos(np.pi * hi)) / (np.pi * h)
            return (line + np.exp(-diff * np.pi**2 * t) * sine)[None]

        fv = FiniteVolume(
            grid,
            FirstOrder(),
            boundary=[(Dirichlet(a), Dirichlet(b))],
            calculus_order=order,
        )
        op = discretize(Heat(diff), fv)
        dt = 0.2 * h * h / diff
        steps = round(t_end / dt)
        y = ds.solve(
            op, ds.RK4(), jnp.asarray(averages(0.0)), dt=t_end / steps, num_steps=steps
        ).ys[-1]
        errors.append(float(np.max(np.abs(np.asarray(y) - averages(t_end)))))
    orders = observed_orders(errors, ns)
    assert orders[-1] >= expected, (errors, orders)


def test_variable_diffusion_flux_form_order():
    """`d.diffusion(u, a(x))` on cell averages of `u = sin(2 pi x)` (periodic
    data, non-periodic coefficient is fine in the interior of a period) is
    the cell average of `(a u')'` to `calculus_order`."""
    errors = {2: [], 4: []}
    ns = (32, 64)
    for order in (2, 4):
        for n in ns:
            grid = Grid(n)
            op = discretize(
                VariableHeat(), FiniteVolume(grid, WENO5Z(), calculus_order=order)
            )
            rate = op(jnp.asarray(sine_averages(grid)), 0.0)
            x = grid.coordinates[0]
            k = 2 * np.pi

            # (a u')' = a' u' + a u'', a = 1 + x / 2, evaluated at centres and
            # corrected to averages to O(h^4) with h^2/24 f''
            def f(x):
                return 0.5 * k * np.cos(k * x) - (1 + 0.5 * x) * k * k * np.sin(k * x)

            h = grid.spacing[0]
            fpp = (f(x + 1e-3) - 2 * f(x) + f(x - 1e-3)) / 1e-6
            exact = f(x) + h * h / 24 * fpp
            # the coefficient jumps at the periodic seam: compare away from it
            inner = slice(4, n - 4)
            errors[order].append(
                float(np.max(np.abs(np.asarray(rate[0]) - exact)[inner]))
            )
    assert observed_orders(errors[2], ns)[0] >= 1.9, errors
    assert observed_orders(errors[4], ns)[0] >= 3.7, errors


def test_conservation_periodic_burgers_2d():
    grid = Grid((12, 10))
    x, y = grid.mesh()
    fields = jnp.stack(
        [
            0.4 + 0.3 * jnp.sin(2 * jnp.pi * x) * jnp.cos(2 * jnp.pi * y),
            0.1 * jnp.cos(2 * jnp.pi * x),
        ]
    )
    op = discretize(Burgers2D(), FiniteVolume(grid, WENO5Z(), HLL()))
    y_end = ds.solve(op, ds.SSPRK3(), fields, dt=0.01, num_steps=30).ys[-1]
    np.testing.assert_allclose(
        np.asarray(y_end).sum(axis=(1, 2)),
        np.asarray(fields).sum(axis=(1, 2)),
        rtol=0,
        atol=1e-13,
    )
    assert float(jnp.max(jnp.abs(y_end - fields))) > 1e-3  # it did evolve


def test_reflecting_walls_conserve_mass_and_mirror():
    """Shallow water in a closed box: mass is conserved to round-off, and a
    symmetric hump stays symmetric."""
    grid = Grid(24)
    (x,) = grid.mesh()
    fields = jnp.stack([1.0 + 0.2 * jnp.exp(-60.0 * (x - 0.5) ** 2), jnp.zeros_like(x)])
    op = discretize(
        ShallowWater(), FiniteVolume(grid, WENO5Z(), HLL(), boundary=ReflectingWall())
    )
    y_end = ds.solve(op, ds.SSPRK3(), fields, dt=0.005, num_steps=40).ys[-1]
    assert abs(float(y_end[0].sum() - fields[0].sum())) < 1e-13
    np.testing.assert_allclose(y_end[0], y_end[0][::-1], atol=1e-13)
    np.testing.assert_allclose(y_end[1], -y_end[1][::-1], atol=1e-13)
    assert float(jnp.max(jnp.abs(y_end[1]))) > 1e-2


def test_inflow_boundary_advection():
    """`u_t + u_x = 0` on [0, 1], inflow `u = c` at x = 0, outflow at x = 1,
    initial `u = 0`: at time T the inflow state fills `x < T` (a step, so
    WENO converges at first order in L1), and `d mean(u(T)) / dc = T`
    exactly (the scheme is linear in `(u, c)` up to the WENO weights, which
    are scale invariant except for eps)."""
    t_end = 0.4

    def run(c, n):
        grid = Grid(n)
        fv = FiniteVolume(
            grid, MUSCL("mc"), Rusanov(), boundary=[(InflowState(c), Outflow())]
        )
        op = discretize(Advection(), fv)
        steps = round(t_end / (0.4 / n))
        y0 = jnp.zeros((1, n))
        return ds.solve(op, ds.SSPRK3(), y0, dt=t_end / steps, num_steps=steps).ys[-1][
            0
        ]

    errors = []
    for n in (50, 100, 200):
        x = Grid(n).coordinates[0]
        h = 1.0 / n
        exact = 0.7 * np.clip((t_end - (x - h / 2)) / h, 0.0, 1.0)
        errors.append(float(np.mean(np.abs(np.asarray(run(0.7, n)) - exact))))
    assert errors[-1] < 0.01 and errors[0] / errors[-1] > 2.5, errors
    n = 50
    loss = lambda c: jnp.mean(run(c, n))  # noqa: E731
    grad = jax.grad(loss)(0.7)
    eps = 1e-5
    fd = (loss(0.7 + eps) - loss(0.7 - eps)) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-7)
    np.testing.assert_allclose(grad, t_end, rtol=1e-2)


def test_ad_wave_speeds_equal_closed_form():
    rng = np.random.default_rng(0)

    @functools.partial(jax.jit, static_argnums=2)
    def speeds(physics, u, axis):
        return physics.wave_speeds(u, axis)

    g = 9.81
    h = jnp.asarray(1.0 + rng.uniform(size=(7, 5)))
    vel = jnp.asarray(rng.normal(size=(2, 7, 5)))
    # 2x2: 1D shallow water, u -/+ sqrt(g h)
    sw1 = ShallowWater(g)
    u1 = sw1.encode(jnp.stack([h, vel[0]]))
    low, high = speeds(sw1, u1, 0)
    c = np.sqrt(g * h)
    np.testing.assert_allclose(low, vel[0] - c, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(high, vel[0] + c, rtol=1e-13, atol=1e-13)
    # 3x3: 2D shallow water along y, v -/+ sqrt(g h)
    u2 = sw1.encode(jnp.stack([h, vel[0], vel[1]]))
    low, high = speeds(sw1, u2, 1)
    np.testing.assert_allclose(low, vel[1] - c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(high, vel[1] + c, rtol=1e-12, atol=1e-12)
    # Burgers 2D along x: eigenvalues u and u / 2 (meeting at u = 0)
    b = jnp.concatenate([vel, jnp.zeros((2, 1, 5))], axis=1)
    low, high = speeds(Burgers2D(), b, 0)
    np.testing.assert_allclose(low, jnp.minimum(b[0], b[0] / 2), atol=1e-14)
    np.testing.assert_allclose(high, jnp.maximum(b[0], b[0] / 2), atol=1e-14)

    # derivatives: with respect to gravity (2x2 and 3x3) and to the state
    @functools.partial(jax.jit, static_argnums=2)
    def speed_sum(gravity, u, axis):
        return jnp.sum(ShallowWater(gravity).wave_speeds(u, axis)[1])

    expected = float(jnp.sum(0.5 * h / c))
    np.testing.assert_allclose(jax.grad(speed_sum)(g, u1, 0), expected, rtol=1e-12)
    np.testing.assert_allclose(jax.grad(speed_sum)(g, u2, 1), expected, rtol=1e-10)
    du = jax.grad(speed_sum, argnums=1)(g, u2, 0)
    # high = m / h + sqrt(g h): d/dh = -m / h^2 + g / (2 c), d/dm = 1 / h
    np.testing.assert_allclose(du[0], -u2[1] / h**2 + g / (2 * c), rtol=1e-9)
    np.testing.assert_allclose(du[1], 1 / h, rtol=1e-9)
    np.testing.assert_allclose(du[2], 0.0, atol=1e-9)
    grad_b = jax.jit(jax.grad(lambda b: jnp.sum(speeds(Burgers2D(), b, 0)[1])))(b)
    assert np.all(np.isfinite(grad_b))
    # d max(u, u / 2) / du: 1 for u > 0, 1/2 for u < 0, and at the kink u = 0
    # (a double root) the derivative of the cluster's mean, 3/4
    kink = np.where(b[0] > 0, 1.0, np.where(b[0] < 0, 0.5, 0.75))
    np.testing.assert_allclose(grad_b[0], kink, atol=1e-12)


def test_gradient_wrt_gravity_matches_finite_differences():
    grid = Grid(16)
    (x,) = grid.mesh()
    fields = jnp.stack([1.0 + 0.3 * jnp.exp(-40.0 * (x - 0.5) ** 2), 0.1 + 0.0 * x])

    @jax.jit
    def loss(gravity):
        fv = FiniteVolume(
            grid,
            WENO5Z(),
            HLL(),
            boundary=[(ReflectingWall(), Outflow())],
        )
        op = discretize(ShallowWater(gravity), fv)
        y = ds.solve(op, ds.SSPRK3(), fields, dt=0.004, num_steps=15).ys[-1]
        return jnp.sum(y[0] ** 2 * x) + jnp.sum(y[1] * x)

    grad = jax.jit(jax.grad(loss))(9.81)
    eps = 1e-4
    fd = (loss(9.81 + eps) - loss(9.81 - eps)) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    assert abs(float(grad)) > 1e-4


def test_fused_and_plain_gradients_agree_2d():
    """The chunked, hinted tangent (`fused_derivatives=True`) equals plain
    autodiff to round-off, on a 2D grid (chunks across the other axis)."""
    grid = Grid((12, 8))
    x, y = grid.mesh()
    fields = jnp.stack(
        [0.5 + 0.2 * jnp.sin(2 * jnp.pi * x), 0.3 * jnp.cos(2 * jnp.pi * y)]
    )
    weights = jnp.asarray(np.random.default_rng(3).normal(size=(2, 12, 8)))

    def gradient(fused):
        fv = FiniteVolume(
            grid,
            MUSCL("van_leer"),
            Rusanov(),
            boundary=[Periodic(), Outflow()],
            fused_derivatives=fused,
        )
        op = discretize(Burgers2D(), fv)

        def loss(u):
            return jnp.sum(weights * op(u, 0.0) ** 2)

        return jax.jit(jax.grad(loss))(fields)

    fused, plain = gradient(True), gradient(False)
    np.testing.assert_allclose(fused, plain, rtol=1e-11, atol=1e-11)
    assert float(jnp.max(jnp.abs(plain))) > 1e-2


def test_stable_dt():
    grid = Grid(32, upper=2.0)
    h = grid.spacing[0]
    u = jnp.asarray(np.linspace(-1.5, 0.5, 32))[None]
    op = fv_operator(Advection(-3.0), FiniteVolume(grid))
    np.testing.assert_allclose(op.stable_dt(u, 0.4), 0.4 * h / 3.0, rtol=1e-14)
    # 2D: cfl / max sum_d |speed_d| / h_d
    grid2 = Grid((16, 8), upper=(1.0, 2.0))
    op2 = fv_operator(Advection(jnp.asarray([1.0, -2.0])), FiniteVolume(grid2))
    np.testing.assert_allclose(
        op2.stable_dt(jnp.zeros((1, 16, 8)), 0.5),
        0.5 / (1 / grid2.spacing[0] + 2 / grid2.spacing[1]),
        rtol=1e-14,
    )
    # diffusion: cfl / (rho / 2) with rho the largest symbol magnitude, 4 D / h^2
    # (order 2) and 16 D / (3 h^2) (order 4)
    for order, rho in ((2, 4.0), (4, 16.0 / 3.0)):
        op = fv_operator(Heat(0.3), FiniteVolume(grid, calculus_order=order))
        np.testing.assert_allclose(
            op.stable_dt(u, 0.5), 0.5 / (0.5 * rho * 0.3 / h**2), rtol=1e-12
        )
    # with Dirichlet walls the extrapolated ghosts enlarge the spectral
    # radius: the bound is that of the operator's matrix
    for order in (2, 4):
        fv = FiniteVolume(
            Grid(24), FirstOrder(), boundary=Dirichlet(1.0), calculus_order=order
        )
        op = fv_operator(Heat(0.3), fv)
        matrix = jax.jacfwd(lambda v: op(v, 0.0))(jnp.zeros((1, 24)))
        rho = np.max(np.abs(np.linalg.eigvals(np.asarray(matrix).reshape(24, 24))))
        assert rho > 1.7 * (4.0 if order == 2 else 16.0 / 3.0) * 0.3 * 24**2
        np.testing.assert_allclose(
            op.stable_dt(jnp.zeros((1, 24)), 0.5), 1.0 / rho, rtol=1e-10
        )
    # CFL-driven solve (diffsim.solve_cfl) reaches t1 exactly
    op = fv_operator(Advection(1.0), FiniteVolume(Grid(20), MUSCL()))
    sol = ds.solve_cfl(
        op,
        ds.SSPRK3(),
        jnp.asarray(sine_averages(Grid(20))),
        t1=0.3,
        cfl=0.5,
        max_steps=100,
    )
    assert float(sol.ts[-1]) == pytest.approx(0.3)
    assert int(sol.num_steps) == 12  # dt = 0.5 h / max|speed| = 0.025


def test_jit_vmap_grad_of_the_operator():
    op = discretize(Burgers2D(), FiniteVolume(Grid((8, 8)), MUSCL(), Rusanov()))
    states = jnp.asarray(np.random.default_rng(1).normal(size=(3, 2, 8, 8)))
    batched = jax.jit(jax.vmap(lambda s: op(s, 0.0)))(states)
    np.testing.assert_allclose(batched[1], op(states[1], 0.0), atol=1e-14)
    # for v > 0 the upwinded advection right-hand side is v times that of
    # v = 1 (WENO weights do not depend on v), so d/dv sum(w rhs) = sum(w rhs_1)
    grid = Grid(16)
    u = jnp.asarray(sine_averages(grid)) ** 3
    w = jnp.asarray(np.random.default_rng(2).normal(size=(1, 16)))

    @jax.jit
    @jax.grad
    def dloss(v):
        op1 = discretize(Advection(v), FiniteVolume(grid, WENO5Z(), HLL()))
        return jnp.sum(w * op1(u, 0.0))

    unit = discretize(Advection(1.0), FiniteVolume(grid, WENO5Z(), HLL()))
    np.testing.assert_allclose(dloss(2.0), jnp.sum(w * unit(u, 0.0)), rtol=1e-12)


@pytest.mark.parametrize("order", [2, 4])
def test_neumann_walls_exact_on_quadratics(order):
    """`u = x^2 + 2 D t` solves `u_t = D u_xx` with `du/dn = 0` at x = 0 and
    `du/dn = 2` at x = 1: the ghost extrapolation reproduces polynomials of
    degree <= 3 and central differences of averages are exact for them, so
    the rate is `2 D` in every cell, and the total is the wall flux `D * 2`."""
    grid = Grid(20)
    x, h = grid.coordinates[0], grid.spacing[0]
    u = jnp.asarray((x * x + h * h / 12.0)[None])
    fv = FiniteVolume(
        grid,
        FirstOrder(),
        boundary=[(Neumann(0.0), Neumann(2.0))],
        calculus_order=order,
    )
    rate = discretize(Heat(0.7), fv)(u, 0.0)
    np.testing.assert_allclose(rate, 1.4, rtol=1e-10)
    np.testing.assert_allclose(float(jnp.sum(rate)) * h, 0.7 * 2.0, rtol=1e-10)


def test_refusals():
    grid = Grid(16)
    with pytest.raises(
        ValueError,
        match=r"Dispersive needs finite volumes of order >= 3; MUSCL is of order 2\. "
        r"Valid reconstructions: WENO5JS\(\), WENO5Z\(\)",
    ):
        discretize(Dispersive(), FiniteVolume(grid, MUSCL()))
    discretize(Dispersive(), FiniteVolume(grid, WENO5Z()))
    with pytest.raises(
        ValueError,
        match=r"FiniteVolume: HLLC needs the eigenstructure of the Euler equations "
        r"\(use operators\.Euler\); for a generic flux the choices are Rusanov\(\) and "
        r"HLL\(\)",
    ):
        FiniteVolume(grid, riemann=HLLC())
    with pytest.raises(
        ValueError,
        match=r"FiniteVolume: a ReflectingWall needs Advection\.reflect\(u, axis\)",
    ):
        discretize(Advection(), FiniteVolume(grid, boundary=ReflectingWall()))
    with pytest.raises(
        TypeError,
        match=r"Inflow\(density, velocity, pressure\) is Euler's; for any physics use "
        r"InflowState\(values\)",
    ):
        FiniteVolume(grid, boundary=Inflow(1.0, 0.0, 1.0))
    with pytest.raises(
        ValueError,
        match=r"FiniteVolume: InflowState on axis 0 has 3 values; ShallowWater has 2 "
        r"fields \(height, velocity_x\)",
    ):
        discretize(
            ShallowWater(), FiniteVolume(grid, boundary=InflowState([1.0, 0.5, 0.0]))
        )
    with pytest.raises(
        ValueError, match=r"FiniteVolume: axis 0 is periodic on one side only"
    ):
        FiniteVolume(grid, boundary=[(Periodic(), Outflow())])
    with pytest.raises(
        ValueError, match=r"calculus_order must be one of \(2, 4\), got 6"
    ):
        FiniteVolume(grid, calculus_order=6)

    class ThirdDerivative(AbstractPhysics):
        def field_names(self, ndim):
            return ("u",)

        def linear(self, u, d):
            return d.derivative(u, 0, 3)

    op = discretize(ThirdDerivative(), FiniteVolume(grid, WENO5Z(), boundary=Outflow()))
    with pytest.raises(
        ValueError, match=r"a derivative of order 3 along the non-periodic axis 0"
    ):
        op(jnp.zeros((1, 16)), 0.0)
    assert isinstance(op, FiniteVolumePDE)
