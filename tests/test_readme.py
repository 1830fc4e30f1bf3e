"""The README's Python example runs as written and does what it says."""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np


def test_readme_python_example_runs(capsys):
    text = Path("README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert capsys.readouterr().out.startswith("nu = 0.0500")
    result, loss = namespace["result"], namespace["loss"]
    np.testing.assert_allclose(jnp.exp(result.params["log_nu"]), 0.05, rtol=1e-4)
    assert result.loss_final < 1e-8 * result.loss_initial
    # the gradient the optimizer used matches central finite differences
    p = {"log_nu": jnp.log(0.1)}
    g = jax.grad(loss)(p)["log_nu"]
    eps = 1e-5
    fd = (loss({"log_nu": p["log_nu"] + eps}) - loss({"log_nu": p["log_nu"] - eps})) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-6)
