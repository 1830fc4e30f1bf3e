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
    fd = (loss({"log_nu": p["log_nu"] + eps}) - loss({"log_nu": p["log_nu"] - eps})) / (
        2 * eps
    )
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def _block(marker: str) -> str:
    """The README's python block that contains `marker`."""
    blocks = [
        b
        for b in re.findall(
            r"```python\n(.*?)```", Path("README.md").read_text(), flags=re.S
        )
        if marker in b
    ]
    assert len(blocks) == 1, (
        f"expected one README python block with {marker!r}, found {len(blocks)}"
    )
    return blocks[0]


def test_readme_sod_sensitivity_matches_finite_differences_and_the_exact_solution(
    capsys,
):
    namespace = {}
    exec(compile(_block("solve_riemann"), "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert (
        out
        == "probe density 0.2655 (exact 0.2656), d/dp_left 0.128516 (finite difference "
        "0.128516)\n"
    )
    np.testing.assert_allclose(
        namespace["drho_dp"], namespace["fd"], rtol=1e-7
    )  # measured 5e-10
    np.testing.assert_allclose(
        namespace["rho"], namespace["rho_exact"], rtol=1e-3
    )  # 100 cells


def test_readme_helmholtz_receiver_gradient_matches_finite_differences(capsys):
    namespace = {}
    exec(compile(_block("solve_helmholtz"), "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert (
        out == "|p(receiver)| = 0.029894, d|p|/dc_disc = -1.42250e-05 per m/s (finite "
        "difference -1.42250e-05)\n"
    )
    dadc, disc, fd = namespace["dadc"], namespace["disc"], namespace["fd"]
    assert dadc.shape == (96, 96)
    # the default solver (rtol 1e-6) gives the gradient to ~1e-6 (measured 1e-6); the
    # finite difference of tight solves is the reference
    np.testing.assert_allclose(jnp.sum(jnp.where(disc, dadc, 0.0)), fd, rtol=1e-5)


def test_readme_write_your_own_pde_runs_on_three_discretizations(capsys):
    """The "Write your own PDE" block: one physics class on Fourier,
    finite differences (order 8) and WENO5-Z finite volumes agrees to the
    stated tolerances, the walled run relaxes to u = 1, and it prints what
    the README says it prints."""
    namespace = {}
    exec(compile(_block("class BurgersFisher"), "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    text = Path("README.md").read_text()
    printed = text.split("class BurgersFisher", 1)[1].split("This prints\n\n```\n", 1)
    assert out == printed[1].split("```", 1)[0]
    final, u = namespace["final"], namespace["u"]
    fourier = final["fourier"]
    # measured 7.2e-10 (order 8) and 4.1e-5 (cell averages vs point values)
    assert float(jnp.max(jnp.abs(final["finite_difference"] - fourier))) < 1e-8
    assert float(jnp.max(jnp.abs(final["finite_volume"] - fourier))) < 1e-4
    assert float(jnp.max(jnp.abs(u - 1.0))) < 1e-7  # measured 1.8e-9
    assert type(namespace["op"]).__name__ == "FiniteVolumePDE"
