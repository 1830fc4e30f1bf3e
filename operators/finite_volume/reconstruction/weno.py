"""Fifth-order weighted essentially non-oscillatory reconstructions."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._math import div
from ._base import AbstractReconstruction

# Optimal (linear) weights of the three third-order candidate stencils for the
# left-biased value at i + 1/2 (Jiang & Shu 1996).
_D = (0.1, 0.6, 0.3)


def _linear_parts(v0, v1, v2, v3, v4):
    """Candidate values `q_k` and the two differences `s_k`, `t_k` of which the
    Jiang-Shu smoothness indicators `beta_k = 13/12 s_k^2 + 1/4 t_k^2` are
    made, for the value at `i + 1/2` from `v_{i-2} .. v_{i+2}` (Jiang & Shu
    1996). All linear in the data."""
    q = (
        (2.0 * v0 - 7.0 * v1 + 11.0 * v2) * (1.0 / 6.0),
        (-v1 + 5.0 * v2 + 2.0 * v3) * (1.0 / 6.0),
        (2.0 * v2 + 5.0 * v3 - v4) * (1.0 / 6.0),
    )
    s = (v0 - 2.0 * v1 + v2, v1 - 2.0 * v2 + v3, v2 - 2.0 * v3 + v4)
    t = (v0 - 4.0 * v1 + 3.0 * v2, v1 - v3, 3.0 * v2 - 4.0 * v3 + v4)
    return q, s, t


def _weno5(v0, v1, v2, v3, v4, z: bool, eps: float, power: int):
    """The WENO5 value at `i + 1/2` from `v_{i-2} .. v_{i+2}`: WENO-Z weights
    (Borges et al. 2008) if `z`, else Jiang-Shu weights.

    Written with divisions as the last operation of shared terms (`div`):
    XLA keeps divisions materialized, which both passes rely on. (A
    closed-form custom JVP of the weights was tried and is 2x slower in
    reverse mode on CPU: its coefficients share intermediates that XLA then
    recomputes per coefficient.)
    """
    q, s, t = _linear_parts(v0, v1, v2, v3, v4)
    b = tuple((13.0 / 12.0) * sk * sk + 0.25 * tk * tk for sk, tk in zip(s, t))
    if z:
        tau = jnp.abs(b[0] - b[2])
        if power == 1:
            a = tuple(d * (1.0 + div(tau, bk + eps)) for d, bk in zip(_D, b))
        else:
            a = tuple(d * (1.0 + div(tau, bk + eps) ** power) for d, bk in zip(_D, b))
    else:
        a = tuple(div(d, (bk + eps) ** power) for d, bk in zip(_D, b))
    return div(a[0] * q[0] + a[1] * q[1] + a[2] * q[2], a[0] + a[1] + a[2])


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

    **Arguments:**

    - `eps`: the regularization `eps` of the weights (default 1e-6).
    - `power`: the exponent `p` (default 2).
    """

    eps: float = eqx.field(static=True, default=1e-6)
    power: int = eqx.field(static=True, default=2)
    stencil_radius: ClassVar[int] = 2
    order: ClassVar[int] = 5

    def __check_init__(self):
        if not self.eps > 0:
            raise ValueError(f"WENO5JS: eps must be > 0, got {self.eps}")
        if not (isinstance(self.power, int) and self.power >= 1):
            raise ValueError(
                f"WENO5JS: power must be a positive int, got {self.power!r}"
            )

    def _value(self, v0, v1, v2, v3, v4):
        return _weno5(v0, v1, v2, v3, v4, False, _eps(self.eps, v0), self.power)

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

    `eps` defaults to 1e-6 (Jiang & Shu's value) rather than the paper's
    1e-40. Where a feature is smooth but faint (`beta ~ (h u')^2` far below
    1), the ratio `tau_5 / beta_k` does not shrink with `h` and a tiny `eps`
    leaves the weights nonlinear: the isentropic vortex's Gaussian far field
    then costs one order (3.7 instead of 5 on 32..128 cells, measured with
    1e-12). With 1e-6 such regions, and data uniform to round-off (where
    1e-40 gives reverse-mode gradients of size ~1/beta, i.e. noise of order
    1e7), get the linear weights and exact derivatives, while shocks and
    contacts of any practical strength (`beta >> 1e-6`) see the same weights
    as with 1e-40. The price: `eps` is not scale-invariant, so for data of
    amplitude ~1e-3 or below (weak acoustics in dimensional units) the scheme
    is close to linear; nondimensionalize, or pass a smaller `eps` (1e-40
    reproduces the paper). An `eps` below the dtype's smallest normal number
    is raised to it.

    **Arguments:**

    - `eps`: the regularization `eps` of the weights (default 1e-6).
    - `power`: the exponent `q` (default 1).
    """

    eps: float = eqx.field(static=True, default=1e-6)
    power: int = eqx.field(static=True, default=1)
    stencil_radius: ClassVar[int] = 2
    order: ClassVar[int] = 5

    def __check_init__(self):
        if not self.eps > 0:
            raise ValueError(f"WENO5Z: eps must be > 0, got {self.eps}")
        if not (isinstance(self.power, int) and self.power >= 1):
            raise ValueError(
                f"WENO5Z: power must be a positive int, got {self.power!r}"
            )

    def _value(self, v0, v1, v2, v3, v4):
        return _weno5(v0, v1, v2, v3, v4, True, _eps(self.eps, v0), self.power)

    def reconstruct_stencil(self, stencil):
        v0, v1, v2, v3, v4, v5 = stencil
        return self._value(v0, v1, v2, v3, v4), self._value(v5, v4, v3, v2, v1)
