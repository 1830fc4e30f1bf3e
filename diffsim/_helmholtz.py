"""A Helmholtz solve in one call, with the defaults every Helmholtz config uses.

`solve_helmholtz(helmholtz, source)` is `linear_solve(helmholtz, -source,
HELMHOLTZ_SOLVER, preconditioner=helmholtz.preconditioner())`: the sign
convention (`H p = -s`, so that a unit point source radiates the outgoing
Green's function), the Krylov method and the preconditioner are chosen here
once, and the `solver:` section of the Helmholtz configs takes its defaults
from the same names.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Inexact

from diffsim.operators.helmholtz import DEFAULT_PRECONDITIONER, DEFAULT_SHIFT, Helmholtz

from ._linear_solve import GMRES, BiCGStab, LinearSolution, linear_solve
from .operators.internal import checks_own_arguments

__all__ = ["HELMHOLTZ_SOLVER", "solve_helmholtz"]

#: BiCGStab: with the Born preconditioner it needs about as many operator
#: applications as GMRES and no orthogonalisation (see docs/benchmarks.md).
HELMHOLTZ_SOLVER = BiCGStab(rtol=1e-6, max_steps=2000)

_PRECONDITIONERS = ("born", "shifted_laplacian", "none")


@checks_own_arguments
def solve_helmholtz(
    helmholtz: Helmholtz,
    source: Inexact[ArrayLike, "*cells"],
    solver: GMRES | BiCGStab = HELMHOLTZ_SOLVER,
    *,
    preconditioner: str = DEFAULT_PRECONDITIONER,
    shift: float = DEFAULT_SHIFT,
    y0: Inexact[Array, "*cells"] | None = None,
    throw: bool = True,
) -> LinearSolution:
    """The pressure `p` radiated by the source density `source`: solves
    `H p = -source` (see `operators.Helmholtz`), so that a unit point source
    (`operators.point_source`) in a homogeneous medium with `rho = 1` gives
    the outgoing Green's function `(i/4) H0^(1)(k r)` in 2D.

    Differentiable (implicitly: one adjoint solve per reverse-mode gradient)
    with respect to the operator's sound speed and density and to `source`.

    **Arguments:**

    - `helmholtz`: the `Helmholtz` operator (medium, frequency, PML).
    - `source`: the source density at cell centres; real sources are made
      complex in the matching precision.
    - `solver`: `BiCGStab(...)` or `GMRES(...)`; default `HELMHOLTZ_SOLVER`,
      BiCGStab to relative residual 1e-6 in at most 2000 iterations.
    - `preconditioner`: `"born"` (default), `"shifted_laplacian"` or `"none"`,
      with its `shift` (default 0.3); see `Helmholtz.preconditioner`.
    - `y0`: an initial guess (not differentiated).
    - `throw`: raise if the solve misses its tolerance (default); with
      `False` check `solution.converged`.

    **Returns:** a `LinearSolution`: `.value` is the pressure, with
    `.num_steps`, `.relative_residual` and `.converged`.
    """
    if not isinstance(helmholtz, Helmholtz):
        raise TypeError(
            "solve_helmholtz: helmholtz must be an operators.Helmholtz, got "
            f"{type(helmholtz).__name__}"
        )
    if preconditioner not in _PRECONDITIONERS:
        raise ValueError(
            "solve_helmholtz: preconditioner must be one of "
            f"{', '.join(_PRECONDITIONERS)}, got {preconditioner!r}"
        )
    source = jnp.asarray(source)
    if not jnp.issubdtype(source.dtype, jnp.inexact):
        raise TypeError(
            "solve_helmholtz: source must be floating point or complex, got "
            f"{source.dtype}"
        )
    if source.shape != helmholtz.grid.cells:
        raise ValueError(
            f"solve_helmholtz: source has shape {source.shape}, the grid has cells "
            f"{helmholtz.grid.cells}"
        )
    source = source.astype(jnp.promote_types(source.dtype, jnp.complex64))
    pre = (
        None
        if preconditioner == "none"
        else helmholtz.preconditioner(preconditioner, shift)
    )
    return linear_solve(
        helmholtz, -source, solver, preconditioner=pre, y0=y0, throw=throw
    )
