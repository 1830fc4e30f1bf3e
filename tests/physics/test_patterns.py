"""Pattern-formation and wave physics written once (`AllenCahn`,
`CahnHilliard`, `GrayScott`, `SwiftHohenberg`, `NonlinearSchrodinger`):
exact and manufactured solutions, invariants, linear growth rates,
gradients against central finite differences, argument errors, and one
scenario through the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim
from diffsim.jobs.cli import main
from diffsim.operators import (
    AbstractSemilinearOperator,
    FiniteDifference,
    FourierSpectral,
    Grid,
)
from diffsim.operators.physics import (
    AbstractPhysics,
    AllenCahn,
    CahnHilliard,
    FourierCalculus,
    GrayScott,
    NonlinearSchrodinger,
    SwiftHohenberg,
    discretize,
)

TWO_PI = 2.0 * np.pi


def _fd_available() -> bool:
    """Whether a finite-difference strategy is registered (it is built
    beside this layer)."""
    try:
        discretize(AllenCahn(), FiniteDifference(Grid((8,), (0.0,), (1.0,))))
    except TypeError:
        return False
    return True


needs_fd = pytest.mark.skipif(
    not _fd_available(), reason="no finite-difference strategy registered"
)


#: The discretizations every pattern physics runs on; finite differences at
#: order 4 (skipped until their strategy is registered).
DISCRETIZATIONS = [
    pytest.param(FourierSpectral, id="fourier"),
    pytest.param(lambda g: FiniteDifference(g, order=4), id="fd4", marks=needs_fd),
]


def _solve(op, y0, dt, num_steps, stepper=None):
    sol = diffsim.solve(
        op, stepper or diffsim.ETDRK4(), jnp.asarray(y0), dt=dt, num_steps=num_steps
    )
    return np.asarray(sol.ys[-1])


# ----------------------------------------------------- manufactured solutions


class Forced(AbstractPhysics):
    """`base` plus a source `f(x, t)` in its reaction: the manufactured
    problem whose exact solution is the one `f` was derived from."""

    discretizations: ClassVar[tuple[str, ...]] = ("fourier", "finite_difference")

    base: AbstractPhysics
    source: Callable

    def field_names(self, ndim):
        return self.base.field_names(ndim)

    def linear(self, u, d):
        return self.base.linear(u, d)

    def nonlinear(self, u, d, t):
        return self.base.nonlinear(u, d, t)

    def reaction(self, u, x, t):
        r = self.base.reaction(u, x, t)
        s = self.source(x, t)
        return s if r is None else r + s


class ForcedComplex(Forced):
    complex_fields: ClassVar[bool] = True


def _dx(f, n):
    """The `n`-th derivative of a function of one real variable, by forward
    mode AD (exact to round-off, any real or complex output)."""
    for _ in range(n):
        f = jax.jacfwd(f)
    return f


# Exact solutions on [0, 2 pi), analytic, with every Fourier mode present
# (geometric decay), as functions of scalar (x, t) returning the channels.
def _bump(x, t):
    return 0.5 * jnp.exp(0.8 * jnp.sin(x - t)) - 0.6


def _ac_rhs(p, w, x, t):
    u = lambda x: w(x, t)[0]
    return jnp.stack([p.epsilon**2 * _dx(u, 2)(x) + u(x) - u(x) ** 3])


def _ch_rhs(p, w, x, t):
    u = lambda x: w(x, t)[0]
    mu = lambda x: u(x) ** 3 - u(x) - p.gamma * _dx(u, 2)(x)
    return jnp.stack([_dx(mu, 2)(x)])


def _gs_rhs(p, w, x, t):
    u = lambda x: w(x, t)[0]
    v = lambda x: w(x, t)[1]
    uvv = u(x) * v(x) ** 2
    return jnp.stack(
        [
            p.diffusivity_u * _dx(u, 2)(x) - uvv + p.feed * (1.0 - u(x)),
            p.diffusivity_v * _dx(v, 2)(x) + uvv - (p.feed + p.kill) * v(x),
        ]
    )


def _sh_rhs(p, w, x, t):
    u = lambda x: w(x, t)[0]
    return jnp.stack(
        [
            (p.r - 1.0) * u(x)
            - 2.0 * _dx(u, 2)(x)
            - _dx(u, 4)(x)
            + p.g * u(x) ** 2
            - u(x) ** 3
        ]
    )


def _nls_rhs(p, w, x, t):
    psi = lambda x: w(x, t)[0]
    value = psi(x)
    return jnp.stack(
        [0.5j * _dx(psi, 2)(x) + 1j * p.kappa * jnp.abs(value) ** 2 * value]
    )


MANUFACTURED = {
    "allen_cahn": (
        AllenCahn(epsilon=0.3),
        lambda x, t: jnp.stack([_bump(x, t)]),
        _ac_rhs,
    ),
    "cahn_hilliard": (
        CahnHilliard(gamma=0.05),
        lambda x, t: jnp.stack([_bump(x, t)]),
        _ch_rhs,
    ),
    "gray_scott": (
        GrayScott(diffusivity_u=0.2, diffusivity_v=0.1, feed=0.04, kill=0.06),
        lambda x, t: jnp.stack(
            [1.0 - 0.3 * jnp.exp(0.6 * jnp.cos(x + t)), 0.2 + _bump(x, t) ** 2]
        ),
        _gs_rhs,
    ),
    "swift_hohenberg": (
        SwiftHohenberg(r=0.3, g=0.5),
        lambda x, t: jnp.stack([_bump(x, t)]),
        _sh_rhs,
    ),
    "nonlinear_schrodinger": (
        NonlinearSchrodinger(kappa=1.0),
        lambda x, t: jnp.stack([jnp.exp(0.5 * jnp.sin(x - t) + 1j * (x + 0.5 * t))]),
        _nls_rhs,
    ),
}
T_END, DT = 0.25, 1e-3


def _manufactured_error(name, discretization, n):
    """Max error at `T_END` of `physics` forced so that the exact solution
    is `exact`, on `n` cells of [0, 2 pi)."""
    physics, exact, rhs = MANUFACTURED[name]

    def pointwise_source(x, t):
        return jax.jacfwd(lambda t: exact(x, t))(t) - rhs(physics, exact, x, t)

    def source(xs, t):
        (x,) = xs
        return jax.vmap(pointwise_source, in_axes=(0, None), out_axes=1)(x, t)

    kind = ForcedComplex if physics.complex_fields else Forced
    grid = Grid((n,), (0.0,), (TWO_PI,))
    op = discretize(kind(physics, source), discretization(grid))
    (x,) = grid.coordinates
    solution = jax.vmap(exact, in_axes=(0, None), out_axes=1)
    u0 = solution(jnp.asarray(x), 0.0)
    u1 = _solve(op, u0, DT, int(round(T_END / DT)))
    return float(np.max(np.abs(u1 - np.asarray(solution(jnp.asarray(x), T_END)))))


@pytest.mark.parametrize("name", MANUFACTURED)
def test_fourier_manufactured_spectral_decay(name):
    """Fourier: the error falls geometrically with the resolution, down to
    <= 1e-10 at 48 cells (ETDRK4 with dt = 1e-3 to t = 0.25 adds less)."""
    errors = [_manufactured_error(name, FourierSpectral, n) for n in (16, 48)]
    assert errors[1] <= 1e-10, errors
    assert errors[0] > 1e3 * errors[1], errors


@needs_fd
@pytest.mark.parametrize("name", MANUFACTURED)
def test_finite_difference_manufactured_order(name, order=4):
    """Periodic finite differences: observed order >= p - 0.3 between 32 and
    64 cells (measured 3.93-3.96 at order 4, 1.98-2.03 at order 2)."""
    errors = [
        _manufactured_error(name, lambda g: FiniteDifference(g, order=order), n)
        for n in (32, 64)
    ]
    observed = np.log2(errors[0] / errors[1])
    assert observed >= order - 0.3, (errors, observed)


# ------------------------------------------------------ exact solutions


def test_nls_bright_soliton_is_exact_to_1e_10():
    """The travelling bright soliton `sech(x - c t) e^{i(c x + (1 - c^2) t/2)}`
    on 512 cells of [-10 pi, 10 pi), default 2/3 de-aliasing, ETDRK4 with
    dt = 1e-3 to t = 1: error <= 1e-10 (measured 1.1e-12 on a similar grid)."""
    grid = Grid((512,), (-10 * np.pi,), (10 * np.pi,))
    (x,) = grid.coordinates

    def exact(t, c=0.5):
        return (1 / np.cosh(x - c * t) * np.exp(1j * (c * x + (1 - c * c) * t / 2)))[
            None
        ]

    op = discretize(NonlinearSchrodinger(kappa=1.0), FourierSpectral(grid))
    u1 = _solve(op, exact(0.0), 1e-3, 1000)
    assert np.max(np.abs(u1 - exact(1.0))) <= 1e-10


def test_nls_etdrk4_is_fourth_order_in_time():
    """Fixed spectrally exact grid, dt halved three times: the soliton error
    falls by ~16 per halving (measured 13.5, 15.1, 15.8)."""
    grid = Grid((512,), (-10 * np.pi,), (10 * np.pi,))
    (x,) = grid.coordinates

    def exact(t, c=0.5):
        return (1 / np.cosh(x - c * t) * np.exp(1j * (c * x + (1 - c * c) * t / 2)))[
            None
        ]

    op = discretize(NonlinearSchrodinger(), FourierSpectral(grid))
    errors = [
        np.max(np.abs(_solve(op, exact(0.0), dt, int(round(2.0 / dt))) - exact(2.0)))
        for dt in (0.2, 0.1, 0.05)
    ]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 3.7), (errors, orders)


def test_nls_conserves_mass_to_the_time_error():
    """`integral |psi|^2` of a non-soliton pulse (kappa = 2) is conserved up
    to ETDRK4's time error, which is fourth order: the drift falls ~16-fold
    when dt is halved (measured 1.8e-8 and 1.2e-9)."""
    grid = Grid((128,), (-10 * np.pi,), (10 * np.pi,))
    (x,) = grid.coordinates
    psi0 = (1.5 * np.exp(-(x**2)) * np.exp(0.3j * x))[None]
    op = discretize(NonlinearSchrodinger(kappa=2.0), FourierSpectral(grid))
    mass0 = np.sum(np.abs(psi0) ** 2)
    drift = [
        abs(np.sum(np.abs(_solve(op, psi0, dt, int(round(2 / dt)))) ** 2) / mass0 - 1)
        for dt in (1e-2, 5e-3)
    ]
    assert drift[0] < 1e-7 and drift[0] / drift[1] > 12, drift


def test_allen_cahn_kink_pair_is_stationary():
    """`-tanh((x - 24)/sqrt 2) tanh((x + 24)/sqrt 2)` (epsilon = 1) on
    [-48, 48): two planar interfaces 48 apart (periodic images too),
    stationary up to their interaction ~exp(-34). ETDRK preserves
    equilibria, so after 100 steps only the spatial error is left: <= 1e-10
    on 576 cells (dx = 1/6; the 2/3 de-aliasing cuts the kink's spectrum
    at k = 8.4 on dx = 1/4, where the error is 8e-9)."""
    grid = Grid((576,), (-48.0,), (48.0,))
    (x,) = grid.coordinates
    s = np.sqrt(2.0)
    u0 = (-np.tanh((x - 24) / s) * np.tanh((x + 24) / s))[None]
    op = discretize(AllenCahn(epsilon=1.0), FourierSpectral(grid))
    assert np.max(np.abs(_solve(op, u0, 0.1, 100) - u0)) <= 1e-10


def test_gray_scott_substrate_mode_decays_exactly():
    """With no autocatalyst (v = 0) the substrate equation is linear:
    `u = 1 + A cos(k x) exp(-(F + D_u k^2) t)`, `v = 0` is exact (2D, a mode
    on each axis)."""
    p = GrayScott(diffusivity_u=0.1, diffusivity_v=0.05, feed=0.04, kill=0.06)
    grid = Grid((16, 16), (0.0, 0.0), (TWO_PI, TWO_PI))
    x, y = (np.asarray(c) for c in grid.mesh())

    def exact(t):
        rate2, rate3 = 0.04 + 0.1 * 4, 0.04 + 0.1 * 9
        u = (
            1
            + 0.3 * np.cos(2 * x) * np.exp(-rate2 * t)
            + 0.2 * np.sin(3 * y) * np.exp(-rate3 * t)
        )
        return np.stack([u, np.zeros_like(u)])

    op = discretize(p, FourierSpectral(grid))
    assert np.max(np.abs(_solve(op, exact(0.0), 0.1, 100) - exact(10.0))) < 1e-11
    # and the homogeneous state (1, 0) is a fixed point to round-off
    rest = np.stack([np.ones((16, 16)), np.zeros((16, 16))])
    assert np.max(np.abs(_solve(op, rest, 1.0, 50) - rest)) < 1e-14


def test_swift_hohenberg_linear_symbol_and_growth_rate():
    """The linear symbol is `r - (1 - k^2)^2` exactly, and a small mode
    grows at that rate (the cubic term is ~1e-12 relative at amplitude 1e-6,
    g = 0)."""
    r = 0.2
    grid = Grid((64,), (0.0,), (8 * np.pi,))  # wavenumbers k = m / 4
    op = discretize(SwiftHohenberg(r=r, g=0.0), FourierSpectral(grid))
    assert isinstance(op, AbstractSemilinearOperator)
    (k,) = FourierSpectral(grid).wavenumbers()
    np.testing.assert_allclose(
        np.asarray(op.linear_symbol())[0], r - (1 - k**2) ** 2, rtol=0, atol=1e-13
    )
    (x,) = grid.coordinates
    t = 5.0
    for m in (2, 4, 5, 6):  # k = 0.5, 1, 1.25, 1.5
        km = m / 4
        u0 = 1e-6 * np.cos(km * x)[None]
        u1 = _solve(op, u0, 0.05, 100)
        amplitude = np.abs(np.fft.rfft(u1[0]))[m] / (0.5 * 1e-6 * len(x))
        rate = np.log(amplitude) / t
        assert abs(rate - (r - (1 - km**2) ** 2)) < 1e-9, (km, rate)


@pytest.mark.parametrize("discretization", DISCRETIZATIONS)
def test_cahn_hilliard_conserves_mass_and_decreases_energy(discretization):
    """Spinodal decomposition in 2D from noise (mean 0.1): the mean stays to
    round-off and the free energy never increases between
    snapshots."""
    p = CahnHilliard(gamma=2e-3)
    grid = Grid((32, 32), (0.0, 0.0), (1.0, 1.0))
    u0 = 0.1 + 0.05 * jax.random.normal(jax.random.key(1), (1, 32, 32))
    op = discretize(p, discretization(grid))
    sol = diffsim.solve(
        op,
        diffsim.ETDRK4(),
        u0,
        dt=1e-3,
        num_steps=200,
        saveat=diffsim.SaveAt(every=10),
    )
    ys = np.concatenate([np.asarray(u0)[None], np.asarray(sol.ys)])
    mean = ys.reshape(len(ys), -1).mean(axis=1)
    # Fourier: the k = 0 mode of lap(.) is exactly zero, the drift is one
    # round-off; finite differences: each step adds the round-off of a sum
    # of stencil values (measured 8e-16 per 10 steps, 1.5e-14 after 200)
    bound = 1e-15 if discretization is FourierSpectral else 1e-13
    assert np.max(np.abs(mean - mean[0])) < bound
    d = FourierCalculus(FourierSpectral(grid, dealias=1.0))
    energy = np.array([float(p.free_energy(jnp.asarray(y), d)) for y in ys])
    assert np.all(np.diff(energy) < 0), energy
    assert energy[-1] < 0.6 * energy[0]  # it did separate
    assert np.max(np.abs(ys[-1])) > 0.95


@pytest.mark.parametrize("discretization", DISCRETIZATIONS)
def test_allen_cahn_energy_decreases(discretization):
    p = AllenCahn(epsilon=0.05)
    grid = Grid((32, 32), (0.0, 0.0), (1.0, 1.0))
    u0 = 0.1 * jax.random.normal(jax.random.key(2), (1, 32, 32))
    op = discretize(p, discretization(grid))
    sol = diffsim.solve(
        op, diffsim.ETDRK4(), u0, dt=0.1, num_steps=100, saveat=diffsim.SaveAt(every=5)
    )
    d = FourierCalculus(FourierSpectral(grid, dealias=1.0))
    energy = np.array([float(p.free_energy(y, d)) for y in sol.ys])
    assert np.all(np.diff(energy) < 0), energy


# ----------------------------------------------------------------- gradients


def _loss_fn(make, y0, dt, steps, grid, discretization):
    def loss(theta):
        op = discretize(make(theta), discretization(grid))
        sol = diffsim.solve(op, diffsim.ETDRK4(), y0, dt=dt, num_steps=steps)
        return jnp.mean(
            jnp.abs(sol.ys[-1]) ** 2 * jnp.cos(jnp.arange(y0.size)).reshape(y0.shape)
        )

    return loss


_g1 = Grid((32,), (0.0,), (TWO_PI,))
_x1 = jnp.asarray(_g1.coordinates[0])
GRADIENTS = {
    "AllenCahn.epsilon": (
        lambda e: AllenCahn(epsilon=e),
        0.3,
        (0.5 * jnp.sin(_x1) + 0.2 * jnp.cos(3 * _x1))[None],
        0.05,
    ),
    "CahnHilliard.gamma": (
        lambda g: CahnHilliard(gamma=g),
        0.05,
        (0.5 * jnp.sin(_x1) + 0.2 * jnp.cos(3 * _x1))[None],
        0.01,
    ),
    "GrayScott.kill": (
        lambda k: GrayScott(diffusivity_u=0.2, diffusivity_v=0.1, feed=0.04, kill=k),
        0.06,
        jnp.stack(
            [1.0 - 0.5 * jnp.exp(-((_x1 - 3) ** 2)), 0.3 * jnp.exp(-((_x1 - 3) ** 2))]
        ),
        0.5,
    ),
    "SwiftHohenberg.r": (
        lambda r: SwiftHohenberg(r=r, g=0.3),
        0.3,
        (0.5 * jnp.sin(_x1) + 0.2 * jnp.cos(3 * _x1))[None],
        0.1,
    ),
    "NonlinearSchrodinger.kappa": (
        lambda k: NonlinearSchrodinger(kappa=k),
        1.0,
        (jnp.exp(0.5 * jnp.sin(_x1)) * jnp.exp(1j * _x1))[None],
        0.01,
    ),
}


@pytest.mark.parametrize("discretization", DISCRETIZATIONS)
@pytest.mark.parametrize("name", GRADIENTS)
def test_gradient_wrt_parameter_matches_central_differences(name, discretization):
    """d loss / d parameter through 20 ETDRK4 steps (reverse mode) against
    a central difference with step 1e-6 relative (float64)."""
    make, theta, y0, dt = GRADIENTS[name]
    loss = jax.jit(_loss_fn(make, y0, dt, 20, _g1, discretization))
    grad = float(jax.grad(loss)(jnp.asarray(theta)))
    h = 1e-6 * theta
    fd = (float(loss(jnp.asarray(theta + h))) - float(loss(jnp.asarray(theta - h)))) / (
        2 * h
    )
    assert grad == pytest.approx(fd, rel=1e-6, abs=1e-12), (grad, fd)
    assert abs(grad) > 1e-8  # the loss does depend on it


# ---------------------------------------------------------- argument errors


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: AllenCahn(epsilon=0.0),
            "AllenCahn: epsilon must be > 0 and finite, got 0.0",
        ),
        (
            lambda: CahnHilliard(gamma=-1.0),
            "CahnHilliard: gamma must be > 0 and finite, got -1.0",
        ),
        (
            lambda: GrayScott(feed=-0.1),
            "GrayScott: feed must be >= 0 and finite, got -0.1",
        ),
        (
            lambda: GrayScott(diffusivity_v=float("inf")),
            "GrayScott: diffusivity_v must be > 0 and finite, got inf",
        ),
        (
            lambda: SwiftHohenberg(r=float("nan")),
            "SwiftHohenberg: r must be finite, got nan",
        ),
        (
            lambda: NonlinearSchrodinger(kappa=float("inf")),
            "NonlinearSchrodinger: kappa must be finite, got inf",
        ),
    ],
)
def test_parameters_are_checked(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message


def test_field_names_and_discretizations():
    assert GrayScott().field_names(2) == ("u", "v")
    assert NonlinearSchrodinger().field_names(1) == ("psi",)
    assert NonlinearSchrodinger.complex_fields
    for cls in (
        AllenCahn,
        CahnHilliard,
        GrayScott,
        SwiftHohenberg,
        NonlinearSchrodinger,
    ):
        assert cls.discretizations == ("fourier", "finite_difference")


# --------------------------------------------------------------- command line


def test_cli_cahn_hilliard_summary(tmp_path):
    """`diffsim run configs/cahn_hilliard.yaml` on a 32^2 grid: the summary
    reports mass drift at round-off and a decreasing free energy."""
    code = main(
        [
            "run",
            "configs/cahn_hilliard.yaml",
            "grid.cells=[32,32]",
            "physics.gamma=2e-3",
            "time.dt=1e-3",
            "time.t_end=0.1",
            "time.snapshots=10",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["scenario"] == "cahn_hilliard" and summary["status"] == "ok"
    assert summary["steps"] == 100
    assert summary["mass_drift"] < 1e-15
    assert summary["free_energy_decreasing"] is True
    assert summary["free_energy_final"] < summary["free_energy_initial"]
    assert summary["fastest_growing_wavenumber"] == pytest.approx(np.sqrt(1 / 4e-3))
    assert summary["plots"] == ["plots/u_snapshots.png"]


def test_cli_nls_soliton_complex_field(tmp_path):
    """The complex field `psi` runs, is written, compared with the exact
    soliton and plotted as modulus and real part."""
    code = main(
        [
            "run",
            "configs/nls_soliton.yaml",
            "time.t_end=1.0",
            "time.snapshots=2",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["errors"]["linf"] < 1e-10
    assert summary["mass_drift"] < 1e-12
    assert sorted(summary["plots"]) == ["plots/final.png", "plots/spacetime.png"]
    import xarray as xr

    with xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf") as ds:
        assert ds["psi"].dtype == np.complex128
