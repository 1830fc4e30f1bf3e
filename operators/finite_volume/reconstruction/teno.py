"""Fifth-order targeted essentially non-oscillatory (TENO) reconstruction."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._math import div
from ._base import AbstractReconstruction

# Optimal (linear) weights of the three third-order candidates for the
# left-biased value at i + 1/2: those of WENO5 (Jiang & Shu 1996).
_D = (0.1, 0.6, 0.3)


def _teno5(v0, v1, v2, v3, v4, c: float, q: int, cutoff: float, eps: float):
    """The TENO5 value at `i + 1/2` from `v_{i-2} .. v_{i+2}`.

    The smoothness measure of candidate `k` is
    `gamma_k = (C + tau_5 / (beta_k + eps))^q`; `chi_k = gamma_k / sum gamma`
    is evaluated as `(r_k^q) / sum r^q` with
    `r_k = gamma_k^(1/q) / max_j gamma_j^(1/q)` (every `r_k <= 1`, and no
    intermediate overflows in float32 for data of any scale, nor divides by
    `eps` alone).
    Candidates with `chi_k < C_T` are dropped (`delta_k = 0`); the others are
    combined with their optimal weights renormalized. At least the smoothest
    candidate (`chi >= 1/3`) always survives.
    """
    cand = (
        (2.0 * v0 - 7.0 * v1 + 11.0 * v2) * (1.0 / 6.0),
        (-v1 + 5.0 * v2 + 2.0 * v3) * (1.0 / 6.0),
        (2.0 * v2 + 5.0 * v3 - v4) * (1.0 / 6.0),
    )
    s = (v0 - 2.0 * v1 + v2, v1 - 2.0 * v2 + v3, v2 - 2.0 * v3 + v4)
    t = (v0 - 4.0 * v1 + 3.0 * v2, v1 - v3, 3.0 * v2 - 4.0 * v3 + v4)
    beta = tuple((13.0 / 12.0) * sk * sk + 0.25 * tk * tk for sk, tk in zip(s, t))
    tau = jnp.abs(beta[0] - beta[2])
    b = tuple(bk + eps for bk in beta)
    b_min = jnp.minimum(jnp.minimum(b[0], b[1]), b[2])
    # r_k = (C + tau / b_k) / (C + tau / b_min), as two factors <= 1 and >= 1
    # that neither overflow nor divide by zero (b >= eps > 0)
    inv = div(1.0, c * b_min + tau)
    g = tuple(((c * bk + tau) * inv * div(b_min, bk)) ** q for bk in b)
    threshold = cutoff * (g[0] + g[1] + g[2])
    w = tuple(jnp.where(gk >= threshold, d, 0.0) for gk, d in zip(g, _D))
    return div(w[0] * cand[0] + w[1] * cand[1] + w[2] * cand[2], w[0] + w[1] + w[2])


class TENO5(AbstractReconstruction):
    """TENO5 of Fu, Hu & Adams (2016): the three third-order candidates of
    WENO5 and their Jiang-Shu smoothness indicators `beta_k`, but instead of
    blending them with smooth nonlinear weights, each candidate is either kept
    with its optimal linear weight or dropped: with
    `gamma_k = (C + tau_5 / (beta_k + eps))^q`, `tau_5 = |beta_0 - beta_2|`,
    and `chi_k = gamma_k / sum_j gamma_j`, candidate `k` is kept when
    `chi_k >= C_T`, and the kept ones get `d_k / sum_kept d_j`,
    `d = (1, 6, 3) / 10`.

    On smooth data every candidate is kept and the scheme is the linear
    fifth-order upwind one (no weight perturbation, so lower dissipation than
    WENO5-JS/Z at the same resolution); at a discontinuity the candidates
    crossing it are removed entirely. Parameters as published for TENO5:
    `C = 1`, `q = 6`, `C_T = 1e-5`.

    `eps` defaults to 1e-6, as for `WENO5Z` (see there): features whose
    `beta` lies far below 1 then keep all candidates (the paper's 1e-40 would
    make faint smooth data select stencils, and reverse-mode derivatives on
    data uniform to round-off noisy). Pass `eps=1e-40` for the published
    scheme; an `eps` below the dtype's smallest normal number is raised to it.
    The selection is piecewise constant in the data: derivatives exist almost
    everywhere (through the kept candidates), but finite differences that
    straddle a switch do not match them.

    **Arguments:**

    - `cutoff`: `C_T` (default 1e-5).
    - `eps`: the regularization of `gamma_k` (default 1e-6).
    - `c`, `q`: the constants of `gamma_k` (defaults 1 and 6).
    """

    cutoff: float = eqx.field(static=True, default=1e-5)
    eps: float = eqx.field(static=True, default=1e-6)
    c: float = eqx.field(static=True, default=1.0)
    q: int = eqx.field(static=True, default=6)
    stencil_radius: ClassVar[int] = 2

    def __check_init__(self):
        if not 0 < self.cutoff < 1.0 / 3.0:
            raise ValueError(f"TENO5: cutoff must lie in (0, 1/3), got {self.cutoff!r}")
        if not self.eps > 0:
            raise ValueError(f"TENO5: eps must be > 0, got {self.eps!r}")
        if not self.c > 0:
            raise ValueError(f"TENO5: c must be > 0, got {self.c!r}")
        if not (isinstance(self.q, int) and self.q >= 1):
            raise ValueError(f"TENO5: q must be a positive int, got {self.q!r}")

    def _value(self, v0, v1, v2, v3, v4):
        eps = max(self.eps, float(jnp.finfo(jnp.result_type(v0)).tiny))
        return _teno5(v0, v1, v2, v3, v4, self.c, self.q, self.cutoff, eps)

    def reconstruct_stencil(self, stencil):
        v0, v1, v2, v3, v4, v5 = stencil
        return self._value(v0, v1, v2, v3, v4), self._value(v5, v4, v3, v2, v1)
