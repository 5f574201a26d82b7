"""The ops added for issue #12, each against torch: forward, backward, float64 gradcheck.

Every case runs through `check_op` (tests/opcheck.py): float32 and float64 values and dtypes,
the gradient of sum(u * out) against torch's, and a finite-difference check in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from opcheck import check_op

import dlbd_lib as dl
import dlbd_lib.functional as F
import dlbd_lib.nn.functional as NF
from dlbd_lib import Tensor

IDX = np.array([[0, 2, 1, 2], [1, 0, 0, 2]])  # int64 index for gather / scatter


# ---- shape and indexing ----------------------------------------------------------------------
@pytest.mark.parametrize("name, dl_fn, th_fn, shapes", [
    ("pad constant", lambda x: F.pad(x, (1, 2), value=0.5),
     lambda x: TF.pad(x, (1, 2), value=0.5), [(2, 3)]),
    ("pad reflect", lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect"),
     lambda x: TF.pad(x, (2, 1, 1, 2), mode="reflect"), [(1, 2, 3, 4)]),
    ("pad replicate", lambda x: F.pad(x, (2, 3), mode="replicate"),
     lambda x: TF.pad(x, (2, 3), mode="replicate"), [(2, 2, 3)]),
    ("expand", lambda x: x.expand(2, 3, -1), None, [(3, 1)]),
    ("repeat", lambda x: x.repeat(2, 1, 3), None, [(2, 3)]),
    ("flip", lambda x: x.flip(0, 2), lambda x: x.flip((0, 2)), [(2, 3, 4)]),
    ("roll", lambda x: F.roll(x, (1, -2), (0, 1)), lambda x: torch.roll(x, (1, -2), (0, 1)),
     [(3, 4)]),
    ("roll flat", lambda x: F.roll(x, 2), lambda x: torch.roll(x, 2), [(3, 4)]),
    ("tril", lambda x: x.tril(1), None, [(2, 3, 4)]),
    ("triu", lambda x: F.triu(x, -1), lambda x: torch.triu(x, -1), [(4, 3)]),
    ("gather", lambda x: x.gather(1, Tensor(IDX)), lambda x: x.gather(1, torch.tensor(IDX)),
     [(3, 4)]),
    ("scatter_add", lambda x, s: x.scatter_add(1, Tensor(IDX), s),
     lambda x, s: x.scatter_add(1, torch.tensor(IDX), s), [(2, 3), (2, 4)]),
    ("index_add", lambda x, s: x.index_add(0, Tensor(np.array([2, 0, 2])), s, alpha=2.0),
     lambda x, s: x.index_add(0, torch.tensor([2, 0, 2]), s, alpha=2.0), [(3, 4), (3, 4)]),
    ("index_select", lambda x: x.index_select(1, Tensor(np.array([2, 2, 0]))),
     lambda x: x.index_select(1, torch.tensor([2, 2, 0])), [(2, 3)]),
    ("masked_fill", lambda x: x.masked_fill(Tensor(np.array([True, False, True])), -1.0),
     lambda x: x.masked_fill(torch.tensor([True, False, True]), -1.0), [(2, 3)]),
    ("where broadcast", lambda a, b: dl.where(Tensor(np.array([[True], [False]])), a, b),
     lambda a, b: torch.where(torch.tensor([[True], [False]]), a, b), [(3,), (2, 1)]),
    ("chunk", lambda x: dl.cat([c * (i + 1) for i, c in enumerate(x.chunk(3, 1))], 1),
     lambda x: torch.cat([c * (i + 1) for i, c in enumerate(x.chunk(3, 1))], 1), [(2, 7)]),
    ("split", lambda x: dl.cat([c * (i + 1) for i, c in enumerate(x.split([1, 3], 0))]),
     lambda x: torch.cat([c * (i + 1) for i, c in enumerate(x.split([1, 3], 0))]), [(4, 2)]),
    ("unbind", lambda x: dl.stack([c * (i + 1) for i, c in enumerate(x.unbind(1))]),
     lambda x: torch.stack([c * (i + 1) for i, c in enumerate(x.unbind(1))]), [(2, 3)]),
])
def test_shape_and_indexing_ops(name, dl_fn, th_fn, shapes):
    check_op(shapes, dl_fn, th_fn)


def _write_a_column(x, v):
    h = x * 1.0
    h[:, 1] = v * 2.0  # a recorded in-place write into a non-leaf, as torch allows
    return h


@pytest.mark.parametrize("name, dl_fn, shapes", [
    ("torch's index rule", lambda x: x[0, :, [0, 1, 1]], [(2, 3, 4)]),
    ("ellipsis and mask", lambda x: x[..., Tensor(np.array([True, False, True]))], [(2, 3)]),
    ("setitem", _write_a_column, [(2, 3), (2,)]),
])
def test_indexing_and_setitem_gradients(name, dl_fn, shapes):
    if name == "ellipsis and mask":
        check_op(shapes, dl_fn, lambda x: x[..., torch.tensor([True, False, True])])
    else:
        check_op(shapes, dl_fn)


def test_one_hot_is_int64_as_torch_and_exported_from_nn_functional():
    y = np.array([[0, 2], [1, 1]])
    expected = TF.one_hot(torch.tensor(y), 4).numpy()
    for fn in (F.one_hot, NF.one_hot):
        out = fn(Tensor(y), 4)
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out.data, expected)


# ---- reductions ----------------------------------------------------------------------------
@pytest.mark.parametrize("name, dl_fn, th_fn, kw", [
    ("cumsum", lambda x: x.cumsum(1), None, {}),
    ("cumsum dim=0", lambda x: F.cumsum(x, dim=0), lambda x: torch.cumsum(x, dim=0), {}),
    ("cumprod", lambda x: x.cumprod(1), None, {}),
    ("prod all", lambda x: x.prod(), None, {}),
    ("prod dim keepdim", lambda x: x.prod(0, keepdim=True), None, {}),
    ("std", lambda x: x.std(1), None, {}),
    ("std all biased", lambda x: x.std(unbiased=False), None, {}),
    ("logsumexp", lambda x: x.logsumexp(1), None, {}),
    ("logsumexp tuple", lambda x: dl.logsumexp(x, (0, 1), keepdim=True),
     lambda x: torch.logsumexp(x, (0, 1), keepdim=True), {}),
    ("norm", lambda x: x.norm(), None, {}),
    ("norm p=1 dim", lambda x: x.norm(1, dim=1), None, {"away": 0.1}),
    ("norm p=3", lambda x: dl.norm(x, 3, dim=0), lambda x: torch.norm(x, 3, dim=0), {}),
    ("sort values", lambda x: x.sort(1, descending=True).values, None, {}),
    ("topk values", lambda x: x.topk(2, dim=0).values, None, {}),
    ("max dim values", lambda x: x.max(dim=1, keepdim=True)[0], None, {}),
])
def test_reductions(name, dl_fn, th_fn, kw):
    check_op([(3, 4)], dl_fn, th_fn, **kw)


def test_prod_and_cumprod_gradients_with_zeros_match_torch():
    a = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.5]])
    for fn in (lambda x: x.prod(1), lambda x: x.cumprod(1), lambda x: x.prod()):
        d, t = Tensor(a.copy(), requires_grad=True), torch.tensor(a, requires_grad=True)
        fn(d).sum().backward()
        fn(t).sum().backward()
        np.testing.assert_allclose(d.grad, t.grad.numpy())


def test_norm_gradient_at_zero_is_zero_as_torch():
    d = Tensor(np.zeros(3), requires_grad=True)
    d.norm().backward()
    np.testing.assert_array_equal(d.grad, [0.0, 0.0, 0.0])


def test_bool_reductions_and_tests():
    a = np.array([[1.0, np.nan, np.inf], [0.0, -np.inf, 2.0]], np.float32)
    d, t = Tensor(a), torch.tensor(a)
    for name in ("isnan", "isinf", "isfinite"):
        np.testing.assert_array_equal(getattr(d, name)().data, getattr(t, name)().numpy())
    b, tb = d > 0.5, t > 0.5
    np.testing.assert_array_equal(b.any(1).data, tb.any(1).numpy())
    np.testing.assert_array_equal(b.all(0).data, tb.all(0).numpy())
    assert dl.any(b).item() and not b.all().item()


# ---- elementwise ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sin", "cos", "floor", "ceil", "round", "trunc", "sign"])
def test_elementwise(name):
    check_op([(3, 4)], lambda x: getattr(x, name)(), low=-3, high=3, away=0.05)
    check_op([(3, 4)], getattr(dl, name, getattr(F, name)), getattr(torch, name), low=-3,
             high=3, away=0.05, dtypes=(np.float32,))


@pytest.mark.parametrize("shapes", [[(3, 4), (3, 4)], [(3, 4), (4,)], [(2, 1), (1, 3)]], ids=str)
def test_remainder_maximum_minimum(shapes):
    check_op(shapes, lambda a, b: a % b, low=0.5, high=3.0)
    check_op(shapes, dl.maximum, torch.maximum)
    check_op(shapes, dl.minimum, torch.minimum)


# ---- linear algebra --------------------------------------------------------------------------
@pytest.mark.parametrize("eq, shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("i,i->", [(4,), (4,)]), ("ij->j", [(3, 4)]), ("ij,kj", [(2, 3), (4, 3)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]), ("i,j,k->ijk", [(2,), (3,), (2,)]),
])
def test_einsum(eq, shapes):
    check_op(shapes, lambda *xs: dl.einsum(eq, *xs), lambda *xs: torch.einsum(eq, *xs))


def test_outer_bmm_mm_dot():
    check_op([(3,), (4,)], dl.outer, torch.outer)
    check_op([(2, 3, 4), (2, 4, 5)], dl.bmm, torch.bmm)
    check_op([(3, 4), (4, 2)], lambda a, b: a.mm(b))
    check_op([(5,), (5,)], lambda a, b: a.dot(b))
