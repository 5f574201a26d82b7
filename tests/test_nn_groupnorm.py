"""GroupNorm (functional and module) against torch, float64 gradient checks, errors; and
Embedding's padding row staying zero through training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from nn_parity import assert_module_parity, single_torch_thread
from opcheck import check_op

from dlbd_lib import DtypeError, ShapeError, Tensor
from dlbd_lib import nn as dnn
from dlbd_lib.nn import functional as F
from dlbd_lib.optim import SGD


@pytest.fixture(autouse=True)
def _one_torch_thread():
    yield from single_torch_thread()


@pytest.mark.parametrize("shape,groups", [((3, 6), 2), ((2, 6, 5), 3), ((2, 4, 3, 3), 2),
                                          ((2, 4, 3, 3), 4), ((2, 4, 3, 3), 1)])
def test_group_norm_matches_torch(shape, groups):
    c = shape[1]
    check_op([shape, (c,), (c,)], lambda x, w, b: F.group_norm(x, groups, w + 1.5, b),
             lambda x, w, b: TF.group_norm(x, groups, w + 1.5, b), tol_scale=3)
    check_op([shape], lambda x: F.group_norm(x, groups, eps=1e-3),
             lambda x: TF.group_norm(x, groups, eps=1e-3), tol_scale=3)


@pytest.mark.parametrize("kw", [{}, {"affine": False}, {"bias": False}, {"eps": 1e-3}])
def test_group_norm_module_matches_torch(kw):
    torch.manual_seed(0)
    d, t = dnn.GroupNorm(2, 6, **kw), torch.nn.GroupNorm(2, 6, **kw)
    assert repr(d) == repr(t)
    assert list(d.state_dict()) == list(t.state_dict())
    with torch.no_grad():
        for p in t.parameters():
            p.uniform_(0.5, 1.5)
    x = np.random.default_rng(0).standard_normal((4, 6, 3, 2)).astype(np.float32) * 3 + 1
    assert_module_parity(d, t, x)


def test_group_norm_errors():
    x = Tensor(np.ones((3, 6), np.float32))
    with pytest.raises(RuntimeError, match=r"group_norm: expected input of shape \(N, C, \*\) "
                                           r"with C divisible by num_groups=4, got \(3, 6\)"):
        F.group_norm(x, 4)
    with pytest.raises(ShapeError, match=r"weight must have one value per channel, shape "
                                         r"\(6,\), got \(3,\)"):
        F.group_norm(x, 2, np.ones(3, np.float32))
    with pytest.raises(DtypeError, match="group_norm: input must be floating point"):
        F.group_norm(Tensor(np.ones((3, 6), np.int64)), 2)
    with pytest.raises(ValueError, match=r"num_channels \(6\) must be divisible by "
                                         r"num_groups \(4\)"):
        dnn.GroupNorm(4, 6)
    with pytest.raises(ShapeError, match=r"GroupNorm\(2, 6\) expects input of shape "
                                         r"\(N, 6, \*\), got \(3, 4\)"):
        dnn.GroupNorm(2, 6)(Tensor(np.ones((3, 4), np.float32)))


def test_embedding_padding_row_stays_zero_while_training():
    emb = dnn.Embedding(6, 3, padding_idx=2)
    assert not emb.weight.data[2].any()
    opt = SGD(emb.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    for _ in range(3):
        opt.zero_grad()
        (emb(Tensor(np.array([[2, 1, 2], [0, 2, 5]]))) ** 2).sum().backward()
        assert not emb.weight.grad[2].any()
        opt.step()
    assert not emb.weight.data[2].any() and emb.weight.data[[0, 1, 5]].any()
