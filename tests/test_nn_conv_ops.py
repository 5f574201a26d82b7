"""Conv and pooling ops of issue #12 against torch (forward, input/weight/bias gradients)
and finite differences in float64: conv2d groups/dilation, conv1d, conv_transpose2d,
pooling with ceil_mode/dilation, adaptive_avg_pool2d, interpolate; their layers; and the
engine's threads giving the same numbers as one thread."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dlbd_lib as dl
import dlbd_lib.nn.functional as F
from dlbd_lib import nn
from dlbd_lib.errors import ShapeError
from tests.nn_parity import assert_module_parity, single_torch_thread
from tests.opcheck import check_op

TF = torch.nn.functional
_one_torch_thread = pytest.fixture(autouse=True)(single_torch_thread)

# (N, C_in, H, W, C_out, k, stride, padding, dilation, groups)
CONV = [(2, 4, 7, 6, 6, 3, 1, 1, 2, 2), (1, 6, 6, 7, 3, (2, 3), 2, (1, 0), (1, 2), 3),
        (2, 4, 5, 5, 4, 3, 1, "same", 2, 4), (1, 2, 8, 6, 4, 2, (2, 1), 0, 3, 1)]


@pytest.mark.parametrize("cfg", CONV, ids=[str(c) for c in CONV])
def test_conv2d_groups_and_dilation_match_torch(cfg):
    n, c_in, h, w, c_out, k, s, p, d, g = cfg
    kh, kw = (k, k) if isinstance(k, int) else k
    kwargs = dict(stride=s, padding=p, dilation=d, groups=g)
    check_op([(n, c_in, h, w), (c_out, c_in // g, kh, kw), (c_out,)],
             lambda x, wt, b: F.conv2d(x, wt, b, **kwargs),
             lambda x, wt, b: TF.conv2d(x, wt, b, **kwargs))


# groups 1, output rows under 16 pixels: the cases the batch-last path serves
SMALL = [(2, 3, 9, 7, 5, 3, 1, 1, 1), (2, 2, 11, 9, 4, (3, 2), 1, (1, 0), (1, 2)),
         (3, 4, 6, 6, 3, 3, 1, "same", 2), (5, 1, 8, 8, 2, 3, 1, 1, 1)]


@pytest.mark.parametrize("batch_last", [True, False], ids=["batch-last", "batch-sliced"])
@pytest.mark.parametrize("cfg", SMALL, ids=[str(c) for c in SMALL])
def test_both_conv2d_paths_match_torch(cfg, batch_last, monkeypatch):
    import dlbd_lib.nn.conv_ops as conv_ops

    monkeypatch.setattr(conv_ops, "_BATCH_LAST_MAX", 1 << 40 if batch_last else 0)
    calls = []
    original = conv_ops.Conv2dOp._forward_batch_last
    monkeypatch.setattr(conv_ops.Conv2dOp, "_forward_batch_last",
                        lambda self, *a: calls.append(1) or original(self, *a))
    n, c_in, h, w, c_out, k, s, p, d = cfg
    kh, kw = (k, k) if isinstance(k, int) else k
    kwargs = dict(stride=s, padding=p, dilation=d)
    check_op([(n, c_in, h, w), (c_out, c_in, kh, kw), (c_out,)],
             lambda x, wt, b: F.conv2d(x, wt, b, **kwargs),
             lambda x, wt, b: TF.conv2d(x, wt, b, **kwargs))
    assert bool(calls) == batch_last


@pytest.mark.parametrize("s,p,d,g", [(1, 0, 1, 1), (2, 1, 1, 2), (1, "same", 3, 1), (3, 2, 2, 4)])
def test_conv1d_matches_torch(s, p, d, g):
    kwargs = dict(stride=s, padding=p, dilation=d, groups=g)
    check_op([(2, 4, 11), (8, 4 // g, 3), (8,)],
             lambda x, wt, b: F.conv1d(x, wt, b, **kwargs),
             lambda x, wt, b: TF.conv1d(x, wt, b, **kwargs))


# (C_in, C_out, k, stride, padding, output_padding, groups, dilation)
TRANSPOSE = [(3, 2, 3, 1, 0, 0, 1, 1), (4, 6, 3, 2, 1, 1, 2, 1), (2, 3, (2, 3), (3, 2), (1, 0),
             (2, 1), 1, 1), (4, 4, 3, 2, 2, 1, 4, 2), (2, 2, 4, 1, 1, 0, 1, 2)]


@pytest.mark.parametrize("cfg", TRANSPOSE, ids=[str(c) for c in TRANSPOSE])
def test_conv_transpose2d_matches_torch(cfg):
    c_in, c_out, k, s, p, op, g, d = cfg
    kh, kw = (k, k) if isinstance(k, int) else k
    kwargs = dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)
    check_op([(2, c_in, 4, 5), (c_in, c_out // g, kh, kw), (c_out,)],
             lambda x, wt, b: F.conv_transpose2d(x, wt, b, **kwargs),
             lambda x, wt, b: TF.conv_transpose2d(x, wt, b, **kwargs))


# (H, W, kernel, stride, padding, dilation, ceil_mode)
MAXPOOL = [(7, 7, 2, 2, 0, 1, True), (8, 9, 3, 2, 1, 2, False), (9, 8, (3, 2), (2, 3), (1, 1), 1,
           True), (10, 7, 2, 3, 1, (2, 3), True), (5, 6, 3, 1, 0, 2, True)]


@pytest.mark.parametrize("cfg", MAXPOOL, ids=[str(c) for c in MAXPOOL])
def test_max_pool2d_ceil_mode_and_dilation_match_torch(cfg):
    h, w, k, s, p, d, ceil = cfg
    kwargs = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
    check_op([(2, 3, h, w)], lambda x: F.max_pool2d(x, **kwargs),
             lambda x: TF.max_pool2d(x, **kwargs))
    x = np.random.default_rng(0).random((2, 3, h, w)).astype(np.float32)
    _, idx = F.max_pool2d(x, return_indices=True, **kwargs)
    _, t_idx = TF.max_pool2d(torch.from_numpy(x), return_indices=True, **kwargs)
    np.testing.assert_array_equal(idx.numpy(), t_idx.numpy())


@pytest.mark.parametrize("h,w,k,s,p,include", [(7, 7, 2, 2, 0, True), (8, 7, 3, 2, 1, True),
                                               (8, 7, 3, 2, 1, False), (6, 9, (3, 2), (2, 3),
                                                                        (1, 1), False)])
def test_avg_pool2d_ceil_mode_matches_torch(h, w, k, s, p, include):
    kwargs = dict(kernel_size=k, stride=s, padding=p, ceil_mode=True,
                  count_include_pad=include)
    check_op([(2, 3, h, w)], lambda x: F.avg_pool2d(x, **kwargs),
             lambda x: TF.avg_pool2d(x, **kwargs))


@pytest.mark.parametrize("size,out", [((7, 7), 3), ((5, 8), (2, 3)), ((6, 6), (None, 4)),
                                      ((4, 5), 1), ((3, 3), 5)])
def test_adaptive_avg_pool2d_matches_torch(size, out):
    check_op([(2, 3, *size)], lambda x: F.adaptive_avg_pool2d(x, out),
             lambda x: TF.adaptive_avg_pool2d(x, out))


INTERP = [dict(size=(7, 5), mode="nearest"), dict(scale_factor=2, mode="nearest"),
          dict(scale_factor=(1.5, 0.5), mode="nearest"),
          dict(size=(7, 9), mode="bilinear", align_corners=False),
          dict(size=(3, 8), mode="bilinear", align_corners=True),
          dict(scale_factor=2.5, mode="bilinear", align_corners=False),
          dict(scale_factor=(0.5, 2), mode="bilinear", align_corners=True)]


@pytest.mark.parametrize("kwargs", INTERP, ids=[str(k) for k in INTERP])
def test_interpolate_matches_torch(kwargs):
    check_op([(2, 3, 4, 6)], lambda x: F.interpolate(x, **kwargs),
             lambda x: TF.interpolate(x, **kwargs))


def test_layers_match_torch_and_take_torch_state_dicts():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    pairs = [
        (nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2),
         torch.nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2), (2, 4, 7, 7)),
        (nn.Conv1d(4, 6, 3, stride=2, groups=2), torch.nn.Conv1d(4, 6, 3, stride=2, groups=2),
         (2, 4, 9)),
        (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
         torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
         (2, 4, 5, 5)),
        (nn.MaxPool2d(3, 2, ceil_mode=True), torch.nn.MaxPool2d(3, 2, ceil_mode=True),
         (2, 3, 8, 8)),
        (nn.AvgPool2d(3, 2, 1, ceil_mode=True), torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True),
         (2, 3, 8, 8)),
        (nn.AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 7, 8)),
        (nn.Upsample(scale_factor=2, mode="bilinear"),
         torch.nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4, 4)),
    ]
    for d_mod, t_mod, shape in pairs:
        assert [(k, tuple(v.shape)) for k, v in t_mod.state_dict().items()] == \
            [(k, v.shape) for k, v in d_mod.state_dict().items()], type(d_mod).__name__
        assert_module_parity(d_mod, t_mod, rng.random(shape).astype(np.float32))
    # torch's init bound 1/sqrt(fan_in), fan_in = weight.shape[1] * kh * kw, also transposed
    layer = nn.ConvTranspose2d(8, 6, 3, groups=2)
    bound = 1 / np.sqrt(3 * 9)
    assert layer.weight.shape == (8, 3, 3, 3) and np.abs(layer.bias.data).max() <= bound
    assert "groups=2" in repr(layer) and "dilation=(2, 2)" in repr(nn.Conv2d(2, 2, 3, dilation=2))


def test_threads_give_the_same_numbers_as_one_thread():
    rng = np.random.default_rng(0)
    # 32x32 images: both poolings' inputs (786k and 1.5M elements) are big enough to be
    # split over the threads
    x = rng.random((96, 3, 32, 32), dtype=np.float32)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 64, 3, padding=1, groups=2), nn.AvgPool2d(2))
    results, before = [], dl.get_num_threads()
    for threads in (1, 3):
        dl.set_num_threads(threads)
        try:
            net.zero_grad()
            xt = dl.Tensor(x, requires_grad=True)
            out = net(xt)
            (out * out).sum().backward()
            results.append([out.data, xt.grad] + [p.grad for p in net.parameters()])
        finally:
            dl.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="positive int"):
        dl.set_num_threads(0)



def blas_threads() -> set:
    """The thread counts of numpy's BLAS (scipy may have loaded a second one)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    infos = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    return {i["num_threads"] for i in ([i for i in infos if "numpy" in i["filepath"]] or infos)}


def test_blas_stays_on_one_thread_after_the_engines_threads_ran():
    """OpenBLAS's threads spin after each call: once the engine's own threads have split a
    convolution, numpy's BLAS stays on one thread, until set_num_threads gives it more."""
    if not blas_threads():
        pytest.skip("numpy has no BLAS that threadpoolctl can see")
    rng = np.random.default_rng(0)
    x = dl.Tensor(rng.random((64, 3, 16, 16), dtype=np.float32))
    w = dl.Tensor(rng.random((8, 3, 3, 3), dtype=np.float32))
    before = dl.get_num_threads()
    try:
        dl.set_num_threads(2)
        assert blas_threads() == {2}
        F.conv2d(x, w, padding=1)          # big enough to be split over the two threads
        assert blas_threads() == {1}
        dl.set_num_threads(2)
        assert blas_threads() == {2}
    finally:
        dl.set_num_threads(before)


def test_blas_gets_its_threads_back_once_the_convolutions_stop(monkeypatch):
    """A Linear layer or matmul after a quiet second (no parallel loop) gives numpy's BLAS
    back the threads a convolution took; within that second it stays on one thread."""
    from dlbd_lib import _parallel

    if not blas_threads():
        pytest.skip("numpy has no BLAS that threadpoolctl can see")
    rng = np.random.default_rng(0)
    x = dl.Tensor(rng.random((64, 3, 16, 16), dtype=np.float32))
    w = dl.Tensor(rng.random((8, 3, 3, 3), dtype=np.float32))
    a = dl.Tensor(rng.random((4, 5), dtype=np.float32))
    lin = nn.Linear(5, 3)
    clock = [100.0]
    monkeypatch.setattr(_parallel.time, "monotonic", lambda: clock[0])
    before = dl.get_num_threads()
    try:
        dl.set_num_threads(2)
        for product in (lambda: lin(a), lambda: a @ a.T):
            F.conv2d(x, w, padding=1)
            assert blas_threads() == {1}
            clock[0] += 0.5
            product()                      # half a second after the convolution: held
            assert blas_threads() == {1}
            clock[0] += 0.6
            product()                      # 1.1 s: BLAS gets its two threads back
            assert blas_threads() == {2}
    finally:
        dl.set_num_threads(before)


def test_errors_name_what_is_wrong():
    x = np.zeros((1, 4, 6, 6), np.float32)
    with pytest.raises(ShapeError, match=r"conv1d: expected a 3-D input of shape \(N, C_in, L\)"):
        F.conv1d(x, np.zeros((2, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"output_padding \(2, 2\) must be smaller than either "
                                         r"stride \(2, 2\)"):
        F.conv_transpose2d(x, np.zeros((4, 2, 3, 3), np.float32), stride=2, output_padding=2)
    with pytest.raises(ShapeError, match=r"the input has 4 channels but the weight expects 3"):
        F.conv_transpose2d(x, np.zeros((3, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"give exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(NotImplementedError, match=r"mode 'bicubic' is not supported"):
        F.interpolate(x, size=3, mode="bicubic")
    with pytest.raises(ValueError, match=r"output_size must be positive ints"):
        F.adaptive_avg_pool2d(x, 0)


@pytest.mark.parametrize("k,d,p,s", [(3, 2, 1, 1), ((2, 3), (2, 1), (1, 2), (2, 1))])
def test_unfold_and_fold_with_dilation_match_torch(k, d, p, s):
    kwargs = dict(kernel_size=k, dilation=d, padding=p, stride=s)
    check_op([(2, 3, 7, 8)], lambda x: F.unfold(x, **kwargs), lambda x: TF.unfold(x, **kwargs))
    cols = TF.unfold(torch.zeros(2, 3, 7, 8), **kwargs).shape
    check_op([tuple(cols)], lambda c: F.fold(c, (7, 8), **kwargs),
             lambda c: TF.fold(c, (7, 8), **kwargs))
