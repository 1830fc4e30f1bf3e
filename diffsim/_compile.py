"""Ahead-of-time compilation of the programs diffsim's jobs run, with the
compiler options they share."""

from __future__ import annotations

import os

import equinox as eqx
import jax

_LEVEL = "xla_backend_optimization_level"


def compiler_options() -> dict[str, str] | None:
    """Options for `jax.jit(...).lower(...).compile(...)` in diffsim's jobs.

    On CPU: LLVM at `-O2` instead of XLA:CPU's default `-O3`. Measured on one
    thread of an AMD EPYC (2D WENO5-Z Euler, float64, 2026-11-22): a
    checkpointed rollout's gradient runs 15-20 % faster (128^2 x 50 steps:
    2.8 s vs 3.5 s; 256^2 x 20 steps: 4.5 s vs 5.3 s), forward rollouts and
    compile times are unchanged. `-O3`'s aggressive unrolling of the reverse
    pass's hundreds of small elementwise loops costs more than it gains.
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
