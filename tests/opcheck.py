"""One helper for the engine tests: run an op in dlbd_lib and in torch and compare them.

`check_op(shapes, dl_fn, torch_fn)` makes random inputs of the given shapes, runs the op in
both engines (float32 and float64), and compares the forward values and dtypes, then the
gradients of sum(u * out) for a random u. In float64 it also gradient-checks dlbd_lib
against finite differences (every element for small inputs, a random projection for
larger ones). Inputs can be kept away from kinks (`away`) or positive (`low > 0`).
(The idea is tinygrad's `helper_test_op`.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from dlbd_lib import Tensor
from dlbd_lib.gradcheck import gradcheck, gradcheck_projection

TOL = {np.float32: (1e-5, 1e-4), np.float64: (1e-10, 1e-8)}  # (atol, rtol)
FULL_CHECK_MAX = 64  # elements per input up to which every element is perturbed


def torch_dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def make_inputs(shapes: Sequence[tuple], dtype: type, seed: int = 0, low: float = -2.0,
                high: float = 2.0, away: float = 0.0) -> list[np.ndarray]:
    """Uniform values in [low, high]; with away > 0, every |x| >= away (no kink at 0)."""
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        x = rng.uniform(low, high, size=shape)
        if away > 0:
            x = np.sign(x + (x == 0)) * np.maximum(np.abs(x), away)
        out.append(np.asarray(x, dtype=dtype))
    return out


def check_op(shapes: Sequence[tuple], dl_fn: Callable[..., Tensor],
             torch_fn: Callable[..., torch.Tensor] | None = None, *,
             dtypes: Sequence[type] = (np.float32, np.float64), grad: bool = True,
             gradcheck_f64: bool = True, low: float = -2.0, high: float = 2.0,
             away: float = 0.0, seed: int = 0, tol_scale: float = 1.0) -> None:
    """Compare dl_fn (on dlbd Tensors) with torch_fn (on torch tensors), forward and backward.

    shapes: one shape per input. torch_fn defaults to dl_fn (same operators and methods).
    Asserts: same shape, same dtype (float32 stays float32, float64 stays float64), values
    within tolerance; the same gradient for every input, each with its input's dtype and
    shape; and, in float64, agreement with finite differences.
    """
    torch_fn = torch_fn or dl_fn
    for dtype in dtypes:
        atol, rtol = (tol_scale * t for t in TOL[dtype])
        arrays = make_inputs(shapes, dtype, seed, low, high, away)
        d_in = [Tensor(a.copy(), requires_grad=grad) for a in arrays]
        t_in = [torch.tensor(a.copy(), requires_grad=grad) for a in arrays]
        d_out, t_out = dl_fn(*d_in), torch_fn(*t_in)
        assert isinstance(d_out, Tensor)
        assert isinstance(d_out.data, np.ndarray)
        assert d_out.shape == tuple(t_out.shape), (d_out.shape, tuple(t_out.shape))
        assert str(d_out.dtype) == torch_dtype_name(t_out), (d_out.dtype, t_out.dtype)
        np.testing.assert_allclose(d_out.data, t_out.detach().numpy(), atol=atol, rtol=rtol,
                                   err_msg=f"forward values differ ({np.dtype(dtype)})")
        if not grad:
            continue
        u = np.random.default_rng(seed + 1).standard_normal(d_out.shape).astype(d_out.dtype)
        d_out.backward(u)
        t_out.backward(torch.from_numpy(u.copy()))
        for i, (d, t) in enumerate(zip(d_in, t_in)):
            expected = np.zeros(d.shape, dtype) if t.grad is None else t.grad.numpy()
            assert isinstance(d.grad, np.ndarray), f"input {i}: no gradient"
            assert d.grad.shape == d.shape, (i, d.grad.shape, d.shape)
            assert d.grad.dtype == d.dtype, (i, d.grad.dtype, d.dtype)
            np.testing.assert_allclose(d.grad, expected, atol=atol, rtol=rtol,
                                       err_msg=f"gradient of input {i} differs ({d.dtype})")
        if dtype == np.float64 and gradcheck_f64:
            check_grad(shapes, dl_fn, low=low, high=high, away=away, seed=seed)


def check_grad(shapes: Sequence[tuple], dl_fn: Callable[..., Tensor], *, low: float = -2.0,
               high: float = 2.0, away: float = 0.0, seed: int = 0) -> None:
    """Finite-difference check in float64: full for small inputs, projections for big ones."""
    arrays = make_inputs(shapes, np.float64, seed, low, high, away)
    inputs = [Tensor(a, requires_grad=True) for a in arrays]
    if max((a.size for a in arrays), default=0) <= FULL_CHECK_MAX:
        assert gradcheck(dl_fn, inputs)
    else:
        assert gradcheck_projection(dl_fn, inputs, n_dirs=4)
