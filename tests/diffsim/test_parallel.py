"""Domain decomposition (`diffsim/_parallel.py`): a solve split across the 4
host CPU devices of `conftest.py` equals the one-device solve to round-off,
forward and reverse mode; bad meshes are rejected naming `parallel.mesh`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding

import diffsim
import diffsim.jobs
from diffsim.internal import (
    MeshError,
    ShardedCFLConstrainedOperator,
    ShardedCFLOperator,
    ShardedOperator,
    block_spec,
    check_divisible,
    halo_width,
    local_discretization,
    make_mesh,
    shard_operator,
    sharded_class,
)
from diffsim.jobs.run import run
from diffsim.operators import (
    AbstractCFLOperator,
    AbstractConstrainedOperator,
    Burgers,
    Dirichlet,
    FiniteDifference,
    FiniteVolume,
    FourierSpectral,
    Grid,
    NavierStokesVorticity,
    discretize,
)
from diffsim.operators.finite_volume import (
    Euler,
    FirstOrder,
    Outflow,
    Periodic,
    ReflectingWall,
    Rusanov,
)
from diffsim.operators.physics import FourierPDE, PotentialFluxLaw

pytestmark = pytest.mark.skipif(
    jax.device_count() < 4, reason="needs 4 devices (tests/conftest.py sets them)"
)


def _flow(grid):
    """A smooth, non-symmetric primitive state (rho, u, v, p)."""
    x, y = grid.mesh()
    tx, ty = 2 * np.pi * x / grid.lengths[0], 2 * np.pi * y / grid.lengths[1]
    return jnp.stack(
        [
            1.0 + 0.2 * jnp.sin(tx) * jnp.cos(ty) + 0.05 * jnp.cos(2 * ty),
            0.3 * jnp.cos(ty) + 0.1 * jnp.sin(tx),
            0.2 * jnp.sin(tx + 0.3) - 0.1 * jnp.cos(ty),
            1.0 + 0.1 * jnp.cos(tx + ty),
        ]
    )


def _maxdiff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


@pytest.mark.parametrize("mesh_shape", [(2, 2)])
def test_euler_weno5_rhs_walls_outflow_periodic(mesh_shape):
    """WENO5-Z (3 ghost cells, plus 4 for the high-order average <-> point
    value kernels) with a reflecting wall below and outflow above
    in x (the physical condition applies on the outer blocks only) and a
    periodic y (halos wrap around): the sharded right-hand side equals the
    one-device one. The reference is evaluated eagerly (no compilation)."""
    grid = Grid((16, 14), (0.0, 0.0), (1.0, 1.5))
    op = Euler(
        grid,
        boundaries=((ReflectingWall(), Outflow()), Periodic()),
        variables="primitive",
    )
    u = op.encode(_flow(grid))
    expected = op(u, 0.0)
    sharded, sharding = shard_operator(op, make_mesh(mesh_shape))
    got = jax.jit(lambda u: sharded(u, 0.0))(jax.device_put(u, sharding))
    assert got.sharding.spec == sharding.spec
    assert _maxdiff(got, expected) < 1e-13 * float(jnp.max(jnp.abs(expected)))
    # the global CFL step sees every block
    assert isinstance(sharded, AbstractCFLOperator)
    assert float(sharded.stable_dt(jax.device_put(u, sharding), 0.5)) == float(
        op.stable_dt(u, 0.5)
    )


def test_viscous_euler_with_gravity_is_split_exactly():
    """The Navier-Stokes terms (fourth-order viscous and heat fluxes, which
    read 4 more ghost cells) and gravity, with a slip wall in x and periodic
    y: the sharded right-hand side equals the one-device one. What needs
    the global grid (`equilibrium`, `source`, `NoSlipWall`) is refused with
    a `MeshError`."""
    from diffsim.operators.finite_volume import NoSlipWall, Transport

    grid = Grid((16, 14), (0.0, 0.0), (1.0, 1.5))
    op = Euler(
        grid,
        boundaries=((ReflectingWall(), Outflow()), Periodic()),
        transport=Transport(0.05),
        gravity=[0.0, -1.0],
    )
    u = op.encode(_flow(grid))
    expected = op(u, 0.0)
    sharded, sharding = shard_operator(op, make_mesh((2, 2)))
    got = jax.jit(lambda u: sharded(u, 0.0))(jax.device_put(u, sharding))
    assert _maxdiff(got, expected) < 1e-13 * float(jnp.max(jnp.abs(expected)))
    walled = Euler(
        grid, boundaries=(NoSlipWall(), Periodic()), transport=Transport(0.05)
    )
    sharded, sharding = shard_operator(walled, make_mesh((2, 2)))
    with pytest.raises(MeshError, match="with NoSlipWall cannot be split"):
        jax.jit(lambda u: sharded(u, 0.0))(jax.device_put(u, sharding))


def test_euler_rollout_and_gradient():
    """A rollout (forward Euler, first order + Rusanov, walls in x, periodic in y,
    mesh [4, 1]) and the reverse-mode gradient of a loss of its final state with
    respect to the initial state and gamma equal the one-device ones."""
    grid = Grid((16, 8), (0.0, 0.0), (1.0, 1.0))
    op = Euler(
        grid,
        reconstruction=FirstOrder(),
        riemann=Rusanov(),
        boundaries=((ReflectingWall(), ReflectingWall()), Periodic()),
        variables="primitive",
        fused_derivatives=False,
    )
    sharded, sharding = shard_operator(op, make_mesh([4, 1]))
    y0 = _flow(grid)
    weight = jnp.asarray(np.random.default_rng(0).standard_normal(y0.shape))

    def loss(op, y0):
        y = diffsim.solve(op, diffsim.ForwardEuler(), y0, dt=2e-3, num_steps=3).ys[-1]
        return jnp.sum(weight * y**2), y

    grad = jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))
    (g_op, g_y0), y1 = grad(op, y0)
    (g_sop, g_sy0), y1s = grad(sharded, jax.device_put(y0, sharding))
    assert _maxdiff(y1s, y1) < 1e-13
    assert _maxdiff(g_sy0, g_y0) < 1e-12 * float(jnp.max(jnp.abs(g_y0)))
    gamma, gamma_s = g_op.eos.gamma, g_sop.operator.eos.gamma
    assert abs(float(gamma_s) - float(gamma)) < 1e-12 * abs(float(gamma))


@pytest.mark.parametrize("mesh_shape, order", [((2, 2), 4), ((4, 1), 8)])
def test_finite_difference_helmholtz_stencil(mesh_shape, order):
    """`laplacian`, `derivative` and the flux-form Helmholtz operator
    `div(grad(u) / rho) + k^2 u / rho` of a block (halo exchange) equal the
    blocks of the global ones (periodic)."""
    grid = Grid((16, 8), (0.0, 0.0), (2.0, 1.0))
    fd = FiniteDifference(grid, order)
    x, y = grid.mesh()
    rng = np.random.default_rng(1)
    u = jnp.asarray(rng.standard_normal(grid.cells))
    rho = 1.0 + 0.5 * jnp.sin(np.pi * x) * jnp.cos(2 * np.pi * y)

    def helmholtz(d, u, rho):
        div = sum(d.derivative_of_scaled_derivative(u, 1.0 / rho, a) for a in range(2))
        return jnp.stack(
            [
                div + 9.0 * u / rho,
                d.laplacian(u),
                d.derivative(u, 0),
                d.derivative(u, 1, order=3),
            ]
        )

    expected = helmholtz(fd, u, rho)
    mesh = make_mesh(mesh_shape)
    local, spec = local_discretization(fd, mesh), block_spec(mesh)
    block = jax.shard_map(
        lambda u, rho: helmholtz(local, u, rho),
        mesh=mesh,
        in_specs=(spec, spec),
        out_specs=block_spec(mesh, 1),
    )
    got = jax.jit(block)(u, rho)
    assert _maxdiff(got, expected) < 1e-13 * float(jnp.max(jnp.abs(expected)))


def test_spectral_navier_stokes_rollout_and_gradient():
    """2D Navier-Stokes (ETDRK2, slab FFT over mesh [2, 2]): a rollout from a
    random vorticity and the gradient of its loss with respect to the
    viscosity and the initial field equal the one-device ones."""
    grid = Grid((16, 12), (0.0, 0.0), (2 * np.pi, 2 * np.pi))
    op = discretize(
        NavierStokesVorticity(nu=0.05, forcing_amplitude=0.5), FourierSpectral(grid)
    )
    sharded, sharding = shard_operator(op, make_mesh([2, 2]))
    assert isinstance(sharded, FourierPDE)
    assert isinstance(sharded.physics, NavierStokesVorticity)
    assert sharded.discretization.fft is not None
    w0 = op.decode(
        op.encode(
            jnp.asarray(np.random.default_rng(2).standard_normal((1, *grid.cells)))
        )
    )

    def loss(op, w0):
        w = diffsim.solve(op, diffsim.ETDRK2(), w0, dt=0.05, num_steps=4).ys[-1]
        return jnp.sum(jnp.sin(w)), w

    grad = jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))
    (g_op, g_w0), w1 = grad(op, w0)
    (g_sop, g_sw0), w1s = grad(sharded, jax.device_put(w0, sharding))
    assert _maxdiff(w1s, w1) < 1e-13 * float(jnp.max(jnp.abs(w1)))
    assert _maxdiff(g_sw0, g_w0) < 1e-13 * float(jnp.max(jnp.abs(g_w0)))
    assert abs(float(g_sop.physics.nu) - float(g_op.physics.nu)) < 1e-12 * abs(
        float(g_op.physics.nu)
    )


def test_run_uses_the_mesh(tmp_path):
    """`diffsim run` with `parallel.mesh=[2,2]`: the spectral Taylor-Green
    vortex keeps its exact decay, the summary records the mesh."""
    config, physics, scenario = diffsim.jobs.load_config(
        "configs/taylor_green.yaml",
        [
            "grid.cells=[16,16]",
            "time.t_end=0.2",
            "time.snapshots=1",
            "parallel.mesh=[2,2]",
        ],
    )
    summary = run(config, physics, scenario, tmp_path, plots=False)
    assert summary["mesh"] == [2, 2]
    assert summary["errors"]["l2_relative"] < 1e-13


def test_mesh_errors_are_value_errors():
    """The library raises `MeshError` (a `ValueError`, not a config error)."""
    with pytest.raises(
        MeshError, match=r"^grid\.cells\[1\] = 10 does not divide into 4"
    ) as info:
        check_divisible((16, 10), (1, 4))
    assert not isinstance(info.value, diffsim.jobs.ConfigError)
    with pytest.raises(MeshError, match=r"^expected 2 entries"):
        check_divisible((16, 16), (4,))
    with pytest.raises(MeshError, match=r"^\[4, 2\] needs 8 devices, 4 cpu"):
        make_mesh([4, 2])
    # blocks of 2 cells cannot feed WENO5's 7-cell halo
    with pytest.raises(MeshError, match=r"^blocks of 2 cells .* 7-cell halo of Euler"):
        shard_operator(Euler(Grid((8, 8))), make_mesh([4, 1]))
    # walls would need ghost cells on the outermost blocks only: refused
    walled = FiniteDifference(Grid((16, 16)), 2, boundary=Dirichlet(0.0))
    with pytest.raises(MeshError, match=r"^a FiniteDifference with walls"):
        local_discretization(walled, make_mesh([2, 2]))
    # spectral slabs split x over every device
    op = discretize(NavierStokesVorticity(nu=0.1), FourierSpectral(Grid((6, 8))))
    with pytest.raises(MeshError, match=r"grid\.cells\[0\] = 6 must be divisible by 4"):
        shard_operator(op, make_mesh([2, 2]))
    # the generic finite-volume operator has no halo exchange (yet): refused
    scalar = discretize(PotentialFluxLaw(lambda u: u**3 / 6), FiniteVolume(Grid([16])))
    with pytest.raises(
        MeshError,
        match=r"^FiniteVolumePDE cannot be split across devices \(Euler and 2D/3D "
        r"Fourier-spectral operators can\)$",
    ):
        shard_operator(scalar, make_mesh([4]))
    assert isinstance(
        shard_operator(Euler(Grid((16, 16))), make_mesh([2, 2]))[1], NamedSharding
    )


def test_errors_name_parallel_mesh(tmp_path):
    """The job layer reports the library's mesh errors naming `parallel.mesh`."""
    with pytest.raises(
        diffsim.jobs.ConfigError,
        match=r"parallel\.mesh: grid\.cells\[0\] = 30 does not divide",
    ):
        diffsim.jobs.load_config(
            "configs/riemann_2d.yaml", ["grid.cells=[30,32]", "parallel.mesh=[4,1]"]
        )
    with pytest.raises(
        diffsim.jobs.ConfigError,
        match=r"parallel\.mesh: \[4, 2\] needs 8 devices, 4 cpu",
    ):
        diffsim.jobs.load_config("configs/riemann_2d.yaml", ["parallel.mesh=[4,2]"])
    # divisible, but blocks of 2 cells cannot feed WENO5's halo: found when
    # the operator is sharded
    config, physics, scenario = diffsim.jobs.load_config(
        "configs/riemann_2d.yaml",
        ["grid.cells=[8,8]", "parallel.mesh=[4,1]", "time.snapshots=1"],
    )
    with pytest.raises(
        diffsim.jobs.ConfigError,
        match=r"^parallel\.mesh: blocks of 2 cells along axis 0 .* halo of Euler",
    ):
        run(config, physics, scenario, tmp_path, plots=False)


def test_sharded_operator_declares_the_capabilities_it_wraps():
    """`shard_operator` picks the wrapper class by the operator's type: an
    `Euler` is sharded as a CFL and constrained operator; nothing else of
    the wrapped operator is forwarded."""
    op = Euler(Grid((16, 16)), reconstruction=FirstOrder())
    sharded, sharding = shard_operator(op, make_mesh([2, 2]))
    assert type(sharded) is ShardedCFLConstrainedOperator
    assert isinstance(sharded, AbstractCFLOperator)
    assert isinstance(sharded, AbstractConstrainedOperator)
    assert sharded.field_names == op.field_names
    assert sharded.positive_quantities == ("density", "pressure")
    scalar = discretize(PotentialFluxLaw(jnp.sin), FiniteVolume(Grid([8])))
    assert sharded_class(scalar) is ShardedCFLOperator
    assert (
        sharded_class(discretize(Burgers(0.1), FourierSpectral(Grid([8]))))
        is ShardedOperator
    )
    with pytest.raises(AttributeError):
        sharded.max_wave_speed  # pyright: ignore[reportAttributeAccessIssue]
    assert halo_width(op) == 1
    assert halo_width(Euler(Grid((16, 16)))) == 7  # WENO5-Z + average correction
    assert halo_width(FiniteDifference(Grid((16, 16)), 4)) == 2
    y = jax.device_put(op.encode(_flow(Grid((16, 16)))), sharding)
    assert float(sharded.stable_dt(y, 0.5)) == float(op.stable_dt(y, 0.5))
