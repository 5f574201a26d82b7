"""Tensor's named op methods with torch's spellings: x.sum(dim), x.max(1), x.gather(...).

`TensorOpMethods` is a mixin of `dlbd_lib.tensor.Tensor` (through TensorMethods). Each method
is one call into `dlbd_lib.ops`, bound here as `F` by `dlbd_lib.tensor_methods.bind_ops`.
"""

from __future__ import annotations

from typing import Any

from dlbd_lib.errors import ShapeError, fmt_shape

F: Any = None  # dlbd_lib.ops, bound once dlbd_lib.tensor has finished loading


class TensorOpMethods:
    """torch's method spellings of the ops."""

    __slots__ = ()

    # ---- arithmetic and reductions ----------------------------------------------------
    def add(self, other: Any, *, alpha: float = 1) -> Any:
        return F.add(self, other, alpha=alpha)

    def sub(self, other: Any, *, alpha: float = 1) -> Any:
        return F.sub(self, other, alpha=alpha)

    def mul(self, other: Any) -> Any:
        return F.mul(self, other)

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Any:
        return F.div(self, other, rounding_mode=rounding_mode)

    def pow(self, exponent: Any) -> Any:
        return F.pow(self, exponent)

    def matmul(self, other: Any) -> Any:
        return F.matmul(self, other)

    def mm(self, other: Any) -> Any:
        return F.mm(self, other)

    def bmm(self, other: Any) -> Any:
        return F.bmm(self, other)

    def dot(self, other: Any) -> Any:
        return F.dot(self, other)

    def outer(self, other: Any) -> Any:
        return F.outer(self, other)

    def maximum(self, other: Any) -> Any:
        return F.maximum(self, other)

    def minimum(self, other: Any) -> Any:
        return F.minimum(self, other)

    def remainder(self, other: Any) -> Any:
        return F.remainder(self, other)

    def sum(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return F.sum(self, dim, keepdim, **kw)

    def mean(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return F.mean(self, dim, keepdim, **kw)

    def var(self, dim: Any = None, unbiased: bool = True, keepdim: bool = False,
            **kw: Any) -> Any:
        return F.var(self, dim, unbiased, keepdim, **kw)

    def std(self, dim: Any = None, unbiased: bool = True, keepdim: bool = False,
            **kw: Any) -> Any:
        return F.std(self, dim, unbiased, keepdim, **kw)

    def max(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        """max() the largest value; max(dim) (values, indices); max(other) elementwise."""
        return F.max(self, dim, keepdim, **kw)

    def min(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        """min() the smallest value; min(dim) (values, indices); min(other) elementwise."""
        return F.min(self, dim, keepdim, **kw)

    def amax(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return F.amax(self, dim, keepdim, **kw)

    def amin(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return F.amin(self, dim, keepdim, **kw)

    def argmax(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return F.argmax(self, dim, keepdim, **kw)

    def argmin(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return F.argmin(self, dim, keepdim, **kw)

    def prod(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return F.prod(self, dim, keepdim, **kw)

    def cumsum(self, dim: Any = None, **kw: Any) -> Any:
        return F.cumsum(self, dim, **kw)

    def cumprod(self, dim: Any = None, **kw: Any) -> Any:
        return F.cumprod(self, dim, **kw)

    def logsumexp(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return F.logsumexp(self, dim, keepdim, **kw)

    def norm(self, p: float = 2, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return F.norm(self, p, dim, keepdim, **kw)

    def any(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return F.any(self, dim, keepdim, **kw)

    def all(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        return F.all(self, dim, keepdim, **kw)

    def sort(self, dim: int = -1, descending: bool = False, **kw: Any) -> Any:
        return F.sort(self, dim, descending, **kw)

    def argsort(self, dim: int = -1, descending: bool = False, **kw: Any) -> Any:
        return F.argsort(self, dim, descending, **kw)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
        return F.topk(self, k, dim, largest, sorted)

    # ---- shape -------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Any:
        return F.reshape(self, *shape)

    def view(self, *shape: Any) -> Any:
        return F.reshape(self, *shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Any:
        return F.flatten(self, start_dim, end_dim)

    def transpose(self, *dims: Any) -> Any:
        """transpose(d0, d1) swaps two dims, as torch; transpose() reverses them (numpy)."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        if len(dims) == 2:
            return F.swapaxes(self, dims[0], dims[1])
        return F.transpose(self, dims or None)

    def permute(self, *dims: Any) -> Any:
        return F.permute(self, *dims)

    def t(self) -> Any:
        """The transpose of a matrix (a 0-d or 1-D tensor is returned as is), as torch."""
        if self._data.ndim > 2:
            raise ShapeError(f"t(): expects a tensor with <= 2 dims, got shape "
                             f"{fmt_shape(self.shape)}; use transpose(d0, d1)")
        return F.transpose(self, None)

    @property
    def T(self) -> Any:
        return F.transpose(self, None)

    def unsqueeze(self, dim: Any = None, **kw: Any) -> Any:
        return F.unsqueeze(self, dim, **kw)

    def squeeze(self, dim: Any = None, **kw: Any) -> Any:
        return F.squeeze(self, dim, **kw)

    def expand(self, *sizes: Any) -> Any:
        return F.expand(self, *sizes)

    def expand_as(self, other: Any) -> Any:
        return F.expand(self, other.shape)

    def repeat(self, *reps: Any) -> Any:
        return F.repeat(self, *reps)

    def flip(self, *dims: Any) -> Any:
        return F.flip(self, dims[0] if len(dims) == 1 else dims)

    def roll(self, shifts: Any, dims: Any = None) -> Any:
        return F.roll(self, shifts, dims)

    def tril(self, diagonal: int = 0) -> Any:
        return F.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Any:
        return F.triu(self, diagonal)

    def chunk(self, chunks: int, dim: int = 0) -> Any:
        return F.chunk(self, chunks, dim)

    def split(self, split_size: Any, dim: int = 0) -> Any:
        return F.split(self, split_size, dim)

    def unbind(self, dim: int = 0) -> Any:
        return F.unbind(self, dim)

    def gather(self, dim: int, index: Any) -> Any:
        return F.gather(self, dim, index)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Any:
        return F.scatter_add(self, dim, index, src)

    def index_add(self, dim: int, index: Any, source: Any, *, alpha: float = 1) -> Any:
        return F.index_add(self, dim, index, source, alpha=alpha)

    def index_select(self, dim: int, index: Any) -> Any:
        return F.index_select(self, dim, index)

    def masked_fill(self, mask: Any, value: float) -> Any:
        return F.masked_fill(self, mask, value)

    # ---- elementwise -------------------------------------------------------------------
    def exp(self) -> Any:
        return F.exp(self)

    def log(self) -> Any:
        return F.log(self)

    def sqrt(self) -> Any:
        return F.sqrt(self)

    def sin(self) -> Any:
        return F.sin(self)

    def cos(self) -> Any:
        return F.cos(self)

    def tanh(self) -> Any:
        return F.tanh(self)

    def sigmoid(self) -> Any:
        return F.sigmoid(self)

    def relu(self) -> Any:
        return F.relu(self)

    def abs(self) -> Any:
        return F.abs(self)

    def floor(self) -> Any:
        return F.floor(self)

    def ceil(self) -> Any:
        return F.ceil(self)

    def round(self) -> Any:
        return F.round(self)

    def trunc(self) -> Any:
        return F.trunc(self)

    def sign(self) -> Any:
        return F.sign(self)

    def isnan(self) -> Any:
        return F.isnan(self)

    def isinf(self) -> Any:
        return F.isinf(self)

    def isfinite(self) -> Any:
        return F.isfinite(self)

    def logical_not(self) -> Any:
        return F.logical_not(self)

    def clip(self, min: Any = None, max: Any = None) -> Any:  # noqa: A002
        return F.clip(self, min, max)

    clamp = clip

    def softmax(self, dim: Any = None, **kw: Any) -> Any:
        return F.softmax(self, dim, **kw)

    def log_softmax(self, dim: Any = None, **kw: Any) -> Any:
        return F.log_softmax(self, dim, **kw)
