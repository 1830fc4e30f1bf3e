"""Steady states `R(y*, theta) = 0` of nonlinear problems, differentiated
implicitly.

`steady_state(operator_or_residual, y0)` finds a root by Newton's method
(`optimistix.Newton`) whose steps are matrix-free Krylov solves with the
Jacobian (`jax.linearize` of the residual, GMRES from `diffsim.linear_solve`).
Its derivative comes from the implicit function theorem
(`optimistix.ImplicitAdjoint`): for a loss `L(y*(theta))`,

    dL/dtheta = -(dR/dtheta)^T lambda,   (dR/dy)^T lambda = dL/dy,

one adjoint linear solve per gradient, whatever the number of Newton
iterations, and no iterate is stored. A long transient relaxing to the same
state costs one stored (or recomputed) state per time step instead.

References: Kelley, *Solving Nonlinear Equations with Newton's Method*
(SIAM 2003) for Newton-Krylov; Blondel et al., *Efficient and modular
implicit differentiation* (NeurIPS 2022) for the adjoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array, Inexact, Int, Scalar

from diffsim.operators import AbstractOperator, AbstractSemilinearOperator
from diffsim.operators.internal import checks_own_arguments

from ._linear_solve import (
    GMRES,
    AbstractKrylov,
    format_tolerance,
    residual_buckets,
    stop_gradients,
)

_Strategy = TypeVar("_Strategy")

__all__ = ["SteadyState", "newton_krylov", "steady_state"]


class SteadyState(eqx.Module):
    """The result of `steady_state`.

    - `value`: the root `y*` (physical fields when an operator was given);
    - `residual`: the RMS norm of `R(y*)` reached (not differentiated);
    - `num_steps`: nonlinear (Newton) iterations taken;
    - `result`: an `optimistix.RESULTS` status.
    """

    value: Inexact[Array, "..."]
    residual: Scalar
    num_steps: Int[Array, ""]
    result: optx.RESULTS

    @property
    def converged(self) -> Array:
        return self.result == optx.RESULTS.successful


def newton_krylov(
    rtol: float | None = None,
    atol: float | None = None,
    *,
    krylov: AbstractKrylov | None = None,
) -> optx.Newton:
    """Newton's method whose steps are GMRES solves with the Jacobian
    (matrix-free: one Jacobian-vector product per Krylov iteration).

    Stops when two iterates agree to `atol + rtol |y|` and the RMS residual
    is below `atol`. Defaults: `1e-9` in float64 (`1e-5` in float32) and
    `GMRES(rtol=1e-10, restart=40)` for the inner solves (an unconverged
    inner solve ends the Newton iteration with a failure status instead of
    raising, so `steady_state` can report it).
    """
    x64 = jnp.result_type(float) == jnp.float64
    tol = 1e-9 if x64 else 1e-5
    if krylov is None:
        krylov = GMRES(rtol=1e-10 if x64 else 1e-6, restart=40, max_steps=400)
    krylov = dataclasses.replace(krylov, throw=False)
    return optx.Newton(
        rtol=tol if rtol is None else rtol,
        atol=tol if atol is None else atol,
        norm=optx.rms_norm,
        linear_solver=krylov,
    )


@checks_own_arguments
def steady_state(
    operator_or_residual: AbstractOperator | Callable[[Array, Any], Array],
    y0: Inexact[Array, "..."],
    args: Any = None,
    *,
    solver: optx.AbstractRootFinder | None = None,
    adjoint: optx.AbstractAdjoint | None = None,
    preconditioner: Callable[[Array], Array] | str | None = "auto",
    max_steps: int = 50,
    t: float = 0.0,
    throw: bool = True,
) -> SteadyState:
    """Find `y*` with `R(y*) = 0`, differentiably.

    **Arguments:**

    - `operator_or_residual`: an `operators.AbstractOperator` (then `R` is
      the time derivative of its physical fields, `d decode(s)/dt` at
      `s = encode(y)`, `y` and `y0` are physical fields `(channels, *cells)`)
      or a function `residual(y, args) -> array shaped like y`. Arrays the
      operator holds, and `args`, may be traced and differentiated.
    - `y0`: the initial guess.
    - `solver`: an optimistix root finder; default `newton_krylov()`.
    - `adjoint`: `optimistix.ImplicitAdjoint(...)` (the default, with a GMRES
      adjoint solve: one linear solve per derivative) or
      `optimistix.RecursiveCheckpointAdjoint()` to differentiate through the
      iterations (for checks; reverse mode only).
    - `preconditioner`: a linear map approximating `(dR/dy)^{-1}`, applied
      on the right inside the Krylov solves of the solver and the adjoint
      (not differentiated). `"auto"`: the inverse of the stiff linear part of
      an `AbstractSemilinearOperator` (exact for the dissipative terms of
      spectral operators), none otherwise.
    - `max_steps`: the cap on nonlinear iterations.
    - `t`: the time at which an operator is evaluated.
    - `throw`: if `True` a solve that fails raises at run time (under `jit`
      too), naming the residual reached; with `False` check `.converged`.
    """
    y0 = jnp.asarray(y0)
    if not jnp.issubdtype(y0.dtype, jnp.floating):
        raise TypeError(
            f"steady_state: y0 must be a real floating-point array, got {y0.dtype}"
        )
    if isinstance(operator_or_residual, AbstractOperator):
        op = operator_or_residual
        if args is not None:
            raise TypeError(
                "steady_state: args is only for residual functions; an operator "
                "carries its own parameters"
            )
        fn, args = _operator_residual(t), op
        if isinstance(preconditioner, str) and preconditioner == "auto":
            preconditioner = (
                _linear_part_inverse(op)
                if isinstance(op, AbstractSemilinearOperator)
                else None
            )
    elif callable(operator_or_residual):
        residual = operator_or_residual
        out = jax.eval_shape(residual, y0, args)
        if (out.shape, out.dtype) != (y0.shape, y0.dtype):
            raise ValueError(
                f"steady_state: the residual maps {y0.shape} {y0.dtype} to "
                f"{out.shape} {out.dtype}; it must preserve both"
            )
        fn = residual
        if isinstance(preconditioner, str) and preconditioner == "auto":
            preconditioner = None
    else:
        raise TypeError(
            "steady_state: expected an AbstractOperator or a residual function, got "
            f"{type(operator_or_residual).__name__}"
        )
    if isinstance(preconditioner, str):
        raise ValueError(
            "steady_state: preconditioner must be 'auto', None or a function, got "
            f"{preconditioner!r}"
        )

    solver = newton_krylov() if solver is None else solver
    if adjoint is None:
        x64 = y0.dtype == jnp.float64
        adjoint = optx.ImplicitAdjoint(
            linear_solver=GMRES(rtol=1e-10 if x64 else 1e-6, restart=40, max_steps=400)
        )
    if preconditioner is not None:
        structure = jax.ShapeDtypeStruct(y0.shape, y0.dtype)
        pre = stop_gradients(lx.FunctionLinearOperator(preconditioner, structure))
        solver = _precondition(solver, pre)
        adjoint = _precondition(adjoint, pre)

    sol = optx.root_find(
        fn, solver, y0, args, max_steps=max_steps, adjoint=adjoint, throw=False
    )
    residual = jnp.sqrt(
        jnp.mean(jnp.abs(jax.lax.stop_gradient(fn(sol.value, args))) ** 2)
    )
    result = optx.RESULTS.where(
        jnp.isfinite(residual), sol.result, optx.RESULTS.nonfinite
    )
    value = sol.value
    if throw:
        value = _error_if_failed(value, result, residual, solver, max_steps)
    return SteadyState(value, residual, sol.stats["num_steps"], result)


# --- helpers ----------------------------------------------------------------


def _operator_residual(t):
    def fn(y, op):
        state = op.encode(y)
        return jax.jvp(op.decode, (state,), (op(state, t),))[1].astype(y.dtype)

    return fn


def _linear_part_inverse(op: AbstractSemilinearOperator):
    """`v -> decode(encode(v) / L)` with `L` the operator's diagonal linear
    symbol (modes where `L = 0` are left unchanged)."""
    symbol = jax.lax.stop_gradient(op.linear_symbol())
    inverse = jnp.where(symbol != 0, 1 / jnp.where(symbol != 0, symbol, 1), 1)

    def apply(v):
        return op.decode(inverse * op.encode(v)).astype(v.dtype)

    return apply


class _Preconditioned(lx.AbstractLinearSolver):
    """A diffsim Krylov solver with a right preconditioner fixed in advance,
    for callers (optimistix) that pass no `options` to `lineax.linear_solve`.
    Transposition (reverse mode) transposes the preconditioner too."""

    solver: AbstractKrylov
    preconditioner: lx.AbstractLinearOperator

    def _options(self, options):
        return {
            **options,
            "preconditioner": options.get("preconditioner", self.preconditioner),
        }

    def init(self, operator, options):
        return self.solver.init(operator, options)

    def compute(self, state, vector, options):
        return self.solver.compute(state, vector, self._options(options))

    def transpose(self, state, options):
        return self.solver.transpose(state, self._options(options))

    def conj(self, state, options):
        return self.solver.conj(state, self._options(options))

    def assume_full_rank(self):
        return True


def _precondition(strategy: _Strategy, pre) -> _Strategy:
    """Attach `pre` to the Krylov `linear_solver` of a root finder or an
    implicit adjoint (other linear solvers are left alone)."""
    inner = getattr(strategy, "linear_solver", None)
    if isinstance(inner, AbstractKrylov):
        return eqx.tree_at(
            lambda s: s.linear_solver, strategy, _Preconditioned(inner, pre)
        )
    return strategy


def _error_if_failed(value, result, residual, solver, max_steps):
    buckets = residual_buckets()
    atol = format_tolerance(getattr(solver, "atol", None))
    reasons = [
        f"after max_steps={max_steps} iterations",
        ": the solver failed (a Krylov solve for a Newton step did not converge, the "
        "iteration diverged or produced NaN/Inf)",
    ]
    msgs = [
        f"steady_state did not converge{'' if why.startswith(':') else ' '}{why}; "
        f"the RMS residual ||R(y)|| reached {text} (requested atol={atol}). "
        "Try a larger max_steps, a better initial guess y0 (e.g. a short "
        "transient run) or a preconditioner, or pass throw=False and check "
        "`solution.converged`."
        for why in reasons
        for text in buckets.labels
    ]
    index = jnp.where(
        result == optx.RESULTS.nonlinear_max_steps_reached, 0, len(buckets.labels)
    ) + buckets.index(residual)
    return eqx.branched_error_if(value, result != optx.RESULTS.successful, index, msgs)
