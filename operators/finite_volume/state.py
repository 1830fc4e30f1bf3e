"""Conservative <-> primitive variables of the Euler equations in 1, 2 or 3 D.

Both have the variables axis first, shape `(2 + ndim, *cells)`:

- conservative `U = (rho, rho u, [rho v, rho w,] E)`;
- primitive `W = (rho, u, [v, w,] p)`.

The `*_components` variants take and return tuples of same-shape arrays; the
operators use them so that no `(vars, *cells)` array is built in between.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from jaxtyping import Array, Float

from ._math import div
from .eos import AbstractEquationOfState


def primitive_to_conservative_components(
    w: Sequence[Array], eos: AbstractEquationOfState
) -> tuple[Array, ...]:
    """`(rho, u.., p)` -> `(rho, rho u.., E)` as tuples of arrays."""
    rho, velocity, p = w[0], tuple(w[1:-1]), w[-1]
    return (rho, *(rho * u for u in velocity), eos.total_energy(rho, velocity, p))


def conservative_to_primitive_components(
    u: Sequence[Array], eos: AbstractEquationOfState
) -> tuple[Array, ...]:
    """`(rho, rho u.., E)` -> `(rho, u.., p)` as tuples of arrays."""
    rho, momentum, energy = u[0], tuple(u[1:-1]), u[-1]
    inv_rho = div(1.0, rho)
    velocity = tuple(m * inv_rho for m in momentum)
    kinetic = 0.5 * sum(m * v for m, v in zip(momentum, velocity))
    return (rho, *velocity, eos.pressure_from_internal_energy(rho, energy - kinetic))


def primitive_to_conservative(
    primitive: Float[Array, "vars *cells"], eos: AbstractEquationOfState
) -> Float[Array, "vars *cells"]:
    """Primitive `(rho, u, [v, w,] p)` to conservative `(rho, rho u, [rho v, rho w,] E)`

    **Arguments:**

    - `primitive`: the primitive fields, stacked on the first axis.
    - `eos`: the equation of state.

    **Returns:**

    The conservative fields, stacked the same way.
    """
    _check_vars(primitive)
    return jnp.stack(primitive_to_conservative_components(tuple(primitive), eos))


def conservative_to_primitive(
    conservative: Float[Array, "vars *cells"], eos: AbstractEquationOfState
) -> Float[Array, "vars *cells"]:
    """Conservative `(rho, rho u, [rho v, rho w,] E)` to primitive `(rho, u, [v, w,] p)`

    **Arguments:**

    - `conservative`: the conservative fields, stacked on the first axis.
    - `eos`: the equation of state.

    **Returns:**

    The primitive fields, stacked the same way.
    """
    _check_vars(conservative)
    return jnp.stack(conservative_to_primitive_components(tuple(conservative), eos))


def _check_vars(x) -> None:
    if x.ndim < 1 or not 3 <= x.shape[0] <= 5:
        raise ValueError(
            "expected 3, 4 or 5 variables (1, 2 or 3 D) on the leading axis, got "
            f"shape {x.shape}"
        )
