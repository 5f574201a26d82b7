"""backward(): the reverse walk over the graph that fills every leaf's `.grad`.

The graph is found in topological order iteratively (so a 20,000-op chain works), each
Function's `backward` runs once, and every input gradient is un-broadcast in one place.
`dlbd_lib.tensor` re-exports `unbroadcast`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

import dlbd_lib.tensor as _t  # the Tensor class, looked up at call time (it imports us)
from dlbd_lib.errors import GradError, fmt_shape
from dlbd_lib.grad import Grad
from dlbd_lib.grad_mode import _Mode

if TYPE_CHECKING:
    from dlbd_lib.tensor import Tensor

__all__ = ["unbroadcast"]


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum `grad` over the dimensions that broadcasting added or stretched, back to `shape`.

    grad: any shape that `shape` broadcasts to. Returns an array of exactly `shape`.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        grad = np.broadcast_to(grad, shape) if grad.size == 1 else grad.reshape(shape)
    return grad


def _topological_order(root: Tensor) -> list[Tensor]:
    """Tensors that need a gradient, each after all of its inputs (iterative DFS)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            for inp in ctx.inputs:
                if isinstance(inp, _t.Tensor) and inp._requires_grad and id(inp) not in visited:
                    stack.append((inp, False))
    return order


def _store_grad(t: Tensor, g: np.ndarray, handed: set[int]) -> None:
    """Accumulate g into t.grad without ever aliasing an array given to another tensor."""
    if t._grad is None:
        if (not isinstance(g, np.ndarray) or id(g) in handed or not g.flags.owndata
                or not g.flags.writeable):
            g = np.array(g)  # a copy, and an array even when numpy handed back a scalar
        handed.add(id(g))
        t._grad = g.view(Grad)
    else:
        t._grad = np.asarray(t._grad + g).view(Grad)


def _run_backward(root: Tensor, seed: np.ndarray) -> None:
    order = _topological_order(root)
    grads: dict[int, np.ndarray] = {id(root): seed}
    handed: set[int] = {id(seed)}
    anomaly = _Mode.anomaly
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        fn = node._ctx
        if fn is None or node._retain:
            _store_grad(node, g, handed)
            if fn is None:
                continue
        for inp, version in zip(fn.inputs, fn.versions):
            if isinstance(inp, _t.Tensor) and inp._version != version:
                __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
                raise GradError(
                    f"a tensor of shape {fmt_shape(inp.shape)} used by {fn.name} was "
                    "modified in place after the forward pass; its gradient would be wrong. "
                    "Recompute the forward pass after changing parameters."
                )
        in_grads = fn.backward(g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for inp, needs, ig in zip(fn.inputs, fn.needs_grad, in_grads):
            if not needs or ig is None:
                continue
            if ig.shape != inp._data.shape:
                ig = unbroadcast(ig, inp._data.shape)
            if ig.dtype != inp._data.dtype:
                ig = ig.astype(inp._data.dtype)
            if anomaly:
                _t._check_finite(fn.name, ig, "gradient")
            key = id(inp)
            prev = grads.get(key)
            grads[key] = ig if prev is None else prev + ig
