"""FiniteDifference: formal order by a fitted slope of log(error) against log(h)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from diffsim.operators import FiniteDifference, Grid

ORDERS = [2, 4, 6, 8]
# Coarse enough that the order-8 error (4e-10 at n=128) stays far above round-off,
# fine enough to be in the asymptotic regime for exp(sin x).
NS = [32, 48, 64, 96, 128]
LOWER, UPPER = -1.0, 2.0


def fitted_slope(hs, errors):
    return np.polyfit(np.log(hs), np.log(errors), 1)[0]


def exp_sin_derivatives(x, kappa):
    """u = exp(sin(kappa x)) and its first four derivatives."""
    s, c = np.sin(kappa * x), np.cos(kappa * x)
    u = np.exp(s)
    d1 = kappa * c * u
    d2 = kappa**2 * (c**2 - s) * u
    d3 = kappa**3 * c * (c**2 - 3 * s - 1) * u
    d4 = kappa**4 * (c**4 - 6 * s * c**2 - 4 * c**2 + 3 * s**2 + s) * u
    return u, (d1, d2, d3, d4)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("deriv", [1, 2, 3, 4])
def test_derivative_convergence_1d(order, deriv):
    kappa = 2 * np.pi / (UPPER - LOWER)
    hs, errors = [], []
    for n in NS:
        grid = Grid(n, LOWER, UPPER)
        u, ds = exp_sin_derivatives(grid.coordinates[0], kappa)
        out = FiniteDifference(grid, order).derivative(jnp.asarray(u), 0, deriv)
        hs.append(grid.spacing[0])
        errors.append(np.max(np.abs(np.asarray(out) - ds[deriv - 1])))
    slope = fitted_slope(hs, errors)
    assert abs(slope - order) < 0.3, (
        f"order {order}, d^{deriv}: fitted slope {slope:.3f}, errors {errors}"
    )


def _fields_2d(n):
    """Non-square, shifted domain; n cells per axis on the first, 3n/2 on the second."""
    grid = Grid((n, 3 * n // 2), lower=(LOWER, 0.5), upper=(UPPER, 5.0))
    kx, ky = (2 * np.pi / length for length in grid.lengths)
    x, y = np.meshgrid(*grid.coordinates, indexing="ij")
    fx, (fx1, fx2, *_) = exp_sin_derivatives(x, kx)
    gy, (gy1, gy2, *_) = exp_sin_derivatives(y + 0.3, ky)
    u = fx * gy
    lap = fx2 * gy + fx * gy2
    grad = np.stack([fx1 * gy, fx * gy1])
    # a vector field that is not a gradient: v = (fx cos(ky y), sin(kx x) gy)
    v = np.stack([fx * np.cos(ky * y), np.sin(kx * x) * gy])
    div = fx1 * np.cos(ky * y) + np.sin(kx * x) * gy1
    return grid, u, lap, grad, v, div


@pytest.mark.parametrize("order", ORDERS)
def test_laplacian_gradient_divergence_convergence_2d(order):
    hs, err_lap, err_grad, err_div = [], [], [], []
    for n in NS[1:-1]:  # 48, 64, 96 (x 1.5 on the second axis)
        grid, u, lap, grad, v, div = _fields_2d(n)
        fd = FiniteDifference(grid, order)
        u_, v_ = jnp.asarray(u), jnp.asarray(v)
        out_lap, out_grad, out_div = (
            fd.laplacian(u_),
            fd.gradient(u_),
            fd.divergence(v_),
        )
        assert out_grad.shape == (2, *grid.cells)
        hs.append(grid.spacing[0])
        err_lap.append(np.max(np.abs(np.asarray(out_lap) - lap)))
        err_grad.append(np.max(np.abs(np.asarray(out_grad) - grad)))
        err_div.append(np.max(np.abs(np.asarray(out_div) - div)))
    for name, errors in [
        ("laplacian", err_lap),
        ("gradient", err_grad),
        ("divergence", err_div),
    ]:
        slope = fitted_slope(hs, errors)
        assert abs(slope - order) < 0.3, (
            f"order {order}, {name}: fitted slope {slope:.3f}, errors {errors}"
        )


@pytest.mark.parametrize("order", ORDERS)
def test_axes_in_3d(order):
    """A field that varies along one axis only is differentiated along that axis
    exactly as the 1D operator does, and has zero derivative along the others."""
    cells = (6, 8, 10)
    grid = Grid(cells, lower=(0.0, -1.0, 2.0), upper=(1.0, 1.0, 5.0))
    fd = FiniteDifference(grid, order)
    rng = np.random.default_rng(order)
    for axis in range(3):
        g = rng.normal(size=cells[axis])
        shape = [1, 1, 1]
        shape[axis] = cells[axis]
        u = jnp.asarray(np.broadcast_to(g.reshape(shape), cells))
        fd1 = FiniteDifference(
            Grid(cells[axis], grid.lower[axis], grid.upper[axis]), order
        )
        for deriv in (1, 2):
            expected = np.asarray(fd1.derivative(jnp.asarray(g), 0, deriv)).reshape(
                shape
            )
            np.testing.assert_allclose(
                fd.derivative(u, axis, deriv),
                np.broadcast_to(expected, cells),
                rtol=1e-13,
                atol=1e-12,
            )
            for other in set(range(3)) - {axis}:
                np.testing.assert_allclose(
                    fd.derivative(u, other, deriv), 0.0, atol=1e-12
                )
        lap = np.asarray(fd1.derivative(jnp.asarray(g), 0, 2)).reshape(shape)
        np.testing.assert_allclose(
            fd.laplacian(u), np.broadcast_to(lap, cells), rtol=1e-13, atol=1e-12
        )


@pytest.mark.parametrize("order", ORDERS)
def test_modified_wavenumber(order):
    """On a Fourier mode the stencils multiply by modified wavenumbers whose
    deviation from k and k^2 has the leading term of the centred schemes,
    k - (p/2)!^2/(p+1)! k^{p+1} h^p and k^2 - 2 (p/2)!^2/(p+2)! k^{p+2} h^p
    (Lele 1992): a check of every stencil coefficient."""
    n, p = 64, order
    grid = Grid(n, 0.0, 2 * np.pi)
    x, h = grid.coordinates[0], grid.spacing[0]
    fd = FiniteDifference(grid, order)
    c1 = math.factorial(p // 2) ** 2 / math.factorial(p + 1)
    c2 = 2 * math.factorial(p // 2) ** 2 / math.factorial(p + 2)
    for k in (2, 3, 4):
        u = jnp.asarray(np.sin(k * x))
        k1 = np.asarray(fd.derivative(u, 0, 1)) @ np.cos(k * x) / (n / 2)
        k2 = -(np.asarray(fd.derivative(u, 0, 2)) @ np.sin(k * x)) / (n / 2)
        ratio1 = (k - k1) / (c1 * k ** (p + 1) * h**p)
        ratio2 = (k**2 - k2) / (c2 * k ** (p + 2) * h**p)
        # the next term of the expansion is O((kh)^2) relative to the leading one
        assert abs(ratio1 - 1) < (k * h) ** 2, (k, ratio1)
        assert abs(ratio2 - 1) < (k * h) ** 2, (k, ratio2)


def test_constants_and_order_zero():
    grid = Grid((8, 6), lower=(0.0, 1.0), upper=(2.0, 4.0))
    fd = FiniteDifference(grid, 6)
    c = jnp.full(grid.cells, 3.7)
    for axis in (0, 1):
        for deriv in (1, 2, 3, 4):
            np.testing.assert_allclose(fd.derivative(c, axis, deriv), 0.0, atol=1e-10)
    np.testing.assert_array_equal(fd.derivative(c, 0, 0), c)
    np.testing.assert_allclose(fd.laplacian(c), 0.0, atol=1e-10)
    assert fd.stencil_radius == 3


def test_complex_fields_are_linear():
    grid = Grid(16, 0.0, 1.0)
    fd = FiniteDifference(grid, 4)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), rng.normal(size=16)
    out = fd.derivative(jnp.asarray(a + 2j * b), 0, 1)
    assert out.dtype == jnp.complex128
    expected = fd.derivative(jnp.asarray(a), 0, 1) + 2j * fd.derivative(
        jnp.asarray(b), 0, 1
    )
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=1e-12)


def test_validation():
    grid = Grid((8, 6))
    for bad in (1, 3, 10):
        with pytest.raises(ValueError, match="order must be one of"):
            FiniteDifference(grid, bad)
    fd = FiniteDifference(grid, 2)
    with pytest.raises(ValueError, match=">= 0"):
        fd.derivative(jnp.zeros((8, 6)), 0, -1)
    with pytest.raises(ValueError, match="scalar field of shape"):
        fd.derivative(jnp.zeros((6, 8)), 0)
    with pytest.raises(ValueError, match="scalar field of shape"):
        fd.laplacian(jnp.zeros((1, 8, 6)))
    with pytest.raises(ValueError, match="vector field of shape"):
        fd.divergence(jnp.zeros((8, 6)))
