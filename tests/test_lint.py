"""The code is ruff clean, the notebooks' code cells too (the configuration, with the rules
notebooks relax, is in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists() and not shutil.which("ruff"):
        pytest.skip("ruff is not installed")
    out = subprocess.run([ruff, "check", "dlbd_lib", "tests", "benchmarks", "tools",
                          "conftest.py", "notebooks", "solutions", "exercises"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
