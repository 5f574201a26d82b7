"""The differentiable operations: one small class per op, and a lowercase function to apply it.

Each class has `forward(*arrays)` on numpy arrays and `backward(grad_out)` returning one
gradient per input, with a one-line comment giving the derivative. Gradients may keep the
broadcast shape; the engine (`dlbd_lib.tensor.unbroadcast`) sums them back.

Conventions: inputs that are not Tensors (Python numbers, numpy arrays) are constants.
`self.needs_grad[i]` tells backward whether input i wants a gradient, so work is skipped.
No backward ever writes into `grad_out`: it may be shared with other ops.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.tensor import Function, Tensor

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "matmul", "exp", "log", "sqrt", "tanh",
    "sigmoid", "relu", "leaky_relu", "abs", "clip", "sum", "mean", "var", "max", "min",
    "reshape", "flatten", "transpose", "swapaxes", "unsqueeze", "squeeze", "getitem",
    "cat", "stack", "where", "softmax", "log_softmax", "cast",
]


# ---- elementwise arithmetic ---------------------------------------------------------------
class Add(Function):
    def forward(self, a, b):
        return np.add(a, b)

    def backward(self, g):
        return g, g  # d(a+b)/da = d(a+b)/db = 1


class Sub(Function):
    def forward(self, a, b):
        return np.subtract(a, b)

    def backward(self, g):
        return g, (-g if self.needs_grad[1] else None)  # d(a-b)/db = -1


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return np.multiply(a, b)

    def backward(self, g):
        # d(ab)/da = b, d(ab)/db = a
        ga = g * self.b if self.needs_grad[0] else None
        gb = g * self.a if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return np.divide(a, b)

    def backward(self, g):
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        ga = g / self.b if self.needs_grad[0] else None
        gb = -g * self.a / (self.b * self.b) if self.needs_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return np.negative(a)

    def backward(self, g):
        return (-g,)  # d(-a)/da = -1


class Pow(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = np.power(a, b)
        return self.out

    def backward(self, g):
        a, b = self.a, self.b
        # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b ln a
        ga = g * b * np.power(a, b - 1) if self.needs_grad[0] else None
        gb = g * self.out * np.log(a) if self.needs_grad[1] else None
        return ga, gb


class MatMul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            return np.matmul(a, b)
        except ValueError:
            sa, sb = np.shape(a), np.shape(b)
            if len(sa) == 0 or len(sb) == 0:
                why = "both operands need at least one dimension"
            else:
                ka, kb = sa[-1], sb[-2] if len(sb) > 1 else sb[0]
                why = (f"{ka} (last dim of the first) != {kb} (first matrix dim of the second)"
                       if ka != kb else "their batch dimensions cannot be broadcast together")
            raise ShapeError(
                f"matmul: shapes {fmt_shape(sa)} and {fmt_shape(sb)} are not aligned: {why}"
            ) from None

    def backward(self, g):
        a, b = self.a, self.b
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:
            # dot product: d(a.b)/da = b, d(a.b)/db = a
            return (g * b if self.needs_grad[0] else None), (g * a if self.needs_grad[1] else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        # d(AB)/dA = G B^T, d(AB)/dB = A^T G
        if self.needs_grad[0]:
            ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga.reshape(-1, a.shape[0]).sum(0)
        if self.needs_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                # one B shared by a batch of A: fold the batch into the rows, one GEMM
                gb = a2.reshape(-1, a2.shape[-1]).T @ g2.reshape(-1, g2.shape[-1])
            else:
                gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
            if b.ndim == 1:
                gb = gb[..., 0]
                gb = gb.reshape(-1, b.shape[0]).sum(0)
        return ga, gb


# ---- elementwise functions ----------------------------------------------------------------
class Exp(Function):
    def forward(self, x):
        self.out = np.exp(x)
        return self.out

    def backward(self, g):
        return (g * self.out,)  # d e^x/dx = e^x


class Log(Function):
    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, g):
        return (g / self.x,)  # d ln x/dx = 1/x


class Sqrt(Function):
    def forward(self, x):
        self.out = np.sqrt(x)
        return self.out

    def backward(self, g):
        return (g * 0.5 / self.out,)  # d sqrt(x)/dx = 1/(2 sqrt(x))


class Tanh(Function):
    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, g):
        return (g * (1 - self.out * self.out),)  # d tanh(x)/dx = 1 - tanh(x)^2


class Sigmoid(Function):
    def forward(self, x):
        # sigma(x) = (1 + tanh(x/2)) / 2: never overflows, keeps float32
        self.out = np.tanh(x * 0.5) * 0.5 + 0.5
        return self.out

    def backward(self, g):
        return (g * self.out * (1 - self.out),)  # d sigma/dx = sigma (1 - sigma)


class ReLU(Function):
    def forward(self, x):
        self.mask = x > 0
        return np.maximum(x, 0, dtype=x.dtype) if x.dtype.kind == "f" else np.maximum(x, 0)

    def backward(self, g):
        return (g * self.mask,)  # d relu(x)/dx = 1 if x > 0 else 0


class LeakyReLU(Function):
    def forward(self, x, negative_slope=0.01):
        self.slope = np.asarray(negative_slope, dtype=x.dtype)
        self.mask = x > 0
        return np.where(self.mask, x, x * self.slope)

    def backward(self, g):
        return (np.where(self.mask, g, g * self.slope),)  # slope 1 for x > 0, else a


class Abs(Function):
    def forward(self, x):
        self.x = x
        return np.abs(x)

    def backward(self, g):
        return (g * np.sign(self.x),)  # d|x|/dx = sign(x), 0 at 0 as torch


class Clip(Function):
    def forward(self, x, lo=None, hi=None):
        self.mask = np.ones(x.shape, dtype=bool)
        if lo is not None:
            self.mask &= x >= lo
        if hi is not None:
            self.mask &= x <= hi
        return np.clip(x, lo, hi)

    def backward(self, g):
        return (g * self.mask,)  # 1 inside [lo, hi], 0 where clipped


class Cast(Function):
    sets_dtype = True  # float32 -> float64 must stay float64

    def forward(self, x, dtype=np.float32):
        return x.astype(dtype)

    def backward(self, g):
        return (g,)  # identity; the engine casts back to the input's dtype


class Where(Function):
    def forward(self, cond, a, b):
        self.cond = np.asarray(cond, dtype=bool)
        return np.where(self.cond, a, b)

    def backward(self, g):
        # the chosen branch gets the gradient, the other gets 0
        ga = np.where(self.cond, g, 0) if self.needs_grad[1] else None
        gb = np.where(self.cond, 0, g) if self.needs_grad[2] else None
        return None, ga, gb


# ---- reductions ---------------------------------------------------------------------------
def _norm_axes(axis: Any, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ShapeError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % builtins.max(ndim, 1))
    return tuple(out)


def _expand(g: np.ndarray, axes: tuple, keepdims: bool, shape: tuple) -> np.ndarray:
    """Put the reduced axes back (size 1) and broadcast to `shape`."""
    if not keepdims and axes:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


class Sum(Function):
    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.keepdims = x.shape, keepdims
        self.axes = _norm_axes(axis, x.ndim)
        return np.asarray(np.sum(x, axis=self.axes, keepdims=keepdims))

    def backward(self, g):
        return (_expand(g, self.axes, self.keepdims, self.shape),)  # d sum/dx_i = 1


class Mean(Function):
    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.keepdims = x.shape, keepdims
        self.axes = _norm_axes(axis, x.ndim)
        self.count = int(np.prod([x.shape[a] for a in self.axes])) if x.ndim else 1
        if x.dtype.kind != "f":
            raise DtypeError(f"mean() needs a floating-point tensor, got dtype {x.dtype}")
        return np.asarray(np.mean(x, axis=self.axes, keepdims=keepdims))

    def backward(self, g):
        # d mean/dx_i = 1/n
        return (_expand(g / self.count, self.axes, self.keepdims, self.shape),)


class Var(Function):
    def forward(self, x, axis=None, keepdims=False, unbiased=True):
        self.shape, self.keepdims = x.shape, keepdims
        self.axes = _norm_axes(axis, x.ndim)
        n = int(np.prod([x.shape[a] for a in self.axes])) if x.ndim else 1
        self.denom = builtins.max(n - int(unbiased), 1)
        self.centered = x - x.mean(axis=self.axes, keepdims=True)
        return np.asarray(
            np.sum(self.centered**2, axis=self.axes, keepdims=keepdims) / self.denom
        )

    def backward(self, g):
        # d var/dx_i = 2 (x_i - mean) / (n - ddof)
        ge = _expand(g, self.axes, self.keepdims, self.shape)
        return (ge * self.centered * (2.0 / self.denom),)


class Max(Function):
    """max/min over axes; ties share the gradient equally (torch.amax semantics)."""

    def forward(self, x, axis=None, keepdims=False, mode="max"):
        self.shape, self.keepdims = x.shape, keepdims
        self.axes = _norm_axes(axis, x.ndim)
        if x.size == 0:
            raise ShapeError(f"{mode}() of an empty tensor of shape {fmt_shape(x.shape)}")
        red = np.max if mode == "max" else np.min
        out = red(x, axis=self.axes, keepdims=True)
        mask = x == out
        self.weights = mask / mask.sum(axis=self.axes, keepdims=True).astype(x.dtype)
        return np.asarray(out if keepdims else np.squeeze(out, axis=self.axes))

    def backward(self, g):
        # d max/dx_i = 1 at the maximum (shared among ties), 0 elsewhere
        return (_expand(g, self.axes, self.keepdims, self.shape) * self.weights,)


# ---- shape ops ----------------------------------------------------------------------------
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
            axes = _norm_axes(axes, x.ndim)
            if sorted(axes) != list(range(x.ndim)):
                raise ShapeError(
                    f"transpose: axes {axes} are not a permutation of the "
                    f"{x.ndim} dimensions of shape {fmt_shape(x.shape)}"
                )
        self.axes = axes
        return np.transpose(x, axes)

    def backward(self, g):
        # the inverse permutation puts each gradient back in place
        inv = None if self.axes is None else tuple(np.argsort(self.axes))
        return (np.transpose(g, inv),)


def _is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items
    )


class GetItem(Function):
    def forward(self, x, index=None):
        self.shape, self.dtype, self.index = x.shape, x.dtype, index
        self.basic = _is_basic_index(index)
        return np.asarray(x[index])

    def backward(self, g):
        out = np.zeros(self.shape, dtype=g.dtype)
        idx = self.index
        if self.basic or (isinstance(idx, np.ndarray) and idx.dtype == bool):
            out[idx] = g  # no index can repeat
        else:
            np.add.at(out, idx, g)  # repeated indices accumulate
        return (out,)


class Cat(Function):
    def forward(self, *xs, axis=0):
        ax = _norm_axes(axis, xs[0].ndim)[0]
        self.axis, self.splits = ax, np.cumsum([x.shape[ax] for x in xs])[:-1]
        return np.concatenate(xs, axis=ax)

    def backward(self, g):
        return tuple(np.split(g, self.splits, axis=self.axis))  # each input gets its slice


class Stack(Function):
    def forward(self, *xs, axis=0):
        self.axis = _norm_axes(axis, xs[0].ndim + 1)[0]
        return np.stack(xs, axis=self.axis)

    def backward(self, g):
        return tuple(np.moveaxis(g, self.axis, 0))  # each input gets its slice


# ---- softmax family -----------------------------------------------------------------------
class LogSoftmax(Function):
    def forward(self, x, axis=-1):
        self.axis = axis
        shifted = x - x.max(axis=axis, keepdims=True)  # log-sum-exp trick: no overflow
        self.out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        return self.out

    def backward(self, g):
        # d log_softmax/dx = g - softmax * sum(g)
        return (g - np.exp(self.out) * g.sum(axis=self.axis, keepdims=True),)


class Softmax(Function):
    def forward(self, x, axis=-1):
        self.axis = axis
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        self.out = e / e.sum(axis=axis, keepdims=True)
        return self.out

    def backward(self, g):
        # d softmax/dx = s * (g - sum(g * s))
        s = self.out
        return (s * (g - (g * s).sum(axis=self.axis, keepdims=True)),)


# ---- the functions ------------------------------------------------------------------------
def add(a: Any, b: Any) -> Tensor:
    """a + b with broadcasting."""
    return Add.apply(a, b)


def sub(a: Any, b: Any) -> Tensor:
    """a - b with broadcasting."""
    return Sub.apply(a, b)


def mul(a: Any, b: Any) -> Tensor:
    """a * b elementwise with broadcasting."""
    return Mul.apply(a, b)


def div(a: Any, b: Any) -> Tensor:
    """a / b elementwise with broadcasting."""
    return Div.apply(a, b)


def neg(a: Any) -> Tensor:
    """-a."""
    return Neg.apply(a)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - torch's name
    """a ** b elementwise; either may be a tensor."""
    return Pow.apply(a, b)


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with numpy's rules: (..., n, k) @ (..., k, m) -> (..., n, m)."""
    return MatMul.apply(a, b)


def exp(x: Any) -> Tensor:
    """e ** x elementwise."""
    return Exp.apply(x)


def log(x: Any) -> Tensor:
    """Natural logarithm elementwise."""
    return Log.apply(x)


def sqrt(x: Any) -> Tensor:
    """Square root elementwise."""
    return Sqrt.apply(x)


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent elementwise."""
    return Tanh.apply(x)


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + e^-x) elementwise, computed without overflow."""
    return Sigmoid.apply(x)


def relu(x: Any) -> Tensor:
    """max(x, 0) elementwise."""
    return ReLU.apply(x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, negative_slope * x elsewhere."""
    return LeakyReLU.apply(x, negative_slope=negative_slope)


def abs(x: Any) -> Tensor:  # noqa: A001 - torch's name
    """|x| elementwise."""
    return Abs.apply(x)


def clip(x: Any, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Limit values to [min, max]; the gradient is 0 where a value was clipped."""
    return Clip.apply(x, lo=min, hi=max)


clamp = clip


def cast(x: Any, dtype: Any) -> Tensor:
    """x converted to dtype (differentiable between floating dtypes)."""
    return Cast.apply(x, dtype=np.dtype(dtype))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """a where condition is true, else b (broadcast)."""
    cond = condition.data if isinstance(condition, Tensor) else condition
    return Where.apply(cond, a, b)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over `axis` (int, tuple or None for all)."""
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over `axis` (int, tuple or None for all)."""
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def var(x: Any, axis: Any = None, keepdims: bool = False, unbiased: bool = True) -> Tensor:
    """Variance over `axis`; unbiased (n - 1) by default, as torch."""
    return Var.apply(x, axis=axis, keepdims=keepdims, unbiased=unbiased)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over `axis`; tied maxima share the gradient."""
    return Max.apply(x, axis=axis, keepdims=keepdims, mode="max")


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over `axis`; tied minima share the gradient."""
    return Max.apply(x, axis=axis, keepdims=keepdims, mode="min")


def reshape(x: Any, shape: Sequence[int]) -> Tensor:
    """The same values in a new shape (one dimension may be -1)."""
    return Reshape.apply(x, shape=tuple(shape))


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) for 1, -1."""
    shape = x.shape
    if not shape:
        return reshape(x, (1,))
    s, e = _norm_axes((start_dim, end_dim), len(shape))
    return reshape(x, shape[:s] + (-1,) + shape[e + 1:])


def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute dimensions (reverse them when axes is None)."""
    return Transpose.apply(x, axes=None if axes is None else tuple(axes))


def swapaxes(x: Any, axis0: int, axis1: int) -> Tensor:
    """Exchange two dimensions (torch.transpose(x, dim0, dim1))."""
    nd = x.ndim
    perm = list(range(nd))
    a, b = _norm_axes((axis0, axis1), nd)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def unsqueeze(x: Any, axis: int) -> Tensor:
    """Insert a dimension of size 1 at `axis`."""
    shape = list(x.shape)
    axis = _norm_axes(axis, len(shape) + 1)[0]
    return reshape(x, shape[:axis] + [1] + shape[axis:])


def squeeze(x: Any, axis: int | None = None) -> Tensor:
    """Remove dimensions of size 1 (only `axis` if given and of size 1)."""
    shape = x.shape
    if axis is None:
        return reshape(x, [n for n in shape if n != 1])
    axis = _norm_axes(axis, len(shape))[0]
    if shape and shape[axis] == 1:
        return reshape(x, shape[:axis] + shape[axis + 1:])
    return x


def _plain_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def getitem(x: Any, index: Any) -> Tensor:
    """x[index]: basic slicing and integer/boolean arrays; repeated indices accumulate."""
    return GetItem.apply(x, index=_plain_index(index))


def cat(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    if len(tensors) == 0:
        raise ShapeError("cat() needs at least one tensor")
    return Cat.apply(*tensors, axis=axis)


concatenate = cat


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    if len(tensors) == 0:
        raise ShapeError("stack() needs at least one tensor")
    return Stack.apply(*tensors, axis=axis)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis`, shifted by the max so it never overflows."""
    return Softmax.apply(x, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """log(softmax(x)) along `axis`, computed stably as x - max - log(sum(exp(x - max)))."""
    return LogSoftmax.apply(x, axis=axis)
