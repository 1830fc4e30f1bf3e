"""Time steppers: convergence order by a fitted slope on a linear problem with a
known solution, exact stability functions, ETDRK coefficients against series."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array

import diffsim as ds
from diffsim.operators import AbstractOperator, AbstractSemilinearOperator


class ForcedLinear(AbstractSemilinearOperator):
    """`u' = lam1 u + (lam2 u + a cos t)`, one channel of independent modes.

    `lam1` is the 'stiff' linear symbol, `lam2 u + a cos t` the 'nonlinear'
    part; the time dependence checks the stage times of every stepper."""

    lam1: Array
    lam2: Array
    forcing: Array

    @property
    def field_names(self):
        return ("u",)

    def linear_symbol(self):
        return self.lam1[None]

    def nonlinear(self, state, t):
        return self.lam2[None] * state + self.forcing * jnp.cos(t)

    def encode(self, fields):
        return fields.astype(jnp.result_type(fields, self.lam1, self.lam2))

    def decode(self, state):
        return state

    def exact(self, u0, t0, t1):
        """`e^{lam (t1-t0)} u0 + a int_{t0}^{t1} e^{lam (t1-s)} cos(s) ds`."""
        lam = np.asarray(self.lam1 + self.lam2)
        a = float(self.forcing)
        growth = np.exp(lam * (t1 - t0))
        out = growth * u0
        for w in (1.0, -1.0):
            out = out + 0.5 * a * (
                np.exp(1j * w * t1) - growth * np.exp(1j * w * t0)
            ) / (1j * w - lam)
        return out if np.iscomplexobj(lam) else out.real


class PlainDecay(AbstractOperator):
    """`u' = lam u` without a linear/nonlinear split."""

    lam: Array

    @property
    def field_names(self):
        return ("u",)

    def __call__(self, state, t):
        return self.lam * state

    def encode(self, fields):
        return fields

    def decode(self, state):
        return state


OPERATORS = {
    "real": ForcedLinear(
        jnp.array([-2.0, -0.5]), jnp.array([0.5, -1.0]), jnp.array(0.8)
    ),
    "complex": ForcedLinear(
        jnp.array([-1.0 + 3.0j, -2.0 + 0.0j]),
        jnp.array([0.3 - 0.5j, 0.5 + 0.2j]),
        jnp.array(0.8),
    ),
}
STEPPERS = [
    ds.ForwardEuler(),
    ds.SSPRK3(),
    ds.RK4(),
    ds.ETDRK1(),
    ds.ETDRK2(),
    ds.ETDRK4(),
]
U0 = np.array([[1.0, -0.5]])
T0, T1 = 0.3, 1.3


def test_declared_orders():
    assert [s.order for s in STEPPERS] == [1, 3, 4, 1, 2, 4]


@pytest.mark.parametrize("stepper", STEPPERS, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("kind", sorted(OPERATORS))
def test_convergence_order(stepper, kind):
    op = OPERATORS[kind]
    exact = op.exact(U0, T0, T1)
    ns = np.array([16, 32, 64])
    errors = []
    for n in ns:
        sol = ds.solve(
            op, stepper, jnp.asarray(U0), dt=(T1 - T0) / n, num_steps=int(n), t0=T0
        )
        np.testing.assert_allclose(sol.ts, [T1], rtol=1e-14)
        errors.append(np.max(np.abs(np.asarray(sol.ys[-1]) - exact)))
    slope = np.polyfit(np.log((T1 - T0) / ns), np.log(errors), 1)[0]
    assert abs(slope - stepper.order) < 0.25, (
        f"fitted order {slope:.3f}, errors {errors}"
    )


@pytest.mark.parametrize(
    "stepper, R",
    [
        (ds.ForwardEuler(), lambda z: 1 + z),
        (ds.SSPRK3(), lambda z: 1 + z + z**2 / 2 + z**3 / 6),
        (ds.RK4(), lambda z: 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24),
    ],
    ids=lambda s: type(s).__name__ if isinstance(s, ds.AbstractStepper) else "",
)
def test_explicit_stability_functions(stepper, R):
    """One step of u' = lam u multiplies by the stability polynomial R(lam dt),
    with or without the semilinear split."""
    lam = jnp.array([-2.0, -0.5 + 1.5j, 0.3])
    dt = 0.4
    u0 = jnp.ones((1, 3), dtype=jnp.complex128)
    expected = np.asarray(R(lam * dt))[None]
    plain = stepper.step(
        PlainDecay(lam[None]), u0, 0.0, dt, stepper.init(PlainDecay(lam[None]), dt)
    )
    np.testing.assert_allclose(plain, expected, rtol=1e-14)
    split = ForcedLinear(lam - 0.7, jnp.full(3, 0.7 + 0j), jnp.array(0.0))
    np.testing.assert_allclose(
        stepper.step(split, u0, 0.0, dt, None), expected, rtol=1e-14
    )


def test_etdrk_needs_a_semilinear_operator():
    for stepper in (ds.ETDRK1(), ds.ETDRK2(), ds.ETDRK4()):
        with pytest.raises(TypeError, match="AbstractSemilinearOperator"):
            ds.solve(
                PlainDecay(jnp.array(-1.0)),
                stepper,
                jnp.ones((1, 2)),
                dt=0.1,
                num_steps=2,
            )


def test_etdrk4_is_exact_without_nonlinear_part():
    """With N = 0 the linear part is integrated exactly, however stiff or
    oscillatory."""
    lam1 = jnp.array([-1e6, -1.0, -1e-10, 1e-10j, -1.0 + 3.0j, 1000j, 0.5])
    op = ForcedLinear(lam1, jnp.zeros(7, dtype=jnp.complex128), jnp.array(0.0))
    u0 = jnp.asarray(np.linspace(1.0, 2.0, 7)[None] + 0j)
    dt, n = 0.1, 10
    for stepper in (ds.ETDRK1(), ds.ETDRK2(), ds.ETDRK4()):
        y = ds.solve(op, stepper, u0, dt=dt, num_steps=n).ys[-1]
        expected = np.exp(np.asarray(lam1) * dt * n)[None] * np.asarray(u0)
        np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-300)


def test_etdrk4_stiff_limit():
    """L = -1e6, N = cos(t): no blow-up, and the solution sits on the slow manifold
    u ~ cos(t)/1e6 as predicted by the exact solution."""
    op = ForcedLinear(jnp.array([-1e6]), jnp.array([0.0]), jnp.array(1.0))
    y = ds.solve(op, ds.ETDRK4(), jnp.array([[1.0]]), dt=0.1, num_steps=10, t0=T0).ys[
        -1
    ]
    exact = op.exact(np.array([[1.0]]), T0, T0 + 1.0)
    np.testing.assert_allclose(y, exact, rtol=1e-7)  # measured 3e-9


# --- phi-functions ------------------------------------------------------------


def _series(coefficient, z, terms=80):
    return sum(coefficient(j) * z**j for j in range(terms))


def _phi_closed(k, z):
    return (np.exp(z) - sum(z**j / math.factorial(j) for j in range(k))) / z**k


def reference_coefficients(z, dt):
    """ETDRK coefficients from Taylor series for |z| < 4 (each coefficient's own
    series, so no cancellation between phi-functions) and closed forms otherwise
    (Cox & Matthews 2002; Kassam & Trefethen 2005, eq. (2.5))."""
    z = complex(z)
    f = math.factorial
    if abs(z) < 4:
        p1 = _series(lambda j: 1 / f(j + 1), z)
        p2 = _series(lambda j: 1 / f(j + 2), z)
        q = _series(lambda j: 0.5**j / f(j + 1), z) / 2
        f1 = _series(lambda j: 1 / f(j + 1) - 3 / f(j + 2) + 4 / f(j + 3), z)
        f2 = _series(lambda j: 1 / f(j + 2) - 2 / f(j + 3), z)
        f3 = _series(lambda j: 4 / f(j + 3) - 1 / f(j + 2), z)
    else:
        e = np.exp(z)
        p1, p2 = _phi_closed(1, z), _phi_closed(2, z)
        q = np.expm1(z / 2) / z
        f1 = (-4 - z + e * (4 - 3 * z + z**2)) / z**3
        f2 = (2 + z + e * (z - 2)) / z**3
        f3 = (-4 - 3 * z - z**2 + e * (4 - z)) / z**3
    return {
        ds.ETDRK1: dict(E=np.exp(z), Q=dt * p1),
        ds.ETDRK2: dict(E=np.exp(z), Q1=dt * p1, Q2=dt * p2),
        ds.ETDRK4: dict(
            E=np.exp(z), E2=np.exp(z / 2), Q=dt * q, f1=dt * f1, f2=dt * f2, f3=dt * f3
        ),
    }


def test_phi_series_leading_terms():
    """The reference itself: Kassam & Trefethen's limits f1, f2, f3 -> 1/6, Q -> 1/2,
    and the series and closed-form branches agree where both are accurate."""
    ref = reference_coefficients(1e-12, 1.0)[ds.ETDRK4]
    limits = [ref["f1"], ref["f2"], ref["f3"], ref["Q"]]
    np.testing.assert_allclose(limits, [1 / 6, 1 / 6, 1 / 6, 1 / 2], rtol=1e-11)
    for z in (3.99, -3.99, 3.99j):
        series = reference_coefficients(z, 1.0)[ds.ETDRK4]
        for name, value in series.items():
            w = complex(z)
            e = np.exp(w)
            direct = dict(
                E=e,
                E2=np.exp(w / 2),
                Q=np.expm1(w / 2) / w,
                f1=(-4 - w + e * (4 - 3 * w + w**2)) / w**3,
                f2=(2 + w + e * (w - 2)) / w**3,
                f3=(-4 - 3 * w - w**2 + e * (4 - w)) / w**3,
            )[name]
            np.testing.assert_allclose(
                value, direct, rtol=1e-12, err_msg=f"{name} at {z}"
            )


Z_VALUES = [
    1e-10,
    -1e-10,
    1e-10j,
    1e-3,
    -0.5,
    -1.0,
    1j,
    -1.0 + 3.0j,
    2.0,
    -20.0,
    -1e6,
    50j,
    1e3j,
    -3.0 - 40j,
]


@pytest.mark.parametrize(
    "stepper", [ds.ETDRK1(), ds.ETDRK2(), ds.ETDRK4()], ids=lambda s: type(s).__name__
)
def test_etdrk_coefficients(stepper):
    """Contour-integral coefficients agree with series / closed forms, including
    tiny |L dt| (where the closed forms cancel catastrophically) and huge |L dt|."""
    dt = 0.37
    z = np.array(Z_VALUES)
    op = ForcedLinear(
        jnp.asarray(z / dt), jnp.zeros(len(z), dtype=jnp.complex128), jnp.array(0.0)
    )
    cache = stepper.init(op, dt)
    refs = [reference_coefficients(zi, dt)[type(stepper)] for zi in z]
    assert set(cache) == set(refs[0])
    for name, values in cache.items():
        values = np.asarray(values)[0]
        assert np.all(np.isfinite(values)), name
        expected = np.array([r[name] for r in refs])
        np.testing.assert_allclose(values, expected, rtol=1e-12, atol=0, err_msg=name)


def test_etdrk_coefficients_real_symbol_are_real():
    z = np.array([1e-10, -1e-10, -0.5, -20.0, -1e6, 2.0])
    op = ForcedLinear(jnp.asarray(z), jnp.zeros(len(z)), jnp.array(0.0))
    cache = ds.ETDRK4().init(op, 1.0)
    for name, values in cache.items():
        assert values.dtype == jnp.float64, name
        expected = np.array(
            [reference_coefficients(zi, 1.0)[ds.ETDRK4][name] for zi in z]
        )
        np.testing.assert_allclose(
            values[0], np.real(expected), rtol=1e-12, err_msg=name
        )


@pytest.mark.parametrize("scale", [1.0, 1.0 + 1e-7])
def test_etdrk_coefficients_when_a_contour_node_hits_zero(scale):
    """The contour is the circle |w - z| = 1 sampled at z + exp(i pi (2j+1)/64).
    For complex z = -exp(i pi/64) (e.g. KdV with viscosity,
    z = dt (i beta k^3 - nu k^2)) a node lands on w = 0 and the direct formulas are
    evaluated at 0/0."""
    z = -np.exp(1j * np.pi / 64) * scale
    op = ForcedLinear(
        jnp.asarray([z]), jnp.zeros(1, dtype=jnp.complex128), jnp.array(0.0)
    )
    cache = ds.ETDRK4().init(op, 1.0)
    ref = reference_coefficients(z, 1.0)[ds.ETDRK4]
    for name, values in cache.items():
        np.testing.assert_allclose(
            np.asarray(values)[0], [ref[name]], rtol=1e-10, err_msg=name
        )
