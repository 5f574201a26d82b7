"""The judge's channel to a student's kernel, without a kernel: two endpoints in one process
(the kernel's side in a thread), talking JSON as they do through Jupyter's stdin channel."""

from __future__ import annotations

import collections
import json
import queue
import threading
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import dlbd_lib as dl
from dlbd_lib.grading import Checker, checks
from dlbd_lib.grading.agent import KernelEndpoint, serve_loop
from dlbd_lib.grading.judge import _remote_tensor_factory, _resolver
from dlbd_lib.grading.rpc import Endpoint, Remote, RemoteError
from dlbd_lib.grading.wire import Codec

KERNEL_CODE = '''
import numpy as np, dlbd_lib as dl
class Liar:
    def __eq__(self, other):
        return True
class Strange(ValueError):
    pass
def scale(x, k=2):
    return k * x
def apply(f, x):
    return f(f(x))
def raises(kind):
    if kind == "strange":
        raise Strange("no good")
    if kind == "exit":
        raise SystemExit(3)
    raise NotImplementedError("Exercise 1.1: your code here")
def steal(f, names=("__globals__", "__closure__", "__code__", "_private")):
    found = {}
    for name in names:
        try:
            found[name] = getattr(f, name)
        except AttributeError as exc:
            found[name] = str(exc)
    return found
def zero_in_place(a):
    a[...] = 0
def windows(a):
    return np.lib.stride_tricks.sliding_window_view(a, 3)
def softplus_sum(t):
    return (t * t).sum()
def count_graph(t):
    seen, stack = 0, [t]
    while stack:
        u = stack.pop()
        seen += 1
        if u.grad_fn is not None:
            stack += [i for i in u.grad_fn.inputs if isinstance(i, dl.Tensor)]
    return seen, t
liar = Liar()
values = (np.float32(1.5), np.arange(3, dtype=np.int16), np.array(["a", "bc"]), {1: "x"},
          collections.namedtuple("Pair", "a b")(1, 2), {3, 4}, b"\\x00\\x01", 2 + 3j, 2**70)
'''


class Pair:
    """A judge and a kernel endpoint connected by queues; the kernel serves in a thread."""

    def __init__(self) -> None:
        to_kernel: queue.Queue[str] = queue.Queue()
        to_judge: queue.Queue[str] = queue.Queue()
        self.namespace: dict[str, Any] = {"collections": collections}
        exec(KERNEL_CODE, self.namespace)

        def kernel_exchange(message: dict) -> dict:
            to_judge.put(json.dumps(message))
            return json.loads(to_kernel.get(timeout=20))

        def judge_exchange(message: dict) -> dict:
            to_kernel.put(json.dumps(message))
            return json.loads(to_judge.get(timeout=20))

        self.to_kernel = to_kernel
        self.kernel = KernelEndpoint(kernel_exchange, self.namespace)
        self.thread = threading.Thread(target=serve_loop, args=(self.kernel,), daemon=True)
        self.thread.start()
        assert json.loads(to_judge.get(timeout=20)).get("hello") == 1
        self.judge = Endpoint("judge", judge_exchange)
        self.judge.codec.make_remote_tensor = _remote_tensor_factory(self.judge)

    def get(self, name: str) -> Any:
        return self.judge.request("global", name)

    def close(self) -> None:
        self.judge.request("bye")
        self.to_kernel.put("{}")  # the kernel's last word waits for an answer
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.fixture
def pair():
    connected = Pair()
    checks.RESOLVE = _resolver(connected.judge)
    checks.SINK = []
    yield connected
    checks.RESOLVE = checks.SINK = None
    connected.close()


def test_plain_values_keep_their_types(pair: Pair):
    values = pair.get("values")
    assert type(values[0]) is np.float32 and values[0] == 1.5
    assert values[1].dtype == np.int16 and values[1].tolist() == [0, 1, 2]
    assert values[2].tolist() == ["a", "bc"]
    assert values[3] == {1: "x"} and values[4].b == 2 and values[5] == {3, 4}
    assert values[6:] == (b"\x00\x01", 2 + 3j, 2**70)
    scale = pair.get("scale")
    assert type(scale) is Remote
    out = scale(np.arange(3.0, dtype=np.float32), k=3)
    assert out.dtype == np.float32 and out.tolist() == [0.0, 3.0, 6.0]
    matrix = scale(sp.random(4, 5, density=0.5, format="csr", random_state=0))
    assert sp.issparse(matrix) and matrix.format == "csr" and matrix.shape == (4, 5)
    assert torch.equal(scale(torch.ones(2, dtype=torch.float64)), torch.full((2,), 2.0,
                                                                              dtype=torch.float64))


def test_a_forged_eq_never_reaches_a_comparison(pair: Pair):
    liar = pair.get("liar")
    assert type(liar) is Remote
    with Checker("1.1") as check:
        check.equal(liar, 45)
    [verdict] = checks.SINK
    assert verdict.status == "failed"
    assert verdict.message == "could not check the answer: TypeError: expected numbers, got a " \
                              "Liar object"


def test_callbacks_run_in_the_judge_and_cannot_reach_its_namespace(pair: Pair):
    secret = 42  # noqa: F841  (what a student would like to read)
    assert pair.get("apply")(lambda v: v * 3, 2) == 18
    found = pair.get("steal")(lambda v: v)
    assert found == {"__globals__": "__globals__", "__closure__": "__closure__",
                     "__code__": "__code__",
                     "_private": "'function' object attribute '_private' is not available to "
                                 "your code while grading"}
    chunks = (np.ones(2) for _ in range(2))
    found = pair.get("steal")(chunks, ("gi_frame", "gi_code"))
    assert all("is not available to your code while grading" in v for v in found.values())
    assert pair.get("apply")(lambda v: v + 1, 1) == 3
    with pytest.raises(TypeError, match="read-only"):
        pair.judge.perform("setattr", [np.zeros(1), "x", 1], {})


def test_errors_keep_builtin_classes_and_never_exit(pair: Pair):
    raises = pair.get("raises")
    with pytest.raises(ValueError, match="no good") as info:
        raises("strange")
    assert info.value._dlbd_type == "Strange" and "in raises, line" in info.value._dlbd_where
    with pytest.raises(RemoteError):
        raises("exit")
    with Checker("1.2") as check:
        check.equal(raises("todo"), 1)
    assert checks.SINK[-1].status == "unanswered"


def test_in_place_changes_views_and_gradients_come_back(pair: Pair):
    data = np.arange(6.0)
    pair.get("zero_in_place")(data)
    assert data.tolist() == [0.0] * 6
    series = np.arange(10.0)
    win = pair.get("windows")(series)
    assert win.shape == (8, 3) and np.shares_memory(win, series) and win[-1].tolist() == [7, 8, 9]

    x = dl.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = x * 3.0  # a judge graph: the kernel's result hangs below it
    loss = pair.get("softplus_sum")(y)
    assert isinstance(loss, dl.Tensor)
    (loss * 2.0).backward()
    assert np.allclose(x.grad, 2.0 * 2 * 3.0 * y.numpy())

    count, same = pair.get("count_graph")(y)
    assert count == 2 and same is y  # the graph went over, the tensor came back as itself


@pytest.mark.parametrize("data", [
    {"$": "nptype", "v": "load"},
    {"$": "builtin", "v": "eval"},
    {"$": "rng", "bg": "os", "state": {}},
    {"$": "mref", "m": "m999"},
    {"$": "ref", "id": 12345},
    {"$": "no-such-kind"},
])
def test_the_decoder_rejects_what_is_not_plain_data(data):
    codec = Codec("judge")
    codec.local = lambda handle: (_ for _ in ()).throw(ValueError("unknown object"))
    with pytest.raises((ValueError, TypeError, AttributeError)):
        codec.decode(data)


def test_a_check_can_read_the_source_of_a_students_function(pair: Pair):
    import inspect

    from dlbd_lib.grading.judge import _teach_inspect

    pair.namespace["__source__"] = "def shown(x):\n    return x + 1\n"
    import linecache

    linecache.cache["<cell-7>"] = (37, None, pair.namespace["__source__"].splitlines(True),
                                   "<cell-7>")
    exec(compile(pair.namespace["__source__"], "<cell-7>", "exec"), pair.namespace)
    original = inspect.getsource, inspect.getsourcelines
    try:
        _teach_inspect(pair.judge)
        assert inspect.getsource(pair.get("shown")) == "def shown(x):\n    return x + 1\n"
        assert inspect.getsource(test_the_decoder_never_unpickles).startswith("def test_the")
    finally:
        inspect.getsource, inspect.getsourcelines = original


def test_the_decoder_never_unpickles():
    import base64
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    data = {"$": "array", "npy": base64.b64encode(buffer.getvalue()).decode()}
    with pytest.raises(ValueError, match="pickle"):
        Codec("judge").decode(data)
