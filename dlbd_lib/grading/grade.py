"""Grade student notebooks against the solutions: match, plan, judge (in parallel), score.

Every submission and every source notebook is read into memory before the first kernel
starts. Each notebook is graded by a judge process of its own (``judge``), under a watchdog;
``jobs`` of them run at a time. Each finished result is stored at once, atomically, in the
``state`` folder (when given), so a grader that is killed keeps what it did and a rerun
picks up where it stopped. Without an explicit ``timeout``, each solutions notebook is run
once first, as a submission: it must score full marks (else the grading environment is
broken, and every result says so), and three times its time (at most 120 s) becomes the
time limit of its submissions.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nbformat import NotebookNode

from .markers import MarkerError
from .merge import build_plan, source_layout
from .nbio import notebook_text, parse_notebook, read_notebook
from .report import ExerciseResult, NotebookResult, one_line
from .score import notebook_result

DEFAULT_MEMORY_MB = 4096
MAX_TIMEOUT = 120.0
MIN_TIMEOUT = 30.0
#: Extra seconds the watchdog gives a judge process beyond the notebook's time limit.
WATCHDOG_MARGIN = 60.0


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


class _Slots:
    """Small integers for the jobs running at once (each kernel gets its own user id)."""

    def __init__(self, n: int) -> None:
        self.free: queue.Queue[int] = queue.Queue()
        for slot in range(n):
            self.free.put(slot)


def grade_notebooks(
    paths: Sequence[str | Path],
    source_dir: str | Path = "solutions",
    *,
    timeout: float | None = None,
    memory_mb: int | None = DEFAULT_MEMORY_MB,
    jobs: int = 1,
    state: str | Path | None = None,
    hide: Sequence[str | Path] = (),
    deadline: float | None = None,
    progress: Callable[[NotebookResult], None] | None = None,
) -> list[NotebookResult]:
    """Grade each notebook in ``paths``; one result per notebook, in the order given.

    ``timeout``: seconds per notebook (None: from the solution's own time); ``jobs``: how many
    at once; ``state``: folder of finished results (resume); ``hide``: extra folders the
    kernels must not see; ``deadline``: seconds for the whole run (the watchdog).
    """
    source_dir = Path(source_dir)
    sources = load_sources(source_dir)
    submissions = []
    for raw in paths:
        path = Path(raw)
        try:
            submissions.append((path, path.read_bytes()))
        except OSError as exc:
            submissions.append((path, f"cannot read the file: {exc.strerror or exc}"))
    hidden = {str(source_dir.resolve())} | {str(Path(h).resolve()) for h in hide}
    hidden |= {str(path.resolve().parent) for path, _ in submissions}
    if state is not None:
        Path(state).mkdir(parents=True, exist_ok=True)
        hidden.add(str(Path(state).resolve()))
    private = tempfile.mkdtemp(prefix="dlbd-grader-")  # plans and results: mode 700
    context = {"sources": sources, "source_dir": source_dir, "memory_mb": memory_mb,
               "hide": sorted(hidden), "private": private, "slots": _Slots(max(jobs, 1)),
               "state": Path(state) if state is not None else None,
               "stop_at": None if deadline is None else time.monotonic() + deadline}

    limits: dict[str, float] = {}
    reference: dict[str, NotebookResult] = {}
    if timeout is None:
        needed = sorted({match_source(p, list(sources)) for p, _ in submissions} - {None})
        needed = [n for n in needed if not isinstance(sources[n], str)]

        def calibrate(name: str) -> None:
            data = notebook_text(sources[name]).encode()
            result = _grade_cached(source_dir / name, data, MAX_TIMEOUT, context)
            reference[name] = result
            limits[name] = min(MAX_TIMEOUT, max(MIN_TIMEOUT, 3 * result.seconds))

        with ThreadPoolExecutor(max(jobs, 1)) as pool:
            list(pool.map(calibrate, needed))

    lock = threading.Lock()

    def one(item: tuple[Path, bytes | str]) -> NotebookResult:
        path, data = item
        name = match_source(path, list(sources))
        limit = timeout if timeout is not None else limits.get(name or "", MAX_TIMEOUT)
        same = (name in reference and isinstance(data, bytes)
                and data == notebook_text(sources[name]).encode())
        if same:
            copy = NotebookResult(**{**reference[name].__dict__})
            result = copy
            result.notebook, result.student = str(path), student_name(path, name)
        else:
            result = _grade_cached(path, data, limit, context)
        if name in reference and reference[name].score < reference[name].max_score:
            result.warnings.append(f"the solutions notebook itself scored "
                                   f"{reference[name].score:g}/{reference[name].max_score:g} "
                                   "here: check the grading environment")
        if progress is not None:
            with lock:
                progress(result)
        return result

    with ThreadPoolExecutor(max(jobs, 1)) as pool:
        results = list(pool.map(one, submissions))
    try:
        os.rmdir(private)
    except OSError:
        pass
    return results


def _key(path: Path, data: bytes | str, context: dict) -> str:
    digest = hashlib.sha256(str(path.resolve()).encode() + b"\0")
    digest.update(data.encode() if isinstance(data, str) else data)
    name = match_source(path, list(context["sources"]))
    source = context["sources"].get(name) if name else None
    if source is not None and not isinstance(source, str):
        digest.update(notebook_text(source).encode())
    return digest.hexdigest()[:32]


def _grade_cached(path: Path, data: bytes | str, timeout: float, context: dict) -> NotebookResult:
    state: Path | None = context["state"]
    stored = state / f"{_key(path, data, context)}.json" if state is not None else None
    if stored is not None and stored.exists():
        try:
            return NotebookResult.from_json(json.loads(stored.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError):
            pass
    started = time.monotonic()
    try:
        result = _grade_one(path, data, timeout, context)
    except Exception as exc:  # a bug in the grader must not stop the others
        result = NotebookResult(str(path), student_name(path, None), None, "error",
                                f"grader error: {type(exc).__name__}: {one_line(str(exc))}")
    result.seconds = result.seconds or time.monotonic() - started
    if stored is not None and result.status != "not-run":
        tmp = stored.with_suffix(".tmp")
        tmp.write_text(json.dumps(result.to_json()), encoding="utf-8")
        os.replace(tmp, stored)
    return result


def _grade_one(path: Path, data: bytes | str, timeout: float, context: dict) -> NotebookResult:
    sources = context["sources"]
    source_dir: Path = context["source_dir"]
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
        plan = build_plan(source, parse_notebook(data.decode("utf-8")))
    except Exception as exc:
        result.status = "invalid"
        result.message = f"not a valid notebook: {one_line(str(exc), 200) or type(exc).__name__}"
        for ex in result.exercises:
            ex.message = "not run: the notebook could not be read"
        return result
    stop_at = context["stop_at"]
    if stop_at is not None and time.monotonic() + 5 > stop_at:
        result.status, result.message = "not-run", "the whole run's time limit was reached"
        return result
    return notebook_result(result, plan, _judge(plan, timeout, context), context["memory_mb"])


def _judge(plan: object, timeout: float, context: dict) -> dict:
    """Run one judge process under a watchdog; its result (a dict) or why there is none."""
    slots: _Slots = context["slots"]
    slot = slots.free.get()
    folder = tempfile.mkdtemp(dir=context["private"])
    try:
        plan_path, result_path = os.path.join(folder, "plan.json"), os.path.join(folder, "out.json")
        with open(plan_path, "w", encoding="utf-8") as handle:
            json.dump({"student_cells": plan.student_cells, "trusted": plan.trusted,
                       "timeout": timeout, "memory_mb": context["memory_mb"],
                       "hide": context["hide"], "slot": slot}, handle)
        limit = timeout + WATCHDOG_MARGIN
        if context["stop_at"] is not None:
            limit = max(min(limit, context["stop_at"] - time.monotonic()), 1)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="agg")
        # the judge and the kernel's agent must be this very dlbd_lib, whatever is installed
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        with open(os.path.join(folder, "log.txt"), "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "dlbd_lib.grading.judge", plan_path, result_path],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=folder,
                start_new_session=True)
            try:
                process.wait(limit)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
        try:
            with open(result_path, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            with open(os.path.join(folder, "log.txt"), errors="replace") as handle:
                tail = one_line(handle.read()[-400:], 300)
            return {"status": "error", "verdicts": {},
                    "message": f"the judge stopped without a result (watchdog after "
                               f"{limit:.0f} s, or a crash): {tail}"}
    finally:
        slots.free.put(slot)
        shutil.rmtree(folder, ignore_errors=True)
