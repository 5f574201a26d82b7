"""Pooling ops: max_pool2d (dilation, ceil_mode, indices) and avg_pool2d (NCHW).

Pooling is separable: the max (or sum) over a kh x kw window is the max over kh rows of
the max over kw columns, so each pooling op is a few vectorised slice operations along H,
then along W, never a Python loop over pixels. Max pooling sends the gradient to one
position per window, the first maximum in row-major order, or the window's last NaN, as
torch does. The batch is
cut into slices that run on the engine's threads (numpy releases the GIL in ufunc loops).
ceil_mode adds the windows that hang over the bottom/right edge: the input is padded
there with -inf (max) or 0 (average, whose divisor counts only the covered positions).
The commonest case, 2x2 max pooling with stride 2 (no padding or dilation), runs as one
compiled pass each way when numba is installed (`dlbd_lib._kernels`; backward 2.5x faster
than the separable numpy passes); it stores one winner code per window (0-3) instead of
the row and column offsets, and a NaN wins its window as in torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib import _kernels
from dlbd_lib._jit import fits, kernel
from dlbd_lib._parallel import parallel_for
from dlbd_lib.errors import ShapeError, fmt_shape
from dlbd_lib.nn.conv_args import IntPair, _as_tensor, _check_float, _dil, _out_size, _pad_hw, _pair
from dlbd_lib.tensor import Function, Tensor

__all__ = ["max_pool2d", "avg_pool2d", "MaxPool2dOp", "AvgPool2dOp"]


def _along(axis: int, start: int, stride: int, count: int) -> tuple:
    """Index selecting start, start + stride, ... (count items) along `axis` of an NCHW array."""
    return (slice(None),) * axis + (slice(start, start + stride * (count - 1) + 1, stride),)


def _max_along(x: np.ndarray, axis: int, window: tuple, out: np.ndarray,
               idx: np.ndarray) -> None:
    """out = max over windows along one axis; idx = the offset t of each window's winner.

    window: (k, stride, dilation); out and idx have x's shape with out.shape[axis] windows.
    """
    (k, s, d), n_out = window, out.shape[axis]
    first = x[_along(axis, 0, s, n_out)]
    if k == 1:
        np.copyto(out, first)
        idx.fill(0)
        return
    v = x[_along(axis, d, s, n_out)]
    np.greater(v, first, out=idx.view(np.bool_)) if idx.dtype == np.uint8 else \
        np.copyto(idx, v > first)  # offset 1 wins where strictly greater (first max wins)
    np.maximum(first, v, out=out)  # NaN propagates, as torch
    for t in range(2, k):
        v = x[_along(axis, t * d, s, n_out)]
        np.copyto(idx, t, where=v > out)
        np.maximum(out, v, out=out)
    if np.isnan(np.sum(out)):  # a NaN somewhere (or inf - inf): a NaN wins its window, the
        for t in range(k):     # last one, as in torch (v > max or isnan(v), in scan order)
            np.copyto(idx, t, where=np.isnan(x[_along(axis, t * d, s, n_out)]))


def _scatter_along(g: np.ndarray, out: np.ndarray, axis: int, window: tuple,
                   idx: np.ndarray | None = None) -> None:
    """Backward of a window op along one axis: offset t of every window gets g (or, for
    max, g where the window's winner `idx` is t). g: the windowed shape; out: the input's."""
    (k, s, d), n_out = window, g.shape[axis]
    disjoint = s > d * (k - 1)  # no two window offsets land on the same position
    covered = d == 1 and s == k and out.shape[axis] == n_out * s  # each position once
    if not covered:
        out.fill(0)
    if k == 2 and disjoint and idx is not None and idx.dtype == np.uint8:
        # idx is 0/1 here, a mask of "offset 1 won": g*idx goes to offset 1, the rest of g
        # to offset 0 (two passes instead of a compare and a multiply per offset)
        second = out[_along(axis, d, s, n_out)]
        np.multiply(g, idx.view(np.bool_), out=second)
        np.subtract(g, second, out=out[_along(axis, 0, s, n_out)])
        return
    for t in range(k):
        sel = _along(axis, t * d, s, n_out)
        if idx is None:
            if disjoint:
                out[sel] = g
            else:
                out[sel] += g
        elif disjoint:
            np.multiply(g, idx == t, out=out[sel])
        else:
            out[sel] += g * (idx == t)


_CHUNK_BYTES = 1 << 19  # inputs of this many bytes at a time: intermediates stay in cache


# A pooling pass costs about a nanosecond per element, a quarter of what parallel_for's
# estimate assumes: slices go to a second thread only from ~400k elements on (waking a
# pool thread costs ~60 us here, and smaller pools measured slower on two threads)
_CHEAP = 4


def _step(sample_bytes: int) -> int:
    return max(1, _CHUNK_BYTES // sample_bytes)


def _chunks(lo: int, hi: int, step: int):
    """(a, b) slices of at most `step` samples covering lo ... hi - 1."""
    return ((a, min(a + step, hi)) for a in range(lo, hi, step))


def _offset_dtype(k: int) -> type:
    return np.uint8 if k < 256 else np.intp


class MaxPool2dOp(Function):
    """Max over each kh x kw window, rows then columns.   x: (N, C, H, W) -> (N, C, Ho, Wo)."""

    def forward(self, x, kernel_size=(1, 1), stride=(1, 1), padding=(0, 0, 0, 0),
                dilation=(1, 1)):
        (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
        self.code = None  # the compiled 2x2 path's winners (then idx_w, idx_h are unused)
        if kernel_size == stride == (2, 2) and dilation == (1, 1) and not any(padding) \
                and fits(x):
            k = kernel(_kernels.max_pool2x2_forward, x.dtype)
            if k is not None:
                return self._forward_2x2(k, x)
        xp = _pad_hw(x, padding, -np.inf)
        n, c, hp, wp = xp.shape
        h_out, w_out = _out_size(hp, 0, kh, sh, dh), _out_size(wp, 0, kw, sw, dw)
        out = np.empty((n, c, h_out, w_out), dtype=x.dtype)
        self.idx_w = np.empty((n, c, hp, w_out), dtype=_offset_dtype(kw))
        self.idx_h = np.empty((n, c, h_out, w_out), dtype=_offset_dtype(kh))

        step = _step(xp[0].nbytes)

        def body(lo: int, hi: int) -> None:
            rows = np.empty((min(step, hi - lo), c, hp, w_out), dtype=x.dtype)
            for a, b in _chunks(lo, hi, step):  # the intermediate `rows` stays in cache
                _max_along(xp[a:b], 3, (kw, sw, dw), rows[:b - a], self.idx_w[a:b])
                _max_along(rows[:b - a], 2, (kh, sh, dh), out[a:b], self.idx_h[a:b])

        parallel_for(body, n, xp[0].size // _CHEAP)
        self.shapes, self.args = (x.shape, xp.shape), (kernel_size, stride, padding, dilation)
        return out

    def _forward_2x2(self, k, x):
        """The most common pooling, 2x2 windows with stride 2, as one compiled pass that
        also records each window's winner (code 0-3, row-major) for the backward."""
        n, c, h, w = x.shape
        out = np.empty((n, c, h // 2, w // 2), dtype=x.dtype)
        self.code = np.empty(out.shape, dtype=np.uint8)
        planes = (x.reshape(n * c, h, w), out.reshape(n * c, h // 2, w // 2),
                  self.code.reshape(n * c, h // 2, w // 2))
        parallel_for(lambda lo, hi: k(*(a[lo:hi] for a in planes)), n * c, h * w // _CHEAP)
        self.shapes, self.args = (x.shape, x.shape), ((2, 2), (2, 2), (0, 0, 0, 0), (1, 1))
        return out

    def _backward_2x2(self, g):
        n, c, h, w = self.shapes[0]
        gx = np.empty((n, c, h, w), dtype=g.dtype)
        k = kernel(_kernels.max_pool2x2_backward, g.dtype)
        if k is None:  # kernels turned off after the forward ran: route g by the codes
            gx.fill(0)
            for t in range(4):
                gx[:, :, t // 2:2 * g.shape[2]:2, t % 2:2 * g.shape[3]:2] = g * (self.code == t)
            return (gx,)
        if not fits(g):
            g = np.array(g, order="C")  # e.g. a broadcast, read-only gradient
        planes = (g.reshape(n * c, *g.shape[2:]),
                  self.code.reshape(n * c, *g.shape[2:]), gx.reshape(n * c, h, w))
        parallel_for(lambda lo, hi: k(*(a[lo:hi] for a in planes)), n * c, h * w // _CHEAP)
        return (gx,)

    def backward(self, g):
        # d max/dx = 1 at the (first) maximum of each window, 0 elsewhere
        if self.code is not None:
            return self._backward_2x2(g)
        (kh, kw), (sh, sw), (top, _, left, _), (dh, dw) = self.args
        x_shape, (n, c, hp, wp) = self.shapes
        gxp = np.empty((n, c, hp, wp), dtype=g.dtype)

        step = _step(gxp[0].nbytes)

        def body(lo: int, hi: int) -> None:
            g_rows = np.empty((min(step, hi - lo), c, hp, g.shape[3]), dtype=g.dtype)
            for a, b in _chunks(lo, hi, step):
                _scatter_along(g[a:b], g_rows[:b - a], 2, (kh, sh, dh), self.idx_h[a:b])
                _scatter_along(g_rows[:b - a], gxp[a:b], 3, (kw, sw, dw), self.idx_w[a:b])

        parallel_for(body, n, gxp[0].size // _CHEAP)
        return (gxp[:, :, top:top + x_shape[2], left:left + x_shape[3]],)

    def indices(self) -> np.ndarray:
        """Flat index h*W + w of each window's maximum in its (H, W) plane, as torch."""
        _, (sh, sw), (top, _, left, _), (dh, dw) = self.args
        if self.code is not None:  # the 2x2 path: code = 2 * row + col inside the window
            h_out, w_out = self.code.shape[2:]
            rows = np.arange(h_out).reshape(-1, 1) * 2 + self.code.astype(np.intp) // 2
            return rows * self.shapes[0][3] + np.arange(w_out) * 2 + self.code % 2
        h_out, w_out = self.idx_h.shape[2:]
        rows = np.arange(h_out).reshape(-1, 1) * sh + self.idx_h.astype(np.intp) * dh
        cols = (np.arange(w_out) * sw
                + np.take_along_axis(self.idx_w, rows, axis=2).astype(np.intp) * dw)
        return (rows - top) * self.shapes[0][3] + (cols - left)


def _sum_along(x: np.ndarray, axis: int, window: tuple, out: np.ndarray) -> None:
    """out = sum over windows of k along one axis (stride s)."""
    (k, s, _), n_out = window, out.shape[axis]
    np.copyto(out, x[_along(axis, 0, s, n_out)])
    for t in range(1, k):
        out += x[_along(axis, t, s, n_out)]


class AvgPool2dOp(Function):
    """Mean over each kh x kw window.   x: (N, C, H, W) -> (N, C, H_out, W_out)."""

    def forward(self, x, kernel_size=(1, 1), stride=(1, 1), padding=(0, 0, 0, 0),
                divisor=1.0):
        (kh, kw), (sh, sw) = kernel_size, stride
        xp = _pad_hw(x, padding)
        n, c, hp, wp = xp.shape
        h_out, w_out = _out_size(hp, 0, kh, sh), _out_size(wp, 0, kw, sw)
        self.divisor = np.asarray(divisor, dtype=x.dtype)  # scalar or (H_out, W_out)
        out = np.empty((n, c, h_out, w_out), dtype=x.dtype)

        step = _step(xp[0].nbytes)

        def body(lo: int, hi: int) -> None:
            rows = np.empty((min(step, hi - lo), c, hp, w_out), dtype=x.dtype)
            for a, b in _chunks(lo, hi, step):
                _sum_along(xp[a:b], 3, (kw, sw, 1), rows[:b - a])
                _sum_along(rows[:b - a], 2, (kh, sh, 1), out[a:b])
                out[a:b] /= self.divisor

        parallel_for(body, n, xp[0].size // _CHEAP)
        self.shapes, self.args = (x.shape, xp.shape), (kernel_size, stride, padding)
        return out

    def backward(self, g):
        # d mean/dx = 1/divisor for each element of the window
        (kh, kw), (sh, sw), (top, _, left, _) = self.args
        x_shape, (n, c, hp, wp) = self.shapes
        g = g / self.divisor
        gxp = np.empty((n, c, hp, wp), dtype=g.dtype)

        step = _step(gxp[0].nbytes)

        def body(lo: int, hi: int) -> None:
            g_rows = np.empty((min(step, hi - lo), c, hp, g.shape[3]), dtype=g.dtype)
            for a, b in _chunks(lo, hi, step):
                _scatter_along(g[a:b], g_rows[:b - a], 2, (kh, sh, 1))
                _scatter_along(g_rows[:b - a], gxp[a:b], 3, (kw, sw, 1))

        parallel_for(body, n, gxp[0].size // _CHEAP)
        return (gxp[:, :, top:top + x_shape[2], left:left + x_shape[3]],)


def _pool_args(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any,
               dilation: Any = 1, ceil_mode: bool = False) -> tuple:
    """Validate pooling arguments; returns (kernel, stride, (top, bottom, left, right),
    dilation), where bottom/right include the extra padding that ceil_mode needs."""
    if x.ndim not in (3, 4):
        raise ShapeError(
            f"{op}: expected a 4-D input (N, C, H, W) or 3-D (C, H, W), got shape "
            f"{fmt_shape(x.shape)}"
        )
    _check_float(op, x)
    k = _pair(kernel_size, "kernel_size", 1)
    s = k if stride is None or stride == [] else _pair(stride, "stride", 1)
    (ph, pw), d = _pair(padding, "padding"), _pair(dilation, "dilation", 1)
    if ph > k[0] // 2 or pw > k[1] // 2:
        raise ValueError(
            f"{op}: padding should be at most half of the kernel size, got padding "
            f"{(ph, pw)} and kernel_size {k}"
        )
    size, pad, extra = x.shape[-2:], (ph, pw), []
    out = [_out_size(size[a], 2 * pad[a], k[a], s[a], d[a], ceil_mode) for a in (0, 1)]
    if min(out) < 1:
        raise ShapeError(
            f"{op}: kernel size {k}{_dil(d)} is bigger than the padded input "
            f"({size[0] + 2 * ph}, {size[1] + 2 * pw}) (input shape {fmt_shape(x.shape)}, "
            f"padding {(ph, pw)}): output size would be {tuple(out)}"
        )
    for a in (0, 1):  # ceil_mode: pad the last window's overhang too
        need = (out[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1 - (size[a] + 2 * pad[a])
        extra.append(max(0, need))
    return k, s, (ph, ph + extra[0], pw, pw + extra[1]), d


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
    H_out = (H + 2*padding - dilation*(kh-1) - 1) // stride + 1 (rounded up with
    ceil_mode); stride defaults to kernel_size. With return_indices, also the flat index
    h*W + w of each maximum in its (H, W) plane.
    """
    x = _as_tensor(input)
    k, s, p, d = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    x, unbatched = _batched(x)
    out = MaxPool2dOp.apply(x, kernel_size=k, stride=s, padding=p, dilation=d)
    fn = out._ctx
    if unbatched:
        out = out.reshape(out.shape[1:])
    if not return_indices:
        return out
    if fn is None:  # no graph was recorded: run the op once more to get at its indices
        fn = MaxPool2dOp()
        fn.forward(x.data, kernel_size=k, stride=s, padding=p, dilation=d)
    idx = fn.indices().astype(np.int64)
    return out, Tensor(idx[0] if unbatched else idx)


def _avg_divisor(size: tuple, p: tuple, k: tuple, s: tuple, count_include_pad: bool):
    """Per-window divisor of avg_pool2d, as torch: the window clipped to the padded input
    (ceil_mode windows hang over it), or to the real input without count_include_pad.
    Windows are separable, so it is an outer product of per-axis counts."""
    counts = []
    for a, (top, bottom) in ((0, p[:2]), (1, p[2:])):
        pad = top  # torch's symmetric padding; bottom - top is ceil_mode's overhang
        n_out = _out_size(size[a], top + bottom, k[a], s[a])
        start = np.arange(n_out) * s[a] - pad
        end = np.minimum(start + k[a], size[a] + pad)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size[a])
        counts.append(end - start)
    return np.outer(counts[0], counts[1])


def avg_pool2d(input: Any, kernel_size: IntPair, stride: IntPair | None = None,
               padding: IntPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over kh x kw windows, as torch.nn.functional.avg_pool2d (zero padding).

    input: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out) (or (C, H_out, W_out)).
    count_include_pad=False divides by the number of real (non-padding) elements.
    """
    x = _as_tensor(input)
    k, s, p, _ = _pool_args("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    x, unbatched = _batched(x)
    divisor: Any = k[0] * k[1]
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError("avg_pool2d: divisor_override must not be zero")
        divisor = divisor_override
    elif (not count_include_pad and any(p)) or p[1] != p[0] or p[3] != p[2]:
        divisor = _avg_divisor(x.shape[2:], p, k, s, count_include_pad)
    out = AvgPool2dOp.apply(x, kernel_size=k, stride=s, padding=p, divisor=divisor)
    return out.reshape(out.shape[1:]) if unbatched else out
