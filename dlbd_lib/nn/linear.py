"""Linear (fully connected) layers and shape helpers: Linear, Identity, Flatten, Unflatten."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlbd_lib import functional as _F
from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.nn import _ops, init
from dlbd_lib.nn.module import Module, Parameter
from dlbd_lib.tensor import Tensor

__all__ = ["Linear", "Identity", "Flatten", "Unflatten"]


class Linear(Module):
    """y = x W^T + b, one fused op.   x: (*, in_features) -> (*, out_features).

    weight: (out_features, in_features) and bias: (out_features,), both initialised from
    U(-1/sqrt(in_features), 1/sqrt(in_features)) as torch does.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(init._empty((out_features, in_features), device, dtype))
        if bias:
            self.bias = Parameter(init._empty((out_features,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: kaiming_uniform_(a=sqrt(5)) for the weight, U(+-1/sqrt(fan_in)) bias."""
        init._default_layer_init_(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        """input: (*, in_features) -> (*, out_features)."""
        x = input._data if isinstance(input, Tensor) else np.asarray(input)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ShapeError(
                f"Linear({self.in_features}, {self.out_features}) expects input with "
                f"{self.in_features} features (last dimension), got shape {fmt_shape(x.shape)}"
            )
        if x.dtype.kind != "f":
            raise DtypeError(
                f"Linear({self.in_features}, {self.out_features}) expects floating-point input, "
                f"got dtype {x.dtype}; convert it first (e.g. x.float())"
            )
        return _ops.Linear.apply(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input unchanged (arguments are accepted and ignored, as torch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


def _check_dim(who: str, dim: int, ndim: int, shape: tuple) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ShapeError(
            f"{who}: dimension {dim} is out of range for an input of shape {fmt_shape(shape)} "
            f"({ndim} dimensions)"
        )
    return dim % max(ndim, 1)


class Flatten(Module):
    """Merge dimensions start_dim..end_dim into one.   (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        shape = np.shape(input._data if isinstance(input, Tensor) else input)
        who = f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim})"
        s = _check_dim(who, self.start_dim, len(shape), shape)
        e = _check_dim(who, self.end_dim, len(shape), shape)
        if s > e:
            raise ShapeError(f"{who}: start_dim comes after end_dim for an input of shape "
                             f"{fmt_shape(shape)}")
        return _F.reshape(input, shape[:s] + (-1,) + shape[e + 1:]) if shape else input

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension dim into unflattened_size.   e.g. (N, 12) -> (N, 3, 4) for dim=1."""

    def __init__(self, dim: int, unflattened_size: tuple) -> None:
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        shape = np.shape(input._data if isinstance(input, Tensor) else input)
        who = f"Unflatten(dim={self.dim}, unflattened_size={self.unflattened_size})"
        d = _check_dim(who, self.dim, len(shape), shape)
        sizes = self.unflattened_size
        known = math.prod(n for n in sizes if n != -1)
        if (-1 not in sizes and known != shape[d]) or (-1 in sizes and shape[d] % known):
            raise ShapeError(f"{who}: cannot split dimension {d} of size {shape[d]} (input "
                             f"shape {fmt_shape(shape)}) into {sizes}")
        return _F.reshape(input, shape[:d] + sizes + shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
