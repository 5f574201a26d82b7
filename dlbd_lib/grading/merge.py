"""Plan a grading run: which cells the student's kernel runs, which the judge runs.

The student's kernel runs the student's code cells in order, without the check cells (found
by nbgrader ``grade_id``, cell id, ``# CHECK`` header, test metadata or hidden-test markers:
leaving one in would only give the student's own kernel something to print). The judge runs
the solutions notebook's own cells: its setup cells and its check cells, hidden tests
included; at each answer cell it takes the names that cell defines from the student.

Answer cells are looked up only to report on them: by ``grade_id``, else cell id, else by
content (a student cell that defines the same names), which earns a warning, not a zero.
"""

from __future__ import annotations

import ast
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
    parse_python,
    python_source,
)


@dataclass
class GradingPlan:
    """The student's cells to run, the trusted cells to judge with, and what was noticed."""

    exercises: list[Exercise]
    student_cells: list[tuple[int, str]] = field(default_factory=list)
    trusted: list[dict[str, Any]] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


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


def defined_names(source: str) -> list[str]:
    """The names a cell binds at module level: functions, classes, assignments, imports
    (also inside module-level ``if``/``for``/``with``/``try`` blocks, not inside functions)."""
    try:
        tree = parse_python(python_source(source) or "")
    except SyntaxError:
        return []
    names: list[str] = []

    def add(target: ast.AST) -> None:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name) and sub.id not in names:
                names.append(sub.id)

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if node.name not in names:
                    names.append(node.name)
                continue
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    add(target)
            elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor):
                add(node.target)
            elif isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    if item.optional_vars is not None:
                        add(item.optional_vars)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    name = (alias.asname or alias.name).split(".")[0]
                    if alias.name != "*" and name not in names:
                        names.append(name)
            for part in ("body", "orelse", "finalbody"):
                visit(getattr(node, part, []) or [])
            for handler in getattr(node, "handlers", []) or []:
                visit(handler.body)

    visit(tree.body)
    return names


def build_plan(source: NotebookNode, student: NotebookNode) -> GradingPlan:
    """What the student's kernel runs and what the judge runs, for one submission."""
    source_cells, layout = source_layout(source)
    check_ids = {ex.grade_id for ex in layout.exercises}
    check_ids |= {source_cells[ex.check_index]["id"] for ex in layout.exercises}
    plan = GradingPlan(layout.exercises)

    kept: list[dict[str, Any]] = []
    for cell in student.cells:
        if not isinstance(cell, Mapping) or _looks_like_check(cell, check_ids):
            continue
        if _clean_cell(cell) is not None and cell.get("cell_type") == "code":
            kept.append(dict(cell))
    plan.student_cells = [(i, cell_source(c)) for i, c in enumerate(kept)
                          if cell_source(c).strip()]

    by_grade_id = {gid: pos for pos, cell in enumerate(kept) if (gid := _grade_id(cell))}
    by_cell_id = {cell.get("id"): pos for pos, cell in enumerate(kept) if cell.get("id")}
    defines = [set(defined_names(cell_source(cell))) for cell in kept]
    by_content = []
    answer_of = {i: ex for ex in layout.exercises for i in ex.answer_indices}
    for index, cell in enumerate(source_cells):
        role = layout.roles[index]
        if cell.get("cell_type") != "code":
            continue
        code = python_source(cell_source(cell))
        if code is None:
            continue
        if role.kind == "check":
            plan.trusted.append({"kind": "check", "index": index, "source": code,
                                 "exercise": role.exercise})
        elif role.kind == "answer":
            names = defined_names(cell_source(cell))
            plan.trusted.append({"kind": "answer", "index": index, "names": names})
            found = by_grade_id.get(role.grade_id, by_cell_id.get(cell["id"]))
            if found is None and names and any(set(names) <= d for d in defines):
                by_content.append(answer_of[index].exercise if index in answer_of else "?")
            elif found is None and index in answer_of:
                ex = answer_of[index].exercise
                plan.missing[ex] = (f"answer cell missing: no cell defines "
                                    f"{', '.join(names) or 'the answer'}")
        else:
            plan.trusted.append({"kind": "setup", "index": index, "source": code})
    if by_content:
        plan.warnings.append("answer cell(s) of exercise " + ", ".join(sorted(set(by_content)))
                             + " matched by content (cell ids or metadata were lost)")
    return plan
