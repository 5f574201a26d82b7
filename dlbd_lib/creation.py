"""Making tensors: from data, filled with a value, or random from the engine's seeded RNG."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib.tensor import Tensor

_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the engine's random generator (weight init, dropout, randn); returns it."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def default_generator() -> np.random.Generator:
    """The generator used by randn/rand, nn.init and dropout."""
    return _rng


def _shape(size: tuple) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(int(n) for n in size)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new tensor from data (a copy); Python floats become float32."""
    t = Tensor(data, dtype=dtype)
    t._data = np.array(t._data, copy=True)
    return t.requires_grad_(requires_grad) if requires_grad else t


def zeros(*size: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; shape given as zeros(2, 3) or zeros((2, 3))."""
    return Tensor(np.zeros(_shape(size), dtype=dtype), requires_grad=requires_grad)


def ones(*size: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return Tensor(np.ones(_shape(size), dtype=dtype), requires_grad=requires_grad)


def _fill_dtype(value: Any) -> Any:
    """torch's default dtype for a fill value: bool, int64 for ints, float32 for floats."""
    if isinstance(value, (bool, np.bool_)):
        return np.bool_
    if isinstance(value, (int, np.integer)):
        return np.int64
    return np.float32


def full(size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of `size` filled with `fill_value`; an int fill gives int64, as in torch."""
    dtype = _fill_dtype(fill_value) if dtype is None else dtype
    return Tensor(np.full(_shape((size,)), fill_value, dtype=dtype),
                  requires_grad=requires_grad)


def _like(t: Any, dtype: Any) -> tuple:
    arr = np.asarray(getattr(t, "_data", t))
    return arr.shape, (arr.dtype if dtype is None else dtype)


def zeros_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with t's shape and dtype (or `dtype`)."""
    shape, dt = _like(t, dtype)
    return Tensor(np.zeros(shape, dt), requires_grad=requires_grad)


def ones_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with t's shape and dtype (or `dtype`)."""
    shape, dt = _like(t, dtype)
    return Tensor(np.ones(shape, dt), requires_grad=requires_grad)


def full_like(t: Any, fill_value: Any, dtype: Any = None,
              requires_grad: bool = False) -> Tensor:
    """`fill_value` everywhere, with t's shape and dtype (or `dtype`)."""
    shape, dt = _like(t, dtype)
    return Tensor(np.full(shape, fill_value, dt), requires_grad=requires_grad)


def empty(*size: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor in torch; here zeros, so results never depend on garbage."""
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = np.float32,
        requires_grad: bool = False) -> Tensor:
    """The (n, m) identity matrix (m = n by default)."""
    return Tensor(np.eye(n, m, dtype=dtype), requires_grad=requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = np.float32,
             requires_grad: bool = False) -> Tensor:
    """`steps` evenly spaced values from start to end, both included."""
    return Tensor(np.linspace(start, end, steps).astype(dtype), requires_grad=requires_grad)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing arr's memory and keeping its dtype (float64 stays float64)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"from_numpy() expects a numpy array, got {type(arr).__name__}")
    return Tensor(arr)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, end); integers give int64, floats float32 (torch)."""
    arr = np.arange(start, end, step) if end is not None else np.arange(start)
    if dtype is not None:
        arr = arr.astype(dtype)
    elif arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind == "i":
        arr = arr.astype(np.int64)
    return Tensor(arr, requires_grad=requires_grad)


def randn(*size: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the engine's seeded generator."""
    arr = _rng.standard_normal(_shape(size)).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)


def rand(*size: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples from the engine's seeded generator."""
    arr = _rng.random(_shape(size)).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)
