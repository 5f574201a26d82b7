"""Convolution and pooling ops: im2col/col2im, conv2d, max_pool2d, avg_pool2d (NCHW).

A convolution is a matrix product in disguise: `im2col` copies every kh x kw window of the
(padded) input into one column, so `conv2d` is `weight.reshape(C_out, -1) @ cols`.
`conv2d_reference` spells exactly that out with differentiable pieces (unfold, matmul) and
is what the course notebook shows; `Conv2dOp` is the fast version the layers use, with a
hand-written backward, and the tests check the two against each other and against torch.

Pooling is separable: the max (or sum) over a kh x kw window is the max over kh rows of
the max over kw columns, so each pooling op is a few vectorised slice operations along H,
then along W, never a Python loop over pixels. Max pooling sends the gradient to one
position per window, the first maximum in row-major order, as torch does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.tensor import Function, Tensor

__all__ = [
    "im2col", "col2im", "unfold", "fold", "conv2d", "conv2d_reference", "max_pool2d",
    "avg_pool2d", "Conv2dOp", "Unfold", "Fold", "MaxPool2dOp", "AvgPool2dOp",
]

IntPair = int | tuple[int, int]


# ---- arguments ----------------------------------------------------------------------------
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


def _out_size(size: int, pad: int, kernel: int, stride: int) -> int:
    """Number of window positions: floor((size + pad - kernel) / stride) + 1."""
    return (size + pad - kernel) // stride + 1


def _unsupported(op: str, **options: Any) -> None:
    for name, (value, default) in options.items():
        if value != default and value != (default, default):
            raise NotImplementedError(
                f"{op}: {name}={value!r} is not supported by dlbd_lib (only {name}={default!r})"
            )


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


def _crop(xp: np.ndarray, pad: tuple[int, int, int, int], shape: tuple) -> np.ndarray:
    """Undo _pad_hw: the (H, W) interior of a padded (N, C, Hp, Wp) array."""
    if not any(pad):
        return xp
    top, _, left, _ = pad
    return xp[:, :, top:top + shape[2], left:left + shape[3]]


# ---- im2col / col2im ----------------------------------------------------------------------
def im2col(x: np.ndarray, kernel_size: IntPair, stride: IntPair = 1,
           padding: Any = 0) -> np.ndarray:
    """Copy every kh x kw window of the zero-padded input into a column (torch's unfold).

    x: (N, C, H, W) -> (N, C*kh*kw, H_out*W_out); row c*kh*kw + i*kw + j of column
    (ho, wo) is x_padded[n, c, ho*sh + i, wo*sw + j].
    """
    (kh, kw), (sh, sw), pad = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1), \
        _pad4(padding)
    n, c = x.shape[:2]
    xp = _pad_hw(x, pad)
    # a view (N, C, H_out, W_out, kh, kw) of all windows: no copy until the reshape below
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    h_out, w_out = windows.shape[2:4]
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, h_out * w_out)


def col2im(cols: np.ndarray, input_shape: tuple, kernel_size: IntPair, stride: IntPair = 1,
           padding: Any = 0) -> np.ndarray:
    """The adjoint of im2col (torch's fold): add every column back onto its window.

    cols: (N, C*kh*kw, H_out*W_out) -> (N, C, H, W) with input_shape = (N, C, H, W);
    positions covered by several windows receive the sum of their values.
    """
    (kh, kw), (sh, sw), (top, bottom, left, right) = \
        _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1), _pad4(padding)
    n, c, h, w = input_shape
    hp, wp = h + top + bottom, w + left + right
    h_out, w_out = _out_size(hp, 0, kh, sh), _out_size(wp, 0, kw, sw)
    cols = cols.reshape(n, c, kh, kw, h_out, w_out)
    xp = np.zeros((n, c, hp, wp), dtype=cols.dtype)
    for i in range(kh):  # one vectorised add per kernel offset (kh*kw in all)
        for j in range(kw):
            xp[:, :, i:i + sh * h_out:sh, j:j + sw * w_out:sw] += cols[:, :, i, j]
    return xp[:, :, top:top + h, left:left + w]


class Unfold(Function):
    """im2col as a graph op.   x: (N, C, H, W) -> (N, C*kh*kw, L)."""

    def forward(self, x, kernel_size=1, stride=1, padding=0):
        self.args = (x.shape, kernel_size, stride, padding)
        return im2col(x, kernel_size, stride, padding)

    def backward(self, g):
        return (col2im(g, *self.args),)  # each input element gets the sum over its copies


class Fold(Function):
    """col2im as a graph op.   cols: (N, C*kh*kw, L) -> (N, C, H, W)."""

    def forward(self, cols, input_shape=(), kernel_size=1, stride=1, padding=0):
        self.args = (kernel_size, stride, padding)
        return np.ascontiguousarray(col2im(cols, input_shape, kernel_size, stride, padding))

    def backward(self, g):
        return (im2col(g, *self.args),)  # the adjoint of a sum of copies is a copy


def _window_args(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any) -> tuple:
    _check_4d(op, x, layout="(N, C, H, W)")
    k, s, p = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1), _pad4(padding)
    h, w = x.shape[2] + p[0] + p[1], x.shape[3] + p[2] + p[3]
    if k[0] > h or k[1] > w:
        raise ShapeError(
            f"{op}: kernel size {k} is bigger than the padded input ({h}, {w}) "
            f"(input {fmt_shape(x.shape[2:])} plus padding {p[0] + p[1], p[2] + p[3]})"
        )
    return k, s, p


def unfold(input: Any, kernel_size: IntPair, dilation: IntPair = 1, padding: IntPair = 0,
           stride: IntPair = 1) -> Tensor:
    """Extract sliding windows as columns (torch.nn.functional.unfold).

    input: (N, C, H, W) -> (N, C*kh*kw, H_out*W_out).
    """
    _unsupported("unfold", dilation=(dilation, 1))
    x = _as_tensor(input)
    k, s, p = _window_args("unfold", x, kernel_size, stride, padding)
    return Unfold.apply(x, kernel_size=k, stride=s, padding=p)


def fold(input: Any, output_size: IntPair, kernel_size: IntPair, dilation: IntPair = 1,
         padding: IntPair = 0, stride: IntPair = 1) -> Tensor:
    """Sum columns back into an image, the inverse layout of unfold (torch's fold).

    input: (N, C*kh*kw, L) -> (N, C, H, W) with (H, W) = output_size.
    """
    _unsupported("fold", dilation=(dilation, 1))
    cols = _as_tensor(input)
    (kh, kw), s, p = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1), \
        _pad4(padding)
    h, w = _pair(output_size, "output_size", 1)
    n_out = _out_size(h, p[0] + p[1], kh, s[0]) * _out_size(w, p[2] + p[3], kw, s[1])
    if cols.ndim != 3 or cols.shape[1] % (kh * kw) or cols.shape[2] != n_out:
        raise ShapeError(
            f"fold: expected input of shape (N, C*{kh * kw}, {n_out}) for output_size "
            f"{(h, w)} and kernel_size {(kh, kw)}, got shape {fmt_shape(cols.shape)}"
        )
    shape = (cols.shape[0], cols.shape[1] // (kh * kw), h, w)
    return Fold.apply(cols, input_shape=shape, kernel_size=(kh, kw), stride=s, padding=p)


# ---- convolution --------------------------------------------------------------------------
class Conv2dOp(Function):
    """Cross-correlation via im2col + one batched matmul, with a hand-written backward.

    x: (N, C_in, H, W), weight: (C_out, C_in, kh, kw), bias: (C_out,) or None
    -> (N, C_out, H_out, W_out).
    """

    def forward(self, x, weight, bias=None, stride=(1, 1), padding=(0, 0, 0, 0)):
        n, _, h, w = x.shape
        c_out, c_in, kh, kw = weight.shape
        hp, wp = h + padding[0] + padding[1], w + padding[2] + padding[3]
        h_out, w_out = _out_size(hp, 0, kh, stride[0]), _out_size(wp, 0, kw, stride[1])
        self.cols = im2col(x, (kh, kw), stride, padding)  # (N, C_in*kh*kw, L)
        self.x_shape, self.weight, self.stride, self.padding = x.shape, weight, stride, padding
        out = np.matmul(weight.reshape(c_out, -1), self.cols)  # (N, C_out, L)
        if bias is not None:
            out += bias.reshape(c_out, 1)
        return out.reshape(n, c_out, h_out, w_out)

    def backward(self, g):
        weight, cols = self.weight, self.cols
        n, c_out, h_out, w_out = g.shape
        g3 = g.reshape(n, c_out, h_out * w_out)
        gx = gw = gb = None
        if self.needs_grad[1]:
            # d out/d W: gW = sum_n g_n cols_n^T
            gw = np.matmul(g3, cols.transpose(0, 2, 1)).sum(axis=0).reshape(weight.shape)
        if self.needs_grad[2]:
            gb = g.sum(axis=(0, 2, 3))  # d out/d b = 1 at every position
        if self.needs_grad[0]:
            gx = _conv_input_grad(g, weight, self.x_shape, self.stride, self.padding)
        return gx, gw, gb


def _conv_input_grad(g: np.ndarray, weight: np.ndarray, x_shape: tuple, stride: tuple,
                     padding: tuple) -> np.ndarray:
    """d conv/d x = col2im(W^T g): one small matmul per sample, then a scatter-add.

    g: (N, C_out, H_out, W_out), weight: (C_out, C_in, kh, kw) -> (N, C_in, H, W).
    """
    n, c_out, h_out, w_out = g.shape
    _, c_in, kh, kw = weight.shape
    (sh, sw), (top, bottom, left, right) = stride, padding
    h, w = x_shape[2:]
    dcols = np.matmul(weight.reshape(c_out, -1).T, g.reshape(n, c_out, h_out * w_out))
    if w_out >= 16:
        return col2im(dcols, x_shape, (kh, kw), stride, padding)
    # short rows make col2im's kh*kw adds slow (numpy loops over rows of W_out values), so
    # scatter batch-last instead: there the rows (W_out, N) of dxp are contiguous
    dcols = dcols.reshape(n, c_in, kh, kw, h_out, w_out).transpose(1, 2, 3, 4, 5, 0)
    dxp = np.zeros((c_in, h + top + bottom, w + left + right, n), dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i:i + sh * h_out:sh, j:j + sw * w_out:sw] += dcols[:, i, j]
    return dxp[:, top:top + h, left:left + w].transpose(3, 0, 1, 2)


def _conv_args(x: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any,
               dilation: Any, groups: int, op: str = "conv2d") -> tuple:
    """Validate conv2d's inputs; returns (stride, (top, bottom, left, right))."""
    _unsupported(op, dilation=(dilation, 1), groups=(groups, 1))
    _check_4d(op, x)
    _check_4d(op, weight, "weight", "(C_out, C_in, kh, kw)")
    _check_float(op, x)
    if x.dtype != weight.dtype:
        raise DtypeError(
            f"{op}: input dtype {x.dtype} and weight dtype {weight.dtype} differ; convert "
            "one of them, e.g. x.float() or layer.double()"
        )
    c_out, c_in, kh, kw = weight.shape
    if x.shape[1] != c_in:
        raise ShapeError(
            f"{op}: the input has {x.shape[1]} channels but the weight expects {c_in} "
            f"(input shape {fmt_shape(x.shape)}, weight shape {fmt_shape(weight.shape)})"
        )
    if bias is not None and bias.shape != (c_out,):
        raise ShapeError(
            f"{op}: bias must have shape ({c_out},) for {c_out} output channels, got "
            f"{fmt_shape(bias.shape)}"
        )
    s = _pair(stride, "stride", 1)
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if s != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride {s}")
            # total padding k - 1 per axis; an odd remainder goes to the bottom/right, as torch
            padding = ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)
        else:
            raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a pair, "
                             f"got {padding!r}")
    p = _pad4(padding)
    h, w = x.shape[2] + p[0] + p[1], x.shape[3] + p[2] + p[3]
    if kh > h or kw > w:
        raise ShapeError(
            f"{op}: kernel size ({kh}, {kw}) is bigger than the padded input ({h}, {w}) "
            f"(input {fmt_shape(x.shape)} with padding {p[0] + p[1], p[2] + p[3]})"
        )
    return s, p


def conv2d(input: Any, weight: Any, bias: Any = None, stride: IntPair = 1,
           padding: IntPair | str = 0, dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as torch.nn.functional.conv2d (zero padding).

    input: (N, C_in, H, W), weight: (C_out, C_in, kh, kw), bias: (C_out,) or None
    -> (N, C_out, H_out, W_out), H_out = (H + 2*padding - kh) // stride + 1.
    padding may be an int, a pair, or 'valid' / 'same' (stride 1 only).
    """
    x, wt = _as_tensor(input), _as_tensor(weight)
    b = None if bias is None else _as_tensor(bias)
    s, p = _conv_args(x, wt, b, stride, padding, dilation, groups)
    return Conv2dOp.apply(x, wt, b, stride=s, padding=p)


def conv2d_reference(input: Any, weight: Any, bias: Any = None, stride: IntPair = 1,
                     padding: IntPair | str = 0) -> Tensor:
    """conv2d spelled out: unfold every window into a column, then one matrix product.

    input: (N, C_in, H, W), weight: (C_out, C_in, kh, kw), bias: (C_out,) or None
    -> (N, C_out, H_out, W_out). Slower than conv2d; its gradients come from the graph.
    """
    x, wt = _as_tensor(input), _as_tensor(weight)
    b = None if bias is None else _as_tensor(bias)
    s, p = _conv_args(x, wt, b, stride, padding, 1, 1, op="conv2d_reference")
    c_out, _, kh, kw = wt.shape
    h_out = _out_size(x.shape[2], p[0] + p[1], kh, s[0])
    w_out = _out_size(x.shape[3], p[2] + p[3], kw, s[1])
    cols = Unfold.apply(x, kernel_size=(kh, kw), stride=s, padding=p)  # (N, C_in*kh*kw, L)
    out = wt.reshape(c_out, -1) @ cols  # (C_out, C_in*kh*kw) @ (N, C_in*kh*kw, L)
    if b is not None:
        out = out + b.reshape(c_out, 1)
    return out.reshape(x.shape[0], c_out, h_out, w_out)


# ---- pooling ------------------------------------------------------------------------------
def _along(axis: int, start: int, stride: int, count: int) -> tuple:
    """Index selecting start, start + stride, ... (count items) along `axis` of an NCHW array."""
    return (slice(None),) * axis + (slice(start, start + stride * (count - 1) + 1, stride),)


def _max_along(x: np.ndarray, axis: int, k: int, s: int, n_out: int):
    """Max over windows of k along one axis (stride s); returns (values, winning offset)."""
    best = x[_along(axis, 0, s, n_out)]
    offset = np.uint8 if k < 256 else np.intp
    idx = np.zeros(best.shape, dtype=offset)
    for t in range(1, k):
        v = x[_along(axis, t, s, n_out)]
        better = v > best  # strict: the first maximum wins ties, as torch
        # offsets only grow, so "idx = t where better" is a running maximum (3x faster
        # than np.where here)
        idx = np.maximum(idx, better.astype(offset) * offset(t))
        best = np.maximum(best, v, out=None if t == 1 else best)  # NaN propagates, as torch
    return (best if k > 1 else best.copy()), idx


def _scatter_along(g: np.ndarray, shape: tuple, axis: int, k: int, s: int,
                   idx: np.ndarray | None = None) -> np.ndarray:
    """Backward of a window op along one axis: offset t of every window gets g (or, for max,
    g where the window's winner `idx` is t). g: the windowed shape -> `shape`."""
    n_out = g.shape[axis]
    overlap = s < k
    covered = s == k and shape[axis] == n_out * s  # every position in exactly one window
    out = np.empty(shape, dtype=g.dtype) if covered else np.zeros(shape, dtype=g.dtype)
    for t in range(k):
        sel = _along(axis, t, s, n_out)
        if idx is None:
            if overlap:
                out[sel] += g
            else:
                out[sel] = g
        elif overlap:
            out[sel] += g * (idx == t)
        else:
            np.multiply(g, idx == t, out=out[sel])
    return out


class MaxPool2dOp(Function):
    """Max over each kh x kw window, rows then columns.   x: (N, C, H, W) -> (N, C, Ho, Wo)."""

    def forward(self, x, kernel_size=(1, 1), stride=(1, 1), padding=(0, 0, 0, 0)):
        (kh, kw), (sh, sw) = kernel_size, stride
        xp = _pad_hw(x, padding, -np.inf)
        h_out, w_out = _out_size(xp.shape[2], 0, kh, sh), _out_size(xp.shape[3], 0, kw, sw)
        rows, self.idx_w = _max_along(xp, 3, kw, sw, w_out)  # (N, C, Hp, W_out)
        out, self.idx_h = _max_along(rows, 2, kh, sh, h_out)  # (N, C, H_out, W_out)
        self.shapes = (x.shape, xp.shape, rows.shape)
        self.args = (kernel_size, stride, padding)
        return out

    def backward(self, g):
        # d max/dx = 1 at the (first) maximum of each window, 0 elsewhere
        (kh, kw), (sh, sw), _ = self.args
        x_shape, xp_shape, rows_shape = self.shapes
        g_rows = _scatter_along(g, rows_shape, 2, kh, sh, self.idx_h)
        gxp = _scatter_along(g_rows, xp_shape, 3, kw, sw, self.idx_w)
        return (_crop(gxp, self.args[2], x_shape),)

    def indices(self) -> np.ndarray:
        """Flat index h*W + w of each window's maximum in its (H, W) plane, as torch."""
        (_, _), (sh, sw), (top, _, left, _) = self.args
        h_out, w_out = self.idx_h.shape[2:]
        rows = np.arange(h_out).reshape(-1, 1) * sh + self.idx_h  # padded row of each winner
        cols = np.arange(w_out) * sw + np.take_along_axis(self.idx_w, rows, axis=2)
        return (rows - top) * self.shapes[0][3] + (cols - left)


def _sum_along(x: np.ndarray, axis: int, k: int, s: int, n_out: int) -> np.ndarray:
    """Sum over windows of k along one axis (stride s)."""
    out = x[_along(axis, 0, s, n_out)]
    for t in range(1, k):
        out = np.add(out, x[_along(axis, t, s, n_out)], out=None if t == 1 else out)
    return out if k > 1 else out.copy()


class AvgPool2dOp(Function):
    """Mean over each kh x kw window.   x: (N, C, H, W) -> (N, C, H_out, W_out)."""

    def forward(self, x, kernel_size=(1, 1), stride=(1, 1), padding=(0, 0, 0, 0),
                divisor=1.0):
        (kh, kw), (sh, sw) = kernel_size, stride
        xp = _pad_hw(x, padding)
        h_out, w_out = _out_size(xp.shape[2], 0, kh, sh), _out_size(xp.shape[3], 0, kw, sw)
        rows = _sum_along(xp, 3, kw, sw, w_out)
        self.shapes = (x.shape, xp.shape, rows.shape)
        self.args = (kernel_size, stride, padding)
        self.divisor = np.asarray(divisor, dtype=x.dtype)  # scalar or (H_out, W_out)
        out = _sum_along(rows, 2, kh, sh, h_out)
        out /= self.divisor
        return out

    def backward(self, g):
        # d mean/dx = 1/divisor for each element of the window
        (kh, kw), (sh, sw), _ = self.args
        x_shape, xp_shape, rows_shape = self.shapes
        g_rows = _scatter_along(g / self.divisor, rows_shape, 2, kh, sh)
        gxp = _scatter_along(g_rows, xp_shape, 3, kw, sw)
        return (_crop(gxp, self.args[2], x_shape),)


def _pool_args(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any) -> tuple:
    """Validate pooling arguments; returns (kernel, stride, (top, bottom, left, right))."""
    if x.ndim not in (3, 4):
        raise ShapeError(
            f"{op}: expected a 4-D input (N, C, H, W) or 3-D (C, H, W), got shape "
            f"{fmt_shape(x.shape)}"
        )
    _check_float(op, x)
    k = _pair(kernel_size, "kernel_size", 1)
    s = k if stride is None or stride == [] else _pair(stride, "stride", 1)
    ph, pw = _pair(padding, "padding")
    if ph > k[0] // 2 or pw > k[1] // 2:
        raise ValueError(
            f"{op}: padding should be at most half of the kernel size, got padding "
            f"{(ph, pw)} and kernel_size {k}"
        )
    h_out = _out_size(x.shape[-2], 2 * ph, k[0], s[0])
    w_out = _out_size(x.shape[-1], 2 * pw, k[1], s[1])
    if h_out < 1 or w_out < 1:
        raise ShapeError(
            f"{op}: kernel size {k} is bigger than the padded input "
            f"({x.shape[-2] + 2 * ph}, {x.shape[-1] + 2 * pw}) (input shape "
            f"{fmt_shape(x.shape)}, padding {(ph, pw)}): output size would be {(h_out, w_out)}"
        )
    return k, s, (ph, ph, pw, pw)


def _batched(x: Tensor) -> tuple[Tensor, bool]:
    """A 3-D (C, H, W) input becomes (1, C, H, W), as torch treats unbatched input."""
    if x.ndim == 3:
        return x.reshape(1, *x.shape), True
    return x, False


def max_pool2d(input: Any, kernel_size: IntPair, stride: IntPair | None = None,
               padding: IntPair = 0, dilation: IntPair = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max over kh x kw windows, as torch.nn.functional.max_pool2d (padding is -inf).

    input: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out) (or (C, H_out, W_out)),
    H_out = (H + 2*padding - kh) // stride + 1; stride defaults to kernel_size. With
    return_indices, also the flat index h*W + w of each maximum in its (H, W) plane.
    """
    _unsupported("max_pool2d", dilation=(dilation, 1), ceil_mode=(ceil_mode, False))
    x = _as_tensor(input)
    k, s, p = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    x, unbatched = _batched(x)
    out = MaxPool2dOp.apply(x, kernel_size=k, stride=s, padding=p)
    fn = out._ctx
    if unbatched:
        out = out.reshape(out.shape[1:])
    if not return_indices:
        return out
    if fn is None:  # no graph was recorded: run the op once more to get at its indices
        fn = MaxPool2dOp()
        fn.forward(x.data, kernel_size=k, stride=s, padding=p)
    idx = fn.indices().astype(np.int64)
    return out, Tensor(idx[0] if unbatched else idx)


def avg_pool2d(input: Any, kernel_size: IntPair, stride: IntPair | None = None,
               padding: IntPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over kh x kw windows, as torch.nn.functional.avg_pool2d (zero padding).

    input: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out) (or (C, H_out, W_out)).
    count_include_pad=False divides by the number of real (non-padding) elements.
    """
    _unsupported("avg_pool2d", ceil_mode=(ceil_mode, False))
    x = _as_tensor(input)
    (kh, kw), s, p = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    x, unbatched = _batched(x)
    divisor: Any = kh * kw
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError("avg_pool2d: divisor_override must not be zero")
        divisor = divisor_override
    elif not count_include_pad and any(p):
        # windows are separable, so the count of real elements is (real rows) * (real cols)
        counts = []
        for size, pad, k, st in ((x.shape[2], p[0], kh, s[0]), (x.shape[3], p[2], kw, s[1])):
            start = np.arange(_out_size(size, 2 * pad, k, st)) * st - pad
            counts.append(np.minimum(start + k, size) - np.maximum(start, 0))
        divisor = np.outer(counts[0], counts[1])
    out = AvgPool2dOp.apply(x, kernel_size=(kh, kw), stride=s, padding=p, divisor=divisor)
    return out.reshape(out.shape[1:]) if unbatched else out
