"""Convolution ops: conv2d (groups, dilation), conv1d and the readable conv2d_reference (NCHW).

A convolution is a matrix product in disguise: `im2col` copies every kh x kw window of the
(padded) input into one column, so `conv2d` is `weight.reshape(C_out, -1) @ cols`.
`conv2d_reference` spells exactly that out with differentiable pieces (unfold, matmul) and
is what the course notebook shows; `Conv2dOp` is the fast version the layers use, with a
hand-written backward, and the tests check the two against each other and against torch.

How Conv2dOp is fast. Small images (output rows under 16 pixels, stride 1) on one thread,
or without numba: the columns of the whole batch are laid out batch-last, (C_in kh kw,
H_out W_out N), so that im2col and col2im copy and add rows of W_out * N values instead
of W_out, and each product is one matrix product (LeNet's second convolution, ResNet
blocks on 8x8 digits). Otherwise: the batch is cut into slices that run on the engine's
threads (`dlbd_lib.set_num_threads`; numpy releases the GIL in copies and BLAS calls), and
each slice works through chunks of samples whose columns fit in the CPU's L2 cache (~1 MB):
copy the windows into the chunk's column buffer, multiply straight into the chunk's rows
of the output (matmul's `out=`, so the output is already NCHW, no transpose copy). Big
columns are not kept: the backward copies them again chunk by chunk, for the weight
gradient, then reuses the buffer for W^T g and adds it back onto the windows (col2im).
Copying in cache costs less than writing all columns to memory and reading them back;
columns of up to ~5 MB are kept from the forward (`_KEEP_MAX`). With numba installed,
col2im is one compiled loop (`dlbd_lib._kernels.col2im`, 3-5x faster than numpy's kh*kw
strided adds) writing straight into the input's gradient; on two or more threads small
images then take this sliced path too (LeNet at batch 64, two threads: 4.97 against
5.49 ms a step).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib import _kernels
from dlbd_lib._jit import fits, kernel
from dlbd_lib._parallel import get_num_threads, parallel_for
from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.grad_mode import is_grad_enabled
from dlbd_lib.nn.conv_args import (
    IntPair,
    _as_tensor,
    _check_4d,
    _check_float,
    _dil,
    _out_size,
    _pad4,
    _pad_hw,
    _pair,
)
from dlbd_lib.nn.fold_ops import (  # noqa: F401  (re-exported: the notebooks import them here)
    Fold,
    Unfold,
    batch_last,
    col2im,
    col2im_add,
    fold,
    im2col,
    unfold,
    windows,
)
from dlbd_lib.nn.pool_ops import (  # noqa: F401  (re-exported for older imports)
    AvgPool2dOp,
    MaxPool2dOp,
    avg_pool2d,
    max_pool2d,
)
from dlbd_lib.tensor import Function, Tensor

__all__ = [
    "im2col", "col2im", "unfold", "fold", "conv1d", "conv2d", "conv2d_reference",
    "max_pool2d", "avg_pool2d", "Conv2dOp", "Unfold", "Fold", "MaxPool2dOp", "AvgPool2dOp",
]


def _weight_grad(g: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """sum_n g_n cols_n^T.   g: (B, G, C_out/G, L), cols: (B, G, K/G, L) -> (G, C_out/G, K/G).

    Computed as (sum_n cols_n g_n^T)^T: OpenBLAS runs the product with the long L axis
    inner to both operands' rows faster this way round (LeNet's second convolution: 0.39
    against 0.65 ms for a batch of 64). One batched matmul and a sum when each product is
    small; a loop of BLAS calls accumulating in place when they are big (then the
    (B, G, K/G, C_out/G) stack of products would be a large temporary).
    """
    b, groups, c_out, length = g.shape
    g_t = g.transpose(0, 1, 3, 2)  # (B, G, L, C_out/G), a view
    if c_out * cols.shape[2] * length < (1 << 20):
        return np.matmul(cols, g_t).sum(axis=0).transpose(0, 2, 1)
    acc = np.matmul(cols[0], g_t[0])
    tmp = np.empty_like(acc)
    for i in range(1, b):
        acc += np.matmul(cols[i], g_t[i], out=tmp)
    return acc.transpose(0, 2, 1)


_CHUNK_BYTES = 1 << 20  # columns of this many bytes at a time stay in the L2 cache
# The batch-last path (small images) keeps all columns, at most this many elements (4 MB
# in float32), and runs on one thread. Bigger batches measured no faster on it (LeNet at
# batch 256, one thread: 34.3 ms either way) and slower on two threads than the sliced
# path (33 against 27 ms); at batch 64 the two paths tie on two threads (8.9 and 8.7 ms).
_BATCH_LAST_MAX = 1 << 20
# The sliced path keeps the whole batch's columns for the backward (instead of copying the
# windows again there) up to this many elements (~5 MB in float32): LeNet at batch 64, two
# threads, 4.41 against 4.66 ms a step (both its layers keep theirs); the CIFAR-sized CNN's
# first layer (1.8M elements) measured 1 ms slower kept than copied again.
_KEEP_MAX = 1_300_000


def _chunks(lo: int, hi: int, step: int):
    """(a, b) slices of at most `step` samples covering lo ... hi - 1."""
    return ((a, min(a + step, hi)) for a in range(lo, hi, step))


def _im2col_copy(xp: np.ndarray, stride: tuple, dilation: tuple, dtype: np.dtype):
    """copy(win, a, b, cols): samples a..b-1's windows (win, a view of xp) into cols of
    `dtype`, by the compiled loop where it can run (dlbd_lib._kernels.im2col), else by
    numpy's strided copy."""
    k = kernel(_kernels.im2col, xp.dtype) if fits(xp) and xp.dtype == dtype else None
    if k is None:
        return lambda win, a, b, cols: np.copyto(cols, win[a:b].transpose(0, 1, 4, 5, 2, 3))
    return lambda win, a, b, cols: k(xp[a:b], *stride, *dilation, cols)


class Conv2dOp(Function):
    """Cross-correlation via im2col + matmul on cache-sized batch slices, with a hand-written
    backward.

    x: (N, C_in, H, W), weight: (C_out, C_in/groups, kh, kw), bias: (C_out,) or None
    -> (N, C_out, H_out, W_out).
    """

    def forward(self, x, weight, bias=None, stride=(1, 1), padding=(0, 0, 0, 0),
                dilation=(1, 1), groups=1):
        n, c_in = x.shape[:2]
        c_out, c_group, kh, kw = weight.shape
        top, bottom, left, right = padding
        h_out = _out_size(x.shape[2], top + bottom, kh, stride[0], dilation[0])
        w_out = _out_size(x.shape[3], left + right, kw, stride[1], dilation[1])
        length, k_group = h_out * w_out, c_group * kh * kw
        self.args = (x.shape, stride, padding, dilation, groups)
        self.weight = weight
        self.cols = None  # the batch-last path's columns, kept for the backward
        if groups == 1 and stride == (1, 1) and batch_last(w_out) and \
                k_group * length * n <= _BATCH_LAST_MAX and \
                (get_num_threads() == 1 or kernel(_kernels.col2im, x.dtype) is None):
            return self._forward_batch_last(x, weight, bias, padding, dilation,
                                            (h_out, w_out))
        xp = _pad_hw(x, padding)
        win = windows(xp, (kh, kw), stride, dilation)  # (N, C_in, H_out, W_out, kh, kw) view
        out = np.empty((n, c_out, h_out, w_out), dtype=np.result_type(x, weight))
        w_g = weight.reshape(groups, c_out // groups, k_group)
        b_g = None if bias is None else bias.reshape(groups, c_out // groups, 1)
        per_sample = c_in * kh * kw * length
        step = max(1, _CHUNK_BYTES // (per_sample * x.itemsize))

        # kept for the backward only where there will be one (no_grad: inference)
        kept = (np.empty((n, c_in, kh, kw, h_out, w_out), dtype=x.dtype)
                if n * per_sample <= _KEEP_MAX and is_grad_enabled() else None)

        copy = _im2col_copy(xp, stride, dilation, x.dtype)

        def body(lo: int, hi: int) -> None:
            buf = np.empty((min(step, hi - lo), c_in, kh, kw, h_out, w_out), dtype=x.dtype) \
                if kept is None else None
            for a, b in _chunks(lo, hi, step):
                cols = buf[:b - a] if kept is None else kept[a:b]
                copy(win, a, b, cols)  # im2col
                o = out[a:b].reshape(b - a, groups, c_out // groups, length)
                np.matmul(w_g, cols.reshape(b - a, groups, k_group, length), out=o)
                if b_g is not None:
                    o += b_g

        parallel_for(body, n, per_sample + out[0].size)
        # big columns are not kept: the backward copies them again, slice by slice, which
        # costs less than writing them all to memory and reading them back
        self.win, self.step, self.kept = win, step, kept
        self.xp = xp if kept is None else None  # the backward copies windows again from it
        return out

    def _forward_batch_last(self, x, weight, bias, padding, dilation, out_hw):
        """Small images: every window of the whole batch as (C_in kh kw, H_out W_out N)
        columns, with the batch as the innermost axis, and ONE matrix product.

        With rows of W_out < 16 pixels, numpy's copies and adds run at a few pixels per
        call; batch-last rows are W_out * N long. The columns are kept for the backward.
        """
        n, c_in, h, w = x.shape
        c_out, _, kh, kw = weight.shape
        top, bottom, left, right = padding
        xb = np.zeros((c_in, h + top + bottom, w + left + right, n), dtype=x.dtype)
        xb[:, top:top + h, left:left + w] = x.transpose(1, 2, 3, 0)  # (C_in, Hp, Wp, N)
        win = windows(xb, (kh, kw), (1, 1), dilation, axes=(1, 2))  # (C_in, Ho, Wo, N, kh, kw)
        h_out, w_out = out_hw
        cols = np.empty((c_in, kh, kw, h_out, w_out, n), dtype=x.dtype)
        np.copyto(cols, win.transpose(0, 4, 5, 1, 2, 3))  # im2col: rows of W_out * N
        out = weight.reshape(c_out, -1) @ cols.reshape(c_in * kh * kw, -1)
        if bias is not None:
            out += bias[:, None]
        self.cols = cols
        return np.ascontiguousarray(out.reshape(c_out, h_out, w_out, n).transpose(3, 0, 1, 2))

    def _backward_batch_last(self, g):
        """The backward of _forward_batch_last: each gradient is one matrix product, then
        col2im adds batch-last rows back onto the padded input."""
        x_shape, stride, (top, bottom, left, right), dilation, _ = self.args
        cols, weight = self.cols, self.weight
        c_in, kh, kw, h_out, w_out, n = cols.shape
        c_out = weight.shape[0]
        g_b = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(c_out, -1)  # (C_out, M)
        gb = g_b.sum(axis=1) if self.needs_grad[2] else None
        # dW = g cols^T, computed as (cols g^T)^T: the faster order for OpenBLAS here
        gw = ((cols.reshape(c_in * kh * kw, -1) @ g_b.T).T.reshape(weight.shape)
              if self.needs_grad[1] else None)
        gx = None
        if self.needs_grad[0]:  # dx = col2im(W^T g)
            w_cols = (weight.reshape(c_out, -1).T @ g_b).reshape(cols.shape)
            h, w = x_shape[2:]
            acc = np.zeros((c_in, h + top + bottom, w + left + right, n), dtype=g.dtype)
            # col2im_add takes (N, C, kh, kw, Ho, Wo) columns and, with last=True, moves N
            # back to the end itself: here that transpose is a view of w_cols as it is
            col2im_add(acc, w_cols.transpose(5, 0, 1, 2, 3, 4), stride, dilation, last=True)
            gx = np.ascontiguousarray(acc[:, top:top + h, left:left + w].transpose(3, 0, 1, 2))
        return gx, gw, gb

    def backward(self, g):
        if self.cols is not None:
            return self._backward_batch_last(g)
        x_shape, stride, (top, bottom, left, right), dilation, groups = self.args
        weight, win, step = self.weight, self.win, self.step
        n, c_in, h_out, w_out, kh, kw = win.shape
        length = h_out * w_out
        c_out, k_group = weight.shape[0], c_in // groups * kh * kw
        g_g = g.reshape(n, groups, c_out // groups, length)
        need_x, need_w = self.needs_grad[0], self.needs_grad[1]
        gb = g.sum(axis=(0, 2, 3)) if self.needs_grad[2] else None
        h, w = x_shape[2:]
        hp, wp = h + top + bottom, w + left + right
        last = batch_last(w_out)
        gx = np.empty(x_shape, dtype=g.dtype) if need_x else None
        # d out/d cols = W^T, per group: (G, K/G, C_out/G)
        w_t = np.ascontiguousarray(
            weight.reshape(groups, c_out // groups, k_group).transpose(0, 2, 1))
        partial = {}
        # the compiled col2im writes each slice's gradient straight into gx (dlbd_lib._jit)
        fold = kernel(_kernels.col2im, g.dtype) if need_x else None

        kept = self.kept

        copy = (_im2col_copy(self.xp, stride, dilation, g.dtype) if kept is None and need_w
                else None)

        def body(lo: int, hi: int) -> None:
            size = min(step, hi - lo)
            buf = np.empty((size, c_in, kh, kw, h_out, w_out), dtype=g.dtype)
            gw = None
            for a, b in _chunks(lo, hi, step):
                cols = buf[:b - a]
                if need_w:  # d out/d W: gW = sum_n g_n cols_n^T
                    if kept is None:
                        copy(win, a, b, cols)
                    src = cols if kept is None else kept[a:b]  # kept: read, never written
                    part = _weight_grad(g_g[a:b], src.reshape(b - a, groups, k_group, length))
                    gw = part if gw is None else np.add(gw, part, out=gw)
                if need_x:  # d out/d x = col2im(W^T g)
                    np.matmul(w_t, g_g[a:b], out=cols.reshape(b - a, groups, k_group, length))
                    if fold is not None:
                        fold(cols, *stride, *dilation, top, left, gx[a:b])
                        continue
                    acc = np.zeros((c_in, hp, wp, b - a) if last else (b - a, c_in, hp, wp),
                                   dtype=g.dtype)
                    col2im_add(acc, cols, stride, dilation, last)
                    if last:
                        acc = acc.transpose(3, 0, 1, 2)
                    np.copyto(gx[a:b], acc[:, :, top:top + h, left:left + w])
            partial[lo] = gw

        parallel_for(body, n, 2 * win[0].size)
        gw = (sum(partial[k] for k in sorted(partial)).reshape(weight.shape) if need_w
              else None)
        return gx, gw, gb


def _conv_args(x: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any,
               dilation: Any, groups: int, op: str = "conv2d") -> tuple:
    """Validate conv2d's inputs; returns (stride, (top, bottom, left, right), dilation)."""
    _check_4d(op, x)
    _check_4d(op, weight, "weight", "(C_out, C_in/groups, kh, kw)")
    _check_float(op, x)
    if x.dtype != weight.dtype:
        raise DtypeError(
            f"{op}: input dtype {x.dtype} and weight dtype {weight.dtype} differ; convert "
            "one of them, e.g. x.float() or layer.double()"
        )
    c_out, c_group, kh, kw = weight.shape
    if not isinstance(groups, (int, np.integer)) or groups < 1 or c_out % groups:
        raise ValueError(f"{op}: groups must be a positive int dividing the {c_out} output "
                         f"channels, got groups={groups!r}")
    if x.shape[1] != c_group * groups:
        per_group = f", {c_group} per group x {groups} groups" if groups > 1 else ""
        raise ShapeError(
            f"{op}: the input has {x.shape[1]} channels but the weight expects "
            f"{c_group * groups} (input shape {fmt_shape(x.shape)}, weight shape "
            f"{fmt_shape(weight.shape)}{per_group})"
        )
    if bias is not None and bias.shape != (c_out,):
        raise ShapeError(
            f"{op}: bias must have shape ({c_out},) for {c_out} output channels, got "
            f"{fmt_shape(bias.shape)}"
        )
    s, d = _pair(stride, "stride", 1), _pair(dilation, "dilation", 1)
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if s != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride {s}")
            # total padding d*(k-1) per axis; an odd remainder goes to the bottom/right (torch)
            th, tw = d[0] * (kh - 1), d[1] * (kw - 1)
            padding = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        else:
            raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a pair, "
                             f"got {padding!r}")
    p = _pad4(padding)
    h, w = x.shape[2] + p[0] + p[1], x.shape[3] + p[2] + p[3]
    if d[0] * (kh - 1) + 1 > h or d[1] * (kw - 1) + 1 > w:
        raise ShapeError(
            f"{op}: kernel size ({kh}, {kw}){_dil(d)} is bigger than the padded input "
            f"({h}, {w}) (input {fmt_shape(x.shape)} with padding {p[0] + p[1], p[2] + p[3]})"
        )
    return s, p, d


def conv2d(input: Any, weight: Any, bias: Any = None, stride: IntPair = 1,
           padding: IntPair | str = 0, dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as torch.nn.functional.conv2d (zero padding).

    input: (N, C_in, H, W), weight: (C_out, C_in/groups, kh, kw), bias: (C_out,) or None
    -> (N, C_out, H_out, W_out), H_out = (H + 2*padding - dilation*(kh-1) - 1) // stride + 1.
    padding may be an int, a pair, or 'valid' / 'same' (stride 1 only). With groups g,
    input channel group i sees only weight rows i*C_out/g ... (i+1)*C_out/g - 1.
    """
    x, wt = _as_tensor(input), _as_tensor(weight)
    b = None if bias is None else _as_tensor(bias)
    s, p, d = _conv_args(x, wt, b, stride, padding, dilation, groups)
    return Conv2dOp.apply(x, wt, b, stride=s, padding=p, dilation=d, groups=int(groups))


def conv1d(input: Any, weight: Any, bias: Any = None, stride: int = 1,
           padding: int | str = 0, dilation: int = 1, groups: int = 1) -> Tensor:
    """1-D cross-correlation, as torch.nn.functional.conv1d: conv2d on a height-1 image.

    input: (N, C_in, L), weight: (C_out, C_in/groups, k), bias: (C_out,) or None
    -> (N, C_out, L_out), L_out = (L + 2*padding - dilation*(k-1) - 1) // stride + 1.
    """
    x, wt = _as_tensor(input), _as_tensor(weight)
    for what, t, layout in (("input", x, "(N, C_in, L)"), ("weight", wt, "(C_out, C_in, k)")):
        if t.ndim != 3:
            raise ShapeError(f"conv1d: expected a 3-D {what} of shape {layout}, got shape "
                             f"{fmt_shape(t.shape)}")
    for name, value in (("stride", stride), ("padding", padding), ("dilation", dilation)):
        if isinstance(value, (tuple, list)):
            if len(value) != 1:
                raise ValueError(f"conv1d: {name} must be an int or a 1-tuple, got {value!r}")
    stride, dilation = [v[0] if isinstance(v, (tuple, list)) else v for v in (stride, dilation)]
    if isinstance(padding, (tuple, list)):
        padding = padding[0]
    pad2 = padding if isinstance(padding, str) else (0, padding)
    out = conv2d(x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]),
                 wt.reshape(wt.shape[0], wt.shape[1], 1, wt.shape[2]), bias, (1, stride), pad2,
                 (1, dilation), groups)
    return out.reshape(out.shape[0], out.shape[1], out.shape[3])


def conv2d_reference(input: Any, weight: Any, bias: Any = None, stride: IntPair = 1,
                     padding: IntPair | str = 0) -> Tensor:
    """conv2d spelled out: unfold every window into a column, then one matrix product.

    input: (N, C_in, H, W), weight: (C_out, C_in, kh, kw), bias: (C_out,) or None
    -> (N, C_out, H_out, W_out). Slower than conv2d; its gradients come from the graph.
    """
    x, wt = _as_tensor(input), _as_tensor(weight)
    b = None if bias is None else _as_tensor(bias)
    s, p, _ = _conv_args(x, wt, b, stride, padding, 1, 1, op="conv2d_reference")
    c_out, _, kh, kw = wt.shape
    h_out = _out_size(x.shape[2], p[0] + p[1], kh, s[0])
    w_out = _out_size(x.shape[3], p[2] + p[3], kw, s[1])
    cols = Unfold.apply(x, kernel_size=(kh, kw), stride=s, padding=p)  # (N, C_in*kh*kw, L)
    out = wt.reshape(c_out, -1) @ cols  # (C_out, C_in*kh*kw) @ (N, C_in*kh*kw, L)
    if b is not None:
        out = out + b.reshape(c_out, 1)
    return out.reshape(x.shape[0], c_out, h_out, w_out)
