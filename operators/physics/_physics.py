"""The physics vocabulary: a PDE written once, independent of discretization."""

from __future__ import annotations

import functools
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Inexact

from ._calculus import AbstractCalculus

DISCRETIZATIONS = ("fourier", "finite_difference", "finite_volume")


class AbstractPhysics(eqx.Module):
    """A PDE for `channels` fields `u`, written once as a sum of terms:

        u_t = - sum_a d/dx_a F_a(u)      (`flux`: conservative flux divergence)
              + L u                      (`linear`: the declared stiff linear part)
              + R(u, x, t)               (`reaction`: pointwise sources)
              + N(u, t)                  (`nonlinear`: anything else, written with
                                          the calculus `d`)

    Every method is optional (returns `None` by default) except `field_names`.
    Fields have shape `(channels, *cells)`; terms return the same shape.

    - `flux(u, axis)` is *pointwise* in `u`. Finite volumes difference it
      through a Riemann solver (upwinded, shock-capturing); Fourier and finite
      differences take its derivative.
    - `flux_channels(axis)` declares a *per-component* flux: the channels
      whose flux along `axis` can be non-zero, in the order of the rows that
      `flux(u, axis)` then returns (only those rows; default `None`: every
      channel, every row). Fourier and finite differences transform and
      difference only the declared rows, and a row returned identically
      for several axes is transformed once (XLA merges the identical
      transforms): Burgers' `delta_ia |u|^2 / 2` costs the transform of one
      field instead of `ndim^2`. Finite volumes and the flux Jacobian
      (`wave_speeds`) see `full_flux(u, axis)`, the rows scattered into
      zeros (a Riemann solver dissipates on every channel).
    - `linear(u, d)` must be linear in `u`. It is what ETDRK integrates exactly
      (then it must also have constant coefficients and not couple channels,
      i.e. be diagonal in Fourier space) and what IMEX treats implicitly.
    - `d` is the discretization's `AbstractCalculus`: `d.derivative(u, axis,
      order)`, `d.laplacian(u)`, `d.diffusion(u, coefficient)`, `d.jacobian(a,
      b)`, `d.inverse_laplacian(u)`, ... acting on the trailing `ndim` axes.

    `discretizations` lists the discretizations that make sense for the
    physics (a subset of `"fourier"`, `"finite_difference"`,
    `"finite_volume"`); `discretize` refuses the others with that list.
    `min_finite_volume_order` refuses too-diffusive finite volumes for
    dispersive physics (KdV on first-order finite volumes).
    """

    discretizations: ClassVar[tuple[str, ...]] = DISCRETIZATIONS
    complex_fields: ClassVar[bool] = False
    min_finite_volume_order: ClassVar[int] = 1

    def field_names(self, ndim: int) -> tuple[str, ...]:
        """Names of the channels on an `ndim`-dimensional grid."""
        raise NotImplementedError

    def encode(
        self, fields: Inexact[Array, " channels *cells"]
    ) -> Inexact[Array, " channels *cells"]:
        """Physical fields (those named by `field_names`) to the variables the
        equations evolve, e.g. velocity to momentum (default: the same)."""
        return fields

    def decode(
        self, u: Inexact[Array, " channels *cells"]
    ) -> Inexact[Array, " channels *cells"]:
        """Inverse of `encode`."""
        return u

    def flux(
        self, u: Inexact[Array, " channels *cells"], axis: int
    ) -> Inexact[Array, " channels *cells"] | None:
        """Pointwise flux `F_axis(u)` (None: no conservative flux term)."""
        return None

    def flux_channels(self, axis: int) -> tuple[int, ...] | None:
        """The channels whose flux along `axis` can be non-zero, in the order
        of the rows `flux(u, axis)` returns (None: every channel, the
        default). Declaring them makes `flux` return only those rows."""
        return None

    def full_flux(
        self, u: Inexact[Array, " channels *cells"], axis: int
    ) -> Inexact[Array, " channels *cells"] | None:
        """`flux(u, axis)` with a row for every channel: the rows of the
        channels declared by `flux_channels` in place, zeros elsewhere (what
        a Riemann solver and the flux Jacobian need). None without a flux.

        **Raises:** `ValueError` when `flux` does not return one row per
        declared channel, or a declared channel does not exist."""
        rows = flux_rows(self, u, axis)
        if rows is None:
            return None
        channels, f = rows
        if channels == tuple(range(u.shape[0])):
            return f
        return scatter_channels([(channels, f)], u.shape[0])

    def linear(
        self, u: Inexact[Array, " channels *cells"], d: AbstractCalculus
    ) -> Inexact[Array, " channels *cells"] | None:
        """The stiff linear part `L u` (None: none)."""
        return None

    def reaction(
        self, u: Inexact[Array, " channels *cells"], x: tuple[Array, ...], t
    ) -> Inexact[Array, " channels *cells"] | None:
        """Pointwise source `R(u, x, t)`; `x` holds the cell-centre coordinates,
        one array of shape `cells` per axis (None: none)."""
        return None

    def nonlinear(
        self, u: Inexact[Array, " channels *cells"], d: AbstractCalculus, t
    ) -> Inexact[Array, " channels *cells"] | None:
        """Any other (non-stiff) term, written with the calculus `d`."""
        return None

    def wave_speeds(
        self, u: Inexact[Array, " channels *cells"], axis: int
    ) -> tuple[Array, Array]:
        """Smallest and largest characteristic speeds of `flux(., axis)` at every
        point, shape `cells` each: by default the eigenvalues of the flux
        Jacobian `dF/du`, by automatic differentiation (real parts).
        Override with closed forms where known (cheaper)."""
        return jacobian_eigenvalue_bounds(lambda v: self.full_flux(v, axis), u)

    def reflect(
        self, u: Inexact[Array, " channels *cells"], axis: int
    ) -> Inexact[Array, " channels *cells"]:
        """The mirror state behind a reflecting wall normal to `axis` (for
        finite-volume `ReflectingWall`): e.g. flip the normal velocity."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define reflect(u, axis), so it "
            "cannot have a reflecting wall"
        )


def flux_rows(
    physics: AbstractPhysics, u: Inexact[Array, " channels *cells"], axis: int
) -> tuple[tuple[int, ...], Inexact[Array, " rows *cells"]] | None:
    """`(channels, rows)`: `physics.flux(u, axis)` and the channels its rows
    belong to (`physics.flux_channels(axis)`, or every channel in order);
    None when the physics has no flux.

    **Raises:** `ValueError` naming the physics when the rows do not match
    the declared channels."""
    rows = physics.flux(u, axis)
    if rows is None:
        return None
    count = u.shape[0]
    declared = physics.flux_channels(axis)
    channels = tuple(range(count)) if declared is None else tuple(declared)
    name = type(physics).__name__
    if len(set(channels)) != len(channels) or not all(0 <= c < count for c in channels):
        raise ValueError(
            f"{name}.flux_channels({axis}) = {channels}: expected distinct "
            f"channels among 0..{count - 1}"
        )
    if rows.shape[0] != len(channels):
        raise ValueError(
            f"{name}.flux(u, {axis}) returned {rows.shape[0]} rows; "
            f"flux_channels({axis}) = {channels} declares {len(channels)}"
            if declared is not None
            else f"{name}.flux(u, {axis}) returned {rows.shape[0]} rows for "
            f"{count} channels (declare flux_channels({axis}) to return only "
            "some)"
        )
    return channels, rows


def scatter_channels(parts: list[tuple[tuple[int, ...], Array]], count: int) -> Array:
    """The sum of `parts`, each `(channels, rows)` (row `j` belongs to channel
    `channels[j]`), as one array of `count` rows (zeros for channels no part
    touches). Parts that cover every channel in order are added as whole
    arrays, so a dense flux divergence keeps its arithmetic exactly."""
    everything = tuple(range(count))
    if all(channels == everything for channels, _ in parts):
        arrays = [rows for _, rows in parts]
        return sum(arrays[1:], arrays[0])
    per_channel: list[list[Array]] = [[] for _ in range(count)]
    for channels, rows in parts:
        for j, c in enumerate(channels):
            per_channel[c].append(rows[j])
    zero = jnp.zeros_like(parts[0][1][0])
    return jnp.stack(
        [sum(terms[1:], terms[0]) if terms else zero for terms in per_channel]
    )


def jacobian_eigenvalue_bounds(flux, u) -> tuple[Array, Array]:
    """`(min, max)` over the eigenvalues (real parts) of the pointwise Jacobian
    of `flux` at each point of `u` (channels first), shape `u.shape[1:]` each.

    The Jacobian's columns are `jax.jvp`s of `flux` on the whole array (one
    per channel; elementwise code XLA fuses). Its eigenvalues then come in
    closed form from the characteristic polynomial for one, two and three
    channels (the derivative itself; the quadratic formula; Viete's
    trigonometric / Cardano's formula), so this runs on every backend and is
    differentiable: the derivative of a root is the implicit-function one,
    `d lambda = -dP(lambda) / P'(lambda)`, and at a double (triple) root that
    of the cluster, from `P'` (`P''`) instead, so multiple roots (Burgers in
    2D has `u, u/2`, which meet at `u = 0`) give finite derivatives. For four
    or more channels: `jnp.linalg.eigvals` on CPU, and elsewhere (where JAX
    has no non-symmetric eigensolver) the Gershgorin bounds
    `min/max_i (J_ii -/+ sum_{j != i} |J_ij|)`, which contain every
    eigenvalue (safe for Rusanov, HLL and the CFL step, if dissipative).
    Override `AbstractPhysics.wave_speeds` with closed forms where known.
    """
    channels = u.shape[0]
    shape = u.shape[1:]
    lead = (-1,) + (1,) * (u.ndim - 1)
    basis = jnp.eye(channels, dtype=u.dtype)
    cols = [
        jax.jvp(flux, (u,), (jnp.broadcast_to(basis[j].reshape(lead), u.shape),))[1]
        for j in range(channels)
    ]
    jac = [[cols[j][i] for j in range(channels)] for i in range(channels)]
    if channels == 1:
        return jac[0][0], jac[0][0]
    if channels == 2:
        a = -(jac[0][0] + jac[1][1])
        b = jac[0][0] * jac[1][1] - jac[0][1] * jac[1][0]
        return _quadratic_bounds(a, b)
    if channels == 3:
        (j00, j01, j02), (j10, j11, j12), (j20, j21, j22) = jac
        a = -(j00 + j11 + j22)
        b = j00 * j11 - j01 * j10 + j00 * j22 - j02 * j20 + j11 * j22 - j12 * j21
        det = (
            j00 * (j11 * j22 - j12 * j21)
            - j01 * (j10 * j22 - j12 * j20)
            + j02 * (j10 * j21 - j11 * j20)
        )
        return _cubic_bounds(a, b, -det)
    if jax.default_backend() == "cpu":
        matrix = jnp.stack([jnp.stack(row, axis=-1) for row in jac], axis=-2)
        lam = jnp.real(jnp.linalg.eigvals(matrix))
        return lam.min(axis=-1), lam.max(axis=-1)
    lows, highs = [], []
    for i in range(channels):
        radius = sum(jnp.abs(jac[i][j]) for j in range(channels) if j != i)
        lows.append(jac[i][i] - radius)
        highs.append(jac[i][i] + radius)
    low = functools.reduce(jnp.minimum, lows)
    high = functools.reduce(jnp.maximum, highs)
    return low.reshape(shape), high.reshape(shape)


# relative size of P' (P'') below which a root counts as double (triple)
_CLUSTER = 1e-6
_SQRT3 = 3.0**0.5


def _safe_sqrt(x):
    """`sqrt(max(x, 0))` with a finite (zero) derivative at and below 0."""
    positive = x > 0.0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def _quadratic_primal(a, b):
    m = -0.5 * a
    r = _safe_sqrt(m * m - b)
    return m - r, m + r


@jax.custom_jvp
def _quadratic_bounds(a, b):
    """Smallest and largest real part of the roots of `x^2 + a x + b`."""
    return _quadratic_primal(a, b)


@_quadratic_bounds.defjvp
def _quadratic_bounds_jvp(primals, tangents):
    a, b = primals
    da, db = tangents
    low, high = _quadratic_primal(a, b)
    scale = jnp.abs(a) + jnp.sqrt(jnp.abs(b))

    def derivative(lam):
        slope = 2.0 * lam + a  # P'(lam); 0 at a double root or complex pair
        simple = jnp.abs(slope) > _CLUSTER * scale
        implicit = -(lam * da + db) / jnp.where(simple, slope, 1.0)
        return jnp.where(simple, implicit, -0.5 * da)

    return (low, high), (derivative(low), derivative(high))


def _cubic_primal(a, b, c):
    """`(low, high, low_is_root, high_is_root, real_root)`: the smallest and
    largest real part of the roots of `x^3 + a x^2 + b x + c`, whether each
    is a (real) root, and one real root.

    Three real roots (the hyperbolic case): Viete's trigonometric form,
    one `arccos` and one `cos`. Otherwise Cardano's formula for the real
    root, evaluated (two `cbrt`s) only when some point needs it."""
    shift = a / 3.0
    p = b - a * shift
    q = (2.0 / 27.0) * a * a * a - a * b / 3.0 + c
    three_real = 4.0 * p * p * p + 27.0 * q * q <= 0.0
    # t_k = 2 r cos(phi - 2 pi k / 3), phi in [0, pi / 3]: the largest is
    # 2 r cos(phi), the smallest 2 r cos(phi + 2 pi / 3)
    r = _safe_sqrt(-p / 3.0)
    r3 = r * r * r
    cos3 = jnp.clip(-q / (2.0 * jnp.where(r3 > 0.0, r3, 1.0)), -1.0, 1.0)
    cos_phi = jnp.cos(jnp.arccos(cos3) / 3.0)
    sin_phi = _safe_sqrt(1.0 - cos_phi * cos_phi)
    t_high = 2.0 * r * cos_phi
    t_low = -r * cos_phi - _SQRT3 * r * sin_phi

    def cardano(_):
        sd = _safe_sqrt(0.25 * q * q + p * p * p / 27.0)
        return jnp.cbrt(-0.5 * q + sd) + jnp.cbrt(-0.5 * q - sd)

    t1 = lax.cond(jnp.all(three_real), jnp.zeros_like, cardano, q)
    t_low = jnp.where(three_real, t_low, jnp.minimum(t1, -0.5 * t1))
    t_high = jnp.where(three_real, t_high, jnp.maximum(t1, -0.5 * t1))
    low_is_root = three_real | (t1 <= -0.5 * t1)
    high_is_root = three_real | (t1 >= -0.5 * t1)
    scale2 = shift * shift + jnp.abs(b)

    def polish(lam):  # one Newton step (the trigonometric form loses digits)
        value = ((lam + a) * lam + b) * lam + c
        slope = (3.0 * lam + 2.0 * a) * lam + b
        ok = jnp.abs(slope) > _CLUSTER * scale2
        return jnp.where(ok, lam - value / jnp.where(ok, slope, 1.0), lam)

    low = t_low - shift
    high = t_high - shift
    low = jnp.where(low_is_root, polish(low), low)
    high = jnp.where(high_is_root, polish(high), high)
    root = jnp.where(three_real, high, polish(t1 - shift))
    return low, high, low_is_root, high_is_root, root


@jax.custom_jvp
def _cubic_bounds(a, b, c):
    """Smallest and largest real part of the roots of `x^3 + a x^2 + b x + c`."""
    return _cubic_primal(a, b, c)[:2]


@_cubic_bounds.defjvp
def _cubic_bounds_jvp(primals, tangents):
    a, b, c = primals
    da, db, dc = tangents
    low, high, low_is_root, high_is_root, root = _cubic_primal(a, b, c)
    scale = jnp.sqrt(a * a / 9.0 + jnp.abs(b))

    def root_derivative(lam):
        slope = (3.0 * lam + 2.0 * a) * lam + b  # P'
        curve = 6.0 * lam + 2.0 * a  # P''
        simple = jnp.abs(slope) > _CLUSTER * scale * scale
        double = ~simple & (jnp.abs(curve) > _CLUSTER * scale)
        d_simple = -((lam * da + db) * lam + dc) / jnp.where(simple, slope, 1.0)
        d_double = -(2.0 * lam * da + db) / jnp.where(double, curve, 1.0)
        return jnp.where(simple, d_simple, jnp.where(double, d_double, -da / 3.0))

    # the real part of a complex pair is -(a + real_root) / 2
    d_pair = -0.5 * (da + root_derivative(root))
    d_low = jnp.where(low_is_root, root_derivative(low), d_pair)
    d_high = jnp.where(high_is_root, root_derivative(high), d_pair)
    return (low, high), (d_low, d_high)
