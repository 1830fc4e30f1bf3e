"""How the gradient of a rollout's loss behaves as the rollout gets longer.

For a chaotic system the sensitivity of the final state to the initial one
grows like `exp(lambda T)` (`lambda` the leading Lyapunov exponent), so the
gradient of any loss of the final state explodes with the horizon `T`, and a
finite difference of fixed step stops describing the loss long before the
gradient overflows. `gradient_horizons` measures both along a sweep of
horizons; `growth_rate` and `explosion` turn the measurements into a rate and
a named horizon.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array


@dataclasses.dataclass(frozen=True)
class HorizonPoint:
    """One horizon of a sweep: the number of blocks rolled out, the loss of
    the final state, the gradient's norm with respect to the initial state
    (`grad_norm`) and with respect to the final state (`final_grad_norm`),
    and the directional derivative along the sweep's unit direction `v` by
    reverse-mode AD (`ad = grad . v`) and by central differences
    (`fd = (L(y0 + eps v) - L(y0 - eps v)) / (2 eps)`), with their relative
    difference `|ad - fd| / max(|ad|, |fd|)`. Non-finite values are kept as
    NaN or Inf (a rollout that blew up)."""

    blocks: int
    loss: float
    grad_norm: float
    final_grad_norm: float
    ad: float
    fd: float
    relative_error: float

    @property
    def gain(self) -> float:
        """`|dL/dy0| / |dL/dy(T)|`: how much the backward pass through the
        rollout amplifies the loss's cotangent. 1 at `T = 0`, independent of
        the loss's scale, and for a chaotic system `~ exp(lambda T)`."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.float64(self.grad_norm) / np.float64(self.final_grad_norm))


def gradient_horizons(
    advance: Callable[[Array, Array], Array],
    loss: Callable[[Array], Array],
    y0: Array,
    blocks: Sequence[int],
    *,
    eps: float = 1e-6,
    key=None,
    progress: Callable[[int, int], None] | None = None,
) -> list[HorizonPoint]:
    """Gradient norm and AD-vs-finite-difference agreement of `loss(y(T))`
    with respect to `y0`, for every horizon `T` in a sweep.

    **Arguments:**

    - `advance(y, k)`: the state after block `k` (`k = 0, 1, ...`, an int32
      array) from the state `y` before it; a pure JAX function, for example
      a `diffsim.solve` of a fixed number of steps starting at
      `t0 + k * block_steps * dt`. It is differentiated in reverse mode, so
      the rollout's own adjoint (checkpointing) applies within each block.
    - `loss(y)`: a scalar of a state.
    - `y0`: the initial state.
    - `blocks`: the horizons, as numbers of blocks (0 gives the gradient of
      `loss` at `y0` itself).
    - `eps`: the finite-difference step along the unit direction.
    - `key`: a JAX PRNG key for the random direction (default `key(0)`).
    - `progress(done, total)`: called after each block of the sweeps.

    **Returns:** one `HorizonPoint` per distinct horizon, in increasing order.

    Cost: one forward sweep of `max(blocks)` blocks for the states at block
    boundaries (stored: `max(blocks) + 1` states), one for the pair
    `y0 +- eps v`, and one backward sweep that carries every horizon's
    cotangent at once (a vmapped VJP of `advance`, recomputing each block's
    forward pass once). Each function is compiled once, whatever the number
    of horizons; the loop over blocks runs on the host, which is why blocks
    should be many time steps long.
    """
    counts = sorted({int(b) for b in blocks})
    if not counts or counts[0] < 0:
        raise ValueError(
            f"gradient_horizons: blocks must be non-negative ints, got {list(blocks)!r}"
        )
    if not eps > 0:
        raise ValueError(f"gradient_horizons: eps must be > 0, got {eps!r}")
    y0 = jnp.asarray(y0)
    key = jax.random.key(0) if key is None else key
    v = jax.random.normal(key, y0.shape, y0.dtype)
    v = v / jnp.linalg.norm(v)
    total, n = max(counts), len(counts)
    index = jnp.asarray(counts)

    step = jax.jit(advance)
    pair_step = jax.jit(jax.vmap(advance, in_axes=(0, None)))
    pair_loss = jax.jit(jax.vmap(loss))
    value_and_grad = jax.jit(jax.value_and_grad(loss))

    @jax.jit
    def back(y, k, cotangents, active):
        """Cotangents of the state before block `k` from those after it;
        horizons that end before block `k` stay zero (masked, so that a
        non-finite state late in the rollout cannot reach them)."""
        _, vjp = jax.vjp(lambda z: advance(z, k), y)
        pulled = jax.vmap(lambda c: vjp(c)[0])(cotangents)
        return jnp.where(active.reshape((n,) + (1,) * y.ndim), pulled, 0.0)

    done, work = 0, 2 * total

    def tick():
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, work)

    # forward: the unperturbed states at block boundaries, and the +-eps pair
    states = {0: y0}
    pair = jnp.stack([y0 + eps * v, y0 - eps * v])
    fd = {}
    if 0 in counts:
        fd[0] = pair_loss(pair)
    for k in range(total):
        kk = jnp.asarray(k, jnp.int32)
        states[k + 1] = step(states[k], kk)
        pair = pair_step(pair, kk)
        if k + 1 in counts:
            fd[k + 1] = pair_loss(pair)
        tick()

    # backward: inject each horizon's dL/dy(T) when the sweep reaches T
    losses, final_norms = {}, {}
    cotangents = jnp.zeros((n, *y0.shape), y0.dtype)
    for k in range(total, -1, -1):
        if k in counts:
            value, g = value_and_grad(states[k])
            losses[k], final_norms[k] = value, jnp.linalg.norm(g)
            cotangents = cotangents.at[counts.index(k)].set(g)
        if k == 0:
            break
        active = index >= k
        cotangents = back(
            states[k - 1], jnp.asarray(k - 1, jnp.int32), cotangents, active
        )
        del states[k]  # no longer needed
        tick()

    grads = np.asarray(cotangents).reshape(n, -1)
    directional = grads @ np.asarray(v).ravel()
    norms = np.linalg.norm(grads, axis=1)
    points = []
    for i, c in enumerate(counts):
        plus, minus = (float(x) for x in np.asarray(fd[c]))
        d_fd = (plus - minus) / (2 * eps)
        d_ad = float(directional[i])
        scale = max(abs(d_ad), abs(d_fd))
        with np.errstate(invalid="ignore"):
            rel = (
                abs(d_ad - d_fd) / scale
                if scale > 0
                else (0.0 if d_ad == d_fd else np.nan)
            )
        points.append(
            HorizonPoint(
                c,
                float(losses[c]),
                float(norms[i]),
                float(final_norms[c]),
                d_ad,
                d_fd,
                float(rel),
            )
        )
    return points


def growth_rate(times: Sequence[float], gains: Sequence[float]) -> float:
    """Least-squares slope of `ln gain` against the horizon (`gains` such
    as `HorizonPoint.gain`): the exponential growth rate of the gradient, a
    finite-time estimate of the leading Lyapunov exponent for a chaotic
    system, negative when gradients decay. Horizons with a zero or
    non-finite gain are left out; NaN with fewer than two usable horizons."""
    t, g = np.asarray(times, float), np.asarray(gains, float)
    keep = np.isfinite(g) & (g > 0) & np.isfinite(t)
    if keep.sum() < 2 or np.ptp(t[keep]) == 0:
        return float("nan")
    return float(np.polyfit(t[keep], np.log(g[keep]), 1)[0])


@dataclasses.dataclass(frozen=True)
class Explosion:
    """Where a sweep's gradients explode. `gain_index`: the first horizon at
    which the backward pass amplifies the loss's cotangent by more than the
    limit (`HorizonPoint.gain`); `fd_index`: the first at which AD and
    finite differences disagree by more than the tolerance (the loss is no
    longer linear on the scale of the finite-difference step); a horizon
    where anything is non-finite counts for both. `index` is the earlier of
    the two, None when neither happens; `reason` says why, in words."""

    index: int | None
    gain_index: int | None
    fd_index: int | None
    reason: str


def explosion(
    points: Sequence[HorizonPoint], *, factor: float = 1e3, tol: float = 1e-3
) -> Explosion:
    """Where the gradients of a sweep (`points` in increasing horizon)
    explode, by `Explosion`'s two tests: gain above `factor`, AD-vs-FD
    relative error above `tol`."""
    if not factor > 1:
        raise ValueError(f"explosion: factor must be > 1, got {factor!r}")
    if not tol > 0:
        raise ValueError(f"explosion: tol must be > 0, got {tol!r}")

    def first(test):
        return next((i for i, p in enumerate(points) if test(p)), None)

    def broken(p):
        return not all(
            np.isfinite(x) for x in (p.loss, p.grad_norm, p.gain, p.relative_error)
        )

    gain_index = first(lambda p: broken(p) or p.gain > factor)
    fd_index = first(lambda p: broken(p) or p.relative_error > tol)
    found = [i for i in (gain_index, fd_index) if i is not None]
    if not found:
        return Explosion(
            None,
            None,
            None,
            f"the gain stayed below {factor:g} and AD agreed with finite differences "
            f"within {tol:g}",
        )
    index = min(found)
    p = points[index]
    if broken(p):
        reason = "the loss or its gradient is not finite"
    elif index == gain_index:
        reason = (
            f"the backward pass amplifies the loss's gradient {p.gain:.3g}-fold (> "
            f"{factor:g})"
        )
    else:
        reason = (
            f"AD and finite differences disagree by {p.relative_error:.2g} (> {tol:g})"
        )
    return Explosion(index, gain_index, fd_index, reason)
