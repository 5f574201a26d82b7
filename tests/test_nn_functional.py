"""dlbd_lib.nn.functional: fused layer ops against torch (float32 and float64) and finite
differences, plus argument checking and its error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from nn_parity import single_torch_thread
from opcheck import check_op

import dlbd_lib as dl
from dlbd_lib import DtypeError, ShapeError, Tensor
from dlbd_lib.gradcheck import gradcheck, gradcheck_projection
from dlbd_lib.nn import functional as F


@pytest.fixture(autouse=True)
def _one_torch_thread():
    yield from single_torch_thread()


# ---- activations ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_elementwise_activations_match_torch(name):
    check_op([(3, 5)], getattr(F, name), getattr(TF, name), away=0.05)


def test_leaky_relu_matches_torch():
    check_op([(3, 5)], lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2),
             away=0.05)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate):
    check_op([(4, 6)], lambda x: F.gelu(x, approximate=approximate),
             lambda x: TF.gelu(x, approximate=approximate), low=-4, high=4, tol_scale=3)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family_dim_and_axis_keywords(fn, dim):
    check_op([(3, 4, 2)], lambda x: getattr(F, fn)(x, dim=dim),
             lambda x: getattr(TF, fn)(x, dim=dim))
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(getattr(F, fn)(Tensor(x), axis=1).data,
                               getattr(F, fn)(Tensor(x), 1).data)


def test_softmax_implicit_dim_warns_and_follows_torch():
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = F.softmax(Tensor(x))
    np.testing.assert_allclose(out.data, TF.softmax(torch.tensor(x), dim=1).numpy(), rtol=1e-6)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh', got 'fast'"):
        F.gelu(Tensor(np.ones(2, np.float32)), approximate="fast")


# ---- linear --------------------------------------------------------------------------------
@pytest.mark.parametrize("shapes", [[(4, 3), (5, 3), (5,)], [(2, 3, 4), (6, 4), (6,)],
                                    [(3,), (2, 3), (2,)]])
def test_linear_matches_torch(shapes):
    check_op(shapes, F.linear, TF.linear)


def test_linear_without_bias_matches_torch():
    check_op([(4, 3), (5, 3)], F.linear, TF.linear)


def test_linear_only_computes_the_gradients_that_are_needed():
    x = Tensor(np.ones((2, 3), np.float32))  # the input of a first layer needs no gradient
    w = Tensor(np.ones((4, 3), np.float32), requires_grad=True)
    F.linear(x, w).sum().backward()
    assert x.grad is None and w.grad.shape == (4, 3)
    np.testing.assert_allclose(w.grad, 2.0)


def test_linear_keeps_float32():
    out = F.linear(Tensor(np.ones((2, 3), np.float32)), Tensor(np.ones((4, 3), np.float32)),
                   Tensor(np.ones(4, np.float32)))
    assert out.dtype == np.float32


def test_linear_shape_errors():
    x, w = Tensor(np.ones((4, 6), np.float32)), Tensor(np.ones((5, 7), np.float32))
    with pytest.raises(ShapeError, match=r"input of shape \(4, 6\) does not fit a weight of "
                                         r"shape \(5, 7\): the last dimension must be 7"):
        F.linear(x, w)
    with pytest.raises(ShapeError, match=r"bias must have shape \(5,\).*got \(3,\)"):
        F.linear(Tensor(np.ones((4, 7), np.float32)), w, Tensor(np.ones(3, np.float32)))
    with pytest.raises(ShapeError, match=r"weight must be 2-D \(out, in\), got shape \(7,\)"):
        F.linear(x, Tensor(np.ones(7, np.float32)))


# ---- dropout -------------------------------------------------------------------------------
def test_dropout_statistics_and_scaling():
    dl.manual_seed(0)
    x = Tensor(np.ones((200, 500), np.float32), requires_grad=True)
    out = F.dropout(x, p=0.3)
    assert out.dtype == np.float32
    zero_frac = float((out.data == 0).mean())
    assert abs(zero_frac - 0.3) < 0.01
    np.testing.assert_allclose(out.data[out.data != 0], 1 / 0.7, rtol=1e-6)
    assert abs(float(out.data.mean()) - 1.0) < 0.01  # the expected value is preserved
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, out.data)  # the same mask scales the gradient


def test_dropout_edge_probabilities_and_eval():
    x = Tensor(np.arange(1, 7, dtype=np.float32).reshape(2, 3), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    out = F.dropout(x, 1.0)
    np.testing.assert_array_equal(out.data, 0)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, 0)


def test_dropout_is_reproducible_with_the_engine_seed():
    x = Tensor(np.ones((4, 5), np.float32))
    dl.manual_seed(3)
    a = F.dropout(x, 0.5).data
    dl.manual_seed(3)
    np.testing.assert_array_equal(a, F.dropout(x, 0.5).data)


def test_dropout_gradcheck_with_a_fixed_mask():
    x = Tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)

    def fn(t):
        dl.manual_seed(7)  # the same mask on every evaluation
        return F.dropout(t, 0.4)

    assert gradcheck(fn, [x])


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_bad_probability(p):
    with pytest.raises(ValueError, match=f"between 0 and 1, but got {p}"):
        F.dropout(Tensor(np.ones(3, np.float32)), p)


# ---- embedding -----------------------------------------------------------------------------
def _torch_embedding_grads(idx, weight, **kw):
    w = torch.tensor(weight, requires_grad=True)
    out = TF.embedding(torch.tensor(idx), w, **kw)
    u = np.random.default_rng(1).standard_normal(out.shape).astype(weight.dtype)
    out.backward(torch.tensor(u))
    return out.detach().numpy(), w.grad.numpy(), u


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 1}, {"padding_idx": -1},
                                {"scale_grad_by_freq": True}])
def test_embedding_matches_torch_with_repeated_indices(kw):
    idx = np.array([[1, 3, 3], [0, 3, 1]])
    weight = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    t_out, t_grad, u = _torch_embedding_grads(idx, weight, **kw)
    w = Tensor(weight.copy(), requires_grad=True)
    out = F.embedding(Tensor(idx), w, **kw)
    out.backward(u)
    np.testing.assert_allclose(out.data, t_out)
    np.testing.assert_allclose(w.grad, t_grad, rtol=1e-6, atol=1e-6)


def test_embedding_max_norm_renormalises_rows_like_torch():
    idx = np.array([0, 2, 2])
    weight = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32) * 3
    tw = torch.tensor(weight.copy())
    TF.embedding(torch.tensor(idx), tw, max_norm=1.0)
    w = Tensor(weight.copy(), requires_grad=True)
    F.embedding(Tensor(idx), w, max_norm=1.0)
    np.testing.assert_allclose(w.data, tw.numpy(), rtol=1e-5)


def test_embedding_gradcheck():
    w = Tensor(np.random.default_rng(0).standard_normal((6, 3)), requires_grad=True)
    idx = np.array([[0, 5, 5, 2], [2, 2, 1, 0]])
    assert gradcheck(lambda t: F.embedding(idx, t), [w])


def test_embedding_errors():
    w = Tensor(np.zeros((10, 3), np.float32))
    with pytest.raises(IndexError, match=r"index 12 is out of range for num_embeddings=10 "
                                         r"\(valid indices: 0 to 9\)"):
        F.embedding(np.array([1, 12]), w)
    with pytest.raises(IndexError, match="index -1 is out of range"):
        F.embedding(np.array([-1]), w)
    with pytest.raises(DtypeError, match="expects integer indices.*got dtype float32"):
        F.embedding(np.array([1.0], np.float32), w)


def test_one_hot():
    out = F.one_hot(Tensor(np.array([0, 2, 1])), 4)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.data, TF.one_hot(torch.tensor([0, 2, 1]), 4).numpy())
    assert F.one_hot(np.array([[1], [3]])).shape == (2, 1, 4)
    with pytest.raises(IndexError, match="index 5 is out of range for num_classes=4"):
        F.one_hot(np.array([5]), 4)


# ---- batch_norm and layer_norm -------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 4, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(shape, training):
    c = shape[1]
    rng = np.random.default_rng(0)
    rm0 = rng.standard_normal(c).astype(np.float32)
    rv0 = rng.uniform(0.5, 2, c).astype(np.float32)

    def run(lib, fn, mk):
        rm, rv = mk(rm0.copy()), mk(rv0.copy())

        def f(x, w, b):
            return fn(x, rm, rv, w, b, training=training, momentum=0.2, eps=1e-3)
        return f, rm, rv

    d_fn, d_rm, d_rv = run(dl, F.batch_norm, lambda a: a)
    t_fn, t_rm, t_rv = run(torch, TF.batch_norm, torch.tensor)
    check_op([shape, (c,), (c,)], d_fn, t_fn, dtypes=(np.float32,), gradcheck_f64=False)
    np.testing.assert_allclose(d_rm, t_rm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d_rv, t_rv.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(training):
    rng = np.random.default_rng(0)
    x, w, b = (Tensor(rng.standard_normal(s), requires_grad=True) for s in [(4, 3, 5), 3, 3])
    rm, rv = np.zeros(3), np.ones(3)
    assert gradcheck(lambda *t: F.batch_norm(t[0], rm, rv, t[1], t[2], training), [x, w, b])


def test_batch_norm_without_affine_or_running_stats():
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    out = F.batch_norm(Tensor(x), None, None, training=True)
    expected = TF.batch_norm(torch.tensor(x), None, None, training=True)
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_batch_norm_errors():
    x = Tensor(np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match=r"more than 1 value per channel when training, got "
                                         r"input size \(1, 3\)"):
        F.batch_norm(x, np.zeros(3), np.ones(3), training=True)
    with pytest.raises(ShapeError, match=r"running_mean should contain 3 elements.*got shape "
                                         r"\(4,\)"):
        F.batch_norm(Tensor(np.ones((2, 3), np.float32)), np.zeros(4), np.ones(3))
    with pytest.raises(ValueError, match="running_mean and running_var must be given"):
        F.batch_norm(Tensor(np.ones((2, 3), np.float32)), None, None, training=False)
    with pytest.raises(DtypeError, match="input must be floating point"):
        F.batch_norm(Tensor(np.ones((2, 3), np.int64)), np.zeros(3), np.ones(3))


@pytest.mark.parametrize("norm_shape", [(5,), (4, 5)])
def test_layer_norm_matches_torch(norm_shape):
    check_op([(3, 4, 5), norm_shape, norm_shape],
             lambda x, w, b: F.layer_norm(x, norm_shape, w, b),
             lambda x, w, b: TF.layer_norm(x, norm_shape, w, b))


def test_layer_norm_shape_error():
    with pytest.raises(ShapeError, match=r"normalized_shape=\(4,\) expects input of shape "
                                         r"\(\*, 4\), got \(2, 3\)"):
        F.layer_norm(Tensor(np.ones((2, 3), np.float32)), 4)


def test_big_shapes_pass_the_projection_check():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((32, 40)), requires_grad=True)
    w = Tensor(rng.standard_normal((30, 40)), requires_grad=True)
    b = Tensor(rng.standard_normal(30), requires_grad=True)
    y = rng.integers(0, 30, 32)
    assert gradcheck_projection(lambda *t: F.cross_entropy(F.relu(F.linear(*t)), y), [x, w, b])
