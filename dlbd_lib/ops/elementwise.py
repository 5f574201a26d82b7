"""Elementwise functions: exp, log, activations, clip, rounding, tests, logic, where, cast."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib import _kernels
from dlbd_lib._jit import fits, kernel
from dlbd_lib._parallel import parallel_for
from dlbd_lib.errors import DtypeError
from dlbd_lib.tensor import Function, Tensor

__all__ = ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "leaky_relu",
           "abs", "clip", "clamp", "cast", "where", "floor", "ceil", "round", "trunc",
           "sign", "isnan", "isinf", "isfinite", "logical_and", "logical_or",
           "logical_not", "logical_xor"]


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


class Sin(Function):
    def forward(self, x):
        self.x = x
        return np.sin(x)

    def backward(self, g):
        return (g * np.cos(self.x),)  # d sin x/dx = cos x


class Cos(Function):
    def forward(self, x):
        self.x = x
        return np.cos(x)

    def backward(self, g):
        return (-g * np.sin(self.x),)  # d cos x/dx = -sin x


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


# Below this many elements numpy's two passes cost less than a kernel call and its checks
_KERNEL_MIN = 8192


def _blocks(fn, n: int, *arrays: np.ndarray) -> None:
    """fn(*slices) over blocks of 1-D arrays of length n, on the engine's threads (a pass
    costs ~1 ns per element: a second thread pays only from ~400k elements on)."""
    block = 4096
    parallel_for(lambda lo, hi: fn(*(a[lo * block:hi * block] for a in arrays)),
                 -(-n // block), block // 4)


class ReLU(Function):
    def forward(self, x):
        k = kernel(_kernels.relu_forward, x.dtype) if x.size >= _KERNEL_MIN else None
        if k is None or not fits(x):  # numpy: a compare and a max
            # not (x <= 0) rather than x > 0: a NaN passes its gradient on, as in torch
            self.mask = np.logical_not(x <= 0)
            return np.maximum(x, 0, dtype=x.dtype) if x.dtype.kind == "f" else np.maximum(x, 0)
        out, self.mask = np.empty_like(x), np.empty(x.shape, dtype=np.bool_)
        _blocks(k, x.size, x.reshape(-1), out.reshape(-1), self.mask.reshape(-1))
        return out

    def backward(self, g):
        # d relu(x)/dx = 1 if x > 0 else 0. An inf or NaN gradient where x <= 0 gives 0
        # there, as torch's threshold_backward (g * mask alone would give inf * 0 = NaN).
        k = kernel(_kernels.relu_backward, g.dtype) if g.size >= _KERNEL_MIN else None
        if k is None or not fits(g) or g.shape != self.mask.shape:
            gx = g * self.mask  # not np.where: with a random mask it is 15x slower
            if not np.isfinite(gx).all():
                gx[~np.broadcast_to(self.mask, gx.shape)] = 0
            return (gx,)
        out = np.empty_like(g)
        _blocks(k, g.size, g.reshape(-1), self.mask.reshape(-1), out.reshape(-1))
        return (out,)


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


class Rounding(Function):
    """floor, ceil, round (half to even, as torch), trunc, sign: piecewise constant."""

    def forward(self, x, fn=np.floor):
        return fn(x)

    def backward(self, g):
        return (np.zeros_like(g),)  # d round(x)/dx = 0 almost everywhere (torch gives 0)


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


def exp(x: Any) -> Tensor:
    """e ** x elementwise."""
    return Exp.apply(x)


def log(x: Any) -> Tensor:
    """Natural logarithm elementwise."""
    return Log.apply(x)


def sqrt(x: Any) -> Tensor:
    """Square root elementwise."""
    return Sqrt.apply(x)


def sin(x: Any) -> Tensor:
    """Sine elementwise."""
    return Sin.apply(x)


def cos(x: Any) -> Tensor:
    """Cosine elementwise."""
    return Cos.apply(x)


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
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of min and max must be given (both are None)")
    return Clip.apply(x, lo=getattr(min, "_data", min), hi=getattr(max, "_data", max))


clamp = clip


def cast(x: Any, dtype: Any) -> Tensor:
    """x converted to dtype (differentiable between floating dtypes)."""
    return Cast.apply(x, dtype=np.dtype(dtype))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """a where condition is true, else b; all three broadcast together."""
    cond = condition.data if isinstance(condition, Tensor) else condition
    return Where.apply(cond, a, b)


def _rounding(fn: Any) -> Any:
    def op(x: Any) -> Tensor:
        return Rounding.apply(x, fn=fn)
    op.__name__ = fn.__name__.replace("rint", "round")
    op.__doc__ = f"{op.__name__}(x) elementwise; its gradient is 0 (piecewise constant)."
    return op


floor = _rounding(np.floor)
ceil = _rounding(np.ceil)
round = _rounding(np.rint)  # noqa: A001 - torch rounds half to even, like np.rint
trunc = _rounding(np.trunc)
sign = _rounding(np.sign)


def _test(fn: Any, name: str) -> Any:
    def op(x: Any) -> Tensor:
        return Tensor._make(np.asarray(fn(getattr(x, "_data", x))), False)
    op.__name__ = name
    op.__doc__ = f"{name}(x): a bool tensor, outside the graph."
    return op


isnan = _test(np.isnan, "isnan")
isinf = _test(np.isinf, "isinf")
isfinite = _test(np.isfinite, "isfinite")
logical_not = _test(np.logical_not, "logical_not")


def _logic(fn: Any, name: str) -> Any:
    def op(a: Any, b: Any) -> Tensor:
        a_, b_ = getattr(a, "_data", a), getattr(b, "_data", b)
        return Tensor._make(np.asarray(fn(a_, b_)), False)
    op.__name__ = name
    op.__doc__ = f"{name}(a, b): a bool tensor (broadcast), outside the graph."
    return op


logical_and = _logic(np.logical_and, "logical_and")
logical_or = _logic(np.logical_or, "logical_or")
logical_xor = _logic(np.logical_xor, "logical_xor")


def bitwise(fn: Any, name: str, a: Any, b: Any = None) -> Tensor:
    """&, |, ^, ~ on bool or integer tensors (torch refuses floats, and so do we)."""
    arrays = [np.asarray(getattr(x, "_data", x)) for x in (a, b) if x is not None]
    for arr in arrays:
        if arr.dtype.kind not in "biu":
            raise DtypeError(f"{name}: needs bool or integer tensors, got dtype {arr.dtype}")
    return Tensor._make(np.asarray(fn(*arrays)), False)
