"""The library stays light: `import diffsim` (and its operators, steppers and
sharding) loads none of the job layer's dependencies."""

import json
import subprocess
import sys

import pytest

JOB_LAYER = [
    "pydantic",
    "yaml",
    "tqdm",
    "matplotlib",
    "submitit",
    "xarray",
    "diffsim.jobs",
]


@pytest.mark.parametrize(
    "imports",
    [
        ["diffsim"],
        ["diffsim", "diffsim.operators", "diffsim.steppers"],
        ["diffsim._optimize", "diffsim._gradients", "diffsim._distributed"],
    ],
)
def test_library_imports_no_job_layer(imports):
    script = (
        "import importlib, json, sys\n"
        f"for name in {imports!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {JOB_LAYER!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []


def test_the_job_layer_does_load_them():
    """The check above can fail: importing the job layer loads its deps."""
    script = (
        "import json, sys\n"
        "import diffsim.jobs\n"
        "print(json.dumps([m for m in ['pydantic', 'yaml', 'diffsim.jobs'] "
        "if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == ["pydantic", "yaml", "diffsim.jobs"]
