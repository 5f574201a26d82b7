"""A small course for the grader's tests: one solutions notebook, students made from it."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dlbd_lib.grading.nbio import write_notebook
from dlbd_lib.grading.release import release_notebook

NAME = "01_demo.ipynb"
MEMORY_MB = 3072

DOUBLE = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
CHECK_1 = """# CHECK 1.1 (2 points)
def _reference_double(x):
    return 2 * np.asarray(x)


with Checker("1.1", points=2) as check:
    check.close(double(np.arange(3)), _reference_double(np.arange(3)), hint="Multiply by two.")
    ### BEGIN HIDDEN TESTS
    check.close(double(np.array(5.0)), 10.0)
    ### END HIDDEN TESTS"""
TOTAL = "### BEGIN SOLUTION\ntotal = int(np.arange(10).sum())\n### END SOLUTION"
CHECK_2 = '# CHECK 1.2\nwith Checker("1.2") as check:\n    check.equal(total, 45)'
TWICE = "def apply_twice(f, x):\n    ### BEGIN SOLUTION\n    return f(f(x))\n    ### END SOLUTION"
CHECK_3 = """# CHECK 1.3
with Checker("1.3") as check:
    check.equal(apply_twice(lambda v: v + 1, 3), 5)
    ### BEGIN HIDDEN TESTS
    check.equal(apply_twice(lambda v: 2 * v, 5), 20)
    ### END HIDDEN TESTS"""


def solutions() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        new_markdown_cell("# Demo"),
        new_code_cell("import numpy as np\nfrom dlbd_lib.grading import Checker"),
        new_code_cell(DOUBLE),
        new_code_cell(CHECK_1),
        new_code_cell(TOTAL),
        new_code_cell(CHECK_2),
        new_code_cell(TWICE),
        new_code_cell(CHECK_3),
    ]
    return nb


def student(answers: dict[str, str] | None = None, *, drop: tuple[str, ...] = (),
            extra: tuple[str, ...] = (), after: dict[str, str] | None = None,
            strip: bool = False) -> nbformat.NotebookNode:
    """A released copy with some cells (found by grade_id) rewritten, dropped, followed by a
    new cell (``after``) or added at the end (``extra``); ``strip`` loses ids and metadata."""
    nb = release_notebook(solutions())
    answers, after = answers or {}, after or {}
    kept = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in drop:
            continue
        if grade_id in answers:
            cell.source = answers[grade_id]
        kept.append(cell)
        if grade_id in after:
            kept.append(new_code_cell(after[grade_id]))
    nb.cells = kept + [new_code_cell(source) for source in extra]
    if strip:
        for cell in nb.cells:
            cell.metadata = {}
            cell.pop("id", None)
        nb.nbformat_minor = 4
    return nb


RIGHT = {"answer-1-1": "def double(x):\n    return 2 * x",
         "answer-1-2": "total = 45",
         "answer-1-3": "def apply_twice(f, x):\n    return f(f(x))"}


def submit(root: Path, who: str, nb: nbformat.NotebookNode | str, name: str = NAME) -> Path:
    path = root / "submitted" / who / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, str):
        path.write_text(nb, encoding="utf-8")
    else:
        write_notebook(nb, path)
    return path


def make_course(tmp_path: Path) -> Path:
    """A course folder with solutions/ (world-readable: the grader may run as another user)."""
    tmp_path.chmod(0o755)
    (tmp_path / "solutions").mkdir()
    write_notebook(solutions(), tmp_path / "solutions" / NAME)
    return tmp_path


def by_student(document: dict) -> dict[str, dict]:
    return {entry["student"]: entry for entry in document["notebooks"]}


def exercise(entry: dict, exercise_id: str) -> dict:
    return next(ex for ex in entry["exercises"] if ex["exercise"] == exercise_id)


