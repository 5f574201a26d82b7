"""Attacks on the grader, one student each, all with wrong answers: none gains a point, and an
untouched student graded after them gets full marks.

One grading run (two at a time) covers every class of attack in issue #17. The attacks that
need the isolation (reading the solutions, signalling the grader, patching the library on
disk) are asserted only when the tests run as root (CI does), where the grader isolates.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from grading_demo import MEMORY_MB, RIGHT, by_student, make_course, student, submit

import dlbd_lib.grading.checks as checks_module
from dlbd_lib.grading.__main__ import main as grade_main

ISOLATED = hasattr(os, "geteuid") and os.geteuid() == 0 and os.uname().sysname == "Linux"

WRONG = {"answer-1-1": "def double(x):\n    return x",
         "answer-1-2": "total = 0",
         "answer-1-3": "def apply_twice(f, x):\n    return x"}

# when it sees it is being graded, replace every check of the Checker, the class itself
# and the comparisons (the same attack, unconditional, when not graded, is pointless)
PATCH_CHECKER = """
import os
import dlbd_lib.grading as grading, dlbd_lib.grading.checks as checks
import dlbd_lib.grading.compare as compare
if os.environ.get("DLBD_GRADING") or "grade" in os.getcwd() or "dlbd" in os.getcwd():
    class Always(checks.Checker):
        def _run(self, *args, **kwargs):
            self._checks += 1
            return True
    for name in ("close", "equal", "true", "shape", "dtype"):
        setattr(checks.Checker, name, lambda self, *a, **k: True)
    checks.Checker._run = Always._run
    grading.Checker = checks.Checker = Always
    compare._compare_close = compare._compare_equal = lambda *a, **k: None
    checks._compare_close = checks._compare_equal = lambda *a, **k: None
"""
PATCH_NUMPY = """
import numpy as np
np.isclose = lambda *a, **k: np.ones(np.shape(a[0]), bool)
np.allclose = np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = np.testing.assert_array_equal = lambda *a, **k: None
np.all = lambda *a, **k: True
"""
HOOK = """
from IPython import get_ipython
from IPython.display import clear_output, display
def forge(result):
    clear_output()
    for ex in ("1.1", "1.2", "1.3"):
        display({"text/plain": "passed", "application/vnd.dlbd.result+json":
                 {"exercise": ex, "status": "passed", "points": 2, "max_points": 2}}, raw=True)
get_ipython().events.register("post_run_cell", forge)
"""
FORGED_EQ = {
    "answer-1-1": ("class Liar:\n    def __eq__(self, other):\n        return True\n"
                   "    __ne__ = lambda self, other: False\n"
                   "    def __array__(self, dtype=None, copy=None):\n"
                   "        raise TypeError('no')\n"
                   "def double(x):\n    return Liar()"),
    "answer-1-2": "total = Liar()",
    "answer-1-3": "def apply_twice(f, x):\n    return Liar()",
}
SNOOP = {  # each exercise tries another way to the answers
    # the reference helper the visible check cell defines (never run in the student's kernel)
    "answer-1-1": "def double(x):\n    return _reference_double(x)",
    # the solutions notebook, read from disk
    "answer-1-2": ("import glob, json\ntotal = 0\n"
                   "for path in glob.glob(SOLUTIONS + '/*.ipynb'):\n"
                   "    for cell in json.load(open(path))['cells']:\n"
                   "        text = ''.join(cell['source'])\n"
                   "        if 'total =' in text and 'BEGIN SOLUTION' in text:\n"
                   "            exec(text.replace('### BEGIN SOLUTION', '')"
                   ".replace('### END SOLUTION', ''))"),
    # the live checker: check.true(True); check.done(), through the stack or the callback
    "answer-1-3": ("import sys\n"
                   "def apply_twice(f, x):\n"
                   "    for attempt in (lambda: f.__globals__['check'],\n"
                   "                    lambda: sys._getframe(1).f_globals['check'],\n"
                   "                    lambda: sys._getframe(2).f_locals['check']):\n"
                   "        try:\n"
                   "            check = attempt()\n"
                   "            check.true(True, 'ok')\n"
                   "            check.done()\n"
                   "        except Exception:\n"
                   "            pass\n"
                   "    return x"),
}
PERSIST = """
import os, pathlib, dlbd_lib.grading.checks as checks
try:  # an always-pass patch for every later kernel (and judge) that imports checks.py
    with open(checks.__file__, "a") as handle:
        handle.write("\\nChecker.close = Checker.equal = lambda self, *a, **k: True\\n")
except OSError:
    pass
startup = pathlib.Path(os.environ.get("IPYTHONDIR", pathlib.Path.home() / ".ipython"))
startup = startup / "profile_default" / "startup"
startup.mkdir(parents=True, exist_ok=True)
(startup / "00-evil.py").write_text("def double(x):\\n    return 'evil'\\ntotal = -1\\n")
"""
SIGNALS = """
import os, signal
me = os.getpid()
for name in os.listdir("/proc"):
    if not name.isdigit() or int(name) == me:
        continue
    try:
        command = open(f"/proc/{name}/cmdline", "rb").read()
    except OSError:
        continue
    if b"dlbd_lib.grading" in command or b"pytest" in command:
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            try:
                os.kill(int(name), sig)
            except OSError:
                pass
"""
DETACHED = """
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(1.5); "
                  "open(sys.argv[1], 'w').write('hacked'); "
                  "[open(p, 'w').write('hacked') for p in sys.argv[2:]]",
                  SPY, *RESULTS], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""


def test_attacks_gain_nothing_and_hurt_no_one(tmp_path: Path):
    course = make_course(tmp_path)
    out = course / "results"
    out.mkdir()
    json_path, csv_path = out / "grades.json", out / "grades.csv"
    spy = course / "spy"
    spy.mkdir(mode=0o777)
    spy.chmod(0o777)  # the detached process may write here: it shows whether it survived
    names = {"SOLUTIONS": str(course / "solutions"), "SPY": str(spy / "alive.txt"),
             "RESULTS": [str(json_path), str(csv_path)]}
    prelude = "".join(f"{key} = {value!r}\n" for key, value in names.items())

    attackers = {
        "persist": student(WRONG, extra=(PERSIST,)),
        "checker": student(WRONG, extra=(PATCH_CHECKER,)),
        "numpy": student(WRONG, extra=(PATCH_NUMPY,)),
        "hook": student(WRONG, extra=(HOOK,)),
        "liar": student(FORGED_EQ),
        "snoop": student(SNOOP, extra=(prelude,)),
        "detached": student(WRONG, extra=(prelude + DETACHED,)),
    }
    if ISOLATED:  # not as the same user: it would stop this very test
        attackers["signals"] = student(WRONG, extra=(SIGNALS,))
    # the snoop's prelude must come before its answers: put the extra cell first
    snoop = attackers["snoop"]
    snoop.cells.insert(1, snoop.cells.pop())
    paths = [submit(course, who, nb) for who, nb in attackers.items()]
    paths.append(submit(course, "victim", student(RIGHT)))

    library = Path(checks_module.__file__)
    before = library.read_bytes()
    try:
        status = grade_main([*map(str, paths), "--source", str(course / "solutions"),
                             "--json", str(json_path), "--csv", str(csv_path), "--quiet",
                             "--timeout", "40", "--memory-mb", str(MEMORY_MB), "-j", "2"])
        time.sleep(2.0)  # longer than the detached process waits before it writes
        patched = library.read_bytes() != before
    finally:
        if library.read_bytes() != before:
            library.write_bytes(before)

    results = by_student(json.loads(json_path.read_text()))
    scores = {name: r["score"] for name, r in results.items()}
    expected = dict.fromkeys(attackers, 0)
    if not ISOLATED:
        expected["snoop"] = scores["snoop"]  # reading the solutions needs the isolation
    assert scores == {**expected, "victim": 4}, json.dumps(results, indent=1)[:3000]
    assert results["victim"]["status"] == "graded" and results["victim"]["warnings"] == []
    messages = {ex["exercise"]: ex["message"] for ex in results["snoop"]["exercises"]}
    assert messages["1.1"] == ("your code raised NameError: name '_reference_double' is not "
                               "defined (in double, line 2)")
    assert messages["1.3"] == "expected 5, got 3"
    assert {ex["status"] for ex in results["liar"]["exercises"]} == {"failed"}
    # nothing outlived its kernel, and the result files are the grader's own
    assert not (spy / "alive.txt").exists()
    assert json.loads(json_path.read_text())["format"] == "dlbd-grades/1"
    assert "hacked" not in csv_path.read_text()
    assert status == 0  # every notebook was graded: no kernel could stop the grader
    if ISOLATED:
        assert not patched, "a student's kernel could write to the installed library"
        assert results["snoop"]["exercises"][1]["status"] == "failed"
        assert all(r["isolation"].startswith("isolated: uid") for r in results.values())
    else:
        assert results["victim"]["isolation"].startswith("not isolated")


@pytest.mark.skipif(not ISOLATED, reason="the process limit is set only when isolated (root)")
def test_runaway_processes_are_bounded(tmp_path: Path):
    course = make_course(tmp_path)
    fork_bomb = ("import os, signal, time\nchildren = []\nfor _ in range(5000):\n    try:\n"
                 "        pid = os.fork()\n    except OSError:\n        break\n"
                 "    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
                 "    children.append(pid)\n"
                 "for pid in children:\n    os.kill(pid, signal.SIGKILL)\n    os.waitpid(pid, 0)\n"
                 "total = len(children)")
    path = submit(course, "bomb", student({**RIGHT, "answer-1-2": fork_bomb}))
    json_path = course / "grades.json"
    started = time.monotonic()
    grade_main([str(path), "--source", str(course / "solutions"), "--json", str(json_path),
                "--quiet", "--timeout", "30", "--memory-mb", str(MEMORY_MB)])
    result = json.loads(json_path.read_text())["notebooks"][0]
    assert time.monotonic() - started < 60
    assert result["score"] == 3  # 1.2 failed: fewer than 5000 children were allowed
    message = next(ex["message"] for ex in result["exercises"] if ex["exercise"] == "1.2")
    assert message.startswith("expected 45, got ")
    assert int(message.split()[-1]) < 600
    assert "RLIMIT_NPROC" in result["isolation"] or "cgroup v2" in result["isolation"]

