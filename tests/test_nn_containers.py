"""Sequential, ModuleList, ModuleDict (names, state_dicts and reprs as torch), gradient
clipping utilities, and a 200-step training run that follows torch's loss curve."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from nn_parity import single_torch_thread

from dlbd_lib import Tensor
from dlbd_lib.nn import functional as F
from dlbd_lib.nn import utils
from dlbd_lib.nn.activation import ReLU, Tanh
from dlbd_lib.nn.container import ModuleDict, ModuleList, Sequential
from dlbd_lib.nn.linear import Flatten, Linear
from dlbd_lib.nn.normalization import BatchNorm1d
from dlbd_lib.nn.sparse import Embedding


@pytest.fixture(autouse=True)
def _one_torch_thread():
    yield from single_torch_thread()


def _shapes(sd):
    return [(k, tuple(v.shape)) for k, v in sd.items()]


def test_sequential_names_state_dict_and_repr_match_torch():
    d = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
    t = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    assert _shapes(d.state_dict()) == _shapes(t.state_dict())
    assert [n for n, _ in d.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert repr(d) == repr(t)
    d.load_state_dict(t.state_dict())
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(d(Tensor(x)).data, t(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_nested_model_with_buffers_matches_torch_state_dict():
    def build(nn):
        return nn.Sequential(OrderedDict([
            ("emb", nn.Embedding(10, 4)), ("flat", nn.Flatten()),
            ("body", nn.Sequential(nn.Linear(12, 6), nn.BatchNorm1d(6), nn.Tanh())),
            ("head", nn.Linear(6, 3)),
        ]))

    class NS:  # the dlbd classes under torch.nn's names
        Sequential, Embedding, Flatten, Linear, BatchNorm1d, Tanh = (
            Sequential, Embedding, Flatten, Linear, BatchNorm1d, Tanh)

    d, t = build(NS), build(torch.nn)
    assert _shapes(d.state_dict()) == _shapes(t.state_dict())
    assert repr(d) == repr(t)
    t.train()
    t(torch.tensor([[1, 2, 3], [4, 5, 6]]))  # move the running statistics
    d.load_state_dict(t.state_dict())
    d.eval()
    t.eval()
    idx = np.array([[0, 9, 3], [2, 2, 7]])
    np.testing.assert_allclose(d(idx).data, t(torch.tensor(idx)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    assert int(d.body[1].num_batches_tracked) == 1


def test_sequential_indexing_and_editing():
    a, b, c = Linear(2, 3), ReLU(), Linear(3, 1)
    s = Sequential(a, b)
    assert len(s) == 2 and s[0] is a and s[-1] is b and list(s) == [a, b]
    assert s.append(c) is s and s[2] is c
    head = s[:2]
    assert isinstance(head, Sequential) and list(head) == [a, b]
    s.insert(0, Tanh())
    assert [type(m).__name__ for m in s] == ["Tanh", "Linear", "ReLU", "Linear"]
    del s[0]
    assert list(s) == [a, b, c] and list(s._modules) == ["0", "1", "2"]
    assert [n for n, _ in s.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    s[1] = Tanh()
    assert isinstance(s[1], Tanh)
    assert s.pop(1) is not None and len(s) == 2
    s.extend([ReLU()])
    assert len(s + Sequential(ReLU())) == 4
    with pytest.raises(IndexError, match="index 5 is out of range for Sequential of length 3"):
        s[5]
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        Sequential(Linear(1, 1), 3)


def test_sequential_from_ordered_dict_keeps_names():
    s = Sequential(OrderedDict([("fc1", Linear(2, 3)), ("act", ReLU()), ("fc2", Linear(3, 1))]))
    assert list(s.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert s.fc1 is s[0]
    assert list(s[1:]._modules) == ["act", "fc2"]


def test_module_list():
    layers = ModuleList([Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and isinstance(layers[1:], ModuleList)
    layers.append(ReLU())
    layers.extend([Linear(2, 1)])
    layers += [Tanh()]
    assert len(layers) == 6
    assert [n for n, _ in layers.named_parameters()][:2] == ["0.weight", "0.bias"]
    layers.insert(1, Tanh())
    assert isinstance(layers[1], Tanh) and len(layers) == 7
    del layers[1]
    assert list(layers._modules) == [str(i) for i in range(6)]
    layers[0] = Linear(2, 5)
    assert layers[0].out_features == 5 and layers[-1] is list(layers)[-1]
    t = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.ReLU()])
    assert list(ModuleList([Linear(2, 2), ReLU()]).state_dict()) == list(t.state_dict())
    with pytest.raises(TypeError, match="extend should be called with an iterable"):
        layers.extend(3)
    with pytest.raises(IndexError, match="index -9 is out of range"):
        layers[-9]


def test_module_dict():
    md = ModuleDict({"enc": Linear(3, 2), "act": ReLU()})
    md["dec"] = Linear(2, 3)
    assert list(md) == ["enc", "act", "dec"] and "enc" in md and len(md) == 3
    assert list(md.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    assert md.pop("act").__class__ is ReLU and list(md.keys()) == ["enc", "dec"]
    md.update([("extra", Tanh())])
    assert isinstance(md["extra"], Tanh)
    with pytest.raises(KeyError, match="attribute 'training' already exists"):
        md["training"] = ReLU()
    md.clear()
    assert len(md) == 0 and not list(md.parameters())


# ---- gradient clipping ---------------------------------------------------------------------
def _grads_pair(scale):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) * scale for s in [(3, 4), (4,), (2,)]]
    d = [Tensor(np.zeros(g.shape, np.float32), requires_grad=True) for g in grads]
    t = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, q, g in zip(d, t, grads):
        p.grad, q.grad = g.copy(), torch.tensor(g)
    return d, t


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.0])
@pytest.mark.parametrize("scale", [0.01, 10.0])
def test_clip_grad_norm_matches_torch(norm_type, scale):
    d, t = _grads_pair(scale)
    old = [p.grad for p in d]
    total_d = utils.clip_grad_norm_(d, max_norm=1.5, norm_type=norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(t, max_norm=1.5, norm_type=norm_type)
    assert isinstance(total_d, Tensor) and total_d.shape == ()
    np.testing.assert_allclose(total_d.item(), total_t.item(), rtol=1e-5)
    for p, q, g in zip(d, t, old):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-5, atol=1e-7)
        assert p.grad is not g  # a new array: the old one may be shared


def test_clip_grad_norm_single_tensor_nonfinite_and_empty():
    p = Tensor(np.zeros(2, np.float32), requires_grad=True)
    p.grad = np.array([3.0, 4.0], np.float32)
    assert utils.clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad, [0.6, 0.8], rtol=1e-5)
    p.grad = np.array([np.inf, 1.0], np.float32)
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from "
                                           "`parameters` is non-finite"):
        utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert utils.clip_grad_norm_([], 1.0).item() == 0.0


def test_clip_grad_value_matches_torch():
    d, t = _grads_pair(3.0)
    utils.clip_grad_value_(d, 0.5)
    torch.nn.utils.clip_grad_value_(t, 0.5)
    for p, q in zip(d, t):
        np.testing.assert_array_equal(p.grad, q.grad.numpy())


def test_parameters_to_vector_and_back():
    net = Sequential(Linear(3, 2), Linear(2, 1))
    vec = utils.parameters_to_vector(net.parameters())
    assert vec.shape == (11,)
    utils.vector_to_parameters(np.arange(11, dtype=np.float32), net.parameters())
    np.testing.assert_array_equal(net[0].weight.data.ravel(), np.arange(6))
    with pytest.raises(ValueError, match="the vector has 4 values but the parameters hold 11"):
        utils.vector_to_parameters(np.zeros(4, np.float32), net.parameters())


# ---- training follows torch ----------------------------------------------------------------
def test_200_sgd_steps_follow_torch_loss_curve():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 10)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 1)
    torch.manual_seed(0)
    t = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    d = Sequential(Linear(10, 32), ReLU(), Linear(32, 3))
    d.load_state_dict(t.state_dict())
    Xt, yt = torch.tensor(X), torch.tensor(y)
    lr, d_losses, t_losses = 0.1, [], []
    for _ in range(200):
        loss = F.cross_entropy(d(Tensor(X)), y)
        d.zero_grad()
        loss.backward()
        utils.clip_grad_norm_(d.parameters(), 5.0)
        for p in d.parameters():
            p.data -= lr * p.grad
            p._bump_version()
        d_losses.append(loss.item())
        t_loss = torch.nn.functional.cross_entropy(t(Xt), yt)
        t.zero_grad()
        t_loss.backward()
        torch.nn.utils.clip_grad_norm_(t.parameters(), 5.0)
        with torch.no_grad():
            for p in t.parameters():
                p -= lr * p.grad
        t_losses.append(t_loss.item())
    np.testing.assert_allclose(d_losses, t_losses, rtol=1e-3, atol=1e-5)
    assert d_losses[-1] < 0.5 * d_losses[0]
