"""Grading results: the records, the printed table, and the JSON and CSV a gradebook takes.

The statuses are listed in ``score``. Result files are written atomically (a temporary
file, then a rename), so a reader never sees half a file.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .markers import format_points, json_points

CSV_COLUMNS = ("notebook", "student", "source", "exercise", "status", "points", "max_points",
               "message")


@dataclass
class ExerciseResult:
    """The score of one exercise of one notebook."""

    exercise: str
    status: str
    points: float
    max_points: float
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"exercise": self.exercise, "status": self.status,
                "points": json_points(self.points), "max_points": json_points(self.max_points),
                "message": self.message}


@dataclass
class NotebookResult:
    """The result of grading one student notebook."""

    notebook: str
    student: str
    source: str | None
    status: str
    message: str = ""
    exercises: list[ExerciseResult] = field(default_factory=list)
    seconds: float = 0.0
    isolation: str = ""
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NotebookResult:
        """The result ``to_json`` wrote."""
        exercises = [ExerciseResult(ex["exercise"], ex["status"], float(ex["points"]),
                                    float(ex["max_points"]), ex.get("message", ""))
                     for ex in data["exercises"]]
        return cls(data["notebook"], data["student"], data.get("source"), data["status"],
                   data.get("message", ""), exercises, float(data.get("seconds", 0.0)),
                   data.get("isolation", ""), list(data.get("warnings", [])))

    @property
    def score(self) -> float:
        """Points earned."""
        return sum(ex.points for ex in self.exercises)

    @property
    def max_score(self) -> float:
        """Points available."""
        return sum(ex.max_points for ex in self.exercises)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"notebook": self.notebook, "student": self.student, "source": self.source,
                "status": self.status, "message": self.message,
                "score": json_points(self.score), "max_score": json_points(self.max_score),
                "seconds": round(self.seconds, 2), "isolation": self.isolation,
                "warnings": self.warnings,
                "exercises": [ex.to_json() for ex in self.exercises]}


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def write_json(results: Sequence[NotebookResult], path: str | Path) -> None:
    """Write all results as one JSON document."""
    document = {
        "format": "dlbd-grades/1",
        "all_graded": all(result.status == "graded" for result in results),
        "notebooks": [result.to_json() for result in results],
    }
    _atomic_write(path, json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def _atomic_write(path: str | Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with open(descriptor, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.replace(tmp, path)


def csv_rows(results: Sequence[NotebookResult]) -> list[dict[str, Any]]:
    """One row per notebook and exercise, then a ``TOTAL`` row per notebook."""
    rows = []
    for result in results:
        base = {"notebook": result.notebook, "student": result.student,
                "source": result.source or ""}
        for ex in result.exercises:
            rows.append({**base, "exercise": ex.exercise, "status": ex.status,
                         "points": json_points(ex.points),
                         "max_points": json_points(ex.max_points), "message": ex.message})
        rows.append({**base, "exercise": "TOTAL", "status": result.status,
                     "points": json_points(result.score),
                     "max_points": json_points(result.max_score), "message": result.message})
    return rows


def write_csv(results: Sequence[NotebookResult], path: str | Path) -> None:
    """Write the results as CSV (columns: CSV_COLUMNS)."""
    import io  # noqa: PLC0415

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(csv_rows(results))
    _atomic_write(path, buffer.getvalue())


def _cell(ex: ExerciseResult) -> str:
    mark = {"passed": "", "unanswered": " …", "not-run": " -"}.get(ex.status, " ✘")
    return f"{format_points(ex.points)}/{format_points(ex.max_points)}{mark}"


def format_table(results: Sequence[NotebookResult]) -> str:
    """A plain-text table, one block per source notebook, then the messages."""
    blocks: list[str] = []
    groups: dict[str | None, list[NotebookResult]] = {}
    for result in results:
        groups.setdefault(result.source, []).append(result)
    for source, group in groups.items():
        exercise_ids: list[str] = []
        for result in group:
            exercise_ids += [ex.exercise for ex in result.exercises
                             if ex.exercise not in exercise_ids]
        header = ["notebook", *exercise_ids, "total", "status"]
        rows = [header]
        for result in group:
            scores = {ex.exercise: _cell(ex) for ex in result.exercises}
            total = f"{format_points(result.score)}/{format_points(result.max_score)}"
            rows.append([result.notebook, *(scores.get(i, "") for i in exercise_ids), total,
                         result.status])
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        title = f"{source}" if source else "not matched to a source notebook"
        lines = [title, "=" * len(title)]
        lines += ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip()
                  for row in rows]
        blocks.append("\n".join(lines))

    notes = []
    for result in results:
        if result.message:
            notes.append(f"{result.notebook}: {result.status}: {result.message}")
        for warning in result.warnings:
            notes.append(f"{result.notebook}: warning: {warning}")
        for ex in result.exercises:
            if ex.status not in ("passed", "not-run") and ex.message:
                notes.append(f"{result.notebook} [{ex.exercise}] {ex.status}: {ex.message}")
    if notes:
        blocks.append("\n".join(["Messages", "========", *notes]))
    blocks.append(student_summary(results))
    isolation = sorted({re.sub(r"uid \d+", "a uid of its own", result.isolation)
                        for result in results if result.isolation})
    if isolation:
        blocks.append("Isolation: " + "; ".join(isolation))
    graded = sum(result.status == "graded" for result in results)
    blocks.append(f"{graded} of {len(results)} notebook(s) graded completely.")
    return "\n\n".join(blocks)


def student_summary(results: Sequence[NotebookResult]) -> str:
    """One line per student: points over all their notebooks, and how many were graded."""
    totals: dict[str, list[float]] = {}
    for result in results:
        entry = totals.setdefault(result.student, [0.0, 0.0, 0, 0])
        entry[0] += result.score
        entry[1] += result.max_score
        entry[2] += 1
        entry[3] += result.status == "graded"
    rows = [["student", "points", "notebooks", "graded"]]
    for student in sorted(totals):
        score, most, count, graded = totals[student]
        rows.append([student, f"{format_points(score)}/{format_points(most)}", str(int(count)),
                     str(int(graded))])
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["Per student", "==========="]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)
