"""Upsample, the layer form of interpolate, with torch.nn.Upsample's constructor."""

from __future__ import annotations

from typing import Any

from dlbd_lib.nn.module import Module
from dlbd_lib.nn.resize_ops import interpolate
from dlbd_lib.tensor import Tensor

__all__ = ["Upsample"]


class Upsample(Module):
    """Resize images by size or scale_factor, as torch.nn.Upsample ('nearest', 'bilinear').

    x: (N, C, H, W) -> (N, C, H_out, W_out).
    """

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None) -> None:
        super().__init__()
        self.size, self.scale_factor = size, scale_factor
        self.mode, self.align_corners = mode, align_corners

    def forward(self, input: Tensor) -> Tensor:
        """input: (N, C, H, W) -> (N, C, H_out, W_out)."""
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else \
            f"scale_factor={self.scale_factor}"
        return f"{what}, mode='{self.mode}'"
