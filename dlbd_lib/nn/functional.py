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
from dlbd_lib.nn import _ops, loss_ops
from dlbd_lib.nn.attention_ops import scaled_dot_product_attention
from dlbd_lib.nn.conv_ops import avg_pool2d, conv2d, fold, max_pool2d, unfold
from dlbd_lib.tensor import Tensor, no_grad

__all__ = [
    "relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", "gelu", "linear",
    "dropout", "embedding", "one_hot", "batch_norm", "layer_norm", "mse_loss", "l1_loss",
    "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy",
    "IndexOutOfRangeError", "conv2d", "max_pool2d", "avg_pool2d", "unfold", "fold",
    "scaled_dot_product_attention",
]


class IndexOutOfRangeError(IndexError, ShapeError):
    """A class index or an embedding index outside the valid range (also a ValueError)."""


def _data(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _array(x: Any) -> np.ndarray:
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def _check_float(who: str, x: Any, what: str = "input") -> None:
    dt = _array(x).dtype
    if dt.kind != "f":
        raise DtypeError(f"{who}: {what} must be floating point (e.g. float32), got {dt}")


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


# ---- losses -------------------------------------------------------------------------------
def _reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    if size_average is not None or reduce is not None:  # torch's deprecated arguments
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        return "mean" if size_average and reduce else ("sum" if reduce else "none")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction "
                         "(use 'mean', 'sum' or 'none')")
    return reduction


def _as_target(target: Any, like: np.ndarray) -> Any:
    """A constant target as an array of the input's float dtype; Tensors pass through."""
    if isinstance(target, Tensor):
        return target
    t = np.asarray(target)
    return t.astype(like.dtype) if t.dtype != like.dtype and like.dtype.kind == "f" else t


def _regression(op: type, who: str, input: Any, target: Any, size_average: Any, reduce: Any,
                reduction: str, weight: Any) -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    x = _array(input)
    _check_float(who, x)
    target = _as_target(target, x)
    ts = np.shape(_data(target))
    if ts != x.shape:
        warnings.warn(f"{who}: target shape {fmt_shape(ts)} differs from input shape "
                      f"{fmt_shape(x.shape)}; they will be broadcast", stacklevel=3)
        try:
            np.broadcast_shapes(ts, x.shape)
        except ValueError:
            raise ShapeError(f"{who}: input {fmt_shape(x.shape)} and target {fmt_shape(ts)} "
                             "cannot be broadcast together") from None
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
        hint = (" (probability targets are not supported: pass class indices)"
                if t.dtype.kind == "f" and t.shape == x.shape else "")
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
    """Softmax cross-entropy with integer targets, as one stable fused op.

    input: (N, C) logits, or (N, C, d1, ...), or (C,); target: (N,) or (N, d1, ...) class
    indices in [0, C) (or ignore_index). weight: (C,) class weights.
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    reduction = _reduction(size_average, reduce, reduction)
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


def _binary_args(who: str, input: Any, target: Any, *weights: Any) -> tuple:
    x = _array(input)
    _check_float(who, x)
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
