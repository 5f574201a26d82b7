"""Shape ops: reshape, permute, squeeze, cat/stack, expand, repeat, flip, roll, tril, pad, split."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dlbd_lib.errors import ShapeError, fmt_shape
from dlbd_lib.ops._common import norm_dim, norm_dims, pick_dim, shape_of
from dlbd_lib.tensor import Function, Tensor

__all__ = ["reshape", "flatten", "transpose", "permute", "swapaxes", "unsqueeze", "squeeze",
           "cat", "concatenate", "stack", "expand", "repeat", "flip", "roll", "tril", "triu",
           "pad", "chunk", "split", "unbind"]


class Reshape(Function):
    def forward(self, x, shape=()):
        self.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ShapeError(
                f"reshape: cannot reshape a tensor of shape {fmt_shape(x.shape)} "
                f"({x.size} elements) into shape {tuple(shape)}"
            ) from None

    def backward(self, g):
        return (g.reshape(self.in_shape),)  # reshape moves values, gradient moves back


class Transpose(Function):
    def forward(self, x, axes=None):
        if axes is not None:
            axes = norm_dims(axes, x.ndim, "permute")
            if sorted(axes) != list(range(x.ndim)):
                raise ShapeError(
                    f"permute: dims {axes} are not a permutation of the "
                    f"{x.ndim} dimensions of shape {fmt_shape(x.shape)}"
                )
        self.axes = axes
        return np.transpose(x, axes)

    def backward(self, g):
        # the inverse permutation puts each gradient back in place
        inv = None if self.axes is None else tuple(np.argsort(self.axes))
        return (np.transpose(g, inv),)


class Cat(Function):
    def forward(self, *xs, axis=0):
        for i, x in enumerate(xs):
            if x.ndim == 0:
                raise ShapeError(f"cat: the tensor at position {i} is 0-d and cannot be "
                                 "concatenated; use stack() to make a new dim")
        ax = norm_dim(axis, xs[0].ndim, "cat")
        rest = [x.shape[:ax] + x.shape[ax + 1:] for x in xs]
        if any(r != rest[0] or x.ndim != xs[0].ndim for r, x in zip(rest, xs)):
            raise ShapeError(f"cat: shapes {' and '.join(fmt_shape(x.shape) for x in xs)} must "
                             f"match in every dim except dim {ax}")
        self.axis, self.splits = ax, np.cumsum([x.shape[ax] for x in xs])[:-1]
        return np.concatenate(xs, axis=ax)

    def backward(self, g):
        return tuple(np.split(g, self.splits, axis=self.axis))  # each input gets its slice


class Stack(Function):
    def forward(self, *xs, axis=0):
        if any(x.shape != xs[0].shape for x in xs):
            raise ShapeError("stack: all tensors need the same shape, got "
                             + " and ".join(fmt_shape(x.shape) for x in xs))
        self.axis = norm_dim(axis, xs[0].ndim, "stack", new=1)
        return np.stack(xs, axis=self.axis)

    def backward(self, g):
        return tuple(np.moveaxis(g, self.axis, 0))  # each input gets its slice


class Expand(Function):
    def forward(self, x, shape=()):
        return np.broadcast_to(x, shape)

    def backward(self, g):
        return (g,)  # the engine sums the gradient back over the expanded dims


class Repeat(Function):
    def forward(self, x, reps=()):
        self.reps = reps
        self.x_shape = (1,) * (len(reps) - x.ndim) + x.shape
        return np.tile(x.reshape(self.x_shape), reps)

    def backward(self, g):
        # each input element was copied r times along each dim: sum the copies
        inter = [n for r, s in zip(self.reps, self.x_shape) for n in (r, s)]
        return (g.reshape(inter).sum(axis=tuple(range(0, len(inter), 2))),)


class Flip(Function):
    def forward(self, x, dims=()):
        self.dims = norm_dims(dims, x.ndim, "flip")
        return np.flip(x, self.dims)

    def backward(self, g):
        return (np.flip(g, self.dims),)  # flipping is its own inverse


class Roll(Function):
    def forward(self, x, shifts=0, dims=None):
        self.shifts, self.dims = shifts, dims
        return np.roll(x, shifts, dims)

    def backward(self, g):
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return (np.roll(g, back, self.dims),)  # roll back by the same shift


class Tri(Function):
    def forward(self, x, diagonal=0, upper=False):
        if x.ndim < 2:
            raise ShapeError(f"{'triu' if upper else 'tril'}: needs at least 2 dims, got "
                             f"shape {fmt_shape(x.shape)}")
        ones = np.ones(x.shape[-2:], bool)
        self.mask = np.triu(ones, diagonal) if upper else np.tril(ones, diagonal)
        return np.where(self.mask, x, 0).astype(x.dtype)

    def backward(self, g):
        return (g * self.mask,)  # 1 inside the triangle, 0 outside


class Pad(Function):
    MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
             "circular": "wrap"}

    def forward(self, x, pad=(), mode="constant", value=0.0):
        if len(pad) % 2 or len(pad) // 2 > x.ndim:
            raise ShapeError(f"pad: {len(pad)} pad sizes do not fit a tensor of shape "
                             f"{fmt_shape(x.shape)} (two per dim, last dim first)")
        width = [(0, 0)] * x.ndim
        for i in range(len(pad) // 2):
            width[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
        if any(a < 0 or b < 0 for a, b in width):
            raise ShapeError("pad: negative padding is not supported")
        self.width, self.shape, self.mode = width, x.shape, self.MODES[mode]
        kw = {"constant_values": value} if mode == "constant" else {}
        return np.pad(x, width, mode=self.mode, **kw)

    def backward(self, g):
        # the adjoint, one dim at a time: each output position sends its gradient to the
        # input position it was copied from (np.pad of the positions says which)
        for d, (a, b) in enumerate(self.width):
            if a == 0 and b == 0:
                continue
            n = self.shape[d]
            kw = {"constant_values": -1} if self.mode == "constant" else {}
            src = np.pad(np.arange(n), (a, b), mode=self.mode, **kw)
            keep = src >= 0
            gm = np.moveaxis(g, d, 0)[keep]
            out = np.zeros((n,) + gm.shape[1:], g.dtype)
            np.add.at(out, src[keep], gm)
            g = np.moveaxis(out, 0, d)
        return (g,)


def reshape(x: Any, *shape: Any) -> Tensor:
    """The same values in a new shape (one dimension may be -1)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(x, shape=tuple(int(n) for n in shape))


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) for 1, -1."""
    shape = shape_of(x)
    if not shape:
        return reshape(x, (1,))
    s, e = norm_dims((start_dim, end_dim), len(shape), "flatten")
    return reshape(x, shape[:s] + (-1,) + shape[e + 1:])


def transpose(x: Any, *dims: Any) -> Tensor:
    """transpose(x, d0, d1) swaps two dims (torch); transpose(x, perm or None) permutes."""
    if len(dims) == 2:
        return swapaxes(x, dims[0], dims[1])
    axes = dims[0] if dims else None
    return Transpose.apply(x, axes=None if axes is None else tuple(axes))


def permute(x: Any, *dims: Any) -> Tensor:
    """Reorder the dims: permute(x, (2, 0, 1)) or permute(x, 2, 0, 1)."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    return Transpose.apply(x, axes=tuple(dims))


def swapaxes(x: Any, axis0: int, axis1: int) -> Tensor:
    """Exchange two dimensions (torch.transpose(x, dim0, dim1))."""
    nd = len(shape_of(x))
    if nd == 0:
        norm_dims((axis0, axis1), 0, "transpose")
        return Transpose.apply(x, axes=())
    perm = list(range(nd))
    a, b = norm_dims((axis0, axis1), nd, "transpose")
    perm[a], perm[b] = perm[b], perm[a]
    return Transpose.apply(x, axes=tuple(perm))


def unsqueeze(x: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Insert a dimension of size 1 at `dim`."""
    shape = list(shape_of(x))
    d = norm_dim(pick_dim(dim, axis), len(shape), "unsqueeze", new=1)
    return reshape(x, shape[:d] + [1] + shape[d:])


def squeeze(x: Any, dim: Any = None, *, axis: Any = None) -> Tensor:
    """Remove dimensions of size 1 (only those in `dim` if given)."""
    shape = shape_of(x)
    d = pick_dim(dim, axis)
    dims = norm_dims(d, len(shape), "squeeze")
    return reshape(x, [n for i, n in enumerate(shape) if not (i in dims and n == 1)])


def cat(tensors: Sequence[Any], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing dim (0 by default)."""
    if len(tensors) == 0:
        raise ShapeError("cat() needs at least one tensor")
    return Cat.apply(*tensors, axis=pick_dim(dim, axis) or 0)


concatenate = cat


def stack(tensors: Sequence[Any], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Join same-shaped tensors along a new dim (0 by default)."""
    if len(tensors) == 0:
        raise ShapeError("stack() needs at least one tensor")
    return Stack.apply(*tensors, axis=pick_dim(dim, axis) or 0)


def expand(x: Any, *sizes: Any) -> Tensor:
    """x broadcast to `sizes` without copying (-1 keeps a dim); read-only, like torch's view."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    shape = shape_of(x)
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise ShapeError(f"expand: cannot expand shape {fmt_shape(shape)} to fewer dims "
                         f"{tuple(sizes)}")
    full = tuple(shape[i - lead] if n == -1 and i >= lead else int(n)
                 for i, n in enumerate(sizes))
    return Expand.apply(x, shape=full)


def repeat(x: Any, *reps: Any) -> Tensor:
    """Tile x: repeat(x, 2, 3) copies it twice along dim -2 and three times along dim -1."""
    if len(reps) == 1 and isinstance(reps[0], (tuple, list)):
        reps = tuple(reps[0])
    if len(reps) < len(shape_of(x)):
        raise ShapeError(f"repeat: {len(reps)} repeat counts for a tensor of shape "
                         f"{fmt_shape(shape_of(x))}; give at least one per dim")
    return Repeat.apply(x, reps=tuple(int(r) for r in reps))


def flip(x: Any, dims: Any) -> Tensor:
    """Reverse the order of elements along `dims`."""
    return Flip.apply(x, dims=dims)


def roll(x: Any, shifts: Any, dims: Any = None) -> Tensor:
    """Shift elements along `dims` cyclically (flattened when dims is None)."""
    shifts = tuple(shifts) if isinstance(shifts, (list, tuple)) else int(shifts)
    if dims is not None:
        dims = norm_dims(dims, len(shape_of(x)), "roll")
        dims = dims if isinstance(shifts, tuple) else dims[0]
    return Roll.apply(x, shifts=shifts, dims=dims)


def tril(x: Any, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (below `diagonal`); zeros above."""
    return Tri.apply(x, diagonal=diagonal, upper=False)


def triu(x: Any, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (above `diagonal`); zeros below."""
    return Tri.apply(x, diagonal=diagonal, upper=True)


def pad(x: Any, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """torch.nn.functional.pad: (left, right, top, bottom, ...) from the last dim backwards.

    mode: 'constant' (with `value`), 'reflect', 'replicate' or 'circular'.
    """
    if mode not in Pad.MODES:
        raise ValueError(f"pad: mode must be one of {sorted(Pad.MODES)}, got {mode!r}")
    return Pad.apply(x, pad=tuple(pad), mode=mode, value=value)


def split(x: Any, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces along `dim`: of size split_size each (the last may be smaller), or of the sizes."""
    shape = shape_of(x)
    d = norm_dim(dim, len(shape), "split")
    n = shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        sizes = [min(size, n - s) for s in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ShapeError(f"split: sizes {sizes} sum to {sum(sizes)}, but dim {d} of "
                             f"shape {fmt_shape(shape)} has {n} elements")
    from dlbd_lib.ops.indexing import getitem

    starts = np.cumsum([0] + sizes[:-1])
    pre = (slice(None),) * d
    return tuple(getitem(x, pre + (slice(int(s), int(s) + k),)) for s, k in zip(starts, sizes))


def chunk(x: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """`chunks` pieces along `dim` of equal size (the last may be smaller), as torch."""
    n = shape_of(x)[norm_dim(dim, len(shape_of(x)), "chunk")]
    return split(x, max(math.ceil(n / chunks), 1), dim)


def unbind(x: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along `dim`, each without that dim."""
    from dlbd_lib.ops.indexing import getitem

    d = norm_dim(dim, len(shape_of(x)), "unbind")
    pre = (slice(None),) * d
    return tuple(getitem(x, pre + (i,)) for i in range(shape_of(x)[d]))
