"""Rollouts against exact solutions: the KdV two-soliton collision (Hirota) and
the decaying Taylor-Green vortex."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.operators import (
    FourierSpectral,
    Grid,
    KortewegDeVries,
    NavierStokesVorticity,
    discretize,
)

# Two solitons of u_t + 6 u u_x + u_xxx = 0: the fast one (k1, amplitude k1^2/2,
# speed k1^2) starts at x = -10 and overtakes the slow one (start x = -4) near t = 4.8.
# While the fast soliton is on the left, F ~ e^eta1 (1 + A e^eta2) near the slow one,
# whose centre is therefore at A e^eta2 = 1; hence the log A in its phase.
K1, K2 = 1.5, 1.0
X1, X2 = -10.0, -4.0
ETA10, ETA20 = -K1 * X1, -K2 * X2 - 2.0 * np.log((K1 - K2) / (K1 + K2))


def _log_f(x, t):
    """log F for Hirota's F = 1 + e^eta1 + e^eta2 + A e^(eta1 + eta2),
    eta_i = k_i x - k_i^3 t + eta_i0, A = ((k1 - k2)/(k1 + k2))^2."""
    eta1 = K1 * x - K1**3 * t + ETA10
    eta2 = K2 * x - K2**3 * t + ETA20
    log_a = 2.0 * jnp.log((K1 - K2) / (K1 + K2))
    return jax.scipy.special.logsumexp(
        jnp.stack([jnp.zeros_like(x), eta1, eta2, log_a + eta1 + eta2])
    )


# u = 2 d^2/dx^2 log F
two_soliton = jax.jit(
    jax.vmap(lambda x, t: 2.0 * jax.grad(jax.grad(_log_f))(x, t), in_axes=(0, None))
)

KDV_GRID = Grid(256, -25.0, 25.0)
KDV_DT = 0.005
KDV_SAVE = (3.0, 4.8, 6.0, 9.0)
# measured max relative L2 error 2.7e-7 (at t = 9), limited by dt; 2.3e-5 on
# [-20, 20) where the soliton tails wrap around the periodic box
KDV_TOL = 1e-6


def test_two_soliton_exact_solution_is_what_it_claims():
    """The reference, independently of the solver: after the collision two separated
    solitons of amplitude k^2/2 at the positions predicted by the classical phase
    shifts (+log(1/A)/k1 for the fast one, -log(1/A)/k2 for the slow one), and
    negligible tails at the ends of the box."""
    t = 9.0
    shift = -np.log(((K1 - K2) / (K1 + K2)) ** 2)
    xf = jnp.linspace(-25.0, 25.0, 5001)
    u = np.asarray(two_soliton(xf, t))
    for centre, k in (
        (X1 + K1**2 * t + shift / K1, K1),
        (X2 + K2**2 * t - shift / K2, K2),
    ):
        near = np.abs(np.asarray(xf) - centre) < 1.0
        np.testing.assert_allclose(u[near].max(), k**2 / 2, rtol=1e-3)
        np.testing.assert_allclose(
            np.asarray(xf)[near][np.argmax(u[near])], centre, atol=2e-2
        )
    x = jnp.asarray(KDV_GRID.coordinates[0])
    for t in (0.0, 9.0):
        u = np.asarray(two_soliton(x, t))
        assert max(abs(u[0]), abs(u[-1])) < 1e-6 * u.max()
        # mass of a soliton is 2k: conserved through the collision
        np.testing.assert_allclose(
            u.sum() * KDV_GRID.spacing[0], 2 * (K1 + K2), rtol=1e-6
        )


def test_kdv_two_soliton_collision():
    op = discretize(KortewegDeVries(), FourierSpectral(KDV_GRID))
    x = jnp.asarray(KDV_GRID.coordinates[0])
    y0 = two_soliton(x, 0.0)[None]
    sol = ds.solve(
        op,
        ds.ETDRK4(),
        y0,
        dt=KDV_DT,
        num_steps=round(9.0 / KDV_DT),
        saveat=ds.SaveAt(ts=KDV_SAVE),
    )
    np.testing.assert_allclose(sol.ts, KDV_SAVE, rtol=1e-14)
    for t, y in zip(KDV_SAVE, sol.ys):
        exact = two_soliton(x, t)
        err = float(jnp.linalg.norm(y[0] - exact) / jnp.linalg.norm(exact))
        assert err < KDV_TOL, f"t={t}: relative L2 error {err:.2e}"


# Taylor-Green: psi = cos(a x) cos(b y), w = -laplacian(psi) = (a^2 + b^2) psi, so
# u . grad w = 0 and w(t) = w(0) exp(-(nu (a^2 + b^2) + drag) t).
TG_GRID = Grid((32, 20), lower=(-1.0, 0.5), upper=(-1.0 + 2 * np.pi, 0.5 + 4 * np.pi))


@pytest.mark.parametrize(
    "stepper, tol", [(ds.RK4(), 1e-10), (ds.ETDRK4(), 1e-13)], ids=["RK4", "ETDRK4"]
)
@pytest.mark.parametrize("phase", [0.0, 0.7])
def test_taylor_green_vortex(stepper, tol, phase):
    nu, drag = 0.05, 0.1
    a, b = 1.0, 3 * 2 * np.pi / TG_GRID.lengths[1]  # third y-mode: b = 1.5
    op = discretize(NavierStokesVorticity(nu=nu, drag=drag), FourierSpectral(TG_GRID))
    x, y = TG_GRID.mesh()
    w0 = 2.0 * (a**2 + b**2) * jnp.cos(a * x + phase) * jnp.cos(b * y - phase)
    dt, n = 0.05, 40
    sol = ds.solve(
        op, stepper, w0[None], dt=dt, num_steps=n, saveat=ds.SaveAt(every=10, t0=True)
    )
    decay = np.exp(-(nu * (a**2 + b**2) + drag) * np.asarray(sol.ts))
    expected = decay[:, None, None, None] * np.asarray(w0)[None, None]
    err = np.max(np.abs(np.asarray(sol.ys) - expected)) / np.max(np.abs(np.asarray(w0)))
    assert err < tol, f"relative max error {err:.2e}"
