"""Turn a judge's raw result into scores: one status vocabulary for notebooks and exercises.

Notebook statuses: ``graded`` (ran to the end; its scores stand), ``timeout``, ``memory``
(a cell ran out of memory), ``crashed`` (the kernel died), ``invalid`` (not a readable
notebook), ``no-source`` (no solutions notebook of that name), ``error`` (the grader could
not run it), ``not-run`` (the whole run's time limit came first). Exercise statuses:
``passed``, ``failed`` (a check did not hold, or the student's code raised, hung or died
while it ran), ``unanswered``, ``missing`` (no cell defines the answer), ``error`` (the
grader could not check it: the check cell itself broke), ``not-run``.
"""

from __future__ import annotations

from typing import Any

from .merge import GradingPlan
from .report import ExerciseResult, NotebookResult, one_line


def notebook_result(result: NotebookResult, plan: GradingPlan, run: dict[str, Any],
                    memory_mb: int | None) -> NotebookResult:
    """Fill ``result`` (exercises, status, message) from the judge's ``run``."""
    verdicts = run.get("verdicts") or {}
    status = run.get("status", "error")
    message = str(run.get("message", ""))
    exercises = []
    for ex in plan.exercises:
        verdict = verdicts.get(ex.exercise)
        item = ExerciseResult(ex.exercise, "not-run", 0.0, ex.points)
        if verdict is None:
            item.message = f"not run: {message or 'the judge stopped'} earlier"
        else:
            item.status = str(verdict.get("status", "error"))
            item.message = one_line(verdict.get("message", ""))
            if item.status == "passed":
                item.points = ex.points
            elif item.status == "not-run":
                item.message = f"not run: {message} earlier" if message else "not run"
        if ex.exercise in plan.missing and item.status not in ("passed", "unanswered"):
            item.status, item.message = "missing", plan.missing[ex.exercise]
        exercises.append(item)
    result.exercises = exercises
    result.isolation = str(run.get("isolation", ""))
    result.warnings += plan.warnings + [str(n) for n in run.get("notes", [])]
    if run.get("seconds"):
        result.seconds = float(run["seconds"])
    notes = [f"answer cell missing for exercise {ex}" for ex in plan.missing]
    errors = run.get("errors") or []
    cells = dict(plan.student_cells)
    where = ""
    if run.get("cell_index") is not None and run["cell_index"] in cells:
        lines = [line for line in cells[run["cell_index"]].splitlines() if line.strip()]
        where = f" in the cell starting `{one_line(lines[0], 50)}`" if lines else ""
    if status == "ok":
        if any(e.get("ename") == "MemoryError" for e in errors):
            limit = f" (limit {memory_mb} MB)" if memory_mb else ""
            result.status = "memory"
            result.message = "; ".join([f"a cell ran out of memory{limit}", *notes])
            return result
        if errors:
            first = errors[0]
            notes.append(f"{len(errors)} cell(s) raised an error, the first "
                         f"{first.get('ename')}: {one_line(first.get('evalue', ''), 120)}")
        result.status, result.message = "graded", "; ".join(notes)
        return result
    result.status = status if status in ("timeout", "crashed", "error") else "error"
    result.message = "; ".join([message + where, *notes])
    return result
