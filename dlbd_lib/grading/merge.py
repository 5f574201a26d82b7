"""Build the notebook the grader runs: the student's cells with the instructor's checks put back.

A student's notebook is untrusted. Before it runs, every check cell in it is thrown away and
the check cells of the solutions notebook (hidden tests included) are inserted again, each
after the last answer cell of its exercise. Answer cells are found by their nbgrader
``grade_id`` (set at release), else by their cell id. An exercise whose answer cell is gone
is not run and scores 0 ("answer cell missing"). Each restored check imports ``Checker``
again, so a student's own ``Checker`` cannot answer for it. Outputs already in the student's
file are dropped, so nothing the student saved can pose as a result.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import nbformat
from nbformat import NotebookNode

from .markers import (
    Exercise,
    Layout,
    analyse,
    cell_source,
    ensure_cell_ids,
    hidden_regions,
    parse_check_header,
)


@dataclass
class GradingPlan:
    """The notebook to run and where, in it, the trusted check cell of each exercise sits."""

    nb: NotebookNode
    exercises: list[Exercise]
    check_cells: dict[str, int] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def source_layout(source: NotebookNode) -> tuple[list[dict[str, Any]], Layout]:
    """The solutions notebook's cells (with the ids release gives them) and its layout."""
    cells = copy.deepcopy(source.cells)
    ensure_cell_ids(cells)
    return cells, analyse(cells)


def _grade_id(cell: Mapping[str, Any]) -> str | None:
    meta = cell.get("metadata")
    nbgrader = meta.get("nbgrader") if isinstance(meta, Mapping) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, Mapping) else None
    return grade_id if isinstance(grade_id, str) else None


def _looks_like_check(cell: Mapping[str, Any], check_ids: set[str]) -> bool:
    """A check cell of any origin: known grade_id or cell id, a header, or test metadata."""
    if _grade_id(cell) in check_ids or cell.get("id") in check_ids:
        return True
    if cell.get("cell_type") != "code":
        return False
    if parse_check_header(cell_source(cell)) is not None:
        return True
    nbgrader = (cell.get("metadata") or {}).get("nbgrader")
    if isinstance(nbgrader, Mapping) and nbgrader.get("grade") and not nbgrader.get("solution"):
        return True
    try:
        return bool(hidden_regions(cell))
    except ValueError:
        return True


def _clean_cell(cell: Mapping[str, Any]) -> NotebookNode | None:
    kind = cell.get("cell_type")
    source = cell_source(cell)
    if kind == "code":
        new = nbformat.v4.new_code_cell(source=source)
    elif kind == "markdown":
        new = nbformat.v4.new_markdown_cell(source=source)
    else:
        return None  # raw cells and anything unknown never run
    cell_id = cell.get("id")
    if isinstance(cell_id, str) and cell_id:
        new["id"] = cell_id
    return new


def _trusted_check(source: str) -> str:
    """The check cell with Checker imported again, so a student's ``Checker`` cannot stand in."""
    lines = source.splitlines()
    header = next((i for i, line in enumerate(lines) if line.strip()), 0)
    # On the header's own line, so line numbers in messages match the student's copy.
    lines[header] = f"from dlbd_lib.grading import Checker  {lines[header].strip()}"
    return "\n".join(lines)


def build_grading_notebook(source: NotebookNode, student: NotebookNode) -> GradingPlan:
    """The student's notebook with its check cells replaced by the source's (hidden tests in)."""
    source_cells, layout = source_layout(source)
    check_ids = {ex.grade_id for ex in layout.exercises}
    check_ids |= {source_cells[ex.check_index]["id"] for ex in layout.exercises}

    kept: list[tuple[dict[str, Any], NotebookNode]] = []
    for cell in student.cells:
        if not isinstance(cell, Mapping) or _looks_like_check(cell, check_ids):
            continue
        clean = _clean_cell(cell)
        if clean is not None:
            kept.append((dict(cell), clean))
    by_grade_id = {gid: pos for pos, (cell, _) in enumerate(kept) if (gid := _grade_id(cell))}
    by_cell_id = {cell.get("id"): pos for pos, (cell, _) in enumerate(kept) if cell.get("id")}

    plan = GradingPlan(nbformat.v4.new_notebook(), layout.exercises)
    inserts: dict[int, list[Exercise]] = {}
    last_anchor = -1
    for ex in layout.exercises:
        positions = []
        for index in ex.answer_indices:
            grade_id = layout.roles[index].grade_id
            position = by_grade_id.get(grade_id, by_cell_id.get(source_cells[index]["id"]))
            if position is None:
                plan.missing[ex.exercise] = "answer cell missing (deleted, or its metadata lost)"
                break
            positions.append(position)
        if ex.exercise in plan.missing:
            continue
        if positions:
            anchor = max(positions)
        else:  # a check with no answer cell: after the cell that precedes it in the source
            anchor = last_anchor
            for index in range(ex.check_index - 1, -1, -1):
                if source_cells[index]["id"] in by_cell_id:
                    anchor = by_cell_id[source_cells[index]["id"]]
                    break
        inserts.setdefault(anchor, []).append(ex)
        last_anchor = anchor

    cells = plan.nb.cells
    for anchor in range(-1, len(kept)):
        if anchor >= 0:
            cells.append(kept[anchor][1])
        for ex in inserts.get(anchor, []):
            plan.check_cells[ex.exercise] = len(cells)
            check = nbformat.v4.new_code_cell(
                source=_trusted_check(cell_source(source_cells[ex.check_index])))
            check.metadata["dlbd_check"] = ex.exercise
            cells.append(check)
    plan.nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}
    return plan
