"""The loops `dlbd_lib._jit` compiles: one pass over memory where numpy needs several.

Plain Python on numpy arrays (they run, slowly, without numba too, which is how their
logic can be read and stepped through). Each has a `signature`, with T standing for the
float dtype; arrays are C-contiguous. The ops that call them keep their numpy code and
say when each runs.
"""

from __future__ import annotations

import numpy as np


def _signature(sig: str):
    def mark(fn):
        fn.signature = sig
        return fn
    return mark


@_signature("void(T[::1], T[::1], b1[::1])")
def relu_forward(x: np.ndarray, out: np.ndarray, mask: np.ndarray) -> None:
    """out = max(x, 0) and mask = not (x <= 0) in one pass: a NaN stays NaN (as
    np.maximum) and passes its gradient on (as torch).   x, out, mask: (n,)."""
    for i in range(x.size):
        v = x[i]
        keep = not v <= 0
        mask[i] = keep
        out[i] = v if keep else 0


@_signature("void(T[::1], b1[::1], T[::1])")
def relu_backward(g: np.ndarray, mask: np.ndarray, out: np.ndarray) -> None:
    """out = g where mask else 0 (torch's threshold_backward).   g, mask, out: (n,)."""
    for i in range(g.size):
        out[i] = g[i] if mask[i] else 0


@_signature("void(T[:, :, ::1], T[:, :, ::1], u1[:, :, ::1])")
def max_pool2x2_forward(x: np.ndarray, out: np.ndarray, code: np.ndarray) -> None:
    """Max over 2x2 windows with stride 2, and which of the four won (code = 2 * row +
    col, the first maximum in row-major order; a NaN wins, as in torch).
    x: (P, H, W) -> out, code: (P, H // 2, W // 2)."""
    planes, h_out, w_out = out.shape
    for a in range(planes):
        for i in range(h_out):
            top, bottom = x[a, 2 * i], x[a, 2 * i + 1]
            o, c = out[a, i], code[a, i]
            for j in range(w_out):
                best, t = top[2 * j], 0
                v = top[2 * j + 1]
                if v > best or v != v:
                    best, t = v, 1
                v = bottom[2 * j]
                if v > best or v != v:
                    best, t = v, 2
                v = bottom[2 * j + 1]
                if v > best or v != v:
                    best, t = v, 3
                o[j], c[j] = best, t


@_signature("void(T[:, :, ::1], u1[:, :, ::1], T[:, :, ::1])")
def max_pool2x2_backward(g: np.ndarray, code: np.ndarray, gx: np.ndarray) -> None:
    """Each window's gradient to its winner, zero elsewhere (every element written once).
    g, code: (P, H_out, W_out) -> gx: (P, H, W), H >= 2 H_out, W >= 2 W_out."""
    planes, h_out, w_out = g.shape
    h, w = gx.shape[1], gx.shape[2]
    for a in range(planes):
        for i in range(h_out):
            top, bottom = gx[a, 2 * i], gx[a, 2 * i + 1]
            gi, c = g[a, i], code[a, i]
            for j in range(w_out):
                t, v = c[j], gi[j]
                top[2 * j] = v if t == 0 else 0
                top[2 * j + 1] = v if t == 1 else 0
                bottom[2 * j] = v if t == 2 else 0
                bottom[2 * j + 1] = v if t == 3 else 0
            for j in range(2 * w_out, w):  # an odd width's last column: no window
                top[j] = 0
                bottom[j] = 0
        for i in range(2 * h_out, h):  # an odd height's last row
            for j in range(w):
                gx[a, i, j] = 0





@_signature("void(T[:, :, :, :, :, ::1], i8, i8, i8, i8, i8, i8, T[:, :, :, ::1])")
def col2im(cols: np.ndarray, sh: int, sw: int, dh: int, dw: int, top: int, left: int,
           gx: np.ndarray) -> None:
    """The adjoint of im2col: add every column entry onto the input position its window
    read, dropping the padding, one sample and channel at a time (in cache), windows in
    (p, q) order as numpy's col2im_add.   cols: (N, C, kh, kw, H_out, W_out) -> gx:
    (N, C, H, W), the unpadded input's shape."""
    n, c, kh, kw, h_out, w_out = cols.shape
    h, w = gx.shape[2], gx.shape[3]
    for a in range(n):
        for b in range(c):
            for r in range(h):
                for s in range(w):
                    gx[a, b, r, s] = 0
            for p in range(kh):
                for q in range(kw):
                    for i in range(h_out):
                        r = i * sh + p * dh - top
                        if 0 <= r < h:
                            for j in range(w_out):
                                s = j * sw + q * dw - left
                                if 0 <= s < w:
                                    gx[a, b, r, s] += cols[a, b, p, q, i, j]
