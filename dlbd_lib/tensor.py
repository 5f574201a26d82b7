"""Tensor, the computation graph, backward() and the grad-mode switches.

A `Tensor` wraps a numpy array (`.data`) and, when it requires a gradient, remembers the
`Function` that made it (`._ctx`). `backward()` walks that graph in reverse topological
order (found iteratively, so a 20,000-op chain works) and calls each function's
`backward`, un-broadcasting every input gradient in one place: `unbroadcast`.

The differentiable operations themselves live in `dlbd_lib.functional`; the operator
methods below (`+`, `@`, `.sum()`, ...) are thin calls into it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from dlbd_lib.errors import AnomalyError, DtypeError, GradError, ShapeError, fmt_shape

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


class _Mode:
    """Global switches: is the graph being recorded, are NaN/inf checks on."""

    grad_enabled = True
    anomaly = False


def is_grad_enabled() -> bool:
    """True when operations record the graph for backward()."""
    return _Mode.grad_enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager / decorator that turns graph recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = _Mode.grad_enabled
        _Mode.grad_enabled = self.mode  # like torch, it also acts as a plain function call

    def __call__(self, func: Any) -> Any:
        _Mode.grad_enabled = self.prev  # used as a decorator: switch only while func runs
        return super().__call__(func)

    def _recreate_cm(self) -> set_grad_enabled:
        return set_grad_enabled(self.mode)  # each decorated call restores the mode it found

    def __enter__(self) -> None:
        _Mode.grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _Mode.grad_enabled = self.prev


class no_grad(contextlib.ContextDecorator):
    """Context manager / decorator: inside it no graph is recorded (evaluation, updates)."""

    def _recreate_cm(self) -> no_grad:
        return no_grad()  # a fresh one per decorated call, so recursion restores correctly

    def __enter__(self) -> None:
        self.prev = _Mode.grad_enabled
        _Mode.grad_enabled = False

    def __exit__(self, *exc: object) -> None:
        _Mode.grad_enabled = self.prev


class enable_grad(contextlib.ContextDecorator):
    """Context manager / decorator: record the graph even inside no_grad()."""

    def _recreate_cm(self) -> enable_grad:
        return enable_grad()  # a fresh one per decorated call, so recursion restores correctly

    def __enter__(self) -> None:
        self.prev = _Mode.grad_enabled
        _Mode.grad_enabled = True

    def __exit__(self, *exc: object) -> None:
        _Mode.grad_enabled = self.prev


def is_anomaly_enabled() -> bool:
    """True when every forward output and backward gradient is checked for NaN/inf."""
    return _Mode.anomaly


def set_detect_anomaly(mode: bool) -> None:
    """Turn NaN/inf checking on or off globally."""
    _Mode.anomaly = bool(mode)


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Context manager: raise AnomalyError naming the op that first produced NaN or inf."""
    prev = _Mode.anomaly
    _Mode.anomaly = True
    try:
        yield
    finally:
        _Mode.anomaly = prev


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum `grad` over the dimensions that broadcasting added or stretched, back to `shape`.

    grad: any shape that `shape` broadcasts to. Returns an array of exactly `shape`.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        grad = np.broadcast_to(grad, shape) if grad.size == 1 else grad.reshape(shape)
    return grad


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
            if isinstance(err, ShapeError):
                raise
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


class Tensor:
    """An n-dimensional array that can record operations for automatic differentiation.

    data: array-like; Python floats become float32 (like torch), a float64 numpy array
    stays float64, integer data stays integer. `.grad` is a numpy array of `.data`'s shape.
    """

    __slots__ = ("_data", "grad", "_requires_grad", "_ctx", "_version", "_retain", "name",
                 "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operator

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 name: str | None = None) -> None:
        self._data = _as_array(data, dtype)
        self.grad: np.ndarray | None = None
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
        t.grad = None
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
    def size(self) -> int:
        return self._data.size

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

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return self._data.size

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self) -> Iterator[Tensor]:
        """The sub-tensors along the first dimension, as torch iterates (and unpacks)."""
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

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

    def tolist(self) -> Any:
        return self._data.tolist()

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

    def zero_grad(self) -> None:
        self.grad = None

    def astype(self, dtype: Any) -> Tensor:
        """Cast to `dtype`; differentiable between floating dtypes."""
        return functional.cast(self, np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def long(self) -> Tensor:
        return self.astype(np.int64)

    def to(self, dtype: Any) -> Tensor:
        return self.astype(dtype)

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

    # ---- operators (the ops live in dlbd_lib.functional) ------------------------------
    def __add__(self, other: Any) -> Tensor:
        return functional.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return functional.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return functional.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return functional.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return functional.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return functional.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return functional.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return functional.div(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return functional.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return functional.matmul(other, self)

    def __pow__(self, exponent: Any) -> Tensor:
        return functional.pow(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return functional.pow(base, self)

    def __neg__(self) -> Tensor:
        return functional.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return functional.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return functional.getitem(self, index)

    # comparisons give boolean tensors outside the graph, as in torch
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor._make(np.asarray(self._data == _data(other)), False)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor._make(np.asarray(self._data != _data(other)), False)

    def __lt__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self._data < _data(other)), False)

    def __le__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self._data <= _data(other)), False)

    def __gt__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self._data > _data(other)), False)

    def __ge__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self._data >= _data(other)), False)

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

    # ---- methods -----------------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return functional.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return functional.mean(self, axis=axis, keepdims=keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, unbiased: bool = True) -> Tensor:
        return functional.var(self, axis=axis, keepdims=keepdims, unbiased=unbiased)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return functional.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return functional.min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return Tensor._make(np.asarray(self._data.argmax(axis=axis, keepdims=keepdims)), False)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return Tensor._make(np.asarray(self._data.argmin(axis=axis, keepdims=keepdims)), False)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return functional.reshape(self, shape)

    def view(self, *shape: Any) -> Tensor:
        return self.reshape(*shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return functional.flatten(self, start_dim, end_dim)

    def transpose(self, *axes: Any) -> Tensor:
        """transpose() reverses axes; transpose(a, b) swaps two, as torch does."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if len(axes) == 2:
            return functional.swapaxes(self, axes[0], axes[1])
        return functional.transpose(self, axes or None)

    def permute(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return functional.transpose(self, axes)

    @property
    def T(self) -> Tensor:
        return functional.transpose(self, None)

    def unsqueeze(self, axis: int) -> Tensor:
        return functional.unsqueeze(self, axis)

    def squeeze(self, axis: int | None = None) -> Tensor:
        return functional.squeeze(self, axis)

    def exp(self) -> Tensor:
        return functional.exp(self)

    def log(self) -> Tensor:
        return functional.log(self)

    def sqrt(self) -> Tensor:
        return functional.sqrt(self)

    def tanh(self) -> Tensor:
        return functional.tanh(self)

    def sigmoid(self) -> Tensor:
        return functional.sigmoid(self)

    def relu(self) -> Tensor:
        return functional.relu(self)

    def abs(self) -> Tensor:
        return functional.abs(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        return functional.clip(self, min, max)

    clamp = clip

    def softmax(self, axis: int = -1) -> Tensor:
        return functional.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return functional.log_softmax(self, axis)


def _topological_order(root: Tensor) -> list[Tensor]:
    """Tensors that need a gradient, each after all of its inputs (iterative DFS)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            for inp in ctx.inputs:
                if isinstance(inp, Tensor) and inp._requires_grad and id(inp) not in visited:
                    stack.append((inp, False))
    return order


def _store_grad(t: Tensor, g: np.ndarray, handed: set[int]) -> None:
    """Accumulate g into t.grad without ever aliasing an array given to another tensor."""
    if t.grad is None:
        if (not isinstance(g, np.ndarray) or id(g) in handed or not g.flags.owndata
                or not g.flags.writeable):
            g = np.array(g)  # a copy, and an array even when numpy handed back a scalar
        handed.add(id(g))
        t.grad = g
    else:
        t.grad = np.asarray(t.grad + g)


def _run_backward(root: Tensor, seed: np.ndarray) -> None:
    order = _topological_order(root)
    grads: dict[int, np.ndarray] = {id(root): seed}
    handed: set[int] = {id(seed)}
    anomaly = _Mode.anomaly
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        fn = node._ctx
        if fn is None or node._retain:
            _store_grad(node, g, handed)
            if fn is None:
                continue
        for inp, version in zip(fn.inputs, fn.versions):
            if isinstance(inp, Tensor) and inp._version != version:
                raise GradError(
                    f"a tensor of shape {fmt_shape(inp.shape)} used by {fn.name} was "
                    "modified in place after the forward pass; its gradient would be wrong. "
                    "Recompute the forward pass after changing parameters."
                )
        in_grads = fn.backward(g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for inp, needs, ig in zip(fn.inputs, fn.needs_grad, in_grads):
            if not needs or ig is None:
                continue
            if ig.shape != inp._data.shape:
                ig = unbroadcast(ig, inp._data.shape)
            if ig.dtype != inp._data.dtype:
                ig = ig.astype(inp._data.dtype)
            if anomaly:
                _check_finite(fn.name, ig, "gradient")
            key = id(inp)
            prev = grads.get(key)
            grads[key] = ig if prev is None else prev + ig


# The ops need the finished Tensor class, so they are imported last.
from dlbd_lib import functional  # noqa: E402
