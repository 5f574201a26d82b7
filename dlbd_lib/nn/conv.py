"""Convolution layers with torch.nn's constructors, parameter names and init:
Conv1d, Conv2d and ConvTranspose2d."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib.nn import init
from dlbd_lib.nn.conv_args import IntPair, _pair
from dlbd_lib.nn.conv_ops import conv1d, conv2d
from dlbd_lib.nn.conv_transpose_ops import conv_transpose2d
from dlbd_lib.nn.module import Module, Parameter
from dlbd_lib.nn.pooling import AvgPool2d, MaxPool2d  # noqa: F401  (they used to live here)
from dlbd_lib.tensor import Tensor

__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d"]


def _tuple(value: Any, dims: int, name: str, minimum: int = 0) -> tuple:
    if dims == 2:
        return _pair(value, name, minimum)
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    return (_pair(value, name, minimum)[0],)


class _ConvNd(Module):
    """What Conv1d, Conv2d and ConvTranspose2d share: arguments, parameters, init, repr."""

    dims = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
                 padding: Any, dilation: Any, groups: int, bias: bool, padding_mode: str,
                 device: Any, dtype: Any, output_padding: Any = 0) -> None:
        super().__init__()
        name = type(self).__name__
        if padding_mode != "zeros":
            raise NotImplementedError(
                f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        if device not in (None, "cpu"):
            raise ValueError(f"dlbd_lib runs on numpy, so only 'cpu' exists, not {device!r}")
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"{name}: in_channels and out_channels must be positive, got {in_channels} "
                f"and {out_channels}"
            )
        if not isinstance(groups, int) or groups < 1 or in_channels % groups \
                or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups!r})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, self.dims, "kernel_size", 1)
        self.stride = _tuple(stride, self.dims, "stride", 1)
        self.dilation = _tuple(dilation, self.dims, "dilation", 1)
        self.output_padding = _tuple(output_padding, self.dims, "output_padding")
        if isinstance(padding, str):
            if padding not in ("valid", "same") or self.transposed:
                raise ValueError(f"{name}: padding must be 'valid', 'same', an int or a "
                                 f"tuple, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions (stride {self.stride})")
            self.padding: Any = padding
        else:
            self.padding = _tuple(padding, self.dims, "padding")
        self.groups, self.padding_mode = groups, padding_mode
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        shape = ((in_channels, out_channels // groups) if self.transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: kaiming_uniform_(a=sqrt(5)) for the weight, same bound for bias."""
        init._default_layer_init_(self.weight, self.bias)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self.dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self.dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution layer (cross-correlation), as torch.nn.Conv2d.

    weight: (out_channels, in_channels/groups, kh, kw), bias: (out_channels,), both
    initialised U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels/groups*kh*kw.
    x: (N, C_in, H, W) -> (N, C_out, H_out, W_out),
    H_out = (H + 2*padding - dilation*(kh-1) - 1) // stride + 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair,
                 stride: IntPair = 1, padding: IntPair | str = 0, dilation: IntPair = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        """input: (N, C_in, H, W) -> (N, C_out, H_out, W_out)."""
        return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)


class Conv1d(_ConvNd):
    """1-D convolution layer (cross-correlation), as torch.nn.Conv1d.

    weight: (out_channels, in_channels/groups, k), bias: (out_channels,), torch's init.
    x: (N, C_in, L) -> (N, C_out, L_out), L_out = (L + 2*padding - dilation*(k-1) - 1)
    // stride + 1.
    """

    dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple,
                 stride: int | tuple = 1, padding: int | tuple | str = 0,
                 dilation: int | tuple = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        """input: (N, C_in, L) -> (N, C_out, L_out)."""
        padding = self.padding if isinstance(self.padding, str) else self.padding[0]
        return conv1d(input, self.weight, self.bias, self.stride[0], padding,
                      self.dilation[0], self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution, as torch.nn.ConvTranspose2d (the gradient of a conv2d).

    weight: (in_channels, out_channels/groups, kh, kw), bias: (out_channels,), torch's init.
    x: (N, C_in, H, W) -> (N, C_out, H_out, W_out), H_out = (H - 1)*stride - 2*padding
    + dilation*(kh-1) + output_padding + 1.
    """

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair,
                 stride: IntPair = 1, padding: IntPair = 0, output_padding: IntPair = 0,
                 groups: int = 1, bias: bool = True, dilation: IntPair = 1,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def forward(self, input: Tensor) -> Tensor:
        """input: (N, C_in, H, W) -> (N, C_out, H_out, W_out)."""
        return conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                self.output_padding, self.groups, self.dilation)
