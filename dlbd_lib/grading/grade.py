"""Grade student notebooks against the solutions: match, restore checks, run, score.

Every submission and every source notebook is read into memory before the first kernel
starts, so a notebook that writes to other files while it runs cannot change what is graded
after it. One notebook at a time runs, each in its own fresh kernel (see ``runner``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from nbformat import NotebookNode

from .markers import RESULT_MIMETYPE, Exercise, MarkerError
from .merge import GradingPlan, build_grading_notebook, source_layout
from .nbio import parse_notebook, read_notebook
from .report import ExerciseResult, NotebookResult, one_line
from .runner import Execution, execute_notebook

DEFAULT_TIMEOUT = 300.0
DEFAULT_MEMORY_MB = 4096


def load_sources(directory: str | Path) -> dict[str, NotebookNode | str]:
    """Every ``*.ipynb`` in ``directory`` by file name: the notebook, or why it is unusable."""
    sources: dict[str, NotebookNode | str] = {}
    for path in sorted(Path(directory).glob("*.ipynb")):
        try:
            sources[path.name] = read_notebook(path)
        except Exception as exc:
            sources[path.name] = f"cannot read {path}: {one_line(str(exc), 200)}"
    return sources


def match_source(path: str | Path, names: Sequence[str]) -> str | None:
    """The source notebook for a submission: the same file name, else the longest source name
    (without ``.ipynb``) that the submission's file name contains (``alice_01_tensors.ipynb``)."""
    name = Path(path).name
    if name in names:
        return name
    stems = sorted((n for n in names if Path(n).stem in name), key=len, reverse=True)
    return stems[0] if stems else None


def student_name(path: str | Path, source: str | None) -> str:
    """Who a submission belongs to: the rest of its file name (``alice_01_tensors.ipynb``),
    else its folder (``submitted/alice/01_tensors.ipynb``), as nbgrader lays them out."""
    path = Path(path)
    rest = path.stem.replace(Path(source).stem, "") if source else ""
    rest = rest.strip(" _-.")
    return rest or path.parent.name


def grade_notebooks(
    paths: Sequence[str | Path],
    source_dir: str | Path = "solutions",
    *,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int | None = DEFAULT_MEMORY_MB,
    progress: Callable[[NotebookResult], None] | None = None,
) -> list[NotebookResult]:
    """Grade each notebook in ``paths`` (sequentially) and return one result per notebook."""
    sources = load_sources(source_dir)
    submissions: list[tuple[Path, bytes | str]] = []
    for raw in paths:
        path = Path(raw)
        try:
            submissions.append((path, path.read_bytes()))
        except OSError as exc:
            submissions.append((path, f"cannot read the file: {exc.strerror or exc}"))
    results = []
    for path, data in submissions:
        started = time.monotonic()
        try:
            result = _grade_one(path, data, sources, Path(source_dir), timeout, memory_mb)
        except Exception as exc:  # a bug in the grader must not stop the others
            result = NotebookResult(str(path), student_name(path, None), None, "error",
                                    f"grader error: {type(exc).__name__}: {one_line(str(exc))}")
        result.seconds = time.monotonic() - started
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def _grade_one(
    path: Path,
    data: bytes | str,
    sources: dict[str, NotebookNode | str],
    source_dir: Path,
    timeout: float,
    memory_mb: int | None,
) -> NotebookResult:
    source_name = match_source(path, list(sources))
    result = NotebookResult(str(path), student_name(path, source_name), source_name, "graded")
    if source_name is None:
        result.status = "no-source"
        result.message = f"no notebook in {source_dir} matches the name {path.name}"
        return result
    source = sources[source_name]
    if isinstance(source, str):
        result.status, result.message = "error", source
        return result
    try:
        _, layout = source_layout(source)
    except MarkerError as exc:
        result.status = "error"
        result.message = f"{source_dir / source_name} has a marker problem: {exc}"
        return result
    result.exercises = [ExerciseResult(ex.exercise, "not-run", 0.0, ex.points)
                        for ex in layout.exercises]

    try:
        if isinstance(data, str):
            raise ValueError(data)
        student = parse_notebook(data.decode("utf-8"))
        plan = build_grading_notebook(source, student)
    except Exception as exc:
        result.status = "invalid"
        result.message = f"not a valid notebook: {one_line(str(exc), 200) or type(exc).__name__}"
        for ex in result.exercises:
            ex.message = "not run: the notebook could not be read"
        return result

    run = execute_notebook(plan.nb, timeout=timeout, memory_mb=memory_mb)
    result.exercises = [_score(ex, plan, run) for ex in plan.exercises]
    result.status, result.message = _notebook_status(plan, run, memory_mb)
    return result


def _stopped_in(plan: GradingPlan, run: Execution) -> str:
    if run.cell_index is None or run.cell_index >= len(plan.nb.cells):
        return ""
    lines = [line for line in plan.nb.cells[run.cell_index].source.splitlines() if line.strip()]
    return f" in the cell starting `{one_line(lines[0], 50)}`" if lines else ""


def _notebook_status(plan: GradingPlan, run: Execution, memory_mb: int | None) -> tuple[str, str]:
    notes = [f"answer cell missing for exercise {ex}" for ex in plan.missing]
    trusted = set(plan.check_cells.values())
    errors = [out for index, cell in enumerate(plan.nb.cells) if index not in trusted
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    if run.status == "ok":
        if any(out.get("ename") == "MemoryError" for out in errors):
            limit = f" (limit {memory_mb} MB)" if memory_mb else ""
            return "memory", "; ".join([f"a cell ran out of memory{limit}", *notes])
        if errors:
            first = errors[0]
            notes.append(f"{len(errors)} cell(s) raised an error, the first "
                         f"{first.get('ename')}: {one_line(first.get('evalue', ''), 120)}")
        return "graded", "; ".join(notes)
    status = {"timeout": "timeout", "crashed": "crashed"}.get(run.status, "error")
    return status, "; ".join([run.message + _stopped_in(plan, run), *notes])


def _score(ex: Exercise, plan: GradingPlan, run: Execution) -> ExerciseResult:
    """Score one exercise from the outputs of its trusted check cell only."""
    result = ExerciseResult(ex.exercise, "error", 0.0, ex.points)
    if ex.exercise in plan.missing:
        result.status, result.message = "missing", plan.missing[ex.exercise]
        return result
    index = plan.check_cells[ex.exercise]
    outputs = plan.nb.cells[index].get("outputs", [])
    verdicts = [out["data"][RESULT_MIMETYPE] for out in outputs
                if out.get("output_type") in ("display_data", "execute_result")
                and RESULT_MIMETYPE in out.get("data", {})]
    if len(verdicts) == 1 and isinstance(verdicts[0], dict):
        verdict = verdicts[0]
        status = verdict.get("status")
        if str(verdict.get("exercise")) != ex.exercise:
            result.message = "the check cell showed the result of another exercise"
        elif status == "unchecked":
            result.message = "the check cell ran no checks"
        elif status in ("passed", "failed", "unanswered"):
            result.status = status
            result.points = ex.points if status == "passed" else 0.0
            result.message = "" if status == "passed" else one_line(verdict.get("message", ""))
        else:
            result.message = "the check cell showed a result the grader cannot read"
        return result
    if verdicts:
        result.message = "the check cell showed more than one result (tampering?)"
        return result
    if run.status != "ok" and (run.cell_index is None or index > run.cell_index):
        result.status, result.message = "not-run", f"not run: {run.message} earlier"
        return result
    if run.status != "ok" and index == run.cell_index:
        result.message = f"{run.message} while this check ran"
        return result
    errors = [out for out in outputs if out.get("output_type") == "error"]
    if errors:
        result.message = (f"the check cell raised {errors[0].get('ename')}: "
                          f"{one_line(errors[0].get('evalue', ''), 200)}")
    else:
        result.message = "the check cell showed no result"
    return result
