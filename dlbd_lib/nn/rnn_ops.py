"""Fused recurrent layers: one layer over a whole sequence is ONE differentiable op.

Unrolling an RNN into per-step graph nodes costs several Python calls per step and per
gate; here forward runs the whole time loop on numpy arrays and backward runs
back-propagation through time (BPTT) in one reverse loop. The loops do only what is truly
sequential (one matmul with W_hh and a few elementwise calls per step); the rest is done
for all steps at once:

- forward:  the input projections W_ih x_t + b for every t, in one batched matmul;
- backward: dW_ih = sum_t dA_t x_t^T, dW_hh = sum_t dA_t h_{t-1}^T and dx_t = W_ih^T dA_t,
  each one call over all steps once the loop has filled dA (the pre-activation gradients).

Inside, states are columns, as in the textbook: h_t is (H, N), one column per sequence,
and a step is a = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh with a of shape (G*H, N). Then
every gate is a contiguous (H, N) block of `a`, which makes each elementwise call cheap.
Shapes: L steps, N sequences, I input features, H hidden units, G gates (1, 4 or 3).

Each op takes x of shape (L, N, I), or (N, L, I) with `batch_first=True`, and returns its
outputs in the same layout. `reverse=True` runs the sequence from t = L-1 down to 0 (the
backward direction of a bidirectional layer); outputs stay in the input's time order.
h0 (and c0) are (N, H) or anything holding N*H values (e.g. (1, N, H)), or None for zeros.
A Function returns one array, so the LSTM op packs its final cell state after the
outputs: (L + 1, N, H) with c_L in the last time slot, and the module slices it. The final
hidden state h_n is the output of the last step processed, so it needs no packing.

The big per-step-factor arrays of backward are filled with `out=` calls rather than
expressions, so no hidden megabyte-sized temporaries are made on the hot path.
"""

from __future__ import annotations

import numpy as np

from dlbd_lib import _kernels
from dlbd_lib._jit import kernel
from dlbd_lib.tensor import Function, Tensor

__all__ = ["RNNLayer", "LSTMLayer", "GRULayer", "rnn_layer", "lstm_layer", "gru_layer"]


# ---- layout helpers -----------------------------------------------------------------------
def _columns(a: np.ndarray, batch_first: bool, reverse: bool) -> np.ndarray:
    """(L, N, F) or (N, L, F) in the caller's time order -> (L, F, N) in processing order,
    C-ordered and writeable (the compiled LSTM/GRU steps take writeable arrays: a read-only
    input, e.g. a broadcast gradient already in this layout, is copied)."""
    a = a.transpose(1, 2, 0) if batch_first else a.transpose(0, 2, 1)
    out = np.ascontiguousarray(a[::-1] if reverse else a)
    return out if out.flags.writeable else out.copy()


def _rows(a: np.ndarray, batch_first: bool, reverse: bool) -> np.ndarray:
    """Inverse of _columns, as a view: (L, F, N) -> the caller's (L, N, F) or (N, L, F)."""
    if reverse:
        a = a[::-1]
    return a.transpose(2, 0, 1) if batch_first else a.transpose(0, 2, 1)


def _copy_rows(a: np.ndarray, out: np.ndarray, batch_first: bool, reverse: bool) -> np.ndarray:
    """out[...] = _rows(a, batch_first, reverse), returning out. Into (N, L, F) rows the
    copy is compiled where it can be: numpy's transposing copy takes 2.5x longer there."""
    copy = kernel(_kernels.rows_from_columns, a.dtype) if batch_first else None
    if copy is None or not a.flags.c_contiguous or out.dtype != a.dtype:
        out[...] = _rows(a, batch_first, reverse)
    else:
        copy(a, out[:, ::-1] if reverse else out)
    return out


def _bias_columns(b: np.ndarray, n: int) -> np.ndarray:
    """b repeated in n columns, (G,) -> (G, n), C-ordered. Adding this block to a (L, G, n)
    array is 3x faster than adding b[:, None], whose broadcast makes numpy's inner loop
    run over only n elements (the same sums either way)."""
    cols = np.empty((b.shape[0], n), dtype=b.dtype)
    cols[...] = b[:, None]
    return cols


def _project(W: np.ndarray, xT: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """W x_t + b for every step in one batched matmul: (G, I) and (L, I, N) -> (L, G, N)."""
    a = np.matmul(W, xT)
    if b is not None:
        a += _bias_columns(b, a.shape[2])
    return a


def _initial(h0: np.ndarray | None, N: int, H: int) -> np.ndarray | int:
    """The initial state as a column block (H, N); 0 for None (broadcasts on assignment)."""
    return 0 if h0 is None else h0.reshape(N, H).T


def _sum_bias(b_ih: np.ndarray | None, b_hh: np.ndarray | None) -> np.ndarray | None:
    return None if b_ih is None else b_ih + b_hh


def _state_grad(dhT: np.ndarray, like: Tensor) -> np.ndarray:
    """A (H, N) column-block gradient back in the shape of the state the caller passed."""
    return dhT.T.reshape(like.shape)


def _time_columns(a: np.ndarray) -> np.ndarray:
    """(L, F, N) -> (F, L * N): all steps side by side, one column each."""
    L, F, N = a.shape
    return np.ascontiguousarray(a.transpose(1, 0, 2)).reshape(F, L * N)


def _weight_grads(op: Function, dA: np.ndarray, xT: np.ndarray, hT: np.ndarray | None,
                  W_ih: np.ndarray, need: tuple) -> tuple:
    """dx, dW_ih, dW_hh and the bias gradient from all steps' pre-activation gradients.

    dA: (G, L, N), the columns dL/da_t of every step side by side; xT: (L, I, N) and
    hT: (L + 1, H, N) with hT[0] = h0, in processing order; need: which of
    (dx, dW_ih, dW_hh, db) to compute (None for the others).
    a_t = W_ih x_t + W_hh h_{t-1} + b, so dx_t = W_ih^T dA_t, dW_ih = sum_t dA_t x_t^T,
    dW_hh = sum_t dA_t h_{t-1}^T and db = sum_t dA_t, each one matmul or sum over all
    L * N columns at once.
    """
    G, L, N = dA.shape
    dA2 = dA.reshape(G, L * N)
    dx = dW_ih = dW_hh = db = None
    if need[0]:
        dxT = (W_ih.T @ dA2).reshape(-1, L, N).transpose(1, 0, 2)  # (L, I, N)
        dx = _rows(dxT, op.batch_first, op.reverse)
    if need[1]:
        dW_ih = dA2 @ _time_columns(xT).T
    if need[2]:
        dW_hh = dA2 @ _time_columns(hT[:L]).T
    if need[3]:
        db = dA2.sum(axis=1)
    return dx, dW_ih, dW_hh, db


# ---- Elman RNN ----------------------------------------------------------------------------
class RNNLayer(Function):
    """h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) for t = 1..L, act = tanh or relu.

    x: (L, N, I); h0: (N, H) or None; W_ih: (H, I); W_hh: (H, H); b_ih, b_hh: (H,) or None.
    Returns h_1..h_L: (L, N, H) (or (N, L, H) with batch_first).
    """

    def forward(self, x, h0, W_ih, W_hh, b_ih, b_hh, nonlinearity="tanh",
                batch_first=False, reverse=False):
        self.batch_first, self.reverse, self.relu = batch_first, reverse, nonlinearity == "relu"
        xT = _columns(x, batch_first, reverse)
        L, N, H = xT.shape[0], xT.shape[2], W_hh.shape[0]
        hT = np.empty((L + 1, H, N), dtype=np.result_type(x, W_ih))  # hT[t] = h_t, hT[0] = h0
        hT[0] = _initial(h0, N, H)
        np.matmul(W_ih, xT, out=hT[1:])  # start every h_t as W_ih x_t + b, in one call
        b = _sum_bias(b_ih, b_hh)
        if b is not None:
            hT[1:] += _bias_columns(b, N)
        wh = np.empty((H, N), dtype=hT.dtype)
        for t in range(L):
            np.matmul(W_hh, hT[t], out=wh)
            a = hT[t + 1]
            a += wh
            if self.relu:
                np.maximum(a, 0, out=a)
            else:
                np.tanh(a, out=a)
        self.xT, self.hT, self.W_ih, self.W_hh = xT, hT, W_ih, W_hh
        return _copy_rows(hT[1:], np.empty((N, L, H) if batch_first else (L, N, H), hT.dtype),
                          batch_first, reverse)

    def backward(self, g):
        hT, W_hh = self.hT, self.W_hh
        L, H, N = hT.shape[0] - 1, hT.shape[1], hT.shape[2]
        gT = _columns(g, self.batch_first, self.reverse)
        # d act(a)/da from the output: 1 - h^2 for tanh, [h > 0] for relu
        dact = np.empty(gT.shape, hT.dtype)
        if self.relu:
            np.greater(hT[1:], 0, out=dact)
        else:
            np.multiply(hT[1:], hT[1:], out=dact)
            np.subtract(1, dact, out=dact)
        dA = np.empty((H, L, N), hT.dtype)  # dL/da_t of every step, side by side
        da = np.empty((H, N), hT.dtype)
        dh = np.zeros((H, N), hT.dtype)           # dL/dh_t arriving from step t+1
        for t in range(L - 1, -1, -1):
            dh += gT[t]
            np.multiply(dh, dact[t], out=da)
            np.matmul(W_hh.T, da, out=dh)  # d a_t / d h_{t-1} = W_hh
            dA[:, t] = da
        n = self.needs_grad
        dx, dW_ih, dW_hh, db = _weight_grads(self, dA, self.xT, hT, self.W_ih,
                                             (n[0], n[2], n[3], n[4] or n[5]))
        dh0 = _state_grad(dh, self.inputs[1]) if n[1] else None
        return dx, dh0, dW_ih, dW_hh, db, db


# ---- LSTM ---------------------------------------------------------------------------------
def _lstm_order(a: np.ndarray) -> np.ndarray:
    """Rows in torch's gate order (i, f, g, o) -> the op's order (o, i, f, g), a new array.

    With o, i, f first, the three sigmoid gates are one contiguous block in forward, and
    the three gates whose gradient is scaled by dc (i, f, g) are one block in backward.
    (np.roll would do the same, at 3x the cost of this one concatenate.)
    """
    k = 3 * (a.shape[0] // 4)
    return np.concatenate((a[k:], a[:k]))


def _torch_order(a: np.ndarray) -> np.ndarray:
    """Inverse of _lstm_order: gradient rows (o, i, f, g) -> torch's (i, f, g, o)."""
    k = a.shape[0] // 4
    return np.concatenate((a[k:], a[:k]))


class LSTMLayer(Function):
    """One LSTM layer over a whole sequence, gates in torch's order i, f, g, o.

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh, split into (i, f, g, o) pre-activations;
    i, f, o = sigmoid(.), g = tanh(.); c_t = f c_{t-1} + i g; h_t = o tanh(c_t).
    x: (L, N, I); h0, c0: (N, H) or None; W_ih: (4H, I); W_hh: (4H, H); b_ih, b_hh: (4H,).
    Returns h_1..h_L followed by c_L: (L + 1, N, H) (or (N, L + 1, H) with batch_first).
    """

    def forward(self, x, h0, c0, W_ih, W_hh, b_ih, b_hh, batch_first=False, reverse=False):
        self.batch_first, self.reverse = batch_first, reverse
        H = W_hh.shape[1]
        # sigmoid(a) = (1 + tanh(a / 2)) / 2: halving the sigmoid gates' rows of the weights
        # and bias lets ONE tanh call per step serve all four gates.
        half = np.ones((4 * H, 1), dtype=W_hh.dtype)
        half[: 3 * H] = 0.5  # rows o, i, f (op order) are sigmoid gates, g is tanh
        b = _sum_bias(b_ih, b_hh)
        xT = _columns(x, batch_first, reverse)
        bias = None if b is None else _lstm_order(b) * half[:, 0]
        cell = kernel(_kernels.lstm_forward_cell, xT.dtype)  # the lines after tanh(a), fused
        recur = kernel(_kernels.lstm_forward_recurrence, xT.dtype)  # a_t + W h_{t-1}, fused
        # (with N or H of 1, np.matmul multiplies by a vector, which recur's gemm would not;
        # mixed dtypes are promoted by the numpy code)
        one_dtype = xT.dtype == W_ih.dtype == W_hh.dtype and (b is None or b.dtype == xT.dtype)
        compiled = None not in (cell, recur) and min(H, xT.shape[2]) > 1 and one_dtype
        # compiled, the bias is added step by step, while a_t is in cache (the same sums)
        A = _project(_lstm_order(W_ih) * half, xT, None if compiled else bias)
        W_hh_half = _lstm_order(W_hh) * half
        L, N = A.shape[0], A.shape[2]
        gates = A.reshape(L, 4, H, N)  # becomes the activated gates o, i, f, g of each step
        hT = np.empty((L + 1, H, N), dtype=A.dtype)   # hT[t] = h_t, hT[0] = h0
        cT = np.empty((L + 1, H, N), dtype=A.dtype)   # cT[t] = c_t, cT[0] = c0
        tanh_c = np.empty((L, H, N), dtype=A.dtype)   # tanh(c_t), t = 1..L
        hT[0], cT[0] = _initial(h0, N, H), _initial(c0, N, H)
        wh = np.empty((4 * H, N), dtype=A.dtype)
        half_t = A.dtype.type(0.5)
        # step t's views, made by zip in C (indexing A[t], hT[t], ... costs 2x more Python)
        steps = zip(A, gates, hT[:-1], hT[1:], cT[:-1], cT[1:], tanh_c)
        if compiled:
            b_cols = wh if bias is None else _bias_columns(bias, N)
            one = A.dtype.type(1)
            o, tc = hT[0], hT[0]  # not read at t = 0: h_0 is given
            for t, (a, gate, h_prev, _, c_prev, c, tc_t) in enumerate(steps):
                # h_{t-1} = o tanh(c_{t-1}), then a_t = (a_t + b) + W h_{t-1}
                recur(W_hh_half, o, tc, h_prev, wh, a, b_cols, t > 0, bias is not None, one)
                np.tanh(a, out=a)
                cell(gate, c_prev, c, half_t)
                np.tanh(c, out=tc_t)
                o, tc = gate[0], tc_t
            np.multiply(o, tc, out=hT[L])                   # h_L = o tanh(c_L)
        else:
            ig = np.empty((H, N), dtype=A.dtype)
            for a, gate, h_prev, h, c_prev, c, tc in steps:
                np.matmul(W_hh_half, h_prev, out=wh)
                a += wh
                np.tanh(a, out=a)
                sig = a[: 3 * H]
                sig *= 0.5
                sig += 0.5
                o, i, f, g = gate
                np.multiply(f, c_prev, out=c)
                np.multiply(i, g, out=ig)
                c += ig                                    # c_t = f c_{t-1} + i g
                np.tanh(c, out=tc)
                np.multiply(o, tc, out=h)                  # h_t = o tanh(c_t)
        self.xT, self.W_ih, self.W_hh = xT, W_ih, W_hh
        self.gates, self.hT, self.cT, self.tanh_c = gates, hT, cT, tanh_c
        # returned: the outputs in the caller's time order, then c_L in one extra time slot
        packed = np.empty((N, L + 1, H) if batch_first else (L + 1, N, H), dtype=A.dtype)
        out, last = (packed[:, :L], packed[:, L]) if batch_first else (packed[:L], packed[L])
        _copy_rows(hT[1:], out, batch_first, reverse)
        last[...] = cT[L].T
        return packed

    def backward(self, g):
        gates, cT, tanh_c = self.gates, self.cT, self.tanh_c
        L, _, H, N = gates.shape
        dt, bf = gates.dtype, self.batch_first
        gT = _columns(g[:, :L] if bf else g[:L], bf, self.reverse)
        W_op = _lstm_order(self.W_hh)       # (4H, H), rows in op order
        bptt = (kernel(_kernels.lstm_backward, dt)  # as forward: one dtype, N and H over 1
                if min(H, N) > 1 and gT.dtype == W_op.dtype == dt else None)
        dA = np.empty((4 * H, L, N), dt)  # dL/da_t of every step, side by side
        dc = np.array((g[:, L] if bf else g[L]).T, dtype=dt, order="C")  # dL/dc_L, from c_n
        dh = np.zeros((H, N), dt)           # dL/dh_t arriving from step t+1
        if bptt is not None:  # the loop below compiled into one call (its matmul is BLAS's)
            bptt(dh, gT, gates, tanh_c, cT, dc, W_op, np.empty((4 * H, N), dt), dA, dt.type(1))
            return self._gradients(dA, dh, dc)
        o, i, f, gg = gates[:, 0], gates[:, 1], gates[:, 2], gates[:, 3]
        # Factors that need no recursion, computed for all steps at once:
        #   dL/da_o = dh tanh(c) o (1 - o)                       -> dA_o = dh * P
        #   dL/dc  += dh o (1 - tanh(c)^2)                       -> dc  += dh * Q
        #   dL/da_i = dc g i(1 - i), dL/da_f = dc c_{t-1} f(1 - f), dL/da_g = dc i (1 - g^2)
        #                                                        -> dA_ifg = dc * R
        tmp = np.empty((L, H, N), dt)
        P = np.empty((L, H, N), dt)
        np.subtract(1, o, out=tmp)
        tmp *= o
        np.multiply(tmp, tanh_c, out=P)
        Q = np.empty((L, H, N), dt)
        np.multiply(tanh_c, tanh_c, out=tmp)
        np.subtract(1, tmp, out=tmp)
        np.multiply(tmp, o, out=Q)
        R = np.empty((L, 3, H, N), dt)
        np.subtract(1, i, out=tmp)
        tmp *= i
        np.multiply(tmp, gg, out=R[:, 0])
        np.subtract(1, f, out=tmp)
        tmp *= f
        np.multiply(tmp, cT[:L], out=R[:, 1])
        np.multiply(gg, gg, out=tmp)
        np.subtract(1, tmp, out=tmp)
        np.multiply(tmp, i, out=R[:, 2])
        da = np.empty((4, H, N), dt)
        dhq = np.empty((H, N), dt)
        for t in range(L - 1, -1, -1):
            dh += gT[t]
            np.multiply(dh, P[t], out=da[0])
            np.multiply(dh, Q[t], out=dhq)
            dc += dhq
            np.multiply(dc, R[t], out=da[1:])
            dc *= f[t]                                       # d c_t / d c_{t-1} = f
            da2 = da.reshape(4 * H, N)
            np.matmul(W_op.T, da2, out=dh)                   # d a_t / d h_{t-1} = W_hh
            dA[:, t] = da2
        return self._gradients(dA, dh, dc)

    def _gradients(self, dA, dh, dc):
        """The op's input gradients from every step's dL/da_t and the initial states'."""
        need = self.needs_grad
        dx, dW_ih, dW_hh, db = _weight_grads(self, dA, self.xT, self.hT, _lstm_order(self.W_ih),
                                             (need[0], need[3], need[4], need[5] or need[6]))
        dh0 = _state_grad(dh, self.inputs[1]) if need[1] else None
        dc0 = _state_grad(dc, self.inputs[2]) if need[2] else None
        dW_ih = None if dW_ih is None else _torch_order(dW_ih)
        dW_hh = None if dW_hh is None else _torch_order(dW_hh)
        db = None if db is None else _torch_order(db)
        return dx, dh0, dc0, dW_ih, dW_hh, db, db


# ---- GRU ----------------------------------------------------------------------------------
class GRULayer(Function):
    """One GRU layer over a whole sequence, gates in torch's order r, z, n.

    r, z = sigmoid(W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h_{t-1} + b_h{r,z});
    n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn)); h_t = (1 - z) n + z h_{t-1}.
    x: (L, N, I); h0: (N, H) or None; W_ih: (3H, I); W_hh: (3H, H); b_ih, b_hh: (3H,).
    Returns h_1..h_L: (L, N, H) (or (N, L, H) with batch_first).
    """

    def forward(self, x, h0, W_ih, W_hh, b_ih, b_hh, batch_first=False, reverse=False):
        self.batch_first, self.reverse = batch_first, reverse
        H = W_hh.shape[1]
        # sigmoid(a) = (1 + tanh(a / 2)) / 2: halve the r and z rows, one tanh serves both
        half = np.ones((3 * H, 1), dtype=W_hh.dtype)
        half[: 2 * H] = 0.5
        xT = _columns(x, batch_first, reverse)
        XA = _project(W_ih * half, xT, None if b_ih is None else b_ih * half[:, 0])
        W_hh_half = W_hh * half
        b_hh_half = None if b_hh is None else _bias_columns(b_hh * half[:, 0], xT.shape[2])
        L, N = XA.shape[0], XA.shape[2]
        gates = np.empty((L, 3, H, N), dtype=XA.dtype)  # activated r, z, n of each step
        HW = np.empty((L, 3 * H, N), dtype=XA.dtype)    # W_hh h_{t-1} + b_hh (r, z halved)
        hT = np.empty((L + 1, H, N), dtype=XA.dtype)
        hT[0] = _initial(h0, N, H)
        # with numba, the work between the tanh calls is one compiled pass each
        # (dlbd_lib._kernels; the same arithmetic): the new state, W_hh h and the r, z
        # pre-activations (recur: its product by numpy's BLAS), then the candidate n (cell)
        cell = kernel(_kernels.gru_forward_gates, XA.dtype)
        state = kernel(_kernels.gru_forward_state, XA.dtype)
        recur = kernel(_kernels.gru_forward_recurrence, XA.dtype)
        half_t = XA.dtype.type(0.5)
        # (with N or H of 1, np.matmul multiplies by a vector, which recur's gemm would not)
        if None not in (cell, state, recur) and min(H, N) > 1 and W_hh_half.dtype == XA.dtype \
                and (b_hh_half is None or b_hh_half.dtype == XA.dtype):  # else: as the LSTM
            b_cols = HW[0] if b_hh_half is None else b_hh_half
            one = XA.dtype.type(1)
            for t in range(L):
                recur(W_hh_half, gates[t - 1], hT[t - 1], hT[t], HW[t], b_cols, XA[t],
                      gates[t], t > 0, b_hh_half is not None, one)
                rz = gates[t, :2]
                np.tanh(rz, out=rz)
                cell(gates[t], HW[t, 2 * H:], XA[t, 2 * H:], half_t)
                np.tanh(gates[t, 2], out=gates[t, 2])
            state(gates[L - 1], hT[L - 1], hT[L])
        else:
            tmp = np.empty((H, N), dtype=XA.dtype)
            for t in range(L):
                w = HW[t]
                np.matmul(W_hh_half, hT[t], out=w)
                if b_hh_half is not None:
                    w += b_hh_half
                rz = gates[t, :2].reshape(2 * H, N)
                np.add(XA[t, : 2 * H], w[: 2 * H], out=rz)
                np.tanh(rz, out=rz)
                rz *= 0.5
                rz += 0.5
                r, z, n = gates[t]
                np.multiply(r, w[2 * H:], out=n)
                n += XA[t, 2 * H:]
                np.tanh(n, out=n)
                np.subtract(hT[t], n, out=tmp)
                tmp *= z
                np.add(n, tmp, out=hT[t + 1])  # h_t = n + z (h_{t-1} - n)
        self.xT, self.W_ih, self.W_hh = xT, W_ih, W_hh
        self.gates, self.HW, self.hT = gates, HW, hT
        return _copy_rows(hT[1:], np.empty((N, L, H) if batch_first else (L, N, H), hT.dtype),
                          batch_first, reverse)

    def backward(self, g):
        gates, hT = self.gates, self.hT
        L, _, H, N = gates.shape
        dt = gates.dtype
        gT = _columns(g, self.batch_first, self.reverse)
        bptt = (kernel(_kernels.gru_backward, dt)  # as the LSTM's
                if min(H, N) > 1 and gT.dtype == self.W_hh.dtype == dt else None)
        r, z, n = gates[:, 0], gates[:, 1], gates[:, 2]
        hn = self.HW[:, 2 * H:]  # W_hn h_{t-1} + b_hn (its rows were not halved)
        dG = np.empty((3 * H, L, N), dt)
        dX = np.empty((3 * H, L, N), dt)
        if bptt is not None:  # the loop below compiled into one call (its matmul is BLAS's)
            dh, dhz = np.zeros((H, N), dt), np.zeros((H, N), dt)
            bptt(dh, dhz, gT, gates, self.HW, hT, np.ascontiguousarray(self.W_hh),
                 np.empty((3 * H, N), dt), dG, dX, dt.type(1))
            dh += dhz
            return self._gradients(dG, dX, dh)
        # Every gate gradient is dh_t times a factor known after forward, so compute all
        # factors at once (K), and the loop does dG_t = dh_t * K_t:
        #   dL/da_n  = dh (1 - z)(1 - n^2)                   = dh * Kn
        #   dL/da_z  = dh (h_{t-1} - n) z(1 - z)              = dh * K[z]
        #   dL/da_r  = dL/da_n hn r(1 - r)                    = dh * K[r]
        #   dL/d(hn) = dL/da_n r   (hn = W_hn h_{t-1} + b_hn) = dh * K[n]
        tmp = np.empty((L, H, N), dt)
        Kn = np.empty((L, H, N), dt)
        np.subtract(1, z, out=Kn)
        np.multiply(n, n, out=tmp)
        np.subtract(1, tmp, out=tmp)
        Kn *= tmp
        K = np.empty((L, 3, H, N), dt)
        np.subtract(1, r, out=tmp)
        tmp *= r
        tmp *= hn
        np.multiply(tmp, Kn, out=K[:, 0])
        np.subtract(1, z, out=tmp)
        tmp *= z
        np.subtract(hT[:L], n, out=K[:, 1])
        K[:, 1] *= tmp
        np.multiply(Kn, r, out=K[:, 2])
        # dG: dL/d(W_hh h_{t-1} + b_hh) of every step; dX: dL/d(W_ih x_t + b_ih), which
        # shares the r and z rows and has dL/da_n = dh * Kn in the n rows
        dg = np.empty((3, H, N), dt)
        dh = np.zeros((H, N), dt)   # dL/dh_t arriving from step t+1
        dht = np.empty((H, N), dt)  # total dL/dh_t
        dhz = np.empty((H, N), dt)
        for t in range(L - 1, -1, -1):
            np.add(gT[t], dh, out=dht)
            np.multiply(dht, K[t], out=dg)
            dg2 = dg.reshape(3 * H, N)
            np.matmul(self.W_hh.T, dg2, out=dh)
            np.multiply(dht, z[t], out=dhz)  # h_t = ... + z h_{t-1}: a direct path
            dh += dhz
            dG[:, t] = dg2
            np.multiply(dht, Kn[t], out=dX[2 * H:, t])
        return self._gradients(dG, dX, dh)

    def _gradients(self, dG, dX, dh):
        """The op's input gradients from every step's dL/d(W_hh h + b_hh) (dG), the n rows
        of dL/d(W_ih x + b_ih) (dX; its r, z rows are dG's) and dL/dh_0."""
        H = self.W_hh.shape[1]
        hT = self.hT
        dX[: 2 * H] = dG[: 2 * H]
        need = self.needs_grad
        dx, dW_ih, _, db_ih = _weight_grads(self, dX, self.xT, None, self.W_ih,
                                            (need[0], need[2], False, need[4]))
        _, _, dW_hh, db_hh = _weight_grads(self, dG, self.xT, hT, self.W_ih,
                                           (False, False, need[3], need[5]))
        dh0 = _state_grad(dh, self.inputs[1]) if need[1] else None
        return dx, dh0, dW_ih, dW_hh, db_ih, db_hh


# ---- the functions ------------------------------------------------------------------------
def rnn_layer(x: Tensor, h0: Tensor | None, weight_ih: Tensor, weight_hh: Tensor,
              bias_ih: Tensor | None = None, bias_hh: Tensor | None = None,
              nonlinearity: str = "tanh", batch_first: bool = False,
              reverse: bool = False) -> Tensor:
    """One Elman RNN layer: x (L, N, I) -> outputs (L, N, H) ((N, L, ...) with batch_first)."""
    return RNNLayer.apply(x, h0, weight_ih, weight_hh, bias_ih, bias_hh,
                          nonlinearity=nonlinearity, batch_first=batch_first, reverse=reverse)


def lstm_layer(x: Tensor, h0: Tensor | None, c0: Tensor | None, weight_ih: Tensor,
               weight_hh: Tensor, bias_ih: Tensor | None = None, bias_hh: Tensor | None = None,
               batch_first: bool = False, reverse: bool = False) -> Tensor:
    """One LSTM layer: x (L, N, I) -> outputs then c_L packed as (L + 1, N, H)."""
    return LSTMLayer.apply(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh,
                           batch_first=batch_first, reverse=reverse)


def gru_layer(x: Tensor, h0: Tensor | None, weight_ih: Tensor, weight_hh: Tensor,
              bias_ih: Tensor | None = None, bias_hh: Tensor | None = None,
              batch_first: bool = False, reverse: bool = False) -> Tensor:
    """One GRU layer: x (L, N, I) -> outputs (L, N, H) ((N, L, ...) with batch_first)."""
    return GRULayer.apply(x, h0, weight_ih, weight_hh, bias_ih, bias_hh,
                          batch_first=batch_first, reverse=reverse)
