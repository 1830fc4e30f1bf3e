"""The import graph check of `.ci/imports`: no cycle, the library apart from
the job layer, no private names or private modules imported across packages."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_graph_is_clean():
    result = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "imports"), "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.splitlines()[-1]
    assert "cycles=0 findings=0" in summary, summary


def test_import_graph_reports_a_private_import(tmp_path):
    """The checker finds what it is for: a test importing from a private
    module, and a cycle."""
    for folder in ("diffsim", "operators", "scenarios", "tests", "benchmarks"):
        (tmp_path / folder).mkdir()
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "imports").write_text((ROOT / ".ci" / "imports").read_text())
    (tmp_path / "diffsim" / "__init__.py").write_text("from ._a import f\n")
    (tmp_path / "diffsim" / "_a.py").write_text("from ._b import g\ndef f(): ...\n")
    (tmp_path / "diffsim" / "_b.py").write_text(
        "def g():\n    from ._a import f\n    import tqdm\n"
    )
    (tmp_path / "tests" / "test_x.py").write_text("from diffsim._a import f\n")
    result = subprocess.run(
        [sys.executable, str(tmp_path / ".ci" / "imports"), "--quiet"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "diffsim/_b.py:3: library imports tqdm: import tqdm",
        "tests/test_x.py:1: private module of diffsim: from diffsim._a import f"
        " (import a public name: diffsim, or an internal namespace)",
        "cycle: diffsim._a -> diffsim._b -> diffsim._a",
        "modules=3 tests+benchmarks=1 edges=3 cycles=1 findings=3",
    ]
