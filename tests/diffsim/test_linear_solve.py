"""`linear_solve`: GMRES and BiCGStab on dense test systems (real and
complex), implicit derivatives (one adjoint solve), failure reporting."""

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest

from diffsim import GMRES, BiCGStab, linear_solve

N = 40


def system(complex_=True, seed=0):
    rng = np.random.default_rng(seed)
    a = 3.0 * np.eye(N) + rng.normal(size=(N, N)) / np.sqrt(N)
    b = rng.normal(size=N)
    if complex_:
        a = a + 1j * rng.normal(size=(N, N)) / np.sqrt(N)
        b = b + 1j * rng.normal(size=N)
    return jnp.asarray(a), jnp.asarray(b)


SOLVERS = {
    "gmres": GMRES(rtol=1e-11, max_steps=400),
    "gmres_restart5": GMRES(rtol=1e-11, max_steps=400, restart=5),
    "bicgstab": BiCGStab(rtol=1e-11, max_steps=400),
}


@eqx.filter_jit
def solve(a, b, solver, preconditioner=None, throw=True, y0=None):
    pre = None if preconditioner is None else (lambda v: preconditioner @ v)
    return linear_solve(
        lambda x: a @ x, b, solver, preconditioner=pre, throw=throw, y0=y0
    )


@pytest.mark.parametrize("name", list(SOLVERS))
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_solves_to_tolerance(name, complex_):
    a, b = system(complex_)
    pre = jnp.linalg.inv(a + 0.5 * jnp.eye(N))
    sol = solve(a, b, SOLVERS[name], pre)
    assert bool(sol.converged)
    assert sol.value.dtype == b.dtype
    residual = float(jnp.linalg.norm(b - a @ sol.value) / jnp.linalg.norm(b))
    assert residual <= 1e-11
    np.testing.assert_allclose(float(sol.relative_residual), residual, rtol=1e-3)
    np.testing.assert_allclose(
        np.asarray(sol.value),
        np.linalg.solve(np.asarray(a), np.asarray(b)),
        rtol=1e-9,
        atol=1e-10,
    )


def test_preconditioner_reduces_iterations():
    a, b = system()
    plain = solve(a, b, SOLVERS["gmres"])
    pre = solve(a, b, SOLVERS["gmres"], jnp.linalg.inv(a + 0.5 * jnp.eye(N)))
    assert bool(plain.converged) and int(pre.num_steps) < int(plain.num_steps)


def test_tolerance_is_on_the_relative_residual():
    """rtol (and atol) as arrays: traced, so one compilation serves all."""
    a, b = system()
    b_norm = float(jnp.linalg.norm(b))
    for rtol, atol in ((1e-3, 0.0), (1e-6, 0.0), (1e-9, 0.0), (0.0, 1e-8 * b_norm)):
        sol = solve(
            a,
            b,
            # traced tolerances on purpose; the fields are annotated `float`
            GMRES(
                rtol=jnp.asarray(rtol),  # pyright: ignore[reportArgumentType]
                atol=jnp.asarray(atol),  # pyright: ignore[reportArgumentType]
                max_steps=400,
            ),
        )
        assert float(jnp.linalg.norm(b - a @ sol.value)) <= max(rtol * b_norm, atol)


def test_initial_guess():
    a, b = system()
    exact = jnp.linalg.solve(a, b)
    cold = solve(a, b, GMRES(rtol=1e-10), y0=jnp.zeros_like(b))
    warm = solve(a, b, GMRES(rtol=1e-10), y0=exact + 1e-6)
    assert int(warm.num_steps) < int(cold.num_steps)
    np.testing.assert_allclose(np.asarray(warm.value), np.asarray(exact), rtol=1e-8)


@pytest.mark.parametrize("name", ["gmres", "bicgstab"])
def test_unconverged_solve_raises_naming_the_residual(name):
    a, b = system()
    solver = type(SOLVERS[name])(rtol=1e-13, max_steps=3)
    with pytest.raises(
        Exception,
        match=r"did not converge: relative residual .* reached ~\de-\d\d.*max_steps=3",
    ):
        jax.block_until_ready(solve(a, b, solver))
    sol = solve(a, b, solver, throw=False)
    assert not bool(sol.converged)
    assert sol.result == lx.RESULTS.max_steps_reached
    assert 1e-13 < float(sol.relative_residual) < 1.0
    # the message names the residual actually reached, to one significant digit
    try:
        jax.block_until_ready(solve(a, b, solver))
    except Exception as e:  # noqa: BLE001
        reached = float(str(e).split("reached ~")[1].split(",")[0])
        assert reached == pytest.approx(float(sol.relative_residual), rel=0.5)


def test_singular_system_stagnates_and_raises():
    a = jnp.diag(jnp.arange(N, dtype=jnp.float64))  # singular: a[0, 0] = 0
    b = jnp.ones(N)
    sol = solve(a, b, GMRES(rtol=1e-10, max_steps=300, restart=10), throw=False)
    assert not bool(sol.converged)
    with pytest.raises(Exception, match="did not converge"):
        jax.block_until_ready(solve(a, b, GMRES(rtol=1e-10, max_steps=300, restart=10)))


def loss_iterative(theta, a, b, solver):
    m = a + theta[0] * jnp.diag(jnp.linspace(0.0, 1.0, N)) + theta[1] * jnp.eye(N, k=1)
    x = linear_solve(lambda v: m @ v, b * (1.0 + theta[2]), solver).value
    return jnp.abs(x[3]) ** 2 + jnp.sum(jnp.real(x) ** 2)


def loss_dense(theta, a, b):
    m = a + theta[0] * jnp.diag(jnp.linspace(0.0, 1.0, N)) + theta[1] * jnp.eye(N, k=1)
    x = jnp.linalg.solve(m, b * (1.0 + theta[2]))
    return jnp.abs(x[3]) ** 2 + jnp.sum(jnp.real(x) ** 2)


@pytest.mark.parametrize("name", ["gmres", "bicgstab"])
def test_gradient_matches_dense_solve(name):
    a, b = system()
    theta = jnp.asarray([0.3, -0.2, 0.1])
    g = eqx.filter_jit(jax.grad(loss_iterative))(theta, a, b, SOLVERS[name])
    g_dense = jax.grad(loss_dense)(theta, a, b)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_dense), rtol=1e-8)
    # forward mode too
    t = jnp.asarray([1.0, -0.5, 2.0])
    _, jvp = eqx.filter_jit(
        lambda th, t: jax.jvp(
            lambda th: loss_iterative(th, a, b, SOLVERS[name]), (th,), (t,)
        )
    )(theta, t)
    np.testing.assert_allclose(float(jvp), float(jnp.dot(g_dense, t)), rtol=1e-8)


def test_gradient_costs_one_adjoint_solve():
    """Reverse mode contains exactly two solves (forward and transposed) and
    never differentiates the Krylov loop itself."""
    a, b = system()
    theta = jnp.asarray([0.3, -0.2, 0.1])
    jaxpr = str(jax.make_jaxpr(jax.grad(loss_iterative))(theta, a, b, SOLVERS["gmres"]))
    assert jaxpr.count("linear_solve[") == 2 or jaxpr.count(" linear_solve") == 2, (
        jaxpr.count("linear_solve")
    )


def test_vmap_over_right_hand_sides():
    a, _ = system()
    bs = jnp.asarray(np.random.default_rng(3).normal(size=(3, N)) + 0j)
    xs = jax.vmap(lambda b: linear_solve(lambda x: a @ x, b, GMRES(rtol=1e-10)).value)(
        bs
    )
    np.testing.assert_allclose(
        np.asarray(xs),
        np.linalg.solve(np.asarray(a), np.asarray(bs).T).T,
        rtol=1e-8,
        atol=1e-10,
    )


def test_inputs_are_checked():
    a, b = system()
    with pytest.raises(ValueError, match="rtol"):
        GMRES(rtol=-1.0)
    with pytest.raises(ValueError, match="restart"):
        GMRES(restart=0)
    with pytest.raises(ValueError, match="preserve"):
        linear_solve(lambda x: (a @ x)[:-1], b)
    with pytest.raises(TypeError, match="solver"):
        linear_solve(
            lambda x: a @ x,
            b,
            lx.GMRES(rtol=1e-6, atol=0.0),  # pyright: ignore[reportArgumentType]
        )  # a lineax solver is refused at run time: the wrong type is the test
    with pytest.raises(TypeError, match="floating"):
        linear_solve(lambda x: x, jnp.arange(3))
