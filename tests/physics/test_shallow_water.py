"""Shallow water written once: the physics (fluxes, speeds, reflection), the
exact wet-bed Riemann solution (Stoker's dam break), a smooth periodic flow
pseudo-spectrally, and the dam break on finite volumes against Stoker."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim
from diffsim.operators import FourierSpectral, Grid
from diffsim.operators.physics import discretize
from diffsim.operators.physics.shallow_water import (
    ShallowWater,
    solve_shallow_water_riemann,
)

G = 9.81


def _state(ndim, key=0):
    rng = np.random.default_rng(key)
    h = 1.0 + 0.5 * rng.random((5,) * ndim)
    v = rng.standard_normal((ndim,) + (5,) * ndim)
    return jnp.asarray(np.concatenate([h[None], v]))


@pytest.mark.parametrize("ndim", [1, 2])
def test_fields_encode_decode_flux(ndim):
    sw = ShallowWater(gravity=G)
    assert sw.field_names(ndim) == ("height", "velocity_x", "velocity_y")[: ndim + 1]
    fields = _state(ndim)
    u = sw.encode(fields)
    np.testing.assert_allclose(u[1:], fields[0][None] * fields[1:], rtol=1e-15)
    np.testing.assert_allclose(sw.decode(u), fields, rtol=1e-14)
    h, v = fields[0], fields[1:]
    for axis in range(ndim):
        f = sw.flux(u, axis)
        np.testing.assert_allclose(f[0], h * v[axis], rtol=1e-14)
        for b in range(ndim):
            expected = h * v[b] * v[axis] + (0.5 * G * h * h if b == axis else 0.0)
            np.testing.assert_allclose(f[1 + b], expected, rtol=1e-14)


@pytest.mark.parametrize("ndim", [1, 2])
def test_closed_form_wave_speeds_are_the_flux_jacobian_eigenvalues(ndim):
    from diffsim.operators.physics import AbstractPhysics

    sw = ShallowWater(gravity=G)
    u = sw.encode(_state(ndim, 1))
    for axis in range(ndim):
        lo, hi = sw.wave_speeds(u, axis)
        lo_ad, hi_ad = AbstractPhysics.wave_speeds(sw, u, axis)
        np.testing.assert_allclose(lo, lo_ad, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(hi, hi_ad, rtol=1e-12, atol=1e-12)


def test_reflect_flips_normal_momentum_only():
    sw = ShallowWater()
    u = sw.encode(_state(2, 2))
    for axis in range(2):
        r = sw.reflect(u, axis)
        np.testing.assert_array_equal(r[1 + axis], -u[1 + axis])
        others = [c for c in range(3) if c != 1 + axis]
        np.testing.assert_array_equal(r[np.array(others)], u[np.array(others)])
        # the normal mass flux of the mirror state is reversed: none through a wall
        np.testing.assert_allclose(sw.flux(r, axis)[0], -sw.flux(u, axis)[0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="gravity must be a scalar"):
        ShallowWater(gravity=[1.0, 2.0])
    with pytest.raises(ValueError, match="1D or 2D only"):
        ShallowWater().field_names(3)
    with pytest.raises(ValueError, match="dry region"):
        solve_shallow_water_riemann((1.0, -10.0), (1.0, 10.0), G)
    with pytest.raises(ValueError, match="depths must be > 0"):
        solve_shallow_water_riemann((1.0, 0.0), (0.0, 0.0), G)


# ------------------------------------------------------------ exact Riemann solution


def _rankine_hugoniot(h0, u0, h1, u1, s):
    """Residuals of mass and momentum conservation across a jump of speed s."""
    mass = s * (h1 - h0) - (h1 * u1 - h0 * u0)
    momentum = s * (h1 * u1 - h0 * u0) - (
        h1 * u1**2 + 0.5 * G * h1**2 - h0 * u0**2 - 0.5 * G * h0**2
    )
    return mass, momentum


def test_stoker_dam_break_middle_state():
    """Wet-bed dam break: left rarefaction (Riemann invariant u + 2c constant
    through it), right shock (Rankine-Hugoniot), to round-off."""
    sol = solve_shallow_water_riemann((1.0, 0.0), (0.1, 0.0), G)
    assert not sol.left_shock and sol.right_shock
    hs, us = sol.height_star, sol.velocity_star
    # Riemann invariant of the left rarefaction
    np.testing.assert_allclose(us + 2 * np.sqrt(G * hs), 2 * np.sqrt(G), rtol=1e-14)
    s = hs * us / (hs - 0.1)  # shock speed from mass conservation
    _, momentum = _rankine_hugoniot(0.1, 0.0, hs, us, s)
    assert abs(momentum) < 1e-13
    # the sampled solution: fan ends continuous, the shock where mass says
    eps = 1e-9
    tail = us - np.sqrt(G * hs)
    h, u = sol.sample(np.array([-np.sqrt(G) - eps, tail - eps, tail + eps]))
    np.testing.assert_allclose(h, [1.0, hs, hs], rtol=1e-7)
    np.testing.assert_allclose(u[1:], [us, us], rtol=1e-7)
    h, u = sol.sample(np.array([s - eps, s + eps]))
    np.testing.assert_allclose(h, [hs, 0.1], rtol=1e-14)


@pytest.mark.parametrize(
    "left, right, shocks",
    [
        ((1.0, 2.0), (1.0, -2.0), (True, True)),  # colliding streams
        ((1.0, -1.0), (1.0, 1.0), (False, False)),  # receding streams
        ((0.2, 0.0), (1.0, 0.0), (True, False)),  # dam break to the left
    ],
)
def test_riemann_wave_configurations(left, right, shocks):
    sol = solve_shallow_water_riemann(left, right, G)
    assert (sol.left_shock, sol.right_shock) == shocks
    hs, us = sol.height_star, sol.velocity_star
    for (hk, uk), shock, sign in (
        (left, sol.left_shock, -1),
        (right, sol.right_shock, 1),
    ):
        if shock:
            s = (hs * us - hk * uk) / (hs - hk)
            assert all(abs(r) < 1e-12 for r in _rankine_hugoniot(hk, uk, hs, us, s))
        else:  # Riemann invariant u -+ 2c across the rarefaction
            np.testing.assert_allclose(
                us + sign * -2 * np.sqrt(G * hs),
                uk + sign * -2 * np.sqrt(G * hk),
                rtol=1e-13,
            )


def test_cell_averages_conserve_mass_and_momentum():
    """Outflow-free window: total mass is unchanged, momentum grows by the
    pressure force `g (h_L^2 - h_R^2) / 2` per unit time."""
    sol = solve_shallow_water_riemann((1.0, 0.0), (0.1, 0.0), G)
    edges = np.linspace(0.0, 1.0, 401)
    t = 0.1
    h, hu = sol.cell_averages(edges, t, 0.5, samples=256)
    dx = edges[1] - edges[0]
    # the midpoint rule is off by up to jump * dx / samples in the shock's cell
    bound = 0.3 * dx / 256
    assert abs(h.sum() * dx - 0.55) < bound
    assert abs(hu.sum() * dx - 0.5 * G * (1.0 - 0.01) * t) < 2 * bound


# ------------------------------------------------------------ smooth flow, Fourier


def _standing_wave(n, eps, t_end, dt=2e-3, gravity=1.0):
    grid = Grid([n], [0.0], [2 * np.pi])
    op = discretize(ShallowWater(gravity=gravity), FourierSpectral(grid))
    (x,) = grid.mesh()
    fields = jnp.stack([1 + eps * jnp.cos(x) + 0.5 * eps * jnp.sin(2 * x), 0 * x])
    steps = int(round(t_end / dt))
    return grid, diffsim.solve(op, diffsim.RK4(), fields, dt=dt, num_steps=steps).ys[-1]


def _low_modes(y, kmax):
    """Fourier coefficients 0..kmax-1 of cell-centred samples, referred to x = 0
    (comparable across resolutions)."""
    n = y.shape[-1]
    c = np.fft.rfft(np.asarray(y), axis=-1) / n
    k = np.arange(c.shape[-1])
    return (c * np.exp(-1j * k * np.pi / n)[None])[..., :kmax]


def test_fourier_smooth_flow_converges_spectrally():
    """A finite-amplitude smooth wave (before it steepens into a bore): the
    low modes converge spectrally towards a fine reference."""
    ref = _low_modes(_standing_wave(96, 0.1, 1.0)[1], 4)
    errors = [
        np.abs(_low_modes(_standing_wave(n, 0.1, 1.0)[1], 4) - ref).max()
        for n in (12, 16, 32)
    ]
    assert errors[0] > 1e-6  # resolution matters at all
    assert errors[1] < errors[0] / 100
    assert errors[2] < 1e-10


def test_fourier_small_amplitude_wave_obeys_linear_dispersion():
    """`h = H + eps cos(k x) cos(sqrt(g H) k t)` is the linear solution; the
    nonlinear run differs by O(eps^2) (so halving eps quarters the error),
    which it would not with a wrong wave speed."""
    t_end, g = 2.0, 2.0
    errors = []
    for eps in (1e-2, 5e-3):
        grid, y = _standing_wave(32, eps, t_end, gravity=g)
        (x,) = grid.coordinates
        c = np.sqrt(g)
        h = (
            1
            + eps * np.cos(x) * np.cos(c * t_end)
            + 0.5 * eps * np.sin(2 * x) * np.cos(2 * c * t_end)
        )
        errors.append(np.abs(np.asarray(y[0]) - h).max())
    assert errors[0] < 0.05 * 1e-2  # within 5 % of the amplitude
    np.testing.assert_allclose(errors[0] / errors[1], 4.0, rtol=0.1)


def test_at_rest_stays_at_rest_fourier():
    grid = Grid([32], [0.0], [2 * np.pi])
    op = discretize(ShallowWater(), FourierSpectral(grid))
    fields = jnp.stack([jnp.full(32, 1.3), jnp.zeros(32)])
    ys = diffsim.solve(op, diffsim.RK4(), fields, dt=1e-2, num_steps=50).ys[-1]
    np.testing.assert_allclose(ys, fields, atol=1e-14)


def test_gradient_wrt_gravity_fourier():
    grid = Grid([16], [0.0], [2 * np.pi])
    (x,) = grid.mesh()
    fields = jnp.stack([1 + 0.1 * jnp.cos(x), 0.05 * jnp.sin(x)])

    def loss(g):
        op = discretize(ShallowWater(gravity=g), FourierSpectral(grid))
        y = diffsim.solve(op, diffsim.RK4(), fields, dt=0.01, num_steps=50).ys[-1]
        return jnp.sum(y[1] ** 2)

    g0, step = 1.5, 1e-5
    ad = jax.grad(loss)(g0)
    fd = (loss(g0 + step) - loss(g0 - step)) / (2 * step)
    np.testing.assert_allclose(ad, fd, rtol=1e-7)
    assert abs(ad) > 1e-3
