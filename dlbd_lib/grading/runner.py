"""The student's kernel: start it limited (and isolated when we can), run the student's cells,
then carry the judge's requests to the agent in it, and kill its whole process tree at the end.

The kernel (``python3``) starts in an empty scratch folder made for this run, with a fresh
HOME and IPYTHONDIR inside it, through ``sandbox``, which sets the limits (and, as root, the
user, the mount namespace and the cgroup) before it ``exec``\\ s the kernel. All the
student's cells are queued at once; a cell that raises does not stop the others. The whole
notebook has one wall-clock budget (the plan's ``timeout``) that also bounds the judging.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sys
import tempfile
import time
from typing import Any

from jupyter_client import KernelManager

from . import sandbox
from .rpc import ChannelError

_AGENT = "import dlbd_lib.grading.agent as _dlbd_agent\n_dlbd_agent.serve()"


class KernelRun:
    """One student's kernel, from start to kill."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.timeout = float(plan["timeout"])
        self.deadline = time.monotonic() + self.timeout
        self.scratch = tempfile.mkdtemp(prefix="dlbd-run-")
        self.box = sandbox.Sandbox(self.scratch, memory_mb=plan.get("memory_mb"),
                                   hide=plan.get("hide", []), slot=int(plan.get("slot", 0)))
        self.status, self.message, self.cell_index = "ok", "", None
        self.errors: list[dict[str, Any]] = []
        self.replies: dict[str, dict[str, Any]] = {}
        self.order: list[tuple[str, int]] = []
        self.serve_id: str | None = None
        self.km: Any = None
        self.kc: Any = None
        self.shared = 0
        self._start()

    # -- the student's notebook ----------------------------------------------------------

    def _start(self) -> None:
        # A kernel that dies before its first reply is retried once: on a loaded machine a
        # start can fail for reasons that have nothing to do with the student's notebook
        # (seen once in CI: "Kernel died before replying to kernel_info"). A second failure
        # is reported, with the memory limit named as the likely cause when one is set.
        for attempt in (1, 2):
            error = self._start_kernel()
            if error is None:
                break
            self._kill_kernel()
            self.km = self.kc = None
            if attempt == 2 or self.deadline - time.monotonic() < 5:
                low = " (is the memory limit too low?)" if self.plan.get("memory_mb") else ""
                self._stop("error", f"the kernel did not start: {error}{low}")
                return
        for index, source in self.plan["student_cells"]:
            msg_id = self.kc.execute(source, store_history=True, allow_stdin=False,
                                     stop_on_error=False)
            self.order.append((msg_id, index))

    def _start_kernel(self) -> str | None:
        """Start the student's kernel in the box; None when it is ready, else the error."""
        box = self.box
        env = box.environment(dict(os.environ))
        self.km = KernelManager(kernel_name="python3")
        self.km.kernel_cmd = None  # type: ignore[assignment]
        original = self.km.format_kernel_cmd

        def format_kernel_cmd(extra_arguments: list[str] | None = None) -> list[str]:
            return box.wrap(original(extra_arguments))

        self.km.format_kernel_cmd = format_kernel_cmd  # type: ignore[method-assign]
        self.km.connection_file = os.path.join(self.scratch, "kernel.json")
        try:
            self.km.start_kernel(cwd=self.scratch, env=env, stdout=open(os.devnull, "w"),
                                 stderr=open(os.environ.get("DLBD_KERNEL_LOG", os.devnull), "w"),
                                 start_new_session=True)
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=max(min(60.0, self.deadline - time.monotonic()), 1))
        except Exception as exc:  # the kernel did not start
            return (str(exc).strip().splitlines() or [""])[0][:200]
        return None

    def wait_for_student(self) -> None:
        """Wait until every student cell has run (or the time is up, or the kernel died)."""
        if self.status != "ok":
            raise ChannelError(self.message)
        pending = {msg_id for msg_id, _ in self.order} - set(self.replies)
        while pending:
            reply = self._shell_reply()
            if reply is None:
                continue
            parent = reply["parent_header"].get("msg_id")
            if parent in pending:
                pending.discard(parent)
                self.replies[parent] = reply["content"]
                if reply["content"].get("status") == "error":
                    index = dict(self.order)[parent]
                    self.errors.append({"cell": index, "ename": reply["content"].get("ename", ""),
                                        "evalue": reply["content"].get("evalue", "")})

    def _running_cell(self) -> int | None:
        for msg_id, index in self.order:
            if msg_id not in self.replies:
                return index
        return None

    def _shell_reply(self) -> dict[str, Any] | None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self._stop("timeout", f"time limit of {self.timeout:g} s reached", self._running_cell())
            raise ChannelError(self.message)
        try:
            return self.kc.get_shell_msg(timeout=min(remaining, 0.5))
        except queue.Empty:
            if not self.km.is_alive():
                self._died()
            return None

    def _died(self) -> None:
        limit = f" or hit the memory limit of {self.plan['memory_mb']} MB" if self.plan.get(
            "memory_mb") else ""
        self._stop("crashed", f"the kernel died (it crashed, exited{limit})", self._running_cell())
        raise ChannelError(self.message)

    # -- the judge's requests -------------------------------------------------------------

    def start_agent(self) -> None:
        self.serve_id = self.kc.execute(_AGENT, store_history=False, allow_stdin=True,
                                        stop_on_error=False)
        hello = self._prompt()
        if hello.get("hello") != 1:
            raise ChannelError("the grader's agent did not start in your kernel")

    def exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        self.kc.input(json.dumps(message, allow_nan=True))
        return self._prompt()

    def _prompt(self) -> dict[str, Any]:
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self._stop("timeout", f"time limit of {self.timeout:g} s reached")
                raise ChannelError(self.message)
            try:
                msg = self.kc.get_stdin_msg(timeout=min(remaining, 0.5))
            except queue.Empty:
                if not self.km.is_alive():
                    self._died()
                self._agent_ended()
                continue
            if (msg.get("msg_type") != "input_request"
                    or msg["parent_header"].get("msg_id") != self.serve_id):
                continue
            try:
                return json.loads(msg["content"]["prompt"])
            except (ValueError, KeyError, TypeError):
                raise ChannelError("your kernel sent the grader something it cannot read") from None

    def _agent_ended(self) -> None:
        try:
            reply = self.kc.get_shell_msg(timeout=0)
        except queue.Empty:
            return
        if reply["parent_header"].get("msg_id") == self.serve_id:
            raise ChannelError("your kernel stopped answering the grader")

    def share_file(self, path: str) -> str:
        """Copy a file the judge passes as a memory map to where the kernel can read it."""
        self.shared += 1
        target = os.path.join(self.scratch, ".dlbd-shared", f"{self.shared}.bin")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target)
        self.box.give(os.path.dirname(target))
        self.box.give(target)
        return target

    # -- the end --------------------------------------------------------------------------

    def _stop(self, status: str, message: str, cell: int | None = None) -> None:
        if self.status == "ok":
            self.status, self.message, self.cell_index = status, message, cell
        self.kill()

    def _kill_kernel(self) -> None:
        """Close the kernel's channels and kill it and everything it started (it may
        already be dead)."""
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:
                pass
        if self.km is not None:
            self.box.kill_tree(self.km)

    def kill(self) -> None:
        """Kill the kernel and everything it started; remove the scratch folder."""
        self._kill_kernel()
        self.box.cleanup()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def finish(self, verdicts: dict[str, Any], notes: list[str], broken: str | None) -> dict:
        if self.status == "ok":
            try:
                self.wait_for_student()  # a no-op unless the judge never needed the kernel
            except ChannelError:
                pass
        self.kill()
        return {"status": self.status, "message": self.message, "cell_index": self.cell_index,
                "errors": self.errors, "verdicts": verdicts, "notes": notes,
                "isolation": self.box.describe(), "python": sys.version.split()[0]}
