"""dlbd_lib.nn.functional: torch.nn.functional's names and signatures on the dlbd engine.

Activations come from `dlbd_lib.functional`; layers and losses are fused ops (one graph
node each, see `_ops.py` and `loss_ops.py`). Every function checks its arguments first and
raises an error that names the shapes, dtypes or values involved.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from dlbd_lib import creation
from dlbd_lib import functional as _F
from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.nn import _ops, activation_ops, loss_ops
from dlbd_lib.nn._args import (
    IndexOutOfRangeError,
    _array,
    _check_float,
    _data,
    _reduction,
    _regression_target,
)
from dlbd_lib.nn._functional_losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_similarity,
    huber_loss,
    kl_div,
    smooth_l1_loss,
    soft_cross_entropy,
)
from dlbd_lib.nn.attention_ops import scaled_dot_product_attention
from dlbd_lib.nn.conv_ops import conv1d, conv2d
from dlbd_lib.nn.conv_transpose_ops import conv_transpose2d
from dlbd_lib.nn.fold_ops import fold, unfold
from dlbd_lib.nn.pool_ops import avg_pool2d, max_pool2d
from dlbd_lib.nn.resize_ops import adaptive_avg_pool2d, interpolate
from dlbd_lib.ops.shape import pad
from dlbd_lib.tensor import Tensor, no_grad

__all__ = [
    "relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", "gelu", "linear",
    "dropout", "embedding", "one_hot", "batch_norm", "layer_norm", "mse_loss", "l1_loss",
    "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy",
    "IndexOutOfRangeError", "conv1d", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
    "adaptive_avg_pool2d", "interpolate", "unfold", "fold", "pad",
    "silu", "elu", "softplus", "hardtanh", "group_norm",
    "huber_loss", "smooth_l1_loss", "kl_div", "cosine_similarity",
    "scaled_dot_product_attention",
]


# ---- activations --------------------------------------------------------------------------
def relu(input: Any, inplace: bool = False) -> Tensor:
    """max(x, 0) elementwise (inplace is accepted for torch's signature; never in place)."""
    return _F.relu(input)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, negative_slope * x elsewhere."""
    return _F.leaky_relu(input, negative_slope)


def sigmoid(input: Any) -> Tensor:
    """1 / (1 + e^-x) elementwise."""
    return _F.sigmoid(input)


def tanh(input: Any) -> Tensor:
    """Hyperbolic tangent elementwise."""
    return _F.tanh(input)


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """x * Phi(x) (Gaussian error linear unit); approximate='tanh' uses the tanh formula."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _ops.GELU.apply(input, approximate=approximate)


def silu(input: Any, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) elementwise (swish)."""
    _check_float("silu", input)
    return activation_ops.SiLU.apply(input)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, alpha (e^x - 1) elsewhere."""
    _check_float("elu", input)
    return activation_ops.ELU.apply(input, alpha=alpha)


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """(1 / beta) log(1 + e^(beta x)), and x itself where beta x > threshold."""
    _check_float("softplus", input)
    return activation_ops.Softplus.apply(input, beta=beta, threshold=threshold)


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]."""
    if min_val > max_val:
        raise ValueError(f"min_val cannot be greater than max_val (got min_val={min_val}, "
                         f"max_val={max_val})")
    _check_float("hardtanh", input)
    return activation_ops.Hardtanh.apply(input, min_val=min_val, max_val=max_val)


def _softmax_dim(name: str, ndim: int, dim: int | None, axis: int | None) -> int:
    if dim is not None and axis is not None and dim != axis:
        raise ValueError(f"{name}: give dim or axis, not both (got dim={dim}, axis={axis})")
    d = dim if dim is not None else axis
    if d is None:  # torch's legacy implicit choice
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                      "Change the call to include dim=X as an argument.", stacklevel=3)
        return 0 if ndim in (0, 1, 3) else 1
    if not -max(ndim, 1) <= d < max(ndim, 1):
        raise ShapeError(f"{name}: dim {d} is out of range for a tensor with {ndim} dimensions")
    return d


def softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,
            axis: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along dim (also accepted as axis), computed stably."""
    if dtype is not None:
        input = _F.cast(input, dtype)
    return _F.softmax(input, axis=_softmax_dim("softmax", np.ndim(_data(input)), dim, axis))


def log_softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None,
                *, axis: int | None = None) -> Tensor:
    """log(softmax(x)) along dim (also accepted as axis), computed stably."""
    if dtype is not None:
        input = _F.cast(input, dtype)
    return _F.log_softmax(input,
                          axis=_softmax_dim("log_softmax", np.ndim(_data(input)), dim, axis))


# ---- layers -------------------------------------------------------------------------------
def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:
    """x W^T + b as one op.   x: (*, in), W: (out, in), b: (out,) -> (*, out)."""
    w = _array(weight)
    if w.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out, in), got shape {fmt_shape(w.shape)}")
    if bias is not None and np.shape(_data(bias)) != (w.shape[0],):
        raise ShapeError(f"linear: bias must have shape ({w.shape[0]},) for a weight of shape "
                         f"{fmt_shape(w.shape)}, got {fmt_shape(np.shape(_data(bias)))}")
    return _ops.Linear.apply(input, weight, bias)


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each value with probability p and scale the rest by 1/(1-p) (training only).

    input: any shape -> same shape. The mask comes from the engine's seeded generator.
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input if isinstance(input, Tensor) else Tensor(input)
    return _ops.Dropout.apply(input, p=p, generator=creation.default_generator())


def _check_indices(who: str, idx: np.ndarray, n: int, what: str) -> None:
    if idx.dtype.kind not in "iu":
        raise DtypeError(f"{who} expects integer indices (e.g. int64), got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)].flat[0]
        raise IndexOutOfRangeError(
            f"{who}: index {bad} is out of range for {what}={n} (valid indices: 0 to {n - 1})"
        )


def embedding(input: Any, weight: Any, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of weight.   input: integer indices (*), weight: (V, D) -> (*, D).

    The padding row gets no gradient; max_norm renormalises the looked-up rows in place;
    sparse is accepted for torch's signature (the gradient is always dense).
    """
    w = _array(weight)
    idx = _array(input)
    if w.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (V, D), got shape {fmt_shape(w.shape)}")
    _check_indices("embedding", idx, w.shape[0], "num_embeddings")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += w.shape[0]
    if max_norm is not None:
        with no_grad():
            rows = np.unique(idx)
            norms = np.linalg.norm(w[rows], ord=norm_type, axis=1, keepdims=True)
            scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
            w[rows] = w[rows] * scale
            if isinstance(weight, Tensor):
                weight._bump_version()
    freq = np.bincount(idx.reshape(-1), minlength=w.shape[0]) if scale_grad_by_freq else None
    return _ops.Embedding.apply(weight, indices=idx, padding_idx=padding_idx, freq=freq)


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Integer class indices (*) -> int64 one-hot (*, num_classes); -1 infers it."""
    idx = _array(tensor)
    n = int(idx.max()) + 1 if num_classes == -1 else num_classes
    _check_indices("one_hot", idx, n, "num_classes")
    return Tensor((idx[..., None] == np.arange(n)).astype(np.int64))


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None,
               bias: Any = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Normalise each channel over the batch (and spatial) axes, then scale and shift.

    input: (N, C) or (N, C, *) -> same shape; running_mean, running_var, weight, bias: (C,).
    In training the batch statistics are used and the running ones updated in place.
    """
    x = _array(input)
    _check_float("batch_norm", x)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: expected input of shape (N, C, *), got {fmt_shape(x.shape)}")
    c = x.shape[1]
    rm, rv = _data(running_mean), _data(running_var)
    for name, arr in (("running_mean", rm), ("running_var", rv), ("weight", _data(weight)),
                      ("bias", _data(bias))):
        if arr is not None and np.shape(arr) != (c,):
            raise ShapeError(
                f"batch_norm: {name} should contain {c} elements (one per channel of input "
                f"{fmt_shape(x.shape)}), got shape {fmt_shape(np.shape(arr))}"
            )
    if training and x.size // max(c, 1) <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {fmt_shape(x.shape)}")
    if not training and (rm is None or rv is None):
        raise ValueError("batch_norm: running_mean and running_var must be given in evaluation "
                         "mode (training=False)")
    return _ops.BatchNorm.apply(input, weight, bias, running_mean=rm, running_var=rv,
                                training=training, momentum=momentum, eps=eps)


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing normalized_shape axes of each sample, scale and shift.

    input: (*, *normalized_shape) -> same shape; weight, bias: normalized_shape.
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    x = _array(input)
    _check_float("layer_norm", x)
    k = len(shape)
    if x.shape[x.ndim - k:] != shape or x.ndim < k:
        raise ShapeError(f"layer_norm: normalized_shape={shape} expects input of shape "
                         f"(*, {', '.join(map(str, shape))}), got {fmt_shape(x.shape)}")
    return _ops.LayerNorm.apply(input, weight, bias, k=k, eps=eps)


def group_norm(input: Any, num_groups: int, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise each sample over groups of C / num_groups channels, then scale and shift.

    input: (N, C, *) -> same shape; weight, bias: (C,).
    """
    x = _array(input)
    _check_float("group_norm", x)
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ShapeError(f"group_norm: expected input of shape (N, C, *) with C divisible by "
                         f"num_groups={num_groups}, got {fmt_shape(x.shape)}")
    for name, arr in (("weight", weight), ("bias", bias)):
        if arr is not None and np.shape(_data(arr)) != (x.shape[1],):
            raise ShapeError(f"group_norm: {name} must have one value per channel, shape "
                             f"({x.shape[1]},), got {fmt_shape(np.shape(_data(arr)))}")
    return _ops.GroupNorm.apply(input, weight, bias, num_groups=num_groups, eps=eps)


# ---- losses -------------------------------------------------------------------------------
def _regression(op: type, who: str, input: Any, target: Any, size_average: Any, reduce: Any,
                reduction: str, weight: Any) -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    x, target = _regression_target(who, input, target)
    if weight is not None and np.shape(_data(weight)) != x.shape:
        raise ShapeError(f"{who}: weight of shape {fmt_shape(np.shape(_data(weight)))} must "
                         f"have the input's shape {fmt_shape(x.shape)}")
    return op.apply(input, target, weight, reduction=reduction)


def mse_loss(input: Any, target: Any, size_average: bool | None = None,
             reduce: bool | None = None, reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean squared error (x - y)^2, reduced by 'mean', 'sum' or 'none'.

    input, target: same shape (broadcast with a warning otherwise). A weight (same shape)
    makes 'mean' divide by sum(weight), as torch.
    """
    return _regression(loss_ops.MSE, "mse_loss", input, target, size_average, reduce,
                       reduction, weight)


def l1_loss(input: Any, target: Any, size_average: bool | None = None,
            reduce: bool | None = None, reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean absolute error |x - y|, reduced by 'mean', 'sum' or 'none'."""
    return _regression(loss_ops.L1, "l1_loss", input, target, size_average, reduce,
                       reduction, weight)


def _class_target(who: str, x: np.ndarray, target: Any, weight: Any,
                  ignore_index: int) -> tuple[np.ndarray, bool]:
    """Check integer class targets against input (N, C, *): shape, dtype and range.

    Returns the targets and whether any of them may equal ignore_index.
    """
    _check_float(who, x)
    t = _array(target)
    expected = (x.shape[0],) + x.shape[2:]
    if t.dtype.kind not in "iu":
        hint = (f" (class probabilities need the input's shape {fmt_shape(x.shape)})"
                if t.dtype.kind == "f" and who == "cross_entropy" else "")
        raise DtypeError(f"{who} expects integer class indices as target (e.g. int64), got "
                         f"dtype {t.dtype}{hint}")
    if t.shape != expected:
        raise ShapeError(f"{who}: input of shape {fmt_shape(x.shape)} needs a target of shape "
                         f"{fmt_shape(expected)} (one class index per prediction), "
                         f"got {fmt_shape(t.shape)}")
    c = x.shape[1]
    lo, hi = (int(t.min()), int(t.max())) if t.size else (0, 0)
    if lo < 0 or hi >= c:
        bad = ((t < 0) | (t >= c)) & (t != ignore_index)
        if bad.any():
            raise IndexOutOfRangeError(
                f"{who}: target class index {t[bad].flat[0]} is out of range for {c} classes "
                f"(valid: 0 to {c - 1}, or ignore_index={ignore_index})"
            )
    if weight is not None and np.shape(_data(weight)) != (c,):
        raise ShapeError(f"{who}: weight must have one value per class, shape ({c},), got "
                         f"{fmt_shape(np.shape(_data(weight)))}")
    return t, lo <= ignore_index <= hi


def _class_loss(op: type, who: str, input: Any, target: Any, weight: Any, **kw: Any) -> Tensor:
    x = _array(input)
    if x.ndim == 1:  # one unbatched prediction: (C,) with a 0-d target
        out = _class_loss(op, who, _F.reshape(input, (1, -1)), np.reshape(_array(target), (1,)),
                          weight, **kw)
        return _F.reshape(out, ()) if kw["reduction"] == "none" else out
    if x.ndim == 0:
        raise ShapeError(f"{who}: input must have a class dimension, got a 0-d tensor")
    t, maybe_ignored = _class_target(who, x, target, weight, kw["ignore_index"])
    w = None if weight is None else _array(weight).astype(x.dtype, copy=False)
    if not maybe_ignored:
        kw["ignore_index"] = None  # no target is ignored: the op skips the masking
    return op.apply(input, t, w, **kw)


def cross_entropy(input: Any, target: Any, weight: Any = None, size_average: bool | None = None,
                  ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy, as one stable fused op, with class indices or probabilities.

    input: (N, C) logits, or (N, C, d1, ...), or (C,); target: (N,) or (N, d1, ...) class
    indices in [0, C) (or ignore_index), or float class probabilities of input's shape.
    weight: (C,) class weights.
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    reduction = _reduction(size_average, reduce, reduction)
    t = _array(target)
    if t.dtype.kind == "f" and t.shape == np.shape(_data(input)):  # class probabilities
        return soft_cross_entropy(input, target, weight, ignore_index, reduction,
                                  float(label_smoothing))
    return _class_loss(loss_ops.CrossEntropy, "cross_entropy", input, target, weight,
                       ignore_index=ignore_index, reduction=reduction,
                       label_smoothing=float(label_smoothing))


def nll_loss(input: Any, target: Any, weight: Any = None, size_average: bool | None = None,
             ignore_index: int = -100, reduce: bool | None = None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target class, for log-probabilities (log_softmax output).

    input: (N, C), (N, C, d1, ...) or (C,); target: (N,) or (N, d1, ...) class indices.
    """
    reduction = _reduction(size_average, reduce, reduction)
    return _class_loss(loss_ops.NLL, "nll_loss", input, target, weight,
                       ignore_index=ignore_index, reduction=reduction)
