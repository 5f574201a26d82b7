"""Fused loss ops behind dlbd_lib.nn.functional: each loss is one graph node.

Every op computes the per-element loss, then reduces it: "none" keeps it, "sum" adds it
up, "mean" divides the sum by a count (or, with class weights, by the summed weights of
the targets, as torch does). backward scales the per-element derivative by the upstream
gradient of that reduction (`_coef`). Arguments are validated by the wrappers in
`dlbd_lib.nn.functional`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib.tensor import Function

__all__ = ["MSE", "L1", "Huber", "SmoothL1", "CrossEntropy", "NLL", "BCEWithLogits", "BCE"]


def _reduce(loss: np.ndarray, reduction: str, denom: float | None = None) -> np.ndarray:
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return np.asarray(total)
    if denom is None and loss.size:
        return np.asarray(total / loss.size, dtype=loss.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 -> nan, as torch
        return np.asarray(total / (loss.size if denom is None else denom), dtype=loss.dtype)


def _coef(g: np.ndarray, reduction: str, size: int, denom: float | None = None) -> np.ndarray:
    """d(reduced loss)/d(per-element loss) times the upstream gradient g."""
    if reduction != "mean":
        return g
    if denom is None and size:
        return g / size
    with np.errstate(invalid="ignore", divide="ignore"):
        return g / (size if denom is None else denom)


def _weight_grad(op: Function, c: np.ndarray) -> np.ndarray:
    """Gradient of a weighted loss for its weight w: loss_i, less the mean when 'mean'
    divides by sum(w):  d/dw_i [sum(w l) / sum(w)] = (l_i - mean) / sum(w)."""
    if op.reduction == "mean":
        return c * (op.unweighted - op.out)
    return c * op.unweighted


class MSE(Function):
    """(x - y)^2, optionally weighted, then reduced."""

    def forward(self, x, y, weight=None, reduction="mean"):
        self.diff = np.subtract(x, y)
        self.weight, self.reduction = weight, reduction
        loss = self.diff * self.diff
        if weight is None:
            return _reduce(loss, reduction)
        self.denom = weight.sum() if reduction == "mean" else None
        self.unweighted = loss
        self.out = _reduce(loss * weight, reduction, self.denom)
        return self.out

    def backward(self, g):
        c = _coef(g, self.reduction, self.diff.size, getattr(self, "denom", None))
        w = self.weight
        # d (x - y)^2 / dx = 2 (x - y) = -d/dy;  d (w (x-y)^2) / dw = (x - y)^2
        gd = (2 * c) * self.diff if w is None else (2 * c) * self.diff * w
        gw = _weight_grad(self, c) if w is not None and self.needs_grad[2] else None
        return gd, (-gd if self.needs_grad[1] else None), gw


class L1(Function):
    """|x - y|, optionally weighted, then reduced."""

    def forward(self, x, y, weight=None, reduction="mean"):
        diff = np.subtract(x, y)
        self.sign = np.sign(diff)
        self.weight, self.reduction, self.size = weight, reduction, diff.size
        loss = np.abs(diff)
        if weight is None:
            return _reduce(loss, reduction)
        self.denom = weight.sum() if reduction == "mean" else None
        self.unweighted = loss
        self.out = _reduce(loss * weight, reduction, self.denom)
        return self.out

    def backward(self, g):
        c = _coef(g, self.reduction, self.size, getattr(self, "denom", None))
        w = self.weight
        # d|x - y|/dx = sign(x - y) = -d/dy (0 at 0, as torch)
        gd = c * self.sign if w is None else c * self.sign * w
        gw = _weight_grad(self, c) if w is not None and self.needs_grad[2] else None
        return gd, (-gd if self.needs_grad[1] else None), gw


class Huber(Function):
    """0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere (d = x - y); weighted
    elementwise, then reduced ('mean' divides by the count, whatever the weights)."""

    def forward(self, x, y, weight=None, reduction="mean", delta=1.0):
        d = np.subtract(x, y)
        ad = np.abs(d)
        loss = np.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta)).astype(d.dtype)
        self.d, self.delta, self.w, self.reduction = d, delta, weight, reduction
        self.unweighted = loss
        if weight is not None:
            loss = loss * weight
        self.size = loss.size
        return _reduce(loss, reduction)

    def backward(self, g):
        c = _coef(g, self.reduction, self.size)
        # dL/dd = d inside (-delta, delta), delta sign(d) outside: clip(d, -delta, delta)
        gd = c * np.clip(self.d, -self.delta, self.delta)
        if self.w is not None:
            gd = gd * self.w
        gw = c * self.unweighted if self.w is not None and self.needs_grad[2] else None
        return gd, (-gd if self.needs_grad[1] else None), gw


class SmoothL1(Function):
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = x - y), reduced.

    beta = 0 is the L1 loss. Equals Huber(delta=beta) / beta.
    """

    def forward(self, x, y, reduction="mean", beta=1.0):
        d = np.subtract(x, y)
        ad = np.abs(d)
        if beta == 0:
            loss = ad
        else:
            loss = np.where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta).astype(d.dtype)
        self.d, self.beta, self.reduction, self.size = d, beta, reduction, d.size
        return _reduce(loss, reduction)

    def backward(self, g):
        c = _coef(g, self.reduction, self.size)
        # dL/dd = d / beta inside (-beta, beta), sign(d) outside
        slope = np.sign(self.d) if self.beta == 0 else np.clip(self.d / self.beta, -1, 1)
        gd = c * slope
        return gd, (-gd if self.needs_grad[1] else None)


def _to_rows(x: np.ndarray) -> np.ndarray:
    """(N, C, d1, ...) -> (N * d1 * ..., C): one row of class scores per prediction."""
    if x.ndim == 2:
        return x
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _from_rows(g2: np.ndarray, shape: tuple) -> np.ndarray:
    """Inverse of _to_rows for a gradient of shape (M, C)."""
    if len(shape) == 2:
        return g2
    return np.moveaxis(g2.reshape((shape[0],) + shape[2:] + (shape[1],)), -1, 1)


def _col(v: np.ndarray) -> np.ndarray:
    """A per-row vector as a column (M, 1); a scalar stays a scalar."""
    v = np.asarray(v)
    return v[:, None] if v.ndim else v


class _ClassLoss(Function):
    """Shared bookkeeping of the losses over class indices: ignore_index and weights."""

    def _targets(self, x2, target, weight, ignore_index):
        t = target.reshape(-1)
        self.rows = np.arange(t.size)
        valid = None if ignore_index is None else t != ignore_index  # None: nothing ignored
        self.valid = None if valid is None or valid.all() else valid
        self.t = t if self.valid is None else np.where(valid, t, 0)
        # per-row target weights; None means all 1 (the fast, common case)
        wt = None if weight is None else weight[self.t]
        if self.valid is not None:
            wt = valid.astype(x2.dtype) if wt is None else wt * valid
        self.wt = wt

    def _denom(self, reduction, n):
        if reduction != "mean":
            return None
        return n if self.wt is None else self.wt.sum()


class CrossEntropy(_ClassLoss):
    """-log softmax(x)[target], with class weights, ignore_index and label smoothing.

    x: (N, C) or (N, C, d1, ...) logits; target: (N,) or (N, d1, ...) class indices.
    """

    def forward(self, x, target, weight=None, ignore_index=-100, reduction="mean",
                label_smoothing=0.0):
        self.shape, self.reduction, self.eps, self.weight = x.shape, reduction, \
            label_smoothing, weight
        x2 = _to_rows(x)
        c = x2.shape[1]
        self._targets(x2, target, weight, ignore_index)
        shifted = x2 - x2.max(axis=1, keepdims=True)  # log-sum-exp trick: no overflow
        self.e = np.exp(shifted)
        self.s = self.e.sum(axis=1, keepdims=True)
        log_s = np.log(self.s)
        nll = log_s[:, 0] - shifted[self.rows, self.t]  # -log p[target]
        loss = nll if self.wt is None else nll * self.wt
        if label_smoothing > 0:
            # smooth part: -sum_c w_c log p_c, the cross-entropy with a uniform target
            logp = shifted - log_s
            smooth = -(logp.sum(axis=1) if weight is None else logp @ weight)
            if self.valid is not None:
                smooth = smooth * self.valid
            loss = (1 - label_smoothing) * loss + (label_smoothing / c) * smooth
        self.denom = self._denom(reduction, x2.shape[0])
        if reduction == "none":
            return loss.reshape(target.shape)
        return _reduce(loss, reduction, self.denom)

    def backward(self, g):
        # d(-log p_t)/dx = p - onehot(t); the smooth part gives sum_c w_c (p - onehot(c))
        m, c = self.e.shape
        coef = _coef(g, self.reduction, m, self.denom)
        if self.reduction == "none":
            coef = coef.reshape(-1)  # one coefficient per row; else a scalar
        eps, w = self.eps, self.weight
        on_target = coef if self.wt is None else coef * self.wt
        row_scale = on_target
        if eps > 0:
            on_target = (1 - eps) * on_target
            valid_coef = coef if self.valid is None else coef * self.valid
            w_sum = c if w is None else w.sum()
            row_scale = on_target + (eps / c * w_sum) * valid_coef
        gx = self.e * (_col(row_scale) / self.s)  # row_scale * softmax
        gx[self.rows, self.t] -= on_target
        if eps > 0:
            gx -= (eps / c) * _col(valid_coef) * (1.0 if w is None else w)
        return _from_rows(gx, self.shape), None, None


class NLL(_ClassLoss):
    """-x[target] for log-probabilities x, with class weights and ignore_index.

    x: (N, C) or (N, C, d1, ...); target: (N,) or (N, d1, ...) class indices.
    """

    def forward(self, x, target, weight=None, ignore_index=-100, reduction="mean"):
        self.shape, self.reduction = x.shape, reduction
        x2 = _to_rows(x)
        self._targets(x2, target, weight, ignore_index)
        loss = -x2[self.rows, self.t]
        if self.wt is not None:
            loss = loss * self.wt
        self.denom = self._denom(reduction, x2.shape[0])
        if reduction == "none":
            return loss.reshape(target.shape)
        return _reduce(loss, reduction, self.denom)

    def backward(self, g):
        # d(-w_t x_t)/dx_c = -w_t if c == t else 0
        m = self.rows.size
        coef = _coef(g, self.reduction, m, self.denom)
        if self.reduction == "none":
            coef = coef.reshape(-1)
        gx = np.zeros((m, self.shape[1]), dtype=g.dtype)
        gx[self.rows, self.t] = -(coef if self.wt is None else coef * self.wt)
        return _from_rows(gx, self.shape), None, None


def _softplus_neg(x: np.ndarray) -> np.ndarray:
    """log(1 + e^-x) computed without overflow: max(-x, 0) + log1p(e^-|x|)."""
    return np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))


class _WeightedBinaryLoss(Function):
    """Shared bookkeeping of the binary losses: optional elementwise weight, then reduction."""

    def _finish(self, loss: np.ndarray, weight: Any, reduction: str) -> np.ndarray:
        """Weight and reduce the per-element loss, keeping what backward needs."""
        self.unweighted, self.reduction = loss, reduction
        if weight is not None:
            loss = loss * weight
        self.size = loss.size
        return _reduce(loss, reduction)

    def _coefs(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(c, c * weight): the reduction's gradient, without and with the weight."""
        c = _coef(g, self.reduction, self.size)
        return c, (c if self.w is None else c * self.w)


class BCEWithLogits(_WeightedBinaryLoss):
    """Binary cross-entropy on logits: -[pw y log s(x) + (1 - y) log(1 - s(x))], weighted.

    Written stably as (1 - y) x + (1 + (pw - 1) y) softplus(-x).
    """

    def forward(self, x, y, weight=None, pos_weight=None, reduction="mean"):
        self.x, self.y, self.w, self.pw = x, y, weight, pos_weight
        self.sp = _softplus_neg(x)
        self.lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
        return self._finish((1 - y) * x + self.lw * self.sp, weight, reduction)

    def backward(self, g):
        c, cw = self._coefs(g)
        x, y = self.x, self.y
        ng = self.needs_grad
        gx = gy = gw = gpw = None
        if ng[0]:
            sig = np.tanh(x * 0.5) * 0.5 + 0.5
            # dL/dx = (1 - y) - lw (1 - sigmoid(x));  = sigmoid(x) - y when pw = 1
            gx = cw * (sig - y if self.pw is None else (1 - y) - self.lw * (1 - sig))
        if ng[1]:
            # dL/dy = -x + (pw - 1) softplus(-x)
            gy = cw * (-x if self.pw is None else (self.pw - 1) * self.sp - x)
        if len(ng) > 2 and ng[2]:
            gw = c * self.unweighted  # dL/dw = unweighted loss
        if len(ng) > 3 and ng[3]:
            gpw = cw * y * self.sp  # dL/dpw = y softplus(-x)
        return gx, gy, gw, gpw


class BCE(_WeightedBinaryLoss):
    """Binary cross-entropy on probabilities: -w [y log x + (1 - y) log(1 - x)].

    The logs are clamped at -100 and the input gradient's denominator at 1e-12, as torch.
    """

    def forward(self, x, y, weight=None, reduction="mean"):
        self.x, self.y, self.w = x, y, weight
        with np.errstate(divide="ignore"):
            self.log_x = np.maximum(np.log(x), -100)
            self.log_1mx = np.maximum(np.log1p(-x), -100)
        return self._finish(-(y * self.log_x + (1 - y) * self.log_1mx), weight, reduction)

    def backward(self, g):
        c, cw = self._coefs(g)
        x, y = self.x, self.y
        ng = self.needs_grad
        gx = gy = gw = None
        if ng[0]:
            # dL/dx = (x - y) / (x (1 - x))
            gx = cw * (x - y) / np.maximum(x * (1 - x), 1e-12)
        if ng[1]:
            gy = cw * (self.log_1mx - self.log_x)  # dL/dy = log(1 - x) - log x
        if len(ng) > 2 and ng[2]:
            gw = c * self.unweighted
        return gx, gy, gw
