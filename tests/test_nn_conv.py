"""Conv2d, MaxPool2d, AvgPool2d, im2col/col2im against torch, finite differences and each other."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dlbd_lib as dl
from dlbd_lib.errors import DtypeError, ShapeError
from dlbd_lib.gradcheck import gradcheck_projection
from dlbd_lib.nn.conv import AvgPool2d, Conv2d, MaxPool2d
from dlbd_lib.nn.conv_ops import (
    avg_pool2d,
    col2im,
    conv2d,
    conv2d_reference,
    fold,
    im2col,
    max_pool2d,
    unfold,
)

RTOL, ATOL = 1e-4, 1e-5
TF = torch.nn.functional


def close(a, b, rtol=RTOL, atol=ATOL, what=""):
    """Equal within rtol, and atol relative to the largest value: float32 sums of many
    terms (a bias gradient over N*H*W positions) carry rounding of that size."""
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    a = a.data if isinstance(a, dl.Tensor) else a
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    scale = max(1.0, float(np.nanmax(np.abs(b)))) if b.size else 1.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * scale, err_msg=what)


def run_both(dl_fn, th_fn, x, seed=0, x_grad=True):
    """Run f on the same float32 input in both engines, backward a random u; return both."""
    rng = np.random.default_rng(seed)
    xd = dl.Tensor(x.copy(), requires_grad=x_grad)
    xt = torch.tensor(x.copy(), requires_grad=x_grad)
    yd, yt = dl_fn(xd), th_fn(xt)
    u = rng.standard_normal(yt.shape).astype(np.float32)
    yd.backward(u)
    yt.backward(torch.from_numpy(u))
    return xd, xt, yd, yt


def conv_pair(c_in, c_out, k, stride=1, padding=0, bias=True):
    """A torch Conv2d and a dlbd Conv2d holding the same (torch-initialised) weights."""
    tc = torch.nn.Conv2d(c_in, c_out, k, stride, padding, bias=bias)
    dc = Conv2d(c_in, c_out, k, stride, padding, bias=bias)
    dc.load_state_dict(tc.state_dict())
    return dc, tc


def check_conv_parity(n, c_in, c_out, hw, k, stride, padding, bias, x_grad=True, seed=0):
    torch.manual_seed(seed)
    dc, tc = conv_pair(c_in, c_out, k, stride, padding, bias)
    x = np.random.default_rng(seed).standard_normal((n, c_in, *hw)).astype(np.float32)
    xd, xt, yd, yt = run_both(dc, tc, x, seed, x_grad)
    assert yd.dtype == np.float32
    close(yd, yt, what="output")
    if x_grad:
        assert xd.grad.dtype == np.float32
        close(xd.grad, xt.grad, what="input grad")
    close(dc.weight.grad, tc.weight.grad, what="weight grad")
    if bias:
        close(dc.bias.grad, tc.bias.grad, what="bias grad")
    # the readable im2col + matmul version agrees with the fast one, values and gradients
    xr = dl.Tensor(x.copy(), requires_grad=True)
    wr = dl.Tensor(dc.weight.data.copy(), requires_grad=True)
    br = dl.Tensor(dc.bias.data.copy(), requires_grad=True) if bias else None
    yr = conv2d_reference(xr, wr, br, stride, padding)
    yr.backward(np.random.default_rng(seed).standard_normal(yr.shape).astype(np.float32))
    close(yr, yd, what="reference output")
    if x_grad:
        close(xr.grad, xt.grad, what="reference input grad")
    close(wr.grad, tc.weight.grad, what="reference weight grad")


# ---- Conv2d against torch -----------------------------------------------------------------
CONV_CONFIGS = [
    # n, c_in, c_out, (H, W), kernel, stride, padding, bias
    (2, 1, 6, (28, 28), 5, 1, 2, True),  # LeNet conv1
    (3, 6, 16, (14, 14), 5, 1, 0, True),  # LeNet conv2
    (1, 3, 4, (8, 8), 3, 1, 1, True),
    (2, 3, 4, (9, 7), 3, 2, 1, False),
    (2, 2, 3, (5, 6), 1, 1, 0, True),
    (2, 2, 3, (5, 6), 1, 2, 0, False),
    (1, 4, 2, (11, 10), 5, 2, 2, True),
    (2, 3, 5, (7, 9), (3, 2), (2, 1), (1, 0), True),  # non-square everything
    (2, 2, 2, (6, 5), (1, 3), (1, 2), (0, 1), True),
    (1, 1, 1, (3, 3), 3, 1, 0, True),  # kernel the size of the input: one output pixel
    (2, 3, 2, (4, 4), 2, 3, 0, True),  # stride bigger than the kernel: pixels skipped
]


@pytest.mark.parametrize("cfg", CONV_CONFIGS, ids=[str(c) for c in CONV_CONFIGS])
def test_conv2d_matches_torch(cfg):
    check_conv_parity(*cfg)


def test_first_layer_without_input_grad_matches_torch():
    check_conv_parity(4, 1, 6, (28, 28), 5, 1, 2, True, x_grad=False)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 3), c_in=st.integers(1, 4), c_out=st.integers(1, 4),
    kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
    ph=st.integers(0, 2), pw=st.integers(0, 2), extra_h=st.integers(0, 5),
    extra_w=st.integers(0, 5), bias=st.booleans(),
)
def test_conv2d_random_configs_match_torch(n, c_in, c_out, kh, kw, sh, sw, ph, pw, extra_h,
                                           extra_w, bias):
    h, w = max(kh - 2 * ph, 1) + extra_h, max(kw - 2 * pw, 1) + extra_w
    check_conv_parity(n, c_in, c_out, (h, w), (kh, kw), (sh, sw), (ph, pw), bias)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("k", [3, 4, (2, 5)])
def test_padding_same_and_valid_match_torch(k):
    for padding in ("same", "valid"):
        torch.manual_seed(0)
        tc = torch.nn.Conv2d(2, 3, k, padding=padding)
        dc = Conv2d(2, 3, k, padding=padding)
        dc.load_state_dict(tc.state_dict())
        x = np.random.default_rng(1).standard_normal((2, 2, 7, 8)).astype(np.float32)
        xd, xt, yd, yt = run_both(dc, tc, x)
        close(yd, yt, what=padding)
        close(xd.grad, xt.grad, what=padding)
        close(dc.weight.grad, tc.weight.grad, what=padding)
        assert repr(dc) == repr(tc)


def test_functional_conv2d_accepts_arrays_and_no_bias():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = conv2d(x, w, None, 1, 1)
    close(y, TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1))
    assert not y.requires_grad


# ---- gradient checks in float64 -----------------------------------------------------------
@pytest.mark.parametrize("stride,padding,width", [(1, 0, 6), (2, 1, 6), ((1, 2), (2, 1), 6),
                                                  (1, 1, 17)])  # W_out >= 16: other path
def test_conv2d_gradcheck(stride, padding, width):
    rng = np.random.default_rng(0)
    x = dl.Tensor(rng.standard_normal((2, 3, 7, width)), requires_grad=True)
    w = dl.Tensor(rng.standard_normal((4, 3, 3, 2)), requires_grad=True)
    b = dl.Tensor(rng.standard_normal(4), requires_grad=True)
    for fn in (conv2d, conv2d_reference):
        assert gradcheck_projection(lambda x, w, b, fn=fn: fn(x, w, b, stride, padding),
                                    [x, w, b], n_dirs=3, seed=1)


def distinct_values(shape, seed=0):
    """float64 values at least 0.1 apart, so no max-pool window has a near tie (no kink)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(math.prod(shape)) * 0.1).reshape(shape)


@pytest.mark.parametrize("k,stride,padding", [(2, None, 0), (3, 2, 1), (3, 1, 1),
                                              ((2, 3), (1, 2), (1, 0))])
def test_pool_gradcheck(k, stride, padding):
    x = dl.Tensor(distinct_values((2, 3, 7, 8)), requires_grad=True)
    assert gradcheck_projection(lambda x: max_pool2d(x, k, stride, padding), [x], seed=2)
    x = dl.Tensor(np.random.default_rng(0).standard_normal((2, 3, 7, 8)), requires_grad=True)
    assert gradcheck_projection(lambda x: avg_pool2d(x, k, stride, padding), [x], seed=3)
    assert gradcheck_projection(
        lambda x: avg_pool2d(x, k, stride, padding, count_include_pad=False), [x], seed=4)


# ---- pooling against torch ----------------------------------------------------------------
POOL_CONFIGS = [
    # (H, W), kernel, stride, padding
    ((28, 28), 2, None, 0),  # LeNet
    ((10, 10), 2, None, 0),
    ((5, 7), 2, None, 0),  # odd sizes: the last row/column is dropped (floor mode)
    ((9, 9), 3, 2, 1),  # overlapping windows with padding
    ((7, 7), 3, 1, 1),
    ((8, 6), (3, 2), (1, 2), (1, 0)),
    ((6, 6), 2, 1, 1),
    ((6, 7), 1, 2, 0),
    ((4, 4), 4, None, 2),  # padding = half the kernel
]


@pytest.mark.parametrize("cfg", POOL_CONFIGS, ids=[str(c) for c in POOL_CONFIGS])
def test_pools_match_torch(cfg):
    hw, k, stride, padding = cfg
    x = np.random.default_rng(0).standard_normal((2, 3, *hw)).astype(np.float32)
    modules = [
        (MaxPool2d(k, stride, padding), torch.nn.MaxPool2d(k, stride, padding)),
        (AvgPool2d(k, stride, padding), torch.nn.AvgPool2d(k, stride, padding)),
        (AvgPool2d(k, stride, padding, count_include_pad=False),
         torch.nn.AvgPool2d(k, stride, padding, count_include_pad=False)),
        (AvgPool2d(k, stride, padding, divisor_override=3),
         torch.nn.AvgPool2d(k, stride, padding, divisor_override=3)),
    ]
    for dm, tm in modules:
        xd, xt, yd, yt = run_both(dm, tm, x)
        assert yd.dtype == np.float32 and xd.grad.dtype == np.float32
        close(yd, yt, what=repr(dm))
        close(xd.grad, xt.grad, what=repr(dm))
        assert repr(dm) == repr(tm)
    yd, idx = max_pool2d(dl.Tensor(x), k, stride, padding, return_indices=True)
    yt, idx_t = TF.max_pool2d(torch.from_numpy(x), k, stride, padding, return_indices=True)
    assert idx.dtype == np.int64 and np.array_equal(idx.data, idx_t.numpy())


@settings(max_examples=20, deadline=None)
@given(kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 4), sw=st.integers(1, 4),
       ph=st.integers(0, 2), pw=st.integers(0, 2), extra_h=st.integers(0, 6),
       extra_w=st.integers(0, 6), levels=st.integers(2, 50))
def test_max_pool_random_configs_and_ties_match_torch(kh, kw, sh, sw, ph, pw, extra_h,
                                                      extra_w, levels):
    ph, pw = min(ph, kh // 2), min(pw, kw // 2)
    h, w = max(kh - 2 * ph, 1) + extra_h, max(kw - 2 * pw, 1) + extra_w
    # few distinct values: many ties, which torch resolves to the first maximum
    rng = np.random.default_rng(kh * 1000 + extra_h * 10 + levels)
    x = rng.integers(0, levels, (2, 2, h, w)).astype(np.float32)
    for fn_d, fn_t in ((max_pool2d, TF.max_pool2d), (avg_pool2d, TF.avg_pool2d)):
        xd, xt, yd, yt = run_both(lambda x, f=fn_d: f(x, (kh, kw), (sh, sw), (ph, pw)),
                                  lambda x, f=fn_t: f(x, (kh, kw), (sh, sw), (ph, pw)), x)
        close(yd, yt, what=fn_d.__name__)
        close(xd.grad, xt.grad, what=fn_d.__name__)


def test_max_pool_tie_gradient_goes_to_first_maximum():
    x = dl.Tensor(np.ones((1, 1, 2, 2), np.float32), requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    assert x.grad.tolist() == [[[[1.0, 0.0], [0.0, 0.0]]]]


def test_max_pool_propagates_nan_like_torch():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    close(max_pool2d(x, 2), TF.max_pool2d(torch.from_numpy(x), 2))


def test_pools_accept_unbatched_input_like_torch():
    x = np.random.default_rng(0).standard_normal((3, 6, 6)).astype(np.float32)
    for fd, ft in ((max_pool2d, TF.max_pool2d), (avg_pool2d, TF.avg_pool2d)):
        xd, xt, yd, yt = run_both(lambda x, f=fd: f(x, 2), lambda x, f=ft: f(x, 2), x)
        close(yd, yt)
        close(xd.grad, xt.grad)
    y, idx = MaxPool2d(2, return_indices=True)(dl.Tensor(x, requires_grad=True))
    y_t, idx_t = torch.nn.MaxPool2d(2, return_indices=True)(torch.from_numpy(x))
    close(y, y_t)
    assert np.array_equal(idx.data, idx_t.numpy())


# ---- im2col / col2im / unfold / fold ------------------------------------------------------
@pytest.mark.parametrize("k,stride,padding", [(3, 1, 0), (2, 2, 1), ((3, 2), (2, 1), (1, 0))])
def test_im2col_col2im_match_torch_unfold_fold(k, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    cols = im2col(x, k, stride, padding)
    close(cols, TF.unfold(torch.from_numpy(x), k, padding=padding, stride=stride))
    y = rng.standard_normal(cols.shape).astype(np.float32)
    close(col2im(y, x.shape, k, stride, padding),
          TF.fold(torch.from_numpy(y), (7, 6), k, padding=padding, stride=stride))
    # col2im is the adjoint of im2col: <im2col(x), y> = <x, col2im(y)>
    lhs = np.sum(cols.astype(np.float64) * y)
    rhs = np.sum(x.astype(np.float64) * col2im(y, x.shape, k, stride, padding))
    assert lhs == pytest.approx(rhs, rel=1e-5)
    # and both are graph ops with torch's gradients
    xd, xt, yd, yt = run_both(lambda t: unfold(t, k, padding=padding, stride=stride),
                              lambda t: TF.unfold(t, k, padding=padding, stride=stride), x)
    close(yd, yt)
    close(xd.grad, xt.grad)
    xd, xt, yd, yt = run_both(lambda t: fold(t, (7, 6), k, padding=padding, stride=stride),
                              lambda t: TF.fold(t, (7, 6), k, padding=padding, stride=stride), y)
    close(yd, yt)
    close(xd.grad, xt.grad)


# ---- the modules --------------------------------------------------------------------------
def test_conv2d_parameters_init_and_repr_like_torch():
    dl.manual_seed(0)
    dc = Conv2d(3, 8, (5, 3), stride=2, padding=1)
    tc = torch.nn.Conv2d(3, 8, (5, 3), stride=2, padding=1)
    assert [(k, v.shape) for k, v in dc.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tc.state_dict().items()]
    assert dc.weight.dtype == np.float32 and dc.weight.requires_grad
    bound = 1 / math.sqrt(3 * 5 * 3)
    for p in (dc.weight, dc.bias):
        assert np.abs(p.data).max() <= bound
    assert np.abs(dc.weight.data).max() > 0.8 * bound  # uniform over the whole range
    assert repr(dc) == repr(tc)
    assert repr(Conv2d(1, 6, 5, bias=False)) == repr(torch.nn.Conv2d(1, 6, 5, bias=False))
    assert Conv2d(1, 6, 5, bias=False).bias is None
    assert len(list(Conv2d(1, 6, 5, bias=False).parameters())) == 1
    # same seed, same weights
    dl.manual_seed(1)
    a = Conv2d(2, 2, 3).weight.data.copy()
    dl.manual_seed(1)
    assert np.array_equal(a, Conv2d(2, 2, 3).weight.data)


def test_conv2d_double_and_no_grad():
    dc = Conv2d(2, 3, 3).double()
    x = dl.Tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 5)))
    assert dc(x).dtype == np.float64
    with dl.no_grad():
        y = dc(x)
    assert not y.requires_grad and y.grad_fn is None


def test_lenet_stack_trains():
    dl.manual_seed(0)
    rng = np.random.default_rng(0)
    x = dl.Tensor(rng.standard_normal((8, 1, 12, 12)).astype(np.float32))
    c1, c2 = Conv2d(1, 4, 3, padding=1), Conv2d(4, 2, 3)
    params = list(c1.parameters()) + list(c2.parameters())
    losses = []
    for _ in range(20):
        h = max_pool2d(dl.functional.relu(c1(x)), 2)
        loss = (avg_pool2d(c2(h), 2) ** 2).mean()
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= 0.5 * p.grad
            p._bump_version()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ---- errors -------------------------------------------------------------------------------
def test_conv2d_errors_name_shapes():
    conv = Conv2d(1, 6, 5)
    with pytest.raises(ShapeError, match=r"expected a 4-D input of shape \(N, C, H, W\), got "
                                         r"shape \(1, 28, 28\).*unsqueeze\(0\)"):
        conv(dl.Tensor(np.zeros((1, 28, 28), np.float32)))
    with pytest.raises(ShapeError, match=r"input has 3 channels but the weight expects 1 "
                                         r"\(input shape \(2, 3, 28, 28\), weight shape "
                                         r"\(6, 1, 5, 5\)\)"):
        conv(dl.Tensor(np.zeros((2, 3, 28, 28), np.float32)))
    with pytest.raises(ShapeError, match=r"kernel size \(5, 5\) is bigger than the padded "
                                         r"input \(3, 4\)"):
        conv(dl.Tensor(np.zeros((2, 1, 3, 4), np.float32)))
    with pytest.raises(DtypeError, match=r"input dtype float64 and weight dtype float32"):
        conv(dl.Tensor(np.zeros((2, 1, 8, 8))))
    with pytest.raises(DtypeError, match=r"floating-point input, got dtype int64"):
        conv(dl.Tensor(np.zeros((2, 1, 8, 8), np.int64)))
    with pytest.raises(ShapeError, match=r"bias must have shape \(6,\).*got \(5,\)"):
        conv2d(np.zeros((1, 1, 8, 8), np.float32), conv.weight, np.zeros(5, np.float32))
    with pytest.raises(ShapeError, match=r"4-D weight of shape \(C_out, C_in/groups, kh, kw\)"):
        conv2d(np.zeros((1, 1, 8, 8), np.float32), np.zeros((6, 25), np.float32))
    # errors are also the built-in types numpy and torch users catch
    with pytest.raises(ValueError):
        conv(dl.Tensor(np.zeros((3, 28, 28), np.float32)))
    with pytest.raises(RuntimeError):
        conv(dl.Tensor(np.zeros((3, 28, 28), np.float32)))


def test_unsupported_and_bad_arguments():
    with pytest.raises(ValueError, match=r"divisible by groups \(2\)"):
        Conv2d(3, 2, 3, groups=2)
    with pytest.raises(NotImplementedError, match=r"padding_mode='zeros'"):
        Conv2d(2, 2, 3, padding_mode="reflect")
    x = np.zeros((1, 2, 6, 6), np.float32)
    w = np.zeros((2, 2, 3, 3), np.float32)
    with pytest.raises(ShapeError, match=r"input has 2 channels but the weight expects 4 .*"
                                         r"2 per group x 2 groups"):
        conv2d(x, w, groups=2)
    with pytest.raises(ShapeError, match=r"kernel size \(3, 3\) \(dilation \(3, 3\)\) is "
                                         r"bigger than the padded input \(6, 6\)"):
        conv2d(x, w, dilation=3)
    with pytest.raises(ValueError, match=r"stride must be at least 1, got 0"):
        conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match=r"padding must be an int or a pair of ints, got "
                                         r"\(1, 2, 3\)"):
        conv2d(x, w, padding=(1, 2, 3))
    with pytest.raises(ValueError, match=r"padding='same' is not supported for strided"):
        Conv2d(2, 2, 3, stride=2, padding="same")


def test_pool_errors_name_shapes():
    with pytest.raises(ValueError, match=r"padding should be at most half of the kernel size, "
                                         r"got padding \(2, 2\) and kernel_size \(3, 3\)"):
        max_pool2d(np.zeros((1, 1, 8, 8), np.float32), 3, padding=2)
    with pytest.raises(ShapeError, match=r"kernel size \(5, 5\) is bigger than the padded input "
                                         r"\(4, 4\)"):
        MaxPool2d(5)(dl.Tensor(np.zeros((1, 2, 4, 4), np.float32)))
    with pytest.raises(ShapeError, match=r"expected a 4-D input \(N, C, H, W\) or 3-D "
                                         r"\(C, H, W\), got shape \(4, 4\)"):
        AvgPool2d(2)(dl.Tensor(np.zeros((4, 4), np.float32)))
