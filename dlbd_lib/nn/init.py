"""Weight initialisation, as torch.nn.init: the same distributions, bounds and gains.

Every function fills a Parameter (or any Tensor / numpy array) in place and returns it.
Samples come from the engine's seeded generator (`dlbd_lib.manual_seed`), so the values
differ from torch's, but the distributions are the same: Linear's default init, for
example, is `kaiming_uniform_(weight, a=sqrt(5))`, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlbd_lib import creation
from dlbd_lib.tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
    "eye_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_",
]

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
               "conv_transpose2d", "conv_transpose3d")


def _array(tensor: Any) -> np.ndarray:
    return tensor.data if isinstance(tensor, Tensor) else tensor


def _fill(tensor: Any, values: Any) -> Any:
    """Write values into tensor's array in place (keeping its dtype) and mark it changed."""
    arr = _array(tensor)
    arr[...] = values
    if isinstance(tensor, Tensor):
        tensor._bump_version()
    return tensor


def _rng(generator: np.random.Generator | None) -> np.random.Generator:
    # looked up at call time: manual_seed() replaces the engine's generator
    return creation.default_generator() if generator is None else generator


def _float_dtype(arr: np.ndarray) -> np.dtype:
    return arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float64)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (relu: sqrt(2), tanh: 5/3, ...), as torch."""
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: (out, in, *kernel) -> (in * prod(kernel), out * ...)."""
    shape = np.shape(_array(tensor))
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor: Any, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0,
             generator: np.random.Generator | None = None) -> Any:
    """Fill with samples from U(a, b)."""
    arr = _array(tensor)
    dt = _float_dtype(arr)
    u = _rng(generator).random(arr.shape, dtype=dt)
    return _fill(tensor, u * dt.type(b - a) + dt.type(a))


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Any:
    """Fill with samples from N(mean, std^2)."""
    arr = _array(tensor)
    dt = _float_dtype(arr)
    z = _rng(generator).standard_normal(arr.shape, dtype=dt)
    return _fill(tensor, z * dt.type(std) + dt.type(mean))


def trunc_normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: np.random.Generator | None = None) -> Any:
    """Fill with N(mean, std^2) samples truncated to [a, b] (redrawing those outside)."""
    arr = _array(tensor)
    rng = _rng(generator)
    out = rng.normal(mean, std, arr.shape)
    bad = (out < a) | (out > b)
    for _ in range(1000):  # each round redraws only the rejected values
        if not bad.any():
            break
        out[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = (out < a) | (out > b)
    else:
        out = np.clip(out, a, b)  # [a, b] is far in a tail: give up redrawing
    return _fill(tensor, out)


def constant_(tensor: Any, val: float) -> Any:
    """Fill with the value val."""
    return _fill(tensor, val)


def ones_(tensor: Any) -> Any:
    """Fill with 1."""
    return _fill(tensor, 1)


def zeros_(tensor: Any) -> Any:
    """Fill with 0."""
    return _fill(tensor, 0)


def eye_(tensor: Any) -> Any:
    """Fill a 2-D tensor with the identity matrix."""
    arr = _array(tensor)
    if arr.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill(tensor, np.eye(*arr.shape))


def xavier_uniform_(tensor: Any, gain: float = 1.0,
                    generator: np.random.Generator | None = None) -> Any:
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Any, gain: float = 1.0,
                   generator: np.random.Generator | None = None) -> Any:
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor: Any, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Any:
    """He uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan)."""
    if 0 in np.shape(_array(tensor)):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Any, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Any:
    """He normal: N(0, std^2) with std = gain / sqrt(fan)."""
    if 0 in np.shape(_array(tensor)):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Any, gain: float = 1,
                generator: np.random.Generator | None = None) -> Any:
    """Fill with a (semi-)orthogonal matrix (trailing dimensions flattened), times gain."""
    arr = _array(tensor)
    if arr.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if arr.size == 0:
        return tensor
    rows = arr.shape[0]
    cols = arr.size // rows
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # makes Q uniformly distributed (Mezzadri 2007)
    if rows < cols:
        q = q.T
    return _fill(tensor, (q * gain).reshape(arr.shape))


def _empty(shape: tuple, device: Any = None, dtype: Any = None) -> np.ndarray:
    """Storage for a new parameter (to be filled by an init function): float32 by default.

    device and dtype follow torch's factory arguments; only the CPU exists here.
    """
    if device is not None and str(device) != "cpu":
        raise ValueError(f"dlbd_lib runs on numpy, so only device 'cpu' exists, not {device!r}")
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"parameters must be floating point, got dtype {dt}")
    return np.zeros(shape, dtype=dt)


def _default_layer_init_(weight: Any, bias: Any = None) -> None:
    """torch's default for Linear and Conv layers, in place.

    weight: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in));
    bias (optional): U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
