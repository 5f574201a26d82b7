"""The compiled kernels (dlbd_lib._jit, _kernels): each op gives the same result with and
without them, equal to torch's, and the engine falls back to numpy when numba is missing,
turned off or failing."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from kernel_paths import F32, F64, both_paths, same

import dlbd_lib as dl
from dlbd_lib import _jit, _kernels
from dlbd_lib.nn.functional import conv2d, max_pool2d, relu

pytest.importorskip("numba")
pytestmark = pytest.mark.usefixtures("kernels_on")


def test_numba_compiles_the_kernels_here():
    assert _jit.kernels_enabled()
    assert _jit.kernel(_kernels.relu_forward, F32) is not None


# ---- ReLU ---------------------------------------------------------------------------------
def relu_run(x: np.ndarray, g: np.ndarray):
    t = dl.Tensor(x.copy(), requires_grad=True)
    y = relu(t)
    y.backward(dl.Tensor(g))
    return y.data, t.grad.data


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [100, 20_000, 600_000])  # numpy only / one slice / two
def test_relu_both_paths_equal_torch(dtype, size, two_threads):
    rng = np.random.default_rng(size)
    x = rng.standard_normal(size).astype(dtype)
    x[:5] = [np.nan, 0.0, -0.0, np.inf, -np.inf]
    g = rng.standard_normal(size).astype(dtype)
    (y1, g1), (y0, g0) = both_paths(lambda: relu_run(x, g))
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.relu(xt)
    yt.backward(torch.tensor(g))
    for a, b in ((y1, y0), (g1, g0), (y1, yt), (g1, xt.grad)):
        same(a, b)


@pytest.mark.parametrize("size", [100, 20_000])  # numpy only / the compiled kernel
def test_relu_nonfinite_gradient_where_x_is_not_positive_gives_zero_as_torch(size):
    # a select, not g * mask (which would make inf * 0 = NaN): torch's threshold_backward
    x = np.tile(np.array([-1.0, 0.0, 2.0, np.nan], np.float32), size // 4)
    g = np.tile(np.array([np.inf, np.nan, -np.inf, np.nan], np.float32), size // 4)
    with np.errstate(invalid="ignore"):  # numpy's g * mask meets inf * 0 before the fix-up
        (_, g1), (_, g0) = both_paths(lambda: relu_run(x, g))
    xt = torch.tensor(x, requires_grad=True)
    torch.relu(xt).backward(torch.tensor(g))
    for got in (g1, g0):
        np.testing.assert_array_equal(got, xt.grad.numpy())
        assert (got[0::4] == 0).all() and (got[1::4] == 0).all()   # x <= 0: 0, not NaN
        assert np.isneginf(got[2::4]).all() and np.isnan(got[3::4]).all()


def test_relu_takes_numpy_for_read_only_and_strided_input():
    x = np.random.default_rng(0).standard_normal((400, 100)).astype(np.float32)
    ro = x.copy()
    ro.flags.writeable = False
    for arr in (ro, x.T):  # a read-only array, a transposed (non-contiguous) view
        (y1, g1), (y0, g0) = both_paths(lambda arr=arr: relu_run(arr, np.ones(arr.shape,
                                                                          np.float32)))
        same(y1, y0)
        same(g1, g0)
        same(y1, np.maximum(arr, 0))


# ---- max pooling --------------------------------------------------------------------------
def pool_run(x: np.ndarray, **kw):
    t = dl.Tensor(x.copy(), requires_grad=True)
    y, idx = max_pool2d(t, 2, return_indices=True, **kw)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(x.dtype)
    y.backward(dl.Tensor(g))
    return y.data, idx.data, t.grad.data, g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 6, 28, 28), (3, 5, 7, 9), (2, 3, 33, 31)])
def test_max_pool_2x2_both_paths_equal_torch(dtype, shape, two_threads):
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 3, shape).astype(dtype)  # many ties: the first maximum wins
    on, off = both_paths(lambda: pool_run(x))
    xt = torch.tensor(x, requires_grad=True)
    yt, it = torch.nn.functional.max_pool2d(xt, 2, return_indices=True)
    yt.backward(torch.tensor(on[3]))
    for a, b in zip(on[:3], off[:3]):
        same(a, b)
    same(on[0], yt)
    same(on[1], it)
    same(on[2], xt.grad)


def test_max_pool_2x2_nan_wins_like_torch():
    x = np.arange(2 * 3 * 6 * 6, dtype=np.float32).reshape(2, 3, 6, 6)
    x[0, 0, 0, :3] = np.nan  # a window with two NaNs, one with one
    x[1, 2, 5, 5] = np.nan
    y, idx, gx, g = pool_run(x)
    xt = torch.tensor(x, requires_grad=True)
    yt, it = torch.nn.functional.max_pool2d(xt, 2, return_indices=True)
    yt.backward(torch.tensor(g))
    same(y, yt)
    same(idx, it)
    same(gx, xt.grad)


@pytest.mark.parametrize("kernels", [True, False])
@pytest.mark.parametrize("kw", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2},
                                {"kernel_size": (3, 2), "stride": 1, "padding": 1}])
def test_max_pool_nan_wins_like_torch_on_both_paths(kernels, kw):
    # torch: a NaN wins its window, and of several the last in row-major order
    x = np.arange(2 * 3 * 7 * 6, dtype=np.float32).reshape(2, 3, 7, 6) % 11
    x[0, 0, 0, :3] = np.nan                     # a row of NaNs
    x[0, 1, 1, 1] = x[0, 1, 2, 0] = np.nan      # two in different rows and columns
    x[1, 2, 6, 5] = np.nan                      # on the edge
    previous = _jit.use_kernels(kernels)
    try:
        t = dl.Tensor(x, requires_grad=True)
        y, idx = max_pool2d(t, return_indices=True, **kw)
        g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        y.backward(dl.Tensor(g))
    finally:
        _jit.use_kernels(previous)
    xt = torch.tensor(x, requires_grad=True)
    yt, it = torch.nn.functional.max_pool2d(xt, return_indices=True, **kw)
    yt.backward(torch.tensor(g))
    same(y.data, yt)
    same(idx.data, it)
    # overlapping windows (stride 1) add several gradients onto one input, in another order
    np.testing.assert_allclose(t.grad.data, xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_max_pool_2x2_other_configurations_take_numpy():
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for kw in ({"padding": 1}, {"ceil_mode": True}, {"dilation": 2}):
        on, off = both_paths(lambda kw=kw: pool_run(x, **kw))
        for a, b in zip(on, off):
            same(a, b)


def test_max_pool_2x2_read_only_input_and_broadcast_gradient():
    x = np.random.default_rng(0).standard_normal((4, 2, 6, 6)).astype(np.float32)
    x.flags.writeable = False  # as a batch from a read-only memmap
    for on in (True, False):
        previous = _jit.use_kernels(on)
        try:
            t = dl.Tensor(x, requires_grad=True)
            max_pool2d(t, 2).sum().backward()  # sum's gradient is a read-only broadcast
        finally:
            _jit.use_kernels(previous)
        xt = torch.tensor(x, requires_grad=True)
        torch.nn.functional.max_pool2d(xt, 2).sum().backward()
        same(t.grad.data, xt.grad)


def test_max_pool_2x2_backward_after_kernels_turned_off():
    x = np.random.default_rng(0).standard_normal((3, 2, 7, 6)).astype(np.float32)
    t = dl.Tensor(x, requires_grad=True)
    y = max_pool2d(t, 2)  # forward compiled
    previous = _jit.use_kernels(False)
    try:
        y.backward(dl.Tensor(np.arange(y.numel(), dtype=np.float32).reshape(y.shape)))
    finally:
        _jit.use_kernels(previous)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, 2)
    yt.backward(torch.arange(yt.numel(), dtype=torch.float32).reshape(yt.shape))
    same(t.grad.data, xt.grad)


# ---- conv2d's input gradient (col2im) -----------------------------------------------------
@pytest.mark.parametrize("cfg", [
    # (N, C_in, C_out, (H, W), k, stride, padding, dilation, groups)
    (3, 2, 4, (20, 17), 3, 1, 1, 1, 1),
    (2, 4, 6, (19, 23), (3, 2), (2, 3), (2, 0), (1, 2), 2),
    (64, 6, 16, (14, 14), 5, 1, 0, 1, 1),  # LeNet's second layer: batch-last on one thread
    (2, 3, 5, (24, 24), 4, 2, 3, 2, 1),
])
def test_conv2d_gradients_both_paths_equal_torch(cfg, two_threads):
    n, c_in, c_out, hw, k, s, p, d, groups = cfg
    rng = np.random.default_rng(0)
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal((n, c_in, *hw)).astype(np.float32)
    w = rng.standard_normal((c_out, c_in // groups, kh, kw)).astype(np.float32)

    def run():
        xt, wt = dl.Tensor(x, requires_grad=True), dl.Tensor(w, requires_grad=True)
        y = conv2d(xt, wt, stride=s, padding=p, dilation=d, groups=groups)
        y.backward(dl.Tensor(np.cos(np.arange(y.numel(), dtype=np.float32)).reshape(y.shape)))
        return y.data, xt.grad.data, wt.grad.data

    on, off = both_paths(run)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, stride=s, padding=p, dilation=d, groups=groups)
    yt.backward(torch.cos(torch.arange(yt.numel(), dtype=torch.float32)).reshape(yt.shape))
    for a, b, ref in zip(on, off, (yt, xt.grad, wt.grad)):
        ref = ref.detach().numpy()
        scale = np.abs(ref).max()  # float32 sums in another order: relative to the largest
        assert np.abs(a - b).max() <= 1e-5 * scale
        assert np.abs(a - ref).max() <= 1e-5 * scale


@pytest.mark.parametrize("stride, dilation, pad", [((1, 1), (1, 1), 0), ((2, 3), (1, 2), 2),
                                                  ((1, 2), (3, 1), 1)])
def test_im2col_kernel_is_exactly_numpys_window_copy(stride, dilation, pad):
    from dlbd_lib.nn.conv_args import _pad_hw
    from dlbd_lib.nn.fold_ops import windows

    x = np.random.default_rng(0).standard_normal((3, 2, 15, 13))
    xp = _pad_hw(x, (pad, pad, pad, pad))
    win = windows(xp, (3, 4), stride, dilation)  # (N, C, H_out, W_out, kh, kw)
    expected = np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3))
    cols = np.full(expected.shape, np.nan)
    _jit.kernel(_kernels.im2col, F64)(xp, *stride, *dilation, cols)
    same(cols, expected)


@pytest.mark.parametrize("kernels", [True, False])
def test_conv2d_columns_copied_again_in_backward_give_the_same_numbers(kernels, monkeypatch,
                                                                        two_threads):
    # columns too big to keep are copied again from the padded input in the backward
    from dlbd_lib.nn import conv_ops

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 21, 19)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)

    def run():
        xt, wt = dl.Tensor(x, requires_grad=True), dl.Tensor(w, requires_grad=True)
        y = conv2d(xt, wt, stride=(2, 1), padding=1, dilation=(1, 2))
        y.backward(dl.Tensor(np.cos(np.arange(y.numel(), dtype=np.float32)).reshape(y.shape)))
        return y.data, xt.grad.data, wt.grad.data

    previous = _jit.use_kernels(kernels)
    try:
        kept = run()
        monkeypatch.setattr(conv_ops, "_KEEP_MAX", 0)
        copied = run()
    finally:
        _jit.use_kernels(previous)
    for a, b in zip(kept, copied):
        same(a, b)


def test_col2im_kernel_is_exactly_numpys_col2im():
    from dlbd_lib.nn.fold_ops import col2im_add

    rng = np.random.default_rng(0)
    fold = _jit.kernel(_kernels.col2im, F64)
    for sh, sw, dh, dw, top, left in [(1, 1, 1, 1, 0, 0), (2, 1, 1, 2, 1, 2), (3, 2, 2, 1, 2, 0),
                                      (1, 3, 1, 1, 0, 4), (2, 2, 1, 3, 3, 5),  # windows
                                      (1, 10, 1, 1, 0, 3)]:  # that begin in the padding;
        # in the last, q = 1's every column lands in the padding
        h, w, kh, kw = 9, 8, 3, 2
        h_out = (h + 2 * top - dh * (kh - 1) - 1) // sh + 1
        w_out = (w + 2 * left - dw * (kw - 1) - 1) // sw + 1
        cols = rng.standard_normal((2, 3, kh, kw, h_out, w_out))
        acc = np.zeros((2, 3, h + 2 * top, w + 2 * left))
        col2im_add(acc, cols, (sh, sw), (dh, dw), False)
        gx = np.empty((2, 3, h, w))
        fold(cols, sh, sw, dh, dw, top, left, gx)
        assert np.array_equal(gx, acc[:, :, top:top + h, left:left + w])


# ---- the loops as plain Python, and the fall-backs ----------------------------------------
def test_kernels_run_as_plain_python():
    out, code = np.empty((1, 1, 1), np.float32), np.empty((1, 1, 1), np.uint8)
    _kernels.max_pool2x2_forward(np.array([[[1, -2], [3, 3]]], np.float32), out, code)
    assert out[0, 0, 0] == 3.0 and code[0, 0, 0] == 2  # the first of two maxima wins
    x = np.array([[[1.0, -2.0, 3.0], [0.5, np.nan, -1.0], [7.0, 7.0, 0.0]]], np.float32)
    _kernels.max_pool2x2_forward(x, out, code)  # an odd size: the last row and column
    assert np.isnan(out[0, 0, 0]) and code[0, 0, 0] == 3  # the NaN wins
    flat = x.reshape(-1)
    y, mask = np.empty_like(flat), np.empty(flat.shape, np.bool_)
    _kernels.relu_forward(flat, y, mask)
    same(y, np.maximum(flat, 0))
    assert mask.tolist() == [True, False, True, True, True, False, True, True, False]


def test_turned_off_by_environment_variable():
    code = ("import numpy as np, dlbd_lib as dl; from dlbd_lib import _jit; "
            "from dlbd_lib.nn.functional import relu; "
            "y = relu(dl.Tensor(np.linspace(-1, 1, 10_000, dtype=np.float32))); "
            "print(_jit.kernels_enabled(), float(y.sum()))")
    env = {"DLBD_NO_NUMBA": "1", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[0] == "False" and abs(float(out[1]) - 2500.0) < 1.0


def test_without_numba_the_numpy_code_runs():
    code = ("import sys; sys.modules['numba'] = None; "  # import numba now fails
            "import numpy as np, dlbd_lib as dl; from dlbd_lib import _jit; "
            "from dlbd_lib.nn.functional import max_pool2d; "
            "x = dl.Tensor(np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8)); "
            "print(_jit.kernels_enabled(), float(max_pool2d(x, 2).sum()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", str(float(sum(8 * (2 * i + 1) + 2 * j + 1
                                             for i in range(4) for j in range(4))))]


def test_compiler_failure_warns_once_and_falls_back(monkeypatch):
    import numba

    def broken(*args, **kwargs):
        raise RuntimeError("LLVM ran out of memory")

    monkeypatch.setattr(numba, "njit", broken)
    monkeypatch.setattr(_jit, "_compiled", {})
    x = np.random.default_rng(0).standard_normal(20_000).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = relu(dl.Tensor(x))
        relu(dl.Tensor(x))
    messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert len(messages) == 1
    assert "relu_forward" in messages[0] and "LLVM ran out of memory" in messages[0]
    same(y.data, np.maximum(x, 0))


# ---- SGD with momentum --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_momentum_both_paths_bit_identical_and_equal_torch(dtype):
    from dlbd_lib.optim import SGD

    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((300, 200)).astype(dtype)
    grads = [rng.standard_normal(w0.shape).astype(dtype) for _ in range(4)]

    def run():
        p = dl.Tensor(w0.copy(), requires_grad=True)
        opt = SGD([p], lr=0.05, momentum=0.9)
        for g in grads:
            p.grad = dl.Tensor(g)
            opt.step()
        return p.data

    on, off = both_paths(run)
    same(on, off)
    pt = torch.tensor(w0, requires_grad=True)
    opt = torch.optim.SGD([pt], lr=0.05, momentum=0.9)
    for g in grads:
        pt.grad = torch.tensor(g)
        opt.step()
    np.testing.assert_allclose(on, pt.detach().numpy(), rtol=1e-6, atol=1e-6)


def test_conv2d_backward_twice_with_kept_columns(two_threads):
    # the forward keeps small columns for the backward; a second backward (the graph is kept)
    # must find them unchanged
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 20, 20)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    xt, wt = dl.Tensor(x, requires_grad=True), dl.Tensor(w, requires_grad=True)
    y = conv2d(xt, wt, padding=1)
    assert y._ctx.kept is not None
    y.sum().backward()
    first = wt.grad.data.copy()
    y.sum().backward()
    np.testing.assert_allclose(wt.grad.data, 2 * first, rtol=1e-6)
    xr, wr = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(xr, wr, padding=1).sum().backward()
    np.testing.assert_allclose(first, wr.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_conv2d_keeps_no_columns_under_no_grad():
    x = dl.Tensor(np.ones((8, 3, 20, 20), np.float32))
    w = dl.Tensor(np.ones((4, 3, 3, 3), np.float32), requires_grad=True)
    with dl.no_grad():
        y = conv2d(x, w, padding=1)
    assert y._ctx is None  # no graph, and (checked below) no columns were kept for one
    from dlbd_lib.nn.conv_ops import Conv2dOp
    op = Conv2dOp()
    with dl.no_grad():
        op.forward(x.data, w.data, None, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    assert op.kept is None
    op.forward(x.data, w.data, None, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    assert op.kept is not None
