"""Ahead-of-time compilation of the programs diffsim's jobs run, with the
compiler options they share."""

from __future__ import annotations

import os

import equinox as eqx
import jax

_LEVEL = "xla_backend_optimization_level"


def compiler_options() -> dict[str, str] | None:
    """Options for `jax.jit(...).lower(...).compile(...)` in diffsim's jobs.

    On CPU: LLVM at `-O2` instead of XLA:CPU's default `-O3`. A checkpointed
    finite-volume rollout's gradient runs faster, while forward rollouts and
    compile times are unchanged (figures in docs/benchmarks.md): `-O3`'s
    aggressive unrolling of the reverse pass's hundreds of small elementwise
    loops costs more than it gains.
    None (XLA's defaults) on other backends, or when `XLA_FLAGS` already sets
    the level (the user's choice wins).
    """
    if jax.default_backend() != "cpu" or _LEVEL in os.environ.get("XLA_FLAGS", ""):
        return None
    return {_LEVEL: "2"}


def compile_ahead(fn, *args):
    """`fn` traced, lowered and compiled for `args` (`eqx.filter_jit`
    semantics: non-array leaves are static) with `compiler_options()`: the
    one place a job compiles, so every job gets the same options."""
    return eqx.filter_jit(fn).lower(*args).compile(compiler_options())
