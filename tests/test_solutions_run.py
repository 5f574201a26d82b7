"""Every solutions notebook runs top to bottom in a fresh kernel, and every check passes in full.

pytest used to run solutions/ through nbval, which fails a notebook only on an error; a
check that printed "failed" went unnoticed. Here each check cell must show one verdict,
"passed", with all its points, and the notebooks run two kernels at a time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebook_runs import check_verdicts, execute_all

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.fixture(scope="module")
def executed() -> dict:
    return execute_all(SOLUTIONS)


def test_every_exercises_notebook_has_its_solutions() -> None:
    exercises = sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb"))
    assert [p.name for p in SOLUTIONS] == exercises


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solutions_notebook_runs_and_every_check_passes_in_full(path, executed):
    for _, v in check_verdicts(path, executed[path]):
        assert v["status"] == "passed" and v["points"] == v["max_points"] > 0, (
            f"{path.name} exercise {v['exercise']}: {v['status']} "
            f"({v['points']}/{v['max_points']} points): {v.get('message')}"
        )
