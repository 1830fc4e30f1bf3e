"""Fifth-order weighted essentially non-oscillatory reconstructions."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._math import div
from ._base import AbstractReconstruction

# Optimal (linear) weights of the three third-order candidate stencils for the
# left-biased value at i + 1/2 (Jiang & Shu 1996).
_D0, _D1, _D2 = 0.1, 0.6, 0.3


def _candidates(v0, v1, v2, v3, v4):
    """Candidate values and Jiang-Shu smoothness indicators for the value at
    `i + 1/2` from `v_{i-2} .. v_{i+2}` (Jiang & Shu 1996)."""
    q0 = (2.0 * v0 - 7.0 * v1 + 11.0 * v2) * (1.0 / 6.0)
    q1 = (-v1 + 5.0 * v2 + 2.0 * v3) * (1.0 / 6.0)
    q2 = (2.0 * v2 + 5.0 * v3 - v4) * (1.0 / 6.0)
    s0 = v0 - 2.0 * v1 + v2
    t0 = v0 - 4.0 * v1 + 3.0 * v2
    s1 = v1 - 2.0 * v2 + v3
    t1 = v1 - v3
    s2 = v2 - 2.0 * v3 + v4
    t2 = 3.0 * v2 - 4.0 * v3 + v4
    b0 = (13.0 / 12.0) * s0 * s0 + 0.25 * t0 * t0
    b1 = (13.0 / 12.0) * s1 * s1 + 0.25 * t1 * t1
    b2 = (13.0 / 12.0) * s2 * s2 + 0.25 * t2 * t2
    return (q0, q1, q2), (b0, b1, b2)


def _combine(q, a):
    (q0, q1, q2), (a0, a1, a2) = q, a
    return div(a0 * q0 + a1 * q1 + a2 * q2, a0 + a1 + a2)


def _eps(eps: float, like) -> float:
    # A published epsilon below the smallest normal number of the dtype
    # (WENO-Z's 1e-40 in float32) would be flushed to zero and give 0/0 on
    # constant data; use the smallest normal number instead.
    return max(eps, float(jnp.finfo(jnp.result_type(like)).tiny))


class WENO5JS(AbstractReconstruction):
    """WENO5 of Jiang & Shu (1996): three third-order candidates combined with
    nonlinear weights `alpha_k = d_k / (eps + beta_k)^p`, `d = (1, 6, 3) / 10`,
    Jiang-Shu smoothness indicators `beta_k`, `eps = 1e-6` and `p = 2` as
    published (Jiang & Shu 1996; Shu 1998, lecture notes, LNM 1697).

    Fifth order on smooth data where `beta_k << eps`; at critical points of
    under-resolved data the weights depart from `d_k` and the order drops
    (to 3; Henrick, Aslam & Powers 2005).
    """

    eps: float = eqx.field(static=True, default=1e-6)
    power: int = eqx.field(static=True, default=2)
    stencil_radius: ClassVar[int] = 2

    def __check_init__(self):
        if not self.eps > 0:
            raise ValueError(f"WENO5JS: eps must be > 0, got {self.eps}")
        if not (isinstance(self.power, int) and self.power >= 1):
            raise ValueError(f"WENO5JS: power must be a positive int, got {self.power!r}")

    def _value(self, v0, v1, v2, v3, v4):
        q, (b0, b1, b2) = _candidates(v0, v1, v2, v3, v4)
        eps = _eps(self.eps, v0)
        p = self.power
        a = (div(_D0, (b0 + eps) ** p), div(_D1, (b1 + eps) ** p), div(_D2, (b2 + eps) ** p))
        return _combine(q, a)

    def reconstruct_stencil(self, stencil):
        v0, v1, v2, v3, v4, v5 = stencil
        return self._value(v0, v1, v2, v3, v4), self._value(v5, v4, v3, v2, v1)


class WENO5Z(AbstractReconstruction):
    """WENO-Z of Borges, Carmona, Costa & Don (2008): the WENO5 candidates and
    smoothness indicators with weights
    `alpha_k = d_k (1 + (tau_5 / (beta_k + eps))^q)`, `tau_5 = |beta_0 - beta_2|`,
    `q = 1` as published.

    Fifth order on smooth data, including first-order critical points at
    resolved scales, and less dissipative than WENO5-JS at discontinuities.

    `eps` defaults to 1e-12 rather than the paper's 1e-40. Both are far below
    the indicators of any resolved feature (`beta ~ (h u')^2`), so results are
    the same there; but where the data are uniform to round-off, `beta` and
    `tau_5` are round-off noise (~1e-32), and with 1e-40 the weights, while
    harmless in value, get derivatives of size ~1/beta: reverse-mode
    gradients through quiescent regions become noise of order 1e7. With
    1e-12 such regions get the linear weights and exact derivatives. Pass
    `eps=1e-40` to reproduce the paper. An `eps` below the dtype's smallest
    normal number is raised to it.
    """

    eps: float = eqx.field(static=True, default=1e-12)
    power: int = eqx.field(static=True, default=1)
    stencil_radius: ClassVar[int] = 2

    def __check_init__(self):
        if not self.eps > 0:
            raise ValueError(f"WENO5Z: eps must be > 0, got {self.eps}")
        if not (isinstance(self.power, int) and self.power >= 1):
            raise ValueError(f"WENO5Z: power must be a positive int, got {self.power!r}")

    def _value(self, v0, v1, v2, v3, v4):
        q, (b0, b1, b2) = _candidates(v0, v1, v2, v3, v4)
        eps = _eps(self.eps, v0)
        tau = jnp.abs(b0 - b2)
        p = self.power
        if p == 1:
            a = (
                _D0 * (1.0 + div(tau, b0 + eps)),
                _D1 * (1.0 + div(tau, b1 + eps)),
                _D2 * (1.0 + div(tau, b2 + eps)),
            )
        else:
            a = tuple(d * (1.0 + div(tau, b + eps) ** p) for d, b in ((_D0, b0), (_D1, b1), (_D2, b2)))
        return _combine(q, a)

    def reconstruct_stencil(self, stencil):
        v0, v1, v2, v3, v4, v5 = stencil
        return self._value(v0, v1, v2, v3, v4), self._value(v5, v4, v3, v2, v1)
