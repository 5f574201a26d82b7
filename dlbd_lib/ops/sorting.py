"""Ops that return (values, indices): max/min along a dim, sort, topk; and argsort."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib.errors import DimError
from dlbd_lib.ops._common import (
    norm_dim,
    pick_dim,
    return_max,
    return_min,
    return_sort,
    return_topk,
)
from dlbd_lib.ops.arithmetic import maximum, minimum
from dlbd_lib.ops.indexing import gather
from dlbd_lib.ops.reductions import amax, amin
from dlbd_lib.ops.shape import reshape, squeeze
from dlbd_lib.tensor import Tensor

__all__ = ["max", "min", "sort", "argsort", "topk"]


def _data(x: Any) -> np.ndarray:
    return np.asarray(getattr(x, "_data", x))


def _by_index(x: Any, idx: np.ndarray, d: int, keepdim: bool, kind: Any) -> Any:
    """(values, indices) from the positions idx along dim d (a gather: its gradient)."""
    values = gather(x, d, idx)
    if not keepdim:
        values, idx = squeeze(values, d), np.squeeze(idx, d)
    return kind(values, Tensor._make(idx, False))


def _max_min(x: Any, dim: Any, keepdim: bool, axis: Any, keepdims: bool, mode: str) -> Any:
    other = dim if dim is not None else axis
    if isinstance(other, (Tensor, np.ndarray)):
        return maximum(x, other) if mode == "max" else minimum(x, other)  # torch.max(a, b)
    d, keep = pick_dim(dim, axis), keepdim or keepdims
    if d is None or isinstance(d, (tuple, list)):  # all dims, or several: values only (amax)
        return (amax if mode == "max" else amin)(x, d, keep)
    kind = return_max if mode == "max" else return_min
    arr = _data(x)
    d = norm_dim(d, arr.ndim, mode)
    if arr.ndim == 0:
        return kind(reshape(x, ()), Tensor._make(np.zeros((), np.int64), False))
    if arr.shape[d] == 0:
        raise DimError(f"{mode}(): dim {d} of shape {arr.shape} is empty; there is no "
                       f"{mode}imum to take")
    pick = np.argmax if mode == "max" else np.argmin
    idx = pick(arr, axis=d, keepdims=True)
    return _by_index(x, idx, d, keep, kind)


def max(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,  # noqa: A001
        keepdims: bool = False) -> Any:
    """torch.max: max(x) is the largest value; max(x, dim) is (values, indices);
    max(x, other) is the elementwise maximum.

    With several dims (a tuple) it returns the values only, like torch.amax.
    """
    return _max_min(x, dim, keepdim, axis, keepdims, "max")


def min(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,  # noqa: A001
        keepdims: bool = False) -> Any:
    """torch.min: min(x), min(x, dim) -> (values, indices), min(x, other) elementwise."""
    return _max_min(x, dim, keepdim, axis, keepdims, "min")


def _argsort(arr: np.ndarray, d: int, descending: bool) -> np.ndarray:
    if arr.ndim == 0:
        return np.zeros((), np.int64)
    if descending:  # stable and descending: sort the reversed array, map positions back
        n = arr.shape[d]
        rev = np.flip(arr, d)
        idx = np.flip(np.argsort(rev, axis=d, kind="stable"), d)
        return (n - 1 - idx).astype(np.int64)
    return np.argsort(arr, axis=d, kind="stable").astype(np.int64)


def sort(x: Any, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Any:
    """(values, indices) sorted along `dim`; ties keep their order."""
    arr = _data(x)
    d = norm_dim(dim, arr.ndim, "sort")
    if arr.ndim == 0:
        return return_sort(reshape(x, ()), Tensor._make(np.zeros((), np.int64), False))
    return _by_index(x, _argsort(arr, d, descending), d, True, return_sort)


def argsort(x: Any, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    """The int64 positions that sort x along `dim` (outside the graph)."""
    arr = _data(x)
    return Tensor._make(_argsort(arr, norm_dim(dim, arr.ndim, "argsort"), descending), False)


def topk(x: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
    """(values, indices) of the k largest (or smallest) elements along `dim`."""
    arr = _data(x)
    d = norm_dim(dim, arr.ndim, "topk")
    n = arr.shape[d] if arr.ndim else 1
    if not 0 <= k <= n:
        raise DimError(f"topk: k={k} is out of range for dim {d} of size {n}")
    if arr.ndim == 0:
        return return_topk(reshape(x, ()), Tensor._make(np.zeros((), np.int64), False))
    idx = np.take(_argsort(arr, d, descending=largest), np.arange(k), axis=d)
    return _by_index(x, idx, d, True, return_topk)


