"""Normalisation layers: BatchNorm1d/2d/3d (batch statistics), LayerNorm and GroupNorm
(per sample)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib.errors import ShapeError, fmt_shape
from dlbd_lib.nn import functional as F
from dlbd_lib.nn import init
from dlbd_lib.nn.module import Module, Parameter
from dlbd_lib.tensor import Tensor

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm"]


class _BatchNorm(Module):
    """Shared code of BatchNorm1d/2d/3d: parameters, buffers and torch's forward logic.

    weight (ones) and bias (zeros): (num_features,). Buffers running_mean (zeros),
    running_var (ones): (num_features,) and num_batches_tracked: an int64 0-d array.
    """

    _layout = ""
    _ndims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(init._empty((num_features,), device, dtype))
            if bias:
                self.bias = Parameter(init._empty((num_features,), device, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            dt = init._empty((0,), device, dtype).dtype
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dt))
            self.register_buffer("running_var", np.ones(num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """running_mean <- 0, running_var <- 1, num_batches_tracked <- 0 (in place)."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, x: np.ndarray) -> None:
        name = f"{type(self).__name__}({self.num_features})"
        if x.ndim not in self._ndims:
            raise ShapeError(f"{name} expects {self._layout} input, got {x.ndim}-D input of "
                             f"shape {fmt_shape(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{name} expects input with {self.num_features} channels "
                             f"(dimension 1), got shape {fmt_shape(x.shape)}")

    def forward(self, input: Tensor) -> Tensor:
        """input: (N, C, *) -> same shape, normalised per channel."""
        self._check_input_dim(input._data if isinstance(input, Tensor) else np.asarray(input))
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            np.add(self.num_batches_tracked, 1, out=self.num_batches_tracked)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if keep else None,
                            self.running_var if keep else None, self.weight, self.bias,
                            use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input, per channel C."""

    _layout = "2-D (N, C) or 3-D (N, C, L)"
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input, per channel C."""

    _layout = "4-D (N, C, H, W)"
    _ndims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) input, per channel C."""

    _layout = "5-D (N, C, D, H, W)"
    _ndims = (5,)



def _affine_parameters(module: Module, shape: tuple, affine: bool, bias: bool, device: Any,
                       dtype: Any) -> None:
    """Register LayerNorm's / GroupNorm's per-element scale and shift (or None), then init."""
    module.register_parameter(
        "weight", Parameter(init._empty(shape, device, dtype)) if affine else None)
    module.register_parameter(
        "bias", Parameter(init._empty(shape, device, dtype)) if affine and bias else None)
    module.reset_parameters()


def _reset_affine(module: Module) -> None:
    """Scale 1 and shift 0, as torch initialises LayerNorm and GroupNorm."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)

class LayerNorm(Module):
    """Normalise each sample over its trailing normalized_shape axes, then scale and shift.

    input: (*, *normalized_shape) -> same shape; weight (ones), bias (zeros): normalized_shape.
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias, device, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        """input: (*, *normalized_shape) -> same shape."""
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalise each sample over groups of num_channels / num_groups channels (and all
    spatial axes), then scale and shift per channel.

    input: (N, num_channels, *) -> same shape; weight (ones), bias (zeros): (num_channels,).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _affine_parameters(self, (num_channels,), affine, bias, device, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        """input: (N, num_channels, *) -> same shape."""
        x = input._data if isinstance(input, Tensor) else np.asarray(input)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ShapeError(f"GroupNorm({self.num_groups}, {self.num_channels}) expects input "
                             f"of shape (N, {self.num_channels}, *), got {fmt_shape(x.shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")
