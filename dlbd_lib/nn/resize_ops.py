"""Resizing ops: adaptive_avg_pool2d and interpolate (nearest, bilinear), NCHW.

Each is separable and linear: along H it multiplies by an (H_out, H) matrix A, along W by
an (W_out, W) matrix B, so out = A x B^T per channel and the gradient is A^T g B. The rows
of A average a window (adaptive pooling), pick one source pixel (nearest) or mix two
neighbours (bilinear). Nearest copies pixels by indexing in the forward pass, so that an
inf or nan stays where it was instead of leaking through zero weights.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlbd_lib.errors import ShapeError, fmt_shape
from dlbd_lib.nn.conv_args import _as_tensor, _check_float
from dlbd_lib.tensor import Function, Tensor

__all__ = ["adaptive_avg_pool2d", "interpolate", "Resize2dOp"]


class Resize2dOp(Function):
    """out = A x B^T on the last two axes.   x: (..., H, W), A: (H_out, H), B: (W_out, W)."""

    def forward(self, x, rows=None, cols=None, index=None):
        self.rows, self.cols = rows.astype(x.dtype), cols.astype(x.dtype)
        if index is not None:  # nearest: the same product, done as a copy
            return x[..., index[0][:, None], index[1]]
        return np.matmul(np.matmul(self.rows, x), self.cols.T)

    def backward(self, g):
        return (np.matmul(np.matmul(self.rows.T, g), self.cols),)  # d (A x B^T)/dx: A^T g B


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    """Row i averages input positions floor(i*size/out) ... ceil((i+1)*size/out) - 1."""
    a = np.zeros((out, size))
    for i in range(out):  # one row per output position (a few dozen at most)
        lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


def _size_pair(value: Any, name: str, op: str) -> tuple:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{op}: {name} must be one value or a pair, got {value!r}")
    return pair


def _check_nd(op: str, x: Tensor) -> None:
    if x.ndim not in (3, 4):
        raise ShapeError(f"{op}: expected a 4-D input (N, C, H, W) or 3-D (C, H, W), got "
                         f"shape {fmt_shape(x.shape)}")


def adaptive_avg_pool2d(input: Any, output_size: int | tuple) -> Tensor:
    """Average over windows chosen to give output_size, as torch's adaptive_avg_pool2d.

    input: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out); None keeps that size. Window
    i along H covers floor(i*H/H_out) ... ceil((i+1)*H/H_out) - 1.
    """
    x = _as_tensor(input)
    _check_nd("adaptive_avg_pool2d", x)
    _check_float("adaptive_avg_pool2d", x)
    out = [x.shape[-2 + a] if o is None else o
           for a, o in enumerate(_size_pair(output_size, "output_size", "adaptive_avg_pool2d"))]
    if any(not isinstance(o, (int, np.integer)) or o < 1 for o in out):
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive ints, got "
                         f"{output_size!r}")
    rows, cols = (_adaptive_matrix(x.shape[-2 + a], out[a]) for a in (0, 1))
    return Resize2dOp.apply(x, rows=rows, cols=cols)


def _source(out: int, size: int, scale: float | None, mode: str, align_corners: bool):
    """Interpolation matrix (out, size) along one axis, and the nearest indices (or None)."""
    a = np.zeros((out, size))
    dst = np.arange(out)
    if mode == "nearest":
        ratio = np.float32(1.0 / scale if scale else size / out)
        idx = np.minimum(np.floor(dst.astype(np.float32) * ratio).astype(np.intp), size - 1)
        a[dst, idx] = 1.0
        return a, idx
    if align_corners:
        src = dst * ((size - 1) / (out - 1)) if out > 1 else np.zeros(out)
    else:
        ratio = 1.0 / scale if scale else size / out
        src = np.maximum((dst + 0.5) * ratio - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.intp), size - 1)
    hi = np.minimum(lo + 1, size - 1)
    frac = src - lo
    np.add.at(a, (dst, lo), 1.0 - frac)  # lo == hi at the last pixel: the weights add to 1
    np.add.at(a, (dst, hi), frac)
    return a, None


def interpolate(input: Any, size: int | tuple | None = None,
                scale_factor: float | tuple | None = None, mode: str = "nearest",
                align_corners: bool | None = None) -> Tensor:
    """Resize images, as torch.nn.functional.interpolate for 'nearest' and 'bilinear'.

    input: (N, C, H, W) -> (N, C, H_out, W_out), from size=(H_out, W_out) or
    H_out = floor(H * scale_factor). 'nearest' takes pixel floor(i * H / H_out) (or
    floor(i / scale_factor)); 'bilinear' mixes the two nearest pixels, with pixel centres
    aligned (align_corners=False, torch's default) or corner pixels aligned (True).
    """
    op = "interpolate"
    x = _as_tensor(input)
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected a 4-D input (N, C, H, W) for 2-D resizing, got "
                         f"shape {fmt_shape(x.shape)}")
    _check_float(op, x)
    if mode not in ("nearest", "bilinear"):
        raise NotImplementedError(f"{op}: mode {mode!r} is not supported by dlbd_lib "
                                  "(only 'nearest' and 'bilinear')")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{op}: align_corners only applies to 'bilinear', not {mode!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    if size is not None:
        out, scales = _size_pair(size, "size", op), (None, None)
    else:
        scales = tuple(float(s) for s in _size_pair(scale_factor, "scale_factor", op))
        out = tuple(math.floor(x.shape[2 + a] * scales[a]) for a in (0, 1))
    if any(int(o) < 1 for o in out):
        raise ValueError(f"{op}: output size {tuple(out)} must be positive (input "
                         f"{fmt_shape(x.shape)})")
    (rows, i_rows), (cols, i_cols) = (
        _source(int(out[a]), x.shape[2 + a], scales[a], mode, bool(align_corners))
        for a in (0, 1))
    index = (i_rows, i_cols) if mode == "nearest" else None
    return Resize2dOp.apply(x, rows=rows, cols=cols, index=index)
