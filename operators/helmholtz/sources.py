"""Source maps for the Helmholtz equation `H p = -s` (complex fields)."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float

from .._grid import Grid


def band_limited_delta(
    grid: Grid, axis: int, position: float | Float[ArrayLike, ""], roll_off: float = 0.4
) -> Float[Array, " n"]:
    """A band-limited approximation of `delta(x - position)` sampled at the
    cell centres along `axis`: `(1 / L) sum_k w(k) e^{i k (x - position)}`
    over the wavenumbers the grid resolves, with a spectral window `w` that is
    1 for `|k| <= roll_off * k_nyquist` and falls smoothly (C-infinity) to 0
    at the Nyquist wavenumber.

    Because `w` is smooth, the kernel decays faster than any power of the
    distance (a few cells), so the field it radiates equals the point-source
    field outside a small neighbourhood of the source whenever the medium's
    wavenumbers lie in the flat band (at least 2 / roll_off points per
    wavelength). The sharp cut-off `roll_off=1` gives the periodic sinc
    (Nyquist mode at half weight), which is the discrete delta on the grid
    but rings along the axes with a slowly decaying tail.

    The kernel sums to `1 / h` (unit integral). Differentiable with respect
    to `position`.

    **Arguments:**

    - `grid`: the `Grid`.
    - `axis`: the axis along which the kernel is sampled.
    - `position`: the centre of the delta along `axis`.
    - `roll_off`: the fraction of the Nyquist wavenumber where the window
      starts to fall (default 0.4).

    **Returns:**

    The kernel at the cell centres along `axis`, a 1D array.
    """
    if not 0.0 < roll_off <= 1.0:
        raise ValueError(
            f"band_limited_delta: roll_off must lie in (0, 1], got {roll_off}"
        )
    n, h, length = grid.cells[axis], grid.spacing[axis], grid.lengths[axis]
    x = jnp.asarray(grid.axis_coordinates(axis))
    modes = np.arange(1, n // 2 + 1)
    weight = _window(modes / (n / 2), roll_off)
    if n % 2 == 0:
        weight[-1] *= 0.5  # the Nyquist mode, counted once for +k and -k
    t = x[:, None] - jnp.asarray(position)
    out = 1.0 + 2.0 * jnp.sum(
        weight[None, :] * jnp.cos(2 * np.pi * modes[None, :] * t / length), axis=1
    )
    return out / (n * h)


def _window(t: np.ndarray, roll_off: float) -> np.ndarray:
    """1 on `[0, roll_off]`, a C-infinity step down to 0 at `t = 1`."""
    if roll_off >= 1.0:
        return np.ones_like(t)
    u = np.clip((t - roll_off) / (1.0 - roll_off), 0.0, 1.0)

    def f(v):
        return np.where(v > 0, np.exp(-1.0 / np.where(v > 0, v, 1.0)), 0.0)

    return f(1.0 - u) / (f(1.0 - u) + f(u))


def point_source(
    grid: Grid,
    position: Sequence[float],
    amplitude: complex = 1.0,
    roll_off: float = 0.4,
    dtype=None,
) -> Complex[Array, "*cells"]:
    """A band-limited point source `amplitude * delta(x - position)`.

    The product of `band_limited_delta` along each axis (its integral over the
    grid, `sum * cell_volume`, is `amplitude`). Off-grid positions are
    represented without aliasing; the field it radiates is the point-source
    field outside a few cells around `position` (see `band_limited_delta`).

    **Arguments:**

    - `grid`: the `Grid`.
    - `position`: the source position, one coordinate per axis.
    - `amplitude`: the source strength (default 1).
    - `roll_off`: as for `band_limited_delta`.
    - `dtype`: the dtype of the result (default: complex, at JAX's precision).

    **Returns:**

    The source density at the cell centres, shaped like `grid.cells`.
    """
    if len(position) != grid.ndim:
        raise ValueError(
            f"point_source: position has {len(position)} coordinates, the grid is "
            f"{grid.ndim}D"
        )
    out = jnp.asarray(amplitude, _complex(dtype))
    for axis in range(grid.ndim):
        out = out * _along(
            grid, axis, band_limited_delta(grid, axis, position[axis], roll_off)
        )
    return jnp.broadcast_to(out, grid.cells).astype(_complex(dtype))


def line_source(
    grid: Grid,
    axis: int,
    position: float,
    lower: Sequence[float] | None = None,
    upper: Sequence[float] | None = None,
    amplitude: complex = 1.0,
    taper: float = 0.0,
    roll_off: float = 0.4,
    dtype=None,
) -> Complex[Array, "*cells"]:
    """A line (2D) or plane (3D) source normal to `axis`.

    `amplitude * delta(x_axis - position)` (band limited along `axis`),
    uniform across the aperture. In a homogeneous 1D setting it radiates the
    plane waves `p = i amplitude / (2 k) e^{i k |x - position|}`.

    **Arguments:**

    - `grid`: the `Grid`.
    - `axis`: the axis normal to the source.
    - `position`: the source's coordinate along `axis`.
    - `lower`, `upper`: the aperture on the other axes, in axis order skipping
      `axis` (default: the whole grid).
    - `amplitude`: the source strength (default 1).
    - `taper`: the fraction of the aperture at each end over which the
      amplitude rises as a raised cosine (Tukey window), which softens edge
      diffraction (default 0).
    - `roll_off`: as for `band_limited_delta`.
    - `dtype`: the dtype of the result (default: complex, at JAX's precision).

    **Returns:**

    The source density at the cell centres, shaped like `grid.cells`.
    """
    if not 0 <= axis < grid.ndim:
        raise ValueError(f"line_source: axis must be in [0, {grid.ndim}), got {axis}")
    others = [a for a in range(grid.ndim) if a != axis]
    lower = [grid.lower[a] for a in others] if lower is None else list(lower)
    upper = [grid.upper[a] for a in others] if upper is None else list(upper)
    if len(lower) != len(others) or len(upper) != len(others):
        raise ValueError(
            f"line_source: lower and upper need {len(others)} entries (the axes other "
            f"than {axis})"
        )
    if not 0.0 <= taper <= 0.5:
        raise ValueError(f"line_source: taper must lie in [0, 0.5], got {taper}")
    out = jnp.asarray(amplitude, _complex(dtype)) * _along(
        grid, axis, band_limited_delta(grid, axis, position, roll_off)
    )
    for a, lo, hi in zip(others, lower, upper):
        x = grid.axis_coordinates(a)
        u = (x - lo) / (hi - lo)
        window = ((u >= 0) & (u <= 1)).astype(float)
        if taper > 0:
            ramp = np.clip(np.minimum(u, 1 - u) / taper, 0.0, 1.0)
            window = window * 0.5 * (1 - np.cos(np.pi * ramp))
        out = out * _along(grid, a, jnp.asarray(window))
    return jnp.broadcast_to(out, grid.cells).astype(_complex(dtype))


def _along(grid: Grid, axis: int, values):
    shape = [1] * grid.ndim
    shape[axis] = grid.cells[axis]
    return jnp.reshape(values, shape)


def _complex(dtype):
    """The complex dtype matching `dtype` (default: the default float)."""
    return jnp.promote_types(
        jnp.result_type(float) if dtype is None else dtype, jnp.complex64
    )
