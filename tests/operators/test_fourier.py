"""FourierSpectral: exact differentiation of resolved trigonometric polynomials
in 1D/2D/3D on non-square, shifted domains; de-aliasing."""

import jax.numpy as jnp
import numpy as np
import pytest

from diffsim.operators import FourierSpectral, Grid

GRIDS = {
    1: Grid(16, lower=-1.3, upper=2.1),
    2: Grid((12, 9), lower=(-1.0, 0.5), upper=(2.0, 3.0)),
    3: Grid((8, 10, 5), lower=(0.3, -2.0, 1.0), upper=(1.3, 1.0, 4.0)),
}


class TrigPoly:
    """`f(x) = sum_m c_m exp(i kappa_m . x)` with random resolved modes
    (below the Nyquist mode on every axis), differentiated by hand."""

    def __init__(self, grid, num_modes=6, seed=0, zero_mean=False):
        rng = np.random.default_rng(seed)
        top = [(n - 1) // 2 for n in grid.cells]  # highest resolved non-Nyquist mode
        modes = [tuple(rng.integers(-t, t + 1) for t in top) for _ in range(num_modes)]
        modes.append(tuple(top))  # always include the highest mode
        if zero_mean:
            modes = [m for m in modes if any(m)]
        else:
            modes.append((0,) * grid.ndim)
        self.grid = grid
        self.kappa = [
            2 * np.pi * np.asarray(m) / np.asarray(grid.lengths) for m in modes
        ]
        self.coeffs = rng.normal(size=len(modes)) + 1j * rng.normal(size=len(modes))
        self.x = np.meshgrid(*grid.coordinates, indexing="ij")

    def __call__(self, alpha=None, real=False):
        """The mixed derivative of multi-index `alpha` (a tuple of orders per axis)."""
        alpha = (0,) * self.grid.ndim if alpha is None else alpha
        out = np.zeros(self.grid.cells, dtype=complex)
        for c, k in zip(self.coeffs, self.kappa):
            factor = np.prod([(1j * ka) ** a for ka, a in zip(k, alpha)])
            out += c * factor * np.exp(1j * sum(ka * xa for ka, xa in zip(k, self.x)))
        return np.real(out) if real else out

    def derivative(self, axis, order, real):
        alpha = [0] * self.grid.ndim
        alpha[axis] = order
        return self(tuple(alpha), real)

    def laplacian(self, real):
        return sum(self.derivative(a, 2, real) for a in range(self.grid.ndim))


def assert_exact(actual, expected, tol=1e-12):
    """Agreement to round-off, relative to the size of `expected`."""
    actual = np.asarray(actual)
    assert actual.shape == expected.shape
    assert np.iscomplexobj(actual) == np.iscomplexobj(expected)
    scale = max(1.0, np.max(np.abs(expected)))
    err = np.max(np.abs(actual - expected)) / scale
    assert err < tol, f"relative error {err:.3e} >= {tol}"


CASES = [(ndim, real) for ndim in (1, 2, 3) for real in (True, False)]


@pytest.mark.parametrize("ndim, real", CASES)
@pytest.mark.parametrize("order", [0, 1, 2, 3, 4])
def test_derivative(ndim, real, order):
    grid = GRIDS[ndim]
    disc = FourierSpectral(grid)
    f = TrigPoly(grid, seed=order + 10 * ndim)
    u = jnp.asarray(f(real=real))
    for axis in range(ndim):
        out = disc.derivative(u, axis, order)
        assert out.dtype == (jnp.float64 if real else jnp.complex128)
        assert_exact(out, f.derivative(axis, order, real))


@pytest.mark.parametrize("ndim, real", CASES)
def test_gradient_laplacian_divergence(ndim, real):
    grid = GRIDS[ndim]
    disc = FourierSpectral(grid)
    f = TrigPoly(grid, seed=1)
    u = jnp.asarray(f(real=real))

    grad = disc.gradient(u)
    assert grad.shape == (ndim, *grid.cells)
    assert_exact(grad, np.stack([f.derivative(a, 1, real) for a in range(ndim)]))
    assert_exact(disc.laplacian(u), f.laplacian(real))

    # divergence of a vector field whose components are independent polynomials
    comps = [TrigPoly(grid, seed=100 + a) for a in range(ndim)]
    v = jnp.stack([jnp.asarray(c(real=real)) for c in comps])
    expected = sum(c.derivative(a, 1, real) for a, c in enumerate(comps))
    assert_exact(disc.divergence(v), expected)
    # div grad = laplacian, mixed derivatives commute
    assert_exact(disc.divergence(grad), f.laplacian(real))
    if ndim >= 2:
        mixed = disc.derivative(disc.derivative(u, 0, 1), 1, 2)
        assert_exact(mixed, f((1, 2, 0)[:ndim], real))


@pytest.mark.parametrize("ndim, real", CASES)
def test_inverse_laplacian(ndim, real):
    grid = GRIDS[ndim]
    disc = FourierSpectral(grid)
    phi = TrigPoly(grid, seed=7, zero_mean=True)
    rhs = jnp.asarray(phi.laplacian(real)) + 3.0  # the mean is discarded
    out = disc.inverse_laplacian(rhs)
    assert out.dtype == (jnp.float64 if real else jnp.complex128)
    assert_exact(out, phi(real=real))
    # and it is a right inverse up to the mean, for any field
    g = jnp.asarray(TrigPoly(grid, seed=8)(real=real))
    assert_exact(disc.laplacian(disc.inverse_laplacian(g)), np.asarray(g - jnp.mean(g)))


@pytest.mark.parametrize("real", [True, False])
def test_nyquist_mode(real):
    """On an even grid the Nyquist mode is a sawtooth (-1)^j; odd derivatives drop it
    (so derivatives of real fields stay real), even ones keep it with symbol -k^2."""
    grid = Grid(8, lower=0.5, upper=2.5)
    disc = FourierSpectral(grid)
    saw = (-1.0) ** np.arange(8)
    u = jnp.asarray(saw if real else (1 + 2j) * saw)
    k_nyq = np.pi / grid.spacing[0]
    assert_exact(disc.derivative(u, 0, 1), np.zeros(8, dtype=np.asarray(u).dtype))
    assert_exact(disc.derivative(u, 0, 3), np.zeros(8, dtype=np.asarray(u).dtype))
    assert_exact(disc.gradient(u)[0], np.zeros(8, dtype=np.asarray(u).dtype))
    assert_exact(disc.derivative(u, 0, 2), -(k_nyq**2) * np.asarray(u))
    assert_exact(disc.laplacian(u), -(k_nyq**2) * np.asarray(u))


def test_wavenumbers_are_scaled_by_domain_length():
    grid = Grid((8, 6), lower=(-1.0, 0.0), upper=(3.0, 0.5))
    disc = FourierSpectral(grid)
    kx, ky = disc.wavenumbers()
    assert kx.shape == (8, 1) and ky.shape == (1, 4)
    np.testing.assert_allclose(
        kx[:, 0], 2 * np.pi / 4.0 * np.array([0, 1, 2, 3, -4, -3, -2, -1]), rtol=1e-15
    )
    np.testing.assert_allclose(ky[0], 2 * np.pi / 0.5 * np.arange(4), rtol=1e-15)
    kx_odd, ky_odd = disc.wavenumbers(odd=True)
    assert kx_odd[4, 0] == 0.0 and ky_odd[0, 3] == 0.0
    kx_c, ky_c = disc.wavenumbers(real=False)
    assert ky_c.shape == (1, 6)
    np.testing.assert_allclose(disc.laplacian_symbol(), -(kx**2 + ky**2), rtol=1e-15)


@pytest.mark.parametrize("cells", [(32,), (64,), (20, 16), (10, 14, 8)])
@pytest.mark.parametrize("real", [True, False])
def test_dealias_mask_keeps_modes_up_to_a_third(cells, real):
    """With the default 2/3 rule, exactly the integer modes with |k_i| <= N_i/3 on
    every axis are kept (N_i/3 is not an integer for these grids)."""
    grid = Grid(cells)
    disc = FourierSpectral(grid)
    mask = disc.dealias_mask(real)
    assert mask.shape == disc.spectral_shape(real)
    ints = []
    for a, n in enumerate(cells):
        last_real = real and a == len(cells) - 1
        ints.append(
            np.fft.rfftfreq(n, 1 / n) if last_real else np.fft.fftfreq(n, 1 / n)
        )
    expected = np.ones(mask.shape, dtype=bool)
    for a, (k, n) in enumerate(zip(ints, cells)):
        shape = [1] * len(cells)
        shape[a] = k.size
        expected = expected & (np.abs(k) <= n / 3).reshape(shape)
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize("n", [32, 33, 48, 49, 64])
def test_dealias_mask_is_the_largest_alias_free_set(n):
    """Orszag's 2/3 rule: with kept modes |k| <= K, a product of two kept modes has
    |k| <= 2K, and its alias 2K - n misses the kept set iff 3K < n. The rule keeps
    the largest such set, K = (n - 1) // 3, on every axis of the real and complex
    spectra.

    Fails today for n = 48 (K = 16 = n/3 is kept, so k = 32 products alias onto
    k = -16; see test_spectral_operators::test_nonlinear_term_is_alias_free) and
    for n = 49 (k = 16 is dropped because np.fft.rfftfreq(49, 1/49)[16] is
    16.000000000000004 > 2/3 * 24)."""
    disc = FourierSpectral(Grid(n))
    K = (n - 1) // 3
    k_real = np.arange(n // 2 + 1)
    k_full = np.rint(np.fft.fftfreq(n, 1 / n))
    np.testing.assert_array_equal(
        disc.dealias_mask(real=True), k_real <= K, err_msg=f"rfft, n={n}, K={K}"
    )
    np.testing.assert_array_equal(
        disc.dealias_mask(real=False), np.abs(k_full) <= K, err_msg=f"fft, n={n}, K={K}"
    )


@pytest.mark.parametrize("ndim, real", CASES)
def test_dealiased_removes_high_modes(ndim, real):
    grid = GRIDS[ndim]
    disc = FourierSpectral(grid)
    x = np.meshgrid(*grid.coordinates, indexing="ij")
    kappa = [2 * np.pi / L for L in grid.lengths]
    low = 1.0 + sum(np.cos(k * xa + 0.3 * a) for a, (k, xa) in enumerate(zip(kappa, x)))
    high = sum(
        np.sin(((n - 1) // 2) * k * xa) for n, k, xa in zip(grid.cells, kappa, x)
    )
    u = low + high
    if not real:
        u = u * (1 - 0.5j)
        low = low * (1 - 0.5j)
    out = disc.dealiased(jnp.asarray(u))
    assert_exact(out, low)
    # dealias=1 keeps everything
    assert_exact(FourierSpectral(grid, dealias=1.0).dealiased(jnp.asarray(u)), u)


def test_forward_inverse_round_trip_with_leading_axes():
    grid = GRIDS[2]
    disc = FourierSpectral(grid)
    rng = np.random.default_rng(0)
    u = jnp.asarray(rng.normal(size=(3, *grid.cells)))
    u_hat = disc.forward(u)
    assert u_hat.shape == (3, *disc.spectral_shape())
    assert_exact(disc.inverse(u_hat), np.asarray(u))
    uc = u + 1j * u[::-1]
    assert disc.forward(uc).shape == (3, *grid.cells)
    assert_exact(disc.inverse(disc.forward(uc), real=False), np.asarray(uc))


def test_validation():
    grid = GRIDS[2]
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="dealias"):
            FourierSpectral(grid, dealias=bad)
    disc = FourierSpectral(grid)
    with pytest.raises(ValueError, match="scalar field of shape"):
        disc.derivative(jnp.zeros((12, 8)), 0)
    with pytest.raises(ValueError, match="scalar field of shape"):
        disc.laplacian(jnp.zeros((1, 12, 9)))
    with pytest.raises(ValueError, match="scalar field of shape"):
        disc.gradient(jnp.zeros((9, 12)))
    with pytest.raises(ValueError, match="scalar field of shape"):
        disc.inverse_laplacian(jnp.zeros((12,)))
    with pytest.raises(ValueError, match="vector field of shape"):
        disc.divergence(jnp.zeros((3, 12, 9)))
