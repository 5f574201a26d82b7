"""Test-run set-up for `pytest` (unit tests and notebooks): offline guard, hypothesis, timings."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
GUARD_DIR = ROOT / "tests" / "offline"
ARTIFACTS = ROOT / "test-artifacts"

# ---- offline guard: this process and every Python process it starts -----------------------
_log_fd, _NETWORK_LOG = tempfile.mkstemp(prefix="dlbd-network-", suffix=".log")
os.close(_log_fd)
os.environ["DLBD_NETWORK_LOG"] = _NETWORK_LOG
os.environ["DLBD_OFFLINE_GUARD"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(GUARD_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)
# One BLAS/OpenMP thread per process in tests: the notebooks' small matrix products are as
# fast on one thread, and a busy machine (a shared CI runner) can slow threaded BLAS 100x.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(GUARD_DIR))
import sitecustomize  # noqa: E402,F401  (installs the guard in this process)

sys.path.remove(str(GUARD_DIR))

@pytest.fixture
def no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stricter than the run-wide guard: any connection at all, loopback too, fails the test."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a data function tried to open a connection: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# ---- hypothesis: reproducible in CI ---------------------------------------------------------
try:
    from hypothesis import settings

    settings.register_profile("dlbd", deadline=None, derandomize=True, print_blob=True)
    settings.load_profile("dlbd")
except ImportError:  # pragma: no cover
    pass

# ---- notebook wall times --------------------------------------------------------------------
_notebook_times: dict[str, float] = defaultdict(float)
_notebook_failed: set[str] = set()
_session_start = time.perf_counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_times[path] += report.duration
        if report.failed:
            _notebook_failed.add(path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    tr = terminalreporter
    if _notebook_times:
        tr.section("notebook wall times (all cells, fresh kernel)")
        for path, secs in sorted(_notebook_times.items()):
            flag = "  FAILED" if path in _notebook_failed else ""
            tr.write_line(f"{secs:7.1f} s  {path}{flag}")
        ARTIFACTS.mkdir(exist_ok=True)
        times_file = ARTIFACTS / "notebook-times.json"
        # a run of a few notebooks updates their times and keeps the others' last ones
        times = json.loads(times_file.read_text()) if times_file.exists() else {}
        times.update({k: round(v, 1) for k, v in _notebook_times.items()})
        times_file.write_text(json.dumps(dict(sorted(times.items())), indent=1))
    tr.write_line(f"whole run: {time.perf_counter() - _session_start:.0f} s")
    violations = Path(_NETWORK_LOG).read_text() if Path(_NETWORK_LOG).exists() else ""
    if violations:
        tr.section("NETWORK ACCESS DURING AN OFFLINE TEST RUN", red=True)
        tr.write_line(violations)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    log = Path(_NETWORK_LOG)
    if log.exists() and log.read_text().strip():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
