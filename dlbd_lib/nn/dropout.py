"""Dropout: randomly zero values while training (inverted scaling), identity in eval mode."""

from __future__ import annotations

from typing import Any

from dlbd_lib.nn import functional as F
from dlbd_lib.nn.module import Module
from dlbd_lib.tensor import Tensor

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero each value with probability p and scale the rest by 1/(1-p); off in eval().

    input: any shape -> the same shape. The mask comes from the engine's seeded generator.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
