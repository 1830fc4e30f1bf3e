"""Small numerical helpers with derivatives that suit reverse mode on CPU."""

from __future__ import annotations

import jax


@jax.custom_jvp
def div(a, b):
    """`a / b` with the tangent `(da - (a/b) db) * (1/b)`.

    The primal is a plain division (XLA keeps divisions materialized, which the
    forward pass relies on); the tangent has only multiplications, where JAX's
    own rule puts two divisions and an `x^-2` into every reverse pass. Use it
    for divisions in code that is differentiated.
    """
    return a / b


@div.defjvp
def _div_jvp(primals, tangents):
    (a, b), (da, db) = primals, tangents
    r = 1.0 / b
    q = a * r
    return a / b, (da - q * db) * r
