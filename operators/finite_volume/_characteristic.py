"""Characteristic decomposition of primitive stencils at a face.

For the primitive variables `W = (rho, u_n, u_t.., p)` the quasi-linear Euler
system `W_t + A(W) W_x = 0` along the normal `n` has the eigenvalues
`u_n - c, u_n, u_n (tangential), u_n + c` and the eigenvectors (Toro 2009,
chapter 3)

    R = [[1,       1, 0, 1      ],      L = R^-1 = [[0, -rho/(2c), 0, 1/(2c^2)],
         [-c/rho,  0, 0, c/rho  ],                  [1,  0,        0, -1/c^2  ],
         [0,       0, I, 0      ],                  [0,  0,        I, 0       ],
         [c^2,     0, 0, c^2    ]]                  [0,  rho/(2c), 0, 1/(2c^2)]]

(columns/rows: 1-acoustic, entropy, shear, 3-acoustic). `A(W)` is similar to
the conservative flux Jacobian, `A = M^-1 (dF/dU) M` with `M = dU/dW`, so
these are the same characteristic fields as in the conservative formulation
(`L_W = L_U M`), and projecting a primitive stencil with `L_W` equals
projecting the conservative one with `L_U` to first order in the stencil's
variation. The primitive form is what makes the projection cheap: `L` and `R`
depend only on the face's `rho` and `c` and have 6 nonzero off-diagonal
entries, so projecting one stencil value costs 5 flops instead of a dense
(2 + d)^2 product.

The face state is the arithmetic mean of the two adjacent cells' density
and pressure (Shu 1998 allows any such symmetric mean; the Roe mean changes
the result only at the level of the reconstruction error on smooth data).
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxtyping import Array

from ._math import div
from .eos import AbstractEquationOfState
from .reconstruction import AbstractReconstruction


def characteristic_face_states(
    stencil: Sequence[Sequence[Array]],
    reconstruction: AbstractReconstruction,
    eos: AbstractEquationOfState,
    axis: int,
) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    """Left and right primitive face states, reconstructed in characteristic
    variables (Shu 1998, lecture notes, "characteristic-wise" procedure).

    `stencil[j]` is the tuple of primitive variables of the j-th cell of the
    `2 * num_ghost`-cell stencil around each face (cells `i - r .. i + 1 + r`
    for face `i + 1/2`), every array with one entry per face. The eigenvectors
    are evaluated once per face, at the mean of cells `i` and `i + 1`, and the
    whole stencil is projected with them.
    """
    g = reconstruction.num_ghost
    n = 1 + axis  # index of the normal velocity
    last = len(stencil[0]) - 1
    tangential = [v for v in range(1, last) if v != n]
    w_i, w_j = stencil[g - 1], stencil[g]
    rho_f = 0.5 * (w_i[0] + w_j[0])
    p_f = 0.5 * (w_i[last] + w_j[last])
    c_f = eos.sound_speed(rho_f, p_f)
    c2 = c_f * c_f
    half_inv_c2 = div(0.5, c2)
    half_rho_over_c = div(0.5 * rho_f, c_f)
    c_over_rho = div(c_f, rho_f)

    def project(w):
        a = half_inv_c2 * w[last]
        b = half_rho_over_c * w[n]
        return (a - b, w[0] - (a + a), *(w[v] for v in tangential), a + b)

    chars = [project(w) for w in stencil]
    faces = [
        reconstruction.reconstruct_stencil([ch[k] for ch in chars])
        for k in range(last + 1)
    ]

    def back(side):
        ch = [f[side] for f in faces]
        w1, w2, w5 = ch[0], ch[1], ch[-1]
        out = {0: w1 + w2 + w5, n: c_over_rho * (w5 - w1)}
        out.update(zip(tangential, ch[2:-1]))
        out[last] = c2 * (w1 + w5)
        return tuple(out[v] for v in range(last + 1))

    return back(0), back(1)
