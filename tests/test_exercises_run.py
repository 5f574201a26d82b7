"""Every student notebook in exercises/ runs top to bottom, and every check says "not answered yet".

This is what a student sees before answering anything: no traceback wall, no stop.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebook_runs import check_verdicts, execute_all

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


@pytest.fixture(scope="module")
def executed() -> dict:
    return execute_all(EXERCISES)


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_unanswered_exercise_runs_and_says_not_answered_yet(path, executed):
    for cell, v in check_verdicts(path, executed[path]):
        assert v["status"] in ("unanswered", "unchecked"), (
            f"{path.name} exercise {v['exercise']}: expected 'not answered yet', got "
            f"{v['status']}: {v.get('message')}"
        )
        assert v["points"] == 0
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        assert "Traceback" not in text
