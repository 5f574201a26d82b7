"""Elementwise activation ops behind dlbd_lib.nn.functional: SiLU, ELU, Softplus, Hardtanh.

Each is one `Function` on numpy arrays; input: any shape -> the same shape and dtype.
(ReLU, LeakyReLU, Sigmoid and Tanh live in `dlbd_lib.functional`; GELU in `_ops.py`.)
"""

from __future__ import annotations

import numpy as np

from dlbd_lib.tensor import Function

__all__ = ["SiLU", "ELU", "Softplus", "Hardtanh"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) as (1 + tanh(x/2)) / 2: never overflows, keeps x's dtype."""
    return np.tanh(x * 0.5) * 0.5 + 0.5


class SiLU(Function):
    """x * sigmoid(x) (also called swish)."""

    def forward(self, x):
        self.x, self.s = x, _sigmoid(x)
        return x * self.s

    def backward(self, g):
        s = self.s
        return (g * (s * (1 + self.x * (1 - s))),)  # d x s(x)/dx = s (1 + x (1 - s))


class ELU(Function):
    """x where x > 0, alpha (e^x - 1) elsewhere."""

    def forward(self, x, alpha=1.0):
        self.mask, self.alpha = x > 0, np.asarray(alpha, dtype=x.dtype)
        self.neg = self.alpha * np.expm1(np.minimum(x, 0))
        return np.where(self.mask, x, self.neg)

    def backward(self, g):
        # d elu/dx = 1 for x > 0, alpha e^x = elu(x) + alpha elsewhere
        return (g * np.where(self.mask, 1, self.neg + self.alpha),)


class Softplus(Function):
    """(1 / beta) log(1 + e^(beta x)); x itself where beta x > threshold (as torch)."""

    def forward(self, x, beta=1.0, threshold=20.0):
        bx = x * np.asarray(beta, dtype=x.dtype)
        self.bx, self.linear, self.beta = bx, bx > threshold, beta
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow for large z
        soft = (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / np.asarray(beta, x.dtype)
        return np.where(self.linear, x, soft)

    def backward(self, g):
        # d softplus/dx = sigmoid(beta x), and 1 on the linear part
        return (g * np.where(self.linear, 1, _sigmoid(self.bx)),)


class Hardtanh(Function):
    """x clamped to [min_val, max_val]; the gradient is 0 outside the open interval."""

    def forward(self, x, min_val=-1.0, max_val=1.0):
        self.mask = (x > min_val) & (x < max_val)
        return np.clip(x, np.asarray(min_val, x.dtype), np.asarray(max_val, x.dtype))

    def backward(self, g):
        return (g * self.mask,)  # d hardtanh/dx = 1 inside (min_val, max_val), else 0
