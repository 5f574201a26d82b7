"""Activations (functional and modules) against torch: silu, gelu, elu, leaky_relu,
softplus, hardtanh; forward, gradients, float64 gradient checks, reprs and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from nn_parity import assert_module_parity, single_torch_thread
from opcheck import check_op

from dlbd_lib import DtypeError, Tensor
from dlbd_lib import nn as dnn
from dlbd_lib.nn import functional as F


@pytest.fixture(autouse=True)
def _one_torch_thread():
    yield from single_torch_thread()


# name, keyword arguments, how far inputs stay from a kink
CASES = [
    ("silu", {}, 0.0),
    ("gelu", {}, 0.0),
    ("gelu", {"approximate": "tanh"}, 0.0),
    ("elu", {}, 0.05),
    ("elu", {"alpha": 0.5}, 0.05),
    ("leaky_relu", {}, 0.05),
    ("leaky_relu", {"negative_slope": -0.5}, 0.05),
    ("leaky_relu", {"negative_slope": 1.5}, 0.05),
    ("softplus", {}, 0.0),
    ("softplus", {"beta": 2.0, "threshold": 3.0}, 0.0),
    ("hardtanh", {}, 0.0),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}, 0.0),
]


@pytest.mark.parametrize("name,kw,away", CASES)
def test_activation_matches_torch_and_gradcheck(name, kw, away):
    # inputs in [-4, 4]: both sides of every kink, and softplus's linear part (beta x > 3)
    check_op([(3, 7)], lambda x: getattr(F, name)(x, **kw),
             lambda x: getattr(TF, name)(x, **kw), low=-4, high=4, away=away, tol_scale=3)


def _grad_at(fn, values, lib):
    x = lib(np.array(values, np.float32), requires_grad=True)
    fn(x).sum().backward()
    return np.asarray(x.grad)


@pytest.mark.parametrize("name,kw", [("leaky_relu", {"negative_slope": 0.1}), ("elu", {}),
                                     ("hardtanh", {}), ("hardtanh", {"min_val": 0.0}),
                                     ("softplus", {"threshold": 1.0})])
def test_gradient_at_the_kinks_is_torch_s(name, kw):
    values = [-1.0, 0.0, 1.0, 2.0]  # includes 0 and the hardtanh / softplus boundaries
    np.testing.assert_allclose(_grad_at(lambda x: getattr(F, name)(x, **kw), values, Tensor),
                               _grad_at(lambda x: getattr(TF, name)(x, **kw), values,
                                        torch.tensor), rtol=1e-6)


def test_softplus_and_silu_do_not_overflow():
    x = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], np.float32)
    for name in ("softplus", "silu", "elu"):
        out = getattr(F, name)(Tensor(x)).data
        assert out.dtype == np.float32 and np.isfinite(out).all(), name
        np.testing.assert_allclose(out, getattr(TF, name)(torch.tensor(x)).numpy(), rtol=1e-6)


MODULES = [
    ("SiLU", {}), ("GELU", {"approximate": "tanh"}), ("ELU", {"alpha": 0.7}),
    ("LeakyReLU", {"negative_slope": 0.2}), ("Softplus", {"beta": 2.0, "threshold": 5.0}),
    ("Hardtanh", {"min_val": -2.0, "max_val": 0.5}), ("Hardtanh", {}), ("Softplus", {}),
    ("ELU", {}),
]


@pytest.mark.parametrize("name,kw", MODULES)
def test_activation_modules_match_torch(name, kw):
    d, t = getattr(dnn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(d) == repr(t)
    x = np.random.default_rng(0).uniform(-3, 3, (4, 5)).astype(np.float32)
    assert_module_parity(d, t, x)


def test_activation_errors():
    x = Tensor(np.arange(4))
    for name in ("silu", "elu", "softplus", "hardtanh"):
        with pytest.raises(DtypeError, match=f"{name}: input must be floating point.*int64"):
            getattr(F, name)(x)
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(Tensor(np.ones(2, np.float32)), 1.0, 0.0)
    with pytest.raises(AssertionError, match=r"max_val \(0.0\) must be greater than min_val "
                                             r"\(1.0\)"):
        dnn.Hardtanh(1.0, 0.0)
    with pytest.warns(FutureWarning, match="`min_value` is deprecated and renamed to `min_val`"):
        d = dnn.Hardtanh(min_value=-2.0)
    with pytest.warns(FutureWarning):
        assert repr(d) == repr(torch.nn.Hardtanh(min_value=-2.0)) == \
            "Hardtanh(min_val=-2.0, max_val=1.0)"
