"""The stiffened-gas EOS through every Euler path, and its exact Riemann solver.

The central check is an identity: with `P = p + p_inf` the stiffened-gas
Euler equations are the ideal-gas ones in `(rho, u, P)` (the total energy
differs by the constant `p_inf`). Every right-hand side of the scheme must
therefore equal, to round-off, the ideal-gas one on the shifted pressure:
reconstructions (primitive and characteristic), every Riemann solver (Roe
averages and the Harten-Hyman star speeds included), the positivity limiter
and the high-order average correction."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.operators import Grid
from diffsim.operators.finite_volume import (
    HLL,
    HLLC,
    WENO5JS,
    WENO5Z,
    Euler,
    IdealGas,
    NeuralFlux,
    Outflow,
    Periodic,
    ReflectingWall,
    Roe,
    Rusanov,
    StiffenedGas,
    cell_averages,
    conservative_to_primitive,
    primitive_to_conservative,
    solve_riemann,
)

GAMMA, P_INF = 4.4, 6e8  # water (Saurel & Abgrall 1999)
LEFT, RIGHT = (1000.0, 0.0, 1e9), (1000.0, 0.0, 1e5)


def test_parameters_are_checked():
    with pytest.raises(
        ValueError, match=r"StiffenedGas: p_inf must be >= 0 and finite, got -1.0"
    ):
        StiffenedGas(4.4, -1.0)
    with pytest.raises(
        ValueError, match=r"StiffenedGas: gamma must be > 1 and finite, got 1.0"
    ):
        StiffenedGas(1.0, 1.0)
    with pytest.raises(ValueError, match=r"StiffenedGas: p_inf must be a scalar"):
        StiffenedGas(4.4, jnp.ones(2))


def test_state_conversions_and_sound_speed():
    eos = StiffenedGas(GAMMA, P_INF)
    w = jnp.asarray([[1000.0, 1100.0], [3.0, -200.0], [1e5, -5e7]])  # tension too
    u = primitive_to_conservative(w, eos)
    rho_e = (w[2] + 4.4 * 6e8) / 3.4
    np.testing.assert_allclose(u[2], rho_e + 0.5 * w[0] * w[1] ** 2, rtol=1e-15)
    np.testing.assert_allclose(conservative_to_primitive(u, eos), w, rtol=1e-9)
    np.testing.assert_allclose(eos.pressure(u), w[2], rtol=1e-9)
    np.testing.assert_allclose(
        eos.sound_speed(w[0], w[2]), np.sqrt(4.4 * (w[2] + 6e8) / w[0]), rtol=1e-15
    )
    op = Euler(Grid((2,)), eos=eos)
    assert op.positive_quantities == ("density", "pressure + p_inf")
    np.testing.assert_allclose(op.positive_values(w), [w[0], w[2] + 6e8])
    assert Euler(Grid((2,))).positive_quantities == ("density", "pressure")


def _fields_2d():
    x, y = np.meshgrid(
        (np.arange(24) + 0.5) / 24, (np.arange(20) + 0.5) / 20, indexing="ij"
    )
    rho = 1.0 + 0.5 * (x > 0.5) + 0.1 * np.sin(6 * y)
    return np.stack(
        [rho, 0.3 * np.cos(5 * y), -0.2 + 0.1 * x, 0.2 + 0.9 * (y > 0.4) - 0.5 * x]
    )


@pytest.mark.parametrize(
    "riemann", [HLLC(), HLLC(wave_speeds="davis"), HLL(), Roe(), Rusanov()]
)
@pytest.mark.parametrize(
    "variables, positivity", [("characteristic", False), ("primitive", True)]
)
def test_rhs_is_the_ideal_gas_one_on_the_shifted_pressure(
    riemann, variables, positivity
):
    """Pressures down to -0.3 (tension) with p_inf = 3, transonic flow and a
    wall: the stiffened right-hand side equals the ideal-gas one on
    `p + p_inf`, with and without the average correction."""
    grid = Grid(cells=[24, 20], lower=[0.0, 0.0], upper=[1.0, 1.0])
    w = _fields_2d()
    w[1] = w[1] + 2.0 * (w[0] - 1.0)  # sonic points (|u| ~ c somewhere)
    p_inf = 3.0
    shifted = w.copy()
    shifted[-1] = w[-1] + p_inf
    for correction in (True, False):
        kw: dict[str, Any] = dict(
            reconstruction=WENO5Z(),
            riemann=riemann,
            boundaries=((Outflow(), ReflectingWall()), Periodic()),
            variables=variables,
            positivity=positivity,
            average_correction=correction,
        )
        stiff = Euler(grid, StiffenedGas(1.4, p_inf), **kw)
        ideal = Euler(grid, IdealGas(1.4), **kw)
        rs = stiff(stiff.encode(jnp.asarray(w)))
        ri = ideal(ideal.encode(jnp.asarray(shifted)))
        scale = jnp.max(jnp.abs(ri), axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(rs / scale, ri / scale, atol=1e-12, rtol=0)
        np.testing.assert_allclose(
            stiff.stable_dt(stiff.encode(jnp.asarray(w))),
            ideal.stable_dt(ideal.encode(jnp.asarray(shifted))),
            rtol=1e-14,
        )


@pytest.mark.parametrize("riemann", [Roe(), HLLC(), HLL()])
def test_isolated_water_shock_gets_the_exact_flux(riemann):
    """Across the right-moving shock of the water shock tube (states from the
    exact solver), Roe and HLL/HLLC with Einfeldt speeds return the upwind
    physical flux exactly: Roe averages are exact for stiffened-gas shocks."""
    sol = solve_riemann(LEFT, RIGHT, GAMMA, p_inf=P_INF)
    rho_star = sol.sample(np.asarray([sol.u_star + 1e-9]))[0][0]
    behind = (rho_star, sol.u_star, sol.p_star)
    eos = StiffenedGas(GAMMA, P_INF)
    left = jnp.asarray(behind)[:, None]
    right = jnp.asarray(RIGHT)[:, None]
    flux = riemann.flux(left, right, eos, 0)[:, 0]
    rho, u, p = behind
    energy = (p + 4.4 * 6e8) / 3.4 + 0.5 * rho * u * u
    exact = np.asarray([rho * u, rho * u * u + p, u * (energy + p)])
    np.testing.assert_allclose(flux, exact, rtol=1e-10)


def test_exact_solver_rankine_hugoniot_and_riemann_invariants():
    """Right shock: mass, momentum and energy fluxes in the shock frame agree
    on both sides; left rarefaction: `(p + p_inf) / rho^gamma` and
    `u + 2 c / (gamma - 1)` are constant through the fan and the star state."""
    g, p_inf = GAMMA, P_INF
    sol = solve_riemann(LEFT, RIGHT, GAMMA, p_inf=P_INF)
    assert sol.p_star == pytest.approx(455760177.3095654, rel=1e-12)
    # the solution is the ideal gas' one in p + p_inf
    ideal = solve_riemann((1000.0, 0.0, 1e9 + p_inf), (1000.0, 0.0, 1e5 + p_inf), g)
    assert sol.p_star + p_inf == pytest.approx(ideal.p_star, rel=1e-14)
    assert sol.u_star == pytest.approx(ideal.u_star, rel=1e-14)
    xi = np.linspace(-4000.0, 3000.0, 70001)
    rho, u, p = sol.sample(xi)
    # the shock: the first sample past the star region's right end
    jump = np.flatnonzero((xi > sol.u_star) & (rho == RIGHT[0]))[0]
    speed = xi[jump]
    rs, us, ps = rho[jump - 1], u[jump - 1], p[jump - 1]
    assert rs > RIGHT[0] and ps == pytest.approx(sol.p_star, rel=1e-14)
    # shock speed from mass conservation, then the other two conditions exactly
    s = (rs * us - RIGHT[0] * RIGHT[1]) / (rs - RIGHT[0])
    assert abs(s - speed) < 0.2  # the sampling grid's spacing
    e = lambda r, v, q: (q + g * p_inf) / (g - 1) + 0.5 * r * v * v  # noqa: E731
    for a, b in (
        (rs * (us - s), RIGHT[0] * (RIGHT[1] - s)),
        (rs * us * (us - s) + ps, RIGHT[0] * RIGHT[1] * (RIGHT[1] - s) + RIGHT[2]),
        (
            e(rs, us, ps) * (us - s) + ps * us,
            e(*RIGHT) * (RIGHT[1] - s) + RIGHT[2] * RIGHT[1],
        ),
    ):
        assert abs(a - b) <= 1e-10 * max(abs(a), abs(b), ps * 1e-3)
    # the left rarefaction and the left star state
    fan = (xi < sol.u_star) & (rho < LEFT[0])
    entropy = (p[fan] + p_inf) / rho[fan] ** g
    c = np.sqrt(g * (p[fan] + p_inf) / rho[fan])
    invariant = u[fan] + 2 * c / (g - 1)
    c_left = np.sqrt(g * (LEFT[2] + p_inf) / LEFT[0])
    np.testing.assert_allclose(entropy, (LEFT[2] + p_inf) / LEFT[0] ** g, rtol=1e-10)
    np.testing.assert_allclose(invariant, 2 * c_left / (g - 1), rtol=1e-10)


def test_exact_solver_ideal_gas_unchanged_and_cell_averages_consistent():
    sod = solve_riemann((1.0, 0.0, 1.0), (0.125, 0.0, 0.1), 1.4)
    assert sod.p_inf == 0.0
    assert sod.p_star == pytest.approx(0.30313, abs=1e-5)  # Toro table 4.2
    sol = solve_riemann(LEFT, RIGHT, GAMMA, p_inf=P_INF)
    edges = np.linspace(0.0, 1.0, 41)
    rho, u, p = cell_averages(sol, edges, 0.0, 0.5)
    np.testing.assert_allclose(p, np.where(edges[:-1] < 0.5, 1e9, 1e5), rtol=1e-9)
    with pytest.raises(ValueError, match="pressure \\+ p_inf"):
        solve_riemann((1.0, 0.0, -7e8), RIGHT, GAMMA, p_inf=P_INF)


@pytest.mark.parametrize(
    "riemann, variables",
    [(Roe(), "characteristic"), (HLLC(), "characteristic"), (HLL(), "primitive")],
)
def test_water_shock_tube_runs_without_nan(riemann, variables):
    n, t_end = 100, 1.5e-4
    grid = Grid(cells=[n], lower=[0.0], upper=[1.0])
    op = Euler(
        grid,
        StiffenedGas(GAMMA, P_INF),
        WENO5Z(),
        riemann,
        boundaries=Outflow(),
        variables=variables,
    )
    sol = solve_riemann(LEFT, RIGHT, GAMMA, p_inf=P_INF)
    edges = np.linspace(0.0, 1.0, n + 1)
    w0 = jnp.asarray(np.stack(cell_averages(sol, edges, 0.0, 0.5)))
    steps = int(np.ceil(t_end / float(op.stable_dt(op.encode(w0), 0.5))))
    out = ds.solve(op, ds.SSPRK3(), w0, dt=t_end / steps, num_steps=steps)
    w = np.asarray(out.ys[-1])
    assert np.isfinite(w).all()
    exact = cell_averages(sol, edges, t_end, 0.5)[0]
    assert np.mean(np.abs(w[0] - exact)) < 3.0  # kg/m^3; HLLC: 1.63


def test_gradient_with_respect_to_p_inf_matches_finite_differences():
    """A smooth subsonic pulse in a nondimensional stiffened gas (p ~ 1,
    p_inf = 3), WENO5-JS + Roe in characteristic variables (smooth in the
    data, see test_gradients.py): d loss / d p_inf by reverse mode through
    the encode, the rollout and the decode, against central differences."""
    grid = Grid((16,))
    x = grid.mesh()[0]
    bump = jnp.exp(jnp.cos(2 * np.pi * (x - 0.137)) - 1.0)
    y0 = jnp.stack([1.0 + 0.05 * bump, 0.3 + 0.0 * x, 1.0 + 0.2 * bump])
    weights = jax.random.normal(jax.random.PRNGKey(3), y0.shape)

    def loss(p_inf):
        op = Euler(
            grid, StiffenedGas(4.4, p_inf), WENO5JS(), Roe(), variables="characteristic"
        )
        out = ds.solve(op, ds.SSPRK3(), y0, dt=0.004, num_steps=6)
        return jnp.sum(weights * out.ys[-1] ** 2)

    p_inf, eps = jnp.asarray(3.0), 1e-5
    f = jax.jit(loss)
    fd = (f(p_inf + eps) - f(p_inf - eps)) / (2 * eps)
    grad = jax.jit(jax.grad(loss))(p_inf)
    assert abs(float(fd)) > 1e-3
    np.testing.assert_allclose(grad, fd, rtol=1e-6)


def test_neural_flux_refuses_a_stiffened_gas():
    """Its features and energies are the ideal gas'; refused, not wrong."""
    base = Euler(Grid((8,)), StiffenedGas(GAMMA, P_INF))
    with pytest.raises(TypeError, match="NeuralFlux: base.eos must be an IdealGas"):
        NeuralFlux(base, key=jax.random.PRNGKey(0))
