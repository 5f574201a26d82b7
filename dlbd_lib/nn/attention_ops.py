"""Scaled dot-product attention: the fused softmax(q k^T / sqrt(E) + mask) op and its wrapper.

`AttentionWeights` is one graph node from (q, k) to the attention weights, so a whole
attention layer is three nodes (weights, dropout, weights @ v) whatever the number of
heads or positions: every head and every position is one batched matmul. Masks are
constants (no gradient), as they are almost always in practice.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlbd_lib import creation
from dlbd_lib import functional as _F
from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.nn import _ops
from dlbd_lib.tensor import Function, Tensor

__all__ = ["AttentionWeights", "attention_weights", "canonical_mask", "causal_mask",
           "scaled_dot_product_attention"]


class AttentionWeights(Function):
    """P = softmax(q k^T * scale + add, masked positions -> 0) along the last axis.

    q: (*, L, E), k: (*, S, E) -> (*, L, S). add: a constant float array broadcastable to
    (*, L, S) (-inf removes a position); a row with no position left gets all zeros (as
    torch's scaled_dot_product_attention), never NaN.
    """

    def forward(self, q, k, add=None, scale=1.0):
        s = np.matmul(q, np.swapaxes(k, -1, -2))
        s *= s.dtype.type(scale)
        if add is not None:
            s = s + add.astype(s.dtype, copy=False)
        m = s.max(axis=-1, keepdims=True)
        dead = ~np.isfinite(m)  # every position masked out (-inf everywhere)
        if dead.any():
            m = np.where(dead, 0, m)
        e = np.exp(s - m)
        z = e.sum(axis=-1, keepdims=True)
        p = e / np.where(z == 0, 1, z)
        self.q, self.k, self.p, self.scale = q, k, p, scale
        return p

    def backward(self, g):
        # softmax: dS = P * (dP - sum(dP * P)); S = q k^T * c: dq = dS k c, dk = dS^T q c
        p = self.p
        ds = p * (g - np.sum(g * p, axis=-1, keepdims=True))
        ds *= ds.dtype.type(self.scale)
        gq = np.matmul(ds, self.k) if self.needs_grad[0] else None
        gk = np.matmul(np.swapaxes(ds, -1, -2), self.q) if self.needs_grad[1] else None
        return gq, gk


def _array(x: Any) -> np.ndarray:
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def causal_mask(L: int, S: int | None = None) -> np.ndarray:
    """Boolean (L, S) mask, True where query i may look at key j (j <= i): lower triangle."""
    return np.tril(np.ones((L, L if S is None else S), dtype=bool))


def canonical_mask(who: str, mask: Any, dtype: Any, keep_true: bool) -> np.ndarray | None:
    """A mask as an additive float array: 0 where attention goes, -inf where it does not.

    Boolean masks: keep_true=True means True = take part (scaled_dot_product_attention);
    keep_true=False means True = masked out (nn.MultiheadAttention). Float masks are
    added as they are.
    """
    if mask is None:
        return None
    m = _array(mask)
    if m.dtype == bool:
        blocked = ~m if keep_true else m
        return np.where(blocked, -np.inf, 0.0).astype(dtype)
    if m.dtype.kind != "f":
        raise DtypeError(f"{who}: a mask must be bool or floating point, got dtype {m.dtype}")
    return m.astype(dtype, copy=False)


def attention_weights(query: Any, key: Any, add: np.ndarray | None = None,
                      scale: float | None = None) -> Tensor:
    """softmax(q k^T * scale + add) as one op.   q: (*, L, E), k: (*, S, E) -> (*, L, S)."""
    if scale is None:
        scale = 1.0 / math.sqrt(_array(query).shape[-1])
    return AttentionWeights.apply(query, key, add=add, scale=scale)


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(q k^T / sqrt(E) + mask) v, as torch.nn.functional's.

    query: (*, L, E), key: (*, S, E), value: (*, S, Ev) -> (*, L, Ev); the leading
    dimensions broadcast. attn_mask: broadcastable to (*, L, S); a boolean mask is True
    where a query may attend (torch's convention here), a float mask is added to the
    scores. is_causal: query i attends to keys 0..i only (then attn_mask must be None).
    dropout_p: dropout on the attention weights (always applied, as torch's function).
    scale: defaults to 1 / sqrt(E). A query with every key masked out gets zeros.
    """
    q, k, v = _array(query), _array(key), _array(value)
    for name, a in (("query", q), ("key", k), ("value", v)):
        if a.dtype.kind != "f":
            raise DtypeError(f"scaled_dot_product_attention: {name} must be floating point, "
                             f"got dtype {a.dtype}")
        if a.ndim < 2:
            raise ShapeError(f"scaled_dot_product_attention: {name} needs at least 2 "
                             f"dimensions (*, length, features), got {fmt_shape(a.shape)}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ShapeError(
            "scaled_dot_product_attention: query (*, L, E), key (*, S, E) and value "
            f"(*, S, Ev) do not fit: got {fmt_shape(q.shape)}, {fmt_shape(k.shape)}, "
            f"{fmt_shape(v.shape)}")
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not supported")
    L, S = q.shape[-2], k.shape[-2]
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal=True, "
                             "not both")
        attn_mask = causal_mask(L, S)
    add = canonical_mask("scaled_dot_product_attention", attn_mask, q.dtype, keep_true=True)
    if add is not None:
        try:
            np.broadcast_shapes(add.shape, q.shape[:-2] + (L, S))
        except ValueError:
            raise ShapeError(f"scaled_dot_product_attention: attn_mask of shape "
                             f"{fmt_shape(add.shape)} does not broadcast to the scores' shape "
                             f"{fmt_shape(q.shape[:-2] + (L, S))} (*, L, S)") from None
    p = attention_weights(query, key, add, scale)
    if dropout_p > 0.0:
        p = _ops.Dropout.apply(p, p=dropout_p, generator=creation.default_generator())
    return _F.matmul(p, value)
