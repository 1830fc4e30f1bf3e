"""The flux-form second derivative d/dx (a du/dx) added to the discretization
interface: formal order (FD), spectral accuracy (Fourier), Fourier symbols,
face interpolation, and the grid-scale mode that collocated forms lose."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim.operators import FiniteDifference, FourierSpectral, Grid

L = 2 * np.pi


def fields(n):
    """A non-square grid on a shifted domain, smooth complex u, variable complex a."""
    grid = Grid((n, n + 4), (0.0, -1.0), (L, L - 1.0))
    X, Y = np.meshgrid(*grid.coordinates, indexing="ij")
    u = (1 + 2j) * np.exp(np.sin(X)) * np.cos(Y)
    a = (1 - 0.5j) * (1.5 + np.cos(X + 0.3) * np.sin(Y))
    ux = np.cos(X) * u
    uxx = (np.cos(X) ** 2 - np.sin(X)) * u
    ax = -(1 - 0.5j) * np.sin(X + 0.3) * np.sin(Y)
    exact_x = ax * ux + a * uxx
    uy = -(1 + 2j) * np.exp(np.sin(X)) * np.sin(Y)
    uyy = -u
    ay = (1 - 0.5j) * np.cos(X + 0.3) * np.cos(Y)
    exact_y = ay * uy + a * uyy
    return grid, u, a, (exact_x, exact_y)


@pytest.mark.parametrize("order, axis", [(2, 0), (4, 1), (6, 0), (8, 1)])
def test_finite_difference_order(order, axis):
    hs, errors = [], []
    for n in (32, 48, 64) if order == 8 else (32, 64, 128):
        grid, u, a, exact = fields(n)
        disc = FiniteDifference(grid, order)
        out = jax.jit(lambda u, a: disc.derivative_of_scaled_derivative(u, a, axis))(
            jnp.asarray(u), jnp.asarray(a)
        )
        hs.append(grid.spacing[axis])
        errors.append(np.max(np.abs(np.asarray(out) - exact[axis])))
    slope = np.polyfit(np.log(hs), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.3, (order, slope, errors)


@pytest.mark.parametrize("axis", [0, 1])
def test_fourier_is_spectrally_accurate(axis):
    grid, u, a, exact = fields(48)
    out = FourierSpectral(grid).derivative_of_scaled_derivative(
        jnp.asarray(u), jnp.asarray(a), axis
    )
    np.testing.assert_allclose(
        np.asarray(out), exact[axis], atol=1e-9 * np.abs(exact[axis]).max()
    )


@pytest.mark.parametrize(
    "make",
    [
        FourierSpectral,
        lambda g: FiniteDifference(g, 2),
        lambda g: FiniteDifference(g, 6),
    ],
    ids=["fourier", "fd2", "fd6"],
)
@pytest.mark.parametrize("complex_input", [False, True])
def test_symbol_matches_operator(make, complex_input):
    grid = Grid((12, 9), (0.0, 0.0), (1.0, 2.5))
    disc = make(grid)
    rng = np.random.default_rng(0)
    u = rng.normal(size=grid.cells) + (
        1j * rng.normal(size=grid.cells) if complex_input else 0
    )
    for axis in range(2):
        out = disc.derivative_of_scaled_derivative(jnp.asarray(u), 1.0, axis)
        assert jnp.iscomplexobj(out) == complex_input
        ref = np.fft.ifftn(
            np.fft.fftn(u) * disc.derivative_of_scaled_derivative_symbol(axis)
        )
        np.testing.assert_allclose(
            np.asarray(out),
            ref if complex_input else ref.real,
            atol=1e-11 * np.abs(ref).max(),
        )


@pytest.mark.parametrize(
    "make", [FourierSpectral, lambda g: FiniteDifference(g, 4)], ids=["fourier", "fd4"]
)
def test_grid_scale_mode_is_not_lost(make):
    """The checkerboard (Nyquist) mode is in the null space of the collocated
    D(D u) but not of the flux form: Fourier gives exactly -k_N^2."""
    grid = Grid((16, 8))
    disc = make(grid)
    u = jnp.asarray(np.cos(np.pi * np.arange(16))[:, None] * np.ones((1, 8)))
    collocated = disc.derivative(disc.derivative(u, 0), 0)
    flux = disc.derivative_of_scaled_derivative(u, 1.0, 0)
    assert float(jnp.max(jnp.abs(collocated))) < 1e-9
    k_n = np.pi / grid.spacing[0]
    expected = (
        -(k_n**2)
        if isinstance(disc, FourierSpectral)
        else -(((2 / grid.spacing[0]) * (9 / 8 + 1 / 24)) ** 2)
    )
    np.testing.assert_allclose(np.asarray(flux), expected * np.asarray(u), rtol=1e-12)


@pytest.mark.parametrize("order", [2, 4, 8])
def test_face_interpolation(order):
    """Exact for polynomials of degree < order (1D profile broadcast over the grid)."""
    grid = Grid((40, 3), (0.0, 0.0), (1.0, 1.0))
    x = grid.coordinates[0]
    faces = x + grid.spacing[0] / 2
    disc = FiniteDifference(grid, order)
    lo, hi = order - 1, len(x) - order  # away from the periodic wrap
    poly = np.polynomial.Polynomial(np.arange(1, order + 1) / order)
    out = np.asarray(disc.interpolate_to_faces(jnp.asarray(poly(x)[:, None]), 0))
    np.testing.assert_allclose(out[lo:hi, 0], poly(faces)[lo:hi], rtol=1e-11)
    assert disc.interpolate_to_faces(2.0, 0) == 2.0  # scalars pass through
    # Fourier: exact for band-limited fields
    f = np.sin(2 * np.pi * 3 * x) + 0.5 * np.cos(2 * np.pi * 5 * x)
    ff = np.sin(2 * np.pi * 3 * faces) + 0.5 * np.cos(2 * np.pi * 5 * faces)
    out = np.asarray(
        FourierSpectral(grid).interpolate_to_faces(
            jnp.asarray(np.broadcast_to(f[:, None], grid.cells)), 0
        )
    )
    np.testing.assert_allclose(
        out, np.broadcast_to(ff[:, None], grid.cells), atol=1e-12
    )


def test_coefficient_shape_is_checked():
    grid = Grid((8, 6))
    with pytest.raises(ValueError, match="broadcastable"):
        FiniteDifference(grid).derivative_of_scaled_derivative(
            jnp.zeros(grid.cells), jnp.ones(6), 0
        )
