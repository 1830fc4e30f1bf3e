"""Derivatives of Euler rollouts: reverse mode (direct and checkpointed)
against central finite differences in float64, for the EOS parameter and the
initial state; forward mode; the fused and plain derivative paths agree.

Finite differences need a differentiable scheme: WENO5-JS (its weights are
smooth functions of the data) with Roe's flux on a subsonic flow with no sonic
point (|lambda| never crosses zero), in characteristic variables. WENO-Z's
|beta_0 - beta_2|, the min/max in HLL/HLLC wave-speed estimates and MUSCL
limiters are only piecewise smooth: their derivatives exist almost
everywhere (and the two derivative paths agree on them exactly) but central
differences straddle the kinks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.operators import Grid
from diffsim.operators.finite_volume import (
    HLLC,
    WENO5JS,
    WENO5Z,
    Euler,
    FirstOrder,
    IdealGas,
    Roe,
    Rusanov,
)
from diffsim.operators.internal import fused_face_map


def acoustic_pulse(grid, amplitude=1e-2):
    """A small smooth pressure/density pulse on a uniform subsonic flow,
    placed off the grid's symmetry points (periodic)."""
    xs = grid.mesh()
    bump = jnp.exp(sum(jnp.cos(2 * np.pi * (x - 0.137)) for x in xs) - grid.ndim)
    bump = bump + 0.3 * jnp.sin(2 * np.pi * (xs[0] + 0.05))
    rho = 1.0 + amplitude * bump
    p = 1.0 + 1.4 * amplitude * bump
    vel = [0.3 + 0.0 * xs[0]] + [-0.1 + 0.0 * xs[0]] * (grid.ndim - 1)
    return jnp.stack([rho, *vel, p])


def rollout_loss(grid, y0, num_steps, stepper, **kw):
    weights = jax.random.normal(jax.random.PRNGKey(7), y0.shape)

    def loss(gamma, y, adjoint):
        op = Euler(grid, eos=IdealGas(gamma), **kw)
        sol = ds.solve(
            op, stepper, y, dt=0.3 / grid.cells[0], num_steps=num_steps, adjoint=adjoint
        )
        return jnp.sum(weights * sol.ys[-1] ** 2)

    return loss


def smooth_direction(y0):
    """A random perturbation made of the four longest Fourier modes (white
    noise would excite the nonlinear weights at the grid scale and need a
    much smaller finite-difference step)."""
    x = np.arange(y0.shape[-1]) / y0.shape[-1]
    c = np.random.default_rng(3).normal(size=(y0.shape[0], 4, 2))
    modes = sum(
        c[:, k, 0, None] * np.sin(2 * np.pi * (k + 1) * x + c[:, k, 1, None])
        for k in range(4)
    )
    return jnp.asarray(modes)


def fd_check(loss, gamma, y0, adjoints, rtol=1e-6, eps=1e-6):
    f = jax.jit(lambda g, y: loss(g, y, ds.DirectAdjoint()))
    direction = smooth_direction(y0)
    fd_gamma = (f(gamma + eps, y0) - f(gamma - eps, y0)) / (2 * eps)
    fd_y = (f(gamma, y0 + eps * direction) - f(gamma, y0 - eps * direction)) / (2 * eps)
    for adjoint in adjoints:
        g_gamma, g_y = jax.jit(
            jax.grad(lambda g, y: loss(g, y, adjoint), argnums=(0, 1))
        )(gamma, y0)
        np.testing.assert_allclose(g_gamma, fd_gamma, rtol=rtol)
        np.testing.assert_allclose(jnp.vdot(g_y, direction), fd_y, rtol=rtol)


def test_first_order_roe_ssprk3_rollout_matches_fd_direct_and_checkpointed():
    grid = Grid((16,))
    y0 = acoustic_pulse(grid, amplitude=0.1)
    loss = rollout_loss(
        grid,
        y0,
        10,
        ds.SSPRK3(),
        reconstruction=FirstOrder(),
        riemann=Roe(),
        variables="primitive",
    )
    fd_check(loss, jnp.asarray(1.4), y0, [ds.DirectAdjoint(), ds.CheckpointAdjoint()])


def test_weno_js_characteristic_roe_rollout_matches_fd():
    """Fifth-order characteristic path (forward Euler steps keep the compile
    small: one right-hand side per step; the solver machinery is the same)."""
    grid = Grid((16,))
    y0 = acoustic_pulse(grid)
    loss = rollout_loss(
        grid,
        y0,
        8,
        ds.ForwardEuler(),
        reconstruction=WENO5JS(),
        riemann=Roe(),
        variables="characteristic",
    )
    fd_check(loss, jnp.asarray(1.4), y0, [ds.CheckpointAdjoint()])


def test_fused_face_map_matches_jvp_and_vjp_over_several_chunks():
    """The chunked, hinted tangent equals jax.jvp / jax.vjp of the plain
    function, for a nonlinear stencil function on a 2D slab split into
    several chunks, with a differentiable parameter."""
    key = jax.random.PRNGKey(0)
    slabs = tuple(
        1.0 + 0.1 * jax.random.normal(k, (9, 12)) for k in jax.random.split(key, 2)
    )
    params = {"a": jnp.asarray(0.7)}

    def f(p, s):
        x, y = s
        left, mid, right = x[:-2], x[1:-1], x[2:]
        shared = jnp.sin(left * mid) + p["a"] * right * y[1:-1]
        return (shared * shared / (1.0 + y[:-2] ** 2), shared + jnp.exp(-mid))

    def run(p, s):
        return fused_face_map(f, p, s, axis=0, chunk=30)  # chunks of 3 columns

    t = (params, slabs)
    dt = (
        {"a": jnp.asarray(0.3)},
        tuple(jax.random.normal(k, (9, 12)) for k in jax.random.split(key, 2)),
    )
    out, tan = jax.jvp(run, t, dt)
    out0, tan0 = jax.jvp(f, t, dt)
    for a, b in zip(out + tan, out0 + tan0):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
    ct = tuple(jnp.cos(o) for o in out0)
    g = jax.vjp(run, *t)[1](ct)
    g0 = jax.vjp(f, *t)[1](ct)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g0)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(
    "grid_cells, kw",
    [
        (
            (100, 90),
            dict(reconstruction=FirstOrder(), riemann=Rusanov(), variables="primitive"),
        ),
        (
            (24,),
            dict(reconstruction=WENO5Z(), riemann=HLLC(), variables="characteristic"),
        ),
    ],
    ids=["first_order_several_chunks", "weno_z_hllc_characteristic"],
)
def test_fused_and_plain_derivatives_agree(grid_cells, kw):
    """Both derivative paths of the face fluxes give the same VJP (state and
    gamma) and JVP to round-off, with a quiescent region: in 2D, split into
    several chunks, and in 1D with the default scheme."""
    grid = Grid(grid_cells)
    xs = grid.mesh()
    w = acoustic_pulse(grid, amplitude=0.2)
    d = grid.ndim
    w = w.at[1 : 1 + d].set(
        jnp.where(xs[0] > 0.5, 0.0, w[1 : 1 + d])
    )  # still air on half the box
    cotangent = jax.random.normal(jax.random.PRNGKey(1), w.shape)
    results = []
    for fused in (True, False):
        op = Euler(grid, eos=IdealGas(1.3), fused_derivatives=fused, **kw)
        u = op.encode(w)

        @jax.jit
        def derivatives(op, u):
            g_op, g_u = jax.grad(
                lambda op, u: jnp.vdot(op(u, 0.0), cotangent), argnums=(0, 1)
            )(op, u)
            tangent = jax.jvp(lambda v: op(v, 0.0), (u,), (cotangent,))[1]
            return g_u, g_op.eos.gamma, tangent

        results.append(derivatives(op, u))
    for a, b in zip(*results):
        scale = float(jnp.max(jnp.abs(b)))
        assert scale > 1e-3
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9 * scale)
