"""nn.MultiheadAttention with torch's parameters, masks and initialisation.

Heads are a reshape, never a loop: (N, L, E) -> (N, L, H, D) -> (N, H, L, D), one batched
matmul for the scores of every head, and back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib import functional as _F
from dlbd_lib.errors import ShapeError, fmt_shape
from dlbd_lib.nn import functional as F
from dlbd_lib.nn import init
from dlbd_lib.nn.attention_ops import attention_weights, canonical_mask
from dlbd_lib.nn.linear import Linear
from dlbd_lib.nn.module import Module, Parameter
from dlbd_lib.tensor import Tensor

__all__ = ["MultiheadAttention", "split_heads", "merge_heads"]


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(N, L, E) -> (N, H, L, E / H): the features of each position cut into H heads."""
    n, length, e = x.shape
    return x.reshape(n, length, num_heads, e // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x: Tensor) -> Tensor:
    """(N, H, L, D) -> (N, L, H * D): the inverse of split_heads."""
    n, h, length, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, length, h * d)


class MultiheadAttention(Module):
    """Multi-head attention as torch.nn.MultiheadAttention (kdim = vdim = embed_dim).

    Parameters: in_proj_weight (3E, E) (the q, k and v projections stacked, Xavier-uniform),
    in_proj_bias (3E,) (zeros), out_proj.weight (E, E), out_proj.bias (E,) (zeros).
    query: (L, N, E), key and value: (S, N, E) ((N, L, E) with batch_first=True, or
    unbatched (L, E)) -> output of the query's shape, and the attention weights
    (N, L, S) averaged over heads or (N, H, L, S), or None when need_weights=False.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be a positive multiple of "
                             f"num_heads ({num_heads})")
        if add_bias_kv or add_zero_attn or kdim not in (None, embed_dim) \
                or vdim not in (None, embed_dim):
            raise NotImplementedError("MultiheadAttention: add_bias_kv, add_zero_attn and "
                                      "kdim/vdim different from embed_dim are not supported")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout, self.batch_first = dropout, batch_first
        self.kdim = self.vdim = embed_dim
        self._qkv_same_embed_dim = True
        self.in_proj_weight = Parameter(init._empty((3 * embed_dim, embed_dim), device, dtype))
        if bias:
            self.in_proj_bias = Parameter(init._empty((3 * embed_dim,), device, dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """torch's: Xavier-uniform in_proj_weight, zero biases, out_proj.weight as Linear's."""
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _project(self, x: Tensor, i: int) -> Tensor:
        """Projection i (0 = query, 1 = key, 2 = value) of x: (N, L, E) -> (N, L, E)."""
        e = self.embed_dim
        w = self.in_proj_weight[i * e:(i + 1) * e]
        b = None if self.in_proj_bias is None else self.in_proj_bias[i * e:(i + 1) * e]
        return F.linear(x, w, b)

    def _masks(self, n: int, length: int, s: int, key_padding_mask: Any, attn_mask: Any,
               dtype: Any) -> np.ndarray | None:
        """attn_mask and key_padding_mask as one additive array broadcastable to (N, H, L, S)."""
        h = self.num_heads
        am = canonical_mask("MultiheadAttention: attn_mask", attn_mask, dtype, keep_true=False)
        if am is not None:
            if am.shape == (length, s):
                am = am[None, None]
            elif am.shape == (n * h, length, s):
                am = am.reshape(n, h, length, s)
            else:
                raise ShapeError(f"MultiheadAttention: attn_mask must have shape (L, S) = "
                                 f"({length}, {s}) or (N * num_heads, L, S) = "
                                 f"({n * h}, {length}, {s}), got {fmt_shape(am.shape)}")
        kpm = canonical_mask("MultiheadAttention: key_padding_mask", key_padding_mask, dtype,
                             keep_true=False)
        if kpm is not None:
            if kpm.shape != (n, s):
                raise ShapeError(f"MultiheadAttention: key_padding_mask must have shape (N, S) "
                                 f"= ({n}, {s}), got {fmt_shape(kpm.shape)}")
            kpm = kpm[:, None, None, :]
            am = kpm if am is None else am + kpm
        return am

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """query (L, N, E), key/value (S, N, E) -> (output (L, N, E), weights or None).

        Boolean masks are True where attention is NOT allowed (torch's module convention);
        float masks are added to the scores. attn_mask: (L, S) or (N * num_heads, L, S);
        key_padding_mask: (N, S). is_causal is a hint, as in torch: attn_mask must be given.
        """
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use "
                               "generate_square_subsequent_mask to create this mask.")
        if not all(isinstance(t, Tensor) for t in (query, key, value)):
            query, key, value = (t if isinstance(t, Tensor) else Tensor(t)
                                 for t in (query, key, value))
        unbatched = query.ndim == 2
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.ndim != query.ndim or t.ndim not in (2, 3) or t.shape[-1] != self.embed_dim:
                layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
                raise ShapeError(
                    f"MultiheadAttention(embed_dim={self.embed_dim}): {name} must be {layout} "
                    f"or unbatched (L, E) like the query, with E = {self.embed_dim}; got "
                    f"query {fmt_shape(query.shape)}, key {fmt_shape(key.shape)}, value "
                    f"{fmt_shape(value.shape)}")
        if unbatched:
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = _F.unsqueeze(key_padding_mask, 0).numpy() \
                    if isinstance(key_padding_mask, Tensor) else np.asarray(key_padding_mask)[None]
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if key.shape != value.shape:
            raise ShapeError(f"MultiheadAttention: key and value must have the same shape, got "
                             f"{fmt_shape(key.shape)} and {fmt_shape(value.shape)}")
        n, length, _ = query.shape
        s = key.shape[1]
        if key.shape[0] != n:
            raise ShapeError(f"MultiheadAttention: query and key have different batch sizes "
                             f"({n} and {key.shape[0]})")
        if query is key and key is value:  # self-attention: one GEMM for q, k and v
            qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)
            e = self.embed_dim
            q, k, v = qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
        else:
            q, k, v = self._project(query, 0), self._project(key, 1), self._project(value, 2)
        h = self.num_heads
        add = self._masks(n, length, s, key_padding_mask, attn_mask, query.dtype)
        p = attention_weights(split_heads(q, h), split_heads(k, h), add)  # (N, H, L, S)
        p = F.dropout(p, self.dropout, self.training)
        out = self.out_proj(merge_heads(p @ split_heads(v, h)))            # (N, L, E)
        if unbatched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        weights = p.mean(axis=1) if average_attn_weights else p
        return out, (weights.squeeze(0) if unbatched else weights)
