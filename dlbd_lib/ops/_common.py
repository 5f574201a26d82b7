"""Helpers the op families share: torch's dim/axis spellings, dim checks, return types."""

from __future__ import annotations

import builtins
from collections import namedtuple
from typing import Any

import numpy as np

from dlbd_lib.errors import DimError, fmt_shape


def pick_dim(dim: Any, axis: Any) -> Any:
    """torch's `dim=` or numpy's `axis=` (both accepted; dim wins when both are given)."""
    return axis if dim is None else dim


def norm_dims(dim: Any, ndim: int, op: str = "", new: int = 0) -> tuple:
    """dim (int, sequence or None for all) as a tuple of non-negative dims, checked.

    A 0-d tensor accepts dims 0 and -1 (as in torch) and reduces over nothing. `new` = 1
    for ops that insert a dim (unsqueeze, stack): one more position is valid.
    """
    if dim is None:
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    out = []
    top = builtins.max(ndim + new, 1)
    for d in dims:
        d = int(d)
        if not -top <= d < top:
            where = f"{op}: " if op else ""
            raise DimError(f"{where}dim {d} is out of range for a tensor with {ndim} "
                           f"dimensions (expected a dim in [{-top}, {top - 1}])")
        out.append(d % top)
    return tuple(out) if ndim + new else ()


def norm_dim(dim: Any, ndim: int, op: str = "", new: int = 0) -> int:
    """One dim as a non-negative int (0 for a 0-d tensor)."""
    dims = norm_dims(dim, ndim, op, new)
    return dims[0] if dims else 0


def expand_back(g: np.ndarray, axes: tuple, keepdim: bool, shape: tuple) -> np.ndarray:
    """Put the reduced axes back (size 1) and broadcast to `shape`."""
    if not keepdim and axes:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def shape_of(x: Any) -> tuple:
    """The shape of a Tensor, array or number."""
    return tuple(np.shape(getattr(x, "_data", x)))


def describe(*xs: Any) -> str:
    """'(3, 4) and (5,)': the shapes of the inputs, for messages."""
    return " and ".join(fmt_shape(shape_of(x)) for x in xs)


class _ValuesIndices:
    """torch.return_types: a (values, indices) namedtuple, unpackable as a pair.

    For code written before max(dim) returned a pair (`x.max(axis=1).data`), attribute
    lookups that the pair does not have, and numpy conversion, fall back to `.values`.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.values, name)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values.__array__(dtype, copy)


def _return_type(name: str) -> type:
    base = namedtuple(name, ["values", "indices"])
    return type(name, (_ValuesIndices, base), {"__slots__": (), "__module__": __name__,
                                               "__qualname__": f"return_{name}"})


return_max = _return_type("max")
return_min = _return_type("min")
return_sort = _return_type("sort")
return_topk = _return_type("topk")
