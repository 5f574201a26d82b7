"""`Grad`: the type of `Tensor.grad`, a numpy array that also speaks torch's grad idioms.

`.grad` stays a numpy array (`isinstance(w.grad, np.ndarray)` is True and every numpy
function takes it), and adds the few tensor methods PyTorch's tutorials call on a gradient:
`w.grad.zero_()`, `fill_`, `add_`, `mul_`, `clamp_`, `copy_`, `clone()`, `.data`, `.numpy()`,
`.norm()`. Arithmetic on a `Grad` gives plain numpy arrays, so it never spreads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Grad", "as_grad"]


class Grad(np.ndarray):
    """A gradient array: numpy's ndarray plus torch's in-place idioms (zero_, fill_, ...)."""

    def __array_wrap__(self, arr: np.ndarray, context: Any = None,
                       return_scalar: bool = False) -> Any:
        arr = arr.view(np.ndarray)  # results of arithmetic are plain arrays
        return arr[()] if return_scalar else arr

    def zero_(self) -> Grad:
        """Set every element to 0 in place (torch's w.grad.zero_())."""
        self[...] = 0
        return self

    def fill_(self, value: float) -> Grad:
        """Set every element to value in place."""
        self[...] = value
        return self

    def add_(self, other: Any, alpha: float = 1.0) -> Grad:
        """self += alpha * other, in place."""
        np.add(self, np.multiply(np.asarray(other), alpha), out=self, casting="unsafe")
        return self

    def sub_(self, other: Any, alpha: float = 1.0) -> Grad:
        """self -= alpha * other, in place."""
        return self.add_(other, -alpha)

    def mul_(self, other: Any) -> Grad:
        """self *= other, in place."""
        np.multiply(self, np.asarray(other), out=self, casting="unsafe")
        return self

    def div_(self, other: Any) -> Grad:
        """self /= other, in place."""
        np.divide(self, np.asarray(other), out=self, casting="unsafe")
        return self

    def clamp_(self, min: float | None = None, max: float | None = None) -> Grad:  # noqa: A002
        """Limit values to [min, max] in place."""
        np.clip(self, min, max, out=self)
        return self

    def copy_(self, src: Any) -> Grad:
        """Copy src's values into self (broadcast to self's shape)."""
        self[...] = np.asarray(src)
        return self

    def clone(self) -> Grad:
        """A copy with its own memory."""
        return np.array(self, copy=True).view(Grad)

    def detach(self) -> Grad:
        return self

    @property
    def data(self) -> Grad:  # type: ignore[override]
        """The gradient itself, so torch's w.grad.data.zero_() works too."""
        return self

    def numpy(self) -> np.ndarray:
        """The same memory as a plain numpy array."""
        return self.view(np.ndarray)

    def norm(self, p: float = 2) -> np.floating:
        """The p-norm of all elements (torch's w.grad.norm())."""
        return np.linalg.norm(self.view(np.ndarray).ravel(), ord=p)

    def abs(self) -> np.ndarray:
        return np.abs(self)

    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))  # it is a numpy array, and says so


def as_grad(value: Any) -> Grad | None:
    """What `t.grad = value` stores: None, or the values as a Grad (no copy when possible)."""
    if value is None or isinstance(value, Grad):
        return value
    data = getattr(value, "_data", value)  # a Tensor assigned to .grad, as torch allows
    return np.asarray(data).view(Grad)
