"""The shallow-water (Saint-Venant) equations in 1D and 2D, written once, and
the exact solution of their Riemann problem on a wet bed."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Inexact

from .._operator import parameter
from ._physics import AbstractPhysics

_VELOCITIES = ("velocity_x", "velocity_y")


class ShallowWater(AbstractPhysics):
    """Shallow water over a flat bed, in conservation form:

        h_t + div(h v) = 0,
        (h v)_t + div(h v v^T + g h^2 / 2 I) = 0,

    for the depth `h` and the depth-averaged velocity `v` (Toro 2001,
    "Shock-Capturing Methods for Free-Surface Shallow Flows", ch. 3).

    The physical fields are `height`, `velocity_x` (, `velocity_y` in 2D);
    the evolved variables are the conserved `(h, h u, h v)` (`encode` and
    `decode` convert). The characteristic speeds along `axis` are
    `v_axis -+ sqrt(g h)` and `v_axis` (2D), given in closed form
    (`wave_speeds`), so Rusanov and HLL need no eigenvalue solve. A
    reflecting wall mirrors the state with the normal momentum reversed
    (`reflect`).

    Positivity: the equations hold for `h > 0` only (a *wet* bed); `decode`
    divides by `h`, so a state with `h <= 0` decodes to non-finite velocities,
    which the run loop reports as a non-physical state. Dam breaks onto a
    wet bed (`h_right > 0`) keep `h` positive for the finite-volume schemes
    with HLL or Rusanov fluxes under the CFL condition; dry beds are outside
    this class.

    **Arguments:**

    - `gravity`: the gravitational acceleration `g` (a differentiable leaf;
      default 9.81).
    """

    gravity: Float[Array, ""] = eqx.field(converter=parameter, default=9.81)

    # finite volumes first: shocks (hydraulic jumps, bores) need them; smooth
    # periodic flows also run pseudo-spectrally or on finite differences
    discretizations: ClassVar[tuple[str, ...]] = (
        "finite_volume",
        "fourier",
        "finite_difference",
    )

    def __check_init__(self):
        if self.gravity.ndim != 0:
            raise ValueError(
                f"ShallowWater: gravity must be a scalar, got shape "
                f"{self.gravity.shape}"
            )

    def field_names(self, ndim: int) -> tuple[str, ...]:
        if ndim not in (1, 2):
            raise ValueError(f"ShallowWater: 1D or 2D only, got ndim = {ndim}")
        return ("height", *_VELOCITIES[:ndim])

    def encode(
        self, fields: Inexact[Array, " channels *cells"]
    ) -> Inexact[Array, " channels *cells"]:
        h = fields[0]
        return jnp.concatenate([h[None], h[None] * fields[1:]])

    def decode(
        self, u: Inexact[Array, " channels *cells"]
    ) -> Inexact[Array, " channels *cells"]:
        h = u[0]
        return jnp.concatenate([h[None], u[1:] / h[None]])

    def flux(
        self, u: Inexact[Array, " channels *cells"], axis: int
    ) -> Inexact[Array, " channels *cells"]:
        h = u[0]
        normal = u[1 + axis] / h
        out = u * normal[None]  # (h v_a, h u v_a, h v v_a)
        return out.at[1 + axis].add(0.5 * self.gravity * h * h)

    def wave_speeds(
        self, u: Inexact[Array, " channels *cells"], axis: int
    ) -> tuple[Array, Array]:
        h = u[0]
        normal = u[1 + axis] / h
        c = jnp.sqrt(self.gravity * h)
        return normal - c, normal + c

    def reflect(
        self, u: Inexact[Array, " channels *cells"], axis: int
    ) -> Inexact[Array, " channels *cells"]:
        return u.at[1 + axis].multiply(-1.0)


@dataclasses.dataclass(frozen=True)
class ShallowWaterRiemann:
    """The exact solution of the 1D shallow-water Riemann problem with both
    sides wet and no dry region created (`2 (c_L + c_R) > u_R - u_L`, the
    depth positivity condition; Toro 2001, §5.3), built by
    `solve_shallow_water_riemann`.

    `height_star`, `velocity_star`: the middle state. `left_shock`,
    `right_shock`: whether each outer wave is a shock (else a rarefaction).
    Call `sample(xi)` for `(h, u)` at the similarity coordinate
    `xi = (x - x0) / t`.
    """

    left: tuple[float, float]
    right: tuple[float, float]
    gravity: float
    height_star: float
    velocity_star: float
    left_shock: bool
    right_shock: bool

    def sample(self, xi: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Depth and velocity at `xi = (x - x0) / t` (NumPy, float64)."""
        xi = np.asarray(xi, dtype=np.float64)
        g = self.gravity
        (hl, ul), (hr, ur) = self.left, self.right
        hs, us = self.height_star, self.velocity_star
        cl, cr, cs = np.sqrt(g * hl), np.sqrt(g * hr), np.sqrt(g * hs)
        h = np.empty_like(xi)
        u = np.empty_like(xi)

        # left of the contact (characteristic us): left wave
        left = xi <= us
        if self.left_shock:
            s = ul - cl * np.sqrt(0.5 * (hs + hl) * hs) / hl
            outer = left & (xi < s)
            h[outer], u[outer] = hl, ul
            inner = left & ~outer
            h[inner], u[inner] = hs, us
        else:
            head, tail = ul - cl, us - cs
            outer = left & (xi < head)
            fan = left & (xi >= head) & (xi < tail)
            inner = left & (xi >= tail)
            h[outer], u[outer] = hl, ul
            h[fan] = (ul + 2 * cl - xi[fan]) ** 2 / (9 * g)
            u[fan] = (ul + 2 * cl + 2 * xi[fan]) / 3
            h[inner], u[inner] = hs, us

        right = ~left
        if self.right_shock:
            s = ur + cr * np.sqrt(0.5 * (hs + hr) * hs) / hr
            outer = right & (xi > s)
            h[outer], u[outer] = hr, ur
            inner = right & ~outer
            h[inner], u[inner] = hs, us
        else:
            head, tail = ur + cr, us + cs
            outer = right & (xi > head)
            fan = right & (xi <= head) & (xi > tail)
            inner = right & (xi <= tail)
            h[outer], u[outer] = hr, ur
            h[fan] = (-ur + 2 * cr + xi[fan]) ** 2 / (9 * g)
            u[fan] = (ur - 2 * cr + 2 * xi[fan]) / 3
            h[inner], u[inner] = hs, us
        return h, u

    def cell_averages(
        self, edges: ArrayLike, t: float, x0: float, samples: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cell averages of the conserved `(h, h u)` at time `t` over the cells
        bounded by `edges` (length `cells + 1`), the discontinuity initially at
        `x0`: midpoint rule with `samples` points per cell, exact away from
        the shocks, within `jump dx / samples` in the cell a shock crosses.
        """
        edges = np.asarray(edges, dtype=np.float64)
        dx = np.diff(edges)
        offsets = (np.arange(samples) + 0.5) / samples
        x = edges[:-1, None] + dx[:, None] * offsets[None]
        if t == 0:
            h = np.where(x < x0, self.left[0], self.right[0])
            u = np.where(x < x0, self.left[1], self.right[1])
        else:
            h, u = self.sample((x - x0) / t)
        return h.mean(axis=1), (h * u).mean(axis=1)


def _wave_function(h, hk, g):
    """Toro's `f_K(h)` (velocity jump across the K wave) and its derivative."""
    if h <= hk:  # rarefaction
        ck = np.sqrt(g * hk)
        return 2 * (np.sqrt(g * h) - ck), np.sqrt(g / h)
    root = np.sqrt(0.5 * g * (h + hk) / (h * hk))
    d_root = -0.25 * g / (h * h * root)
    return (h - hk) * root, root + (h - hk) * d_root


def solve_shallow_water_riemann(
    left: tuple[float, float],
    right: tuple[float, float],
    gravity: float,
    *,
    tol: float = 1e-14,
    max_iterations: int = 50,
) -> ShallowWaterRiemann:
    """The exact Riemann solution of the 1D shallow-water equations with
    `(h, u)` = `left` for `x < x0` and `right` beyond, both sides wet.

    The middle depth solves `f_L(h*) + f_R(h*) + u_R - u_L = 0` (Toro 2001,
    eq. 5.6), `f_K` the rarefaction branch `2 (sqrt(g h) - sqrt(g h_K))` for
    `h <= h_K` and the shock branch `(h - h_K) sqrt(g (h + h_K) / (2 h h_K))`
    beyond, by Newton's method from the two-rarefaction estimate (`f` is
    increasing and concave, so the iteration converges monotonically). The
    wet-bed dam break (`u_L = u_R = 0`, `h_L > h_R > 0`) is Stoker's
    solution (1957): a left rarefaction and a right shock.

    **Arguments:**

    - `left`, `right`: `(depth, velocity)`, depths > 0.
    - `gravity`: `g` > 0.
    - `tol`: relative tolerance on the middle depth.
    - `max_iterations`: Newton iterations allowed.

    **Returns:** a `ShallowWaterRiemann`.

    **Raises:** `ValueError` for a non-positive depth or gravity, data that
    create a dry region, or a Newton iteration that does not converge.
    """
    (hl, ul), (hr, ur) = (tuple(map(float, s)) for s in (left, right))
    g = float(gravity)
    if not (hl > 0 and hr > 0):
        raise ValueError(f"wet-bed Riemann problem: depths must be > 0, got {hl}, {hr}")
    if not g > 0:
        raise ValueError(f"gravity must be > 0, got {g}")
    cl, cr = np.sqrt(g * hl), np.sqrt(g * hr)
    if 2 * (cl + cr) <= ur - ul:
        raise ValueError(
            "the data create a dry region (2 (c_L + c_R) <= u_R - u_L); the "
            "wet-bed solver does not cover it"
        )
    h = (0.5 * (cl + cr) - 0.25 * (ur - ul)) ** 2 / g  # two-rarefaction estimate
    for _ in range(max_iterations):
        fl, dl = _wave_function(h, hl, g)
        fr, dr = _wave_function(h, hr, g)
        step = (fl + fr + ur - ul) / (dl + dr)
        h_new = max(h - step, 1e-3 * h)
        if abs(h_new - h) <= tol * h_new:
            h = h_new
            break
        h = h_new
    else:
        raise ValueError(
            f"shallow-water Riemann solver: Newton did not converge in "
            f"{max_iterations} iterations"
        )
    fl, _ = _wave_function(h, hl, g)
    fr, _ = _wave_function(h, hr, g)
    us = 0.5 * (ul + ur) + 0.5 * (fr - fl)
    return ShallowWaterRiemann(
        left=(hl, ul),
        right=(hr, ur),
        gravity=g,
        height_star=float(h),
        velocity_star=float(us),
        left_shock=bool(h > hl),
        right_shock=bool(h > hr),
    )
