"""PyTorch's spellings and idioms on dlbd_lib, and the numbers issue #12 found wrong.

Each test states torch's behaviour and checks dlbd_lib against torch itself where it can.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import dlbd_lib as dl
import dlbd_lib.functional as F
from dlbd_lib import DimError, GradError, ShapeError, Tensor


# ---- the tutorial loop and in-place updates -------------------------------------------------
def test_the_manual_sgd_loop_of_the_tutorials_runs_verbatim_and_matches_torch():
    x_np = np.linspace(-1, 1, 20, dtype=np.float32)
    y_np = 3 * x_np - 1
    losses = {}
    for lib in (dl, torch):
        x, y = lib.tensor(x_np), lib.tensor(y_np)
        w = lib.tensor([0.5], requires_grad=True)
        b = lib.zeros(1, requires_grad=True)
        out = []
        for _ in range(5):
            loss = ((w * x + b - y) ** 2).mean()
            loss.backward()
            with lib.no_grad():
                w -= 0.1 * w.grad
                b -= 0.1 * b.grad
                w.grad.zero_()
                b.grad.zero_()
            out.append(loss.item())
        assert w.requires_grad and w.is_leaf  # still the same parameter
        losses[lib.__name__] = out
    np.testing.assert_allclose(losses["dlbd_lib"], losses["torch"], rtol=1e-6)


def test_in_place_ops_under_no_grad_change_the_leaf_itself():
    w = dl.tensor([1.0, 2.0], requires_grad=True)
    same = w
    with dl.no_grad():
        w += 1
        w *= 2
        w.sub_(1).add_(dl.tensor([1.0, 1.0]), alpha=2).mul_(0.5).clamp_(max=3.5)
        w.div_(1)
    assert w is same and w.requires_grad
    np.testing.assert_allclose(w.data, [2.5, 3.5])  # ((x+1)*2 - 1 + 2) / 2, max 3.5
    with dl.no_grad():
        w.copy_(np.array([7.0, 8.0]))
        w.fill_(2.0)
        w.zero_()
    np.testing.assert_array_equal(w.data, [0.0, 0.0])
    n = dl.arange(3)
    n += 2
    n *= 3
    assert n.tolist() == [6, 9, 12] and n.dtype == np.int64
    for bad in (lambda: n.__iadd__(1.5), lambda: n.__itruediv__(2)):
        with pytest.raises(TypeError, match=r"cannot be stored in a int64 tensor in place"):
            bad()
    with pytest.raises(ShapeError, match=r"-=: cannot update a tensor of shape \(3,\)"):
        with dl.no_grad():
            n -= dl.ones(2, 3, dtype=np.int64)


def test_in_place_on_a_leaf_that_requires_grad_outside_no_grad_is_an_error():
    w = dl.tensor([1.0], requires_grad=True)
    with pytest.raises(GradError, match="-=: a leaf tensor that requires grad .* no_grad"):
        w -= 1.0
    with pytest.raises(RuntimeError, match="setitem: a leaf tensor that requires grad"):
        w[0] = 2.0
    t = torch.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        t -= 1.0  # torch refuses it too


def test_in_place_change_of_a_saved_tensor_is_caught_by_the_version_counter():
    w = dl.tensor([1.0, 2.0], requires_grad=True)
    x = dl.tensor([3.0, 4.0])
    y = (w * x).sum()
    with dl.no_grad():
        x += 1  # w's gradient needs the old x
    with pytest.raises(GradError, match=r"shape \(2,\) used by Mul was modified in place"):
        y.backward()


def test_grad_is_a_numpy_array_with_torchs_grad_idioms():
    w = dl.tensor([1.0, -2.0], requires_grad=True)
    (w * w).sum().backward()
    assert isinstance(w.grad, np.ndarray) and w.grad.dtype == np.float32
    assert type(w.grad * 2) is np.ndarray  # arithmetic gives plain arrays
    np.testing.assert_allclose(w.grad.norm(), np.sqrt(20))
    np.testing.assert_array_equal(w.grad.data.clone(), [2.0, -4.0])
    w.grad.data.zero_()
    np.testing.assert_array_equal(w.grad, [0.0, 0.0])
    w.grad.fill_(1.0).add_(np.ones(2), alpha=2).mul_(2)
    np.testing.assert_array_equal(w.grad.numpy(), [6.0, 6.0])
    w.grad = None
    assert w.grad is None
    w.grad = np.ones(2, np.float32)  # an assigned array gets the idioms too
    w.grad.zero_()
    assert not w.grad.any()


def test_non_leaf_in_place_arithmetic_stays_differentiable():
    w = dl.tensor([1.0, 2.0], requires_grad=True)
    h = w * 2
    h += w  # torch records it in the graph; here it becomes h = h + w
    h.sum().backward()
    np.testing.assert_array_equal(w.grad, [3.0, 3.0])


def test_setitem_writes_in_place_and_is_differentiable():
    x = dl.zeros(4)
    x[0] = 5
    x[[1, 2]] = dl.tensor([1.0, 2.0])
    x[-1:] = np.array([9.0])
    np.testing.assert_array_equal(x.data, [5.0, 1.0, 2.0, 9.0])
    for lib in (dl, torch):  # value requires grad: the write is recorded, as in torch
        w = lib.tensor([2.0, 3.0], requires_grad=True)
        h = lib.zeros(2, 3)
        h[:, 1] = w * w
        (h * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        if lib is dl:
            got = w.grad
        else:
            np.testing.assert_allclose(got, w.grad.numpy())
    t = dl.arange(24).reshape(2, 3, 4)
    t[0, :, [0, 1]] = dl.zeros(3, 2, dtype=np.int64)  # torch's shape rule for the value
    tt = torch.arange(24).reshape(2, 3, 4)
    tt[0, :, [0, 1]] = torch.zeros(3, 2, dtype=torch.int64)
    np.testing.assert_array_equal(t.data, tt.numpy())


# ---- spellings -------------------------------------------------------------------------------
def test_dim_and_keepdim_are_accepted_beside_axis_and_keepdims():
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    d, t = Tensor(a), torch.tensor(a)
    for name in ("sum", "mean", "var", "std", "amax", "logsumexp", "prod"):
        got = getattr(d, name)(dim=1, keepdim=True)
        np.testing.assert_allclose(got.data, getattr(t, name)(dim=1, keepdim=True).numpy(),
                                   rtol=1e-5)
        np.testing.assert_allclose(getattr(d, name)(axis=1, keepdims=True).data, got.data)
    np.testing.assert_array_equal(d.argmax(dim=1).data, t.argmax(dim=1).numpy())
    np.testing.assert_allclose(F.softmax(d, dim=0).data, torch.softmax(t, dim=0).numpy(),
                               rtol=1e-6)
    assert d.unsqueeze(dim=0).shape == (1, 3, 4)
    assert dl.cat([d, d], dim=1).shape == (3, 8) and F.cat([d, d], axis=1).shape == (3, 8)
    assert dl.stack([d, d], dim=2).shape == (3, 4, 2)


def test_torch_method_and_function_spellings():
    a = dl.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = dl.tensor([[0.5, 1.0], [1.5, 2.0]])
    np.testing.assert_allclose(a.matmul(b).data, a.mm(b).data)
    np.testing.assert_allclose(a.pow(2).data, (a * a).data)
    np.testing.assert_allclose(a.add(b, alpha=2).data, (a + 2 * b).data)
    np.testing.assert_allclose(a.sub(b).mul(b).div(b).data, (a - b).data)
    assert a.t().shape == (2, 2) and a.contiguous() is a and a.numel() == 4
    assert a.size() == (2, 2) and a.size(1) == 2 and a.size(-1) == 2 and a.size == 4
    assert a.int().dtype == np.int32 and a.long().dtype == np.int64
    assert a.bool().dtype == np.bool_ and a.double().dtype == np.float64
    assert a.int().float().dtype == np.float32
    assert a.to(np.float64).dtype == np.float64 and a.to("cpu") is a
    assert a.to("cpu", dl.long).dtype == np.int64 and a.type(dl.double).dtype == np.float64
    c = a.clone()
    c.data[0, 0] = 9
    assert a.data[0, 0] == 1
    bb = dl.tensor(np.ones((2, 2, 3), np.float32))
    assert dl.bmm(bb, bb.transpose(1, 2)).shape == (2, 2, 2)
    for name in ("exp", "log", "sigmoid", "tanh", "relu"):
        np.testing.assert_allclose(getattr(dl, name)(a).data,
                                   getattr(torch, name)(torch.tensor(a.data)).numpy(),
                                   rtol=1e-6)
    assert dl.sum(a).item() == 10 and dl.mean(a).item() == 2.5 and dl.matmul(a, b).shape == (2, 2)
    np.testing.assert_array_equal(dl.maximum(a, b).data, np.maximum(a.data, b.data))
    np.testing.assert_array_equal(dl.minimum(a, b).data, np.minimum(a.data, b.data))
    np.testing.assert_array_equal(dl.where(a > 2, a, b).data, np.where(a.data > 2, a.data, b.data))
    arr = np.arange(3.0)
    assert dl.from_numpy(arr).dtype == np.float64 and np.shares_memory(dl.from_numpy(arr).data, arr)
    assert dl.zeros_like(a).dtype == np.float32 and dl.ones_like(a).shape == (2, 2)
    assert dl.full_like(a, 7).data.tolist() == [[7.0, 7.0], [7.0, 7.0]]
    np.testing.assert_array_equal(dl.eye(3).data, torch.eye(3).numpy())
    np.testing.assert_allclose(dl.linspace(0, 1, 5).data, torch.linspace(0, 1, 5).numpy())
    assert dl.arange(5).dtype == np.int64 and dl.arange(0, 1, 0.5).dtype == np.float32


def test_max_min_sort_topk_with_a_dim_return_values_and_indices():
    a = np.array([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], np.float32)
    d, t = Tensor(a), torch.tensor(a)
    for name in ("max", "min"):
        dv, di = getattr(d, name)(1)
        tv, ti = getattr(t, name)(1)
        np.testing.assert_array_equal(dv.data, tv.numpy())
        np.testing.assert_array_equal(di.data, ti.numpy())
        assert getattr(d, name)(1).values.shape == (2,) and getattr(d, name)(1)[1].dtype == np.int64
        assert getattr(d, name)().shape == ()
    assert d.max(1)[0].shape == (2,)  # the usual idiom x.max(1)[0]
    ds, ts = d.sort(1, descending=True), t.sort(1, descending=True)
    np.testing.assert_array_equal(ds.values.data, ts.values.numpy())
    np.testing.assert_array_equal(ds.indices.data, ts.indices.numpy())
    dk, tk = d.topk(2, dim=1), t.topk(2, dim=1)
    np.testing.assert_array_equal(dk.values.data, tk.values.numpy())
    np.testing.assert_array_equal(dk.indices.data, tk.indices.numpy())
    np.testing.assert_array_equal(d.argsort(1).data, t.argsort(1).numpy())


def test_elementwise_max_of_two_tensors_as_torch():
    a, b = dl.tensor([1.0, 5.0], requires_grad=True), dl.tensor([3.0, 2.0], requires_grad=True)
    F.max(a, b).sum().backward()
    np.testing.assert_array_equal(F.max(a, b).data, [3.0, 5.0])
    np.testing.assert_array_equal(a.grad, [0.0, 1.0])
    np.testing.assert_array_equal(dl.min(a, b).data, [1.0, 2.0])


def test_logic_and_integer_operators():
    a, b = dl.tensor([1.0, -1.0, 2.0]), dl.tensor([0.5, 2.0, 0.1])
    ta, tb = torch.tensor(a.data), torch.tensor(b.data)
    np.testing.assert_array_equal(((a > 0) & (b < 1)).data, ((ta > 0) & (tb < 1)).numpy())
    np.testing.assert_array_equal(((a > 0) | (b < 1)).data, ((ta > 0) | (tb < 1)).numpy())
    np.testing.assert_array_equal((~(a > 0)).data, (~(ta > 0)).numpy())
    np.testing.assert_allclose((a % 0.7).data, (ta % 0.7).numpy(), rtol=1e-6)
    np.testing.assert_array_equal((a // 0.7).data, (ta // 0.7).numpy())
    assert (a // 0.7).dtype == np.float32
    with pytest.raises(TypeError, match="&: needs bool or integer tensors, got dtype float32"):
        a & b
    for name in ("logical_and", "logical_or", "logical_xor"):
        np.testing.assert_array_equal(getattr(F, name)(a > 0, b).data,
                                      getattr(torch, name)(ta > 0, tb).numpy())
    np.testing.assert_array_equal(F.logical_not(a).data, torch.logical_not(ta).numpy())
    for mode in ("floor", "trunc"):
        np.testing.assert_array_equal(a.div(0.7, rounding_mode=mode).data,
                                      ta.div(0.7, rounding_mode=mode).numpy())
        ia, ti = dl.tensor([7, -7]), torch.tensor([7, -7])
        np.testing.assert_array_equal(ia.div(2, rounding_mode=mode).data,
                                      ti.div(2, rounding_mode=mode).numpy())
    np.testing.assert_array_equal(F.floor_divide(a, 0.7).data, torch.floor_divide(ta, 0.7).numpy())


# ---- numbers and errors issue #12 found wrong ---------------------------------------------
def test_pow_gradients_at_zero_match_torch():
    x = dl.tensor([0.0], requires_grad=True)
    (x ** 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0])
    for lib in (dl, torch):
        e = lib.tensor([0.0, 1.0, 2.0], requires_grad=True)
        (0 ** e).sum().backward()
        a = lib.tensor([0.0, 2.0], requires_grad=True)
        y = lib.tensor([0.3, 0.0], requires_grad=True)
        (a ** y).sum().backward()
        grads = [np.asarray(g) for g in (e.grad, a.grad, y.grad)]
        if lib is dl:
            ours = grads
    for g_dl, g_th in zip(ours, grads):
        np.testing.assert_array_equal(g_dl, g_th)


def test_var_of_one_element_is_nan_with_a_warning_like_torch():
    with pytest.warns(RuntimeWarning, match="degrees of freedom is <= 0"):
        v = dl.tensor([1.5]).var()
    assert np.isnan(v.item())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(torch.tensor([1.5]).var().item())
        empty = dl.zeros(0, 3).var(0)
        assert empty.shape == (3,) and np.isnan(empty.data).all()
    assert dl.tensor([1.5, 2.5]).var(unbiased=False).item() == 0.25


def test_indexing_follows_torchs_advanced_index_rule():
    t, tt = dl.arange(24).reshape(2, 3, 4), torch.arange(24).reshape(2, 3, 4)
    for idx in [(0, slice(None), [0, 1]), (slice(None), [0, 1], 0), ([0, 1], slice(None), [0, 1]),
                (0, [0, 1], [1, 2]), (Ellipsis, 0, [1, 2]), (None, 0, slice(None), [1, 2]),
                (1, [2, 0]), (dl.tensor([1, 0]),), (t > 20,)]:
            tidx = tuple(torch.tensor(i.data) if isinstance(i, Tensor) else i for i in idx)
            np.testing.assert_array_equal(t[idx].data, tt[tidx].numpy(), err_msg=str(idx))
    assert t[0, :, [0, 1]].shape == (3, 2)
    w = dl.tensor(np.ones((2, 3, 4)), requires_grad=True)
    w[0, :, [0, 0, 1]].sum().backward()  # repeated indices accumulate
    assert w.grad[0, 0, 0] == 2 and w.grad[0, 0, 1] == 1 and w.grad[1].sum() == 0


def test_full_with_an_integer_is_int64_like_torch():
    assert dl.full((2,), 4).dtype == np.int64 == torch.full((2,), 4).numpy().dtype
    assert dl.full((2,), 4.0).dtype == np.float32
    assert dl.full((2,), True).dtype == np.bool_


def test_zero_dim_and_size_zero_tensors_behave_as_in_torch():
    s = dl.tensor(3.0, requires_grad=True)
    assert s.sum(0).item() == 3.0 and s.sum(-1).item() == 3.0 and s.squeeze(-1).shape == ()
    assert s.mean(0).shape == () and s.unsqueeze(-1).shape == (1,)
    assert s.softmax(0).item() == 1.0 and F.log_softmax(s, dim=-1).item() == 0.0
    for lib in (dl, torch):
        z = lib.zeros(0, 3, requires_grad=True)
        w = lib.ones(3, 4, requires_grad=True)
        (z @ w).sum().backward()
        assert tuple(z.grad.shape) == (0, 3) and not np.asarray(w.grad).any()
        v = lib.zeros(0, requires_grad=True)
        m = lib.ones(0, 2, requires_grad=True)
        (v @ m).sum().backward()
        assert tuple(v.grad.shape) == (0,) and tuple(m.grad.shape) == (0, 2)
    with pytest.raises(ShapeError, match="cat: the tensor at position 0 is 0-d"):
        dl.cat([dl.tensor(1.0), dl.tensor(2.0)])


def test_errors_carry_torchs_exception_types_and_name_the_op():
    x = dl.ones(2, 3)
    for call, pattern in [
        (lambda: x.sum(2), r"sum: dim 2 is out of range for a tensor with 2 dimensions"),
        (lambda: x.softmax(dim=3), "softmax: dim 3 is out of range"),
        (lambda: x.unsqueeze(4), r"unsqueeze: dim 4 .*expected a dim in \[-3, 2\]"),
        (lambda: x[5], r"getitem on shape \(2, 3\): index 5 is out of bounds"),
        (lambda: x.max(7), "max: dim 7 is out of range"),
        (lambda: x.gather(1, dl.tensor([[5]])), r"gather on shape .*index 5 is out of bounds"),
    ]:
        with pytest.raises(IndexError, match=pattern):
            call()
        with pytest.raises(ShapeError):  # what dlbd_lib code caught before
            call()
    assert issubclass(DimError, IndexError) and issubclass(DimError, ShapeError)
    with pytest.raises(RuntimeError, match="clamp: at least one of min and max"):
        x.clip(None, None)
    with pytest.raises(RuntimeError, match="pow: integers to negative integer powers"):
        dl.tensor([2, 3]) ** -1
    with pytest.raises(ShapeError, match=r"mm: needs two matrices, got shapes \(2, 3\) and \(3,\)"):
        x.mm(dl.ones(3))
    with pytest.raises(ShapeError, match=r"bmm: .* \(2, 3\) and \(3, 2\)"):
        dl.bmm(x, dl.ones(3, 2))
    with pytest.raises(ShapeError, match=r"t\(\): expects a tensor with <= 2 dims"):
        dl.ones(2, 2, 2).t()


def test_ipython_hides_the_engine_frames_of_a_shape_error():
    ultratb = pytest.importorskip("IPython.core.ultratb")
    import sys

    a, b = dl.ones(2, 3), dl.ones(4, 5)

    def learner_cell():
        return a @ b

    with pytest.raises(ShapeError) as info:
        learner_cell()
    text = "\n".join(ultratb.VerboseTB(theme_name="nocolor").structured_traceback(
        info.type, info.value, info.tb))
    assert "learner_cell" in text and "skipping hidden" in text
    assert "tensor_methods.py" not in text and "linalg.py" not in text
    assert "matmul: shapes (2, 3) and (4, 5) are not aligned" in text
    assert sys.exc_info()[0] is None


def test_the_values_indices_pair_still_answers_as_its_values_for_older_code():
    x = dl.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], requires_grad=True)
    pair = x.max(axis=1)
    np.testing.assert_array_equal(pair.data, [5.0, 6.0])  # attribute lookups fall back
    np.testing.assert_array_equal(np.asarray(pair), [5.0, 6.0])
    assert pair.shape == (2,) and len(pair) == 2 and pair.indices.tolist() == [1, 2]
    pair.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [0, 0, 1]])
    import pickle

    again = pickle.loads(pickle.dumps(x.detach().max(1)))
    assert type(again).__name__ == "max" and again.values.tolist() == [5.0, 6.0]
