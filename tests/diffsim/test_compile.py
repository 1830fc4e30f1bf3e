"""The compiler options diffsim's jobs compile with."""

import jax
import jax.numpy as jnp
import numpy as np

import diffsim as ds


def test_cpu_jobs_compile_at_o2_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert ds.compiler_options() == {"xla_backend_optimization_level": "2"}
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3")
    assert ds.compiler_options() is None


def test_options_compile_and_agree_with_the_default():
    f = jax.jit(lambda x: jnp.sum(jnp.sin(x) * jnp.exp(-x)))
    x = jnp.linspace(0.0, 3.0, 101)
    a = ds.compile_ahead(f, x)(x)
    b = f.lower(x).compile()(x)
    np.testing.assert_allclose(a, b, rtol=1e-12)
