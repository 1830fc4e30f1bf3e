"""Gradients of scalar losses by the mode that suits the parameter count,
Hessian-vector products, and checks against finite differences."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

GradientMode = Literal["reverse", "forward", "auto"]

#: `auto` uses forward mode up to this many parameters: one JVP per
#: parameter costs about one forward run each, a reverse pass several.
FORWARD_MODE_MAX_PARAMETERS = 4


def num_parameters(params) -> int:
    return sum(
        int(np.prod(x.shape))
        for x in jax.tree.leaves(eqx.filter(params, eqx.is_inexact_array))
    )


def resolve_mode(mode: GradientMode, params) -> Literal["reverse", "forward"]:
    """`auto` picks forward mode for at most `FORWARD_MODE_MAX_PARAMETERS`
    parameters and reverse mode otherwise."""
    if mode == "auto":
        return (
            "forward"
            if num_parameters(params) <= FORWARD_MODE_MAX_PARAMETERS
            else "reverse"
        )
    if mode not in ("reverse", "forward"):
        raise ValueError(
            f"gradient mode must be reverse, forward or auto, got {mode!r}"
        )
    return mode


def value_and_grad(loss: Callable[[Any], jax.Array], mode: GradientMode = "reverse"):
    """`params -> (loss, gradient)` by reverse mode (`jax.value_and_grad`) or
    forward mode (one `jax.jvp` per parameter, batched with `vmap`: no stored
    residuals, memory independent of the number of steps)."""

    def reverse(params):
        return jax.value_and_grad(loss)(params)

    def forward(params):
        flat, unravel = ravel_pytree(params)
        basis = jnp.eye(flat.size, dtype=flat.dtype)
        value = loss(params)
        tangents = jax.vmap(
            lambda e: jax.jvp(lambda f: loss(unravel(f)), (flat,), (e,))[1]
        )(basis)
        return value, unravel(tangents)

    def chosen(params):
        return (forward if resolve_mode(mode, params) == "forward" else reverse)(params)

    return chosen


def hvp(loss: Callable[[Any], jax.Array], params, vector):
    """Hessian-vector product `H(params) @ vector` by forward-over-reverse
    (`jax.jvp` of `jax.grad`): the cost of about two gradients."""
    return jax.jvp(jax.grad(loss), (params,), (vector,))[1]


#: Default finite-difference steps along a unit direction in parameter space,
#: coarse to fine. The best step of a central difference scales as the cube
#: root of the loss's noise: the inner steps, 1e-2 to 1e-5, bracket it for
#: relative noise from round-off (~1e-16) to ~1e-6; the outer two serve as
#: neighbours that estimate the inner ones' errors (`pick_step`).
FD_STEPS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)

#: Verdicts of one checked direction (and of a whole check: the worst).
PASSED, WRONG, TOO_NOISY = "passed", "wrong", "too noisy"

#: "wrong" needs a disagreement beyond this many noise floors (and beyond the
#: tolerance): the floor is an estimate, not a bound.
NOISE_MARGIN = 3.0


def _flat(loss: Callable[[Any], jax.Array], params):
    """The loss as a function of the flat vector of its inexact-array leaves
    (other leaves, e.g. activation functions of a network, stay fixed)."""
    dynamic, static = eqx.partition(params, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(dynamic)
    return flat, lambda x: loss(eqx.combine(unravel(x), static))


def random_directions(params, count: int, key=None) -> jax.Array:
    """`(count, n)` random unit vectors in the flat space of the inexact
    leaves of `params` (normal draws, normalised)."""
    if count < 1:
        raise ValueError(f"gradcheck: directions must be >= 1, got {count}")
    flat, _ = ravel_pytree(eqx.filter(params, eqx.is_inexact_array))
    key = jax.random.key(0) if key is None else key
    v = jax.random.normal(key, (count, flat.size), flat.dtype)
    return v / jnp.linalg.norm(v, axis=1, keepdims=True)


def directional_derivatives(
    loss: Callable[[Any], jax.Array],
    params,
    directions,
    *,
    mode: GradientMode = "reverse",
    progress: Callable[[str], None] | None = None,
) -> list[float]:
    """`grad L(params) . v` for each row `v` of `directions` by automatic
    differentiation.

    **Arguments:**

    - `loss`, `params`: the scalar loss and where to differentiate it;
    - `directions`: `(count, n)` unit vectors over the flat inexact leaves;
    - `mode`: `reverse` (one gradient, then dot products) or `forward` (one
      `jax.jvp` along each direction: `count` forward passes, whatever the
      number of parameters); `auto` picks as `value_and_grad` does;
    - `progress`: called with one line per evaluation.

    **Returns:** the directional derivatives, as floats.
    """
    flat, f = _flat(loss, params)
    used = resolve_mode(mode, flat)
    say = progress or (lambda line: None)
    values = []
    if used == "reverse":
        t0 = time.perf_counter()
        g = jax.block_until_ready(jax.jit(jax.grad(f))(flat))
        say(
            f"gradient by reverse mode: {time.perf_counter() - t0:.2f} s (with "
            "compilation)"
        )
        values = [float(g @ v) for v in directions]
    else:
        jvp = jax.jit(lambda x, v: jax.jvp(f, (x,), (v,))[1])
        for i, v in enumerate(directions):
            t0 = time.perf_counter()
            values.append(float(jvp(flat, v)))
            say(
                f"JVP along direction {i}: {time.perf_counter() - t0:.2f} "
                f"s{' (with compilation)' if i == 0 else ''}"
            )
    return values


def central_differences(
    loss: Callable[[Any], jax.Array],
    params,
    directions,
    *,
    steps=FD_STEPS,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Central differences `(L(p + h v) - L(p - h v)) / (2 h)` along each
    direction for every step `h` of `steps`, the step whose result has the
    smallest estimated error (see `pick_step`), and the jump between the
    one-sided derivatives where the loss has a kink at `p` (see
    `one_sided_jump`).

    **Arguments:** as `directional_derivatives`; `steps`, at least three
    distinct positive step lengths.

    **Returns:** one dict per direction: `fd` (at the chosen step), `eps`
    (the chosen step), `noise` (its estimated absolute error, the noise
    floor), `jump` (`D+ - D-`, 0.0 where no kink shows), `sweep`
    (`[(h, central difference), ...]`, coarse to fine) and `gaps`
    (`[(h, D+(h) - D-(h)), ...]`).
    """
    steps = sorted({float(h) for h in steps}, reverse=True)
    if len(steps) < 3 or steps[-1] <= 0:
        raise ValueError(
            "gradcheck: finite differences need at least 3 distinct positive steps, "
            f"got {steps}"
        )
    flat, f = _flat(loss, params)
    f = jax.jit(f)
    say = progress or (lambda line: None)
    total = 1 + 2 * len(steps) * len(directions)
    t0 = time.perf_counter()
    center = float(f(flat))
    say(
        f"[1/{total}] L(p) = {center:.15e} ({time.perf_counter() - t0:.2f} s with "
        "compilation)"
    )
    done, rows = 1, []
    for i, v in enumerate(directions):
        sweep, gaps = [], []
        for h in steps:
            pair = []
            for sign in (1, -1):
                t0 = time.perf_counter()
                pair.append(float(f(flat + sign * h * v)))
                done += 1
                say(
                    f"[{done}/{total}] direction {i}, L(p {'+-'[sign < 0]} {h:.0e} v) "
                    f"= {pair[-1]:.15e} ({time.perf_counter() - t0:.2f} s)"
                )
            sweep.append((h, (pair[0] - pair[1]) / (2 * h)))
            gaps.append((h, (pair[0] + pair[1] - 2 * center) / h))
        k, noise = pick_step(steps, [d for _, d in sweep])
        jump = one_sided_jump(steps, [g for _, g in gaps], k, noise, center)
        rows.append(
            {
                "fd": sweep[k][1],
                "eps": steps[k],
                "noise": noise,
                "jump": jump,
                "sweep": sweep,
                "gaps": gaps,
            }
        )
    return rows


def one_sided_jump(steps, gaps, k: int, noise: float, value: float = 0.0) -> float:
    """The jump `D+ - D-` between the one-sided derivatives of a loss with a
    kink at `p` (e.g. `|x|` at 0), or 0.0 where the differences show none.

    `gap(h) = D+(h) - D-(h) = (L(p + h v) + L(p - h v) - 2 L(p)) / h` is
    `J + h L'' + O(h^3)`: `J`, the jump, is zero for a smooth loss. Each pair
    of neighbouring steps extrapolates `J` linearly to `h = 0`; a kink is
    declared where two successive extrapolations agree within a factor 2 (for
    a smooth loss they fall like `h^2`) and both stand `NOISE_MARGIN` times
    clear of their noise. The noise `sigma` of the loss is bounded from the
    central difference's error `noise` at the chosen step `k`
    (`sigma <= sqrt(2) h_k noise`, and no less than the round-off of
    `value = L(p)`); that of `gap(h)` is `sqrt(6) sigma / h`.
    """
    h, g = [float(x) for x in steps], [float(x) for x in gaps]
    sigma = max(math.sqrt(2) * h[k] * noise, 4 * np.finfo(np.float64).eps * abs(value))

    def extrapolated(i):  # J from gaps i and i + 1, and its noise
        w = h[i] / (h[i] - h[i + 1])
        return g[i + 1] + (g[i + 1] - g[i]) * h[i + 1] / (
            h[i] - h[i + 1]
        ), w * math.sqrt(6) * sigma / h[i + 1]

    jump = 0.0
    for i in range(len(h) - 2):
        (a, na), (b, nb) = extrapolated(i), extrapolated(i + 1)
        if (
            a * b > 0
            and 0.5 <= b / a <= 2
            and abs(a) > NOISE_MARGIN * na
            and abs(b) > NOISE_MARGIN * nb
        ):
            jump = b
    return jump


def pick_step(steps, differences) -> tuple[int, float]:
    """The step (index into `steps`, coarse to fine) whose central difference
    has the smallest estimated error, and that estimate.

    A central difference `D(h)` errs by truncation, `c h^2`, and by the
    loss's noise (round-off, inexact iterative solves), `~ sigma / h`. The
    error of `D(h_i)` is estimated from its neighbours:

    - from the coarser one: `|D(h_{i-1}) - D(h_i)|`, reduced by Richardson's
      factor `h_i^2 / (h_{i-1}^2 - h_i^2)` only where the next coarser
      difference confirms `h^2` truncation (same sign, ratio within a factor
      3 of the `h^2` law); otherwise the difference may be `D(h_i)`'s own
      noise and is taken whole;
    - from the finer one, whose noise is `h_i / h_{i+1}` times larger:
      `|D(h_i) - D(h_{i+1})| h_{i+1} / h_i`.

    The larger of the two is the estimate; the coarsest and finest steps
    serve only as neighbours. The estimate errs on the large side, so that
    noise is not mistaken for a wrong gradient.
    """
    n = len(steps)
    if n < 3:
        raise ValueError("pick_step needs at least 3 steps")
    h, d = [float(x) for x in steps], [float(x) for x in differences]
    best, best_error = 1, math.inf
    for i in range(1, n - 1):
        coarse = d[i - 1] - d[i]
        from_coarse = abs(coarse)
        if i >= 2 and coarse != 0:
            expected = (h[i - 2] ** 2 - h[i - 1] ** 2) / (h[i - 1] ** 2 - h[i] ** 2)
            ratio = (d[i - 2] - d[i - 1]) / coarse
            if expected / 3 <= ratio <= 3 * expected:
                from_coarse *= h[i] ** 2 / (h[i - 1] ** 2 - h[i] ** 2)
        from_fine = abs(d[i] - d[i + 1]) * h[i + 1] / h[i]
        error = max(from_coarse, from_fine)
        if math.isfinite(error) and error < best_error:
            best, best_error = i, error
    return best, best_error


def judge(ad: float, fd: float, noise: float, tol: float, jump: float = 0.0) -> dict:
    """The verdict on one directional derivative.

    The relative error is `|ad - fd| / max(|ad|, |fd|)` and the noise floor
    `noise / max(|ad|, |fd|)`. `passed`: the error and the floor are both
    within `tol`; `wrong`: the error exceeds `tol` and `NOISE_MARGIN` noise
    floors (finite differences cannot explain it); `too noisy` otherwise
    (the floor exceeds `tol`, or the error is within what the noise explains
    but above `tol`): the finite differences cannot judge the gradient.

    Where the loss has a kink at `p` (a relative `jump` between the one-sided
    derivatives beyond `tol`) it has no gradient there: autodiff returns the
    derivative of one smooth piece, or a mix of them, which lies between
    the one-sided derivatives `fd -+ jump / 2`. The error is then measured
    from that interval, and `kink` is set.

    **Returns:** `relative_error`, `noise_floor`, `verdict`, `kink`,
    `jump` (relative), `excess` (the error beyond the one-sided interval at
    a kink; otherwise the relative error).
    """
    scale = max(abs(ad), abs(fd), 1e-300)
    error, floor, jump = abs(ad - fd) / scale, noise / scale, abs(jump) / scale
    kink = jump > tol
    excess = max(0.0, error - jump / 2) if kink else error
    if not (math.isfinite(ad) and math.isfinite(fd)):
        error = excess = math.inf
    if excess > max(tol, NOISE_MARGIN * floor):
        verdict = WRONG
    elif excess <= tol and floor <= tol:
        verdict = PASSED
    else:
        verdict = TOO_NOISY
    return {
        "relative_error": error,
        "noise_floor": floor,
        "verdict": verdict,
        "kink": kink,
        "jump": jump,
        "excess": excess,
    }


def overall_verdict(verdicts) -> str:
    """`wrong` if any direction is wrong, else `too noisy` if any is, else `passed`."""
    verdicts = list(verdicts)
    if WRONG in verdicts:
        return WRONG
    return TOO_NOISY if TOO_NOISY in verdicts else PASSED


def gradcheck(
    loss: Callable[[Any], jax.Array],
    params,
    *,
    mode: GradientMode = "reverse",
    directions: int = 3,
    steps=FD_STEPS,
    eps: float | None = None,
    tol: float = 1e-5,
    key=None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Compare the directional derivatives of `loss` along random unit
    directions, by the chosen mode, with central finite differences whose
    step is picked by a sweep over `steps`, and judge each (see `judge`).
    Needs float64.

    **Arguments:**

    - `loss`, `params`: the scalar loss and the parameter pytree (leaves that
      are not inexact arrays are held fixed);
    - `mode`: `reverse`, `forward` (one JVP per direction) or `auto`;
    - `directions`: how many random unit directions;
    - `steps`: the finite-difference steps swept; `eps`: instead, one step,
      with neighbours `10 eps` and `eps / 10` to estimate its noise;
    - `tol`: the largest relative error (and noise floor) that passes;
    - `key`: PRNG key of the directions (default `jax.random.key(0)`);
    - `progress`: called with one line per loss or gradient evaluation.

    **Returns:** one dict per direction: `ad`, `fd`, `relative_error`, `eps`
    (the step used), `noise_floor` (relative), `verdict` (`passed`, `wrong`,
    `too noisy`), `kink` and `jump` (see `judge`), and the raw `sweep`
    (`[(step, central difference), ...]`) and `gaps`. `overall_verdict`
    combines the verdicts.
    """
    if not jax.config.read("jax_enable_x64"):
        raise RuntimeError(
            "gradcheck needs float64 (jax_enable_x64 / precision: float64)"
        )
    if eps is not None:
        steps = (10 * eps, eps, eps / 10)
    vs = random_directions(params, directions, key)
    ads = directional_derivatives(loss, params, vs, mode=mode, progress=progress)
    fds = central_differences(loss, params, vs, steps=steps, progress=progress)
    return [
        {"ad": ad, **fd, **judge(ad, fd["fd"], fd["noise"], tol, fd["jump"])}
        for ad, fd in zip(ads, fds)
    ]
