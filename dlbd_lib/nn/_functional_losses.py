"""More of torch.nn.functional's losses: the binary cross-entropies, huber_loss,
smooth_l1_loss, kl_div, cosine_similarity, and cross_entropy's probability-target path.

Re-exported by `dlbd_lib.nn.functional`; each checks its arguments, then calls one fused op.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.nn import loss_ops
from dlbd_lib.nn._args import (
    IndexOutOfRangeError,
    _array,
    _as_target,
    _check_float,
    _data,
    _reduction,
    _regression_target,
)
from dlbd_lib.nn.distance_ops import CosineSimilarity
from dlbd_lib.nn.divergence_ops import KLDiv, SoftCrossEntropy
from dlbd_lib.tensor import Tensor

__all__ = ["binary_cross_entropy_with_logits", "binary_cross_entropy", "huber_loss",
           "smooth_l1_loss", "kl_div", "cosine_similarity"]


def _binary_args(who: str, input: Any, target: Any, *weights: Any) -> tuple:
    x = _array(input)
    _check_float(who, x)
    tdt = _array(target).dtype
    if tdt.kind != "f":  # torch raises too: an integer target is a forgotten .float()
        raise DtypeError(f"{who}: target must be floating point like the input ({x.dtype}), "
                         f"got dtype {tdt}; convert it with target.float() "
                         "(or .astype(np.float32))")
    target = _as_target(target, x)
    ts = np.shape(_data(target))
    if ts != x.shape:
        raise ShapeError(f"{who}: target size {fmt_shape(ts)} must be the same as input size "
                         f"{fmt_shape(x.shape)}")
    out = [input, target]
    for w in weights:
        if w is not None and not isinstance(w, Tensor):
            w = np.asarray(w, dtype=x.dtype)
        if w is not None:
            try:
                np.broadcast_shapes(np.shape(_data(w)), x.shape)
            except ValueError:
                raise ShapeError(f"{who}: a weight of shape {fmt_shape(np.shape(_data(w)))} "
                                 f"cannot be broadcast to the input {fmt_shape(x.shape)}") from None
        out.append(w)
    return tuple(out)


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None,
                                     size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:
    """Sigmoid + binary cross-entropy as one stable op (never overflows for large logits).

    input: logits, any shape; target: same shape, values in [0, 1]; weight broadcasts to
    the input; pos_weight weighs the positive term (e.g. shape (C,) for (N, C) input).
    """
    reduction = _reduction(size_average, reduce, reduction)
    args = _binary_args("binary_cross_entropy_with_logits", input, target, weight, pos_weight)
    return loss_ops.BCEWithLogits.apply(*args, reduction=reduction)


def binary_cross_entropy(input: Any, target: Any, weight: Any = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on probabilities (e.g. sigmoid output), logs clamped at -100.

    input: probabilities in [0, 1], any shape; target: same shape; weight broadcasts.
    """
    reduction = _reduction(size_average, reduce, reduction)
    args = _binary_args("binary_cross_entropy", input, target, weight)
    x = _array(input)
    if x.size and (x.min() < 0 or x.max() > 1 or np.isnan(x).any()):
        raise ValueError("binary_cross_entropy: all elements of input should be between 0 and "
                         f"1 (probabilities), got values in [{x.min()}, {x.max()}]; use "
                         "binary_cross_entropy_with_logits for raw scores")
    return loss_ops.BCE.apply(*args, reduction=reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0,
               weight: Any = None) -> Tensor:
    """Squared error below delta, delta * absolute error above: 0.5 d^2 or delta (|d| - delta/2).

    input, target: same shape (broadcast with a warning otherwise); weight: the input's
    shape, scales each element ('mean' still divides by the element count, as torch).
    """
    reduction = _reduction(None, None, reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, "
                           f"got delta={delta}")
    x, target = _regression_target("huber_loss", input, target)
    if weight is not None:
        if not isinstance(weight, Tensor):
            weight = np.asarray(weight, dtype=x.dtype)
        if np.shape(_data(weight)) != x.shape:  # torch: "Weights and input must have the same size"
            raise ShapeError(f"huber_loss: weight of shape {fmt_shape(np.shape(_data(weight)))} "
                             f"must have the input's shape {fmt_shape(x.shape)}")
    return loss_ops.Huber.apply(input, target, weight, reduction=reduction, delta=float(delta))


def smooth_l1_loss(input: Any, target: Any, size_average: bool | None = None,
                   reduce: bool | None = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, |d| - beta/2 elsewhere (beta = 0: the L1 loss).

    input, target: same shape (broadcast with a warning otherwise).
    """
    reduction = _reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta, "
                           f"got beta={beta}")
    _, target = _regression_target("smooth_l1_loss", input, target)
    return loss_ops.SmoothL1.apply(input, target, reduction=reduction, beta=float(beta))


def kl_div(input: Any, target: Any, size_average: bool | None = None, reduce: bool | None = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence of target from input: sum t (log t - x), x = log-probabilities.

    input: log-probabilities, any shape; target: probabilities (log-probabilities if
    log_target), same shape. reduction 'batchmean' (sum / N) is the true KL divergence;
    'mean' divides by every element and warns, as torch.
    """
    reduction = _reduction(size_average, reduce, reduction,
                           allowed=("mean", "batchmean", "sum", "none"))
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", stacklevel=2)
    _, target = _regression_target("kl_div", input, target, stacklevel=3)
    return KLDiv.apply(input, target, reduction=reduction, log_target=bool(log_target))


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 x2) / (max(|x1|, eps) max(|x2|, eps)) along dim.

    x1, x2: shapes that broadcast to S -> S without dim.
    """
    a, b = _array(x1), _array(x2)
    _check_float("cosine_similarity", a, "x1")
    _check_float("cosine_similarity", b, "x2")
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"cosine_similarity: x1 {fmt_shape(a.shape)} and x2 "
                         f"{fmt_shape(b.shape)} cannot be broadcast together") from None
    n = max(len(shape), 1)
    if not -n <= dim < n:
        raise IndexOutOfRangeError(f"cosine_similarity: dim {dim} is out of range for inputs "
                                   f"of shape {fmt_shape(shape)} (valid: {-n} to {n - 1})")
    if not shape:  # two 0-d tensors: cosine of two scalars
        x1, x2 = (t.reshape(1) if isinstance(t, Tensor) else np.reshape(t, 1) for t in (x1, x2))
        dim = 0
    return CosineSimilarity.apply(x1, x2, dim=dim % max(len(shape), 1), eps=float(eps))


def soft_cross_entropy(input: Any, target: Any, weight: Any, ignore_index: int, reduction: str,
                       label_smoothing: float) -> Tensor:
    """cross_entropy with class probabilities as target (same shape as input)."""
    x = _array(input)
    _check_float("cross_entropy", x)
    if ignore_index >= 0:  # torch's rule: only a negative (unused) ignore_index is allowed
        raise RuntimeError("cross_entropy: ignore_index is not supported for floating point "
                           f"(probability) targets, got ignore_index={ignore_index}")
    if x.ndim == 0:
        raise ShapeError("cross_entropy: input must have a class dimension, got a 0-d tensor")
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    if weight is not None:
        if np.shape(_data(weight)) != (c,):
            raise ShapeError(f"cross_entropy: weight must have one value per class, shape "
                             f"({c},), got {fmt_shape(np.shape(_data(weight)))}")
        weight = _array(weight).astype(x.dtype, copy=False)
    target = _as_target(target, x)
    if x.ndim == 1:  # one unbatched prediction: (C,) with (C,) probabilities
        out = SoftCrossEntropy.apply(_reshape(input, (1, c)), _reshape(target, (1, c)), weight,
                                     reduction=reduction, label_smoothing=label_smoothing)
        return _reshape(out, ()) if reduction == "none" else out
    return SoftCrossEntropy.apply(input, target, weight, reduction=reduction,
                                  label_smoothing=label_smoothing)


def _reshape(t: Any, shape: tuple) -> Any:
    return t.reshape(shape) if isinstance(t, Tensor) else np.reshape(t, shape)
