"""dlbd_lib.torch_bridge: moving tensors and weights between the engines, and comparing them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlbd_lib import ShapeError, Tensor
from dlbd_lib.nn import Module, Parameter
from dlbd_lib.torch_bridge import (
    ParityReport,
    compare_modules,
    compare_outputs,
    copy_weights,
    from_torch,
    state_dict_from_torch,
    state_dict_to_torch,
    to_torch,
)


class Affine(Module):
    """y = tanh(x W^T + b): torch.nn.Linear's parameter names and shapes, then tanh."""

    def __init__(self, n_in: int = 4, n_out: int = 3, transpose: bool = True) -> None:
        super().__init__()
        self.weight = Parameter(np.zeros((n_out, n_in), np.float32))
        self.bias = Parameter(np.zeros(n_out, np.float32))
        self.transpose = transpose

    def forward(self, x):
        w = self.weight.T if self.transpose else self.weight.reshape(self.weight.shape[::-1])
        return (x @ w + self.bias).tanh()


def torch_affine(n_in: int = 4, n_out: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(n_in, n_out), torch.nn.Tanh())


class TorchAffine(torch.nn.Module):
    def __init__(self, n_in: int = 4, n_out: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(n_in, n_out)
        self.weight, self.bias = self.lin.weight, self.lin.bias

    def forward(self, x):
        return torch.tanh(self.lin(x))

    def state_dict(self, *args, **kwargs):
        return {"weight": self.lin.weight.detach(), "bias": self.lin.bias.detach()}

    def load_state_dict(self, sd, strict=True):
        with torch.no_grad():
            self.lin.weight.copy_(sd["weight"])
            self.lin.bias.copy_(sd["bias"])


@pytest.mark.parametrize("arr", [
    np.arange(6.0).reshape(2, 3), np.arange(6, dtype=np.float32), np.arange(4), np.array(2.5),
    np.array([True, False]), np.arange(12.0).reshape(3, 4).T,
], ids=lambda a: f"{a.dtype}{a.shape}")
def test_round_trip_keeps_values_and_dtype_and_copies(arr):
    d = Tensor(arr.copy())
    t = to_torch(d)
    assert str(t.dtype) == f"torch.{arr.dtype}" or (arr.dtype == bool and t.dtype == torch.bool)
    np.testing.assert_array_equal(t.numpy(), arr)
    back = from_torch(t)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back.data, arr)
    if arr.size:  # both directions are copies
        t.view(-1)[0] = 99
        assert d.data.reshape(-1)[0] == arr.reshape(-1)[0]
        assert back.data.reshape(-1)[0] == arr.reshape(-1)[0]
    np.testing.assert_array_equal(to_torch(arr).numpy(), arr)  # plain numpy works too


def test_requires_grad_travels_unless_overridden():
    d = Tensor(np.ones(3, np.float32), requires_grad=True)
    assert to_torch(d).requires_grad and to_torch(d).is_leaf
    assert not to_torch(d, requires_grad=False).requires_grad
    assert to_torch(Tensor(np.ones(2)), requires_grad=True).requires_grad
    t = torch.ones(2, requires_grad=True) * 2
    assert from_torch(t).requires_grad and from_torch(t).is_leaf
    assert not from_torch(t, requires_grad=False).requires_grad
    assert not from_torch(torch.arange(3), requires_grad=True).requires_grad  # ints never


def test_gradients_flow_through_both_engines_alike():
    x = Tensor(np.linspace(-1, 1, 5), requires_grad=True)
    tx = to_torch(x)
    (x.sigmoid() * x).sum().backward()
    (tx.sigmoid() * tx).sum().backward()
    assert compare_outputs(x.grad, tx.grad, atol=1e-12, rtol=1e-12) < 1e-12


def test_state_dicts_and_copy_weights_both_ways():
    th, dl_mod = TorchAffine(), Affine()
    sd_t = state_dict_to_torch(dl_mod.state_dict())
    assert set(sd_t) == {"weight", "bias"} and isinstance(sd_t["weight"], torch.Tensor)
    sd_n = state_dict_from_torch(th.state_dict())
    assert isinstance(sd_n["weight"], np.ndarray) and sd_n["weight"].shape == (3, 4)
    assert copy_weights(th, dl_mod) is dl_mod
    np.testing.assert_array_equal(dl_mod.weight.data, th.lin.weight.detach().numpy())
    dl_mod.weight.data[...] = 0.5
    copy_weights(dl_mod, th)
    assert torch.all(th.lin.weight == 0.5)
    other = Affine()
    copy_weights(dl_mod, other)  # dlbd to dlbd
    np.testing.assert_array_equal(other.weight.data, dl_mod.weight.data)


def test_copy_weights_into_torch_checks_shapes():
    seq = torch_affine(5, 3)  # state_dict keys "0.weight", "0.bias"

    class Wrapped(Module):
        def __init__(self):
            super().__init__()
            setattr(self, "0", Affine(4, 3))

    with pytest.raises(ShapeError, match=r"'0.weight' has shape \(3, 4\) in the source but "
                                         r"\(3, 5\) in the torch model"):
        copy_weights(Wrapped(), seq)


def test_compare_outputs():
    a = np.array([1.0, 2.0, 3.0])
    assert compare_outputs(a, torch.tensor(a)) == 0.0
    assert compare_outputs(Tensor(a), a + 1e-7) == pytest.approx(1e-7)
    with pytest.raises(AssertionError, match=r"logits: engines disagree, max \|diff\| = 1.000e-02"):
        compare_outputs(a, a + [0, 0.01, 0], name="logits")
    with pytest.raises(ShapeError, match=r"out: shapes differ, \(3,\) vs \(1, 3\)"):
        compare_outputs(a, a[None], name="out")
    assert compare_outputs(np.zeros(0), np.zeros(0)) == 0.0


def test_compare_modules_passes_a_right_model_and_catches_a_wrong_one():
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    report = compare_modules(Affine(), TorchAffine(), [x])
    assert isinstance(report, ParityReport) and report.ok
    assert set(report) == {"output", "input[0].grad", "weight.grad", "bias.grad"}
    assert max(report.values()) < 1e-5
    assert "weight.grad" in repr(report)
    report = compare_modules(Affine(), TorchAffine(), [x], loss_fn=lambda y: (y * y).mean())
    assert report["weight.grad"] < 1e-5
    with pytest.raises(AssertionError, match="output: engines disagree"):
        compare_modules(Affine(transpose=False), TorchAffine(), [x])  # W reshaped, not W^T
