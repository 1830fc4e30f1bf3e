"""Spectral physics operators: right-hand sides against hand-computed ones for
resolved trigonometric fields, conservation properties of the nonlinear terms,
de-aliasing, encode/decode and input validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim.operators import (
    Burgers,
    FourierSpectral,
    Grid,
    KortewegDeVries,
    KuramotoSivashinsky,
    KuramotoSivashinskyCombustion,
    NavierStokesVorticity,
    discretize as _discretize,
)
from diffsim.operators.physics import AbstractPhysics, FourierCalculus, FourierPDE


def discretize(physics: AbstractPhysics, discretization: FourierSpectral) -> FourierPDE:
    """`operators.discretize`, typed: on `FourierSpectral` it builds a
    `FourierPDE`."""
    op = _discretize(physics, discretization)
    assert isinstance(op, FourierPDE)
    return op


class Modes:
    """`f(x) = sum_m a_m cos(kappa_m . x + phase_m)`, differentiated by hand:
    `d^alpha cos(theta) = prod(kappa^alpha) cos(theta + |alpha| pi / 2)`."""

    def __init__(self, grid, modes):
        self.grid = grid
        self.modes = [
            (2 * np.pi * np.asarray(m, float) / np.asarray(grid.lengths), a, p)
            for m, a, p in modes
        ]
        self.x = np.meshgrid(*grid.coordinates, indexing="ij")

    def __call__(self, *alpha):
        alpha = alpha + (0,) * (self.grid.ndim - len(alpha))
        out = np.zeros(self.grid.cells)
        for kappa, a, p in self.modes:
            theta = sum(k * x for k, x in zip(kappa, self.x)) + p
            out += (
                a
                * np.prod(kappa ** np.asarray(alpha))
                * np.cos(theta + sum(alpha) * np.pi / 2)
            )
        return out

    def d(self, axis, order=1):
        alpha = [0] * self.grid.ndim
        alpha[axis] = order
        return self(*alpha)

    def laplacian(self):
        return sum(self.d(a, 2) for a in range(self.grid.ndim))

    def inverse_laplacian(self):
        """`phi` with `laplacian(phi) = f` (no mean mode allowed)."""
        modes = []
        for kappa, a, p in self.modes:
            k2 = float(np.sum(kappa**2))
            assert k2 > 0
            modes.append((kappa, -a / k2, p))
        out = Modes.__new__(Modes)
        out.grid, out.modes, out.x = self.grid, modes, self.x
        return out


def rhs(op, *fields, part="all"):
    """The operator's right-hand side on physical fields, back in physical space."""
    state = op.encode(jnp.stack([jnp.asarray(f) for f in fields]))
    if part == "linear":
        out = op.linear_symbol() * state
    elif part == "nonlinear":
        out = op.nonlinear(state, 0.0)
    else:
        out = op(state, 0.0)
    return np.asarray(op.decode(out))


def assert_close(actual, expected, tol=1e-12):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, np.max(np.abs(expected)))
    err = np.max(np.abs(actual - expected)) / scale
    assert err < tol, f"relative error {err:.3e} >= {tol}"


GRID_1D = Grid(32, lower=-2.0, upper=9.0)  # kept modes |m| <= 10
GRID_2D = Grid(
    (16, 20), lower=(-1.0, 0.5), upper=(5.0, 9.0)
)  # kept |m_x| <= 5, |m_y| <= 6
GRID_3D = Grid(
    (8, 8, 10), lower=(0.0, -1.0, 0.5), upper=(2.0, 2.0, 3.0)
)  # kept 2, 2, 3

# degree 3 in 1D, so that products (degree 6) are kept by the 2/3 rule on 32 points
U_1D = Modes(
    GRID_1D,
    [((1,), 1.0, -np.pi / 2), ((2,), 0.5, 0.0), ((3,), 0.3, 0.4), ((0,), 0.2, 0.0)],
)
# degree (2, 3) in 2D, products (4, 6) are kept
U_2D = Modes(
    GRID_2D,
    [((1, 0), 1.0, 0.1), ((0, 3), 0.4, -0.3), ((2, -1), 0.7, 1.0), ((1, 2), 0.3, 0.0)],
)
V_2D = Modes(
    GRID_2D,
    [((0, 1), 0.8, 0.5), ((2, 2), -0.3, 0.2), ((1, -3), 0.5, -1.1), ((0, 0), 0.4, 0.0)],
)
W_2D = Modes(
    GRID_2D,
    [((1, 1), 1.0, 0.3), ((2, -3), 0.5, -0.7), ((0, 2), 0.8, 1.2), ((1, 0), -0.6, 0.0)],
)


def test_kuramoto_sivashinsky_rhs():
    """u_t = -u u_x - u_xx - nu4 u_xxxx.

    For u = sin + 0.5 cos(2.) + 0.3 cos(3. + 0.4) + 0.2.
    """
    op = discretize(KuramotoSivashinsky(nu4=0.7), FourierSpectral(GRID_1D))
    u = U_1D
    assert_close(rhs(op, u(), part="linear")[0], -u.d(0, 2) - 0.7 * u.d(0, 4))
    assert_close(rhs(op, u(), part="nonlinear")[0], -u() * u.d(0))
    assert_close(rhs(op, u())[0], -u() * u.d(0) - u.d(0, 2) - 0.7 * u.d(0, 4))


def test_kdv_rhs():
    op = discretize(
        KortewegDeVries(alpha=3.0, beta=0.5, nu=0.1), FourierSpectral(GRID_1D)
    )
    u = U_1D
    assert_close(rhs(op, u(), part="nonlinear")[0], -3.0 * u() * u.d(0))
    assert_close(rhs(op, u(), part="linear")[0], -0.5 * u.d(0, 3) + 0.1 * u.d(0, 2))
    assert_close(
        rhs(op, u())[0], -3.0 * u() * u.d(0) - 0.5 * u.d(0, 3) + 0.1 * u.d(0, 2)
    )
    # defaults: u_t + 6 u u_x + u_xxx = 0
    op = discretize(KortewegDeVries(), FourierSpectral(GRID_1D))
    assert_close(rhs(op, u())[0], -6.0 * u() * u.d(0) - u.d(0, 3))


def test_burgers_rhs_1d():
    op = discretize(Burgers(nu=0.3), FourierSpectral(GRID_1D))
    assert op.field_names == ("velocity_x",)
    u = U_1D
    assert_close(rhs(op, u())[0], -u() * u.d(0) + 0.3 * u.d(0, 2))


def test_burgers_rhs_2d():
    op = discretize(Burgers(nu=0.05), FourierSpectral(GRID_2D))
    assert op.field_names == ("velocity_x", "velocity_y")
    u, v = U_2D, V_2D
    expected = [-(u() * c.d(0) + v() * c.d(1)) + 0.05 * c.laplacian() for c in (u, v)]
    assert_close(rhs(op, u(), v()), np.stack(expected))


def test_burgers_rhs_3d():
    op = discretize(Burgers(nu=0.2), FourierSpectral(GRID_3D))
    assert op.field_names == ("velocity_x", "velocity_y", "velocity_z")
    comps = [
        Modes(
            GRID_3D,
            [((1, 0, 1), 1.0, 0.2), ((0, 1, -1), 0.5, 0.0), ((0, 0, 0), 0.3, 0.0)],
        ),
        Modes(GRID_3D, [((1, 1, 0), -0.7, 1.0), ((0, 0, 1), 0.4, 0.3)]),
        Modes(GRID_3D, [((0, 1, 1), 0.6, -0.4), ((1, 0, 0), 0.9, 0.0)]),
    ]
    fields = [c() for c in comps]
    expected = [
        -sum(fields[j] * c.d(j) for j in range(3)) + 0.2 * c.laplacian() for c in comps
    ]
    assert_close(rhs(op, *fields), np.stack(expected))


def test_ks_combustion_rhs_2d():
    op = discretize(KuramotoSivashinskyCombustion(), FourierSpectral(GRID_2D))
    u = U_2D
    expected = (
        -0.5 * (u.d(0) ** 2 + u.d(1) ** 2)
        - u.laplacian()
        - (u.d(0, 4) + 2 * u(2, 2) + u.d(1, 4))
    )
    assert_close(rhs(op, u())[0], expected)


def test_ks_combustion_1d_derivative_is_ks():
    """In 1D, d/dx of the potential form is the derivative form (nu4 = 1)."""
    disc = FourierSpectral(GRID_1D)
    u = U_1D
    potential = rhs(discretize(KuramotoSivashinskyCombustion(), disc), u())[0]
    derivative_form = rhs(discretize(KuramotoSivashinsky(), disc), u.d(0))[0]
    assert_close(disc.derivative(jnp.asarray(potential), 0), derivative_form, tol=1e-11)


def _ns_expected(w, nu, drag, amplitude, kf_index):
    psi = w.inverse_laplacian()  # laplacian(psi) = w, so -psi is the stream function
    u, v = -psi.d(1), psi.d(0)  # u = d(-psi)/dy, v = -d(-psi)/dx
    y = w.x[1]
    kf = 2 * np.pi * kf_index / w.grid.lengths[1]
    forcing = 0.0 if amplitude is None else -amplitude * kf * np.cos(kf * y)
    return -(u * w.d(0) + v * w.d(1)) + nu * w.laplacian() - drag * w() + forcing


@pytest.mark.parametrize("amplitude", [None, 0.7])
def test_navier_stokes_rhs(amplitude):
    op = discretize(
        NavierStokesVorticity(
            nu=0.05, drag=0.2, forcing_amplitude=amplitude, forcing_wavenumber=2
        ),
        FourierSpectral(GRID_2D),
    )
    assert op.field_names == ("vorticity",)
    w = W_2D
    assert_close(rhs(op, w()), _ns_expected(w, 0.05, 0.2, amplitude, 2)[None])


def test_navier_stokes_velocity():
    """The spectral velocity is (d psi/dy, -d psi/dx) with laplacian(psi) = -w."""
    physics = NavierStokesVorticity(nu=0.0)
    w = W_2D
    psi = w.inverse_laplacian()
    calculus = FourierCalculus(FourierSpectral(GRID_2D))
    uv = np.asarray(physics.velocity(jnp.asarray(w())[None], calculus))
    assert_close(uv, np.stack([-psi.d(1), psi.d(0)]))


def test_taylor_green_is_steady_for_the_nonlinear_term():
    """w = c cos(a x) cos(b y) is a function of its stream function, so u . grad w = 0
    (non-square, shifted domain: a != b)."""
    op = discretize(NavierStokesVorticity(nu=0.1), FourierSpectral(GRID_2D))
    a, b = (2 * np.pi / length for length in GRID_2D.lengths)
    x, y = GRID_2D.mesh()
    w = 3.0 * jnp.cos(a * x) * jnp.cos(2 * b * y)
    nonlinear = rhs(op, w, part="nonlinear")
    np.testing.assert_allclose(nonlinear, 0.0, atol=1e-12)
    assert_close(rhs(op, w), -0.1 * (a**2 + 4 * b**2) * np.asarray(w)[None])


def test_kolmogorov_forcing():
    """With zero vorticity the right-hand side is the forcing -A k_f cos(k_f y), with
    k_f = 2 pi n / L_y and y the absolute coordinate (lower bound 0.5 here)."""
    A, n = 1.3, 3
    op = discretize(
        NavierStokesVorticity(
            nu=0.1, drag=0.5, forcing_amplitude=A, forcing_wavenumber=n
        ),
        FourierSpectral(GRID_2D),
    )
    kf = 2 * np.pi * n / GRID_2D.lengths[1]
    _, y = GRID_2D.mesh()
    expected = -A * kf * np.cos(kf * np.asarray(y))
    assert_close(rhs(op, jnp.zeros(GRID_2D.cells), part="nonlinear")[0], expected)
    assert_close(rhs(op, jnp.zeros(GRID_2D.cells))[0], expected)


# --- conservation ----------------------------------------------------------


def _random_fields(op, rng, band_limited):
    shape = (len(op.field_names), *op.grid.cells)
    fields = jnp.asarray(rng.normal(size=shape))
    if band_limited:  # keep only the modes the 2/3 rule keeps
        fields = op.decode(
            jnp.where(op.discretization.dealias_mask(), op.encode(fields), 0.0)
        )
    return fields


CONSERVATIVE_1D = {
    "burgers": lambda d: discretize(Burgers(nu=0.1), d),
    "kdv": lambda d: discretize(KortewegDeVries(alpha=2.0, beta=0.3), d),
    "ks": lambda d: discretize(KuramotoSivashinsky(), d),
}


@pytest.mark.parametrize("name", sorted(CONSERVATIVE_1D))
def test_nonlinear_term_conserves_mean_and_energy_1d(name):
    """(u^2/2)_x has zero mean for any u; for u band-limited to the kept modes,
    <u, P(u u_x)> = <u, (u^2/2)_x> = 0 (energy) as well."""
    op = CONSERVATIVE_1D[name](FourierSpectral(Grid(64, -1.0, 5.0)))
    rng = np.random.default_rng(0)
    u = _random_fields(op, rng, band_limited=False)
    n_hat = op.nonlinear(op.encode(u), 0.0)
    scale = float(jnp.max(jnp.abs(n_hat)))
    assert float(jnp.max(jnp.abs(n_hat[..., 0]))) < 1e-13 * scale

    u = _random_fields(op, rng, band_limited=True)
    n = op.decode(op.nonlinear(op.encode(u), 0.0))
    energy_rate = float(jnp.sum(u * n))
    assert abs(energy_rate) < 1e-12 * float(jnp.sum(jnp.abs(u * n)))


def test_navier_stokes_nonlinear_term_conserves_mean_energy_enstrophy():
    grid = Grid((32, 20), lower=(0.0, -1.0), upper=(3.0, 1.5))
    op = discretize(NavierStokesVorticity(nu=0.1), FourierSpectral(grid))
    rng = np.random.default_rng(1)
    w = _random_fields(op, rng, band_limited=False)
    n_hat = op.nonlinear(op.encode(w), 0.0)
    assert float(jnp.abs(n_hat[0, 0, 0])) < 1e-13 * float(jnp.max(jnp.abs(n_hat)))

    w = _random_fields(op, rng, band_limited=True)[0]
    w = w - jnp.mean(w)
    n = op.decode(op.nonlinear(op.encode(w[None]), 0.0))[0]
    psi = -op.discretization.inverse_laplacian(w)
    scale = float(jnp.sum(jnp.abs(w * n)))
    assert abs(float(jnp.sum(w * n))) < 1e-12 * scale  # enstrophy
    assert abs(float(jnp.sum(psi * n))) < 1e-12 * float(
        jnp.sum(jnp.abs(psi * n))
    )  # energy


@pytest.mark.parametrize("n", [32, 33, 48])
def test_nonlinear_term_is_alias_free(n):
    """KS nonlinear term of a field on the kept modes equals the Galerkin truncation
    -1/2 P d/dx (u^2) computed with exact (zero-padded) products. Fails for n = 48:
    the mask keeps |k| <= 16 = n/3 and k = 32 products alias onto k = -16."""
    grid = Grid(n, 0.0, 2 * np.pi)
    op = discretize(KuramotoSivashinsky(), FourierSpectral(grid))
    mask = op.discretization.dealias_mask()
    rng = np.random.default_rng(n)
    u_hat = np.where(mask, np.fft.rfft(rng.normal(size=n)), 0.0)
    # exact product by zero padding to 4n points
    big = 4 * n
    u_big = np.fft.irfft(u_hat, big) * (big / n)
    sq_hat = np.fft.rfft(u_big**2)[: n // 2 + 1] * (n / big)
    k = np.fft.rfftfreq(n, 1 / n)
    expected = np.where(mask, -0.5j * k * sq_hat, 0.0)
    actual = np.asarray(op.nonlinear(jnp.asarray(u_hat)[None], 0.0))[0]
    np.testing.assert_allclose(
        actual, expected, rtol=0, atol=1e-11 * np.max(np.abs(expected))
    )


# --- encode / decode / validation --------------------------------------------


@pytest.mark.parametrize(
    "make, grid",
    [
        (lambda d: discretize(Burgers(nu=0.1), d), GRID_1D),
        (lambda d: discretize(Burgers(nu=0.1), d), GRID_2D),
        (lambda d: discretize(Burgers(nu=0.1), d), GRID_3D),
        (lambda d: discretize(KuramotoSivashinsky(), d), GRID_1D),
        (lambda d: discretize(KortewegDeVries(), d), GRID_1D),
        (lambda d: discretize(KuramotoSivashinskyCombustion(), d), GRID_2D),
        (lambda d: discretize(NavierStokesVorticity(nu=0.1), d), GRID_2D),
    ],
)
def test_encode_decode_round_trip_and_shapes(make, grid):
    op = make(FourierSpectral(grid))
    channels = len(op.field_names)
    fields = jnp.asarray(np.random.default_rng(0).normal(size=(channels, *grid.cells)))
    state = op.encode(fields)
    assert state.shape == (channels, *op.discretization.spectral_shape())
    assert jnp.iscomplexobj(state)
    np.testing.assert_allclose(op.decode(state), fields, rtol=0, atol=1e-13)
    # the linear symbol broadcasts against the state, and the rhs has its shape
    assert (
        jnp.broadcast_shapes(jnp.shape(op.linear_symbol()), state.shape) == state.shape
    )
    assert op(state, 0.0).shape == state.shape
    with pytest.raises(ValueError, match="expected fields of shape"):
        op.encode(fields[0])
    with pytest.raises(ValueError, match="expected fields of shape"):
        op.encode(jnp.zeros((channels + 1, *grid.cells)))
    with pytest.raises(ValueError, match="expected fields of shape"):
        op.encode(jnp.zeros((channels, *grid.cells[:-1], grid.cells[-1] + 1)))


def test_dimension_checks():
    with pytest.raises(ValueError, match="one-dimensional"):
        discretize(KuramotoSivashinsky(), FourierSpectral(GRID_2D))
    with pytest.raises(ValueError, match="one-dimensional"):
        discretize(KortewegDeVries(), FourierSpectral(GRID_3D))
    for grid in (GRID_1D, GRID_3D):
        with pytest.raises(ValueError, match="two-dimensional"):
            discretize(NavierStokesVorticity(nu=0.1), FourierSpectral(grid))


def test_parameters_are_differentiable_leaves():
    """Physical parameters are float64 arrays, so grad w.r.t. them works."""
    disc = FourierSpectral(GRID_1D)
    assert KuramotoSivashinsky(nu4=2).nu4.dtype == jnp.float64
    u = jnp.asarray(U_1D())[None]

    def f(nu4):
        o = discretize(KuramotoSivashinsky(nu4=nu4), disc)
        return jnp.sum(o.decode(o(o.encode(u), 0.0)) * u)

    # d/d nu4 of <u, -nu4 u_xxxx> = -<u, u_xxxx> = -<u_xx, u_xx>
    expected = -np.sum(U_1D.d(0, 2) ** 2)
    np.testing.assert_allclose(jax.grad(f)(2.0), expected, rtol=1e-12)
