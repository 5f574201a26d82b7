"""Reductions over dims: sum, mean, var/std, amax/amin, prod, cumsum/cumprod, logsumexp, norm.

Every function takes torch's `dim=` / `keepdim=` and numpy's `axis=` / `keepdims=`.
"""

from __future__ import annotations

import builtins
import warnings
from typing import Any

import numpy as np

from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.ops._common import expand_back, norm_dim, norm_dims, pick_dim
from dlbd_lib.tensor import Function, Tensor

__all__ = ["sum", "mean", "var", "std", "amax", "amin", "prod", "cumsum", "cumprod",
           "logsumexp", "norm", "any", "all", "argmax", "argmin", "count"]


def count(shape: tuple, axes: tuple) -> int:
    """How many elements a reduction over `axes` of `shape` combines."""
    return int(np.prod([shape[a] for a in axes])) if axes else 1


class Sum(Function):
    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.keepdims = x.shape, keepdims
        self.axes = norm_dims(axis, x.ndim, "sum")
        return np.asarray(np.sum(x, axis=self.axes, keepdims=keepdims))

    def backward(self, g):
        return (expand_back(g, self.axes, self.keepdims, self.shape),)  # d sum/dx_i = 1


class Mean(Function):
    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.keepdims = x.shape, keepdims
        self.axes = norm_dims(axis, x.ndim, "mean")
        self.count = count(x.shape, self.axes)
        if x.dtype.kind != "f":
            raise DtypeError(f"mean() needs a floating-point tensor, got dtype {x.dtype}")
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # empty: nan, as torch
            return np.asarray(np.mean(x, axis=self.axes, keepdims=keepdims))

    def backward(self, g):
        # d mean/dx_i = 1/n
        return (expand_back(g / builtins.max(self.count, 1), self.axes, self.keepdims,
                            self.shape),)


class Var(Function):
    def forward(self, x, axis=None, keepdims=False, correction=1):
        self.shape, self.keepdims = x.shape, keepdims
        self.axes = norm_dims(axis, x.ndim, "var")
        self.denom = count(x.shape, self.axes) - correction
        if self.denom <= 0:
            warnings.warn("var(): degrees of freedom is <= 0 (one element, or an empty dim, "
                          "with correction=1): the result is nan, as in torch",
                          RuntimeWarning, stacklevel=5)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "mean of empty slice"
            self.centered = x - x.mean(axis=self.axes, keepdims=True)
            total = np.sum(self.centered**2, axis=self.axes, keepdims=keepdims)
            return np.asarray(total / self.denom if self.denom > 0 else total * np.nan)

    def backward(self, g):
        # d var/dx_i = 2 (x_i - mean) / (n - correction)
        ge = expand_back(g, self.axes, self.keepdims, self.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = 2.0 / self.denom if self.denom > 0 else np.nan
            return (ge * self.centered * scale,)


class Amax(Function):
    """max/min over dims; ties share the gradient equally (torch.amax semantics)."""

    def forward(self, x, axis=None, keepdims=False, mode="max"):
        self.shape, self.keepdims = x.shape, keepdims
        self.axes = norm_dims(axis, x.ndim, mode)
        if x.size == 0:
            raise ShapeError(f"{mode}() of an empty tensor of shape {fmt_shape(x.shape)}")
        red = np.max if mode == "max" else np.min
        out = red(x, axis=self.axes, keepdims=True)
        mask = x == out
        self.weights = mask / mask.sum(axis=self.axes, keepdims=True).astype(x.dtype)
        return np.asarray(out if keepdims else np.squeeze(out, axis=self.axes))

    def backward(self, g):
        # d max/dx_i = 1 at the maximum (shared among ties), 0 elsewhere
        return (expand_back(g, self.axes, self.keepdims, self.shape) * self.weights,)


class Prod(Function):
    def forward(self, x, axis=None, keepdims=False):
        self.x, self.keepdims = x, keepdims
        self.axes = norm_dims(axis, x.ndim, "prod")
        self.out = np.prod(x, axis=self.axes, keepdims=True)
        return np.asarray(self.out if keepdims else np.squeeze(self.out, axis=self.axes))

    def backward(self, g):
        # d prod/dx_i = product of the others (computed without dividing, so zeros work)
        x, axes, k = self.x, self.axes, len(self.axes)
        if not axes:
            return (g,)
        moved = np.moveaxis(x, axes, range(-k, 0))
        flat = moved.reshape(moved.shape[:-k] + (-1,))
        ones = np.ones(flat.shape[:-1] + (1,), x.dtype)
        before = np.cumprod(np.concatenate([ones, flat[..., :-1]], -1), -1)
        after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], -1), -1)[..., ::-1]
        others = np.moveaxis((before * after).reshape(moved.shape), range(-k, 0), axes)
        return (expand_back(g, axes, self.keepdims, x.shape) * others,)


class Cumsum(Function):
    def forward(self, x, dim=0):
        self.dim = norm_dim(dim, x.ndim, "cumsum")
        return np.cumsum(x, axis=self.dim) if x.ndim else x.copy()

    def backward(self, g):
        if g.ndim == 0:
            return (g,)
        # d cumsum/dx_i = number of outputs j >= i: a reversed cumsum of g
        return (np.flip(np.cumsum(np.flip(g, self.dim), axis=self.dim), self.dim),)


class Cumprod(Function):
    def forward(self, x, dim=0):
        self.dim = norm_dim(dim, x.ndim, "cumprod")
        self.x = x
        self.out = np.cumprod(x, axis=self.dim) if x.ndim else x.copy()
        return self.out

    def backward(self, g):
        if g.ndim == 0:
            return (g,)
        # d y_j/dx_i = prod_{k<=j, k!=i} x_k; summed over j >= i (exact also at zeros)
        x, d = np.moveaxis(self.x, self.dim, -1), self.dim
        gm = np.moveaxis(g, d, -1)
        n = x.shape[-1]
        tri = np.tril(np.ones((n, n), bool))  # [j, k]: k <= j
        terms = np.where(tri, x[..., None, :], 1)  # [..., j, k]
        out = np.zeros_like(x)
        for i in range(n):  # loop over the (short) cumulated dim only
            t = terms.copy()
            t[..., :, i] = 1
            prods = np.where(tri[:, i], t.prod(-1), 0)  # [..., j], zero where i > j
            out[..., i] = (gm * prods).sum(-1)
        return (np.moveaxis(out, -1, d),)


class LogSumExp(Function):
    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.keepdims = x.shape, keepdims
        self.axes = norm_dims(axis, x.ndim, "logsumexp")
        m = np.max(x, axis=self.axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        out = np.log(np.sum(np.exp(x - m), axis=self.axes, keepdims=True)) + m
        self.soft = np.exp(x - out)
        return np.asarray(out if keepdims else np.squeeze(out, axis=self.axes))

    def backward(self, g):
        # d logsumexp/dx_i = softmax(x)_i
        return (expand_back(g, self.axes, self.keepdims, self.shape) * self.soft,)


class Norm(Function):
    def forward(self, x, p=2.0, axis=None, keepdims=False):
        self.x, self.p, self.keepdims = x, float(p), keepdims
        self.axes = norm_dims(axis, x.ndim, "norm")
        ax = np.abs(x)
        if self.p == np.inf:
            out = np.max(ax, axis=self.axes, keepdims=True)
        else:
            out = np.sum(ax**self.p, axis=self.axes, keepdims=True) ** (1 / self.p)
        self.out = out
        return np.asarray(out if keepdims else np.squeeze(out, axis=self.axes))

    def backward(self, g):
        x, p, out = self.x, self.p, self.out
        ge = expand_back(g, self.axes, self.keepdims, x.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            if p == np.inf:
                mask = np.abs(x) == out
                w = np.sign(x) * mask / mask.sum(axis=self.axes, keepdims=True)
            else:
                # d ||x||_p/dx_i = sign(x_i) |x_i|^(p-1) / ||x||^(p-1), 0 where ||x|| = 0
                w = np.sign(x) * np.abs(x) ** (p - 1) / out ** (p - 1)
                w = np.where(out == 0, 0, w)
        return (ge * w,)


def sum(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,  # noqa: A001
        keepdims: bool = False, dtype: Any = None) -> Tensor:
    """Sum over `dim` (int, tuple or None for all)."""
    out = Sum.apply(x, axis=pick_dim(dim, axis), keepdims=keepdim or keepdims)
    return out if dtype is None else out.to(dtype)


def mean(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool = False) -> Tensor:
    """Mean over `dim` (int, tuple or None for all)."""
    return Mean.apply(x, axis=pick_dim(dim, axis), keepdims=keepdim or keepdims)


def var(x: Any, dim: Any = None, unbiased: bool = True, keepdim: bool = False, *,
        correction: int | None = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Variance over `dim`, dividing by n - correction (1 by default, as torch)."""
    if isinstance(unbiased, bool):
        corr = int(unbiased) if correction is None else int(correction)
    else:  # var(x, dim, keepdim) called positionally in numpy style: unbiased is keepdim
        corr = 1 if correction is None else int(correction)
    return Var.apply(x, axis=pick_dim(dim, axis), keepdims=keepdim or keepdims, correction=corr)


def std(x: Any, dim: Any = None, unbiased: bool = True, keepdim: bool = False, *,
        correction: int | None = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Standard deviation: sqrt(var) with the same arguments."""
    from dlbd_lib.ops.elementwise import sqrt

    return sqrt(var(x, dim, unbiased, keepdim, correction=correction, axis=axis,
                    keepdims=keepdims))


def amax(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool = False) -> Tensor:
    """Maximum over `dim` (int or tuple); tied maxima share the gradient."""
    return Amax.apply(x, axis=pick_dim(dim, axis), keepdims=keepdim or keepdims, mode="max")


def amin(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool = False) -> Tensor:
    """Minimum over `dim` (int or tuple); tied minima share the gradient."""
    return Amax.apply(x, axis=pick_dim(dim, axis), keepdims=keepdim or keepdims, mode="min")


def prod(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool = False) -> Tensor:
    """Product over `dim`; the gradient is right also where some x_i = 0."""
    return Prod.apply(x, axis=pick_dim(dim, axis), keepdims=keepdim or keepdims)


def cumsum(x: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Running sum along `dim`: out[i] = x[0] + ... + x[i]."""
    return Cumsum.apply(x, dim=pick_dim(dim, axis) or 0)


def cumprod(x: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Running product along `dim`: out[i] = x[0] * ... * x[i]."""
    return Cumprod.apply(x, dim=pick_dim(dim, axis) or 0)


def logsumexp(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
              keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over `dim`, shifted by the max so it never overflows."""
    return LogSumExp.apply(x, axis=pick_dim(dim, axis), keepdims=keepdim or keepdims)


def norm(x: Any, p: float = 2, dim: Any = None, keepdim: bool = False, *,
         axis: Any = None, keepdims: bool = False) -> Tensor:
    """The p-norm over `dim` (all elements by default; p may be inf); gradient 0 at 0."""
    if p == "fro":
        p = 2
    return Norm.apply(x, p=p, axis=pick_dim(dim, axis), keepdims=keepdim or keepdims)


def _bool_reduce(fn: Any, name: str) -> Any:
    def op(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
           keepdims: bool = False) -> Tensor:
        arr = np.asarray(getattr(x, "_data", x))
        axes = norm_dims(pick_dim(dim, axis), arr.ndim, name)
        return Tensor._make(np.asarray(fn(arr, axis=axes, keepdims=keepdim or keepdims)), False)
    op.__name__ = name
    op.__doc__ = f"{name}(x, dim): a bool tensor, outside the graph."
    return op


any = _bool_reduce(np.any, "any")  # noqa: A001 - torch's names
all = _bool_reduce(np.all, "all")  # noqa: A001


def _arg_reduce(fn: Any, name: str) -> Any:
    def op(x: Any, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
           keepdims: bool = False) -> Tensor:
        arr = np.asarray(getattr(x, "_data", x))
        d = pick_dim(dim, axis)
        keep = keepdim or keepdims
        if d is None:
            out = np.asarray(fn(arr))
            return Tensor._make(out.reshape((1,) * arr.ndim) if keep else out, False)
        d = norm_dim(d, arr.ndim, name)
        if arr.ndim == 0:
            return Tensor._make(np.zeros((), np.int64), False)
        return Tensor._make(np.asarray(fn(arr, axis=d, keepdims=keep)), False)
    op.__name__ = name
    op.__doc__ = f"{name}(x, dim): int64 indices, outside the graph (first one on ties)."
    return op


argmax = _arg_reduce(np.argmax, "argmax")
argmin = _arg_reduce(np.argmin, "argmin")
