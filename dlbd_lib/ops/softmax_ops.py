"""softmax and log_softmax along a dim, computed stably."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib.ops._common import norm_dim, pick_dim, shape_of
from dlbd_lib.tensor import Function, Tensor

__all__ = ["softmax", "log_softmax"]


class LogSoftmax(Function):
    def forward(self, x, axis=-1):
        self.axis = axis
        shifted = x - x.max(axis=axis, keepdims=True)  # log-sum-exp trick: no overflow
        self.out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        return self.out

    def backward(self, g):
        # d log_softmax/dx = g - softmax * sum(g)
        return (g - np.exp(self.out) * g.sum(axis=self.axis, keepdims=True),)


class Softmax(Function):
    def forward(self, x, axis=-1):
        self.axis = axis
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        self.out = e / e.sum(axis=axis, keepdims=True)
        return self.out

    def backward(self, g):
        # d softmax/dx = s * (g - sum(g * s))
        s = self.out
        return (s * (g - (g * s).sum(axis=self.axis, keepdims=True)),)


def _dim(x: Any, dim: Any, axis: Any, op: str) -> int | None:
    d = pick_dim(dim, axis)
    ndim = len(shape_of(x))
    d = norm_dim(-1 if d is None else d, ndim, op)
    return d if ndim else None  # a 0-d tensor: over its one element, as torch


def softmax(x: Any, dim: int | None = None, *, axis: int | None = None,
            dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim` (default -1), shifted by the max: never overflows."""
    out = Softmax.apply(x, axis=_dim(x, dim, axis, "softmax"))
    return out if dtype is None else out.to(dtype)


def log_softmax(x: Any, dim: int | None = None, *, axis: int | None = None,
                dtype: Any = None) -> Tensor:
    """log(softmax(x)) along `dim` (default -1), computed as x - max - log(sum(exp(x - max)))."""
    out = LogSoftmax.apply(x, axis=_dim(x, dim, axis, "log_softmax"))
    return out if dtype is None else out.to(dtype)
