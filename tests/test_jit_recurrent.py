"""The compiled LSTM and GRU time loops (dlbd_lib._kernels, numpy's gemm via _blas): the
same numbers as the numpy loops, bit for bit, equal to torch's; the numpy loops where a
size, a dtype or numpy's BLAS rules the compiled ones out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kernel_paths import F32, both_paths, same

import dlbd_lib as dl
from dlbd_lib import _jit, _kernels

pytest.importorskip("numba")
pytestmark = pytest.mark.usefixtures("kernels_on")


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_first", [False, True])
def test_recurrent_both_paths_bit_identical_and_equal_torch(cell, dtype, batch_first):
    from dlbd_lib import nn
    from dlbd_lib.torch_bridge import copy_weights

    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7, 3) if batch_first else (7, 5, 3)).astype(dtype)
    h0, c0 = (rng.standard_normal((4, 5, 6)).astype(dtype) for _ in range(2))
    states = (h0, c0) if cell == "LSTM" else (h0,)
    torch.manual_seed(0)
    tm = getattr(torch.nn, cell)(3, 6, num_layers=2, batch_first=batch_first,
                                 bidirectional=True)
    m = getattr(nn, cell)(3, 6, num_layers=2, batch_first=batch_first, bidirectional=True)
    copy_weights(tm, m)
    if dtype == np.float64:
        tm, m = tm.double(), m.double()

    def loss_of(out, state):
        h, c = state if cell == "LSTM" else (state, state)
        return out.sum() * 0.3 + (h * h).sum() + c.sum()  # sum: a read-only gradient

    def run():
        for p in m.parameters():
            p.grad = None
        xt, *st = (dl.Tensor(a, requires_grad=True) for a in (x, *states))
        out, state = m(xt, tuple(st) if cell == "LSTM" else st[0])
        loss_of(out, state).backward()
        hs = list(state) if cell == "LSTM" else [state]
        return [out.data] + [h.data for h in hs] + [xt.grad.data] + \
            [s.grad.data for s in st] + [p.grad.data for p in m.parameters()]

    on, off = both_paths(run)
    for a, b in zip(on, off):
        same(a, b)
    xt, *st = (torch.tensor(a, requires_grad=True) for a in (x, *states))
    out, state = tm(xt, tuple(st) if cell == "LSTM" else st[0])
    loss_of(out, state).backward()
    hs = list(state) if cell == "LSTM" else [state]
    refs = [out] + hs + [xt.grad] + [s.grad for s in st] + [p.grad for p in tm.parameters()]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert len(on) == len(refs)
    for a, ref in zip(on, refs):
        np.testing.assert_allclose(a, ref.detach().numpy(), rtol=tol, atol=tol)


def recurrent_run(cell: str, x: np.ndarray, hidden: int):
    """Output, input gradient and parameter gradients of a one-layer LSTM or GRU (seeded
    weights, batch first)."""
    from dlbd_lib import nn

    dl.manual_seed(0)
    m = getattr(nn, cell)(x.shape[-1], hidden, batch_first=True)
    if x.dtype == np.float64:
        m = m.double()
    xt = dl.Tensor(x, requires_grad=True)
    out, state = m(xt)
    h, c = state if cell == "LSTM" else (state, state)
    ((out * out).sum() + h.sum() + (c * c).sum()).backward()
    return [out.data, h.data, c.data, xt.grad.data] + [p.grad.data for p in m.parameters()]


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, hidden", [(1, 6), (5, 1), (2, 2), (32, 64)])
def test_recurrent_compiled_loops_bit_identical_at_edge_sizes(cell, dtype, n, hidden):
    # a batch or hidden size of 1 takes the numpy loop (np.matmul multiplies by a vector
    # there); from 2 up the compiled loops, whose gemm is numpy's own
    x = np.random.default_rng(n).standard_normal((n, 9, 3)).astype(dtype)
    on, off = both_paths(lambda: recurrent_run(cell, x, hidden))
    for a, b in zip(on, off):
        same(a, b)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_recurrent_layer_ops_with_mixed_dtypes_promote_on_both_paths(cell):
    # the functional ops take float32 input with float64 weights (the modules refuse it):
    # the compiled loops take one dtype, so these run the numpy code, which promotes
    from dlbd_lib.nn.rnn_ops import gru_layer, lstm_layer

    rng = np.random.default_rng(0)
    G = 4 if cell == "LSTM" else 3
    arrays = (rng.standard_normal((5, 3, 4)).astype(np.float32),
              rng.standard_normal((6 * G, 4)), rng.standard_normal((6 * G, 6)),
              rng.standard_normal(6 * G), rng.standard_normal(6 * G).astype(np.float32))

    def run():
        x, W_ih, W_hh, b_ih, b_hh = (dl.Tensor(a, requires_grad=True) for a in arrays)
        out = (lstm_layer(x, None, None, W_ih, W_hh, b_ih, b_hh) if cell == "LSTM"
               else gru_layer(x, None, W_ih, W_hh, b_ih, b_hh))
        (out * out).sum().backward()
        return [out.data, x.grad.data, W_ih.grad.data, W_hh.grad.data, b_hh.grad.data]

    on, off = both_paths(run)
    assert on[0].dtype == np.float64
    for a, b in zip(on, off):
        same(a, b)


def test_gemm_is_numpys_matmul_bit_for_bit():
    from dlbd_lib import _blas

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        gemm = _blas.gemm(dtype)
        if gemm is None:
            pytest.skip("numpy's BLAS is not a bundled OpenBLAS here: the numpy code runs")
        for m, k, n in ((256, 64, 32), (24, 6, 5), (7, 3, 2)):
            A = rng.standard_normal((m, k)).astype(dtype)
            B = rng.standard_normal((k, n)).astype(dtype)
            C = np.empty((m, n), dtype)
            gemm(101, 111, 111, m, n, k, 1.0, A.ctypes.data, k, B.ctypes.data, n, 0.0,
                 C.ctypes.data, n)
            same(C, A @ B)                               # as the LSTM's forward step
            D = np.empty((k, n), dtype)
            G = rng.standard_normal((m, n)).astype(dtype)
            gemm(101, 112, 111, k, n, m, 1.0, A.ctypes.data, k, G.ctypes.data, n, 0.0,
                 D.ctypes.data, n)
            same(D, A.T @ G)                             # as its backward step
    assert _blas.gemm(np.int64) is None


def test_lstm_recurrence_kernel_runs_as_plain_python():
    from dlbd_lib import _blas

    gemm = _blas.gemm(np.float64)
    if gemm is None:
        pytest.skip("numpy's BLAS is not a bundled OpenBLAS here: the numpy code runs")
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((8, 2)), rng.standard_normal((8, 3))
    o, tc, a = rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), rng.standard_normal((8, 3))
    h, wh, expected = np.empty((2, 3)), np.empty((8, 3)), a.copy()
    _kernels.lstm_forward_recurrence(gemm, W, o, tc, h, wh, a, b, True, True, 1.0)
    same(h, o * tc)
    same(a, (expected + b) + W @ (o * tc))


def test_gemm_found_where_numpy_bundles_openblas():
    from dlbd_lib import _blas
    from dlbd_lib._parallel import _blas_libs

    libs = _blas_libs()
    if not any("scipy_openblas" in str(lib.filepath) for lib in libs):
        pytest.skip("numpy is not linked to its bundled scipy-openblas here")
    assert _blas.gemm(np.float32) is not None and _blas.gemm(np.float64) is not None


@pytest.mark.parametrize("api, path", [("openblas", "/env/scipy.libs/libscipy_openblas.so"),
                                       ("mkl", "/env/numpy/libmkl_rt.so")])
def test_gemm_only_from_numpys_own_openblas(api, path, monkeypatch):
    # scipy's OpenBLAS, or numpy on MKL: no gemm, so the ops run their numpy code
    from types import SimpleNamespace

    from dlbd_lib import _blas, _parallel

    fake = SimpleNamespace(internal_api=api, filepath=path)
    monkeypatch.setattr(_parallel, "_blas_libs", lambda: [fake])
    monkeypatch.setattr(_blas, "_found", {})
    assert _blas.gemm(np.float32) is None


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_recurrent_without_numpys_gemm_runs_the_numpy_loop(cell, monkeypatch):
    from dlbd_lib import _blas

    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
    expected = recurrent_run(cell, x, 5)
    monkeypatch.setattr(_blas, "gemm", lambda dtype: None)   # e.g. numpy on Accelerate
    monkeypatch.setattr(_jit, "_compiled", {})
    loops = {"LSTM": (_kernels.lstm_backward, _kernels.lstm_forward_recurrence),
             "GRU": (_kernels.gru_backward, _kernels.gru_forward_recurrence)}[cell]
    assert all(_jit.kernel(fn, F32) is None for fn in loops)
    assert _jit.kernel(_kernels.lstm_forward_cell, F32) is not None   # no gemm: compiled
    for a, b in zip(recurrent_run(cell, x, 5), expected):
        same(a, b)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_recurrent_read_only_gradient_already_in_column_layout(cell):
    # batch of 1: the time-major gradient (L, 1, H) is already C-ordered in the layer's
    # (L, H, 1) column layout, so no transposing copy makes it writeable on the way
    from dlbd_lib import nn

    x = np.random.default_rng(0).standard_normal((7, 1, 3)).astype(np.float32)
    m = getattr(nn, cell)(3, 4)
    out, _ = m(dl.Tensor(x))
    g = np.ones(out.shape, np.float32)
    g.flags.writeable = False
    for p in m.parameters():
        p.grad = None
    out.backward(dl.Tensor(g))
    assert all(np.isfinite(p.grad.data).all() for p in m.parameters())
