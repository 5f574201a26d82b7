"""Losses (functional and modules) against torch: every reduction, class weights,
ignore_index, label smoothing, pos_weight; float64 gradient checks; error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from nn_parity import assert_loss_parity, single_torch_thread
from opcheck import check_op

from dlbd_lib import DtypeError, ShapeError, Tensor
from dlbd_lib.gradcheck import gradcheck
from dlbd_lib.nn import functional as F
from dlbd_lib.nn import loss as L

REDUCTIONS = ["mean", "sum", "none"]
RNG = np.random.default_rng(0)

@pytest.fixture(autouse=True)
def _one_torch_thread():
    yield from single_torch_thread()


# ---- regression losses ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_match_torch(name, reduction):
    # both input and target get gradients; away from the kink of |x - y| at 0
    check_op([(4, 3), (4, 3)], lambda x, y: getattr(F, name)(x, y * 0.5, reduction=reduction),
             lambda x, y: getattr(TF, name)(x, y * 0.5, reduction=reduction), away=0.1)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_regression_losses_match_torch(name, reduction):
    check_op([(4, 3), (4, 3), (4, 3)],
             lambda x, y, w: getattr(F, name)(x, y * 0.5, reduction=reduction, weight=w + 3),
             lambda x, y, w: getattr(TF, name)(x, y * 0.5, reduction=reduction, weight=w + 3),
             away=0.1)


def test_mse_with_a_constant_numpy_target_stays_float32():
    x = Tensor(np.ones((3, 2), np.float32), requires_grad=True)
    loss = F.mse_loss(x, np.zeros((3, 2)))  # a float64 constant target is cast to float32
    assert loss.dtype == np.float32 and loss.shape == ()
    loss.backward()
    assert x.grad.dtype == np.float32


def test_regression_broadcast_warns_and_bad_shapes_raise():
    x = Tensor(np.ones((3, 2), np.float32))
    with pytest.warns(UserWarning, match=r"target shape \(2,\) differs from input shape"):
        F.mse_loss(x, np.ones(2, np.float32))
    with pytest.raises(ShapeError, match=r"input \(3, 2\) and target \(4,\) cannot be broadcast"):
        with pytest.warns(UserWarning):
            F.l1_loss(x, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        F.mse_loss(x, x, reduction="avg")


def test_legacy_size_average_and_reduce_arguments():
    x = Tensor(np.arange(4, dtype=np.float32))
    assert F.mse_loss(x, np.zeros(4), size_average=False).item() == 14.0
    assert F.mse_loss(x, np.zeros(4), reduce=False).shape == (4,)


# ---- cross-entropy and nll -----------------------------------------------------------------
CE_CASES = [
    {},
    {"weight": True},
    {"ignore_index": 1},
    {"weight": True, "ignore_index": 2},
    {"label_smoothing": 0.2},
    {"label_smoothing": 0.1, "weight": True, "ignore_index": 0},
]


def _ce_pair(fname, target, case, reduction, c):
    w = np.linspace(0.5, 2.0, c).astype(np.float32) if case.get("weight") else None
    kw = {k: v for k, v in case.items() if k != "weight"}

    def d(x):
        return getattr(F, fname)(x, target, weight=None if w is None else w.astype(x.dtype),
                                 reduction=reduction, **kw)

    def t(x):
        ww = None if w is None else torch.tensor(w, dtype=x.dtype)
        return getattr(TF, fname)(x, torch.tensor(target), weight=ww, reduction=reduction, **kw)
    return d, t


@pytest.mark.parametrize("case", CE_CASES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_torch(case, reduction):
    target = np.array([0, 2, 1, 3, 2, 1])
    d, t = _ce_pair("cross_entropy", target, case, reduction, 4)
    check_op([(6, 4)], d, t, low=-3, high=3)


@pytest.mark.parametrize("case", [{}, {"weight": True, "ignore_index": 1},
                                  {"label_smoothing": 0.3}])
def test_cross_entropy_with_spatial_dimensions_matches_torch(case):
    target = RNG.integers(0, 3, (2, 2, 3))
    for reduction in REDUCTIONS:
        d, t = _ce_pair("cross_entropy", target, case, reduction, 3)
        check_op([(2, 3, 2, 3)], d, t)


def test_cross_entropy_unbatched_input():
    for reduction in REDUCTIONS:
        d, t = _ce_pair("cross_entropy", np.array(2), {}, reduction, 4)
        check_op([(4,)], d, t)


@pytest.mark.parametrize("case", [c for c in CE_CASES if "label_smoothing" not in c])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_torch(case, reduction):
    target = np.array([0, 2, 1, 3, 2])
    d, t = _ce_pair("nll_loss", target, case, reduction, 4)
    check_op([(5, 4)], d, t)
    d, t = _ce_pair("nll_loss", RNG.integers(0, 4, (2, 3)), case, reduction, 4)
    check_op([(2, 4, 3)], d, t)


SOFT_CASES = [{}, {"weight": True}, {"label_smoothing": 0.2},
              {"label_smoothing": 0.1, "weight": True, "ignore_index": -5}]


@pytest.mark.parametrize("case", SOFT_CASES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3), (4,)])
def test_cross_entropy_with_probability_targets_matches_torch(case, reduction, shape):
    # the target is an input too: torch and dlbd both give it a gradient
    w = np.linspace(0.5, 2.0, 4) if case.get("weight") else None
    kw = {k: v for k, v in case.items() if k != "weight"}
    dim = 0 if len(shape) == 1 else 1

    def d(x, y):
        ww = None if w is None else w.astype(x.dtype)
        return F.cross_entropy(x * 2, F.softmax(y, dim), weight=ww, reduction=reduction, **kw)

    def t(x, y):
        ww = None if w is None else torch.tensor(w, dtype=x.dtype)
        return TF.cross_entropy(x * 2, torch.softmax(y, dim), weight=ww, reduction=reduction,
                                **kw)
    check_op([shape, shape], d, t)


def test_cross_entropy_with_one_hot_targets_equals_class_indices():
    rng = np.random.default_rng(4)
    x = Tensor(rng.standard_normal((6, 5)), requires_grad=True)
    t = rng.integers(0, 5, 6)
    w = rng.uniform(0.5, 2, 5)
    soft = F.cross_entropy(x, np.eye(5)[t], label_smoothing=0.3, reduction="none", weight=w)
    hard = F.cross_entropy(x, t, label_smoothing=0.3, reduction="none", weight=w)
    np.testing.assert_allclose(soft.data, hard.data, rtol=1e-12)
    y = Tensor(np.eye(5)[t] * 0.7 + 0.06, requires_grad=True)
    assert gradcheck(lambda a, b: F.cross_entropy(a, b, weight=w, label_smoothing=0.2), [x, y])


def test_cross_entropy_is_stable_for_huge_logits():
    x = Tensor(np.array([[1000.0, 0.0, -1000.0], [-1e4, 1e4, 0.0]], np.float32),
               requires_grad=True)
    loss = F.cross_entropy(x, np.array([2, 1]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(x.grad).all()
    np.testing.assert_allclose(loss.item(), 1000.0, rtol=1e-6)


def test_cross_entropy_where_every_target_is_ignored_is_nan_as_torch():
    x = Tensor(np.zeros((2, 3), np.float32))
    assert np.isnan(F.cross_entropy(x, np.array([-100, -100])).item())
    assert np.isnan(TF.cross_entropy(torch.zeros(2, 3), torch.tensor([-100, -100])).item())


def test_class_loss_gradcheck_float64_with_every_option():
    x = Tensor(RNG.standard_normal((5, 4)), requires_grad=True)
    t = np.array([1, 0, 3, 3, 2])
    w = np.array([0.3, 1.0, 2.0, 0.7])
    assert gradcheck(lambda v: F.cross_entropy(v, t, w, ignore_index=0, label_smoothing=0.25,
                                               reduction="none"), [x])
    assert gradcheck(lambda v: F.cross_entropy(v, t, w, ignore_index=3, label_smoothing=0.1),
                     [x])
    assert gradcheck(lambda v: F.nll_loss(v, t, w, ignore_index=2), [x])


def test_cross_entropy_errors():
    x = Tensor(np.zeros((4, 3), np.float32))
    with pytest.raises(IndexError, match=r"target class index 5 is out of range for 3 classes "
                                         r"\(valid: 0 to 2"):
        F.cross_entropy(x, np.array([0, 5, 1, 2]))
    with pytest.raises(ValueError, match="target class index -3 is out of range"):
        F.cross_entropy(x, np.array([0, -3, 1, 2]))  # also a ValueError / RuntimeError
    with pytest.raises(DtypeError, match=r"expects integer class indices as target.*float32 "
                                         r"\(class probabilities need the input's shape "
                                         r"\(4, 3\)\)"):
        F.cross_entropy(x, np.array([0.0, 1.0, 1.0, 2.0], np.float32))
    with pytest.raises(RuntimeError, match="ignore_index is not supported for floating point "
                                           r"\(probability\) targets, got ignore_index=1"):
        F.cross_entropy(x, np.zeros((4, 3), np.float32), ignore_index=1)
    with pytest.raises(ShapeError, match=r"weight must have one value per class, shape \(3,\)"):
        F.cross_entropy(x, np.zeros((4, 3), np.float32), weight=np.ones(4, np.float32))
    with pytest.raises(ShapeError, match=r"input of shape \(4, 3\) needs a target of shape "
                                         r"\(4,\).*got \(5,\)"):
        F.cross_entropy(x, np.zeros(5, np.int64))
    with pytest.raises(ShapeError, match=r"weight must have one value per class, shape \(3,\)"):
        F.cross_entropy(x, np.zeros(4, np.int64), weight=np.ones(2, np.float32))
    with pytest.raises(DtypeError, match="input must be floating point"):
        F.cross_entropy(Tensor(np.zeros((4, 3), np.int64)), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, np.zeros(4, np.int64), label_smoothing=1.5)
    with pytest.raises(IndexError, match="target class index 3 is out of range for 3 classes"):
        F.nll_loss(x, np.array([0, 3, 1, 2]))


# ---- binary cross-entropy ------------------------------------------------------------------
BCE_CASES = [{}, {"weight": (4, 3)}, {"weight": (3,)}, {"pos_weight": (3,)},
             {"weight": (4, 1), "pos_weight": (3,)}]


@pytest.mark.parametrize("case", BCE_CASES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_torch(case, reduction):
    # torch has no gradient for weight and pos_weight: they are constants here
    consts = {k: np.random.default_rng(2).uniform(0.5, 3, s) for k, s in case.items()}

    def call(fn, lib, x, y):
        kw = {k: lib(v.astype(np.float32) if x.dtype in (np.float32, torch.float32) else v)
              for k, v in consts.items()}
        return fn(x * 3, (y + 2) / 4, reduction=reduction, **kw)  # targets in [0, 1]

    check_op([(4, 3), (4, 3)], lambda x, y: call(F.binary_cross_entropy_with_logits, Tensor,
                                                 x, y),
             lambda x, y: call(TF.binary_cross_entropy_with_logits, torch.tensor, x, y))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_losses_gradcheck_weights_too(reduction):
    rng = np.random.default_rng(3)
    x, y, w, pw = (Tensor(rng.uniform(0.1, 0.9, s), requires_grad=True)
                   for s in [(3, 2), (3, 2), (3, 1), (2,)])
    assert gradcheck(lambda *a: F.binary_cross_entropy_with_logits(
        a[0], a[1], a[2], reduction=reduction, pos_weight=a[3]), [x, y, w, pw])
    assert gradcheck(lambda *a: F.binary_cross_entropy(a[0], a[1], a[2], reduction=reduction),
                     [x, y, w])


def test_bce_with_logits_is_stable_for_huge_logits():
    x = Tensor(np.array([100.0, -100.0, 1e4, -1e4], np.float32), requires_grad=True)
    y = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    expected = TF.binary_cross_entropy_with_logits(torch.tensor(x.data), torch.tensor(y),
                                                   reduction="none")
    np.testing.assert_allclose(loss.data, expected.numpy(), rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad, [1, -1, 0, 0], atol=1e-6)


@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_matches_torch(weight, reduction):
    w = np.random.default_rng(2).uniform(0.5, 3, (5, 2)) if weight else None

    def call(fn, lib, x, y):
        ww = None if w is None else lib(w.astype(np.float32) if x.dtype in (
            np.float32, torch.float32) else w)
        # probabilities in (0, 1) and targets in [0, 1]
        return fn(x * 0.2 + 0.5, (y + 2) / 4, reduction=reduction, weight=ww)

    check_op([(5, 2), (5, 2)], lambda x, y: call(F.binary_cross_entropy, Tensor, x, y),
             lambda x, y: call(TF.binary_cross_entropy, torch.tensor, x, y))


def test_bce_clamps_the_log_like_torch():
    x = np.array([0.0, 1.0, 0.5], np.float32)
    y = np.array([1.0, 0.0, 1.0], np.float32)
    out = F.binary_cross_entropy(Tensor(x), y, reduction="none")
    expected = TF.binary_cross_entropy(torch.tensor(x), torch.tensor(y), reduction="none")
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-6)


def test_binary_losses_errors():
    x = Tensor(np.full((3, 2), 0.5, np.float32))
    with pytest.raises(ShapeError, match=r"target size \(3,\) must be the same as input size "
                                         r"\(3, 2\)"):
        F.binary_cross_entropy_with_logits(x, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(Tensor(np.array([0.5, 1.5], np.float32)),
                               np.ones(2, np.float32))
    with pytest.raises(ShapeError, match=r"weight of shape \(4,\) cannot be broadcast"):
        F.binary_cross_entropy_with_logits(x, np.ones((3, 2), np.float32),
                                           pos_weight=np.ones(4, np.float32))


@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "binary_cross_entropy"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_binary_losses_reject_integer_targets_as_torch(name, dtype):
    x = np.full((3, 2), 0.5, np.float32)
    y = np.ones((3, 2), dtype)
    with pytest.raises(RuntimeError):  # torch: "Found dtype Long but expected Float"
        getattr(TF, name)(torch.tensor(x), torch.tensor(y))
    msg = f"{name}: target must be floating point like the input \\(float32\\), got dtype " \
        f"{np.dtype(dtype)}; convert it with target.float()"
    for target in (y, Tensor(y)):
        with pytest.raises(DtypeError, match=msg):  # DtypeError is a RuntimeError too
            getattr(F, name)(Tensor(x), target)
    with pytest.raises(RuntimeError, match="target must be floating point"):
        getattr(L, "BCEWithLogitsLoss" if "logits" in name else "BCELoss")()(Tensor(x), y)
    assert getattr(F, name)(Tensor(x), Tensor(y).float()).shape == ()


# ---- modules -------------------------------------------------------------------------------
MODULE_CASES = [
    ("MSELoss", {}, "reg"), ("MSELoss", {"reduction": "sum"}, "reg"),
    ("L1Loss", {"reduction": "none"}, "reg"),
    ("CrossEntropyLoss", {}, "cls"),
    ("CrossEntropyLoss", {"weight": "C", "ignore_index": 1, "label_smoothing": 0.1}, "cls"),
    ("NLLLoss", {"weight": "C", "reduction": "sum"}, "cls"),
    ("CrossEntropyLoss", {"weight": "C", "label_smoothing": 0.2}, "soft"),
    ("BCEWithLogitsLoss", {"pos_weight": "C"}, "bin"),
    ("BCEWithLogitsLoss", {"weight": "C", "reduction": "none"}, "bin"),
    ("BCELoss", {"weight": "C"}, "prob"),
]


@pytest.mark.parametrize("name,kw,kind", MODULE_CASES)
def test_loss_modules_match_torch(name, kw, kind):
    rng = np.random.default_rng(1)
    c = 4
    weights = {k: np.linspace(0.5, 2, c).astype(np.float32) for k, v in kw.items() if v == "C"}
    d_mod = getattr(L, name)(**{**kw, **weights})
    t_mod = getattr(torch.nn, name)(**{**kw, **{k: torch.tensor(v) for k, v in weights.items()}})
    x = rng.standard_normal((6, c)).astype(np.float32)
    if kind == "reg":
        y = rng.standard_normal((6, c)).astype(np.float32)
    elif kind == "cls":
        y = rng.integers(0, c, 6)
    elif kind == "soft":
        y = rng.dirichlet(np.ones(c), 6).astype(np.float32)
    else:
        y = rng.uniform(0, 1, (6, c)).astype(np.float32)
    if kind == "prob":
        x = 1 / (1 + np.exp(-x))
    assert_loss_parity(d_mod, t_mod, x, y)
    assert list(d_mod.state_dict()) == list(t_mod.state_dict())
    assert repr(d_mod) == repr(t_mod)


def test_loss_module_rejects_a_bad_reduction():
    with pytest.raises(ValueError, match="batchmean is not a valid value for reduction"):
        L.MSELoss(reduction="batchmean")
