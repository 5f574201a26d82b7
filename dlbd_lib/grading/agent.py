"""The grader's agent inside a student's kernel: answers the judge's requests, nothing more.

After the student's notebook has run (check cells left out), the judge executes
``dlbd_lib.grading.agent.serve()`` in the kernel. From then on the kernel only answers
requests that arrive through Jupyter's stdin channel (``input_request`` / ``input_reply``):
read one of the student's names, call a function, read an attribute, convert a value to
plain data... Everything it sends is plain data (see ``wire``). Patching this module, numpy
or anything else in the kernel changes only the values this student's code produces: the
judge compares them itself, in its own process.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np

from .rpc import Endpoint

_HERE = os.path.dirname(os.path.abspath(__file__))


def _library_frame(filename: str) -> bool:
    path = filename.replace("\\", "/")
    return (path.startswith(_HERE.replace("\\", "/")) or "/site-packages/" in path
            or "/lib/python" in path)


def build_tensor(node: dict[str, Any], codec: Any) -> Any:
    """A copy of one of the judge's tensors; a computed one keeps a stand-in ``grad_fn``."""
    from dlbd_lib import Tensor  # noqa: PLC0415
    from dlbd_lib.nn import Parameter  # noqa: PLC0415

    from .plain import _from_npy  # noqa: PLC0415

    data = _from_npy(node["d"])
    if node.get("fn") is not None:
        tensor = Tensor._make(data, bool(node["rg"]))
        inputs = tuple(codec.copies[m] for m in node["in"])
        tensor._ctx = _judge_node(str(node["fn"]), inputs)
    elif node.get("param"):
        tensor = Parameter(data, requires_grad=bool(node["rg"]))
    else:
        tensor = Tensor(data, requires_grad=bool(node["rg"]) and data.dtype.kind == "f")
    if node.get("g") is not None:
        tensor.grad = _from_npy(node["g"])
    return tensor


def refresh_tensor(copy: Any, node: dict[str, Any], codec: Any) -> None:
    """The judge sent a tensor again: bring the kernel's copy up to date."""
    from .plain import _from_npy, fingerprint  # noqa: PLC0415

    data = _from_npy(node["d"])
    if data.shape == copy.data.shape and data.dtype == copy.data.dtype:
        copy.data[...] = data
    else:
        copy.data = data
    copy.grad = None if node.get("g") is None else _from_npy(node["g"])
    if node["m"] in codec.watch:
        codec.watch[node["m"]] = (copy, fingerprint(copy))


_JUDGE_OP: Any = None


def _judge_node(name: str, inputs: tuple) -> Any:
    global _JUDGE_OP
    if _JUDGE_OP is None:
        from dlbd_lib.tensor import Function  # noqa: PLC0415

        class JudgeOp(Function):
            """Stands for an op the judge ran: keeps the graph's shape, collects the gradient."""

            @property
            def name(self) -> str:
                return self.op_name

            def backward(self, grad_out: np.ndarray) -> tuple:
                self.collected = (grad_out if self.collected is None
                                  else self.collected + grad_out)
                return (None,) * len(self.inputs)

        _JUDGE_OP = JudgeOp
    node = _JUDGE_OP()
    node.op_name = name
    node.collected = None
    node.inputs = inputs
    node.needs_grad = [getattr(i, "requires_grad", False) for i in inputs]
    node.versions = [getattr(i, "_version", 0) for i in inputs]
    return node


def to_plain(value: Any) -> Any:
    """``value`` as plain data for a check: tensors become arrays, containers are walked."""
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value] if type(value) is list else tuple(
            to_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | complex | str | bytes
                                   | np.ndarray | np.generic):
        return value
    if "scipy.sparse" in sys.modules and sys.modules["scipy.sparse"].issparse(value):
        return value
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.to_dense() if value.layout != torch.strided else value).numpy()
    for method in ("detach", "cpu", "numpy"):
        attribute = getattr(value, method, None)
        if callable(attribute) and not isinstance(value, np.ndarray):
            value = attribute()
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__array__"):
        return np.asarray(value)
    raise TypeError(f"expected numbers, got a {type(value).__name__} object")


class KernelEndpoint(Endpoint):
    """The kernel's side: every operation is allowed on the student's own objects."""

    def __init__(self, exchange: Any, namespace: dict[str, Any]) -> None:
        super().__init__("kernel", exchange, _library_frame)
        self.namespace = namespace
        self.done = False

    def op_global(self, name: str) -> Any:
        if name not in self.namespace:
            raise NameError(f"name {name!r} is not defined")
        return self.namespace[name]

    def op_plain(self, value: Any) -> Any:
        return to_plain(value)

    def op_source(self, value: Any) -> str:
        import inspect  # noqa: PLC0415

        return inspect.getsource(value)

    def op_backward(self, tensor: Any, gradient: Any, mids: list[str]) -> list[Any]:
        """Backward from one of the student's tensors; the gradients of the judge's tensors."""
        copies = [self.codec.copies.get(m) for m in mids]
        saved = []
        for copy in copies:
            node = getattr(copy, "_ctx", None)
            saved.append((copy.grad if copy is not None else None,
                          getattr(node, "collected", None)))
            if copy is not None:
                copy.grad = None
                if node is not None and hasattr(node, "collected"):
                    node.collected = None
        tensor.backward(gradient)
        out = []
        for copy, (grad, collected) in zip(copies, saved):
            node = getattr(copy, "_ctx", None)
            got = None if copy is None else (copy.grad if node is None else node.collected)
            out.append(None if got is None else np.asarray(got))
            if copy is not None:
                copy.grad = grad
                if node is not None and hasattr(node, "collected"):
                    node.collected = collected
        return out

    def op_bye(self) -> None:
        self.done = True


def serve() -> None:
    """Answer the judge's requests until it says goodbye (run by the judge, not by students)."""
    from IPython import get_ipython  # noqa: PLC0415

    shell = get_ipython()
    kernel = shell.kernel

    def exchange(message: dict) -> dict:
        reply = kernel.raw_input(json.dumps(message, allow_nan=True))
        return json.loads(reply)

    serve_loop(KernelEndpoint(exchange, shell.user_ns))


def serve_loop(endpoint: KernelEndpoint) -> None:
    """Say hello, then answer requests until the judge says goodbye."""
    message = endpoint.send({"hello": 1})
    while True:
        if "req" not in message:
            message = endpoint.send({"err": {"mro": ["builtins:ValueError"],
                                             "msg": "expected a request"}})
            continue
        reply = endpoint.serve_one(message)
        if endpoint.done:
            endpoint.exchange(reply)
            return
        message = endpoint.send(reply)
        endpoint.codec.watch.clear()  # in-place changes count during their request only
