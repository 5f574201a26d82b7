"""nbgrader itself (from PyPI) takes a solutions notebook as its source: it releases it and
autogrades a submission, agreeing with our grader on which exercises pass."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import nbformat
import pytest
from grading_demo import RIGHT, solutions

from dlbd_lib.grading.nbio import write_notebook
from dlbd_lib.grading.tag import tag_notebook

nbgrader_apps = pytest.importorskip("nbgrader.apps", reason="nbgrader is in requirements.txt")


def test_nbgrader_releases_and_autogrades_a_solutions_notebook(tmp_path: Path, monkeypatch):
    from nbgrader.api import Gradebook
    from traitlets.config import Config

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DLBD_STRICT_CHECKS", raising=False)
    write_notebook(tag_notebook(solutions()), tmp_path / "source" / "ps1" / "01_demo.ipynb")
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    config.CourseDirectory.db_assignments = [{"name": "ps1"}]
    config.CourseDirectory.db_students = [{"id": "alice"}]
    config.Execute.timeout = 60
    api = nbgrader_apps.NbGraderAPI(config=config)

    released = api.generate_assignment("ps1", force=True)
    assert released["success"], released.get("log")
    nb = nbformat.read(tmp_path / "release" / "ps1" / "01_demo.ipynb", as_version=4)
    text = "".join(cell.source for cell in nb.cells)
    assert "return 2 * x" not in text and "BEGIN HIDDEN TESTS" not in text

    # alice answers 1.1 and 1.3 right and 1.2 wrong; nbgrader runs the hidden tests too
    answers = {**RIGHT, "answer-1-2": "total = 44"}
    submission = copy.deepcopy(nb)
    for cell in submission.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    path = tmp_path / "submitted" / "alice" / "ps1" / "01_demo.ipynb"
    os.makedirs(path.parent)
    nbformat.write(submission, path)
    graded = api.autograde("ps1", "alice", force=True)
    assert graded["success"], graded.get("log")

    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        scores = {grade.name: grade.score for grade in
                  gradebook.find_submission_notebook("01_demo", "ps1", "alice").grades}
    assert scores == {"check-1-1": 2.0, "check-1-2": 0.0, "check-1-3": 1.0}
