"""im2col and col2im (torch's unfold and fold): every window of an image as a column, and back.

A convolution is a matrix product in disguise: `im2col` copies every kh x kw window of the
(padded) input into one column, so a convolution is `weight.reshape(C_out, -1) @ cols`.
`col2im` is its adjoint: it adds every column back onto its window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlbd_lib.errors import ShapeError, fmt_shape
from dlbd_lib.nn.conv_args import (
    IntPair,
    _as_tensor,
    _check_4d,
    _dil,
    _out_size,
    _pad4,
    _pad_hw,
    _pair,
)
from dlbd_lib.tensor import Function, Tensor

__all__ = ["im2col", "col2im", "unfold", "fold", "Unfold", "Fold"]


def windows(xp: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple = (1, 1),
            axes: tuple[int, int] = (2, 3)):
    """A view (N, C, H_out, W_out, kh, kw) of all windows of a padded (N, C, Hp, Wp) array.

    No copy: sliding_window_view only changes strides; a dilated window is a window of
    span d*(k-1)+1 read every d-th element. axes: where Hp and Wp are (two adjacent axes),
    e.g. (1, 2) for a batch-last (C, Hp, Wp, N) array, whose view is (C, H_out, W_out, N,
    kh, kw).
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    steps = (slice(None),) * axes[0] + (slice(None, None, sh), slice(None, None, sw))
    view = sliding_window_view(xp, span, axis=axes)[steps]
    return view[..., ::dh, ::dw] if (dh, dw) != (1, 1) else view


def batch_last(w_out: int) -> bool:
    """Whether col2im should accumulate batch-last: adding rows of W_out values is slow
    when W_out is short (numpy loops over the rows), and batch-last rows (W_out, N) are
    long and contiguous."""
    return w_out < 16


def col2im_add(acc: np.ndarray, cols: np.ndarray, stride: tuple, dilation: tuple = (1, 1),
               last: bool = False) -> None:
    """Add every column back onto its window, in place: the adjoint of `windows`.

    cols: (N, C, kh, kw, H_out, W_out); acc: the padded (N, C, Hp, Wp) accumulator, or
    with last=True a batch-last (C, Hp, Wp, N) one. One vectorised add per kernel
    offset (kh*kw in all), never a loop over pixels.
    """
    _, _, kh, kw, h_out, w_out = cols.shape
    (sh, sw), (dh, dw) = stride, dilation
    if last:
        cols = cols.transpose(1, 2, 3, 4, 5, 0)  # (C, kh, kw, H_out, W_out, N), a view
    lead = (slice(None),) if last else (slice(None), slice(None))
    for i in range(kh):
        for j in range(kw):
            acc[lead + (slice(i * dh, i * dh + sh * (h_out - 1) + 1, sh),
                        slice(j * dw, j * dw + sw * (w_out - 1) + 1, sw))] += (
                cols[:, i, j] if last else cols[:, :, i, j])


def im2col(x: np.ndarray, kernel_size: IntPair, stride: IntPair = 1, padding: Any = 0,
           dilation: IntPair = 1) -> np.ndarray:
    """Copy every kh x kw window of the zero-padded input into a column (torch's unfold).

    x: (N, C, H, W) -> (N, C*kh*kw, H_out*W_out); row c*kh*kw + i*kw + j of column
    (ho, wo) is x_padded[n, c, ho*sh + i*dh, wo*sw + j*dw].
    """
    k, s = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    d, pad = _pair(dilation, "dilation", 1), _pad4(padding)
    n, c = x.shape[:2]
    win = windows(_pad_hw(x, pad), k, s, d)  # (N, C, H_out, W_out, kh, kw), a view
    h_out, w_out = win.shape[2:4]
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * k[0] * k[1], h_out * w_out)


def col2im(cols: np.ndarray, input_shape: tuple, kernel_size: IntPair, stride: IntPair = 1,
           padding: Any = 0, dilation: IntPair = 1) -> np.ndarray:
    """The adjoint of im2col (torch's fold): add every column back onto its window.

    cols: (N, C*kh*kw, H_out*W_out) -> (N, C, H, W) with input_shape = (N, C, H, W);
    positions covered by several windows receive the sum of their values.
    """
    (kh, kw), s = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    d, (top, bottom, left, right) = _pair(dilation, "dilation", 1), _pad4(padding)
    n, c, h, w = input_shape
    hp, wp = h + top + bottom, w + left + right
    h_out, w_out = _out_size(hp, 0, kh, s[0], d[0]), _out_size(wp, 0, kw, s[1], d[1])
    last = batch_last(w_out)
    xp = np.zeros((c, hp, wp, n) if last else (n, c, hp, wp), dtype=cols.dtype)
    col2im_add(xp, cols.reshape(n, c, kh, kw, h_out, w_out), s, d, last)
    if last:
        xp = xp.transpose(3, 0, 1, 2)
    return xp[:, :, top:top + h, left:left + w]


class Unfold(Function):
    """im2col as a graph op.   x: (N, C, H, W) -> (N, C*kh*kw, L)."""

    def forward(self, x, kernel_size=1, stride=1, padding=0, dilation=1):
        self.args = (x.shape, kernel_size, stride, padding, dilation)
        return im2col(x, kernel_size, stride, padding, dilation)

    def backward(self, g):
        return (col2im(g, *self.args),)  # each input element gets the sum over its copies


class Fold(Function):
    """col2im as a graph op.   cols: (N, C*kh*kw, L) -> (N, C, H, W)."""

    def forward(self, cols, input_shape=(), kernel_size=1, stride=1, padding=0, dilation=1):
        self.args = (kernel_size, stride, padding, dilation)
        return np.ascontiguousarray(col2im(cols, input_shape, *self.args))

    def backward(self, g):
        return (im2col(g, *self.args),)  # the adjoint of a sum of copies is a copy


def unfold(input: Any, kernel_size: IntPair, dilation: IntPair = 1, padding: IntPair = 0,
           stride: IntPair = 1) -> Tensor:
    """Extract sliding windows as columns (torch.nn.functional.unfold).

    input: (N, C, H, W) -> (N, C*kh*kw, H_out*W_out).
    """
    x = _as_tensor(input)
    _check_4d("unfold", x)
    k, s, d = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1), \
        _pair(dilation, "dilation", 1)
    p = _pad4(padding)
    if min(_out_size(x.shape[2], p[0] + p[1], k[0], s[0], d[0]),
           _out_size(x.shape[3], p[2] + p[3], k[1], s[1], d[1])) < 1:
        raise ShapeError(
            f"unfold: kernel size {k}{_dil(d)} is bigger than the padded input "
            f"(input {fmt_shape(x.shape[2:])} plus padding {p[0] + p[1], p[2] + p[3]})"
        )
    return Unfold.apply(x, kernel_size=k, stride=s, padding=p, dilation=d)


def fold(input: Any, output_size: IntPair, kernel_size: IntPair, dilation: IntPair = 1,
         padding: IntPair = 0, stride: IntPair = 1) -> Tensor:
    """Sum columns back into an image, the inverse layout of unfold (torch's fold).

    input: (N, C*kh*kw, L) -> (N, C, H, W) with (H, W) = output_size.
    """
    cols = _as_tensor(input)
    (kh, kw), s = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    d, p = _pair(dilation, "dilation", 1), _pad4(padding)
    h, w = _pair(output_size, "output_size", 1)
    n_out = (_out_size(h, p[0] + p[1], kh, s[0], d[0])
             * _out_size(w, p[2] + p[3], kw, s[1], d[1]))
    if cols.ndim != 3 or cols.shape[1] % (kh * kw) or cols.shape[2] != n_out:
        raise ShapeError(
            f"fold: expected input of shape (N, C*{kh * kw}, {n_out}) for output_size "
            f"{(h, w)} and kernel_size {(kh, kw)}, got shape {fmt_shape(cols.shape)}"
        )
    shape = (cols.shape[0], cols.shape[1] // (kh * kw), h, w)
    return Fold.apply(cols, input_shape=shape, kernel_size=(kh, kw), stride=s, padding=p,
                      dilation=d)
