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


def materialize(xs):
    """`xs`, stored once: each is divided by a one the compiler cannot see
    (`x / 1 == x` exactly). XLA:CPU never duplicates a division into its
    consumers, so the stencil slices that follow read these arrays instead of
    each recomputing the whole chain that produced them; see `_fused.py` for
    the same device."""
    one = jax.lax.stop_gradient(1.0 + 0.0 * xs[0].ravel()[0])
    return tuple(x / one for x in xs)
