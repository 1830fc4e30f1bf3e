"""Exponential time-differencing Runge-Kutta methods (Cox & Matthews 2002)."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp

from diffsim.operators import AbstractImexOperator, AbstractSemilinearOperator
from diffsim.operators.internal import operator_name

from ._base import AbstractStepper
from ._phi import phi_function


def _semilinear(stepper, operator) -> AbstractSemilinearOperator:
    """`operator`, checked to be semilinear (at trace time: no run-time cost)."""
    if isinstance(operator, AbstractImexOperator):
        raise TypeError(
            f"{type(stepper).__name__} needs a linear part diagonal in Fourier "
            f"space; {type(operator).__name__} has a stiff linear part that is "
            "not (finite differences with walls): use an IMEX stepper "
            "(imex_euler, imex_ars222, imex_ars443: IMEXEuler, IMEXARS222, "
            "IMEXARS443)"
        )
    if not isinstance(operator, AbstractSemilinearOperator):
        raise TypeError(
            f"{type(stepper).__name__} needs an operator split into a diagonal "
            "linear part and a nonlinear part (an AbstractSemilinearOperator); "
            f"got {operator_name(operator)}. "
            "Use RK4 or SSPRK3 for other operators."
        )
    return operator


def _coefficients(z, **coefficients):
    """Drop the (zero) imaginary parts when the linear symbol is real: real
    coefficients halve the cost of the products in every step."""
    if jnp.iscomplexobj(z):
        return coefficients
    return {name: jnp.real(c) for name, c in coefficients.items()}


class ETDRK1(AbstractStepper):
    """Exponential Euler: `u+ = e^{Lh} u + h phi_1(Lh) N(u)`. First order."""

    order: ClassVar[int] = 1

    def init(self, operator, dt):
        operator = _semilinear(self, operator)
        z = operator.linear_symbol() * dt
        return _coefficients(
            z,
            E=jnp.exp(z),
            Q=dt * phi_function(lambda w: jnp.expm1(w) / w, z),
        )

    def step(self, operator, state, t, dt, cache):
        operator = _semilinear(self, operator)
        return cache["E"] * state + cache["Q"] * operator.nonlinear(state, t)


class ETDRK2(AbstractStepper):
    """Cox-Matthews ETD2RK, second order."""

    order: ClassVar[int] = 2

    def init(self, operator, dt):
        operator = _semilinear(self, operator)
        z = operator.linear_symbol() * dt
        return _coefficients(
            z,
            E=jnp.exp(z),
            Q1=dt * phi_function(lambda w: jnp.expm1(w) / w, z),
            Q2=dt * phi_function(lambda w: (jnp.expm1(w) - w) / w**2, z),
        )

    def step(self, operator, state, t, dt, cache):
        operator = _semilinear(self, operator)
        n0 = operator.nonlinear(state, t)
        a = cache["E"] * state + cache["Q1"] * n0
        return a + cache["Q2"] * (operator.nonlinear(a, t + dt) - n0)


class ETDRK4(AbstractStepper):
    """Cox-Matthews ETDRK4 with the Kassam-Trefethen (2005) contour-integral
    evaluation of its coefficients. Fourth order; stiff linear parts
    (hyperdiffusion, dispersion) are integrated exactly."""

    order: ClassVar[int] = 4

    def init(self, operator, dt):
        operator = _semilinear(self, operator)
        z = operator.linear_symbol() * dt
        return _coefficients(
            z,
            E=jnp.exp(z),
            E2=jnp.exp(0.5 * z),
            Q=dt * phi_function(lambda w: jnp.expm1(0.5 * w) / w, z),
            f1=dt
            * phi_function(
                lambda w: (-4.0 - w + jnp.exp(w) * (4.0 - 3.0 * w + w**2)) / w**3, z
            ),
            f2=dt
            * phi_function(lambda w: (2.0 + w + jnp.exp(w) * (w - 2.0)) / w**3, z),
            f3=dt
            * phi_function(
                lambda w: (-4.0 - 3.0 * w - w**2 + jnp.exp(w) * (4.0 - w)) / w**3, z
            ),
        )

    def step(self, operator, state, t, dt, cache):
        operator = _semilinear(self, operator)
        E, E2, Q = cache["E"], cache["E2"], cache["Q"]
        N = operator.nonlinear
        nu = N(state, t)
        a = E2 * state + Q * nu
        na = N(a, t + 0.5 * dt)
        b = E2 * state + Q * na
        nb = N(b, t + 0.5 * dt)
        c = E2 * a + Q * (2.0 * nb - nu)
        nc = N(c, t + dt)
        return (
            E * state
            + cache["f1"] * nu
            + 2.0 * cache["f2"] * (na + nb)
            + cache["f3"] * nc
        )
