"""The loops `dlbd_lib._jit` compiles: one pass over memory where numpy needs several.

Plain Python on numpy arrays (they run, slowly, without numba too, which is how their
logic can be read and stepped through). Each has a `signature`, with T standing for the
float dtype; arrays are C-contiguous. A signature starting with G takes numpy's own BLAS
matrix product as its first argument (`dlbd_lib._blas.gemm`, a ctypes function), which
`_jit` binds. The ops that call them keep their numpy code and say when each runs.
"""

from __future__ import annotations

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS's enum values, for the `gemm` argument


def _signature(sig: str):
    def mark(fn):
        fn.signature = sig
        return fn
    return mark


# ---- helpers the kernels call (`_jit` lets numba compile them into the callers) -----------
def _product(gemm, W: np.ndarray, trans: bool, x: np.ndarray, out: np.ndarray,
             one: float) -> None:
    """out = W x, or W^T x with trans, by numpy's BLAS (`gemm`), called as np.matmul calls
    it for these layouts.   W: (R, C), C-ordered; x: (C, N) or (R, N) with trans; out:
    (R, N) or (C, N) with trans."""
    rows, cols = W.shape
    n = x.shape[1]
    m, k = (cols, rows) if trans else (rows, cols)
    gemm(ROW_MAJOR, TRANS if trans else NO_TRANS, NO_TRANS, m, n, k, one, W.ctypes.data,
         cols, x.ctypes.data, n, one - one, out.ctypes.data, n)


def _put_step(dst: np.ndarray, t: int, row0: int, src: np.ndarray) -> None:
    """dst[row0 + r, t] = src[r]: one step's column block into the all-steps array
    (element by element: 2x faster in compiled code than slice assignment).
    dst: (G, L, N); src: (R, N)."""
    for r in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[row0 + r, t, j] = src[r, j]


JITABLE = (_product, _put_step)


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
    """out = g where mask else 0, as the numpy code (and torch) computes it: an inf or NaN
    gradient where the mask is False gives 0 there.   g, mask, out: (n,)."""
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





@_signature("void(T[:, :, :, ::1], u8, u8, u8, u8, T[:, :, :, :, :, ::1])")
def im2col(xp: np.ndarray, sh: int, sw: int, dh: int, dw: int, cols: np.ndarray) -> None:
    """cols[a, b, p, q, i, j] = xp[a, b, i sh + p dh, j sw + q dw]: every window of the
    padded input copied into columns (numpy's strided copy of the same windows takes
    1.4-1.6x as long).   xp: (N, C, Hp, Wp); cols: (N, C, kh, kw, H_out, W_out).
    The source index is unsigned, so the compiler knows it needs no wraparound for
    negative values and vectorises the copy (signed, it ran 2x slower)."""
    n, c, kh, kw, h_out, w_out = cols.shape
    for a in range(n):
        for b in range(c):
            for p in range(kh):
                for q in range(kw):
                    for i in range(h_out):
                        r = np.uint64(i) * sh + np.uint64(p) * dh
                        s = np.uint64(q) * dw
                        for j in range(w_out):
                            cols[a, b, p, q, i, j] = xp[a, b, r, s + np.uint64(j) * sw]


@_signature("void(T[:, :, :, :, :, ::1], i8, i8, i8, i8, i8, i8, T[:, :, :, ::1])")
def col2im(cols: np.ndarray, sh: int, sw: int, dh: int, dw: int, top: int, left: int,
           gx: np.ndarray) -> None:
    """The adjoint of im2col: add every column entry onto the input position its window
    read, dropping the padding, one sample and channel at a time (in cache), windows in
    (p, q) order as numpy's col2im_add.   cols: (N, C, kh, kw, H_out, W_out) -> gx:
    (N, C, H, W), the unpadded input's shape.
    Column j of window offset q lands at s = j sw + q dw - left; the j whose s falls inside
    the input are one range, found first, so the inner loop has no test and, its indices
    unsigned, vectorises (LeNet's second layer: 0.40 against 0.49 ms a batch of 64)."""
    n, c, kh, kw, h_out, w_out = cols.shape
    h, w = gx.shape[2], gx.shape[3]
    usw = np.uint64(sw)
    for a in range(n):
        for b in range(c):
            for r in range(h):
                for s in range(w):
                    gx[a, b, r, s] = 0
            for p in range(kh):
                for q in range(kw):
                    off = q * dw - left
                    j_lo = -(off // sw) if off < 0 else 0  # the first j with s >= 0
                    j_hi = min(w_out, (w - 1 - off) // sw + 1)  # past the last with s < w
                    if j_hi <= j_lo:
                        continue
                    s0 = np.uint64(j_lo * sw + off)
                    for i in range(h_out):
                        r = i * sh + p * dh - top
                        if 0 <= r < h:
                            ur = np.uint64(r)
                            for jj in range(j_hi - j_lo):
                                ju = np.uint64(jj)
                                gx[a, b, ur, s0 + ju * usw] += cols[a, b, p, q, i,
                                                                    np.uint64(j_lo) + ju]


@_signature("void(T[:, :, ::1], T[:, :, :])")
def rows_from_columns(src: np.ndarray, dst: np.ndarray) -> None:
    """dst[j, t, r] = src[t, r, j]: a recurrent layer's states, one column block per step,
    into the rows of its (N, L, F) output.   src: (L, F, N); dst: (N, L, F), any strides."""
    steps, features, n = src.shape
    for t in range(steps):
        for j in range(n):
            for r in range(features):
                dst[j, t, r] = src[t, r, j]


@_signature("void(G, T[:, ::1], T[:, :, ::1], T[:, :, :, ::1], T[:, :, ::1], T[:, :, ::1], "
            "T[:, ::1], T[:, ::1], T[:, ::1], T[:, :, ::1], T)")
def lstm_backward(gemm, dh: np.ndarray, gT: np.ndarray, gates: np.ndarray,
                  tanh_c: np.ndarray, cT: np.ndarray, dc: np.ndarray, W: np.ndarray,
                  da: np.ndarray, dA: np.ndarray, one: float) -> None:
    """The LSTM's back-propagation through time, all L steps in one call: per step the
    elementwise work in one pass (the same products, in the same order, as the numpy code
    of LSTMLayer.backward), then dh = W^T da by numpy's BLAS (`gemm`, see _blas), called
    as np.matmul calls it.

    dh: (H, N), zeros in, dL/dh_0 out; gT: (L, H, N), dL/dh_t from the output; gates:
    (L, 4, H, N), (o, i, f, g) of every step; tanh_c: (L, H, N), tanh(c_t); cT: (L + 1, H,
    N), c_0..c_L; dc: (H, N), dL/dc_L in, dL/dc_0 out; W: (4H, H), W_hh's rows in op order;
    da: (4H, N) scratch; dA: (4H, L, N), every step's dL/da_t out (rows o, i, f, g).
    one: 1 in the dtype. The elementwise loop runs over flat indices of C-contiguous
    blocks, which lets the compiler vectorise it (8 floats at a time).
    """
    L, _, hidden, n = gates.shape
    m = hidden * n
    dh1, dc1, da1 = dh.reshape(-1), dc.reshape(-1), da.reshape(-1)
    for t in range(L - 1, -1, -1):
        g1, gs = gT[t].reshape(-1), gates[t].reshape(-1)
        tc1, cp1 = tanh_c[t].reshape(-1), cT[t].reshape(-1)
        for k in range(m):
            d = dh1[k] + g1[k]
            o, i, f, g = gs[k], gs[m + k], gs[2 * m + k], gs[3 * m + k]
            tc = tc1[k]
            da1[k] = d * (((one - o) * o) * tc)             # dL/da_o = dh tanh(c) o (1 - o)
            c = dc1[k] + d * ((one - tc * tc) * o)         # dc += dh o (1 - tanh(c)^2)
            da1[m + k] = c * (((one - i) * i) * g)         # dL/da_i = dc g i (1 - i)
            da1[2 * m + k] = c * (((one - f) * f) * cp1[k])  # dL/da_f = dc c_{t-1} f (1 - f)
            da1[3 * m + k] = c * ((one - g * g) * i)       # dL/da_g = dc i (1 - g^2)
            dc1[k] = c * f                                 # d c_t / d c_{t-1} = f
        _put_step(dA, t, 0, da)
        _product(gemm, W, True, da, dh, one)  # d a_t / d h_{t-1} = W_hh: dh = W^T da


@_signature("void(G, T[:, ::1], T[:, ::1], T[:, ::1], T[:, ::1], T[:, ::1], T[:, ::1], "
            "T[:, ::1], b1, b1, T)")
def lstm_forward_recurrence(gemm, W: np.ndarray, o: np.ndarray, tanh_c: np.ndarray,
                            h: np.ndarray, wh: np.ndarray, a: np.ndarray, b: np.ndarray,
                            make_h: bool, add_b: bool, one: float) -> None:
    """The LSTM step's start: h_{t-1} = o tanh(c_{t-1}) of the step before (when make_h;
    else h already holds h_0), then a_t = (a_t + b) + W h_{t-1}, the product by numpy's
    BLAS (`gemm`), the sums in the numpy code's order (its input projection adds b first).
    W: (4H, H); o, tanh_c, h: (H, N); wh (scratch), a, b (the bias in every column, read
    when add_b): (4H, N). one: 1 in the dtype."""
    if make_h:
        h1, o1, tc1 = h.reshape(-1), o.reshape(-1), tanh_c.reshape(-1)
        for k in range(h1.size):
            h1[k] = o1[k] * tc1[k]
    _product(gemm, W, False, h, wh, one)
    a1, wh1, b1 = a.reshape(-1), wh.reshape(-1), b.reshape(-1)
    if add_b:
        for k in range(a1.size):
            a1[k] = (a1[k] + b1[k]) + wh1[k]
    else:
        for k in range(a1.size):
            a1[k] += wh1[k]


@_signature("void(T[:, :, ::1], T[:, ::1], T[:, ::1], T)")
def lstm_forward_cell(gates: np.ndarray, c_prev: np.ndarray, c: np.ndarray,
                      half: float) -> None:
    """The LSTM step between its two tanh calls, in one pass: the sigmoid gates from
    tanh(a / 2) (sigmoid = tanh(a/2)/2 + 1/2), then c_t = f c_{t-1} + i g.
    gates: (4, H, N), rows o, i, f, g, holding tanh of the (halved) pre-activations; c_prev,
    c: (H, N). half: 0.5 in the dtype."""
    _, hidden, n = gates.shape
    for r in range(hidden):
        for j in range(n):
            o = gates[0, r, j] * half + half
            i = gates[1, r, j] * half + half
            f = gates[2, r, j] * half + half
            gates[0, r, j], gates[1, r, j], gates[2, r, j] = o, i, f
            c[r, j] = f * c_prev[r, j] + i * gates[3, r, j]


@_signature("void(T[::1], T[::1], T[::1], T, T)")
def sgd_momentum(x: np.ndarray, g: np.ndarray, buf: np.ndarray, momentum: float,
                 neg_lr: float) -> None:
    """b <- momentum * b + g, x <- x + (-lr) * b in one pass, the same operations in the
    same order as SGD's numpy code (so the same numbers).   x, g, buf: (n,)."""
    for i in range(x.size):
        b = buf[i] * momentum + g[i]
        buf[i] = b
        x[i] += b * neg_lr


@_signature("void(T[:, :, ::1], T[:, ::1], T[:, ::1], T)")
def gru_forward_gates(gates: np.ndarray, w_n: np.ndarray, xa_n: np.ndarray,
                      half: float) -> None:
    """The GRU step between its two tanh calls, in one pass: r, z from tanh(a / 2)
    (sigmoid = tanh(a/2)/2 + 1/2), then the candidate's pre-activation r * (W_hn h + b_hn)
    + (W_in x + b_in), left in the n rows for the caller's tanh.
    gates: (3, H, N), rows r, z (holding tanh of the halved pre-activations), n; w_n:
    W_hn h_{t-1} + b_hn and xa_n: W_in x_t + b_in, (H, N). half: 0.5 in the dtype."""
    _, hidden, n = gates.shape
    for i in range(hidden):
        for j in range(n):
            r = gates[0, i, j] * half + half
            gates[0, i, j] = r
            gates[1, i, j] = gates[1, i, j] * half + half
            gates[2, i, j] = r * w_n[i, j] + xa_n[i, j]


@_signature("void(T[:, :, ::1], T[:, ::1], T[:, ::1])")
def gru_forward_state(gates: np.ndarray, h_prev: np.ndarray, h: np.ndarray) -> None:
    """h_t = n + z (h_{t-1} - n) in one pass.   gates: (3, H, N) (r, z, n); h_prev, h:
    (H, N)."""
    _, hidden, n = gates.shape
    for i in range(hidden):
        for j in range(n):
            c = gates[2, i, j]
            h[i, j] = c + (h_prev[i, j] - c) * gates[1, i, j]


@_signature("void(G, T[:, ::1], T[:, ::1], T[:, :, ::1], T[:, :, :, ::1], T[:, :, ::1], "
            "T[:, :, ::1], T[:, ::1], T[:, ::1], T[:, :, ::1], T[:, :, ::1], T)")
def gru_backward(gemm, dh: np.ndarray, dhz: np.ndarray, gT: np.ndarray, gates: np.ndarray,
                 HW: np.ndarray, hT: np.ndarray, W: np.ndarray, dg: np.ndarray,
                 dG: np.ndarray, dX: np.ndarray, one: float) -> None:
    """The GRU's back-propagation through time, all L steps in one call: per step the
    elementwise work in one pass (the same products, in the same order, as the numpy code
    of GRULayer.backward), then dh = W^T dg by numpy's BLAS (`gemm`, see _blas), called as
    np.matmul calls it.

    dh, dhz: (H, N), zeros in; out, W^T dL/dg_1 and dL/dh_1 z_1 (the direct path), whose
    sum is dL/dh_0. gT: (L, H, N), dL/dh_t from the output; gates: (L, 3, H, N), (r, z, n)
    of every step; HW: (L, 3H, N), W_hh h_{t-1} + b_hh (rows 2H.. are hn, not halved); hT:
    (L + 1, H, N), h_0..h_L; W: (3H, H), W_hh; dg: (3H, N) scratch; dG: (3H, L, N), every
    step's dL/d(W_hh h_{t-1} + b_hh) out; dX: (3H, L, N), its rows 2H.. get dL/da_n.
    one: 1 in the dtype. The elementwise loop runs over flat indices of C-contiguous
    blocks, which lets the compiler vectorise it.
    """
    L, _, hidden, n = gates.shape
    m = hidden * n
    dh1, dhz1, dg1 = dh.reshape(-1), dhz.reshape(-1), dg.reshape(-1)
    for t in range(L - 1, -1, -1):
        g1, gs = gT[t].reshape(-1), gates[t].reshape(-1)
        hn1, hp1 = HW[t, 2 * hidden:].reshape(-1), hT[t].reshape(-1)
        for k in range(m):
            d = g1[k] + (dh1[k] + dhz1[k])                       # total dL/dh_t
            r, z, c = gs[k], gs[m + k], gs[2 * m + k]
            kn = (one - z) * (one - c * c)                       # (1 - z)(1 - n^2)
            dg1[k] = d * ((((one - r) * r) * hn1[k]) * kn)       # dL/da_r
            dg1[m + k] = d * ((hp1[k] - c) * ((one - z) * z))    # dL/da_z
            dg1[2 * m + k] = d * (kn * r)                        # dL/d(hn)
            dh1[k] = d * kn                                      # dL/da_n (dh: scratch here)
            dhz1[k] = d * z                                      # h_t = ... + z h_{t-1}
        _put_step(dG, t, 0, dg)
        _put_step(dX, t, 2 * hidden, dh)
        _product(gemm, W, True, dg, dh, one)  # d (W_hh h_{t-1}) / d h_{t-1}: dh = W^T dg


@_signature("void(G, T[:, ::1], T[:, :, ::1], T[:, ::1], T[:, ::1], T[:, ::1], T[:, ::1], "
            "T[:, ::1], T[:, :, ::1], b1, b1, T)")
def gru_forward_recurrence(gemm, W: np.ndarray, gates_prev: np.ndarray, h_pp: np.ndarray,
                           h: np.ndarray, w: np.ndarray, b: np.ndarray, xa: np.ndarray,
                           gates: np.ndarray, make_h: bool, add_b: bool, one: float) -> None:
    """The GRU step's start: h_{t-1} = n + z (h_{t-2} - n) of the step before (when make_h,
    from its gates_prev and h_pp = h_{t-2}; else h holds h_0), then w = W h_{t-1} (+ b)
    by numpy's BLAS (`gemm`) and the r, z pre-activations xa + w into gates' rows r, z.
    W: (3H, H); h_pp, h: (H, N); w, b (the bias in every column, read when add_b), xa:
    (3H, N); gates_prev, gates: (3, H, N). one: 1 in the dtype."""
    m = h.size
    h1 = h.reshape(-1)
    if make_h:
        gp, hp1 = gates_prev.reshape(-1), h_pp.reshape(-1)
        for k in range(m):
            c = gp[2 * m + k]
            h1[k] = c + (hp1[k] - c) * gp[m + k]
    _product(gemm, W, False, h, w, one)
    w1, b1, xa1, gs = w.reshape(-1), b.reshape(-1), xa.reshape(-1), gates.reshape(-1)
    if add_b:
        for k in range(w1.size):
            w1[k] += b1[k]
    for k in range(2 * m):
        gs[k] = xa1[k] + w1[k]
