"""Matrix-free Krylov solves of operator equations, differentiated implicitly.

`linear_solve(operator, b, solver=GMRES(...), preconditioner=...)` solves
`A x = b` for a linear function `A` (any callable, e.g. an equinox module such
as `operators.Helmholtz`, or a `lineax.AbstractLinearOperator`). Real and
complex systems are both supported.

The solvers are `lineax.AbstractLinearSolver`s and the solve goes through
`lineax.linear_solve`, so it is differentiated implicitly: the derivative of
`x = A^{-1} b` with respect to anything `A` or `b` depend on costs one more
solve (with `A^T` in reverse mode), never backpropagation through the Krylov
iterations.

Why our own GMRES and BiCGStab rather than lineax's: the stopping rule here is
the one users think in, the relative residual `||b - A x||_2 <= rtol ||b||_2`
(or `<= atol`), checked on the true (not the preconditioned) residual before
a solve is declared converged; GMRES stops inside a restart cycle as soon as
its residual estimate meets the tolerance (lineax runs every cycle to its end
and tests an elementwise criterion on the left-preconditioned residual); and a
solve that misses its tolerance raises an error that names the residual it
reached.

Preconditioning is on the right, `A P y = b`, `x = P y`, so the residual the
Krylov method minimises is the true one. `P` is treated as a constant (no
gradient flows through it; the derivative of `x` does not depend on `P`).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Inexact, Int, Scalar

from diffsim.operators.internal import checks_own_arguments

__all__ = ["GMRES", "BiCGStab", "LinearSolution", "linear_solve"]


class AbstractKrylov(lx.AbstractLinearSolver):
    """Shared plumbing: tolerances, lineax hooks, failure reporting.

    Solves `A x = b` until `||b - A x||_2 <= max(rtol ||b||_2, atol)` holds for
    the true residual, or `max_steps` Krylov iterations have been taken.
    """

    # Arrays too: a traced tolerance serves many solves with one compilation.
    rtol: float | Scalar = 1e-6
    atol: float | Scalar = 0.0
    max_steps: int = eqx.field(static=True, default=1000)
    # Stop early when this many consecutive restart cycles fail to reduce the
    # true residual (stagnation; e.g. a singular or badly preconditioned system).
    stagnation_cycles: int = eqx.field(static=True, default=3)
    throw: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if isinstance(value, (int, float)) and not value >= 0:
                raise ValueError(
                    f"{type(self).__name__}: {name} must be >= 0, got {value}"
                )
        if (
            isinstance(self.rtol, (int, float))
            and isinstance(self.atol, (int, float))
            and self.rtol == 0
            and self.atol == 0
        ):
            raise ValueError(f"{type(self).__name__}: give rtol > 0 or atol > 0")
        if self.max_steps < 1:
            raise ValueError(
                f"{type(self).__name__}: max_steps must be >= 1, got {self.max_steps}"
            )

    # --- lineax interface -------------------------------------------------
    def init(self, operator, options):
        if operator.in_structure() != operator.out_structure():
            raise ValueError(
                f"{type(self).__name__} needs a square operator (same input and "
                "output structure)"
            )
        if len(jax.tree_util.tree_leaves(operator.in_structure())) != 1:
            raise ValueError(
                f"{type(self).__name__} solves for a single array, not a pytree of "
                "arrays"
            )
        return operator

    def compute(self, state, vector, options):
        operator = state
        preconditioner = options.get("preconditioner")
        y0 = options.get("y0")
        shape = vector.shape

        def matvec(v):
            return operator.mv(v.reshape(shape)).reshape(-1)

        if preconditioner is None:
            precond = lambda v: v  # noqa: E731
        else:

            def precond(v):
                return preconditioner.mv(v.reshape(shape)).reshape(-1)

        b = vector.reshape(-1)
        x0 = None if y0 is None else y0.reshape(-1)
        b_norm = _norm(b)
        tol = jnp.maximum(self.rtol * b_norm, self.atol).astype(b_norm.dtype)
        x, r_norm, steps, stagnated = self._solve(matvec, precond, b, x0, tol)
        converged = r_norm <= tol
        relative_residual = r_norm / jnp.where(b_norm > 0, b_norm, 1.0)
        result = lx.RESULTS.where(
            converged,
            lx.RESULTS.successful,
            lx.RESULTS.where(
                stagnated, lx.RESULTS.stagnation, lx.RESULTS.max_steps_reached
            ),
        )
        if self.throw:
            x = self._error_if_unconverged(
                x, converged, stagnated, relative_residual, steps
            )
        stats = {"num_steps": steps, "relative_residual": relative_residual}
        return x.reshape(shape), result, stats

    def transpose(self, state, options):
        out = {}
        if options.get("preconditioner") is not None:
            out["preconditioner"] = options["preconditioner"].transpose()
        return state.transpose(), out

    def conj(self, state, options):
        out = {}
        if options.get("preconditioner") is not None:
            out["preconditioner"] = lx.conj(options["preconditioner"])
        return lx.conj(state), out

    def assume_full_rank(self):
        return True

    # --- the method --------------------------------------------------------
    @abc.abstractmethod
    def _solve(self, matvec, precond, b, x0, tol) -> tuple[Array, Array, Array, Array]:
        """Solve `matvec(x) = b` (flat arrays), preconditioned on the right by
        `precond`, from `x0` (`None`: zero) to true residual norm `tol`.
        Returns `(x, true residual norm, iterations, stagnated)`."""

    def _restarts(self, cycle, matvec, b, x0, tol):
        """Run `cycle(x, r, r_norm, steps) -> (x, steps)` until the true
        residual meets `tol`, `max_steps` is spent or the residual stagnates."""
        if x0 is None:
            x, r = jnp.zeros_like(b), b
        else:
            x = x0.astype(b.dtype)
            r = b - matvec(x)
        r_norm = _norm(r)

        def cond(carry):
            _, _, r_norm, steps, stalled = carry
            return (
                (r_norm > tol)
                & (steps < self.max_steps)
                & (stalled < self.stagnation_cycles)
            )

        def body(carry):
            x, r, r_norm, steps, stalled = carry
            x, steps = cycle(x, r, r_norm, steps)
            r = b - matvec(x)
            r_norm_new = _norm(r)
            stalled = jnp.where(r_norm_new < (1 - 1e-3) * r_norm, 0, stalled + 1)
            return x, r, r_norm_new, steps, stalled

        init = (x, r, r_norm, jnp.asarray(0), jnp.asarray(0))
        x, _, r_norm, steps, stalled = lax.while_loop(cond, body, init)
        return x, r_norm, steps, stalled >= self.stagnation_cycles

    def _error_if_unconverged(self, x, converged, stagnated, relative_residual, steps):
        name = type(self).__name__
        buckets = residual_buckets()
        msgs = []
        for why in (
            f"after max_steps={self.max_steps} iterations",
            f"before max_steps={self.max_steps}: the residual stagnated",
        ):
            for text in buckets.labels:
                msgs.append(
                    f"linear_solve ({name}) did not converge: relative residual "
                    f"||b - A x|| / ||b|| reached {text}, requested "
                    f"rtol={format_tolerance(self.rtol)} "
                    f"(atol={format_tolerance(self.atol)}), {why}. "
                    "Raise solver.max_steps, use or improve a preconditioner, "
                    "or pass throw=False "
                    "and check `solution.converged`."
                )
        index = jnp.where(stagnated, len(buckets.labels), 0) + buckets.index(
            relative_residual
        )
        return eqx.branched_error_if(x, jnp.invert(converged), index, msgs)


class GMRES(AbstractKrylov):
    """Restarted GMRES (Saad & Schultz 1986), right-preconditioned, with
    Givens rotations so that the residual is known after every iteration and
    a restart cycle ends as soon as the tolerance is met.

    Arnoldi uses classical Gram-Schmidt applied twice (CGS2: orthogonal to
    working precision, Giraud, Langou & Rozloznik 2005), as two real matrix
    products per pass. Memory: `restart + 1` basis vectors.

    **Arguments:**

    - `rtol`, `atol`: stop when `||b - A x||_2 <= max(rtol ||b||_2, atol)`.
    - `max_steps`: the cap on Krylov iterations (matrix-vector products with
      `A P`), over all restart cycles.
    - `restart`: Krylov subspace dimension per cycle.
    - `throw`: raise if the tolerance is not met (see `linear_solve`).
    """

    restart: int = eqx.field(static=True, default=20)

    def __check_init__(self):
        if self.restart < 1:
            raise ValueError(f"GMRES: restart must be >= 1, got {self.restart}")

    def _solve(self, matvec, precond, b, x0, tol):
        m, size = self.restart, b.size
        dtype, real_dtype = b.dtype, jnp.finfo(b.dtype).dtype
        # The Krylov basis is stored as real numbers, `(m + 1, parts, size)`
        # with parts = (real, imag): projections become real matrix products,
        # which XLA's CPU backend runs several times faster than complex ones.
        parts = 2 if jnp.iscomplexobj(b) else 1

        def split(v):
            return jnp.stack([v.real, v.imag]) if parts == 2 else v[None]

        def join(v):
            return lax.complex(v[0], v[1]) if parts == 2 else v[0]

        def project(basis, w):
            """`conj(basis) @ w`, one coefficient per basis vector."""
            prods = (basis.reshape(-1, size) @ split(w).T).reshape(m + 1, parts, parts)
            if parts == 1:
                return prods[:, 0, 0]
            return lax.complex(
                prods[:, 0, 0] + prods[:, 1, 1], prods[:, 0, 1] - prods[:, 1, 0]
            )

        def combine(basis, coefficients):
            """`sum_k coefficients[k] basis[k]`."""
            if parts == 1:
                return coefficients.astype(real_dtype) @ basis[:, 0]
            re, im = coefficients.real, coefficients.imag
            weights = jnp.stack(
                [jnp.stack([re, -im], axis=1), jnp.stack([im, re], axis=1)]
            ).reshape(2, -1)
            return join(weights @ basis.reshape(-1, size))

        def cycle(x, r, beta, steps):
            basis = (
                jnp.zeros((m + 1, parts, size), real_dtype)
                .at[0]
                .set(split(r / beta.astype(dtype)))
            )
            hess = jnp.zeros((m + 1, m), dtype)
            cs = jnp.zeros((m,), real_dtype)
            sn = jnp.zeros((m,), dtype)
            g = jnp.zeros((m + 1,), dtype).at[0].set(beta.astype(dtype))

            def cond(carry):
                *_, j, res = carry
                return (j < m) & (res > tol) & (steps + j < self.max_steps)

            def body(carry):
                basis, hess, cs, sn, g, j, _ = carry
                w = matvec(precond(join(basis[j])))
                h = project(basis, w)  # rows > j of the basis are zero
                w = w - combine(basis, h)
                h2 = project(basis, w)  # "twice is enough" (Giraud et al. 2005)
                w = w - combine(basis, h2)
                h = h + h2
                h_next = _norm(w)
                w = w / jnp.where(h_next > 0, h_next, 1.0).astype(dtype)
                basis = basis.at[j + 1].set(split(w))
                h = h.at[j + 1].set(h_next.astype(dtype))

                def rotate(i, h):  # apply the earlier rotations to the new column
                    hi, hi1 = h[i], h[i + 1]
                    new_i = cs[i] * hi + sn[i] * hi1
                    new_i1 = -jnp.conj(sn[i]) * hi + cs[i] * hi1
                    keep = i < j
                    return (
                        h.at[i]
                        .set(jnp.where(keep, new_i, hi))
                        .at[i + 1]
                        .set(jnp.where(keep, new_i1, hi1))
                    )

                h = lax.fori_loop(0, m, rotate, h)
                c, s = _givens(h[j], h[j + 1])
                h = h.at[j].set(c * h[j] + s * h[j + 1]).at[j + 1].set(0.0)
                g = g.at[j + 1].set(-jnp.conj(s) * g[j]).at[j].set(c * g[j])
                hess = hess.at[:, j].set(h)
                return (
                    basis,
                    hess,
                    cs.at[j].set(c),
                    sn.at[j].set(s),
                    g,
                    j + 1,
                    jnp.abs(g[j + 1]),
                )

            init = (basis, hess, cs, sn, g, jnp.asarray(0), beta)
            basis, hess, _, _, g, k, _ = lax.while_loop(cond, body, init)
            # Solve the k x k upper triangular least-squares system; unused
            # rows and columns are made the identity.
            used = jnp.arange(m) < k
            upper = jnp.where(
                used[:, None] & used[None, :], hess[:m], jnp.eye(m, dtype=dtype)
            )
            y = jax.scipy.linalg.solve_triangular(
                upper, jnp.where(used, g[:m], 0.0), lower=False
            )
            return x + precond(
                combine(basis, jnp.concatenate([y, jnp.zeros((1,), dtype)]))
            ), steps + k

        return self._restarts(cycle, matvec, b, x0, tol)


class BiCGStab(AbstractKrylov):
    """BiCGStab (van der Vorst 1992), right-preconditioned: two products with
    `A P` per iteration and no stored basis. The recursive residual drives
    the iteration; when it meets the tolerance the true residual is checked
    and, if round-off has let the two drift apart, the method restarts from
    the true residual.

    **Arguments:** `rtol`, `atol`, `max_steps` (iterations, each two
    products), `throw`, as for `GMRES`.
    """

    def _solve(self, matvec, precond, b, x0, tol):
        def cycle(x, r, r_norm, steps):
            shadow = r
            one = jnp.ones((), b.dtype)
            zero = jnp.zeros_like(b)

            def cond(carry):
                _, _, _, _, _, _, _, res, j, broke = carry
                return (res > tol) & (steps + j < self.max_steps) & jnp.invert(broke)

            def body(carry):
                x, r, p, v, rho, alpha, omega, _, j, _ = carry
                rho_new = jnp.vdot(shadow, r)
                beta = (rho_new / rho) * (alpha / omega)
                p = r + beta * (p - omega * v)
                p_hat = precond(p)
                v = matvec(p_hat)
                denom = jnp.vdot(shadow, v)
                alpha = rho_new / jnp.where(denom == 0, 1.0, denom)
                s = r - alpha * v
                s_hat = precond(s)
                t = matvec(s_hat)
                tt = jnp.vdot(t, t)
                omega = jnp.vdot(t, s) / jnp.where(tt == 0, 1.0, tt)
                x = x + alpha * p_hat + omega * s_hat
                r = s - omega * t
                broke = (rho_new == 0) | (denom == 0) | (omega == 0)
                return x, r, p, v, rho_new, alpha, omega, _norm(r), j + 1, broke

            init = (
                x,
                r,
                zero,
                zero,
                one,
                one,
                one,
                r_norm,
                jnp.asarray(0),
                jnp.asarray(False),
            )
            x, *_, j, _ = lax.while_loop(cond, body, init)
            return x, steps + j

        return self._restarts(cycle, matvec, b, x0, tol)


class LinearSolution(eqx.Module):
    """The result of `linear_solve`.

    - `value`: the solution `x`, shaped like `b`;
    - `num_steps`: Krylov iterations taken (GMRES: products with `A P`;
      BiCGStab: iterations of two products each);
    - `relative_residual`: the true `||b - A x||_2 / ||b||_2` reached;
    - `result`: a `lineax.RESULTS` status (`successful`, `max_steps_reached`,
      `stagnation`).
    """

    value: Inexact[Array, "..."]
    num_steps: Int[Array, ""]
    relative_residual: Scalar
    result: lx.RESULTS

    @property
    def converged(self) -> Array:
        return self.result == lx.RESULTS.successful


@checks_own_arguments
def linear_solve(
    operator: Callable[[Array], Array] | lx.AbstractLinearOperator,
    vector: Inexact[Array, "..."],
    solver: AbstractKrylov = GMRES(),
    *,
    preconditioner: Callable[[Array], Array] | lx.AbstractLinearOperator | None = None,
    y0: Inexact[Array, "..."] | None = None,
    throw: bool = True,
) -> LinearSolution:
    """Solve `operator(x) = vector` matrix-free, differentiably.

    **Arguments:**

    - `operator`: a linear function of one array (an equinox module or any
      callable; its array leaves may be traced and differentiated), or a
      `lineax.AbstractLinearOperator`.
    - `vector`: the right-hand side `b` (real or complex, any shape).
    - `solver`: `GMRES(rtol, atol, max_steps, restart)` or
      `BiCGStab(rtol, atol, max_steps)`.
    - `preconditioner`: a linear function approximating `operator^{-1}`,
      applied on the right. Treated as a constant: it is not differentiated
      (`stop_gradient` is applied to its arrays).
    - `y0`: an initial guess (not differentiated).
    - `throw`: if `True` (the default) a solve that does not reach its
      tolerance raises at run time (under `jit` too), naming the relative
      residual reached. With `False` check `solution.converged`.

    Derivatives (forward and reverse mode) are implicit, by `lineax`: one
    extra solve with the (transposed) operator per derivative, using the same
    solver and the transposed preconditioner; the adjoint solve always raises
    if it fails to converge.
    """
    if not isinstance(solver, AbstractKrylov):
        raise TypeError(
            "linear_solve: solver must be GMRES(...) or BiCGStab(...), got "
            f"{type(solver).__name__}"
        )
    vector = jnp.asarray(vector)
    if not jnp.issubdtype(vector.dtype, jnp.inexact):
        raise TypeError(
            "linear_solve: the right-hand side must be floating point or complex, "
            f"got {vector.dtype}"
        )
    structure = jax.ShapeDtypeStruct(vector.shape, vector.dtype)
    op = _as_operator(operator, structure, "operator")
    options: dict[str, Any] = {}
    if preconditioner is not None:
        options["preconditioner"] = stop_gradients(
            _as_operator(preconditioner, structure, "preconditioner")
        )
    if y0 is not None:
        y0 = lax.stop_gradient(jnp.asarray(y0, dtype=vector.dtype))
        if y0.shape != vector.shape:
            raise ValueError(
                f"linear_solve: y0 has shape {y0.shape}, expected {vector.shape}"
            )
        options["y0"] = y0
    if solver.throw != throw:
        solver = dataclasses.replace(solver, throw=throw)
    sol = lx.linear_solve(op, vector, solver, options=options, throw=False)
    return LinearSolution(
        sol.value, sol.stats["num_steps"], sol.stats["relative_residual"], sol.result
    )


# --- helpers ----------------------------------------------------------------


def format_tolerance(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else "(traced)"


def _norm(x):
    return jnp.sqrt(jnp.sum(jnp.abs(x) ** 2))


def _givens(a, b):
    """`(c, s)` with `c` real, `[[c, s], [-conj(s), c]] @ [a, b] = [r, 0]`."""
    abs_a, abs_b = jnp.abs(a), jnp.abs(b)
    scale = jnp.sqrt(abs_a**2 + abs_b**2)
    safe = jnp.where(scale > 0, scale, 1.0)
    phase = jnp.where(
        abs_a > 0, a / jnp.where(abs_a > 0, abs_a, 1.0).astype(a.dtype), 1.0
    )
    c = jnp.where(scale > 0, abs_a / safe, 1.0)
    s = jnp.where(scale > 0, phase * jnp.conj(b) / safe.astype(a.dtype), 0.0)
    return c, s.astype(a.dtype)


def stop_gradients(operator):
    """The operator with `stop_gradient` on every array leaf (closed-over
    arrays included: `lineax.FunctionLinearOperator` closure-converts)."""
    return jax.tree_util.tree_map(
        lambda x: lax.stop_gradient(x) if eqx.is_array(x) else x, operator
    )


def _as_operator(fn, structure, name):
    if isinstance(fn, lx.AbstractLinearOperator):
        if fn.in_structure() != structure or fn.out_structure() != structure:
            raise ValueError(
                f"linear_solve: the {name} maps {fn.in_structure()} to "
                f"{fn.out_structure()}, expected {structure}"
            )
        return fn
    if not callable(fn):
        raise TypeError(
            f"linear_solve: the {name} must be callable or a lineax operator, got "
            f"{type(fn).__name__}"
        )
    out = jax.eval_shape(fn, structure)
    if (out.shape, out.dtype) != (structure.shape, structure.dtype):
        raise ValueError(
            f"linear_solve: the {name} maps shape {structure.shape} "
            f"{structure.dtype} to "
            f"{out.shape} {out.dtype}; it must preserve both"
        )
    return lx.FunctionLinearOperator(fn, structure)


class _Buckets:
    """Residuals to one significant digit (`~3e-04`), for static messages."""

    def __init__(self):
        self.exponents = list(range(-18, 7))
        self.labels = [f"~{d}e{e:+03d}" for e in self.exponents for d in range(1, 10)]
        self.labels += [
            f"<1e{self.exponents[0]:+03d}",
            f">=1e{self.exponents[-1] + 1:+03d}",
            "a non-finite value (NaN or Inf)",
        ]

    def index(self, value):
        value = jnp.asarray(
            value,
            jnp.float32
            if jnp.finfo(jnp.asarray(value).dtype).bits <= 32
            else value.dtype,
        )
        lo = self.exponents[0]
        safe = jnp.where(jnp.isfinite(value) & (value > 0), value, 1.0)
        e = jnp.floor(jnp.log10(safe))
        d = jnp.clip(jnp.round(safe / 10.0**e), 1, 10)
        e = jnp.where(d == 10, e + 1, e)
        d = jnp.where(d == 10, 1, d)
        idx = ((e - lo) * 9 + (d - 1)).astype(jnp.int32)
        n = len(self.exponents) * 9
        idx = jnp.where(e < lo, n, jnp.where(e > self.exponents[-1], n + 1, idx))
        return jnp.where(jnp.isfinite(value), jnp.where(value > 0, idx, n), n + 2)


_BUCKETS: _Buckets | None = None


def residual_buckets() -> _Buckets:
    global _BUCKETS
    if _BUCKETS is None:
        _BUCKETS = _Buckets()
    return _BUCKETS
