"""The judge: grades one notebook in a process of its own that never runs student code.

``python -m dlbd_lib.grading.judge PLAN.json RESULT.json`` (the grader starts it; see
``grade``). It starts the student's kernel (``runner``), queues the student's cells there
(check cells left out), and meanwhile runs the trusted cells of the solutions notebook
(setup and check cells, hidden tests included) in its own namespace. At each answer cell
the names that cell defines are bound to the student's values: plain data by value,
functions, classes and other objects as ``rpc.Remote`` handles that call into the kernel.
Every ``Checker`` verdict is computed here, from plain data, and written to RESULT.json.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import traceback
from typing import Any

from . import checks, sandbox
from .rpc import ChannelError, Endpoint, Remote
from .runner import KernelRun


class _Missing:
    """Stands for a name the student's kernel does not define: any use raises NameError."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        error = NameError(f"name {self._name!r} is not defined")
        error._dlbd_where = ""  # type: ignore[attr-defined]  (nowhere in the student's code)
        raise error

    __call__ = __getattr__ = __getitem__ = __iter__ = __len__ = __array__ = _fail
    __float__ = __int__ = __bool__ = _fail


def _resolver(endpoint: Endpoint) -> Any:
    """The Checker hook that turns handles into plain data before anything is compared."""

    def resolve(value: Any) -> Any:
        if type(value) is Remote:
            return endpoint.request("plain", value)
        if type(value) in (list, tuple) and any(type(v) is Remote for v in value):
            return type(value)(resolve(v) for v in value)
        if isinstance(value, _Missing):
            value._fail()
        return value

    return resolve


def _teach_inspect(endpoint: Endpoint) -> None:
    """``inspect.getsource`` (and ``getsourcelines``) of a student's function: its source, as
    text, from the kernel, so a check can look at how an answer is written."""
    import inspect  # noqa: PLC0415

    original, original_lines = inspect.getsource, inspect.getsourcelines

    def getsource(obj: Any) -> str:
        return str(endpoint.request("source", obj)) if type(obj) is Remote else original(obj)

    def getsourcelines(obj: Any) -> tuple[list[str], int]:
        if type(obj) is Remote:
            return getsource(obj).splitlines(keepends=True), 1
        return original_lines(obj)

    inspect.getsource, inspect.getsourcelines = getsource, getsourcelines


def _remote_tensor_factory(endpoint: Endpoint) -> Any:
    from dlbd_lib.tensor import Function, Tensor  # noqa: PLC0415

    class RemoteOp(Function):
        """A tensor computed by the student's code: backward through it runs in the kernel."""

        def backward(self, grad_out: Any) -> tuple:
            grads = endpoint.request("backward", self.handle, grad_out, self.mids)
            return tuple(grads)

        @property
        def name(self) -> str:
            return "StudentOp"

    def make(data: Any, handle: int) -> Any:
        inputs = tuple(endpoint.codec.grad_inputs)
        tensor = Tensor._make(data, data.dtype.kind == "f")
        if tensor.requires_grad:
            op = RemoteOp()
            op.handle = endpoint.remote({"id": handle})
            op.mids = [endpoint.codec._mirror(t) for t in inputs]
            op.inputs = inputs
            op.needs_grad = [True] * len(inputs)
            op.versions = [t._version for t in inputs]
            tensor._ctx = op
        return tensor

    return make


class JudgeEndpoint(Endpoint):
    """The judge's side: refuses to go on once the channel broke; tracks the tensors it sends
    during one top-level request (they become the inputs of ``RemoteOp``)."""

    def __init__(self, judge: Judge) -> None:
        super().__init__("judge", judge.run.exchange)
        self.judge = judge
        self.depth = 0
        self.codec.make_remote_tensor = _remote_tensor_factory(self)
        self.codec.share_file = judge.run.share_file

    def request(self, op: str, *args: Any, **kwargs: Any) -> Any:
        if self.judge.broken:
            raise ChannelError(self.judge.broken)
        self.depth += 1
        if self.depth == 1:
            self.codec.grad_inputs = []
        try:
            return super().request(op, *args, **kwargs)
        except ChannelError as exc:
            self.judge.broken = self.judge.broken or str(exc)
            raise
        finally:
            self.depth -= 1


class Judge:
    """Runs the trusted cells against one student's kernel; collects one verdict per check."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.run = KernelRun(plan)
        self.endpoint: Endpoint | None = None
        self.namespace: dict[str, Any] = {"__name__": "__main__"}
        self.verdicts: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []
        self.broken: str | None = None

    def connect(self) -> Endpoint:
        """The channel to the student's kernel, once every student cell has run."""
        if self.endpoint is None:
            self.run.wait_for_student()
            endpoint = JudgeEndpoint(self)
            self.run.start_agent()
            self.endpoint = endpoint
            checks.RESOLVE = _resolver(endpoint)
            _teach_inspect(endpoint)
        return self.endpoint

    def bind(self, names: list[str]) -> None:
        endpoint = self.connect()
        for name in names:
            try:
                self.namespace[name] = endpoint.request("global", name)
            except NameError:
                self.namespace[name] = _Missing(name)

    def execute(self, cell: dict[str, Any]) -> None:
        code = compile(cell["source"], f"<{cell['kind']} cell {cell['index']}>", "exec")
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            exec(code, self.namespace)  # noqa: S102  (trusted: the solutions' own cells)

    def grade(self) -> dict[str, Any]:
        checks.SINK = []
        for cell in self.plan["trusted"]:
            if cell["kind"] == "answer":
                if not self.broken:
                    self._guard(lambda c=cell: self.bind(c["names"]), None)
                continue
            exercise = cell.get("exercise")
            if cell["kind"] == "check" and self.broken:
                self.verdicts[exercise] = {"status": "not-run", "message": ""}
                continue
            before = len(checks.SINK)
            self._guard(lambda c=cell: self.execute(c), exercise)
            if cell["kind"] == "check" and exercise not in self.verdicts:
                self._record(exercise, checks.SINK[before:])
        if self.endpoint is not None and not self.broken:
            with contextlib.suppress(Exception, ChannelError):
                self.endpoint.request("bye")
        return self.run.finish(self.verdicts, self.notes, self.broken)

    def _guard(self, action: Any, exercise: str | None) -> None:
        try:
            action()
        except ChannelError as exc:
            self.broken = self.broken or str(exc)
            if exercise is not None:  # the student's code hung, died or broke the channel
                self.verdicts[exercise] = {"status": "failed",
                                           "message": f"{self.broken} while this check ran"}
        except Exception as exc:
            line = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
            if exercise is not None:
                self.verdicts[exercise] = {"status": "error",
                                           "message": f"the check cell raised {line}"}
            else:
                self.notes.append(f"the grader's copy of a setup cell raised {line}")

    def _record(self, exercise: str, results: list[Any]) -> None:
        mine = [r for r in results if r.exercise == exercise]
        if len(mine) != 1:
            self.verdicts[exercise] = {"status": "error",
                                       "message": "the check cell showed no result"}
            return
        result = mine[0]
        if result.status == "unchecked":
            self.verdicts[exercise] = {"status": "error", "message": "the check cell ran no checks"}
        else:
            self.verdicts[exercise] = {"status": result.status, "message": result.message}


def main(argv: list[str] | None = None) -> int:
    """Grade the plan in argv[0]; write the result to argv[1]."""
    args = sys.argv[1:] if argv is None else argv
    with open(args[0], encoding="utf-8") as handle:
        plan = json.load(handle)
    sandbox.become_subreaper()
    os.environ.pop("NBGRADER_EXECUTION", None)
    os.environ.pop("DLBD_STRICT_CHECKS", None)
    started = time.monotonic()
    judge = Judge(plan)
    try:
        result = judge.grade()
    except BaseException as exc:  # noqa: BLE001  (always leave a result behind)
        judge.run.kill()
        result = {"status": "error", "verdicts": judge.verdicts,
                  "message": f"grader error: {type(exc).__name__}: {exc}",
                  "trace": traceback.format_exc()[-2000:]}
    result["seconds"] = time.monotonic() - started
    tmp = args[1] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    os.replace(tmp, args[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
