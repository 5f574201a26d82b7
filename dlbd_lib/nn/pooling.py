"""Pooling layers with torch.nn's constructors: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d."""

from __future__ import annotations

from typing import Any

from dlbd_lib.nn.conv_args import IntPair
from dlbd_lib.nn.module import Module
from dlbd_lib.nn.pool_ops import avg_pool2d, max_pool2d
from dlbd_lib.nn.resize_ops import adaptive_avg_pool2d
from dlbd_lib.tensor import Tensor

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


class MaxPool2d(Module):
    """Max over kh x kw windows, as torch.nn.MaxPool2d; stride defaults to kernel_size.

    x: (N, C, H, W) -> (N, C, H_out, W_out),
    H_out = (H + 2*padding - dilation*(kh-1) - 1) // stride + 1 (rounded up with ceil_mode).
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None,
                 padding: IntPair = 0, dilation: IntPair = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input: Tensor) -> Any:
        """input: (N, C, H, W) -> (N, C, H_out, W_out) (and the indices if return_indices)."""
        return max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                          ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                f", dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over kh x kw windows, as torch.nn.AvgPool2d; stride defaults to kernel_size.

    x: (N, C, H, W) -> (N, C, H_out, W_out), H_out = (H + 2*padding - kh) // stride + 1.
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None,
                 padding: IntPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:
        """input: (N, C, H, W) -> (N, C, H_out, W_out)."""
        return avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                + (", ceil_mode=True" if self.ceil_mode else ""))


class AdaptiveAvgPool2d(Module):
    """Average over windows chosen to give output_size, as torch.nn.AdaptiveAvgPool2d.

    x: (N, C, H, W) -> (N, C, *output_size); None in output_size keeps that size.
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        """input: (N, C, H, W) -> (N, C, H_out, W_out)."""
        return adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
