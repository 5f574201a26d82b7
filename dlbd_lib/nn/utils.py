"""Gradient clipping and parameter/vector conversion, with torch.nn.utils's formulas.

Gradients are replaced by new arrays (p.grad = clipped) rather than changed in place:
the engine may hand the same array to more than one place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from dlbd_lib import functional as _F
from dlbd_lib.errors import ShapeError, fmt_shape
from dlbd_lib.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
           "parameters_to_vector", "vector_to_parameters"]


def _as_list(parameters: Any) -> list:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _vector_norm(x: np.ndarray, p: float) -> np.ndarray:
    """The p-norm of x viewed as one vector, in x's dtype (inf: max |x|, 0: count of non-zeros)."""
    a = np.abs(x).reshape(-1)
    if p == 2:
        return np.sqrt(np.dot(a, a))
    if p == 1:
        return a.sum()
    if math.isinf(p):
        if a.size == 0:
            return np.zeros((), dtype=x.dtype)
        return a.max() if p > 0 else a.min()
    if p == 0:
        return np.asarray(np.count_nonzero(a), dtype=x.dtype)
    return (a**p).sum() ** (1.0 / p)


def get_total_norm(tensors: Any, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The norm of the norms of arrays/tensors: their norm as if concatenated into one vector."""
    norm_type = float(norm_type)
    arrays = [t.data if isinstance(t, Tensor) else np.asarray(t) for t in _as_list(tensors)]
    if not arrays:
        return Tensor(np.zeros((), dtype=np.float32))
    norms = np.array([_vector_norm(a, norm_type) for a in arrays], dtype=arrays[0].dtype)
    total = np.asarray(_vector_norm(norms, norm_type), dtype=arrays[0].dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return Tensor(total)


def clip_grads_with_norm_(parameters: Any, max_norm: float, total_norm: Any,
                          foreach: bool | None = None) -> None:
    """Scale every gradient by min(1, max_norm / (total_norm + 1e-6))."""
    params = [p for p in _as_list(parameters) if p.grad is not None]
    if not params:
        return
    total = np.asarray(total_norm.data if isinstance(total_norm, Tensor) else total_norm)
    clip_coef = float(max_norm) / (total + 1e-6)
    coef = np.minimum(clip_coef, 1.0)  # multiplying by 1 as well keeps torch's exact rounding
    for p in params:
        p.grad = p.grad * coef.astype(p.grad.dtype)


def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Rescale the gradients so that their total norm is at most max_norm (as torch).

    parameters: a Tensor or an iterable of them (e.g. model.parameters()). Returns the total
    norm before clipping, as a 0-d Tensor.
    """
    params = _as_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(parameters: Any, clip_value: float, foreach: bool | None = None) -> None:
    """Clip every gradient value into [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            p.grad = np.clip(p.grad, -clip_value, clip_value).astype(p.grad.dtype, copy=False)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and joined into one vector (differentiable)."""
    return _F.cat([_F.reshape(p, (-1,)) for p in parameters], axis=0)


def vector_to_parameters(vec: Any, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of a vector into the parameters, in place."""
    v = vec.data if isinstance(vec, Tensor) else np.asarray(vec)
    if v.ndim != 1:
        raise ShapeError(f"vector_to_parameters: expected a 1-D vector, got shape "
                         f"{fmt_shape(v.shape)}")
    params = list(parameters)
    needed = sum(p.size for p in params)
    if v.size != needed:
        raise ShapeError(f"vector_to_parameters: the vector has {v.size} values but the "
                         f"parameters hold {needed}")
    start = 0
    for p in params:
        p.data[...] = v[start:start + p.size].reshape(p.shape)
        p._bump_version()
        start += p.size
