"""Approximate Riemann solvers: consistency, isolated contacts and shocks,
supersonic upwinding, and the Roe entropy fix."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.operators import Grid
from diffsim.operators.finite_volume import (
    HLL,
    HLLC,
    Euler,
    FirstOrder,
    IdealGas,
    Outflow,
    Roe,
    Rusanov,
    primitive_to_conservative,
)

GAMMA = 1.4
EOS = IdealGas(GAMMA)
SOLVERS = {
    "rusanov": Rusanov(),
    "hll_davis": HLL(wave_speeds="davis"),
    "hll_einfeldt": HLL(wave_speeds="einfeldt"),
    "hllc_davis": HLLC(wave_speeds="davis"),
    "hllc_einfeldt": HLLC(wave_speeds="einfeldt"),
    "roe": Roe(),
    "roe_no_fix": Roe(entropy_fix=False),
}


def physical_flux(w, axis):
    """Euler flux of primitive states (vars, ...) along `axis`, in NumPy."""
    w = np.asarray(w)
    rho, vel, p = w[0], w[1:-1], w[-1]
    un = vel[axis]
    E = p / (GAMMA - 1) + 0.5 * rho * np.sum(vel**2, axis=0)
    mom = [rho * un * u + (p if d == axis else 0.0) for d, u in enumerate(vel)]
    return np.stack([rho * un, *mom, un * (E + p)])


def states(*cols):
    return jnp.asarray(np.array(cols, dtype=float).T)


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_consistency_identical_states(name, ndim):
    key = jax.random.PRNGKey(ndim)
    k1, k2, k3 = jax.random.split(key, 3)
    n = 9
    w = jnp.concatenate(
        [
            (0.5 + jax.random.uniform(k1, (n,)))[None],
            2.0 * jax.random.normal(k2, (ndim, n)),
            (0.1 + jax.random.uniform(k3, (n,)))[None],
        ]
    )
    for axis in range(ndim):
        f = SOLVERS[name].flux(w, w, EOS, axis)
        np.testing.assert_allclose(f, physical_flux(w, axis), rtol=1e-13, atol=1e-13)


def test_flux_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="differ"):
        HLLC().flux(jnp.ones((4, 3)), jnp.ones((4, 2)), EOS, 0)
    with pytest.raises(ValueError, match="axis"):
        HLLC().flux(jnp.ones((4, 3)), jnp.ones((4, 3)), EOS, 2)


def test_wave_speeds_validated():
    with pytest.raises(ValueError, match="wave_speeds"):
        HLLC(wave_speeds="pvrs")


# Stationary contact: density jumps, u = 0, p constant; a tangential velocity
# jump (shear) on top in 2D. Exact flux: (0, p, 0, 0).
CONTACT_L = states([1.0, 0.0, 0.3, 1.0])
CONTACT_R = states([0.125, 0.0, -0.7, 1.0])


@pytest.mark.parametrize("name", ["hllc_davis", "hllc_einfeldt", "roe", "roe_no_fix"])
def test_stationary_contact_is_exact(name):
    f = SOLVERS[name].flux(CONTACT_L, CONTACT_R, EOS, 0)
    np.testing.assert_allclose(np.asarray(f)[:, 0], [0.0, 1.0, 0.0, 0.0], atol=1e-15)


@pytest.mark.parametrize("name", ["rusanov", "hll_davis", "hll_einfeldt"])
def test_stationary_contact_is_smeared(name):
    f = np.asarray(SOLVERS[name].flux(CONTACT_L, CONTACT_R, EOS, 0))[:, 0]
    assert f[0] > 1e-2  # mass diffuses from the dense side
    np.testing.assert_allclose(f[1], 1.0, rtol=1e-14)


def shock_states(mach, rho_r=1.0, p_r=1.0, u_r=0.0, frame=0.0):
    """A right-moving shock into (rho_r, u_r, p_r) from the Rankine-Hugoniot
    relations (Toro 2009, chapter 3), seen in a frame moving with `frame`."""
    c_r = np.sqrt(GAMMA * p_r / rho_r)
    s = u_r + mach * c_r
    m2 = mach**2
    rho_l = rho_r * (GAMMA + 1) * m2 / ((GAMMA - 1) * m2 + 2)
    p_l = p_r * (2 * GAMMA * m2 - (GAMMA - 1)) / (GAMMA + 1)
    u_l = s - rho_r * (s - u_r) / rho_l
    left = [rho_l, u_l - frame, 0.2, p_l]
    right = [rho_r, u_r - frame, 0.2, p_r]
    return states(left), states(right), s - frame


@pytest.mark.parametrize("name", ["hll_einfeldt", "hllc_einfeldt", "roe", "roe_no_fix"])
@pytest.mark.parametrize(
    "mach, frame", [(2.0, 0.0), (3.0, 2.5), (1.5, 4.0), (2.5, 10.0)]
)
def test_isolated_shock_gives_the_exact_upwind_flux(name, mach, frame):
    left, right, s = shock_states(mach, frame=frame)
    fl, fr = physical_flux(left, 0), physical_flux(right, 0)
    ul = np.asarray(primitive_to_conservative(left, EOS))
    ur = np.asarray(primitive_to_conservative(right, EOS))
    np.testing.assert_allclose(
        fr - fl, s * (ur - ul), rtol=1e-12, atol=1e-12
    )  # Rankine-Hugoniot
    exact = fl if s > 0 else fr
    f = np.asarray(SOLVERS[name].flux(left, right, EOS, 0))
    np.testing.assert_allclose(f, exact, rtol=1e-12, atol=1e-12)


def test_isolated_shock_rusanov_and_davis_are_not_exact():
    left, right, s = shock_states(2.0, frame=0.0)
    exact = physical_flux(left, 0) if s > 0 else physical_flux(right, 0)
    for name in ["rusanov", "hll_davis"]:
        f = np.asarray(SOLVERS[name].flux(left, right, EOS, 0))
        assert np.max(np.abs(f - exact)) > 1e-3, name


@pytest.mark.parametrize(
    "name",
    ["hll_davis", "hll_einfeldt", "hllc_davis", "hllc_einfeldt", "roe", "roe_no_fix"],
)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_supersonic_flow_is_upwind(name, sign):
    """Both states move supersonically in the same direction: every upwind
    solver returns that side's physical flux (Rusanov does not: it adds
    dissipation proportional to |u| + c regardless of direction)."""
    left = states([1.0, sign * 3.0, 0.1, 1.0], [0.8, sign * 4.0, -0.2, 0.7])
    right = states([0.5, sign * 3.5, 0.5, 0.4], [1.2, sign * 3.8, 0.0, 1.1])
    f = np.asarray(SOLVERS[name].flux(left, right, EOS, 0))
    upwind = left if sign > 0 else right
    np.testing.assert_allclose(f, physical_flux(upwind, 0), rtol=1e-13, atol=1e-13)
    f_rusanov = np.asarray(SOLVERS["rusanov"].flux(left, right, EOS, 0))
    assert np.max(np.abs(f_rusanov - physical_flux(upwind, 0))) > 1e-2


@pytest.mark.parametrize("name", SOLVERS)
def test_mirror_symmetry(name):
    """Swapping left and right and reversing the normal velocity negates the
    normal mass/energy flux and keeps the normal momentum flux."""
    key = jax.random.PRNGKey(3)
    k1, k2 = jax.random.split(key)
    left = states([1.0, 0.3, 0.2, 1.0], [0.4, -1.0, 0.5, 0.3])
    right = states([0.7, -0.1, 0.0, 0.6], [1.5, 0.8, -0.4, 2.0])
    flip = np.array([1.0, -1.0, 1.0, 1.0])[:, None]
    f = np.asarray(SOLVERS[name].flux(left, right, EOS, 0))
    g = np.asarray(SOLVERS[name].flux(right * flip, left * flip, EOS, 0))
    np.testing.assert_allclose(g, -f * flip, rtol=1e-12, atol=1e-14)


def test_roe_entropy_fix_removes_the_sonic_expansion_shock():
    """Toro (2009, chapter 11), test 1: a left rarefaction with a sonic point.
    First-order Roe without a fix keeps a stationary expansion shock (an O(1)
    density jump between two cells inside the fan); with the Harten-Hyman fix
    the fan is as smooth as with HLLC."""
    n = 100
    grid = Grid((n,))
    x = grid.axis_coordinates(0)
    w0 = jnp.asarray(
        np.stack(
            [
                np.where(x < 0.3, 1.0, 0.125),
                np.where(x < 0.3, 0.75, 0.0),
                np.where(x < 0.3, 1.0, 0.1),
            ]
        )
    )
    jumps = {}
    for name in ["roe_no_fix", "roe", "hllc_einfeldt"]:
        op = Euler(
            grid,
            reconstruction=FirstOrder(),
            riemann=SOLVERS[name],
            boundaries=Outflow(),
        )
        dt = float(op.stable_dt(op.encode(w0), 0.4))
        steps = int(np.ceil(0.2 / dt))
        rho = np.asarray(
            ds.solve(op, ds.SSPRK3(), w0, dt=0.2 / steps, num_steps=steps).ys[-1, 0]
        )
        fan = (x > 0.15) & (x < 0.45)
        jumps[name] = np.max(np.abs(np.diff(rho[fan])))
    assert jumps["roe_no_fix"] > 0.15, jumps
    assert jumps["roe"] < 0.07, jumps
    assert jumps["roe"] < 1.3 * jumps["hllc_einfeldt"], jumps
