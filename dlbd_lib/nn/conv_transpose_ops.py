"""Transposed convolution (conv_transpose2d): the input-gradient of a conv2d, run forward.

A conv2d maps an image to a smaller one by reading windows; its transpose writes every
input pixel, times the kernel, back onto a window of a larger image (W^T x, then col2im).
So its forward is conv2d's input-gradient, and its input-gradient is a conv2d.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.nn.conv_args import IntPair, _as_tensor, _check_4d, _check_float, _pad_hw, _pair
from dlbd_lib.nn.conv_ops import _weight_grad
from dlbd_lib.nn.fold_ops import batch_last, col2im_add, windows
from dlbd_lib.tensor import Function, Tensor

__all__ = ["conv_transpose2d", "ConvTranspose2dOp"]


class ConvTranspose2dOp(Function):
    """x: (N, C_in, H, W), weight: (C_in, C_out/groups, kh, kw), bias: (C_out,) or None
    -> (N, C_out, H_out, W_out)."""

    def forward(self, x, weight, bias=None, stride=(1, 1), padding=(0, 0), out_size=(1, 1),
                dilation=(1, 1), groups=1):
        n, c_in, h, w = x.shape
        _, c_group, kh, kw = weight.shape
        (ph, pw), (h_out, w_out) = padding, out_size
        c_out, k_group = c_group * groups, c_group * kh * kw
        w_g = weight.reshape(groups, c_in // groups, k_group)
        # cols = W^T x per group: (N, G, C_out/G*kh*kw, H*W)
        cols = np.matmul(w_g.transpose(0, 2, 1), x.reshape(n, groups, c_in // groups, h * w))
        last = batch_last(w)
        hp, wp = h_out + 2 * ph, w_out + 2 * pw
        acc = np.zeros((c_out, hp, wp, n) if last else (n, c_out, hp, wp), dtype=x.dtype)
        col2im_add(acc, cols.reshape(n, c_out, kh, kw, h, w), stride, dilation, last)
        out = acc.transpose(3, 0, 1, 2) if last else acc
        out = out[:, :, ph:ph + h_out, pw:pw + w_out]
        if bias is not None:
            out = out + bias.reshape(c_out, 1, 1)
        self.x, self.weight, self.args = x, weight, (stride, padding, dilation, groups)
        return np.ascontiguousarray(out)

    def backward(self, g):
        stride, (ph, pw), dilation, groups = self.args
        x, weight = self.x, self.weight
        n, c_in, h, w = x.shape
        c_out, (kh, kw) = g.shape[1], weight.shape[2:]
        # the windows of the padded output gradient that each input pixel wrote to
        win = windows(_pad_hw(g, (ph, ph, pw, pw)), (kh, kw), stride, dilation)[:, :, :h, :w]
        cols = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, groups, c_out // groups * kh * kw,
                                                       h * w)
        gx = gw = gb = None
        if self.needs_grad[0]:  # d out/d x = W applied as a conv2d to g
            w_g = weight.reshape(groups, c_in // groups, -1)
            gx = np.matmul(w_g, cols).reshape(x.shape)
        if self.needs_grad[1]:  # d out/d W = sum_n x_n cols_n^T
            x_g = x.reshape(n, groups, c_in // groups, h * w)
            gw = _weight_grad(x_g, cols).reshape(weight.shape)
        if self.needs_grad[2]:
            gb = g.sum(axis=(0, 2, 3))  # d out/d b = 1 at every position
        return gx, gw, gb


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: IntPair = 1,
                     padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1,
                     dilation: IntPair = 1) -> Tensor:
    """2-D transposed convolution, as torch.nn.functional.conv_transpose2d.

    input: (N, C_in, H, W), weight: (C_in, C_out/groups, kh, kw), bias: (C_out,) or None
    -> (N, C_out, H_out, W_out), H_out = (H - 1)*stride - 2*padding + dilation*(kh - 1)
    + output_padding + 1.
    """
    op = "conv_transpose2d"
    x, wt = _as_tensor(input), _as_tensor(weight)
    b = None if bias is None else _as_tensor(bias)
    _check_4d(op, x)
    _check_4d(op, wt, "weight", "(C_in, C_out/groups, kh, kw)")
    _check_float(op, x)
    if x.dtype != wt.dtype:
        raise DtypeError(f"{op}: input dtype {x.dtype} and weight dtype {wt.dtype} differ; "
                         "convert one of them, e.g. x.float() or layer.double()")
    c_in, c_group, kh, kw = wt.shape
    if not isinstance(groups, (int, np.integer)) or groups < 1 or c_in % groups:
        raise ValueError(f"{op}: groups must be a positive int dividing the {c_in} input "
                         f"channels, got groups={groups!r}")
    if x.shape[1] != c_in:
        raise ShapeError(f"{op}: the input has {x.shape[1]} channels but the weight expects "
                         f"{c_in} (input shape {fmt_shape(x.shape)}, weight shape "
                         f"{fmt_shape(wt.shape)})")
    c_out = c_group * groups
    if b is not None and b.shape != (c_out,):
        raise ShapeError(f"{op}: bias must have shape ({c_out},) for {c_out} output channels, "
                         f"got {fmt_shape(b.shape)}")
    s, p = _pair(stride, "stride", 1), _pair(padding, "padding")
    d, op_ = _pair(dilation, "dilation", 1), _pair(output_padding, "output_padding")
    if any(o >= max(si, di) for o, si, di in zip(op_, s, d)):
        raise ValueError(f"{op}: output_padding {op_} must be smaller than either stride {s} "
                         f"or dilation {d}")
    size = tuple((x.shape[2 + a] - 1) * s[a] - 2 * p[a] + d[a] * ((kh, kw)[a] - 1) + op_[a] + 1
                 for a in (0, 1))
    if min(size) < 1:
        raise ShapeError(f"{op}: the output size {size} is not positive (input "
                         f"{fmt_shape(x.shape)}, kernel ({kh}, {kw}), stride {s}, padding {p})")
    return ConvTranspose2dOp.apply(x, wt, b, stride=s, padding=p, out_size=size, dilation=d,
                                   groups=int(groups))
