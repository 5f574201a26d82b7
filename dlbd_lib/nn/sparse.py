"""Embedding: a learnable lookup table from integer indices (tokens, users, items) to vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib.errors import DtypeError, fmt_shape
from dlbd_lib.nn import functional as F
from dlbd_lib.nn import init
from dlbd_lib.nn.module import Module, Parameter, to_numpy
from dlbd_lib.tensor import Tensor

__all__ = ["Embedding"]


class Embedding(Module):
    """Row lookup in a (num_embeddings, embedding_dim) table.   indices (*) -> (*, embedding_dim).

    weight is initialised from N(0, 1); the padding_idx row (if given) is zero and gets no
    gradient. Repeated indices in a batch accumulate their gradients in the same row.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Any = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            if padding_idx < 0:
                padding_idx += num_embeddings
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            shape = (num_embeddings, embedding_dim)
            self.weight = Parameter(init._empty(shape, device, dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            w = np.array(to_numpy(_weight), copy=True)
            if w.shape != (num_embeddings, embedding_dim):
                raise AssertionError("Shape of weight does not match num_embeddings and "
                                     "embedding_dim")
            self.weight = Parameter(w, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """weight ~ N(0, 1), then the padding row set to zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input: Any) -> Tensor:
        """input: integer indices of any shape (*) -> (*, embedding_dim)."""
        idx = input._data if isinstance(input, Tensor) else np.asarray(input)
        name = f"Embedding({self.num_embeddings}, {self.embedding_dim})"
        if idx.dtype.kind not in "iu":
            raise DtypeError(f"{name} expects integer indices (e.g. int64), got dtype "
                             f"{idx.dtype} for input of shape {fmt_shape(idx.shape)}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            bad = idx[(idx < 0) | (idx >= self.num_embeddings)].flat[0]
            raise F.IndexOutOfRangeError(
                f"{name}: index {bad} is out of range for num_embeddings="
                f"{self.num_embeddings} (valid indices: 0 to {self.num_embeddings - 1})"
            )
        return F.embedding(idx, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding holding a copy of embeddings (V, D); frozen (no gradient) by default."""
        arr = to_numpy(embeddings)
        if arr.ndim != 2:
            raise ValueError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = arr.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=arr, _freeze=freeze)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s
