"""Markers, tagging and the release of exercises/ from solutions/."""

from __future__ import annotations

import ast
import contextlib
import io
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dlbd_lib.grading.markers import MarkerError, analyse, parse_check_header
from dlbd_lib.grading.nbio import read_notebook, write_notebook
from dlbd_lib.grading.release import ReleaseError, check_release, release_all, release_notebook
from dlbd_lib.grading.release import main as release_main
from dlbd_lib.grading.tag import main as tag_main
from dlbd_lib.grading.tag import tag_notebook

REPO = Path(__file__).resolve().parents[1]

AFFINE = '''def affine(X, W, b):
    """Return X @ W + b.

    X: (N, D), W: (D, M), b: (M,)
    """
    ### BEGIN SOLUTION
    out = X @ W
    return out + b
    ### END SOLUTION'''

CHECK_1 = '''# CHECK 1.1 (2 points)
with Checker("1.1", points=2) as check:
    check.close(affine(X, W, b), X @ W + b, hint="Multiply, then add b.")
    ### BEGIN HIDDEN TESTS
    check.close(affine(2 * X, W, b), 2 * X @ W + b)
    ### END HIDDEN TESTS'''

MODULE_LEVEL = '''### BEGIN SOLUTION
total = int(np.arange(10).sum())
mean, (lo, hi) = 4.5, (0, 9)
for i in range(3):
    last = i
def helper(x: int, y=2) -> int:
    """Help."""
    return x + y
### END SOLUTION'''

CHECK_2 = '''# CHECK 1.2
with Checker("1.2") as check:
    check.equal(total, 45)
    check.equal(helper(1), 3)'''

ONLY_HIDDEN = '''# CHECK 1.3 (0.5 points)
with Checker("1.3", points=0.5) as check:
    ### BEGIN HIDDEN TESTS
    check.true(flag, "flag must be set")
    ### END HIDDEN TESTS'''


def solutions_notebook() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                  "language": "python"},
                   "widgets": {"noise": 1}, "toc": {"noise": 2}}
    setup = new_code_cell("import numpy as np\nfrom dlbd_lib.grading import Checker\n"
                          "X, W, b = np.ones((3, 2)), np.ones((2, 4)), np.zeros(4)")
    setup.outputs = [nbformat.v4.new_output("stream", text="noise\n")]
    setup.execution_count = 7
    setup.metadata = {"ExecuteTime": {"start": "2024"}, "collapsed": True, "tags": ["setup"]}
    nb.cells = [
        new_markdown_cell("# Demo\nAnswers go between `### BEGIN SOLUTION` markers."),
        setup,
        new_code_cell(AFFINE),
        new_code_cell(CHECK_1),
        new_code_cell(MODULE_LEVEL),
        new_code_cell(CHECK_2),
        new_code_cell("if True:\n    ### BEGIN SOLUTION\n    flag = True\n    ### END SOLUTION"),
        new_code_cell(ONLY_HIDDEN),
        new_markdown_cell("Why?\n<!-- BEGIN SOLUTION -->\nBecause **reasons**.\n"
                          "<!-- END SOLUTION -->\nThe end."),
    ]
    return nb


def released_sources() -> list[str]:
    return [cell.source for cell in release_notebook(solutions_notebook()).cells]


def test_check_header_forms():
    assert parse_check_header("# CHECK 1.2 (2 points)\nx").points == 2
    assert parse_check_header("\n#CHECK 3a 0.5\n").exercise == "3a"
    assert parse_check_header("# CHECK 1.2").points == 1
    assert parse_check_header("# CHECK that the loss goes down") is None
    assert parse_check_header("# check 1.2") is None
    assert parse_check_header("x = 1\n# CHECK 1.2") is None


def test_function_answer_becomes_raise_not_implemented_with_docstring():
    source = released_sources()[2]
    assert "out = X @ W" not in source and "BEGIN SOLUTION" not in source
    assert source.endswith(
        '    # YOUR CODE HERE\n    raise NotImplementedError("Exercise 1.1: your code here")')
    assert '    """Return X @ W + b.\n\n    X: (N, D), W: (D, M), b: (M,)\n    """' in source


def test_module_level_answer_becomes_ellipsis_for_each_assigned_name():
    source = released_sources()[4]
    assert source.splitlines() == [
        "# YOUR CODE HERE",
        "def helper(x: int, y=2) -> int:",
        '    """Help."""',
        "    # YOUR CODE HERE",
        '    raise NotImplementedError("Exercise 1.2: your code here")',
        "total = ...",
        "mean = ...",
        "lo = ...",
        "hi = ...",
        "last = ...",
    ]


def test_nested_module_level_answer_stays_valid_python():
    assert released_sources()[6] == "if True:\n    # YOUR CODE HERE\n    flag = ..."


def test_hidden_tests_removed_and_block_kept_valid():
    sources = released_sources()
    assert "2 * X" not in sources[3] and "HIDDEN" not in sources[3]
    assert sources[3].endswith('add b.")\n    # (hidden tests run at grading time)')
    assert sources[7].endswith("    # (hidden tests run at grading time)\n    pass")
    for source in sources[1:8]:
        ast.parse(source)


def test_written_answer_replaced():
    assert released_sources()[8] == "Why?\nYOUR ANSWER HERE\nThe end."


def test_prose_mentioning_a_marker_is_left_alone():
    assert released_sources()[0] == "# Demo\nAnswers go between `### BEGIN SOLUTION` markers."


def test_outputs_stripped_metadata_clean_and_nbgrader_set():
    nb = release_notebook(solutions_notebook())
    assert nb.metadata == {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                          "language": "python"}}
    setup = nb.cells[1]
    assert setup.outputs == [] and setup.execution_count is None
    assert setup.metadata == {"tags": ["setup"]}
    assert nb.cells[2].metadata["nbgrader"]["grade_id"] == "answer-1-1"
    assert nb.cells[3].metadata == {
        "deletable": False, "editable": False,
        "nbgrader": {"grade": True, "grade_id": "check-1-1", "locked": True, "points": 2,
                     "schema_version": 3, "solution": False, "task": False},
    }
    nbformat.validate(nb)


def test_released_notebook_runs_top_to_bottom_and_says_not_answered():
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for cell in release_notebook(solutions_notebook()).cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, "<cell>", "exec"), namespace)
    verdicts = [line for line in printed.getvalue().splitlines() if "Exercise" in line]
    assert verdicts == ["… Exercise 1.1: not answered yet (0/2 points)",
                        "… Exercise 1.2: not answered yet (0/1 points)",
                        "○ Exercise 1.3: checked at grading time (0.5 points)"]


def test_release_is_deterministic_and_keeps_cell_ids(tmp_path):
    source, dest = tmp_path / "solutions", tmp_path / "exercises"
    source.mkdir()
    nb = solutions_notebook()
    write_notebook(nb, source / "01_demo.ipynb")
    assert release_all(source, dest) == [dest / "01_demo.ipynb"]
    first = (dest / "01_demo.ipynb").read_bytes()
    assert release_all(source, dest) == []
    assert (dest / "01_demo.ipynb").read_bytes() == first
    assert first.endswith(b"}\n") and first.startswith(b'{\n "cells": [\n  {\n')
    assert [c["id"] for c in json.loads(first)["cells"]] == [c.id for c in nb.cells]


def test_missing_cell_ids_get_deterministic_ones():
    nb = solutions_notebook()
    nb.nbformat_minor = 4
    for cell in nb.cells:
        del cell["id"]
    first, second = release_notebook(nb), release_notebook(nb)
    assert [c.id for c in first.cells] == [f"cell-{i}" for i in range(len(nb.cells))]
    assert nbformat.writes(first) == nbformat.writes(second)


def test_check_release_finds_stale_missing_and_extra(tmp_path, capsys):
    source, dest = tmp_path / "solutions", tmp_path / "exercises"
    source.mkdir()
    write_notebook(solutions_notebook(), source / "01_demo.ipynb")
    write_notebook(solutions_notebook(), source / "02_more.ipynb")
    release_all(source, dest)
    assert check_release(source, dest) == []
    assert release_main(["--source", str(source), "--dest", str(dest), "--check"]) == 0

    changed = solutions_notebook()
    changed.cells[0].source = "# Demo, edited"
    write_notebook(changed, source / "01_demo.ipynb")
    (dest / "02_more.ipynb").unlink()
    write_notebook(solutions_notebook(), dest / "99_old.ipynb")
    assert check_release(source, dest) == [
        f"{dest / '01_demo.ipynb'} is out of date",
        f"{dest / '02_more.ipynb'} is missing",
        f"{dest / '99_old.ipynb'} has no source {source / '99_old.ipynb'}",
    ]
    capsys.readouterr()
    assert release_main(["--source", str(source), "--dest", str(dest), "--check"]) == 1
    err = capsys.readouterr().err
    assert "01_demo.ipynb is out of date" in err and "99_old.ipynb has no source" in err

    assert release_main(["--source", str(source), "--dest", str(dest)]) == 0
    assert check_release(source, dest) == []
    assert not (dest / "99_old.ipynb").exists()


def test_bad_markers_are_reported_with_the_cell(tmp_path):
    nb = solutions_notebook()
    nb.cells[2].source = "### BEGIN SOLUTION\nx = 1"
    with pytest.raises(ReleaseError, match="cell 2: line 1: '### BEGIN SOLUTION' is never closed"):
        release_notebook(nb)
    source = tmp_path / "solutions"
    source.mkdir()
    write_notebook(nb, source / "01_demo.ipynb")
    with pytest.raises(ReleaseError, match="01_demo.ipynb: cell 2"):
        release_all(source, tmp_path / "exercises")
    assert not (tmp_path / "exercises").exists()


@pytest.mark.parametrize(("index", "source", "message"), [
    (5, '# CHECK 1.2 (3 points)\nwith Checker("1.2") as check:\n    pass',
     "header says exercise 1.2 (3 points) but the cell calls Checker('1.2', points=1)"),
    (5, '# CHECK 1.1\nwith Checker("1.1") as check:\n    pass', "exercise 1.1 already has"),
    (1, "### BEGIN HIDDEN TESTS\nx = 1\n### END HIDDEN TESTS", "hidden tests belong in a check"),
    (5, '# CHECK 1.2\nwith Checker("1.2") as a:\n    pass\nwith Checker("1.2") as b:\n    pass',
     "a check cell must use one Checker"),
    (5, '# CHECK 1.2\ncheck = Checker("1.2")\ncheck.equal(total, 45)', "use `with Checker"),
])
def test_inconsistent_markers(index, source, message):
    nb = solutions_notebook()
    nb.cells[index].source = source
    with pytest.raises(MarkerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        analyse(nb.cells)


def test_layout_pairs_answers_with_the_check_below():
    layout = analyse(solutions_notebook().cells)
    assert [(ex.exercise, ex.points, ex.check_index, ex.answer_indices)
            for ex in layout.exercises] == [("1.1", 2, 3, [2]), ("1.2", 1, 5, [4]),
                                            ("1.3", 0.5, 7, [6])]


def test_tag_sets_nbgrader_metadata_and_leaves_other_cells(tmp_path, capsys):
    nb = solutions_notebook()
    tagged = tag_notebook(nb)
    meta = [cell.metadata.get("nbgrader") for cell in tagged.cells]
    assert meta[2] == {"grade": False, "grade_id": "answer-1-1", "locked": False,
                       "schema_version": 3, "solution": True, "task": False}
    assert meta[7] == {"grade": True, "grade_id": "check-1-3", "locked": True, "points": 0.5,
                       "schema_version": 3, "solution": False, "task": False}
    assert meta[8]["solution"] and meta[8]["grade"] and meta[8]["points"] == 0
    assert meta[0] is None and tagged.cells[1].metadata == nb.cells[1].metadata
    assert [c.source for c in tagged.cells] == [c.source for c in nb.cells]

    path = tmp_path / "01_demo.ipynb"
    write_notebook(nb, path)
    assert tag_main([str(path), "--check"]) == 1
    assert tag_main([str(path)]) == 0
    once = path.read_bytes()
    assert tag_main([str(path)]) == 0 and path.read_bytes() == once
    assert tag_main([str(path), "--check"]) == 0
    assert read_notebook(path).cells[3].metadata["nbgrader"]["grade_id"] == "check-1-1"
    assert "01_demo.ipynb: unchanged (3 exercises, 3 answer cells)" in capsys.readouterr().out


def test_release_needs_no_prior_tagging():
    nb = solutions_notebook()
    assert nbformat.writes(release_notebook(nb)) == nbformat.writes(
        release_notebook(tag_notebook(nb)))


def test_release_of_a_real_folder_layout(tmp_path):
    """The default folder names work from the repository root."""
    (tmp_path / "solutions").mkdir()
    write_notebook(solutions_notebook(), tmp_path / "solutions" / "01_demo.ipynb")
    with contextlib.chdir(tmp_path):
        assert release_main([]) == 0
        assert release_main(["--check"]) == 0
    assert Path(tmp_path / "exercises" / "01_demo.ipynb").exists()


def test_repository_exercises_match_solutions():
    """exercises/ is generated from solutions/: they must not drift apart."""
    problems = check_release(REPO / "solutions", REPO / "exercises")
    assert problems == [], "\n".join([*problems, "run: python -m dlbd_lib.grading.release"])
