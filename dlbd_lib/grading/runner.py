"""Run one notebook in a fresh, limited kernel and report how the run ended.

The kernel (``python3``) starts in an empty scratch folder made for this run, which becomes
its working directory and is deleted afterwards. Its address space is capped with
``RLIMIT_AS`` (set, soft and hard, by a tiny wrapper that then ``exec``\\ s the kernel, so the
student's code cannot raise it again). The whole notebook gets one wall-clock budget, counted
from its first cell; a cell that raises does not stop the others (``allow_errors``). At the
end the kernel's whole process group is killed, including anything it started.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from .markers import RESULT_MIMETYPE

try:
    import resource  # noqa: F401  (POSIX only: no memory limit elsewhere)

    HAVE_RLIMIT = True
except ImportError:  # pragma: no cover - Windows
    HAVE_RLIMIT = False

#: Output a cell may produce before the grader stops keeping it (characters of text).
MAX_OUTPUT_CHARS = 200_000

_LIMIT_WRAPPER = (
    "import os, resource, sys\n"
    "n = int(sys.argv[1])\n"
    "try:\n"
    "    resource.setrlimit(resource.RLIMIT_AS, (n, n))\n"
    "except (ValueError, OSError):\n"
    "    pass\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)

_log = logging.getLogger("dlbd_lib.grading.kernel")
_log.addHandler(logging.NullHandler())
_log.propagate = False


@dataclass
class Execution:
    """How a run ended: ``ok``, ``timeout``, ``crashed`` or ``error``, and in which cell."""

    status: str
    message: str = ""
    cell_index: int | None = None
    seconds: float = 0.0


def _limited_manager(memory_bytes: int | None) -> type[AsyncKernelManager]:
    class LimitedKernelManager(AsyncKernelManager):
        """Starts the kernel through a wrapper that caps its address space."""

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            cmd = super().format_kernel_cmd(extra_arguments)
            if memory_bytes and HAVE_RLIMIT:
                cmd = [sys.executable, "-c", _LIMIT_WRAPPER, str(memory_bytes), *cmd]
            return cmd

    return LimitedKernelManager


class _GradingClient(NotebookClient):
    """A NotebookClient that keeps at most MAX_OUTPUT_CHARS of output per cell."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.output_chars: dict[int, int] = {}
        self.current_cell: int | None = None
        self.kernel_pgid: int | None = None

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
        out = super().output(outs, msg, display_id, cell_index)
        if out is None or display_id or RESULT_MIMETYPE in out.get("data", {}):
            return out
        data = out.get("data", {})
        size = len(str(out.get("text", ""))) + sum(len(str(v)) for v in data.values())
        used = self.output_chars.get(cell_index, 0)
        self.output_chars[cell_index] = used + size
        if used + size > MAX_OUTPUT_CHARS and outs and outs[-1] is out:
            outs.pop()
            if used <= MAX_OUTPUT_CHARS:
                note = {"output_type": "stream", "name": "stderr",
                        "text": "[the grader kept only the first part of this cell's output]\n"}
                outs.append(NotebookNode(note))
        return out


def execute_notebook(
    nb: NotebookNode,
    *,
    timeout: float,
    memory_mb: int | None = None,
    kernel_name: str = "python3",
    startup_timeout: float = 60,
) -> Execution:
    """Run ``nb`` in place in a fresh kernel; never raises for what the notebook does.

    ``timeout`` is the wall-clock budget in seconds for all cells together, ``memory_mb``
    the kernel's address-space limit (None or 0: no limit).
    """
    scratch = tempfile.mkdtemp(prefix="dlbd-grade-")
    deadline: list[float] = []

    def cell_timeout(cell: NotebookNode) -> float:
        now = time.monotonic()
        if not deadline:
            deadline.append(now + timeout)
        return max(deadline[0] - now, 0.01)

    memory_bytes = int(memory_mb) * 1024 * 1024 if memory_mb else None
    client = _GradingClient(
        nb,
        kernel_name=kernel_name,
        timeout=int(timeout) or 1,
        timeout_func=cell_timeout,
        startup_timeout=int(startup_timeout),
        allow_errors=True,
        interrupt_on_timeout=False,
        shutdown_kernel="immediate",
        record_timing=False,
        store_widget_state=False,
        kernel_manager_class=_limited_manager(memory_bytes),
        log=_log,
    )

    def on_cell_start(cell: NotebookNode, cell_index: int) -> None:
        client.current_cell = cell_index
        if client.kernel_pgid is None and client.km is not None:
            client.kernel_pgid = getattr(client.km.provisioner, "pgid", None)

    client.on_cell_start = on_cell_start
    env = dict(os.environ, MPLBACKEND="agg", DLBD_GRADING="1", PYTHONDONTWRITEBYTECODE="1")
    # Each thread's malloc arena reserves address space; with RLIMIT_AS that adds up on
    # machines with many cores, so keep the number of arenas small.
    env.setdefault("MALLOC_ARENA_MAX", "4")
    started = time.monotonic()
    try:
        client.execute(cwd=scratch, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = Execution("ok")
    except CellTimeoutError:
        result = Execution("timeout", f"time limit of {timeout:g} s reached", client.current_cell)
    except DeadKernelError:
        limit = f" or hit the memory limit of {memory_mb} MB" if memory_mb else ""
        result = Execution("crashed", f"the kernel died (it crashed, exited{limit})",
                           client.current_cell)
    except Exception as exc:  # the kernel did not start, the client broke
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        if client.current_cell is None:
            low = f" (is the memory limit of {memory_mb} MB too low?)" if memory_mb else ""
            message = f"the kernel did not start: {first}{low}"
        else:
            message = f"could not run the notebook: {type(exc).__name__}: {first}"
        result = Execution("error", message, client.current_cell)
    finally:
        # nbclient leaves its exit hook behind when the kernel fails to start.
        atexit.unregister(client._cleanup_kernel)
        _kill_group(client.kernel_pgid)
        shutil.rmtree(scratch, ignore_errors=True)
    result.seconds = time.monotonic() - started
    return result


def _kill_group(pgid: int | None) -> None:
    """Kill what is left of the kernel's process group (the kernel made it its own session)."""
    if pgid is None or not hasattr(os, "killpg") or pgid == os.getpgid(0):
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
