"""Burgers, Kuramoto-Sivashinsky, KdV and 2D Navier-Stokes written once as
physics (`operators.physics`) and run on `FourierSpectral`: spectral
convergence to <= 1e-10 against exact solutions (Cole-Hopf, a KdV soliton)
or a resolved reference, gradients of rollouts with respect to a physical
parameter against central differences, the closed-form Burgers wave speeds,
the transforms one evaluation costs, and the refusals of pairs that make no
sense."""

import re
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.operators import (
    AbstractPhysics,
    Burgers,
    FourierSpectral,
    Grid,
    KortewegDeVries,
    KuramotoSivashinsky,
    KuramotoSivashinskyCombustion,
    NavierStokesVorticity,
    discretize,
)
from diffsim.operators.physics import FourierPDE
from diffsim.scenarios.burgers_shock import cole_hopf_sine


def rollout(physics, grid, y0, dt, num_steps):
    op = discretize(physics, FourierSpectral(grid))
    return np.asarray(
        ds.solve(op, ds.ETDRK4(), jnp.asarray(y0), dt=dt, num_steps=num_steps).ys[-1]
    )


def assert_spectral(errors, tol=1e-10):
    """Refining gains at least a factor 100 (a factor 2 or less in cells) and
    the finest error is <= tol."""
    for coarse, fine in zip(errors, errors[1:]):
        assert fine < coarse / 100, errors
    assert errors[-1] <= tol, errors


# --- spectral convergence ----------------------------------------------------


def test_burgers_1d_cole_hopf():
    """`u_t + (u^2/2)_x = nu u_xx` from `sin x` (nu = 0.5, t = 0.5) against the
    Cole-Hopf solution: 32 and 64 points, measured 1.2e-7 and 1.3e-11."""
    errors = []
    for n in (32, 64):
        grid = Grid(n, 0.0, 2 * np.pi)
        x = grid.coordinates[0]
        u = rollout(Burgers(nu=0.5), grid, np.sin(x)[None], 0.005, 100)
        errors.append(np.max(np.abs(u[0] - cole_hopf_sine(x, 0.5, 0.5, 1.0))))
    assert_spectral(errors)


def burgers_2d_exact(grid, t, nu):
    """Cole-Hopf in 2D: `u = -2 nu grad(log phi)` with `phi_t = nu laplacian(phi)`,
    `phi = 4 + e^{-nu t} (cos x + cos y)`: a curl-free solution of
    `u_t + (u . grad) u = nu laplacian(u)`."""
    x, y = np.meshgrid(*grid.coordinates, indexing="ij")
    decay = np.exp(-nu * t)
    phi = 4.0 + decay * (np.cos(x) + np.cos(y))
    return np.stack([2 * nu * decay * np.sin(x), 2 * nu * decay * np.sin(y)]) / phi


def test_burgers_2d_cole_hopf():
    """Two velocity components, the flux `grad(|u|^2 / 2)` and the rotational
    term (zero for this curl-free flow, not discretely): 24^2 and 48^2, measured
    1.7e-7 and 8.5e-14."""
    nu, errors = 0.1, []
    for n in (24, 48):
        grid = Grid((n, n), 0.0, 2 * np.pi)
        u0 = burgers_2d_exact(grid, 0.0, nu)
        u = rollout(Burgers(nu=nu), grid, u0, 0.01, 50)
        errors.append(np.max(np.abs(u - burgers_2d_exact(grid, 0.5, nu))))
    assert_spectral(errors)


def test_kdv_soliton():
    """`2 kappa^2 sech^2(kappa (x - 4 kappa^2 t))`, kappa = 1/2, on [-30, 30] to
    t = 1: 128 and 256 points, measured 6.9e-6 and 1.4e-11."""

    def soliton(x, t):
        return 0.5 / np.cosh(0.5 * (x - t)) ** 2

    errors = []
    for n in (128, 256):
        grid = Grid(n, -30.0, 30.0)
        x = grid.coordinates[0]
        u = rollout(KortewegDeVries(), grid, soliton(x, 0.0)[None], 0.0025, 400)
        errors.append(np.max(np.abs(u[0] - soliton(x, 1.0))))
    assert_spectral(errors)


def _against_reference(physics, grids, reference_grid, initial, dt, num_steps):
    """Max difference of rollouts on `grids` and on `reference_grid`, whose cells
    are an odd multiple finer, so that every coarse cell centre is a fine one."""
    ref = rollout(physics, reference_grid, initial(reference_grid), dt, num_steps)
    errors = []
    for grid in grids:
        u = rollout(physics, grid, initial(grid), dt, num_steps)
        r = [nf // nc for nf, nc in zip(reference_grid.cells, grid.cells)]
        assert all(k % 2 == 1 for k in r)
        sub = ref[(slice(None), *(slice(k // 2, None, k) for k in r))]
        errors.append(np.max(np.abs(u - sub)))
    return errors


def test_kuramoto_sivashinsky_against_a_resolved_reference():
    """L = 22, `sin + 0.5 cos(2 .)` to t = 2 (ETDRK4, dt = 0.01) on 45 and 75
    points against 225: measured 4.3e-6 and 3.5e-11."""
    length = 22.0

    def initial(grid):
        x = 2 * np.pi * grid.coordinates[0] / length
        return (np.sin(x) + 0.5 * np.cos(2 * x))[None]

    errors = _against_reference(
        KuramotoSivashinsky(),
        [Grid(n, 0.0, length) for n in (45, 75)],
        Grid(225, 0.0, length),
        initial,
        0.01,
        200,
    )
    assert_spectral(errors)


def test_navier_stokes_against_a_resolved_reference():
    """A vorticity of entire functions (`nu = 0.05`, drag, Kolmogorov forcing,
    t = 0.5) on 45^2 and 75^2 against 225^2: measured 3.8e-8 and 6.4e-15."""

    def initial(grid):
        x, y = np.meshgrid(*grid.coordinates, indexing="ij")
        w = np.exp(np.cos(x)) * np.sin(y) + 0.5 * np.exp(np.sin(y)) * np.cos(x + y)
        return w[None]

    physics = NavierStokesVorticity(
        nu=0.05, drag=0.1, forcing_amplitude=0.3, forcing_wavenumber=2
    )
    errors = _against_reference(
        physics,
        [Grid((n, n), 0.0, 2 * np.pi) for n in (45, 75)],
        Grid((225, 225), 0.0, 2 * np.pi),
        initial,
        0.01,
        50,
    )
    assert_spectral(errors)


# --- gradients -----------------------------------------------------------------


def _central_difference(loss, p, eps):
    return (loss(p + eps) - loss(p - eps)) / (2 * eps)


def _grid_1d(n, length):
    grid = Grid(n, 0.0, length)
    x = jnp.asarray(grid.coordinates[0])
    return grid, x


GRID_B, X_B = _grid_1d(32, 2 * np.pi)
GRID_KS, X_KS = _grid_1d(32, 22.0)
GRID_KDV, X_KDV = _grid_1d(64, 40.0)
GRID_NS = Grid((16, 16), 0.0, 2 * np.pi)


def _ns_initial():
    x, y = GRID_NS.mesh()
    return (jnp.sin(x) * jnp.cos(2 * y) + 0.3 * jnp.cos(x + y))[None]


GRADIENT_CASES = {
    # name: (operator of the parameter, y0, dt, steps, parameter value)
    "burgers_nu": (
        lambda p: discretize(Burgers(nu=p), FourierSpectral(GRID_B)),
        (jnp.sin(X_B) + 0.3 * jnp.cos(2 * X_B))[None],
        0.02,
        20,
        0.1,
    ),
    "ks_nu4": (
        lambda p: discretize(KuramotoSivashinsky(nu4=p), FourierSpectral(GRID_KS)),
        jnp.sin(2 * np.pi * X_KS / 22.0)[None],
        0.05,
        20,
        1.0,
    ),
    "kdv_beta": (
        lambda p: discretize(KortewegDeVries(beta=p), FourierSpectral(GRID_KDV)),
        (0.5 / jnp.cosh(0.5 * (X_KDV - 20.0)) ** 2)[None],
        0.01,
        20,
        1.0,
    ),
    "ns_forcing_amplitude": (
        lambda p: discretize(
            NavierStokesVorticity(nu=0.05, forcing_amplitude=p, forcing_wavenumber=1),
            FourierSpectral(GRID_NS),
        ),
        _ns_initial(),
        0.05,
        10,
        0.5,
    ),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradient_of_a_rollout_matches_central_differences(name):
    """`jax.grad` through `diffsim.solve` (ETDRK4) with respect to a physical
    parameter, against central differences in float64."""
    make, y0, dt, steps, value = GRADIENT_CASES[name]
    weight = jnp.cos(jnp.arange(y0.size, dtype=y0.dtype)).reshape(y0.shape)

    def loss(p):
        ys = ds.solve(make(p), ds.ETDRK4(), y0, dt=dt, num_steps=steps).ys
        return jnp.sum(weight * ys[-1]) + jnp.sum(ys[-1] ** 2)

    loss = jax.jit(loss)
    grad = float(jax.jit(jax.grad(loss))(jnp.asarray(value)))
    fd = float(_central_difference(loss, value, 1e-5 * value))
    assert abs(grad) > 1e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-7)


# --- structure -------------------------------------------------------------------


def test_burgers_wave_speeds_are_the_flux_jacobian_eigenvalues():
    """The closed form equals the default (eigenvalues of the flux Jacobian by
    automatic differentiation), in 1D and 2D."""
    rng = np.random.default_rng(0)
    physics = Burgers(nu=0.1)
    for channels, cells in ((1, (7,)), (2, (5, 4))):
        u = jnp.asarray(rng.normal(size=(channels, *cells)))
        for axis in range(channels):
            closed = physics.wave_speeds(u, axis)
            by_ad = AbstractPhysics.wave_speeds(physics, u, axis)
            for a, b in zip(closed, by_ad):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def _ffts(fn, x):
    text = jax.jit(fn).lower(x).compile().as_text()
    assert text is not None
    return sorted(m.group(1) for m in re.finditer(r"fft_type=(\w+)", text))


def test_one_evaluation_costs_the_transforms_of_the_hand_written_operators():
    """One batched inverse and one batched forward transform per evaluation,
    as the hand-written operators had: KS (`u`; `u^2 / 2`) and Navier-Stokes
    (the vorticity and both derivatives of the stream function; the two
    products of the Jacobian), none to bring the Jacobian back to physical
    space."""
    for physics, grid in (
        (KuramotoSivashinsky(), Grid(32)),
        (NavierStokesVorticity(nu=0.1), Grid((16, 16))),
    ):
        op = discretize(physics, FourierSpectral(grid))
        assert isinstance(op, FourierPDE)
        state = op.encode(jnp.ones((1, *grid.cells)))
        assert _ffts(lambda s, op=op: op.nonlinear(s, 0.0), state) == ["IRFFT", "RFFT"]


def _field_transforms(fn, x, ndim):
    """`(kind, fields)` of every transform in the compiled `fn`: a batched
    transform of `(*batch, *cells)` counts `prod(batch)` fields."""
    text = jax.jit(fn).lower(x).compile().as_text()
    assert text is not None
    out = []
    for line in text.splitlines():
        kind = re.search(r"fft_type=(\w+)", line)
        if kind and " fft(" in line:
            shape = re.search(r"= \w+\[([\d,]*)\]", line)
            assert shape is not None
            dims = [int(n) for n in shape.group(1).split(",") if n]
            out.append((kind.group(1), int(np.prod(dims[: len(dims) - ndim]))))
    return sorted(out)


def test_burgers_costs_fewer_transforms_than_the_advective_form():
    """Burgers' per-component flux (`flux_channels(a) = (a,)`): one forward
    transform of `|u|^2 / 2` for every axis together (the identical
    transforms are merged), the curl from the state's spectrum, and the
    rotational term: 2D `u` (2) + `curl u` (1) + `|u|^2 / 2` (1) + `u x
    curl u` (2) = 6 field transforms, 3D 3 + 3 + 1 + 3 = 10, where the
    hand-written advective form took 6 + 2 = 8 and 12 + 3 = 15 and the
    dense flux `delta_ia |u|^2 / 2` (zeros transformed) 12 and 24."""
    for grid, expected in (
        (Grid((16, 16)), [("IRFFT", 1), ("IRFFT", 2), ("RFFT", 1), ("RFFT", 2)]),
        (Grid((8, 8, 8)), [("IRFFT", 3), ("IRFFT", 3), ("RFFT", 1), ("RFFT", 3)]),
    ):
        op = discretize(Burgers(nu=0.1), FourierSpectral(grid))
        assert isinstance(op, FourierPDE)
        state = op.encode(jnp.ones((grid.ndim, *grid.cells)))
        counted = _field_transforms(
            lambda s, op=op: op.nonlinear(s, 0.0), state, grid.ndim
        )
        assert counted == expected


class _FiniteVolumeOnly(AbstractPhysics):
    discretizations: ClassVar[tuple[str, ...]] = ("finite_volume",)

    def field_names(self, ndim):
        return ("u",)

    def flux(self, u, axis):
        return u


def test_pairs_that_make_no_sense_are_refused():
    assert Burgers.discretizations == ("fourier", "finite_difference", "finite_volume")
    for cls in (
        KuramotoSivashinsky,
        KuramotoSivashinskyCombustion,
        KortewegDeVries,
        NavierStokesVorticity,
    ):
        assert cls.discretizations == ("fourier", "finite_difference")
    with pytest.raises(
        ValueError,
        match=r"^_FiniteVolumeOnly cannot run on fourier: valid choices are "
        r"finite_volume$",
    ):
        discretize(_FiniteVolumeOnly(), FourierSpectral(Grid(8)))
    grid_2d = FourierSpectral(Grid((8, 8)))
    with pytest.raises(ValueError, match=r"^KortewegDeVries is one-dimensional$"):
        discretize(KortewegDeVries(), grid_2d)
    with pytest.raises(ValueError, match=r"^NavierStokesVorticity is two-dimensional$"):
        discretize(NavierStokesVorticity(nu=0.1), FourierSpectral(Grid(8)))
