"""The text conventions of exercise notebooks: solution, hidden-test and check-cell markers.

Everything that decides what a cell *is* lives here, so the tagger, the release command and
the grader agree. Stdlib only: the check helpers import it inside the student's kernel.

A solutions notebook uses three conventions:

- an **answer cell** is a code cell with a region between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` lines (nbgrader's markers);
- a **written answer** is a markdown cell with a region between ``<!-- BEGIN SOLUTION -->``
  and ``<!-- END SOLUTION -->`` lines (``### BEGIN SOLUTION`` works there too);
- a **check cell** is a code cell whose first line is ``# CHECK <exercise> (<points> points)``,
  for example ``# CHECK 1.2 (2 points)``; ``# CHECK 1.2 2`` and ``# CHECK 1.2`` (1 point) are
  accepted too. Lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` in a
  check cell are removed from the students' copy and put back at grading time.

The answer cells of an exercise are the answer cells above its check cell and below the
previous check cell.
"""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
MD_SOLUTION_BEGIN = "<!-- BEGIN SOLUTION -->"
MD_SOLUTION_END = "<!-- END SOLUTION -->"

#: The mimetype of the machine-readable verdict a check cell displays.
RESULT_MIMETYPE = "application/vnd.dlbd.result+json"

_CHECK_RE = re.compile(
    r"^#\s*CHECK\s+(?P<id>(?=\S*\d)[A-Za-z0-9][A-Za-z0-9._-]*)"
    r"(?:\s+\(?\s*(?P<points>\d+(?:\.\d+)?)\s*(?:points?|pts?)?\s*\)?)?\s*$"
)
_CELL_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class MarkerError(ValueError):
    """A solutions notebook breaks the marker conventions (the message names the cell)."""


@dataclass(frozen=True)
class CheckHeader:
    """The parsed ``# CHECK <exercise> (<points> points)`` line of a check cell."""

    exercise: str
    points: float


@dataclass(frozen=True)
class Region:
    """A marked region: the 0-based line numbers of its BEGIN and END marker lines."""

    begin: int
    end: int


@dataclass
class Exercise:
    """One graded exercise of a solutions notebook: its check cell and its answer cells."""

    exercise: str
    points: float
    check_index: int
    answer_indices: list[int] = field(default_factory=list)

    @property
    def grade_id(self) -> str:
        """The nbgrader ``grade_id`` of the check cell."""
        return f"check-{slug(self.exercise)}"


@dataclass(frozen=True)
class CellRole:
    """What a cell of a solutions notebook is: ``check``, ``answer``, ``written`` or ``other``."""

    kind: str
    grade_id: str | None = None
    exercise: str | None = None


@dataclass
class Layout:
    """The exercises of a solutions notebook and the role of each of its cells."""

    exercises: list[Exercise]
    roles: list[CellRole]


def cell_source(cell: Mapping[str, Any]) -> str:
    """The source of a cell as one string (JSON notebooks may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def slug(exercise: str) -> str:
    """An exercise id made safe for nbgrader's ``grade_id`` (letters, digits, ``_`` and ``-``)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", exercise).strip("-") or "x"


def format_points(points: float) -> str:
    """``2.0`` as ``"2"``, ``0.5`` as ``"0.5"``."""
    return str(int(points)) if float(points).is_integer() else f"{points:g}"


def json_points(points: float) -> int | float:
    """Points as an int when they are whole, so JSON shows ``2`` rather than ``2.0``."""
    return int(points) if float(points).is_integer() else float(points)


def parse_check_header(source: str) -> CheckHeader | None:
    """The check header on the first non-blank line of ``source``, or None if it has none."""
    for line in source.splitlines():
        if line.strip():
            match = _CHECK_RE.match(line.strip())
            if match is None:
                return None
            points = float(match["points"]) if match["points"] else 1.0
            return CheckHeader(match["id"], points)
    return None


def find_regions(lines: Sequence[str], begin: str, end: str) -> list[Region]:
    """The regions between ``begin`` and ``end`` marker lines.

    A marker line is a line whose stripped text equals the marker, as in nbgrader.
    Raises MarkerError on a nested, unclosed or unopened region.
    """
    regions = []
    start: int | None = None
    for number, line in enumerate(lines):
        text = line.strip()
        if text == begin:
            if start is not None:
                raise MarkerError(f"line {number + 1}: {begin!r} inside another region")
            start = number
        elif text == end:
            if start is None:
                raise MarkerError(f"line {number + 1}: {end!r} without {begin!r}")
            regions.append(Region(start, number))
            start = None
    if start is not None:
        raise MarkerError(f"line {start + 1}: {begin!r} is never closed by {end!r}")
    return regions


def solution_regions(cell: Mapping[str, Any]) -> list[Region]:
    """The solution regions of a code or markdown cell."""
    lines = cell_source(cell).splitlines()
    regions = find_regions(lines, SOLUTION_BEGIN, SOLUTION_END)
    if cell.get("cell_type") == "markdown":
        regions += find_regions(lines, MD_SOLUTION_BEGIN, MD_SOLUTION_END)
        regions.sort(key=lambda region: region.begin)
    return regions


def hidden_regions(cell: Mapping[str, Any]) -> list[Region]:
    """The hidden-test regions of a cell."""
    return find_regions(cell_source(cell).splitlines(), HIDDEN_BEGIN, HIDDEN_END)


def python_source(source: str) -> str | None:
    """``source`` with IPython magics and shell lines turned into ``pass``, ready for ``ast``.

    Line numbers are kept. Returns None for a cell magic (``%%...``), which is not Python.
    """
    if source.lstrip().startswith("%%"):
        return None
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[: len(line) - len(stripped)] + "pass"
        lines.append(line)
    return "\n".join(lines)


_AST_LOCK = threading.Lock()


def parse_python(code: str) -> ast.Module:
    """``ast.parse(code)``, one thread at a time.

    CPython 3.11 keeps the AST builder's recursion counter per interpreter, so two threads
    parsing at once (the grader's ``-j 2``) can fail a valid notebook with "SystemError: AST
    constructor recursion depth mismatch" (python/cpython#106905).
    """
    with _AST_LOCK:
        return ast.parse(code)


def nbgrader_metadata(kind: str, grade_id: str, points: float | None = None) -> dict[str, Any]:
    """nbgrader (schema 3) cell metadata for a ``check``, ``answer`` or ``written`` cell.

    ``check`` is an autograder-tests cell (locked, with points), ``answer`` an autograded
    answer, ``written`` a manually graded answer (nbgrader wants those worth points; 0 here).
    """
    grade = kind in ("check", "written")
    meta: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": kind == "check",
        "schema_version": 3,
        "solution": kind in ("answer", "written"),
        "task": False,
    }
    if grade:
        meta["points"] = json_points(points or 0.0)
    return meta


def _is_metadata_solution(cell: Mapping[str, Any]) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def cell_kind(cell: Mapping[str, Any]) -> str:
    """``check``, ``answer``, ``written`` or ``other``, from the markers of a source cell."""
    source = cell_source(cell)
    if cell.get("cell_type") == "code":
        if parse_check_header(source) is not None:
            return "check"
        if solution_regions(cell) or _is_metadata_solution(cell):
            return "answer"
    elif cell.get("cell_type") == "markdown":
        if solution_regions(cell) or _is_metadata_solution(cell):
            return "written"
    return "other"


def analyse(cells: Sequence[Mapping[str, Any]]) -> Layout:
    """The exercises of a solutions notebook and the role and ``grade_id`` of each cell.

    Raises MarkerError (naming the cell) on unbalanced markers, hidden tests outside a
    check cell, a solution inside a check cell, a duplicate exercise, a check cell that
    would show no verdict, or a check header that disagrees with its ``Checker(...)`` call.
    """
    kinds: list[str] = []
    for index, cell in enumerate(cells):
        try:
            kind = cell_kind(cell)
            if kind == "check" and solution_regions(cell):
                raise MarkerError("a check cell cannot hold a solution region")
            if hidden_regions(cell) and kind != "check":
                raise MarkerError("hidden tests belong in a check cell ('# CHECK ...' first line)")
            if kind == "check":
                _check_checker_call(cell_source(cell))
        except MarkerError as exc:
            raise MarkerError(f"cell {index}: {exc}") from None
        kinds.append(kind)

    exercises: list[Exercise] = []
    roles: list[CellRole] = [CellRole("other")] * len(cells)
    pending: list[int] = []
    seen: dict[str, int] = {}
    for index, kind in enumerate(kinds):
        if kind in ("answer", "written"):
            pending.append(index)
        elif kind == "check":
            header = parse_check_header(cell_source(cells[index]))
            assert header is not None
            if slug(header.exercise) in seen:
                raise MarkerError(
                    f"cell {index}: exercise {header.exercise} already has a check cell "
                    f"(cell {seen[slug(header.exercise)]})"
                )
            seen[slug(header.exercise)] = index
            exercise = Exercise(header.exercise, header.points, index)
            exercise.answer_indices = [i for i in pending if kinds[i] == "answer"]
            _name_answers(roles, kinds, pending, header.exercise)
            roles[index] = CellRole("check", exercise.grade_id, header.exercise)
            exercises.append(exercise)
            pending = []
    for index in pending:  # answers with no check cell below them: never graded
        roles[index] = CellRole(kinds[index], f"{kinds[index]}-cell-{index}")
    return Layout(exercises, roles)


def _name_answers(roles: list[CellRole], kinds: list[str], indices: list[int], ex: str) -> None:
    counts: dict[str, int] = {}
    for index in indices:
        kind = kinds[index]
        counts[kind] = counts.get(kind, 0) + 1
        suffix = "" if counts[kind] == 1 else f"-{counts[kind]}"
        roles[index] = CellRole(kind, f"{kind}-{slug(ex)}{suffix}", ex)


def _check_checker_call(source: str) -> None:
    """Raise MarkerError if the cell's Checker would show no verdict, or two verdicts, or if
    a literal ``Checker("id", points=p)`` disagrees with the ``# CHECK`` header."""
    header = parse_check_header(source)
    assert header is not None
    code = python_source(source)
    if code is None:
        raise MarkerError("a check cell must be Python, not a cell magic")
    try:
        tree = parse_python(code)
    except SyntaxError as exc:
        raise MarkerError(
            f"check cell is not valid Python: {exc.msg} (line {exc.lineno})"
        ) from None
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and (
        getattr(node.func, "id", None) == "Checker" or getattr(node.func, "attr", None) == "Checker"
    )]
    if len(calls) > 1:
        raise MarkerError("a check cell must use one Checker (hidden tests go inside its block)")
    in_with = {id(item.context_expr) for node in ast.walk(tree)
               if isinstance(node, (ast.With, ast.AsyncWith)) for item in node.items}
    calls_done = any(isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "done"
                     for node in ast.walk(tree))
    if calls and id(calls[0]) not in in_with and not calls_done:
        raise MarkerError("use `with Checker(...) as check:` (or call check.done()), "
                          "else the cell shows no verdict")
    for node in calls:
        if not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        exercise = str(node.args[0].value)
        points = 1.0
        for keyword in node.keywords:
            if keyword.arg == "points" and isinstance(keyword.value, ast.Constant):
                points = float(keyword.value.value)
        if exercise != header.exercise or points != header.points:
            raise MarkerError(
                f"the header says exercise {header.exercise} "
                f"({format_points(header.points)} points) but the cell calls "
                f"Checker({exercise!r}, points={format_points(points)})"
            )


def ensure_cell_ids(cells: Sequence[dict[str, Any]]) -> None:
    """Give every cell a valid, unique id, in place; existing valid ids are kept.

    A missing id becomes ``cell-<index>``, so the same notebook always gets the same ids.
    """
    taken = set()
    for cell in cells:
        cell_id = cell.get("id")
        if isinstance(cell_id, str) and _CELL_ID_RE.match(cell_id) and cell_id not in taken:
            taken.add(cell_id)
        else:
            cell.pop("id", None)
    for index, cell in enumerate(cells):
        if "id" in cell:
            continue
        candidate, extra = f"cell-{index}", 1
        while candidate in taken:
            extra += 1
            candidate = f"cell-{index}-{extra}"
        cell["id"] = candidate
        taken.add(candidate)
