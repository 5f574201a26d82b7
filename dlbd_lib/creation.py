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


def full(size: Any, fill_value: float, dtype: Any = np.float32,
         requires_grad: bool = False) -> Tensor:
    """A tensor of `size` filled with `fill_value`."""
    return Tensor(np.full(_shape((size,)), fill_value, dtype=dtype),
                  requires_grad=requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    """Zeros with t's shape and dtype."""
    return Tensor(np.zeros_like(np.asarray(t)), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    """Ones with t's shape and dtype."""
    return Tensor(np.ones_like(np.asarray(t)), requires_grad=requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    """Evenly spaced values in [start, end); integers stay int64."""
    arr = np.arange(start, end, step) if end is not None else np.arange(start)
    if dtype is not None:
        arr = arr.astype(dtype)
    elif arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return Tensor(arr)


def randn(*size: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the engine's seeded generator."""
    arr = _rng.standard_normal(_shape(size)).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)


def rand(*size: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples from the engine's seeded generator."""
    arr = _rng.random(_shape(size)).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)
