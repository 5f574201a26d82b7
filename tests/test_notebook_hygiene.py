"""Every notebook is valid, stored without outputs, numbered, and asserts what it claims."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("notebooks", "solutions", "exercises")
NOTEBOOKS = sorted(p for f in FOLDERS for p in (ROOT / f).glob("*.ipynb"))
NAME = re.compile(r"^\d\d[a-z]?_[a-z0-9]+(_[a-z0-9]+)*\.ipynb$")  # 09b sits after 09
ALLOWED_NOTEBOOK_METADATA = {"kernelspec", "language_info"}


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.name}"


def test_there_are_notebooks():
    assert any(p.parent.name == "notebooks" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_is_valid_nbformat(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {i} has outputs: run nbstripout"
            assert cell.get("execution_count") is None, f"cell {i} has an execution count"
    extra = set(nb.get("metadata", {})) - ALLOWED_NOTEBOOK_METADATA
    assert not extra, f"notebook metadata should be clean, found {sorted(extra)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_uses_the_python3_kernel(path):
    nb = nbformat.read(path, as_version=4)
    spec = nb.metadata.get("kernelspec", {})
    assert spec.get("name") == "python3", f"kernelspec is {spec}"
    assert spec.get("language") == "python"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_name_is_numbered(path):
    assert NAME.match(path.name), f"{path.name} does not follow NN_topic.ipynb (or NNb_topic)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_asserts_its_results(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert re.search(r"^\s*assert\b", code, re.M), \
        f"{path.name} has no assert: a notebook is a test only through its asserts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_does_not_hard_code_cuda(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    # torch.device("cuda"), .to("cuda"), device="cuda:0", .cuda(): a device chosen by hand
    hard = re.search(r"""(device\(|\.to\(|device\s*=\s*)\s*["']cuda(:\d+)?["']|\.cuda\(\)""",
                     code)
    assert not hard, f"{path.name} hard-codes cuda ({hard.group(0)!r}); use pick_device()"


def test_exercise_and_solution_sets_match():
    sols = {p.name for p in (ROOT / "solutions").glob("*.ipynb")}
    exs = {p.name for p in (ROOT / "exercises").glob("*.ipynb")}
    assert sols == exs


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parent.name == "notebooks"], ids=_id)
def test_course_notebook_picks_its_device_with_the_shared_helper(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    if re.search(r"^\s*import torch\b", code, re.M):
        assert "pick_device(" in code, \
            f"{path.name} uses torch without dlbd_lib.device.pick_device()"


def _nbmeta():
    spec = importlib.util.spec_from_file_location("nbmeta", ROOT / "tools" / "nbmeta.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_metadata_is_what_jupyterlab_writes(path):
    """Opening a notebook in JupyterLab must not change it (and so not conflict on git pull)."""
    meta = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    version = meta.get("language_info", {}).get("version", "")
    wanted = _nbmeta().canonical_metadata(version or None)
    assert re.fullmatch(r"3\.\d+\.\d+", version) and meta == wanted, (
        f"{_id(path)} metadata is {meta}, JupyterLab writes {wanted}: "
        "run python tools/nbmeta.py")


def test_every_notebook_stores_the_same_python_version():
    versions = {}
    for path in NOTEBOOKS:
        info = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("language_info", {})
        versions.setdefault(info.get("version"), []).append(_id(path))
    assert len(versions) == 1, f"notebooks disagree on language_info.version: {versions}; " \
        "run python tools/nbmeta.py"
