"""Indexing: x[idx] with torch's rules, x[idx] = v, gather, scatter_add, index_add, masked_fill."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.grad_mode import is_grad_enabled
from dlbd_lib.ops._common import norm_dim, shape_of
from dlbd_lib.tensor import Function, Tensor

__all__ = ["getitem", "setitem_", "gather", "scatter_add", "index_add", "index_select",
           "masked_fill", "one_hot"]


def _plain(i: Any) -> Any:
    if isinstance(i, Tensor):
        return i._data
    if isinstance(i, list):
        return np.asarray([_plain(j) for j in i])
    return i


def _is_int(i: Any) -> bool:
    return isinstance(i, (int, np.integer)) and not isinstance(i, bool)


def _is_array(i: Any) -> bool:
    return isinstance(i, np.ndarray) and i.ndim > 0


def torch_index(index: Any) -> list:
    """numpy index steps that give torch's result for `index`.

    torch applies integers first (as basic indexing), then the index arrays: for t of shape
    (2, 3, 4), t[0, :, [0, 1]] is (3, 2) in torch but (2, 3) in numpy. So a tuple mixing
    integers and arrays becomes two steps: the integers (and slices), then the arrays.
    """
    items = tuple(_plain(i) for i in index) if isinstance(index, tuple) else (_plain(index),)
    if not (any(_is_int(i) for i in items) and any(_is_array(i) for i in items)):
        return [items if isinstance(index, tuple) else items[0]]
    first = tuple(slice(None) if _is_array(i) else i for i in items)
    second = tuple(i if (_is_array(i) or i is Ellipsis) else slice(None)
                   for i in items if not _is_int(i))
    return [first, second]


def _is_basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items
    )


class GetItem(Function):
    def forward(self, x, index=None):
        self.shape, self.index = x.shape, index
        self.basic = _is_basic(index)
        return np.asarray(x[index])

    def backward(self, g):
        out = np.zeros(self.shape, dtype=g.dtype)
        idx = self.index
        if self.basic or (isinstance(idx, np.ndarray) and idx.dtype == bool):
            out[idx] = g  # no index can repeat
        else:
            np.add.at(out, idx, g)  # repeated indices accumulate
        return (out,)


class SetItem(Function):
    def forward(self, x, v, steps=()):
        self.steps = steps
        out = x.copy()
        _view(out, steps)[steps[-1]] = v
        return out

    def backward(self, g):
        # the overwritten positions take no gradient back to x; v gets theirs
        gv = np.asarray(_view(g, self.steps)[self.steps[-1]]) if self.needs_grad[1] else None
        gx = None
        if self.needs_grad[0]:
            gx = g.copy()
            _view(gx, self.steps)[self.steps[-1]] = 0
        return gx, gv


def _view(arr: np.ndarray, steps: list) -> np.ndarray:
    return arr[steps[0]] if len(steps) == 2 else arr


class Gather(Function):
    def forward(self, x, index=None, dim=0):
        self.shape, self.dim = x.shape, dim
        if index.ndim != x.ndim:
            raise ShapeError(f"gather: index has {index.ndim} dims but the input has {x.ndim} "
                             f"(shapes {fmt_shape(index.shape)} and {fmt_shape(x.shape)})")
        part = x[tuple(slice(None) if d == dim else slice(0, n)
                       for d, n in enumerate(index.shape))]
        self.grid = _grid(index, dim)
        return np.take_along_axis(part, index, axis=dim)

    def backward(self, g):
        out = np.zeros(self.shape, g.dtype)
        np.add.at(out, self.grid, g)  # d out[i]/d x[index[i]] = 1, repeats accumulate
        return (out,)


def _grid(index: np.ndarray, dim: int) -> tuple:
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


class ScatterAdd(Function):
    def forward(self, x, src, index=None, dim=0):
        self.grid, self.src_full = _grid(index, dim), src.shape
        src = src[tuple(slice(0, n) for n in index.shape)]
        out = x.copy()
        np.add.at(out, self.grid, src)
        self.src_shape = src.shape
        return out

    def backward(self, g):
        # d out/d x = 1; d out/d src[i] = 1 at out[index[i]]
        gs = None
        if self.needs_grad[1]:
            gs = np.zeros(self.src_full, g.dtype)
            gs[tuple(slice(0, n) for n in self.src_shape)] = g[self.grid]
        return g, gs


class IndexAdd(Function):
    def forward(self, x, src, index=None, dim=0, alpha=1.0):
        self.index, self.dim, self.alpha = index, dim, alpha
        out = x.copy()
        np.add.at(np.moveaxis(out, dim, 0), index, np.moveaxis(src * alpha, dim, 0))
        return out

    def backward(self, g):
        # d out/d x = 1; d out/d src = alpha at the indexed rows
        gs = np.take(g, self.index, axis=self.dim) * self.alpha if self.needs_grad[1] else None
        return g, gs


class MaskedFill(Function):
    def forward(self, x, mask=None, value=0.0):
        self.mask = mask
        return np.where(mask, np.asarray(value, dtype=x.dtype), x)

    def backward(self, g):
        return (np.where(self.mask, 0, g),)  # filled positions take no gradient


def getitem(x: Any, index: Any) -> Tensor:
    """x[index] with torch's rules: slices, integers, index arrays, masks; repeats accumulate."""
    __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
    out = x
    for step in torch_index(index):
        out = GetItem.apply(out, index=step)
    return out


def setitem_(x: Tensor, index: Any, value: Any) -> None:
    """x[index] = value, in place (differentiable in value and in the rest of x)."""
    steps = torch_index(index)
    v = getattr(value, "_data", value)
    needs = is_grad_enabled() and (x._requires_grad or getattr(value, "_requires_grad", False))
    if needs and x.is_leaf and x._requires_grad:
        raise RuntimeError(
            "setitem: a leaf tensor that requires grad cannot be changed in place; "
            "do it inside `with no_grad():`, or write into a copy (x = x.clone())")
    if not needs:
        try:
            _view(x._data, steps)[steps[-1]] = v
        except ValueError as err:
            raise ShapeError(f"setitem: cannot assign a value of shape {fmt_shape(shape_of(v))} "
                             f"into a tensor of shape {fmt_shape(x.shape)}: {err}") from None
        x._version += 1
        return
    old = Tensor._make(x._data, x._requires_grad)  # x as it was, keeps its place in the graph
    old._ctx, old._version = x._ctx, x._version
    new = SetItem.apply(old, value, steps=steps)
    x._data, x._ctx, x._requires_grad = new._data, new._ctx, new._requires_grad
    x._version += 1


def _index_array(index: Any, op: str) -> np.ndarray:
    idx = np.asarray(getattr(index, "_data", index))
    if idx.dtype.kind not in "iu":
        raise DtypeError(f"{op}: index must be an integer tensor, got dtype {idx.dtype}")
    return idx.astype(np.int64)


def gather(x: Any, dim: int, index: Any) -> Tensor:
    """out[i][j][k] = x[i][index[i][j][k]][k] for dim=1; the output has index's shape."""
    idx = _index_array(index, "gather")
    return Gather.apply(x, index=idx, dim=norm_dim(dim, len(shape_of(x)), "gather"))


def scatter_add(x: Any, dim: int, index: Any, src: Any) -> Tensor:
    """A copy of x with src[i][j] added at x[index[i][j]][j] (dim=0); repeats accumulate."""
    idx = _index_array(index, "scatter_add")
    d = norm_dim(dim, len(shape_of(x)), "scatter_add")
    return ScatterAdd.apply(x, src, index=idx, dim=d)


def index_add(x: Any, dim: int, index: Any, source: Any, *, alpha: float = 1) -> Tensor:
    """A copy of x with alpha * source's slices added at the positions `index` along `dim`."""
    idx = _index_array(index, "index_add")
    d = norm_dim(dim, len(shape_of(x)), "index_add")
    return IndexAdd.apply(x, source, index=idx, dim=d, alpha=alpha)


def index_select(x: Any, dim: int, index: Any) -> Tensor:
    """The slices of x at positions `index` (1-D) along `dim`."""
    d = norm_dim(dim, len(shape_of(x)), "index_select")
    return getitem(x, (slice(None),) * d + (_index_array(index, "index_select"),))


def masked_fill(x: Any, mask: Any, value: float) -> Tensor:
    """x with `value` where mask (broadcast) is True; those positions take no gradient."""
    m = np.asarray(getattr(mask, "_data", mask))
    if m.dtype != bool:
        raise DtypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    return MaskedFill.apply(x, mask=m, value=getattr(value, "_data", value))


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """int64 one-hot rows: shape (*tensor.shape, num_classes), outside the graph."""
    idx = _index_array(tensor, "one_hot")
    n = int(idx.max()) + 1 if num_classes == -1 else num_classes
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ShapeError(f"one_hot: class values must be in [0, {n}), got "
                         f"[{idx.min()}, {idx.max()}]")
    return Tensor._make(np.eye(n, dtype=np.int64)[idx], False)
