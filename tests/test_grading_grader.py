"""The grader: plan, run each student's notebook in its own kernel, judge in a separate process.

Kernels are slow to start, so the notebooks are graded in few runs: one batch of notebooks
that can all be graded (exit status 0), and one of notebooks that cannot (exit status 1).
Attacks on the grader are in test_grading_attacks.py.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from grading_demo import (  # noqa: E402
    MEMORY_MB,
    NAME,
    RIGHT,
    by_student,
    exercise,
    make_course,
    solutions,
    student,
    submit,
)

from dlbd_lib.grading.__main__ import main as grade_main
from dlbd_lib.grading.grade import match_source, student_name
from dlbd_lib.grading.merge import build_plan, defined_names
from dlbd_lib.grading.nbio import write_notebook
from dlbd_lib.grading.release import release_notebook


@pytest.fixture
def course(tmp_path: Path) -> Path:
    return make_course(tmp_path)


def test_matching_and_student_names():
    assert match_source("sub/alice/01_demo.ipynb", [NAME, "02_x.ipynb"]) == NAME
    assert match_source("alice_01_demo.ipynb", [NAME]) == NAME
    assert match_source("01_other.ipynb", [NAME]) is None
    assert student_name("sub/alice/01_demo.ipynb", NAME) == "alice"
    assert student_name("bob-01_demo.ipynb", NAME) == "bob"


def test_defined_names_are_module_level_only():
    source = ("def f(x):\n    y = g(x)\n    return y\nclass A:\n    z = 2\nlr = 3\n"
              "a, (b, c) = 1, (2, 3)\nimport numpy.linalg as la, os.path\n"
              "for i in range(3):\n    k = i\n%matplotlib inline")
    assert defined_names(source) == ["f", "A", "lr", "a", "b", "c", "la", "os", "i", "k"]


def test_plan_leaves_checks_out_of_the_kernel_and_gives_them_to_the_judge():
    tampered = student({**RIGHT, "check-1-1": "# CHECK 1.1 (2 points)\nprint('all good')"},
                       after={"answer-1-1": "def helper():\n    return 1"})
    plan = build_plan(solutions(), tampered)
    kernel = "\n".join(source for _, source in plan.student_cells)
    assert "Checker(" not in kernel and "all good" not in kernel
    assert "def helper" in kernel and "total = 45" in kernel
    kinds = [(cell["kind"], cell.get("exercise") or cell.get("names")) for cell in plan.trusted]
    assert kinds == [("setup", None), ("answer", ["double"]), ("check", "1.1"),
                     ("answer", ["total"]), ("check", "1.2"), ("answer", ["apply_twice"]),
                     ("check", "1.3")]
    assert "BEGIN HIDDEN TESTS" in plan.trusted[2]["source"]  # the judge has them, intact
    assert plan.missing == {} and plan.warnings == []

    stripped = build_plan(solutions(), student(RIGHT, strip=True))
    assert stripped.missing == {}
    assert stripped.warnings == ["answer cell(s) of exercise 1.1, 1.2, 1.3 matched by content "
                                 "(cell ids or metadata were lost)"]
    deleted = build_plan(solutions(), student(RIGHT, drop=("answer-1-2",)))
    assert deleted.missing == {"1.2": "answer cell missing: no cell defines total"}


def test_plans_built_in_threads_parse_one_at_a_time(monkeypatch: pytest.MonkeyPatch):
    # the grader's -j 2 builds plans in threads; CPython 3.11's ast builder is not safe when
    # two threads parse at once (a valid notebook was once graded "invalid" with "AST
    # constructor recursion depth mismatch"), so every parse goes through one lock
    from dlbd_lib.grading import markers

    active, most, guard = [0], [0], threading.Lock()
    real_parse = ast.parse

    def slow_parse(*args, **kwargs) -> ast.Module:
        with guard:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.002)
        try:
            return real_parse(*args, **kwargs)
        finally:
            with guard:
                active[0] -= 1

    monkeypatch.setattr(markers.ast, "parse", slow_parse)
    with ThreadPoolExecutor(4) as pool:
        plans = list(pool.map(lambda _: build_plan(solutions(), student(RIGHT)), range(8)))
    assert all(plan.missing == {} for plan in plans)
    assert most[0] == 1


def test_batch_of_gradable_notebooks(course: Path, capsys: pytest.CaptureFixture[str]):
    out = course / "results"
    out.mkdir()
    json_path, csv_path = out / "grades.json", out / "grades.csv"
    paths = [
        submit(course, "right", student(RIGHT)),
        # passes the visible check, fails the hidden one that only the judge has
        submit(course, "wrong", student({"answer-1-1": "def double(x):\n"
                                                       "    return np.array([0, 2, 4])",
                                         "answer-1-2": "total = 44.99999",
                                         "answer-1-3": "def apply_twice(f, x):\n"
                                                       "    return f(x)"})),
        submit(course, "raises", student({
            **RIGHT,
            "answer-1-1": "raise RuntimeError('boom')\ndef double(x):\n    return 2 * x"})),
        submit(course, "deleted", student(RIGHT, drop=("check-1-1", "check-1-2",
                                                       "answer-1-2"))),
        # a helper in a new cell between the answer and its check (a false negative before)
        submit(course, "helper", student(
            {**RIGHT, "answer-1-1": "def double(x):\n    return times(x, 2)"},
            after={"answer-1-1": "def times(x, k):\n    return k * x"})),
        # correct work whose cell ids and metadata were lost (scored 0 before)
        submit(course, "stripped", student(RIGHT, strip=True)),
        submit(course, "unanswered", release_notebook(solutions())),
    ]
    status = grade_main([*map(str, paths), "--source", str(course / "solutions"),
                         "--json", str(json_path), "--csv", str(csv_path),
                         "--timeout", "30", "--memory-mb", str(MEMORY_MB), "-j", "2"])
    printed = capsys.readouterr().out
    assert status == 0, printed

    results = by_student(json.loads(json_path.read_text()))
    assert {name: (r["status"], r["score"], r["max_score"]) for name, r in results.items()} == {
        "right": ("graded", 4, 4),
        "wrong": ("graded", 0, 4),
        "raises": ("graded", 2, 4),
        "deleted": ("graded", 3, 4),
        "helper": ("graded", 4, 4),
        "stripped": ("graded", 4, 4),
        "unanswered": ("graded", 0, 4),
    }
    assert results["right"]["message"] == "" and results["right"]["warnings"] == []
    assert exercise(results["wrong"], "1.1") == {
        "exercise": "1.1", "status": "failed", "points": 0, "max_points": 2,
        "message": "expected shape (), got (3,)"}
    # enough digits to see the difference, and the relative difference
    assert exercise(results["wrong"], "1.2")["message"] == (
        "expected 45, got 44.99999 (relative difference 2.2e-07)")
    assert exercise(results["raises"], "1.1")["message"] == (
        "your code raised NameError: name 'double' is not defined")
    assert results["raises"]["message"] == "1 cell(s) raised an error, the first RuntimeError: boom"
    assert exercise(results["deleted"], "1.1")["status"] == "passed"
    assert exercise(results["deleted"], "1.2") == {
        "exercise": "1.2", "status": "missing", "points": 0, "max_points": 1,
        "message": "answer cell missing: no cell defines total"}
    assert results["deleted"]["message"] == "answer cell missing for exercise 1.2"
    assert results["stripped"]["warnings"] == [
        "answer cell(s) of exercise 1.1, 1.2, 1.3 matched by content (cell ids or metadata were "
        "lost)"]
    assert {ex["status"] for ex in results["unanswered"]["exercises"]} == {"unanswered"}
    assert all(r["isolation"] for r in results.values())

    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert exercise(results["wrong"], "1.3")["message"] == "expected 5, got 4"
    assert len(rows) == 7 * 4
    totals = {row["student"]: (row["status"], row["points"], row["max_points"])
              for row in rows if row["exercise"] == "TOTAL"}
    assert totals["raises"] == ("graded", "2", "4") and totals["right"] == ("graded", "4", "4")
    assert "7 of 7 notebook(s) graded completely." in printed
    assert "Per student" in printed and "Traceback" not in printed

    # the results were stored one by one: a rerun resumes without running any kernel
    again = grade_main([*map(str, paths), "--source", str(course / "solutions"),
                        "--json", str(json_path), "--timeout", "30", "--quiet"])
    assert again == 0
    assert by_student(json.loads(json_path.read_text())) == results
    assert len(list((out / "grades.json.parts").glob("*.json"))) == 7


def test_notebooks_that_cannot_be_graded(course: Path):
    json_path = course / "grades.json"
    paths = [
        submit(course, "hangs", student({**RIGHT, "answer-1-2": "while True:\n    pass"})),
        submit(course, "hangs_in_check", student({
            **RIGHT, "answer-1-1": "def double(x):\n    while True:\n        pass"})),
        submit(course, "hog", student(RIGHT, extra=("big = np.ones(2**30)  # 8 GiB",))),
        submit(course, "mallory", '{"cells": [ this is not json'),
        course / "submitted" / "ghost" / NAME,
    ]
    unknown = course / "submitted" / "eve" / "99_unknown.ipynb"
    unknown.parent.mkdir(parents=True)
    write_notebook(student(RIGHT), unknown)
    done = subprocess.run(
        [sys.executable, "-m", "dlbd_lib.grading", *map(str, paths), str(unknown),
         "--source", str(course / "solutions"), "--json", str(json_path),
         "--timeout", "8", "--memory-mb", str(MEMORY_MB), "-j", "2"],
        capture_output=True, text=True, timeout=120, cwd=course,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr

    results = by_student(json.loads(json_path.read_text()))
    assert {name: r["status"] for name, r in results.items()} == {
        "hangs": "timeout", "hangs_in_check": "timeout", "hog": "memory", "mallory": "invalid",
        "ghost": "invalid", "eve": "no-source"}
    hangs = results["hangs"]
    assert hangs["message"] == "time limit of 8 s reached in the cell starting `while True:`"
    assert [ex["status"] for ex in hangs["exercises"]] == ["not-run"] * 3
    in_check = results["hangs_in_check"]
    assert exercise(in_check, "1.1") == {
        "exercise": "1.1", "status": "failed", "points": 0, "max_points": 2,
        "message": "time limit of 8 s reached while this check ran"}
    assert exercise(in_check, "1.2")["status"] == "not-run"
    assert results["hog"]["score"] == 4
    assert results["hog"]["message"] == f"a cell ran out of memory (limit {MEMORY_MB} MB)"
    assert results["mallory"]["message"].startswith("not a valid notebook")
    assert results["mallory"]["max_score"] == 4
    assert results["ghost"]["message"].startswith("not a valid notebook: cannot read the file")
    assert results["eve"]["message"].endswith("matches the name 99_unknown.ipynb")


def test_default_time_limit_comes_from_the_solution(course: Path, monkeypatch):
    from dlbd_lib.grading import grade

    seen = []
    real = grade._judge

    def spy(plan, timeout, context):
        seen.append(timeout)
        return real(plan, timeout, context)

    monkeypatch.setattr(grade, "_judge", spy)
    path = submit(course, "right", student(RIGHT))
    [result] = grade.grade_notebooks([path], course / "solutions", memory_mb=MEMORY_MB)
    assert result.status == "graded" and result.score == 4
    assert seen[0] == grade.MAX_TIMEOUT  # the solution itself, as a submission
    assert seen[1] == grade.MIN_TIMEOUT  # 3 x a few seconds, but at least MIN_TIMEOUT


def test_scratch_folders_are_removed(course: Path, monkeypatch: pytest.MonkeyPatch):
    from dlbd_lib.grading import grade

    (course / "tmp").mkdir(mode=0o777)
    (course / "tmp").chmod(0o777)
    monkeypatch.setattr(tempfile, "tempdir", str(course / "tmp"))
    monkeypatch.setenv("TMPDIR", str(course / "tmp"))
    [result] = grade.grade_notebooks([submit(course, "right", student(RIGHT))],
                                     course / "solutions", timeout=30, memory_mb=MEMORY_MB)
    assert result.score == 4, result.message
    assert list((course / "tmp").iterdir()) == []


def test_the_whole_run_has_a_deadline(course: Path):
    from dlbd_lib.grading import grade

    paths = [submit(course, who, student(RIGHT)) for who in ("ann", "ben")]
    results = grade.grade_notebooks(paths, course / "solutions", timeout=30, deadline=1)
    assert [(r.status, r.message) for r in results] == [
        ("not-run", "the whole run's time limit was reached")] * 2
    assert all(ex.status == "not-run" for r in results for ex in r.exercises)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="as root only")
def test_without_mount_namespaces_the_grader_degrades_and_says_so(course: Path, monkeypatch):
    from dlbd_lib.grading import grade

    monkeypatch.setenv("DLBD_GRADE_NO_NAMESPACE", "1")
    [result] = grade.grade_notebooks([submit(course, "right", student(RIGHT))],
                                     course / "solutions", timeout=30, memory_mb=MEMORY_MB)
    assert result.status == "graded" and result.score == 4, result.message
    assert "mount namespace" in result.isolation
