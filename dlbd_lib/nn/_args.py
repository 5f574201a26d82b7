"""Argument helpers shared by the validating wrappers of dlbd_lib.nn.functional.

Arrays out of Tensors or array-likes, the float check, and torch's reduction arguments.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.tensor import Tensor


class IndexOutOfRangeError(IndexError, ShapeError):
    """A class index or an embedding index outside the valid range (also a ValueError)."""


def _data(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _array(x: Any) -> np.ndarray:
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def _check_float(who: str, x: Any, what: str = "input") -> None:
    dt = _array(x).dtype
    if dt.kind != "f":
        raise DtypeError(f"{who}: {what} must be floating point (e.g. float32), got {dt}")


def _reduction(size_average: bool | None, reduce: bool | None, reduction: str,
               allowed: tuple = ("mean", "sum", "none")) -> str:
    if size_average is not None or reduce is not None:  # torch's deprecated arguments
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        return "mean" if size_average and reduce else ("sum" if reduce else "none")
    if reduction not in allowed:
        names = ", ".join(repr(r) for r in allowed[:-1]) + f" or {allowed[-1]!r}"
        raise ValueError(f"{reduction} is not a valid value for reduction (use {names})")
    return reduction


def _as_target(target: Any, like: np.ndarray) -> Any:
    """A constant target as an array of the input's float dtype; Tensors pass through."""
    if isinstance(target, Tensor):
        return target
    t = np.asarray(target)
    return t.astype(like.dtype) if t.dtype != like.dtype and like.dtype.kind == "f" else t


def _regression_target(who: str, input: Any, target: Any, stacklevel: int = 4) -> tuple:
    """Check a float input against its target; warn (as torch) when they only broadcast.

    Returns (input's array, target as a Tensor or an array of the input's dtype).
    """
    x = _array(input)
    _check_float(who, x)
    target = _as_target(target, x)
    ts = np.shape(_data(target))
    if ts != x.shape:
        warnings.warn(f"{who}: target shape {fmt_shape(ts)} differs from input shape "
                      f"{fmt_shape(x.shape)}; they will be broadcast", stacklevel=stacklevel)
        try:
            np.broadcast_shapes(ts, x.shape)
        except ValueError:
            raise ShapeError(f"{who}: input {fmt_shape(x.shape)} and target {fmt_shape(ts)} "
                             "cannot be broadcast together") from None
    return x, target
