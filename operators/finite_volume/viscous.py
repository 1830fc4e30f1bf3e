"""The viscous stress and heat flux of the compressible Navier-Stokes
equations at the faces of a finite-volume grid, at fourth order.

`Euler` with a `Transport` adds these fluxes to the inviscid numerical flux
of every face, before the faces are differenced (so the scheme stays
conservative) and, with `average_correction`, before the transverse
face-averaging kernel (so the face averages are fourth-order too).

At a face normal to axis `a`, between cells `i - 1` and `i` (values at cell
centres, `q_i`):

- values: `(-q_{i-2} + 9 q_{i-1} + 9 q_i - q_{i+1}) / 16`;
- normal derivatives: `(q_{i-2} - 27 q_{i-1} + 27 q_i - q_{i+1}) / (24 h)`;
- transverse derivatives: the fourth-order central difference
  `(q_{j-2} - 8 q_{j-1} + 8 q_{j+1} - q_{j+2}) / (12 h)` at the cells,
  interpolated to the face as the values are.

These are the fourth-order central face stencils of the dissipative fluxes
in JAX-Fluids (Bezgin, Buhendwa & Adams 2023) and of De Wiart et al.'s
finite-volume Navier-Stokes schemes; the flux difference of the normal
stencil has the symbol `-(2 sin(k h / 2))(54 sin(k h / 2) - 2 sin(3 k h / 2))
/ (24 h^2)`, whose largest magnitude, `14 / (3 h^2)`, sets the viscous time
step (`VISCOUS_EIGENVALUE`).
"""

from __future__ import annotations

from collections.abc import Sequence

from jax import lax
from jaxtyping import Array

from .eos import AbstractEquationOfState
from .transport import Transport

#: Cells the face stencils read on either side of a face / cell.
STENCIL = 2
#: The largest magnitude of the fourth-order diffusion operator's symbol,
#: times `h^2 / nu`: the viscous time-step limit is `dt <= r / (nu * sum_d
#: VISCOUS_EIGENVALUE / h_d^2)` with `r` the stepper's stability radius on the
#: negative real axis.
VISCOUS_EIGENVALUE = 14.0 / 3.0

_INTERP = (-1.0 / 16.0, 9.0 / 16.0, 9.0 / 16.0, -1.0 / 16.0)
_NORMAL = (1.0 / 24.0, -27.0 / 24.0, 27.0 / 24.0, -1.0 / 24.0)
_CENTRAL = (1.0 / 12.0, -8.0 / 12.0, 0.0, 8.0 / 12.0, -1.0 / 12.0)


def _stencil(x, weights, axis, start, length):
    """`sum_j weights[j] x[start + j : start + j + length]` along `axis`."""
    out = None
    for j, w in enumerate(weights):
        if w == 0.0:
            continue
        term = w * lax.slice_in_dim(x, start + j, start + j + length, axis=axis)
        out = term if out is None else out + term
    assert out is not None
    return out


def _trim(x, axis, k):
    return lax.slice_in_dim(x, k, x.shape[axis] - k, axis=axis)


def viscous_face_fluxes(
    velocity_temperature: Sequence[Array],
    width: int,
    halo: int,
    spacing: Sequence[float],
    transport: Transport,
    eos: AbstractEquationOfState,
) -> list[tuple[Array, ...]]:
    """The viscous part of the face fluxes, for every axis.

    **Arguments:**

    - `velocity_temperature`: `(u_1, .., u_ndim, T)` at cell centres, padded
      with `width >= 2 + halo` ghost cells on both ends of every axis.
    - `halo`: cells beyond the grid to keep along the transverse axes (for a
      face-averaging kernel applied afterwards).
    - `spacing`: the grid spacing per axis.
    - `transport`, `eos`: the viscosity law and conductivity; `c_p`.

    **Returns:**

    Per axis `a`, the flux components `(momentum_1, .., momentum_ndim,
    energy)` to add to the inviscid face flux (`-tau_{a.}` and
    `-tau_{a.} . u + q_a`), at the `n_a + 1` faces normal to `a` and
    `n_b + 2 halo` cells along every other axis `b`.
    """
    *velocity, temperature = velocity_temperature
    ndim = len(velocity)
    if width < STENCIL + halo:
        raise ValueError(
            f"viscous_face_fluxes: {width} ghost cells, need {STENCIL + halo}"
        )
    # central derivatives of the velocity along every axis, at the cells
    # (width - 2 ghosts left along that axis)
    central = {
        (c, b): _stencil(velocity[c], _CENTRAL, b, 0, velocity[c].shape[b] - 4)
        * (1.0 / spacing[b])
        for c in range(ndim)
        for b in range(ndim)
    }
    cp = eos.specific_heat_cp(temperature)
    out = []
    for a in range(ndim):
        n = temperature.shape[a] - 2 * width
        inv_h = 1.0 / spacing[a]

        def faces(x, weights, along=None, a=a, n=n):
            """Face values along `a` of `x` (a derivative along `along`,
            which has `STENCIL` ghosts fewer there), the transverse axes
            trimmed to `halo` ghosts."""
            y = _stencil(x, weights, a, width - STENCIL, n + 1)
            for b in range(ndim):
                if b != a:
                    y = _trim(y, b, width - (STENCIL if b == along else 0) - halo)
            return y

        u_face = [faces(u, _INTERP) for u in velocity]
        t_face = faces(temperature, _INTERP)
        # grad[c][d] = d u_c / d x_d at the faces
        grad = [
            [
                faces(velocity[c], _NORMAL) * inv_h
                if d == a
                else faces(central[(c, d)], _INTERP, along=d)
                for d in range(ndim)
            ]
            for c in range(ndim)
        ]
        dtdn = faces(temperature, _NORMAL) * inv_h
        mu, mu_b, k = transport.coefficients(t_face, cp)
        divergence = sum(grad[c][c] for c in range(ndim))
        tau = []
        for c in range(ndim):
            s = mu * (grad[a][c] + grad[c][a])
            if c == a:
                s = s + (mu_b - (2.0 / 3.0) * mu) * divergence
            tau.append(s)
        work = sum(tau[c] * u_face[c] for c in range(ndim))
        out.append((*(-s for s in tau), -work - k * dtdn))
    return out
