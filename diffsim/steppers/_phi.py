"""phi-functions of exponential integrators, evaluated stably.

`phi_0(z) = e^z`, `phi_{k+1}(z) = (phi_k(z) - 1/k!) / z`. Direct evaluation
cancels catastrophically for small `|z|`; following Kassam & Trefethen (2005)
we average the direct formula over a circle of radius 1 around each small `z`
(the mean value property of analytic functions). The whole circle is used so
that complex `z` (dispersive operators such as KdV) is handled as well. For
`|z| >= 1/2` the closed form is used (cancellation there costs at most a
few hundred ulps), which also keeps every contour node at least 1/2 away from
the pole at 0: a node landing on 0 would give NaN.
Everything here is plain JAX, so the coefficients are differentiable with
respect to the physical parameters inside `z`.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

NUM_CONTOUR_POINTS = 64


SMALL = 0.5


def phi_function(f, z):
    """`f(z)` for a closed-form phi-type function `f` with a removable
    singularity at 0: contour mean for `|z| < 1/2`, `f` itself elsewhere.
    Both branches see safe arguments, so gradients stay finite."""
    small = jnp.abs(z) < SMALL
    near = contour_mean(f, jnp.where(small, z, 0.0))
    far = f(jnp.where(small, 1.0, z).astype(jnp.result_type(z, jnp.complex64)))
    return jnp.where(small, near, far)


def contour_mean(f, z):
    """Mean of `f` over the circle `|w - z| = 1`, for each entry of `z`."""
    dtype = jnp.result_type(z, jnp.complex64)
    theta = 2.0 * np.pi * (np.arange(NUM_CONTOUR_POINTS) + 0.5) / NUM_CONTOUR_POINTS
    roots = jnp.asarray(np.exp(1j * theta), dtype=dtype).reshape((1,) * z.ndim + (-1,))
    w = z.astype(dtype)[..., None] + roots
    return jnp.mean(f(w), axis=-1)
