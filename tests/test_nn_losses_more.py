"""huber_loss, smooth_l1_loss, kl_div and cosine_similarity (functional and modules)
against torch: every reduction and option, gradients of both inputs, float64 gradient
checks, error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from nn_parity import assert_loss_parity, single_torch_thread
from opcheck import check_op

from dlbd_lib import DtypeError, ShapeError, Tensor
from dlbd_lib import nn as dnn
from dlbd_lib.gradcheck import gradcheck
from dlbd_lib.nn import functional as F

REDUCTIONS = ["mean", "sum", "none"]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    yield from single_torch_thread()


# ---- huber and smooth L1 ------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kw", [{}, {"delta": 0.5}, {"delta": 3.0}])
def test_huber_loss_matches_torch(reduction, kw):
    # differences in [-4, 4]: both the quadratic and the linear part
    check_op([(4, 5), (4, 5)], lambda x, y: F.huber_loss(x * 2, y, reduction=reduction, **kw),
             lambda x, y: TF.huber_loss(x * 2, y, reduction=reduction, **kw))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_huber_loss_matches_torch(reduction):
    # the weight gets a gradient in both engines
    check_op([(4, 5), (4, 5), (4, 5)],
             lambda x, y, w: F.huber_loss(x * 2, y, reduction=reduction, delta=0.7, weight=w),
             lambda x, y, w: TF.huber_loss(x * 2, y, reduction=reduction, delta=0.7, weight=w))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.3, 0.0])
def test_smooth_l1_loss_matches_torch(reduction, beta):
    check_op([(3, 6), (3, 6)],
             lambda x, y: F.smooth_l1_loss(x * 2, y, reduction=reduction, beta=beta),
             lambda x, y: TF.smooth_l1_loss(x * 2, y, reduction=reduction, beta=beta),
             away=0.05 if beta == 0 else 0.0)


def test_huber_is_smooth_l1_times_delta():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 50)) * 3
    for delta in (0.5, 2.0):
        np.testing.assert_allclose(F.huber_loss(Tensor(x), y, delta=delta).item(),
                                   delta * F.smooth_l1_loss(Tensor(x), y, beta=delta).item(),
                                   rtol=1e-12)


def test_huber_and_smooth_l1_errors():
    x = Tensor(np.zeros((3, 2), np.float32))
    with pytest.raises(RuntimeError, match="huber_loss does not support non-positive values "
                                           "for delta, got delta=0"):
        F.huber_loss(x, x, delta=0)
    with pytest.raises(RuntimeError, match="smooth_l1_loss does not support negative values "
                                           "for beta, got beta=-1"):
        F.smooth_l1_loss(x, x, beta=-1)
    with pytest.raises(ValueError, match="Weights and input must have the same size"):
        TF.huber_loss(torch.zeros(3, 2), torch.zeros(3, 2), weight=torch.ones(2))
    with pytest.raises(ShapeError, match=r"weight of shape \(2,\) must have the input's shape "
                                         r"\(3, 2\)"):
        F.huber_loss(x, x, weight=np.ones(2, np.float32))
    with pytest.raises(ShapeError, match=r"input \(3, 2\) and target \(5,\) cannot be broadcast"):
        with pytest.warns(UserWarning, match="target shape"):
            F.smooth_l1_loss(x, np.zeros(5, np.float32))
    with pytest.raises(DtypeError, match="huber_loss: input must be floating point"):
        F.huber_loss(Tensor(np.zeros(3, np.int64)), np.zeros(3))


# ---- KL divergence -------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    def run(lib_f, softmax, log_softmax):
        def f(x, t):
            target = log_softmax(t) if log_target else softmax(t)
            return lib_f(log_softmax(x), target, reduction=reduction, log_target=log_target)
        return f

    d = run(F.kl_div, lambda v: F.softmax(v, dim=1), lambda v: F.log_softmax(v, dim=1))
    t = run(TF.kl_div, lambda v: TF.softmax(v, dim=1), lambda v: TF.log_softmax(v, dim=1))
    if reduction == "mean":
        with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
            check_op([(4, 5), (4, 5)], d, t)
    else:
        check_op([(4, 5), (4, 5)], d, t)


def test_kl_div_zero_target_and_unbatched_batchmean():
    x = Tensor(np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])), requires_grad=True)
    t = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])  # 0 log 0 = 0, as torch
    out = F.kl_div(x, t, reduction="batchmean")
    ref = TF.kl_div(torch.tensor(x.data), torch.tensor(t), reduction="batchmean")
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-12)
    assert gradcheck(lambda v: F.kl_div(v, t, reduction="batchmean"), [x])
    v = np.array([-1.0, -2.0, -0.5])  # a 0-d batch dimension does not exist: batchmean = sum
    np.testing.assert_allclose(
        F.kl_div(Tensor(v), np.array([0.2, 0.3, 0.5]), reduction="batchmean").item(),
        TF.kl_div(torch.tensor(v), torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64),
                  reduction="batchmean").item(), rtol=1e-12)


def test_kl_div_errors():
    x = Tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="avg is not a valid value for reduction "
                                         r"\(use 'mean', 'batchmean', 'sum' or 'none'\)"):
        F.kl_div(x, x, reduction="avg")
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        dnn.KLDivLoss(reduction="avg")


# ---- cosine similarity ---------------------------------------------------------------------
@pytest.mark.parametrize("shapes,dim", [([(4, 6), (4, 6)], 1), ([(4, 6), (6,)], -1),
                                        ([(2, 5, 3), (2, 5, 1)], 1), ([(3, 4), (3, 4)], 0),
                                        ([(5,), (5,)], 0)])
def test_cosine_similarity_matches_torch(shapes, dim):
    check_op(shapes, lambda a, b: F.cosine_similarity(a, b, dim=dim),
             lambda a, b: TF.cosine_similarity(a, b, dim=dim))


def test_cosine_similarity_eps_clamps_small_norms_as_torch():
    a = np.array([[1e-9, 0.0], [0.0, 0.0], [3.0, 4.0]])
    b = np.array([[1.0, 2.0], [1.0, 1.0], [4.0, -3.0]])
    ad, bd = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out_d, out_t = F.cosine_similarity(ad, bd, eps=1e-6), TF.cosine_similarity(at, bt, eps=1e-6)
    np.testing.assert_allclose(out_d.data, out_t.detach().numpy(), atol=1e-12)
    out_d.sum().backward()
    out_t.sum().backward()
    np.testing.assert_allclose(ad.grad, at.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(bd.grad, bt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_cosine_similarity_errors():
    x = Tensor(np.ones((4, 3), np.float32))
    with pytest.raises(ShapeError, match=r"x1 \(4, 3\) and x2 \(2,\) cannot be broadcast"):
        F.cosine_similarity(x, np.ones(2, np.float32), dim=-1)
    with pytest.raises(IndexError, match=r"dim 2 is out of range for inputs of shape \(4, 3\)"):
        F.cosine_similarity(x, x, dim=2)
    with pytest.raises(DtypeError, match="cosine_similarity: x2 must be floating point"):
        F.cosine_similarity(x, np.ones((4, 3), np.int64))


# ---- modules -------------------------------------------------------------------------------
MODULES = [
    ("HuberLoss", {"delta": 0.5}, "reg"), ("HuberLoss", {"reduction": "none"}, "reg"),
    ("SmoothL1Loss", {"beta": 0.5, "reduction": "sum"}, "reg"),
    ("KLDivLoss", {"reduction": "batchmean"}, "kl"),
    ("KLDivLoss", {"reduction": "sum", "log_target": True}, "kl"),
]


@pytest.mark.parametrize("name,kw,kind", MODULES)
def test_loss_modules_match_torch(name, kw, kind):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    y = rng.standard_normal((6, 4)).astype(np.float32) * 2
    if kind == "kl":
        x = x - np.log(np.exp(x).sum(1, keepdims=True))
        y = np.exp(y) / np.exp(y).sum(1, keepdims=True)
        y = np.log(y) if kw.get("log_target") else y
    d_mod, t_mod = getattr(dnn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(d_mod) == repr(t_mod)
    assert_loss_parity(d_mod, t_mod, x, y)


def test_cosine_similarity_module_matches_torch():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3, 5)).astype(np.float32)
    d, t = dnn.CosineSimilarity(dim=0, eps=1e-6), torch.nn.CosineSimilarity(dim=0, eps=1e-6)
    assert repr(d) == repr(t)
    np.testing.assert_allclose(d(Tensor(a), Tensor(b)).data,
                               t(torch.tensor(a), torch.tensor(b)).numpy(), rtol=1e-5)
