"""The per-component flux of the physics vocabulary (`flux_channels`,
`full_flux`) and the calculus' `curl`: a physics that declares which
channels its flux touches gives the right-hand side of the same physics
written with the dense flux on every discretization (Fourier, periodic and
walled finite differences, finite volumes with the Riemann solver and the
flux Jacobian's speeds), and wrong declarations are refused by name."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim.operators import (
    WENO5Z,
    Burgers,
    Dirichlet,
    FiniteDifference,
    FourierSpectral,
    Grid,
    Neumann,
    Outflow,
    Periodic,
    Rusanov,
)
from diffsim.operators.discretization import Periodic as PeriodicAxis
from diffsim.operators.physics import (
    AbstractPhysics,
    FiniteDifferenceCalculus,
    FiniteVolume,
    FiniteVolumePDE,
    FourierCalculus,
    FourierPDE,
    SemilinearPDE,
    WalledFiniteDifferencePDE,
    discretize,
)

jax.config.update("jax_enable_x64", True)


class DenseBurgers(Burgers):
    """Burgers with the dense flux `delta_ia |u|^2 / 2` (zeros included)."""

    def flux_channels(self, axis):
        return None

    def flux(self, u, axis):
        return jnp.zeros_like(u).at[axis].set(0.5 * jnp.sum(u * u, axis=0))


class Sparse(AbstractPhysics):
    """Three channels in 2D with a flux that touches channels `(2, 0)` (in
    that order) along x and channel 1 along y; wave speeds by automatic
    differentiation of `full_flux`."""

    def field_names(self, ndim):
        return ("a", "b", "c")

    def flux_channels(self, axis):
        return (2, 0) if axis == 0 else (1,)

    def flux(self, u, axis):
        if axis == 0:
            return jnp.stack([u[0] * u[1] + u[2], 0.5 * u[0] ** 2 + 0.1 * u[2]])
        return (0.5 * u[1] ** 2 + 0.2 * u[2])[None]

    def linear(self, u, d):
        return 0.01 * d.laplacian(u)


class Dense(Sparse):
    """`Sparse` with the dense flux (every row, zeros included)."""

    def flux_channels(self, axis):
        return None

    def flux(self, u, axis):
        rows = super().flux(u, axis)
        assert rows is not None
        zero = jnp.zeros_like(u[0])
        if axis == 0:
            return jnp.stack([rows[1], zero, rows[0]])
        return jnp.stack([zero, rows[0], zero])


GRID = Grid((16, 12), (0.0, 0.0), (2 * np.pi, 2 * np.pi))
WALLS = [(Dirichlet(0.0), Neumann(0.0)), PeriodicAxis()]
DISCRETIZATIONS = {
    "fourier": FourierSpectral(GRID),
    "fd_periodic": FiniteDifference(GRID, 4),
    "fd_walls": FiniteDifference(GRID, 4, boundary=WALLS),
    "fv": FiniteVolume(GRID, WENO5Z(), Rusanov(), boundary=[Outflow(), Periodic()]),
}


def _fields(channels):
    x, y = GRID.mesh()
    base = [
        0.3 + jnp.sin(x) * jnp.cos(y),
        0.5 * jnp.cos(x + 2 * y),
        0.2 * jnp.sin(2 * x - y),
    ]
    return jnp.stack(base[:channels])


def _rhs(physics, disc, fields):
    op = discretize(physics, disc)
    state = op.encode(fields)
    if isinstance(op, SemilinearPDE):
        return op.nonlinear(state, 0.0)  # Fourier / periodic FD: the spectrum
    if isinstance(op, WalledFiniteDifferencePDE):
        return op.explicit(state, 0.0)  # walls: the explicit part
    assert isinstance(op, FiniteVolumePDE)
    return op(state, 0.0)


@pytest.mark.parametrize("name", sorted(DISCRETIZATIONS))
@pytest.mark.parametrize(
    "pair", [(Burgers(nu=0.1), DenseBurgers(nu=0.1), 2), (Sparse(), Dense(), 3)]
)
def test_per_component_flux_equals_the_dense_flux(name, pair):
    """Same right-hand side to round-off (relative 1e-13) as the dense flux,
    on every discretization (finite volumes: the Riemann solver sees the
    rows scattered into zeros, the speeds are those of `full_flux`)."""
    sparse, dense, channels = pair
    fields = _fields(channels)
    disc = DISCRETIZATIONS[name]
    got = np.asarray(_rhs(sparse, disc, fields))
    want = np.asarray(_rhs(dense, disc, fields))
    assert np.max(np.abs(want)) > 0.1
    assert np.max(np.abs(got - want)) <= 1e-13 * np.max(np.abs(want))


def test_full_flux_scatters_the_declared_rows():
    u = _fields(3)
    full = Sparse().full_flux(u, 0)
    assert full is not None
    np.testing.assert_array_equal(full[0], 0.5 * u[0] ** 2 + 0.1 * u[2])
    np.testing.assert_array_equal(full[1], 0.0)
    np.testing.assert_array_equal(full[2], u[0] * u[1] + u[2])
    dense = Dense().full_flux(u, 1)
    np.testing.assert_array_equal(Sparse().full_flux(u, 1), dense)


class _TooManyRows(Sparse):
    def flux(self, u, axis):
        return jnp.stack([u[0], u[1]])


class _NoSuchChannel(Sparse):
    def flux_channels(self, axis):
        return (0, 3)


class _DenseWrongRows(AbstractPhysics):
    def field_names(self, ndim):
        return ("a", "b")

    def flux(self, u, axis):
        return u[:1]


def test_wrong_declarations_are_refused():
    u = _fields(3)
    with pytest.raises(
        ValueError,
        match=r"^_TooManyRows\.flux\(u, 1\) returned 2 rows; "
        r"flux_channels\(1\) = \(1,\) declares 1$",
    ):
        _TooManyRows().full_flux(u, 1)
    with pytest.raises(
        ValueError,
        match=r"^_NoSuchChannel\.flux_channels\(0\) = \(0, 3\): expected distinct "
        r"channels among 0\.\.2$",
    ):
        FourierPDE(_NoSuchChannel(), FourierSpectral(GRID)).nonlinear(
            jnp.zeros((3, 16, 7), complex), 0.0
        )
    with pytest.raises(
        ValueError,
        match=r"^_DenseWrongRows\.flux\(u, 0\) returned 1 rows for 2 channels "
        r"\(declare flux_channels\(0\) to return only some\)$",
    ):
        _DenseWrongRows().full_flux(u[:2], 0)


def test_curl_is_exact_on_fourier_and_fourth_order_by_stencils():
    """2D `v = (sin x cos y, cos x sin 2y)`, curl `sin x (sin y - sin 2y)`;
    3D `v = (sin y, sin z, sin x)`, curl `-(cos z, cos x, cos y)`. Fourier:
    round-off; fourth-order differences: error falls >= 14x from 16 to 32
    cells (2^4 = 16)."""
    grid = Grid((16, 16), 0.0, 2 * np.pi)
    x, y = grid.mesh()
    v = jnp.stack([jnp.sin(x) * jnp.cos(y), jnp.cos(x) * jnp.sin(2 * y)])
    exact = jnp.sin(x) * (jnp.sin(y) - jnp.sin(2 * y))
    curl = FourierCalculus(FourierSpectral(grid)).curl(v)
    assert float(jnp.max(jnp.abs(curl - exact))) <= 1e-13

    grid3 = Grid((8, 8, 8), 0.0, 2 * np.pi)
    x, y, z = grid3.mesh()
    v3 = jnp.stack([jnp.sin(y), jnp.sin(z), jnp.sin(x)])
    exact3 = -jnp.stack([jnp.cos(z), jnp.cos(x), jnp.cos(y)])
    curl3 = FourierCalculus(FourierSpectral(grid3)).curl(v3)
    assert float(jnp.max(jnp.abs(curl3 - exact3))) <= 1e-13

    errors = []
    for n in (16, 32):
        g = Grid((n, n), 0.0, 2 * np.pi)
        x, y = g.mesh()
        v = jnp.stack([jnp.sin(x) * jnp.cos(y), jnp.cos(x) * jnp.sin(2 * y)])
        exact = jnp.sin(x) * (jnp.sin(y) - jnp.sin(2 * y))
        curl = FiniteDifferenceCalculus(FiniteDifference(g, 4)).curl(v)
        errors.append(float(jnp.max(jnp.abs(curl - exact))))
    assert errors[1] < errors[0] / 14, errors


def test_curl_refuses_1d_grids_and_wrong_shapes():
    calc = FourierCalculus(FourierSpectral(Grid(8)))
    with pytest.raises(ValueError, match=r"^curl needs a 2D or 3D grid, got a 1D one$"):
        calc.curl(jnp.zeros((1, 8)))
    calc2 = FourierCalculus(FourierSpectral(Grid((8, 8))))
    with pytest.raises(
        ValueError,
        match=r"^curl: expected a vector field of shape \(2, \*cells\), got "
        r"\(3, 8, 8\)$",
    ):
        calc2.curl(jnp.zeros((3, 8, 8)))
