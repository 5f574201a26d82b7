"""Arguments of the convolution and pooling ops: int-or-pair sizes, padding, output sizes,
input checks with clear errors, and zero (or -inf) padding of NCHW arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.tensor import Tensor

IntPair = int | tuple[int, int]


def _pair(value: Any, name: str, minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints, as torch accepts, -> (along H, along W)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return pair


def _pad4(padding: Any) -> tuple[int, int, int, int]:
    """int, (ph, pw) or (top, bottom, left, right) -> (top, bottom, left, right)."""
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        if all(isinstance(p, (int, np.integer)) and p >= 0 for p in padding):
            return tuple(int(p) for p in padding)  # type: ignore[return-value]
        raise ValueError(f"padding must be non-negative ints, got {padding!r}")
    ph, pw = _pair(padding, "padding")
    return ph, ph, pw, pw


def _out_size(size: int, pad: int, kernel: int, stride: int, dilation: int = 1,
              ceil_mode: bool = False) -> int:
    """Number of window positions: floor((size + pad - d*(k-1) - 1) / stride) + 1.

    pad is the total padding. With ceil_mode (pooling) the division rounds up, but the
    last window must still start inside the input or its left padding, as torch.
    """
    span = dilation * (kernel - 1) + 1
    if not ceil_mode:
        return (size + pad - span) // stride + 1
    n = math.ceil((size + pad - span) / stride) + 1
    if (n - 1) * stride >= size + pad // 2:
        n -= 1
    return n


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _check_4d(op: str, x: Tensor, what: str = "input", layout: str = "(N, C, H, W)") -> None:
    if x.ndim != 4:
        hint = ("; for a single image add a batch dimension, e.g. x.unsqueeze(0)"
                if x.ndim == 3 and what == "input" else "")
        raise ShapeError(
            f"{op}: expected a 4-D {what} of shape {layout}, got shape {fmt_shape(x.shape)}"
            + hint
        )


def _check_float(op: str, x: Tensor) -> None:
    if x.dtype.kind != "f":
        raise DtypeError(
            f"{op}: expected a floating-point input, got dtype {x.dtype}; "
            "convert it first, e.g. x.float()"
        )


def _pad_hw(x: np.ndarray, pad: tuple[int, int, int, int], value: float = 0.0) -> np.ndarray:
    """x: (N, C, H, W) -> (N, C, H + top + bottom, W + left + right), border filled with value."""
    top, bottom, left, right = pad
    if not any(pad):
        return x
    n, c, h, w = x.shape
    out = np.full((n, c, h + top + bottom, w + left + right), value, dtype=x.dtype)
    out[:, :, top:top + h, left:left + w] = x
    return out


def _dil(dilation: tuple) -> str:
    """' (dilation (2, 2))' for error messages, '' for the usual dilation 1."""
    return "" if dilation == (1, 1) else f" (dilation {dilation})"
