"""Losses between distributions, behind dlbd_lib.nn.functional: cross-entropy with
probability targets and the KL divergence. Each is one graph node (see `loss_ops.py` for
the reductions)."""

from __future__ import annotations

import numpy as np

from dlbd_lib.nn.loss_ops import _coef, _col, _from_rows, _reduce, _to_rows
from dlbd_lib.tensor import Function

__all__ = ["SoftCrossEntropy", "KLDiv"]


class SoftCrossEntropy(Function):
    """-sum_c w_c q_c log softmax(x)_c for target probabilities q, per prediction.

    x, q: (N, C) or (N, C, d1, ...); weight: (C,). label_smoothing mixes q with the
    uniform distribution: q (1 - eps) + eps / C. 'mean' divides by the number of
    predictions N * d1 * ..., whatever the weights (as torch).
    """

    def forward(self, x, q, weight=None, reduction="mean", label_smoothing=0.0):
        self.shape, self.reduction, self.eps, self.w = x.shape, reduction, label_smoothing, weight
        x2, q2 = _to_rows(x), _to_rows(np.asarray(q, dtype=x.dtype))
        m, c = x2.shape
        shifted = x2 - x2.max(axis=1, keepdims=True)  # log-sum-exp trick: no overflow
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        self.p = e / s
        self.logp = shifted - np.log(s)
        a = q2 * (1 - label_smoothing) + label_smoothing / c if label_smoothing > 0 else q2
        self.a = a if weight is None else a * weight  # the weighted target, w_c q_c
        loss = -np.einsum("ij,ij->i", self.logp, self.a)
        self.m = m
        if reduction == "none":
            return loss.reshape((x.shape[0],) + x.shape[2:])
        return _reduce(loss, reduction, m)

    def backward(self, g):
        coef = _coef(g, self.reduction, self.m, self.m)
        if self.reduction == "none":
            coef = coef.reshape(-1)
        gx = gq = None
        if self.needs_grad[0]:
            # d/dx_c of -sum_k a_k log p_k = p_c sum_k a_k - a_c
            gx = _col(coef) * (self.p * self.a.sum(axis=1, keepdims=True) - self.a)
            gx = _from_rows(gx, self.shape)
        if self.needs_grad[1]:
            # d/dq_c = -(1 - eps) w_c log p_c
            gq = -(1 - self.eps) * _col(coef) * self.logp
            if self.w is not None:
                gq = gq * self.w
            gq = _from_rows(gq, self.shape)
        return gx, gq, None


class KLDiv(Function):
    """Pointwise KL divergence t (log t - x) for log-probabilities x and probabilities t
    (with log_target: e^t (t - x)), then reduced; 'batchmean' divides the sum by N."""

    def forward(self, x, t, reduction="mean", log_target=False):
        self.x, self.t, self.log_target, self.reduction = x, t, log_target, reduction
        if log_target:
            self.et = np.exp(t)
            loss = self.et * (t - x)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                self.log_t = np.log(t)
                # xlogy: 0 log 0 = 0, as torch
                loss = np.where(t > 0, t * self.log_t, 0).astype(x.dtype) - t * x
        self.size = loss.size
        self.denom = x.shape[0] if reduction == "batchmean" and x.ndim else None
        if reduction == "batchmean":
            return _reduce(loss, "sum") if self.denom is None else _reduce(loss, "mean",
                                                                           self.denom)
        return _reduce(loss, reduction)

    def backward(self, g):
        if self.reduction == "batchmean":
            c = _coef(g, "sum" if self.denom is None else "mean", self.size, self.denom)
        else:
            c = _coef(g, self.reduction, self.size)
        t, x = self.t, self.x
        gx = gt = None
        if self.needs_grad[0]:
            gx = -c * (self.et if self.log_target else t)  # dL/dx = -t (or -e^t)
        if self.needs_grad[1]:
            if self.log_target:
                gt = c * self.et * (t - x + 1)  # d e^t (t - x)/dt = e^t (t - x + 1)
            else:
                gt = c * (self.log_t + 1 - x)  # d t (log t - x)/dt = log t + 1 - x
        return gx, gt
