"""Transformer encoder blocks with torch's parameter names, and sinusoidal positions.

TransformerEncoderLayer: self-attention and a two-layer feed-forward network, each wrapped
in a residual connection and a LayerNorm, post-norm (the 2017 paper, torch's default) or
pre-norm (norm_first=True, what most large models use because it trains more stably).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from dlbd_lib.nn import functional as F
from dlbd_lib.nn.attention import MultiheadAttention
from dlbd_lib.nn.container import ModuleList
from dlbd_lib.nn.dropout import Dropout
from dlbd_lib.nn.linear import Linear
from dlbd_lib.nn.module import Module
from dlbd_lib.nn.normalization import LayerNorm
from dlbd_lib.tensor import Tensor

__all__ = ["TransformerEncoderLayer", "TransformerEncoder", "PositionalEncoding",
           "sinusoidal_positional_encoding", "generate_square_subsequent_mask"]


def sinusoidal_positional_encoding(num_positions: int, d_model: int, base: float = 10000.0,
                                   dtype: Any = np.float32) -> np.ndarray:
    """The fixed positions of "Attention is all you need".   -> (num_positions, d_model).

    PE[p, 2i] = sin(p / base^(2i / d_model)), PE[p, 2i + 1] = cos(p / base^(2i / d_model)):
    each pair of columns is a clock turning at its own speed, from one turn every 2 pi
    positions (i = 0) to one every 2 pi * base positions.
    """
    if d_model <= 0 or num_positions < 0:
        raise ValueError(f"sinusoidal_positional_encoding: need num_positions >= 0 and "
                         f"d_model > 0, got {num_positions} and {d_model}")
    pos = np.arange(num_positions, dtype=np.float64)[:, None]
    freq = base ** (-np.arange(0, d_model, 2, dtype=np.float64) / d_model)   # (ceil(d/2),)
    angles = pos * freq
    pe = np.zeros((num_positions, d_model))
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, : d_model // 2])
    return pe.astype(dtype)


def generate_square_subsequent_mask(sz: int, dtype: Any = np.float32) -> np.ndarray:
    """Float (sz, sz) causal mask as torch's: 0 on and below the diagonal, -inf above."""
    return np.triu(np.full((sz, sz), -np.inf, dtype=dtype), k=1)


class PositionalEncoding(Module):
    """Add sinusoidal positions to a batch of embeddings, then dropout.

    input: (N, L, d_model) (batch_first=True) or (L, N, d_model) -> the same shape.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0,
                 batch_first: bool = True) -> None:
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.dropout = Dropout(dropout)
        self.pe = sinusoidal_positional_encoding(max_len, d_model)  # fixed: not in state_dict

    def forward(self, x: Tensor) -> Tensor:
        length = x.shape[1] if self.batch_first else x.shape[0]
        if length > self.max_len:
            raise ValueError(f"PositionalEncoding: sequence of length {length} is longer than "
                             f"max_len={self.max_len}")
        pe = np.asarray(self.pe)[:length].astype(x.dtype, copy=False)
        return self.dropout(x + (pe if self.batch_first else pe[:, None, :]))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"


def _activation(activation: str | Callable) -> Callable:
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


class TransformerEncoderLayer(Module):
    """Self-attention + feed-forward, each with a residual connection and LayerNorm (torch's).

    Parameters: self_attn.* (MultiheadAttention), linear1 (d_model -> dim_feedforward),
    linear2 (back), norm1, norm2. src: (S, N, d_model) ((N, S, d_model) with
    batch_first=True, or unbatched (S, d_model)) -> the same shape.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation_name = activation if isinstance(activation, str) else None
        self.activation = _activation(activation)

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        """src: (S, N, E) or (N, S, E) -> the same shape; masks as in MultiheadAttention."""
        x = src if isinstance(src, Tensor) else Tensor(src)
        if self.norm_first:  # pre-norm: x + f(norm(x)); the residual path stays clean
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:                # post-norm: norm(x + f(x)), as in the 2017 paper
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x


class TransformerEncoder(Module):
    """num_layers copies of encoder_layer (layers.0, layers.1, ...), then an optional norm.

    src: (S, N, E) or (N, S, E) (as the layer's batch_first) -> the same shape.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True) -> None:
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)

