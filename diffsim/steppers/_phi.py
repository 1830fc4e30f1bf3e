"""phi-functions of exponential integrators, evaluated stably.

`phi_0(z) = e^z`, `phi_{k+1}(z) = (phi_k(z) - 1/k!) / z`. Direct evaluation
cancels catastrophically for small `|z|`; following Kassam & Trefethen (2005)
we average the direct formula over a circle of radius 1 around each `z`
(the mean value property of analytic functions). The whole circle is used so
that complex `z` (dispersive operators such as KdV) is handled as well.
Everything here is plain JAX, so the coefficients are differentiable with
respect to the physical parameters inside `z`.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

NUM_CONTOUR_POINTS = 64


def contour_mean(f, z):
    """Mean of `f` over the circle `|w - z| = 1`, for each entry of `z`."""
    dtype = jnp.result_type(z, jnp.complex64)
    theta = 2.0 * np.pi * (np.arange(NUM_CONTOUR_POINTS) + 0.5) / NUM_CONTOUR_POINTS
    roots = jnp.asarray(np.exp(1j * theta), dtype=dtype).reshape((1,) * z.ndim + (-1,))
    w = z.astype(dtype)[..., None] + roots
    return jnp.mean(f(w), axis=-1)
