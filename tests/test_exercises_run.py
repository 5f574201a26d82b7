"""Every student notebook in exercises/ runs top to bottom, and every check says "not answered yet".

This is what a student sees before answering anything: no traceback wall, no stop.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from dlbd_lib.grading import RESULT_MIMETYPE

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


def _is_check_cell(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith("# CHECK")


def _execute(path: Path):
    """The notebook run top to bottom in a fresh kernel, or the exception that stopped it."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()  # raises CellExecutionError if any cell raises
    except Exception as err:  # reported by the notebook's own test below
        return err
    return nb


@pytest.fixture(scope="module")
def executed():
    """Every exercises notebook run once, two kernels at a time: a kernel spends most of
    its few seconds importing, on one core, so two side by side halve the wall time."""
    workers = max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                         else os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(EXERCISES, pool.map(_execute, EXERCISES)))


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_unanswered_exercise_runs_and_says_not_answered_yet(path, executed):
    nb = executed[path]
    if isinstance(nb, Exception):
        raise nb
    checks = [c for c in nb.cells if _is_check_cell(c)]
    assert len(checks) >= 3, f"{path.name} has {len(checks)} graded exercises, expected 3+"
    for cell in checks:
        verdicts = [o["data"][RESULT_MIMETYPE] for o in cell.outputs
                    if o.get("output_type") == "display_data" and RESULT_MIMETYPE in o["data"]]
        assert len(verdicts) == 1, f"check cell {cell.source.splitlines()[0]!r}: {verdicts}"
        v = verdicts[0]
        assert v["status"] in ("unanswered", "unchecked"), (
            f"{path.name} exercise {v['exercise']}: expected 'not answered yet', got "
            f"{v['status']}: {v.get('message')}"
        )
        assert v["points"] == 0
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        assert "Traceback" not in text
