"""Tensor's operators and methods: thin calls into `dlbd_lib.ops`, with torch's spellings.

`TensorMethods` is a mixin of `dlbd_lib.tensor.Tensor`. It holds no state; every method
calls an op function (bound below as `F` by `dlbd_lib.tensor`, once the ops exist).
In-place updates (`-=`, `add_`, `zero_`, `x[i] = v`, ...) change `.data` and count a version,
so backward() refuses a graph whose saved input was changed afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from dlbd_lib import tensor_op_methods
from dlbd_lib.errors import DtypeError, GradError, ShapeError, fmt_shape
from dlbd_lib.tensor_op_methods import TensorOpMethods

F: Any = None  # dlbd_lib.ops, bound by bind_ops() when dlbd_lib.tensor has finished loading
_grad_enabled: Any = None  # dlbd_lib.tensor.is_grad_enabled, bound the same way


def bind_ops(ops: Any, is_grad_enabled: Any) -> None:
    """Give the methods their ops (dlbd_lib.tensor calls this once, after defining Tensor)."""
    global F, _grad_enabled
    F, _grad_enabled = ops, is_grad_enabled
    tensor_op_methods.F = ops


def _d(x: Any) -> Any:
    return getattr(x, "_data", x)


_ARITHMETIC = (np.add, np.subtract, np.multiply, np.divide)  # int x float must not be truncated


class Size(int):
    """`t.size`: an int (numpy's element count) that can also be called as torch's size().

    t.size() is the shape, t.size(d) the length of dim d; t.size + 1 still works.
    """

    shape: tuple

    def __call__(self, dim: int | None = None) -> Any:
        if dim is None:
            return self.shape
        return self.shape[F.reductions.norm_dim(dim, len(self.shape), "size")]


class TensorMethods(TensorOpMethods):
    """The operators, conversions and in-place updates of Tensor (see the module docstring);
    the named op methods (x.sum(), x.gather(), ...) come from TensorOpMethods."""

    __slots__ = ()

    # ---- sizes, conversions ------------------------------------------------------------
    @property
    def size(self) -> Size:
        s = Size(self._data.size)
        s.shape = self._data.shape
        return s

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return self._data.size

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self) -> Iterator[Any]:
        """The sub-tensors along the first dimension, as torch iterates (and unpacks)."""
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def tolist(self) -> Any:
        return self._data.tolist()

    def astype(self, dtype: Any) -> Any:
        """Cast to `dtype`; differentiable between floating dtypes."""
        return F.cast(self, np.dtype(dtype))

    def to(self, *args: Any, dtype: Any = None, **kwargs: Any) -> Any:
        """to(dtype) casts; to('cpu') / to(device) is a no-op (dlbd_lib runs on the CPU)."""
        for a in args:
            try:
                dtype = np.dtype(a)  # a dtype: np.float64, dl.float32, "float64"
            except TypeError:
                pass  # a device ("cpu", a torch.device): nothing to do
        return self if dtype is None else self.astype(dtype)

    def type(self, dtype: Any) -> Any:
        """Cast to dtype, as torch's x.type(torch.float)."""
        return self.astype(dtype)

    def float(self) -> Any:
        return self.astype(np.float32)

    def double(self) -> Any:
        return self.astype(np.float64)

    def long(self) -> Any:
        return self.astype(np.int64)

    def int(self) -> Any:
        return self.astype(np.int32)

    def bool(self) -> Any:
        return self.astype(np.bool_)

    def clone(self) -> Any:
        """A copy with its own memory, still in the graph (gradient flows back)."""
        return F.cast(self, self._data.dtype)

    def contiguous(self) -> Any:
        return self

    def cpu(self) -> Any:
        return self

    def zero_grad(self) -> None:
        self.grad = None

    # ---- in-place updates --------------------------------------------------------------
    def _inplace(self, ufunc: Any, other: Any, name: str) -> Any:
        """self = ufunc(self, other), written into self's memory (torch's in-place op)."""
        if _grad_enabled() and (self._requires_grad or getattr(other, "_requires_grad", False)):
            if self._ctx is None and self._requires_grad:
                raise GradError(
                    f"{name}: a leaf tensor that requires grad cannot be changed in place "
                    "while the graph is recorded; update parameters inside `with no_grad():`"
                )
            return None  # a non-leaf in the graph: the caller falls back to a new tensor
        o = _d(other)
        if ufunc in _ARITHMETIC:
            result = np.result_type(self._data, o)
            if ufunc is np.divide and result.kind in "biu":
                result = np.dtype(np.float32)  # true division of integers gives floats
            if not np.can_cast(result, self._data.dtype, casting="same_kind"):
                raise DtypeError(f"{name}: the result ({result}) cannot be stored in a "
                                 f"{self._data.dtype} tensor in place (torch refuses it too)")
        try:
            ufunc(self._data, o, out=self._data, casting="unsafe")
        except ValueError as err:
            raise ShapeError(f"{name}: cannot update a tensor of shape "
                             f"{fmt_shape(self.shape)} in place with shape "
                             f"{fmt_shape(np.shape(o))}: {err}") from None
        self._version += 1
        return self

    def __iadd__(self, other: Any) -> Any:
        out = self._inplace(np.add, other, "+=")
        return F.add(self, other) if out is None else out

    def __isub__(self, other: Any) -> Any:
        out = self._inplace(np.subtract, other, "-=")
        return F.sub(self, other) if out is None else out

    def __imul__(self, other: Any) -> Any:
        out = self._inplace(np.multiply, other, "*=")
        return F.mul(self, other) if out is None else out

    def __itruediv__(self, other: Any) -> Any:
        out = self._inplace(np.divide, other, "/=")
        return F.div(self, other) if out is None else out

    def _inplace_or_raise(self, ufunc: Any, other: Any, name: str) -> Any:
        out = self._inplace(ufunc, other, name)
        if out is None:
            raise GradError(f"{name}: in-place ops on a tensor in the recorded graph are not "
                            "supported; use the out-of-place op (e.g. x = x + y)")
        return out

    def add_(self, other: Any, *, alpha: float = 1) -> Any:
        return self._inplace_or_raise(np.add, np.multiply(_d(other), alpha), "add_")

    def sub_(self, other: Any, *, alpha: float = 1) -> Any:
        return self._inplace_or_raise(np.subtract, np.multiply(_d(other), alpha), "sub_")

    def mul_(self, other: Any) -> Any:
        return self._inplace_or_raise(np.multiply, other, "mul_")

    def div_(self, other: Any) -> Any:
        return self._inplace_or_raise(np.divide, other, "div_")

    def copy_(self, src: Any) -> Any:
        return self._inplace_or_raise(lambda a, b, **kw: np.copyto(a, b, casting="unsafe"),
                                      src, "copy_")

    def fill_(self, value: float) -> Any:
        return self.copy_(value)

    def zero_(self) -> Any:
        return self.copy_(0)

    def clamp_(self, min: float | None = None, max: float | None = None) -> Any:  # noqa: A002
        if min is None and max is None:
            raise RuntimeError("clamp_: at least one of min and max must be given")
        return self._inplace_or_raise(lambda a, _, **kw: np.clip(a, min, max, out=a), None,
                                      "clamp_")

    clip_ = clamp_

    def __setitem__(self, index: Any, value: Any) -> None:
        F.setitem_(self, index, value)

    # ---- operators ---------------------------------------------------------------------
    def __add__(self, other: Any) -> Any:
        __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
        return F.add(self, other)

    def __radd__(self, other: Any) -> Any:
        return F.add(other, self)

    def __sub__(self, other: Any) -> Any:
        __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
        return F.sub(self, other)

    def __rsub__(self, other: Any) -> Any:
        return F.sub(other, self)

    def __mul__(self, other: Any) -> Any:
        __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
        return F.mul(self, other)

    def __rmul__(self, other: Any) -> Any:
        return F.mul(other, self)

    def __truediv__(self, other: Any) -> Any:
        __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
        return F.div(self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return F.div(other, self)

    def __floordiv__(self, other: Any) -> Any:
        return F.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Any:
        return F.floor_divide(other, self)

    def __mod__(self, other: Any) -> Any:
        return F.remainder(self, other)

    def __rmod__(self, other: Any) -> Any:
        return F.remainder(other, self)

    def __matmul__(self, other: Any) -> Any:
        __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
        return F.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return F.matmul(other, self)

    def __pow__(self, exponent: Any) -> Any:
        __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
        return F.pow(self, exponent)

    def __rpow__(self, base: Any) -> Any:
        return F.pow(base, self)

    def __neg__(self) -> Any:
        return F.neg(self)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return F.abs(self)

    def __and__(self, other: Any) -> Any:
        return F.elementwise.bitwise(np.bitwise_and, "&", self, other)

    __rand__ = __and__

    def __or__(self, other: Any) -> Any:
        return F.elementwise.bitwise(np.bitwise_or, "|", self, other)

    __ror__ = __or__

    def __xor__(self, other: Any) -> Any:
        return F.elementwise.bitwise(np.bitwise_xor, "^", self, other)

    __rxor__ = __xor__

    def __invert__(self) -> Any:
        return F.elementwise.bitwise(np.invert, "~", self)

    def __getitem__(self, index: Any) -> Any:
        __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
        return F.getitem(self, index)

    # comparisons give boolean tensors outside the graph, as in torch
    def _compare(self, other: Any, fn: Any) -> Any:
        return type(self)._make(np.asarray(fn(self._data, _d(other))), False)

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def __lt__(self, other: Any) -> Any:
        return self._compare(other, np.less)

    def __le__(self, other: Any) -> Any:
        return self._compare(other, np.less_equal)

    def __gt__(self, other: Any) -> Any:
        return self._compare(other, np.greater)

    def __ge__(self, other: Any) -> Any:
        return self._compare(other, np.greater_equal)

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ShapeError(
                f"the truth value of a tensor of shape {fmt_shape(self.shape)} is ambiguous"
            )
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.ndim != 0:
            raise TypeError("only 0-d integer tensors can be used as a Python index")
        return int(self._data.item())
