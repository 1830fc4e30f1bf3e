"""Gradients of scalar losses by the mode that suits the parameter count,
Hessian-vector products, and checks against finite differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ._adjoint import AbstractAdjoint, CheckpointAdjoint, DirectAdjoint
from ._errors import ConfigError

GradientMode = Literal["reverse", "forward", "auto"]

#: `auto` uses forward mode up to this many parameters: one JVP per
#: parameter costs about one forward run each, a reverse pass several.
FORWARD_MODE_MAX_PARAMETERS = 4

def _no_implicit_time_loop() -> AbstractAdjoint:
    raise ConfigError(
        "adjoint",
        "implicit differentiation applies to steady states (diffsim.steady_state); "
        "a time-dependent rollout needs direct or checkpoint",
    )


#: The config's `adjoint:` for time loops. `implicit` (the implicit function
#: theorem) is for steady scenarios, which build their own
#: `optimistix.ImplicitAdjoint`; a rollout asked for it is a config error.
ADJOINTS: dict[str, Callable[[], AbstractAdjoint]] = {
    "direct": DirectAdjoint,
    "checkpoint": CheckpointAdjoint,
    "implicit": _no_implicit_time_loop,
}


def adjoint_from(config) -> AbstractAdjoint:
    """The time-loop adjoint a run configuration asks for: `ADJOINTS[config.adjoint]`,
    with `config.adjoint_memory_budget` (bytes, or None) for `checkpoint`
    (the config refuses a budget with another adjoint; a copy switched to
    another adjoint, as `gradcheck --all-modes` makes, runs it unbudgeted).

    **Arguments:**

    - `config`: anything with `adjoint` and `adjoint_memory_budget` attributes
      (a validated `RunConfig`).

    **Returns:** an `AbstractAdjoint`.
    """
    if config.adjoint == "checkpoint" and config.adjoint_memory_budget is not None:
        return CheckpointAdjoint(memory_budget=config.adjoint_memory_budget)
    return ADJOINTS[config.adjoint]()


def num_parameters(params) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(eqx.filter(params, eqx.is_inexact_array)))


def resolve_mode(mode: GradientMode, params) -> Literal["reverse", "forward"]:
    """`auto` picks forward mode for at most `FORWARD_MODE_MAX_PARAMETERS`
    parameters and reverse mode otherwise."""
    if mode == "auto":
        return "forward" if num_parameters(params) <= FORWARD_MODE_MAX_PARAMETERS else "reverse"
    if mode not in ("reverse", "forward"):
        raise ValueError(f"gradient mode must be reverse, forward or auto, got {mode!r}")
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
        tangents = jax.vmap(lambda e: jax.jvp(lambda f: loss(unravel(f)), (flat,), (e,))[1])(basis)
        return value, unravel(tangents)

    def chosen(params):
        return (forward if resolve_mode(mode, params) == "forward" else reverse)(params)

    return chosen


def hvp(loss: Callable[[Any], jax.Array], params, vector):
    """Hessian-vector product `H(params) @ vector` by forward-over-reverse
    (`jax.jvp` of `jax.grad`): the cost of about two gradients."""
    return jax.jvp(jax.grad(loss), (params,), (vector,))[1]


def gradcheck(
    loss: Callable[[Any], jax.Array],
    params,
    *,
    mode: GradientMode = "reverse",
    directions: int = 3,
    eps: float = 1e-6,
    key=None,
) -> list[dict]:
    """Compare the directional derivative of `loss` along random unit
    directions, from the gradient of the chosen mode, with central finite
    differences `(L(p + eps v) - L(p - eps v)) / (2 eps)`. Run in float64.

    Returns one dict per direction: `ad`, `fd`, `relative_error`.
    """
    if not jax.config.jax_enable_x64:
        raise RuntimeError("gradcheck needs float64 (jax_enable_x64 / precision: float64)")
    key = jax.random.key(0) if key is None else key
    flat, unravel = ravel_pytree(params)
    _, grad = jax.jit(value_and_grad(loss, mode))(params)
    g = ravel_pytree(grad)[0]
    f = jax.jit(lambda x: loss(unravel(x)))
    rows = []
    for k in jax.random.split(key, directions):
        v = jax.random.normal(k, flat.shape, flat.dtype)
        v = v / jnp.linalg.norm(v)
        ad = float(g @ v)
        fd = float((f(flat + eps * v) - f(flat - eps * v)) / (2 * eps))
        rows.append({"ad": ad, "fd": fd, "relative_error": abs(ad - fd) / max(abs(fd), abs(ad), 1e-300)})
    return rows
