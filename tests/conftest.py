"""Test-wide JAX configuration and helpers.

Everything here runs at import time, before any test touches a JAX backend:

- float64 everywhere, so that tests can ask for round-off level agreement;
- `jax_numpy_rank_promotion="raise"`, so that an accidental broadcast of a
  `(n,)` array against an `(m, n)` one is an error, not a silent bug;
- four CPU devices, for sharding tests.

With `DIFFSIM_TEST_PLATFORM=gpu` (set by `.ci/gpu-check`) the four CPU devices
are not set up and the session refuses to start unless JAX's default backend
is the GPU, so that a GPU check cannot silently run on the CPU. Unset, nothing
changes.
"""

import gc
import os

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
_PLATFORM = os.environ.get("DIFFSIM_TEST_PLATFORM", "")
if _PLATFORM == "":
    jax.config.update("jax_num_cpu_devices", 4)
elif _PLATFORM != "gpu":
    raise RuntimeError(
        f"DIFFSIM_TEST_PLATFORM: expected 'gpu' or unset, got {_PLATFORM!r}"
    )
elif jax.default_backend() != "gpu":
    raise RuntimeError(
        "DIFFSIM_TEST_PLATFORM=gpu but JAX's default backend is "
        f"{jax.default_backend()!r} (devices {jax.devices()}): install the CUDA "
        "wheels, pip install '.[cuda]'"
    )

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def tree_allclose(x, y, *, rtol=1e-12, atol=0.0):
    """Assert that two pytrees have the same structure and allclose leaves."""
    x_leaves, x_def = jax.tree_util.tree_flatten(x)
    y_leaves, y_def = jax.tree_util.tree_flatten(y)
    assert x_def == y_def, f"tree structures differ: {x_def} vs {y_def}"
    for a, b in zip(x_leaves, y_leaves):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.fixture
def assert_tree_allclose():
    return tree_allclose


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs and traces after each test module: a
    worker that runs hundreds of modules otherwise keeps every executable it
    ever compiled, and late in a full run its memory grew until XLA's
    compiler crashed (a segfault and an abort inside
    `backend_compile_and_load` in two full runs of 2026-12-06). Compiled
    functions are still reused within a module."""
    yield
    jax.clear_caches()
    gc.collect()
