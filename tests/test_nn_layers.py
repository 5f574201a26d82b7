"""Layers against torch: Linear, Flatten, activations, Dropout, BatchNorm, LayerNorm,
Embedding and nn.init — outputs, input and parameter gradients, buffers, init
distributions, reprs and error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from nn_parity import assert_module_parity, single_torch_thread

import dlbd_lib as dl
from dlbd_lib import DtypeError, ShapeError, Tensor
from dlbd_lib.gradcheck import gradcheck, gradcheck_projection
from dlbd_lib.nn import activation as A
from dlbd_lib.nn import init
from dlbd_lib.nn.dropout import Dropout
from dlbd_lib.nn.linear import Flatten, Identity, Linear, Unflatten
from dlbd_lib.nn.module import Parameter
from dlbd_lib.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from dlbd_lib.nn.sparse import Embedding

RNG = np.random.default_rng(0)

@pytest.fixture(autouse=True)
def _one_torch_thread():
    yield from single_torch_thread()


def randn(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# ---- Linear --------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(8, 7), (2, 3, 7), (7,)])
def test_linear_matches_torch(bias, shape):
    d, t = Linear(7, 5, bias=bias), torch.nn.Linear(7, 5, bias=bias)
    assert_module_parity(d, t, randn(*shape))


def test_linear_parameters_init_and_repr_follow_torch():
    dl.manual_seed(0)
    lin = Linear(200, 300)
    assert [(n, p.shape) for n, p in lin.named_parameters()] == \
        [("weight", (300, 200)), ("bias", (300,))]
    assert lin.weight.dtype == np.float32 and lin.weight.requires_grad
    bound = 1 / math.sqrt(200)  # kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(in), 1/sqrt(in))
    for p in (lin.weight.data, lin.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.95 * bound
    assert abs(lin.weight.data.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert repr(lin) == repr(torch.nn.Linear(200, 300))
    assert repr(Linear(3, 2, bias=False)) == repr(torch.nn.Linear(3, 2, bias=False))
    assert Linear(3, 2, bias=False).bias is None


def test_linear_is_reproducible_with_the_engine_seed():
    dl.manual_seed(5)
    a = Linear(4, 3).weight.data.copy()
    dl.manual_seed(5)
    np.testing.assert_array_equal(a, Linear(4, 3).weight.data)


def test_linear_float64_gradcheck():
    lin = Linear(4, 3).double()
    x = Tensor(randn(5, 4, dtype=np.float64), requires_grad=True)
    assert gradcheck(lambda v, w, b: lin(v), [x, lin.weight, lin.bias])


def test_linear_errors():
    lin = Linear(7, 5)
    with pytest.raises(ShapeError, match=r"Linear\(7, 5\) expects input with 7 features "
                                         r"\(last dimension\), got shape \(4, 6\)"):
        lin(Tensor(np.ones((4, 6), np.float32)))
    with pytest.raises(DtypeError, match=r"Linear\(7, 5\) expects floating-point input, got "
                                         r"dtype int64"):
        lin(Tensor(np.ones((4, 7), np.int64)))


# ---- shape helpers -------------------------------------------------------------------------
@pytest.mark.parametrize("args", [(), (0, -1), (1, 2), (2, 3)])
def test_flatten_matches_torch(args):
    d, t = Flatten(*args), torch.nn.Flatten(*args)
    assert_module_parity(d, t, randn(2, 3, 4, 5))
    assert repr(d) == repr(t)


def test_unflatten_and_identity_match_torch():
    assert_module_parity(Unflatten(1, (3, 4)), torch.nn.Unflatten(1, (3, 4)), randn(2, 12, 5))
    assert_module_parity(Unflatten(-1, (2, -1)), torch.nn.Unflatten(-1, (2, -1)), randn(3, 8))
    assert repr(Unflatten(1, (3, 4))) == repr(torch.nn.Unflatten(1, (3, 4)))
    x = Tensor(randn(2, 3))
    assert Identity(54, unused="x")(x) is x
    assert repr(Identity()) == "Identity()"


def test_shape_helper_errors():
    with pytest.raises(ShapeError, match=r"Flatten\(start_dim=1, end_dim=-1\): dimension 1 is "
                                         r"out of range for an input of shape \(5,\)"):
        Flatten()(Tensor(np.ones(5, np.float32)))
    with pytest.raises(ShapeError, match=r"cannot split dimension 1 of size 10.*into \(3, 4\)"):
        Unflatten(1, (3, 4))(Tensor(np.ones((2, 10), np.float32)))


# ---- activations ---------------------------------------------------------------------------
ACTIVATIONS = [("ReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("Tanh", {}),
               ("Sigmoid", {}), ("GELU", {}), ("GELU", {"approximate": "tanh"}),
               ("Softmax", {"dim": 1}), ("LogSoftmax", {"dim": -1})]


@pytest.mark.parametrize("name,kw", ACTIVATIONS)
def test_activation_modules_match_torch(name, kw):
    d, t = getattr(A, name)(**kw), getattr(torch.nn, name)(**kw)
    x = randn(4, 6)
    x[np.abs(x) < 0.05] = 0.5  # away from the kinks
    assert_module_parity(d, t, x)
    assert repr(d) == repr(t)


def test_activation_reprs_with_options():
    for name, kw in [("ReLU", {"inplace": True}), ("LeakyReLU", {"inplace": True}),
                     ("Softmax", {})]:
        assert repr(getattr(A, name)(**kw)) == repr(getattr(torch.nn, name)(**kw))


# ---- Dropout -------------------------------------------------------------------------------
def test_dropout_module_train_and_eval():
    dl.manual_seed(0)
    drop = Dropout(0.25)
    x = Tensor(np.ones((100, 400), np.float32), requires_grad=True)
    out = drop(x)
    assert abs(float((out.data == 0).mean()) - 0.25) < 0.01
    assert abs(float(out.data.mean()) - 1) < 0.02
    drop.eval()
    assert drop(x) is x  # identity in eval mode
    assert repr(drop) == repr(torch.nn.Dropout(0.25))
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.2"):
        Dropout(1.2)


# ---- BatchNorm -----------------------------------------------------------------------------
def _bn_pair(cls, tcls, c, **kw):
    d, t = cls(c, **kw), tcls(c, **kw)
    if kw.get("affine", True):  # non-trivial scale and shift
        with torch.no_grad():
            t.weight.uniform_(0.5, 1.5)
            t.bias.uniform_(-0.5, 0.5)
    d.load_state_dict(t.state_dict())
    return d, t


BN_CASES = [(BatchNorm1d, torch.nn.BatchNorm1d, (8, 3), {}),
            (BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5), {"momentum": None}),
            (BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 6), {"eps": 1e-3, "momentum": 0.3}),
            (BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 2, 2), {"affine": False}),
            (BatchNorm1d, torch.nn.BatchNorm1d, (6, 3), {"track_running_stats": False})]


@pytest.mark.parametrize("cls,tcls,shape,kw", BN_CASES)
def test_batchnorm_train_steps_then_eval_match_torch(cls, tcls, shape, kw):
    torch.manual_seed(0)
    d, t = _bn_pair(cls, tcls, shape[1], **kw)
    assert list(d.state_dict()) == list(t.state_dict())
    for step in range(3):  # the running statistics follow torch's after each step
        assert_module_parity(d, t, randn(*shape) * 2 + step, copy=False)
        for name, value in t.state_dict().items():
            np.testing.assert_allclose(d.state_dict()[name], value.numpy(), rtol=1e-5,
                                       atol=1e-6, err_msg=name)
    d.eval()
    t.eval()
    assert_module_parity(d, t, randn(*shape), copy=False)
    assert repr(d) == repr(t)


def test_batchnorm_buffers_are_torch_shaped():
    bn = BatchNorm2d(4)
    sd = bn.state_dict()
    assert list(sd) == list(torch.nn.BatchNorm2d(4).state_dict())
    assert sd["num_batches_tracked"].dtype == np.int64 and sd["num_batches_tracked"].shape == ()
    bn(Tensor(randn(2, 4, 3, 3)))
    bn(Tensor(randn(2, 4, 3, 3)))
    assert int(bn.num_batches_tracked) == 2
    assert "num_batches_tracked" in bn.state_dict()  # still a registered buffer
    t = torch.nn.BatchNorm2d(4)
    t.load_state_dict({k: torch.tensor(v) for k, v in bn.state_dict().items()})
    assert int(t.num_batches_tracked) == 2
    bn.load_state_dict(torch.nn.BatchNorm2d(4).state_dict())
    assert int(bn.num_batches_tracked) == 0


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_float64_gradcheck(training):
    bn = BatchNorm2d(3).double()
    bn.weight.data[...] = [0.5, 1.0, 2.0]
    bn.train(training)
    bn.running_mean[...] = 0.3
    x = Tensor(randn(4, 3, 2, 3, dtype=np.float64), requires_grad=True)
    mean0 = bn.running_mean.copy()

    def fn(v, w, b):
        bn.running_mean[...] = mean0  # training updates it on every call
        return bn(v)

    assert gradcheck_projection(fn, [x, bn.weight, bn.bias])


def test_batchnorm_errors():
    with pytest.raises(ShapeError, match=r"BatchNorm2d\(3\) expects 4-D \(N, C, H, W\) input, "
                                         r"got 3-D input of shape \(3, 5, 5\)"):
        BatchNorm2d(3)(Tensor(np.ones((3, 5, 5), np.float32)))
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(3\) expects 2-D \(N, C\) or 3-D "
                                         r"\(N, C, L\) input, got 4-D"):
        BatchNorm1d(3)(Tensor(np.ones((2, 3, 4, 4), np.float32)))
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(3\) expects input with 3 channels "
                                         r"\(dimension 1\), got shape \(4, 5\)"):
        BatchNorm1d(3)(Tensor(np.ones((4, 5), np.float32)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm1d(3)(Tensor(np.ones((1, 3), np.float32)))


# ---- LayerNorm -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape,kw", [(5, {}), ((4, 5), {}), (5, {"bias": False}),
                                      (5, {"elementwise_affine": False})])
def test_layernorm_matches_torch(shape, kw):
    torch.manual_seed(0)
    d, t = LayerNorm(shape, **kw), torch.nn.LayerNorm(shape, **kw)
    with torch.no_grad():
        for p in t.parameters():
            p.uniform_(0.5, 1.5)
    assert_module_parity(d, t, randn(3, 4, 5))
    assert repr(d) == repr(t)


# ---- Embedding -----------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"padding_idx": 0}, {"padding_idx": -2}])
def test_embedding_matches_torch_with_repeated_indices(kw):
    d, t = Embedding(10, 4, **kw), torch.nn.Embedding(10, 4, **kw)
    idx = np.array([[1, 3, 3, 0], [9, 3, 1, 8]])
    out = assert_module_parity(d, t, idx, grad_input=False)
    assert out.shape == (2, 4, 4)
    assert repr(d) == repr(t)
    if "padding_idx" in kw:
        assert not d.weight.grad[d.padding_idx].any()


def test_embedding_init_and_padding_row():
    dl.manual_seed(0)
    emb = Embedding(2000, 50, padding_idx=3)
    w = emb.weight.data
    assert w.dtype == np.float32 and w.shape == (2000, 50)
    assert not w[3].any()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01  # N(0, 1)
    assert repr(emb) == repr(torch.nn.Embedding(2000, 50, padding_idx=3))


def test_embedding_repeated_index_gradient_accumulates():
    emb = Embedding(4, 2)
    emb(Tensor(np.array([1, 1, 1, 2]))).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad, [[0, 0], [3, 3], [1, 1], [0, 0]])


def test_embedding_from_pretrained():
    table = randn(5, 3)
    emb = Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(np.array([4, 0])).data, table[[4, 0]])
    assert Embedding.from_pretrained(table, freeze=False).weight.requires_grad


def test_embedding_errors():
    emb = Embedding(10, 3)
    with pytest.raises(IndexError, match=r"Embedding\(10, 3\): index 10 is out of range for "
                                         r"num_embeddings=10 \(valid indices: 0 to 9\)"):
        emb(Tensor(np.array([[1, 10]])))
    with pytest.raises(DtypeError, match=r"Embedding\(10, 3\) expects integer indices.*got "
                                         r"dtype float32"):
        emb(Tensor(np.array([1.0, 2.0], np.float32)))
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        Embedding(10, 3, padding_idx=10)


# ---- init ----------------------------------------------------------------------------------
def test_calculate_gain_and_fans_match_torch():
    for nl, param in [("relu", None), ("tanh", None), ("sigmoid", None), ("linear", None),
                      ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None),
                      ("conv2d", None)]:
        assert init.calculate_gain(nl, param) == pytest.approx(
            torch.nn.init.calculate_gain(nl, param))
    w = np.zeros((6, 4, 3, 3), np.float32)
    assert init._calculate_fan_in_and_fan_out(w) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(6, 4, 3, 3))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(np.zeros(3))
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")


@pytest.mark.parametrize("fn,kw,bound,std", [
    (init.uniform_, {"a": -2.0, "b": 3.0}, None, 5 / math.sqrt(12)),
    (init.normal_, {"mean": 1.0, "std": 0.5}, None, 0.5),
    (init.xavier_uniform_, {"gain": 2.0}, 2 * math.sqrt(6 / 500), 2 * math.sqrt(2 / 500)),
    (init.xavier_normal_, {}, None, math.sqrt(2 / 500)),
    (init.kaiming_uniform_, {"nonlinearity": "relu"}, math.sqrt(6 / 200), math.sqrt(2 / 200)),
    (init.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "relu"}, None,
     math.sqrt(2 / 300)),
    (init.trunc_normal_, {"std": 1.0, "a": -1.0, "b": 1.0}, 1.0, 0.5396),
])
def test_init_distributions(fn, kw, bound, std):
    dl.manual_seed(0)
    p = Parameter(np.zeros((300, 200), np.float32))
    v0 = p._version
    assert fn(p, **kw) is p
    assert p.dtype == np.float32 and p._version > v0
    if bound is not None:
        assert np.abs(p.data).max() <= bound * (1 + 1e-6)
    assert p.data.std() == pytest.approx(std, rel=0.02)


def test_init_fill_functions_and_orthogonal():
    p = Parameter(np.zeros((4, 6), np.float32))
    init.constant_(p, 0.3)
    np.testing.assert_allclose(p.data, 0.3)
    init.ones_(p)
    assert (p.data == 1).all()
    init.zeros_(p)
    assert not p.data.any()
    init.eye_(p)
    np.testing.assert_array_equal(p.data, np.eye(4, 6))
    init.orthogonal_(p)
    np.testing.assert_allclose(p.data @ p.data.T, np.eye(4), atol=1e-5)
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(p, mode="fan_avg")
