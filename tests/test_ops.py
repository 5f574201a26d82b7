"""Every op in dlbd_lib.functional and every Tensor operator/method, against torch.

Each case runs through `check_op` (tests/opcheck.py): float32 and float64, forward values
and dtypes, gradients of sum(u * out), and a float64 finite-difference check.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from opcheck import check_grad, check_op, make_inputs, torch_dtype_name

import dlbd_lib.functional as F
from dlbd_lib import Tensor

BROADCAST = [
    [(3, 4), (3, 4)], [(3, 4), (4,)], [(2, 1, 4), (3, 1)], [(5,), (2, 5)],
    [(), (3,)], [(3,), ()], [(), ()], [(1,), (2, 3)], [(4, 1), (1, 5)],
]
MATMUL = [
    [(3, 4), (4, 5)], [(4,), (4, 5)], [(3, 4), (4,)], [(4,), (4,)], [(2, 3, 4), (4, 5)],
    [(3, 4), (2, 4, 5)], [(2, 1, 3, 4), (5, 4, 2)], [(2, 3, 4), (4,)], [(4,), (2, 4, 5)],
    [(1, 3, 4), (2, 4, 5)], [(2, 3, 4), (2, 4, 5)], [(1, 1), (1, 1)],
]
UNARY_SHAPES = [(3, 4), (5,), (), (2, 3, 2)]
BIG = [(40, 30)]  # bigger than FULL_CHECK_MAX: the projection check runs


# ---- binary arithmetic with broadcasting ---------------------------------------------------
@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
@pytest.mark.parametrize("name, dl_fn, th_fn, kw", [
    ("add", lambda a, b: a + b, None, {}),
    ("sub", lambda a, b: a - b, None, {}),
    ("mul", lambda a, b: a * b, None, {}),
    ("div", lambda a, b: a / b, None, {"away": 0.5}),
    ("pow", lambda a, b: a ** b, None, {"low": 0.5, "high": 2.0}),
    ("F.add", F.add, torch.add, {}),
    ("F.sub", F.sub, torch.sub, {}),
    ("F.mul", F.mul, torch.mul, {}),
    ("F.div", F.div, torch.div, {"away": 0.5}),
    ("F.pow", F.pow, torch.pow, {"low": 0.5, "high": 2.0}),
])
def test_binary_broadcast(shapes, name, dl_fn, th_fn, kw):
    check_op(shapes, dl_fn, th_fn, **kw)


@pytest.mark.parametrize("shapes", MATMUL, ids=str)
def test_matmul(shapes):
    check_op(shapes, lambda a, b: a @ b)
    check_op(shapes, F.matmul, torch.matmul, dtypes=(np.float32,))


def test_big_inputs_use_projection_check():
    check_op([(40, 30), (30,)], lambda a, b: (a * b).tanh())
    check_op([(8, 40, 30), (30, 20)], lambda a, b: a @ b, dtypes=(np.float64,))


# ---- Python and numpy scalars, reflected operators -----------------------------------------
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name, fn, kw", [
    ("x+2.5", lambda x: x + 2.5, {}),
    ("2.5+x", lambda x: 2.5 + x, {}),
    ("x-1.5", lambda x: x - 1.5, {}),
    ("1.5-x", lambda x: 1.5 - x, {}),
    ("x*2.5", lambda x: x * 2.5, {}),
    ("2.5*x", lambda x: 2.5 * x, {}),
    ("x/3", lambda x: x / 3, {}),
    ("3/x", lambda x: 3 / x, {"away": 0.5}),
    ("x**2", lambda x: x ** 2, {}),
    ("x**2.5", lambda x: x ** 2.5, {"low": 0.5}),
    ("x**-1", lambda x: x ** -1, {"away": 0.5}),
    ("2**x", lambda x: 2 ** x, {}),
    ("2.5**x", lambda x: 2.5 ** x, {}),
    ("-x", lambda x: -x, {}),
    ("+x*1", lambda x: +x * 1, {}),
    ("abs", lambda x: abs(x), {"away": 0.1}),
    ("x+1(int)", lambda x: x + 1, {}),
])
def test_scalar_operands(shape, name, fn, kw):
    check_op([shape], fn, **kw)


def test_numpy_constants_on_either_side():
    """An ndarray on the left defers to the Tensor's reflected operator (a Tensor back)."""
    c = make_inputs([(3, 4)], np.float32, seed=5, away=0.5)[0]
    for dl_fn, th_fn in [
        (lambda x: c + x, lambda x: torch.from_numpy(c) + x),
        (lambda x: c - x, lambda x: torch.from_numpy(c) - x),
        (lambda x: c * x, lambda x: torch.from_numpy(c) * x),
        (lambda x: c / x, lambda x: torch.from_numpy(c) / x),
        (lambda x: x / c, lambda x: x / torch.from_numpy(c)),
        (lambda x: c @ x.T, lambda x: torch.from_numpy(c) @ x.T),
        (lambda x: np.float32(2.0) * x, lambda x: 2.0 * x),
        (lambda x: x * np.float64(2.0), lambda x: x * 2.0),  # numpy scalar: like a Python one
    ]:
        check_op([(3, 4)], dl_fn, th_fn, dtypes=(np.float32,), away=0.5)
    x = Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    out = np.ones((2, 2), np.float32) + x
    assert isinstance(out, Tensor) and out.requires_grad


# ---- elementwise functions -----------------------------------------------------------------
@pytest.mark.parametrize("shape", UNARY_SHAPES + BIG, ids=str)
@pytest.mark.parametrize("name, dl_fn, th_fn, kw", [
    ("exp", lambda x: x.exp(), None, {}),
    ("log", lambda x: x.log(), None, {"low": 0.2, "high": 3.0}),
    ("sqrt", lambda x: x.sqrt(), None, {"low": 0.2, "high": 3.0}),
    ("tanh", lambda x: x.tanh(), None, {}),
    ("sigmoid", lambda x: x.sigmoid(), None, {}),
    ("relu", lambda x: x.relu(), None, {"away": 0.1}),
    ("abs", lambda x: x.abs(), None, {"away": 0.1}),
    ("F.exp", F.exp, torch.exp, {}),
    ("F.log", F.log, torch.log, {"low": 0.2, "high": 3.0}),
    ("F.sqrt", F.sqrt, torch.sqrt, {"low": 0.2, "high": 3.0}),
    ("F.tanh", F.tanh, torch.tanh, {}),
    ("F.sigmoid", F.sigmoid, torch.sigmoid, {}),
    ("F.relu", F.relu, torch.relu, {"away": 0.1}),
    ("F.abs", F.abs, torch.abs, {"away": 0.1}),
    ("F.neg", F.neg, torch.neg, {}),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu, {"away": 0.1}),
    ("leaky_relu(0.2)", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2),
     {"away": 0.1}),
])
def test_unary(shape, name, dl_fn, th_fn, kw):
    check_op([shape], dl_fn, th_fn, **kw)


def test_clip_and_clamp():
    # values kept away from the bounds -1 and 1 (the kinks)
    x = np.array([[-1.7, -0.6, 0.3, 1.4], [0.9, -1.2, 1.8, -0.2]])

    def run(dl_fn, th_fn):
        for dtype in (np.float32, np.float64):
            d, t = Tensor(x.astype(dtype), requires_grad=True), torch.tensor(x.astype(dtype),
                                                                           requires_grad=True)
            out_d, out_t = dl_fn(d), th_fn(t)
            assert out_d.dtype == dtype
            np.testing.assert_allclose(out_d.data, out_t.detach().numpy(), rtol=1e-6)
            out_d.backward(np.arange(8.0).reshape(2, 4))
            out_t.backward(torch.arange(8.0, dtype=t.dtype).reshape(2, 4))
            np.testing.assert_array_equal(d.grad, t.grad.numpy())

    run(lambda v: v.clip(-1.0, 1.0), lambda v: v.clamp(-1.0, 1.0))
    run(lambda v: v.clamp(min=-1.0), lambda v: v.clamp(min=-1.0))
    run(lambda v: F.clip(v, max=1.0), lambda v: v.clamp(max=1.0))
    run(lambda v: F.clamp(v, -0.5, 0.5), lambda v: v.clamp(-0.5, 0.5))
    check_grad([(3, 4)], lambda v: v.clip(-5.0, 5.0) * v)  # nothing clipped: all gradient


def test_sigmoid_and_tanh_do_not_overflow():
    x = np.array([-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0], np.float32)
    with np.errstate(all="raise"):
        s = Tensor(x).sigmoid()
    np.testing.assert_allclose(s.data, torch.sigmoid(torch.from_numpy(x)).numpy(), atol=1e-7)
    assert s.dtype == np.float32 and np.isfinite(s.data).all()


# ---- reductions ----------------------------------------------------------------------------
REDUCE_CASES = [((3, 4), None), ((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), (0, 2)),
                ((2, 3, 4), 1), ((5,), 0), ((), None)]


def _dims(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return axis


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape, axis", REDUCE_CASES, ids=str)
def test_sum_mean(shape, axis, keepdims):
    dims = _dims(axis, len(shape))
    check_op([shape], lambda x: x.sum(axis=axis, keepdims=keepdims),
             lambda x: x.sum(dim=dims, keepdim=keepdims))
    check_op([shape], lambda x: F.mean(x, axis=axis, keepdims=keepdims),
             lambda x: x.mean(dim=dims, keepdim=keepdims))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape, axis", REDUCE_CASES, ids=str)
def test_max_min(shape, axis, keepdims):
    dims = _dims(axis, len(shape))  # distinct random floats: no ties
    check_op([shape], lambda x: x.amax(axis=axis, keepdims=keepdims),
             lambda x: x.amax(dim=dims, keepdim=keepdims))
    check_op([shape], lambda x: F.amin(x, axis=axis, keepdims=keepdims),
             lambda x: x.amin(dim=dims, keepdim=keepdims))
    if isinstance(axis, int):  # torch's max(dim): (values, indices)
        for name in ("max", "min"):
            check_op([shape], lambda x, n=name: getattr(x, n)(axis, keepdims).values)
            check_op([shape], lambda x, n=name: getattr(F, n)(x, dim=axis, keepdim=keepdims)[0],
                     lambda x, n=name: getattr(torch, n)(x, dim=axis, keepdim=keepdims)[0])
            d = getattr(Tensor(make_inputs([shape], np.float32)[0]), name)(axis, keepdims)
            t = getattr(torch.tensor(make_inputs([shape], np.float32)[0]), name)(axis, keepdims)
            np.testing.assert_array_equal(d.indices.data, t.indices.numpy())
            assert d.indices.dtype == np.int64
    elif axis is None:  # max() of everything: one value
        check_op([shape], lambda x: x.max(), lambda x: x.max())


def test_max_ties_share_the_gradient_like_amax():
    x = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0]], np.float32)
    d, t = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    d.amax(axis=1).sum().backward()
    t.amax(dim=1).sum().backward()
    np.testing.assert_allclose(d.grad, [[0, 0.5, 0.5, 0], [0.25] * 4])
    np.testing.assert_allclose(d.grad, t.grad.numpy())


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape, axis", REDUCE_CASES[:-1], ids=str)
def test_var(shape, axis, keepdims, unbiased):
    dims = _dims(axis, len(shape))
    check_op([shape], lambda x: x.var(axis=axis, keepdims=keepdims, unbiased=unbiased),
             lambda x: x.var(dim=dims, keepdim=keepdims, correction=int(unbiased)))


def test_argmax_argmin_match_torch_and_are_outside_the_graph():
    x = make_inputs([(3, 5)], np.float32, seed=3)[0]
    d, t = Tensor(x, requires_grad=True), torch.from_numpy(x)
    for axis in (None, 0, 1):
        for name in ("argmax", "argmin"):
            got = getattr(d, name)(axis=axis)
            want = getattr(t, name)(dim=axis)
            np.testing.assert_array_equal(got.data, want.numpy())
            assert got.dtype == np.int64 and not got.requires_grad
    assert d.argmax(axis=1, keepdims=True).shape == (3, 1)


# ---- shape ops -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape, dl_fn, th_fn", [
    ((3, 4), lambda x: x.reshape(4, 3), None),
    ((3, 4), lambda x: x.reshape((2, -1)), None),
    ((3, 4), lambda x: x.reshape([12]), None),
    ((), lambda x: x.reshape(1, 1), None),
    ((2, 3, 4), lambda x: x.view(6, 4), None),
    ((2, 3, 4), lambda x: F.reshape(x, (4, 6)), lambda x: x.reshape(4, 6)),
    ((2, 3, 4), lambda x: x.flatten(), None),
    ((2, 3, 4), lambda x: x.flatten(1), None),
    ((2, 3, 4, 5), lambda x: x.flatten(1, 2), None),
    ((2, 3, 4), lambda x: F.flatten(x, 0, -2), lambda x: x.flatten(0, -2)),
    ((3, 4), lambda x: x.T, None),
    ((2, 3, 4), lambda x: x.T, lambda x: x.permute(2, 1, 0)),
    ((2, 3, 4), lambda x: x.transpose(), lambda x: x.permute(2, 1, 0)),
    ((2, 3, 4), lambda x: x.transpose(0, 2), None),
    ((2, 3, 4), lambda x: x.transpose(-1, 1), None),
    ((2, 3, 4), lambda x: x.permute(1, 2, 0), None),
    ((2, 3, 4), lambda x: x.permute((2, 0, 1)), None),
    ((2, 3, 4), lambda x: F.transpose(x, (1, 0, 2)), lambda x: x.permute(1, 0, 2)),
    ((2, 3, 4), lambda x: F.swapaxes(x, 0, -1), lambda x: x.transpose(0, -1)),
    ((3, 4), lambda x: x.unsqueeze(0), None),
    ((3, 4), lambda x: x.unsqueeze(-1), None),
    ((3, 4), lambda x: F.unsqueeze(x, 1), lambda x: x.unsqueeze(1)),
    ((3, 1, 4, 1), lambda x: x.squeeze(), None),
    ((3, 1, 4, 1), lambda x: x.squeeze(1), None),
    ((3, 1, 4, 1), lambda x: F.squeeze(x, -1), lambda x: x.squeeze(-1)),
    ((3, 1, 4), lambda x: x.squeeze(0) * 1, lambda x: x.squeeze(0) * 1),  # size 3: no-op
])
def test_shape_ops(shape, dl_fn, th_fn):
    check_op([shape], dl_fn, th_fn)


def _th_index(index):
    if isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    if isinstance(index, tuple):
        return tuple(_th_index(i) for i in index)
    return index


@pytest.mark.parametrize("shape, index", [
    ((3, 4), 1),
    ((3, 4), -1),
    ((3, 4), (slice(None), slice(1, 3))),
    ((3, 4), (-1, slice(None, None, 2))),
    ((2, 3, 4), (Ellipsis, None, 0)),
    ((2, 3, 4), (0, Ellipsis)),
    ((5,), [0, 2, 0, 0, 4]),  # repeated indices accumulate
    ((5, 3), np.array([[0, 1], [1, 1]])),
    ((3, 4), ([0, 0, 2], [1, 1, 3])),
    ((3, 4), (slice(1, None), [0, 0, 3])),
    ((3, 4), np.array([[True, False, True, False]] * 2 + [[False] * 4])),
    ((3, 4), np.array([True, False, True])),
    ((3, 4), (np.array([True, False, True]), slice(1, None))),
    ((3, 4, 5), ([0, 0], slice(None), [1, 1])),
    ((3, 4), (None, [2, 2], Ellipsis)),
], ids=str)
def test_getitem(shape, index):
    check_op([shape], lambda x: x[index], lambda x: x[_th_index(index)])


def test_getitem_negative_step_and_tensor_index():
    x = np.arange(12.0).reshape(3, 4)
    d = Tensor(x, requires_grad=True)
    d[::-1, 1:3][:, ::-2].sum().backward()  # torch has no negative steps: numpy is the truth
    expected = np.zeros_like(x)
    expected[:, 2] = 1
    np.testing.assert_array_equal(d.grad, expected)
    check_grad([(4, 3)], lambda v: v[::-1] * v[:, ::-1][::-1])
    idx = Tensor(np.array([2, 0, 2]))
    check_op([(3, 4)], lambda v: v[idx], lambda v: v[torch.from_numpy(idx.data)])
    check_op([(3, 4)], lambda v: F.getitem(v, (idx, 1)),
             lambda v: v[torch.from_numpy(idx.data), 1])


def test_iterating_and_unpacking_give_differentiable_rows():
    x = np.arange(6.0).reshape(3, 2)
    d, t = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    rows = list(d)
    assert len(rows) == 3 and all(r.shape == (2,) for r in rows)
    a, b, c = d
    (a * 1 + b * 2 + c * 3).sum().backward()
    ta, tb, tc = t
    (ta * 1 + tb * 2 + tc * 3).sum().backward()
    np.testing.assert_array_equal(d.grad, t.grad.numpy())


@pytest.mark.parametrize("shapes, axis", [
    ([(2, 3), (4, 3)], 0), ([(2, 1, 3), (2, 4, 3), (2, 2, 3)], 1), ([(2, 3), (2, 1)], -1),
    ([(5,)], 0), ([(3,), (2,)], 0),
], ids=str)
def test_cat(shapes, axis):
    check_op(shapes, lambda *xs: F.cat(list(xs), axis=axis),
             lambda *xs: torch.cat(xs, dim=axis))
    check_op(shapes, lambda *xs: F.concatenate(xs, axis), lambda *xs: torch.cat(xs, axis),
             dtypes=(np.float32,))


@pytest.mark.parametrize("shapes, axis", [
    ([(2, 3)] * 3, 0), ([(2, 3)] * 2, 1), ([(2, 3)] * 2, -1), ([()] * 4, 0), ([(4,)], 0),
], ids=str)
def test_stack(shapes, axis):
    check_op(shapes, lambda *xs: F.stack(xs, axis=axis), lambda *xs: torch.stack(xs, axis))


def test_cat_with_a_constant_and_mixed_requires_grad():
    a = Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    b = Tensor(np.ones((1, 2), np.float32))
    out = F.cat([a, b, np.zeros((1, 2), np.float32)])
    assert out.shape == (4, 2) and out.dtype == np.float32
    (out * np.arange(8.0, dtype=np.float32).reshape(4, 2)).sum().backward()
    np.testing.assert_array_equal(a.grad, [[0, 1], [2, 3]])
    assert b.grad is None


@pytest.mark.parametrize("cond_shape, shapes", [
    ((3, 4), [(3, 4), (3, 4)]), ((3, 1), [(3, 4), (4,)]), ((4,), [(), (3, 4)]),
], ids=str)
def test_where(cond_shape, shapes):
    cond = np.random.default_rng(7).random(cond_shape) > 0.5
    check_op(shapes, lambda a, b: F.where(cond, a, b),
             lambda a, b: torch.where(torch.from_numpy(cond), a, b))
    check_op(shapes[:1], lambda a: F.where(Tensor(cond), a, 0.0),
             lambda a: torch.where(torch.from_numpy(cond), a, 0.0))


@pytest.mark.parametrize("shape, axis", [((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1), ((6,), 0)],
                         ids=str)
def test_softmax_log_softmax(shape, axis):
    check_op([shape], lambda x: x.softmax(axis), lambda x: x.softmax(axis))
    check_op([shape], lambda x: F.log_softmax(x, axis=axis), lambda x: x.log_softmax(axis))
    check_op([shape], lambda x: F.softmax(x * 30, axis), lambda x: (x * 30).softmax(axis))


def test_softmax_family_is_stable_for_huge_logits():
    x = np.array([[1000.0, 0.0, -1000.0], [-5e4, -5e4, -5e4]], np.float32)
    d = Tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):
        ls = F.log_softmax(d, axis=1)
        s = F.softmax(Tensor(x), axis=1)
        ls.backward(np.ones_like(x))
    ts = torch.log_softmax(t, 1)
    ts.backward(torch.ones_like(t))
    np.testing.assert_allclose(ls.data, ts.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(s.data, torch.softmax(t, 1).detach().numpy(), rtol=1e-6)
    assert ls.dtype == s.dtype == np.float32
    np.testing.assert_allclose(d.grad, t.grad.numpy(), atol=1e-6)


# ---- casts ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dl_fn, th_fn, to64", [
    (lambda x: x.double() * 3, lambda x: x.double() * 3, True),
    (lambda x: x.float() * 3, lambda x: x.float() * 3, False),
    (lambda x: x.astype(np.float64).exp(), lambda x: x.to(torch.float64).exp(), True),
    (lambda x: x.to(np.float32), lambda x: x.to(torch.float32), False),
    (lambda x: F.cast(x, np.float64), lambda x: x.to(torch.float64), True),
])
def test_float_casts_are_differentiable(dl_fn, th_fn, to64):
    # a cast to float32 would swamp finite differences: gradcheck only the float64 casts
    check_op([(3, 4)], dl_fn, th_fn, gradcheck_f64=to64)


def test_cast_to_integer_leaves_the_graph():
    x = Tensor(np.array([1.7, -2.2, 3.0], np.float32), requires_grad=True)
    t = torch.tensor([1.7, -2.2, 3.0], requires_grad=True)
    for y, ty in [(x.long(), t.long()), (x.astype(np.int32), t.to(torch.int32))]:
        assert str(y.dtype) == torch_dtype_name(ty)
        np.testing.assert_array_equal(y.data, ty.numpy())
        assert y.requires_grad is ty.requires_grad is False
        assert y.grad_fn is None


# ---- integer and boolean data ----------------------------------------------------------------
INT_A = np.array([[3, -2, 5], [1, 4, -6]])
INT_B = np.array([2, 3, -4])


@pytest.mark.parametrize("name, fn", [
    ("a+b", lambda a, b: a + b), ("a-b", lambda a, b: a - b), ("a*b", lambda a, b: a * b),
    ("a/b", lambda a, b: a / b), ("a/3", lambda a, b: a / 3), ("a*2.5", lambda a, b: a * 2.5),
    ("a+1", lambda a, b: a + 1), ("a**2", lambda a, b: a ** 2), ("-a", lambda a, b: -a),
    ("abs", lambda a, b: abs(a)), ("relu", lambda a, b: a.relu()),
    ("sum", lambda a, b: a.sum()), ("sum0", lambda a, b: a.sum(0)),
    ("max", lambda a, b: a.max()), ("a@b", lambda a, b: a @ b),
    ("reshape", lambda a, b: a.reshape(3, 2)), ("T", lambda a, b: a.T), ("idx", lambda a, b: a[1]),
    ("exp", lambda a, b: a.exp()), ("sigmoid", lambda a, b: a.sigmoid()),
    ("bool", lambda a, b: (a > 0) + (a > 2)),
])
def test_integer_data_follows_torch_dtypes(name, fn):
    out = fn(Tensor(INT_A), Tensor(INT_B))
    want = fn(torch.from_numpy(INT_A), torch.from_numpy(INT_B))
    assert str(out.dtype) == torch_dtype_name(want)
    np.testing.assert_allclose(out.data, want.numpy(), rtol=1e-6)
    assert not out.requires_grad


def test_comparisons_give_boolean_tensors_outside_the_graph():
    x = Tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
    t = torch.tensor([1.0, 2.0, 3.0])
    for op in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
        got = getattr(x, op)(2.0)
        np.testing.assert_array_equal(got.data, getattr(t, op)(2.0).numpy())
        assert got.dtype == np.bool_ and not got.requires_grad and got.grad_fn is None
    np.testing.assert_array_equal((x == Tensor([1.0, 0.0, 3.0])).data, [True, False, True])
    assert bool(Tensor(1.0) < 2) and float(Tensor([2.5])) == 2.5 and int(Tensor(7)) == 7
