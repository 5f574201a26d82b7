"""Distance ops behind dlbd_lib.nn.functional: the cosine similarity along one dim."""

from __future__ import annotations

import numpy as np

from dlbd_lib.tensor import Function

__all__ = ["CosineSimilarity"]


class CosineSimilarity(Function):
    """sum(a b) / (max(|a|, eps) max(|b|, eps)) along dim; a, b broadcast together.

    a, b: shapes that broadcast to S -> S without dim.
    """

    def forward(self, a, b, dim=1, eps=1e-8):
        a, b = np.broadcast_arrays(a, b)
        self.dim = dim
        na = np.sqrt((a * a).sum(axis=dim, keepdims=True))
        nb = np.sqrt((b * b).sum(axis=dim, keepdims=True))
        self.na, self.nb = na, nb
        self.ca, self.cb = np.maximum(na, eps), np.maximum(nb, eps)  # clamped norms
        self.u, self.v = a / self.ca, b / self.cb
        self.out = (self.u * self.v).sum(axis=dim, keepdims=True)
        return self.out.squeeze(axis=dim)

    def backward(self, g):
        g = np.expand_dims(g, self.dim)
        out = self.out
        with np.errstate(divide="ignore", invalid="ignore"):
            # u = a / max(|a|, eps): dL/da = g (v - out a / (max(|a|, eps) |a|)) / max(|a|, eps)
            # (the norm's gradient a / |a| is taken as 0 at a = 0, as torch)
            ia = np.where(self.na > 0, 1 / (self.ca * self.na), 0)
            ib = np.where(self.nb > 0, 1 / (self.cb * self.nb), 0)
        ga = g * (self.v / self.ca - out * self.u * self.ca * ia) if self.needs_grad[0] else None
        gb = g * (self.u / self.cb - out * self.v * self.cb * ib) if self.needs_grad[1] else None
        return ga, gb
