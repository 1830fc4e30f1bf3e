"""MUSCL: piecewise-linear reconstruction with a slope limiter."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._math import div
from ._base import AbstractReconstruction

_LIMITERS = ("minmod", "van_leer", "mc")


def _minmod_slope(a, b):
    return 0.5 * (jnp.sign(a) + jnp.sign(b)) * jnp.minimum(jnp.abs(a), jnp.abs(b))


def _van_leer_slope(a, b):
    # 2ab/(a+b) where ab > 0, else 0; written without a division by zero so
    # that reverse mode never meets 0/0 in the unused branch.
    num = a * jnp.abs(b) + jnp.abs(a) * b
    den = jnp.abs(a) + jnp.abs(b)
    positive = den > 0
    return jnp.where(positive, div(num, jnp.where(positive, den, 1.0)), 0.0)


def _mc_slope(a, b):
    limit = jnp.minimum(
        jnp.minimum(2.0 * jnp.abs(a), 2.0 * jnp.abs(b)), 0.5 * jnp.abs(a + b)
    )
    return 0.5 * (jnp.sign(a) + jnp.sign(b)) * limit


_SLOPES = {"minmod": _minmod_slope, "van_leer": _van_leer_slope, "mc": _mc_slope}


class MUSCL(AbstractReconstruction):
    """Piecewise-linear MUSCL reconstruction (van Leer 1979).

    `q_{i +- 1/2} = q_i +- slope_i / 2`, with a slope limited from the
    one-sided differences `a = q_i - q_{i-1}`, `b = q_{i+1} - q_i` (Toro 2009,
    chapters 13-14). Second order where the solution is smooth and monotone,
    first order at extrema (all three limiters clip there).

    **Arguments:**

    - `limiter`: the slope limiter, one of
        - `"minmod"`: `minmod(a, b)`, the most dissipative TVD choice;
        - `"van_leer"` (default): the harmonic mean `2ab / (a + b)` where
          `ab > 0` (van Leer 1974);
        - `"mc"`: monotonized central, `minmod(2a, 2b, (a + b) / 2)` (van Leer
          1977).
    """

    limiter: str = eqx.field(static=True, default="van_leer")
    stencil_radius: ClassVar[int] = 1
    order: ClassVar[int] = 2

    def __check_init__(self):
        if self.limiter not in _LIMITERS:
            raise ValueError(
                f"MUSCL: limiter must be one of {_LIMITERS}, got {self.limiter!r}"
            )

    def reconstruct_stencil(self, stencil):
        v0, v1, v2, v3 = stencil
        slope = _SLOPES[self.limiter]
        d01, d12, d23 = v1 - v0, v2 - v1, v3 - v2
        left = v1 + 0.5 * slope(d01, d12)
        right = v2 - 0.5 * slope(d12, d23)
        return left, right
