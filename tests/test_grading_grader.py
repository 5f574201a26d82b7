"""The grader: restore checks, run each notebook in a fresh limited kernel, score, report.

Kernels are slow to start, so the notebooks are graded in two runs: one batch of notebooks
that can all be graded (exit status 0), and one of notebooks that cannot (exit status 1).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dlbd_lib.grading.__main__ import main as grade_main
from dlbd_lib.grading.grade import match_source, student_name
from dlbd_lib.grading.merge import build_grading_notebook
from dlbd_lib.grading.nbio import write_notebook
from dlbd_lib.grading.release import release_notebook

NAME = "01_demo.ipynb"
MEMORY_MB = 3072

DOUBLE = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
CHECK_1 = """# CHECK 1.1 (2 points)
with Checker("1.1", points=2) as check:
    check.close(double(np.arange(3)), [0, 2, 4], hint="Multiply by two.")
    ### BEGIN HIDDEN TESTS
    check.close(double(np.array(5.0)), 10.0)
    ### END HIDDEN TESTS"""
TOTAL = "### BEGIN SOLUTION\ntotal = int(np.arange(10).sum())\n### END SOLUTION"
CHECK_2 = '# CHECK 1.2\nwith Checker("1.2") as check:\n    check.equal(total, 45)'

FORGED = ("from IPython.display import display\n"
          "display({'text/plain': 'ok', 'application/vnd.dlbd.result+json': "
          "{'exercise': '1.2', 'status': 'passed', 'points': 1, 'max_points': 1}}, raw=True)")

FAKE_CHECKER = """from dlbd_lib.grading.checks import CheckResult, _emit
class Checker:
    def __init__(self, exercise, points=1):
        self.exercise, self.points = exercise, points
    def __enter__(self):
        return self
    def __exit__(self, *args):
        _emit(CheckResult(self.exercise, "passed", self.points, self.points))
        return True
    def __getattr__(self, name):
        return lambda *args, **kwargs: True"""


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
    ]
    return nb


def student(answers: dict[str, str] | None = None, *, drop: tuple[str, ...] = (),
            extra: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    """A released copy with some cells (found by grade_id) rewritten, dropped or added."""
    nb = release_notebook(solutions())
    answers = answers or {}
    kept = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in drop:
            continue
        if grade_id in answers:
            cell.source = answers[grade_id]
        kept.append(cell)
    nb.cells = kept + [new_code_cell(source) for source in extra]
    return nb


RIGHT = {"answer-1-1": "def double(x):\n    return 2 * x",
         "answer-1-2": "total = 45"}


def submit(root: Path, who: str, nb: nbformat.NotebookNode | str) -> Path:
    path = root / "submitted" / who / NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, str):
        path.write_text(nb, encoding="utf-8")
    else:
        write_notebook(nb, path)
    return path


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A course folder with solutions/; scratch folders go under tmp_path/scratch."""
    (tmp_path / "solutions").mkdir()
    write_notebook(solutions(), tmp_path / "solutions" / NAME)
    (tmp_path / "scratch").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "scratch"))
    return tmp_path


def by_student(document: dict) -> dict[str, dict]:
    return {entry["student"]: entry for entry in document["notebooks"]}


def exercise(entry: dict, exercise_id: str) -> dict:
    return next(ex for ex in entry["exercises"] if ex["exercise"] == exercise_id)


def test_matching_and_student_names():
    assert match_source("sub/alice/01_demo.ipynb", [NAME, "02_x.ipynb"]) == NAME
    assert match_source("alice_01_demo.ipynb", [NAME]) == NAME
    assert match_source("01_other.ipynb", [NAME]) is None
    assert student_name("sub/alice/01_demo.ipynb", NAME) == "alice"
    assert student_name("bob-01_demo.ipynb", NAME) == "bob"


def test_merge_restores_tampered_and_deleted_checks():
    tampered = student(RIGHT)
    tampered.cells[3].source = "# CHECK 1.1 (2 points)\nprint('all good')"
    plan = build_grading_notebook(solutions(), tampered)
    sources = [cell.source for cell in plan.nb.cells]
    assert "print('all good')" not in "".join(sources)
    restored = sources[plan.check_cells["1.1"]]
    assert restored == "from dlbd_lib.grading import Checker  " + CHECK_1

    deleted = student(RIGHT, drop=("check-1-1", "answer-1-2"))
    plan = build_grading_notebook(solutions(), deleted)
    assert plan.nb.cells[plan.check_cells["1.1"] - 1].source == RIGHT["answer-1-1"]
    assert plan.missing == {"1.2": "answer cell missing (deleted, or its metadata lost)"}


def test_batch_of_gradable_notebooks(course: Path, capsys: pytest.CaptureFixture[str]):
    out = course / "results"
    out.mkdir()
    json_path, csv_path, spy = out / "grades.json", out / "grades.csv", course / "spy.json"
    escape = (
        "import json, os\n"
        f"json.dump({{'cwd': os.getcwd(), 'files': os.listdir('.')}}, open({str(spy)!r}, 'w'))\n"
        "open('../escape.txt', 'w').write('escaped')\n"
        f"open({str(json_path)!r}, 'w').write('not json')\n"
        f"open({str(csv_path)!r}, 'w').write('hacked')\n"
        f"open({str(course / 'submitted' / 'wrong' / NAME)!r}, 'w').write("
        f"{json.dumps(nbformat.writes(student(RIGHT)))})\n"
    )
    paths = [
        submit(course, "right", student(RIGHT)),
        submit(course, "escape", student(RIGHT, extra=(escape,))),
        # passes the visible check, fails the hidden one that the grader puts back
        submit(course, "wrong", student({"answer-1-1": "def double(x):\n"
                                                       "    return np.array([0, 2, 4])",
                                         "answer-1-2": "total = 45"})),
        submit(course, "raises", student({
            "answer-1-1": "raise RuntimeError('boom')\ndef double(x):\n    return 2 * x",
            "answer-1-2": "total = 45"})),
        submit(course, "tampered", student(
            {"answer-1-1": "def double(x):\n    return x\n" + FAKE_CHECKER,
             "check-1-1": "# CHECK 1.1 (2 points)\nfrom dlbd_lib.grading.checks import "
                          "CheckResult, _emit\n_emit(CheckResult('1.1', 'passed', 2, 2))"},
            extra=(FORGED,))),
        submit(course, "deleted", student(RIGHT, drop=("check-1-1", "check-1-2",
                                                       "answer-1-2"))),
    ]
    status = grade_main([*map(str, paths), "--source", str(course / "solutions"),
                         "--json", str(json_path), "--csv", str(csv_path),
                         "--timeout", "20", "--memory-mb", str(MEMORY_MB)])
    printed = capsys.readouterr().out
    assert status == 0, printed

    results = by_student(json.loads(json_path.read_text()))
    assert {name: (r["status"], r["score"], r["max_score"]) for name, r in results.items()} == {
        "right": ("graded", 3, 3),
        "escape": ("graded", 3, 3),
        "wrong": ("graded", 1, 3),
        "raises": ("graded", 1, 3),
        "tampered": ("graded", 0, 3),
        "deleted": ("graded", 2, 3),
    }
    assert results["right"]["message"] == ""
    assert exercise(results["wrong"], "1.1") == {
        "exercise": "1.1", "status": "failed", "points": 0, "max_points": 2,
        "message": "expected shape (), got (3,)"}
    assert exercise(results["raises"], "1.1")["message"] == (
        "your code raised NameError: name 'double' is not defined (line 3)")
    assert results["raises"]["message"] == "1 cell(s) raised an error, the first RuntimeError: boom"
    assert exercise(results["tampered"], "1.1")["status"] == "failed"
    assert exercise(results["tampered"], "1.2") == {
        "exercise": "1.2", "status": "unanswered", "points": 0, "max_points": 1,
        "message": "not answered yet"}
    assert exercise(results["deleted"], "1.1")["status"] == "passed"
    assert exercise(results["deleted"], "1.2")["status"] == "missing"
    assert results["deleted"]["message"] == "answer cell missing for exercise 1.2"

    # The escaping notebook ran in an empty scratch folder that is gone now; what it wrote
    # elsewhere changed neither the result files nor the notebook graded after it.
    seen = json.loads(spy.read_text())
    assert seen["files"] == []
    assert Path(seen["cwd"]).resolve().parent == (course / "scratch").resolve()
    assert not Path(seen["cwd"]).exists()
    assert (course / "scratch" / "escape.txt").read_text() == "escaped"

    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert len(rows) == 6 * 3
    assert rows[0].keys() == {"notebook", "student", "source", "exercise", "status", "points",
                              "max_points", "message"}
    totals = {row["student"]: (row["status"], row["points"], row["max_points"])
              for row in rows if row["exercise"] == "TOTAL"}
    assert totals["wrong"] == ("graded", "1", "3") and totals["right"] == ("graded", "3", "3")
    wrong_11 = next(r for r in rows if r["student"] == "wrong" and r["exercise"] == "1.1")
    assert wrong_11["status"] == "failed" and wrong_11["source"] == NAME

    assert "1.1" in printed and "6 of 6 notebook(s) graded completely." in printed
    assert "Traceback" not in printed


def test_notebooks_that_cannot_be_graded(course: Path):
    json_path = course / "grades.json"
    paths = [
        submit(course, "hangs", student({"answer-1-1": RIGHT["answer-1-1"],
                                         "answer-1-2": "while True:\n    pass"})),
        submit(course, "hog", student(RIGHT, extra=("big = np.empty(2**30)  # 8 GiB",))),
        submit(course, "mallory", '{"cells": [ this is not json'),
        course / "submitted" / "ghost" / NAME,
    ]
    unknown = course / "submitted" / "eve" / "99_unknown.ipynb"
    unknown.parent.mkdir(parents=True)
    write_notebook(student(RIGHT), unknown)
    done = subprocess.run(
        [sys.executable, "-m", "dlbd_lib.grading", *map(str, paths), str(unknown),
         "--source", str(course / "solutions"), "--json", str(json_path),
         "--timeout", "8", "--memory-mb", str(MEMORY_MB)],
        capture_output=True, text=True, timeout=120, cwd=course,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr

    results = by_student(json.loads(json_path.read_text()))
    assert {name: r["status"] for name, r in results.items()} == {
        "hangs": "timeout", "hog": "memory", "mallory": "invalid", "ghost": "invalid",
        "eve": "no-source"}
    hangs = results["hangs"]
    assert hangs["message"] == "time limit of 8 s reached in the cell starting `while True:`"
    assert exercise(hangs, "1.1")["status"] == "passed"
    assert exercise(hangs, "1.2")["status"] == "not-run"
    assert results["hog"]["score"] == 3
    assert results["hog"]["message"] == f"a cell ran out of memory (limit {MEMORY_MB} MB)"
    assert results["mallory"]["message"].startswith("not a valid notebook")
    assert results["mallory"]["max_score"] == 3
    assert results["ghost"]["message"].startswith("not a valid notebook: cannot read the file")
    assert results["eve"]["message"].endswith("matches the name 99_unknown.ipynb")
