"""Broadcasting, property-based: random broadcastable shapes, values and grads against torch."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes
from opcheck import TOL, make_inputs, torch_dtype_name

import dlbd_lib.functional as F
from dlbd_lib import Tensor, unbroadcast

SETTINGS = settings(max_examples=30, deadline=None)
PAIRS = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1,
                                      max_side=4)
TRIPLES = mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=1,
                                        max_side=3)
MATMUL_SHAPES = mutually_broadcastable_shapes(signature=np.matmul.signature, min_dims=0,
                                              max_dims=2, min_side=1, max_side=4)
DTYPES = st.sampled_from([np.float32, np.float64])
OPS = {"add": (F.add, torch.add), "sub": (F.sub, torch.sub), "mul": (F.mul, torch.mul),
       "div": (F.div, torch.div), "maximum": (F.maximum, torch.maximum),
       "minimum": (F.minimum, torch.minimum), "remainder": (F.remainder, torch.remainder),
       "max(a, b)": (F.max, torch.max)}


def run_both(dl_fn, th_fn, shapes, dtype, seed):
    """Forward and backward in both engines; compare values, dtypes, shapes and grads."""
    atol, rtol = TOL[dtype]
    arrays = make_inputs(shapes, dtype, seed=seed, away=0.3)
    d_in = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    d_out, t_out = dl_fn(*d_in), th_fn(*t_in)
    assert d_out.shape == tuple(t_out.shape)
    assert str(d_out.dtype) == torch_dtype_name(t_out) == np.dtype(dtype).name
    np.testing.assert_allclose(d_out.data, t_out.detach().numpy(), atol=atol, rtol=rtol)
    u = np.random.default_rng(seed).standard_normal(d_out.shape).astype(dtype)
    d_out.backward(u)
    t_out.backward(torch.from_numpy(u.copy()))
    for d, t, shape in zip(d_in, t_in, shapes):
        assert d.grad.shape == tuple(shape) and d.grad.dtype == dtype
        np.testing.assert_allclose(d.grad, t.grad.numpy(), atol=atol, rtol=rtol)


@SETTINGS
@given(shapes=PAIRS, op=st.sampled_from(sorted(OPS)), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_elementwise_ops_broadcast_like_torch(shapes, op, dtype, seed):
    dl_fn, th_fn = OPS[op]
    run_both(dl_fn, th_fn, shapes.input_shapes, dtype, seed)


@SETTINGS
@given(shapes=TRIPLES, dtype=DTYPES, seed=st.integers(0, 2**16))
def test_three_broadcast_operands_with_reuse(shapes, dtype, seed):
    """a*b + c/a - b: each input used twice, three shapes broadcast together."""
    run_both(lambda a, b, c: a * b + c / a - b, lambda a, b, c: a * b + c / a - b,
             shapes.input_shapes, dtype, seed)


@SETTINGS
@given(shapes=TRIPLES, dtype=DTYPES, seed=st.integers(0, 2**16))
def test_where_broadcasts_condition_and_both_branches_like_torch(shapes, dtype, seed):
    cond_shape, a_shape, b_shape = shapes.input_shapes
    cond = np.asarray(np.random.default_rng(seed).random(cond_shape) > 0.5)
    run_both(lambda a, b: F.where(Tensor(cond), a, b),
             lambda a, b: torch.where(torch.from_numpy(cond), a, b), [a_shape, b_shape], dtype,
             seed)


@SETTINGS
@given(shapes=MATMUL_SHAPES, dtype=DTYPES, seed=st.integers(0, 2**16))
def test_matmul_with_batch_dimensions_like_torch(shapes, dtype, seed):
    run_both(F.matmul, torch.matmul, shapes.input_shapes, dtype, seed)


@SETTINGS
@given(shapes=PAIRS, seed=st.integers(0, 2**16))
def test_unbroadcast_is_the_adjoint_of_broadcasting(shapes, seed):
    """<unbroadcast(g, s), x> == <g, broadcast_to(x, big)> for every x of shape s."""
    big = shapes.result_shape
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(big)
    for shape in shapes.input_shapes:
        x = rng.standard_normal(shape)
        reduced = unbroadcast(g, tuple(shape))
        assert reduced.shape == tuple(shape)
        np.testing.assert_allclose(np.sum(reduced * x), np.sum(g * np.broadcast_to(x, big)),
                                   rtol=1e-10, atol=1e-10)


def test_unbroadcast_examples():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(unbroadcast(g, (4,)), g.sum((0, 1)))
    np.testing.assert_array_equal(unbroadcast(g, (3, 1)), g.sum(0).sum(1, keepdims=True))
    np.testing.assert_array_equal(unbroadcast(g, (2, 1, 1)), g.sum((1, 2), keepdims=True))
    assert unbroadcast(g, ()) == g.sum()
    assert unbroadcast(g, (2, 3, 4)) is g  # nothing to do: no copy
