"""The README's Python example runs as written and its gradient is right."""

import re
from pathlib import Path

import numpy as np


def test_readme_python_example_runs():
    text = Path("README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    g_nu, loss, u0 = namespace["g_nu"], namespace["loss"], namespace["u0"]
    eps = 1e-5
    fd = (loss(u0, 0.05 + eps) - loss(u0, 0.05 - eps)) / (2 * eps)
    np.testing.assert_allclose(g_nu, fd, rtol=1e-6)
    assert float(g_nu) < 0  # more viscosity, less energy left
