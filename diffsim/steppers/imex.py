"""Implicit-explicit (IMEX) Runge-Kutta methods: the stiff linear part of an
`AbstractImexOperator` implicit, the rest explicit.

All three are the stiffly accurate, L-stable "ARS" schemes of Ascher, Ruuth
& Spiteri (1997, *Appl. Numer. Math.* 25, 151-167): a diagonally implicit
tableau with one diagonal entry `gamma` beside an explicit one, both with
the same nodes. One step of `u' = L u + E(u, t)` is

    U_1 = u
    (I - gamma dt L) U_i = u + dt sum_{j<i} (a_ij L U_j + ahat_ij E(U_j))
    u+ = U_s                                  (stiffly accurate)

Every implicit stage solves with the same matrix `I - gamma dt L`, so it is
set up once per solve (`init`): for states of at most `dense_limit` entries
(default 1024) `L` is materialised (the linear map applied to the identity,
vmapped) and LU-factorised once, and each stage costs one pair of triangular
solves; above that (or with a `linear_solver` given) each stage is a
matrix-free Krylov solve (diffsim's GMRES, started from the right-hand side,
to a relative residual of `0.01 sqrt(eps)`), unpreconditioned: fine for
moderately stiff problems, slow where `gamma dt |L|` is huge on big grids.
Both go through `lineax.linear_solve`, so gradients flow through the solve
implicitly (with respect to `dt`, the physical parameters inside `L`, and
wall values).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx

from diffsim.operators import AbstractImexOperator

from .._linear_solve import GMRES
from ._base import AbstractStepper

#: Largest state (entries) whose implicit matrix is materialised and
#: LU-factorised; 1024 entries is an 8 MiB float64 matrix, factorised in
#: milliseconds.
DENSE_LIMIT = 1024


def _imex(stepper, operator) -> AbstractImexOperator:
    """`operator`, checked (at trace time) to have an IMEX split."""
    if not isinstance(operator, AbstractImexOperator):
        raise TypeError(
            f"{type(stepper).__name__} needs an operator split into a stiff linear "
            "part and an explicit part (an AbstractImexOperator, e.g. finite "
            f"differences with walls); got {type(operator).__name__}. Use ETDRK1-4 "
            "for semilinear (Fourier, periodic finite difference) operators and "
            "RK4 or SSPRK3 for the others."
        )
    return operator


class AbstractImex(AbstractStepper):
    """An ARS-type IMEX Runge-Kutta method (see the module docstring).

    Subclasses give the tableaux as class variables: `gamma`, the rows
    `implicit` (coefficients of `L U_1 .. L U_{i-1}` for stages `i = 2 .. s`,
    the diagonal `gamma` left out), `explicit` (of `E(U_1) .. E(U_{i-1})`)
    and `nodes` (`c_2 .. c_s`). The last stage is the new state.

    **Arguments:**

    - `linear_solver`: None (default) to choose by size: dense LU for states
      of at most `dense_limit` entries, GMRES otherwise. A
      `lineax.AbstractLinearSolver` to use it, matrix-free, for every size.
    - `dense_limit`: the size threshold.
    """

    linear_solver: lx.AbstractLinearSolver | None = None
    dense_limit: int = eqx.field(static=True, default=DENSE_LIMIT)

    gamma: ClassVar[float]
    implicit: ClassVar[tuple[tuple[float, ...], ...]]
    explicit: ClassVar[tuple[tuple[float, ...], ...]]
    nodes: ClassVar[tuple[float, ...]]

    def init(self, operator, dt) -> dict[str, Any]:
        """`gamma dt` and, for small states, the matrix `I - gamma dt L` with
        its LU factorisation."""
        op = _imex(self, operator)
        struct = op.state_structure()
        size = math.prod(struct.shape)
        gdt = self.gamma * dt
        if self.linear_solver is not None or size > self.dense_limit:
            return {"gdt": gdt}

        def apply(x):
            v = x.reshape(struct.shape)
            return (v - gdt * op.stiff_linear(v)).reshape(-1)

        # columns of the linear map: applied to the identity (works for
        # complex states, where jacfwd would need holomorphic=True)
        matrix = jax.vmap(apply)(jnp.eye(size, dtype=struct.dtype)).T
        lu = lx.LU()
        return {
            "gdt": gdt,
            "matrix": matrix,
            "lu": lu.init(lx.MatrixLinearOperator(matrix), {}),
        }

    def _solver(self, op, state, cache) -> Callable:
        if "matrix" in cache:
            matrix = lx.MatrixLinearOperator(cache["matrix"])

            def dense(b):
                x = lx.linear_solve(matrix, b.reshape(-1), lx.LU(), state=cache["lu"])
                return x.value.reshape(b.shape)

            return dense
        gdt = cache["gdt"]
        function = lx.FunctionLinearOperator(
            lambda x: x - gdt * op.stiff_linear(x),
            jax.ShapeDtypeStruct(state.shape, state.dtype),
        )
        solver = self.linear_solver
        if solver is None:
            eps = float(jnp.finfo(state.dtype).eps)
            solver = GMRES(rtol=0.01 * math.sqrt(eps), max_steps=2000)

        def krylov(b):
            return lx.linear_solve(function, b, solver, options={"y0": b}).value

        return krylov

    def step(self, operator, state, t, dt, cache):
        op = _imex(self, operator)
        solve = self._solver(op, state, cache)
        linear: list[Any] = [None]  # L U_1 only if some a_i1 != 0
        explicit = [op.explicit(state, t)]
        last = len(self.nodes) - 1
        u = state
        for i, (a_row, e_row, c) in enumerate(
            zip(self.implicit, self.explicit, self.nodes)
        ):
            rhs = state
            for j, a in enumerate(a_row):
                if a != 0.0:
                    if linear[j] is None:
                        linear[j] = op.stiff_linear(state)
                    rhs = rhs + (a * dt) * linear[j]
            for j, e in enumerate(e_row):
                if e != 0.0:
                    rhs = rhs + (e * dt) * explicit[j]
            u = solve(rhs)
            if i < last:
                linear.append(op.stiff_linear(u))
                explicit.append(op.explicit(u, t + c * dt))
        return u


class IMEXEuler(AbstractImex):
    """IMEX Euler, ARS(1,1,1): `(I - dt L) u+ = u + dt E(u, t)`. First order."""

    order: ClassVar[int] = 1
    gamma: ClassVar[float] = 1.0
    implicit: ClassVar[tuple[tuple[float, ...], ...]] = ((0.0,),)
    explicit: ClassVar[tuple[tuple[float, ...], ...]] = ((1.0,),)
    nodes: ClassVar[tuple[float, ...]] = (1.0,)


_G = 1.0 - 1.0 / math.sqrt(2.0)
_D = 1.0 - 1.0 / (2.0 * _G)


class IMEXARS222(AbstractImex):
    """ARS(2,2,2) (Ascher, Ruuth & Spiteri 1997, §2.6): two implicit stages
    with `gamma = 1 - 1/sqrt(2)` (L-stable), `delta = 1 - 1/(2 gamma)`.
    Second order."""

    order: ClassVar[int] = 2
    gamma: ClassVar[float] = _G
    implicit: ClassVar[tuple[tuple[float, ...], ...]] = ((0.0,), (0.0, 1.0 - _G))
    explicit: ClassVar[tuple[tuple[float, ...], ...]] = ((_G,), (_D, 1.0 - _D))
    nodes: ClassVar[tuple[float, ...]] = (_G, 1.0)


class IMEXARS443(AbstractImex):
    """ARS(4,4,3) (Ascher, Ruuth & Spiteri 1997, §2.8): four implicit stages
    with `gamma = 1/2` (L-stable). Third order."""

    order: ClassVar[int] = 3
    gamma: ClassVar[float] = 0.5
    implicit: ClassVar[tuple[tuple[float, ...], ...]] = (
        (0.0,),
        (0.0, 1 / 6),
        (0.0, -1 / 2, 1 / 2),
        (0.0, 3 / 2, -3 / 2, 1 / 2),
    )
    explicit: ClassVar[tuple[tuple[float, ...], ...]] = (
        (1 / 2,),
        (11 / 18, 1 / 18),
        (5 / 6, -5 / 6, 1 / 2),
        (1 / 4, 7 / 4, 3 / 4, -7 / 4),
    )
    nodes: ClassVar[tuple[float, ...]] = (1 / 2, 2 / 3, 1 / 2, 1.0)
