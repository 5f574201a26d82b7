"""Arithmetic with broadcasting: + - * / ** % //, neg, maximum/minimum."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib.errors import DtypeError
from dlbd_lib.tensor import Function, Tensor

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "remainder", "floor_divide",
           "maximum", "minimum"]


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
        try:
            self.out = np.power(a, b)
        except ValueError as err:
            if "negative integer powers" not in str(err):
                raise
            raise DtypeError(
                "pow: integers to negative integer powers are not allowed; "
                "convert the base to float first, e.g. x.float() ** -1"
            ) from None
        return self.out

    def backward(self, g):
        a, b = np.asarray(self.a), np.asarray(self.b)
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.needs_grad[0]:
                # d(a^b)/da = b a^(b-1), taken as 0 where b = 0 (torch)
                ga = g * np.where(b == 0, 0, b * np.power(a, b - 1))
            if self.needs_grad[1]:
                # d(a^b)/db = a^b ln a, taken as 0 where a = 0 and b >= 0 (torch)
                gb = g * np.where((a == 0) & (b >= 0), 0, self.out * np.log(a))
        return ga, gb


class Remainder(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return np.remainder(a, b)  # the sign of the divisor, as torch.remainder and %

    def backward(self, g):
        # d(a mod b)/da = 1, d(a mod b)/db = -floor(a / b)
        gb = -g * np.floor_divide(self.a, self.b) if self.needs_grad[1] else None
        return g, gb


class Maximum(Function):
    def forward(self, a, b, mode="max"):
        self.pick_a = np.greater(a, b) if mode == "max" else np.less(a, b)
        self.tie = np.equal(a, b)
        return np.maximum(a, b) if mode == "max" else np.minimum(a, b)

    def backward(self, g):
        # the larger (smaller) input gets the gradient; a tie shares it equally (torch)
        wa = self.pick_a + 0.5 * self.tie
        ga = g * wa if self.needs_grad[0] else None
        gb = g * (1 - wa) if self.needs_grad[1] else None
        return ga, gb


def add(a: Any, b: Any, *, alpha: float = 1) -> Tensor:
    """a + alpha * b with broadcasting."""
    __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
    return Add.apply(a, b if alpha == 1 else mul(b, alpha))


def sub(a: Any, b: Any, *, alpha: float = 1) -> Tensor:
    """a - alpha * b with broadcasting."""
    __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
    return Sub.apply(a, b if alpha == 1 else mul(b, alpha))


def mul(a: Any, b: Any) -> Tensor:
    """a * b elementwise with broadcasting."""
    __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
    return Mul.apply(a, b)


def div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Tensor:
    """a / b elementwise; rounding_mode 'floor' or 'trunc' rounds (no gradient then)."""
    __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
    if rounding_mode is None:
        return Div.apply(a, b)
    from dlbd_lib.ops.elementwise import trunc

    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        return trunc(Div.apply(a, b)) if _is_float(a, b) else _int_trunc_div(a, b)
    raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")


def _is_float(*xs: Any) -> bool:
    return any(np.asarray(getattr(x, "_data", x)).dtype.kind == "f" for x in xs)


def _int_trunc_div(a: Any, b: Any) -> Tensor:
    a_, b_ = np.asarray(getattr(a, "_data", a)), np.asarray(getattr(b, "_data", b))
    return Tensor._make(np.asarray(np.trunc(a_ / b_).astype(np.result_type(a_, b_))), False)


def neg(a: Any) -> Tensor:
    """-a."""
    return Neg.apply(a)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - torch's name
    """a ** b elementwise; either may be a tensor."""
    __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
    return Pow.apply(a, b)


def remainder(a: Any, b: Any) -> Tensor:
    """a % b with the sign of b (Python's and torch's %)."""
    return Remainder.apply(a, b)


def floor_divide(a: Any, b: Any) -> Tensor:
    """a // b rounded down; piecewise constant, so outside the graph (as in torch)."""
    a_, b_ = getattr(a, "_data", a), getattr(b, "_data", b)
    out = np.asarray(np.floor_divide(a_, b_))
    if out.dtype == np.float64 and not any(
            isinstance(x, np.ndarray) and x.dtype == np.float64 for x in (a_, b_)):
        out = out.astype(np.float32)
    return Tensor._make(out, False)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise larger of a and b (broadcast); ties share the gradient."""
    return Maximum.apply(a, b, mode="max")


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise smaller of a and b (broadcast); ties share the gradient."""
    return Maximum.apply(a, b, mode="min")
