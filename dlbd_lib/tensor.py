"""Tensor, the computation graph, backward() and the grad-mode switches.

A `Tensor` wraps a numpy array (`.data`) and, when it requires a gradient, remembers the
`Function` that made it (`._ctx`). `backward()` walks that graph in reverse topological
order (found iteratively, so a 20,000-op chain works) and calls each function's
`backward`, un-broadcasting every input gradient in one place: `unbroadcast`.

The differentiable operations themselves live in the package `dlbd_lib.ops` (re-exported
by `dlbd_lib.functional`); the operators and methods (`+`, `@`, `.sum()`, `-=`, ...) are
thin calls into it, kept in `dlbd_lib.tensor_methods`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dlbd_lib import tensor_methods
from dlbd_lib.backward import (  # noqa: F401 - _topological_order: notebooks 04, 08 read it
    _run_backward,
    _topological_order,
    unbroadcast,
)
from dlbd_lib.errors import (
    AnomalyError,
    DimError,
    DtypeError,
    GradError,
    ShapeError,
    fmt_shape,
)
from dlbd_lib.grad import Grad, as_grad
from dlbd_lib.grad_mode import (
    _Mode,
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
)
from dlbd_lib.tensor_methods import TensorMethods

__all__ = [
    "Tensor",
    "Function",
    "unbroadcast",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "set_grad_enabled",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
]


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


def _check_finite(name: str, arr: Any, where: str) -> None:
    is_float_array = isinstance(arr, (np.ndarray, np.generic)) and _is_float(arr.dtype)
    if is_float_array and not np.isfinite(arr).all():
        kind = "NaN" if np.isnan(arr).any() else "inf"
        raise AnomalyError(
            f"{kind} found in the {where} of {name} (shape {fmt_shape(arr.shape)}); "
            "anomaly detection is on, so the first op to produce it is reported"
        )


class Function:
    """One differentiable operation: `forward` on numpy arrays, `backward` on gradients.

    Subclasses implement `forward(*arrays, **params) -> ndarray` and
    `backward(grad_out) -> tuple of input gradients` (one per positional input, `None`
    where there is none). Gradients may have the broadcast shape: the engine un-broadcasts
    them. `self.needs_grad[i]` says whether input i wants a gradient at all.
    """

    inputs: tuple
    needs_grad: list
    versions: list
    sets_dtype = False  # True for ops told their output dtype (cast): apply keeps it as is

    def forward(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> Any:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    def shape_error(self, args: Sequence[Any], err: Exception) -> ShapeError:
        """The error raised when numpy rejects the inputs' shapes; names op and shapes."""
        shapes = " and ".join(fmt_shape(np.shape(_data(a))) for a in args)
        if "broadcast" in str(err):
            return ShapeError(f"{self.name.lower()}: shapes {shapes} cannot be broadcast together")
        return ShapeError(f"{self.name.lower()}: cannot apply to shapes {shapes}: {err}")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run forward on the inputs' data and, if needed, record the op in the graph."""
        fn = cls()
        # one pass over the inputs: their arrays, which need a gradient, their versions
        arrays, needs, versions = [], [], []
        any_needs = False
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a._data)
                needs.append(a._requires_grad)
                versions.append(a._version)
                any_needs = any_needs or a._requires_grad
            else:
                arrays.append(a)
                needs.append(False)
                versions.append(0)
        try:
            out = fn.forward(*arrays, **kwargs)
        except (ValueError, IndexError) as err:
            __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
            if isinstance(err, (ShapeError, DimError)):
                raise err.with_traceback(None) from None  # the op's own message; end here
            if isinstance(err, IndexError):
                shapes = " and ".join(fmt_shape(np.shape(_data(a))) for a in args)
                raise DimError(f"{fn.name.lower()} on shape {shapes}: {err}") from None
            raise fn.shape_error(args, err) from None
        if not isinstance(out, np.ndarray):
            out = np.asarray(out)  # numpy gives scalars for 0-d inputs; .data is always an array
        if out.dtype.char == "d" and not fn.sets_dtype and not any(
            isinstance(a, np.ndarray) and a.dtype.char == "d" for a in arrays
        ):
            # a Python or numpy scalar, or an integer division, must not turn float32 work
            # into float64 (torch keeps float32 too)
            out = out.astype(np.float32)
        if _Mode.anomaly:
            _check_finite(fn.name, out, "output")
        # an integer result (a cast) is never differentiable
        requires = any_needs and _Mode.grad_enabled and out.dtype.kind == "f"
        result = Tensor._make(out, requires)
        if requires:
            fn.inputs = args
            fn.needs_grad = needs
            fn.versions = versions
            result._ctx = fn
        return result


def _data(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert user data: Python floats become float32, numpy arrays keep their dtype."""
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, np.generic):
        arr = np.asarray(data)
    elif dtype is not None:
        arr = np.asarray(data, dtype=dtype)  # straight to dtype: no rounding through float32
    else:
        arr = np.asarray(data)
        if arr.dtype == np.float64 and not hasattr(data, "__array__"):
            arr = arr.astype(np.float32)  # Python floats; array-likes (torch, pandas) keep theirs
        elif arr.dtype == object:
            raise DtypeError(f"cannot make a tensor from {type(data).__name__} data")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr


class Tensor(TensorMethods):
    """An n-dimensional array that can record operations for automatic differentiation.

    data: array-like; Python floats become float32 (like torch), a float64 numpy array
    stays float64, integer data stays integer. `.grad` is a numpy array of `.data`'s shape
    (a `dlbd_lib.grad.Grad`, which adds torch's `zero_()`, `fill_()`, ...), or None.
    The operators and methods (`+`, `@`, `.sum()`, in-place `-=`, ...) are in TensorMethods.
    """

    __slots__ = ("_data", "_grad", "_requires_grad", "_ctx", "_version", "_retain", "name",
                 "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operator

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 name: str | None = None) -> None:
        self._data = _as_array(data, dtype)
        self._grad: Grad | None = None
        self._ctx: Function | None = None
        self._version = 0
        self._retain = False
        self.name = name
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool) -> Tensor:
        """Fast constructor for op outputs: no conversion, no checks."""
        t = object.__new__(cls)
        t._data = data
        t._grad = None
        t._requires_grad = requires_grad
        t._ctx = None
        t._version = 0
        t._retain = False
        t.name = None
        return t

    # ---- the array inside -------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The numpy array holding the values."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = _as_array(value)  # same rules as the constructor: Python floats -> float32
        self._version += 1

    @property
    def grad(self) -> Grad | None:
        """The accumulated gradient: a numpy array (Grad) of this tensor's shape, or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        self._grad = as_grad(value)  # w.grad = None, or any array of the right shape

    def _bump_version(self) -> None:
        """Record that `.data` was changed in place (optimizers call this)."""
        self._version += 1

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def requires_grad(self) -> bool:
        """Whether backward() computes a gradient for this tensor."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not _is_float(self._data.dtype):
            self.requires_grad_(True)  # raises the DtypeError that names the dtype
        self._requires_grad = bool(value)

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user (parameters, inputs), not by an op."""
        return self._ctx is None

    @property
    def grad_fn(self) -> Function | None:
        """The Function that produced this tensor, or None for a leaf."""
        return self._ctx

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if copy:
            return np.array(self._data, dtype=dtype, copy=True)  # np.array(t) must not alias
        return self._data if dtype is None else self._data.astype(dtype)

    def numpy(self) -> np.ndarray:
        """The values as a numpy array (the same memory, like torch's .numpy())."""
        return self._data

    def item(self) -> float | int | bool:
        """The single value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ShapeError(
                f"item() needs a tensor with one element, got shape {fmt_shape(self.shape)}"
            )
        return self._data.item()

    def detach(self) -> Tensor:
        """A tensor sharing the same data, cut from the graph (requires_grad=False)."""
        return Tensor._make(self._data, False)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set requires_grad in place; only floating-point tensors can require gradients."""
        if requires_grad and not _is_float(self._data.dtype):
            raise DtypeError(
                f"only floating-point tensors can require gradients, got dtype "
                f"{self._data.dtype}; convert first, e.g. Tensor(x, dtype=np.float32)"
            )
        if not requires_grad and self._ctx is not None:
            raise GradError("requires_grad can only be turned off on a leaf; use detach()")
        self._requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep `.grad` for this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise GradError("retain_grad() on a tensor that does not require grad")
        self._retain = True

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self._data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self._data.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __hash__ = object.__hash__

    # ---- backward ---------------------------------------------------------------------
    def backward(self, gradient: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        gradient: the upstream gradient, same shape as self; may be omitted for a
        one-element tensor. The graph is kept, so calling backward() again adds the same
        gradients again, as torch does with retain_graph=True.
        """
        __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
        if not self.requires_grad:
            raise GradError(
                "backward() on a tensor that does not require grad: no input had "
                "requires_grad=True, or it was computed inside no_grad()"
            )
        if gradient is None:
            if self._data.size != 1:
                raise GradError(
                    f"backward() without a gradient needs a scalar (one-element) output, "
                    f"got shape {fmt_shape(self.shape)}; reduce it first (e.g. .sum()) or "
                    f"pass gradient= of that shape"
                )
            seed = np.ones_like(self._data)
        else:
            seed = np.asarray(_data(gradient), dtype=self._data.dtype)
            if seed.shape != self.shape:
                raise ShapeError(
                    f"backward(): gradient has shape {fmt_shape(seed.shape)} but the tensor "
                    f"has shape {fmt_shape(self.shape)}"
                )
        _run_backward(self, seed)


# The ops need the finished Tensor class, so they are imported last and handed to the
# methods' module (which the class above needed first).
from dlbd_lib import ops  # noqa: E402

tensor_methods.bind_ops(ops, is_grad_enabled)
