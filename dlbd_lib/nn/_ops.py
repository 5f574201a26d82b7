"""Fused layer ops behind dlbd_lib.nn.functional: linear, dropout, embedding, normalisation.

Each is one `Function` (one graph node for a whole layer), which is what makes the engine
fast: a Linear layer is one `x @ W.T + b` forward and three matrix products backward,
not a matmul, a transpose and an add each recorded separately. The public, validating
wrappers live in `dlbd_lib.nn.functional`.
"""

from __future__ import annotations

import math

import numpy as np

from dlbd_lib._parallel import blas_threads_back
from dlbd_lib.errors import ShapeError, fmt_shape
from dlbd_lib.tensor import Function

__all__ = ["Linear", "Dropout", "Embedding", "BatchNorm", "LayerNorm", "GroupNorm", "GELU"]


class Linear(Function):
    """y = x W^T + b.   x: (*, in), W: (out, in), b: (out,) -> (*, out)."""

    def forward(self, x, weight, bias=None):
        n_in = weight.shape[1]
        if x.ndim == 0 or x.shape[-1] != n_in:
            raise ShapeError(
                f"linear: input of shape {fmt_shape(x.shape)} does not fit a weight of shape "
                f"{fmt_shape(weight.shape)}: the last dimension must be {n_in}"
            )
        self.x, self.weight = x, weight
        blas_threads_back()  # BLAS's threads, if a convolution held them and is done
        x2 = x.reshape(-1, n_in)  # fold the batch dimensions into one GEMM
        out = x2 @ weight.T
        if bias is not None:
            out += bias
        return out.reshape(x.shape[:-1] + (weight.shape[0],))

    def backward(self, g):
        # dy/dx = W, dy/dW = x, dy/db = 1:  gx = g W, gW = g^T x, gb = sum of g over rows
        x, w = self.x, self.weight
        g2 = g.reshape(-1, w.shape[0])
        gx = (g2 @ w).reshape(x.shape) if self.needs_grad[0] else None
        gw = g2.T @ x.reshape(-1, w.shape[1]) if self.needs_grad[1] else None
        gb = g2.sum(axis=0) if len(self.needs_grad) > 2 and self.needs_grad[2] else None
        return gx, gw, gb


class Dropout(Function):
    """Inverted dropout: zero each value with probability p, scale the rest by 1/(1-p)."""

    def forward(self, x, p=0.5, generator=None):
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float32)
        if p >= 1.0:
            self.mask = np.zeros(x.shape, dtype=dtype)
        else:
            keep = generator.random(x.shape, dtype=dtype) >= dtype.type(p)
            self.mask = keep * dtype.type(1.0 / (1.0 - p))  # 0 or 1/(1-p)
        return x * self.mask

    def backward(self, g):
        return (g * self.mask,)  # d(x * m)/dx = m


class Embedding(Function):
    """Rows of a table: out[...] = weight[indices[...]].   (V, D) -> (*indices.shape, D)."""

    def forward(self, weight, indices=None, padding_idx=None, freq=None):
        self.indices, self.shape, self.padding_idx = indices, weight.shape, padding_idx
        self.freq = freq  # scale_grad_by_freq: each row's count in this batch
        return np.take(weight, indices, axis=0)

    def backward(self, g):
        # d out[i]/d weight[indices[i]] = 1: each row collects the gradients of every use
        v, d = self.shape
        # one flat, unbuffered add (numpy's fast 1-D path) at index row * d + column
        flat = (self.indices.reshape(-1, 1).astype(np.intp, copy=False) * d
                + np.arange(d)).reshape(-1)
        gw = np.zeros(v * d, dtype=g.dtype)
        np.add.at(gw, flat, g.reshape(-1))
        gw = gw.reshape(v, d)
        if self.freq is not None:
            gw /= np.maximum(self.freq, 1)[:, None].astype(gw.dtype)
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return (gw,)


class BatchNorm(Function):
    """Normalise each channel (axis 1) over the batch and spatial axes, then scale and shift.

    x: (N, C, *) -> (N, C, *). In training the batch statistics are used (biased variance)
    and the running statistics are updated in place (unbiased variance), as torch.
    """

    def forward(self, x, weight=None, bias=None, running_mean=None, running_var=None,
                training=False, momentum=0.1, eps=1e-5):
        c = x.shape[1]
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = (1, c) + (1,) * (x.ndim - 2)
        self.axes, self.bshape, self.training = axes, bshape, training
        if training:
            n = x.size // c
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(bshape)
            xc3 = xc.reshape(xc.shape[0], c, -1)
            var = np.einsum("ncl,ncl->c", xc3, xc3) / n  # biased; one pass, no temporary
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * n / max(n - 1, 1)) * var
        else:
            xc = x - running_mean.reshape(bshape)
            var = running_var
        invstd = 1.0 / np.sqrt(var + eps)
        self.invstd = invstd.astype(x.dtype, copy=False)
        self.xhat = xc * self.invstd.reshape(bshape)
        self.weight = weight
        out = self.xhat
        if weight is not None:
            out = out * weight.reshape(bshape)
        if bias is not None:
            out = out + bias.reshape(bshape)
        return out

    def backward(self, g):
        axes, bshape, xhat = self.axes, self.bshape, self.xhat
        gb = g.sum(axis=axes)
        c = g.shape[1]
        gw = np.einsum("ncl,ncl->c", g.reshape(g.shape[0], c, -1),
                       xhat.reshape(xhat.shape[0], c, -1))
        gx = None
        if self.needs_grad[0]:
            scale = self.invstd if self.weight is None else self.invstd * self.weight
            if self.training:
                # y = w xhat + b, xhat = (x - mu) / sigma with batch mu, sigma:
                # dL/dx = w / sigma * (g - mean(g) - xhat * mean(g * xhat))
                n = g.size // g.shape[1]
                gx = (g - (gb / n).reshape(bshape)) - xhat * (gw / n).reshape(bshape)
                gx *= scale.reshape(bshape)
            else:
                gx = g * scale.reshape(bshape)  # fixed statistics: dy/dx = w / sigma
        gw = gw if len(self.needs_grad) > 1 and self.needs_grad[1] else None
        gb = gb if len(self.needs_grad) > 2 and self.needs_grad[2] else None
        return gx, gw, gb


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two (M, K) arrays -> (M,)."""
    return np.einsum("ij,ij->i", a, b)


if hasattr(np, "vecdot"):  # numpy >= 2: one C loop, no einsum parsing (fast for small rows)
    _rowdot = np.vecdot  # noqa: F811

_CONSTANTS: dict = {}


def _const(size: int, value: float, dtype: np.dtype) -> np.ndarray:
    """A cached read-only vector of `size` copies of value (for GEMV row means and sums)."""
    key = (size, value, dtype)
    arr = _CONSTANTS.get(key)
    if arr is None:
        if len(_CONSTANTS) > 256:  # many shapes seen: start again rather than grow
            _CONSTANTS.clear()
        arr = _CONSTANTS[key] = np.full(size, value, dtype=dtype)
        arr.flags.writeable = False
    return arr


def _avg(size: int, dtype: np.dtype) -> np.ndarray:
    """(1/size, ..., 1/size): x @ avg is the row mean of x (M, size)."""
    return _const(size, 1.0 / size, dtype)


def _ones(size: int, dtype: np.dtype) -> np.ndarray:
    """(1, ..., 1): ones @ x is the column sum of x (size, K)."""
    return _const(size, 1.0, dtype)


class LayerNorm(Function):
    """Normalise over the last k axes of each sample, then scale and shift elementwise.

    x: (*, *normalized_shape) -> same shape; weight, bias: normalized_shape.
    Works on x as (M, K) rows; row means are matrix-vector products, row variances
    row-wise dot products (few numpy calls: small layers are bound by call overhead).
    """

    def forward(self, x, weight=None, bias=None, k=1, eps=1e-5):
        self.shape, self.pshape = x.shape, x.shape[x.ndim - k:]
        size = x.shape[-1] if k == 1 else math.prod(self.pshape)
        x2 = x.reshape(-1, size)
        self.avg = avg = _avg(size, x.dtype)
        xc = x2 - (x2 @ avg)[:, None]
        invstd = 1.0 / np.sqrt(_rowdot(xc, xc) * avg[0] + eps)  # 1 / sqrt(biased var + eps)
        self.invstd = invstd = invstd[:, None]  # keeps x's dtype: avg and eps do not promote
        xc *= invstd  # in place: few big temporaries
        self.xhat = xc
        self.weight = None if weight is None else weight.reshape(-1)
        if weight is None and bias is None:
            return xc.reshape(x.shape)
        out = xc * self.weight if weight is not None else xc + bias.reshape(-1)
        if weight is not None and bias is not None:
            out += bias.reshape(-1)
        return out.reshape(x.shape)

    def backward(self, g):
        xhat, avg = self.xhat, self.avg
        g2 = g.reshape(xhat.shape)
        ng = self.needs_grad
        gx = gw = gb = None
        # the per-row terms and dL/dw come from gxh = g xhat and GEMVs (cheaper than
        # broadcast elementwise ops on small rows)
        gxh = g2 * xhat
        if ng[0]:
            # dL/dx = (1/sigma) (gh - mean(gh) - xhat mean(gh xhat)),  gh = g * w
            w_avg = avg if self.weight is None else self.weight * avg[0]
            proj = (gxh @ w_avg)[:, None]  # mean(gh xhat) per row
            if self.weight is None:
                gx = g2 - xhat * proj
            else:
                gx = g2 * self.weight
                gx -= xhat * proj
            gx -= (g2 @ w_avg)[:, None]  # mean(gh) per row
            gx *= self.invstd
            gx = gx.reshape(self.shape)
        ones = _ones(xhat.shape[0], g2.dtype)  # column sums as one GEMV each
        if len(ng) > 1 and ng[1]:
            gw = (ones @ gxh).reshape(self.pshape)  # dL/dw = sum over rows of g xhat
        if len(ng) > 2 and ng[2]:
            gb = (ones @ g2).reshape(self.pshape)  # dL/db = sum over rows of g
        return gx, gw, gb


class GroupNorm(Function):
    """Normalise each sample over groups of channels (and all spatial axes), then scale
    and shift per channel.   x: (N, C, *) -> same shape; weight, bias: (C,).

    Works on x as (N * num_groups, L) rows, like LayerNorm.
    """

    def forward(self, x, weight=None, bias=None, num_groups=1, eps=1e-5):
        n, c = x.shape[:2]
        self.shape, self.weight = x.shape, weight
        self.cshape = (1, c) + (1,) * (x.ndim - 2)  # a per-channel vector, broadcastable
        x2 = x.reshape(n * num_groups, -1)  # one row per (sample, group)
        self.avg = avg = _avg(x2.shape[1], x.dtype)
        xc = x2 - (x2 @ avg)[:, None]
        self.invstd = (1.0 / np.sqrt(_rowdot(xc, xc) * avg[0] + eps))[:, None]
        xc *= self.invstd
        self.xhat = xc.reshape(x.shape)
        out = self.xhat
        if weight is not None:
            out = out * weight.reshape(self.cshape)
        if bias is not None:
            out = out + bias.reshape(self.cshape)
        return out

    def backward(self, g):
        xhat, avg = self.xhat, self.avg
        n, c = g.shape[:2]
        gx = gw = gb = None
        ng = self.needs_grad
        if ng[0]:
            # per row: dL/dx = (1/sigma) (gh - mean(gh) - xhat mean(gh xhat)),  gh = g * w
            gh = g if self.weight is None else g * self.weight.reshape(self.cshape)
            rows = self.invstd.shape[0]
            gh2, xh2 = gh.reshape(rows, -1), xhat.reshape(rows, -1)
            gx = gh2 - xh2 * (_rowdot(gh2, xh2) * avg[0])[:, None]  # - xhat mean(gh xhat)
            gx -= (gh2 @ avg)[:, None]
            gx *= self.invstd
            gx = gx.reshape(self.shape)
        # per-channel sums over samples and positions as two GEMVs: (1, N) @ (N, C*L) @ ...
        ones_n, ones_l = _ones(n, g.dtype), _ones(g.size // (n * c), g.dtype)
        if len(ng) > 1 and ng[1]:
            gxh = (ones_n @ (g * xhat).reshape(n, -1)).reshape(c, -1)
            gw = gxh @ ones_l  # dL/dw_c = sum of g xhat over channel c
        if len(ng) > 2 and ng[2]:
            gb = (ones_n @ g.reshape(n, -1)).reshape(c, -1) @ ones_l  # dL/db_c = sum of g
        return gx, gw, gb


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_K = math.sqrt(2.0 / math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf(x) in x's dtype: a fast approximation for float32, a series for float64.

    float32: Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, float32's own level).
    float64: erf(z) = 2/sqrt(pi) e^(-z^2) sum_n (2z^2)^n z / (1*3*...*(2n+1)), a series of
    positive terms (no cancellation), exact to about 1e-16; erf(z) is 1.0 beyond |z| = 6.
    """
    if x.dtype == np.float64:
        z = np.minimum(np.abs(x), 6.0)
        z2 = z * z
        term, total = z.copy(), z.copy()
        for n in range(1, int(2 * z2.max(initial=0.0)) + 40):
            term *= (2.0 / (2 * n + 1)) * z2
            total += term
        return np.copysign(_TWO_OVER_SQRT_PI * np.exp(-z2) * total, x)
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                + t * (-1.453152027 + t * 1.061405429))))
    return np.copysign(1.0 - poly * np.exp(-x * x), x)


class GELU(Function):
    """x * Phi(x) (Phi: the standard normal CDF), or its tanh approximation."""

    def forward(self, x, approximate="none"):
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            self.t = np.tanh(_TANH_K * (x + 0.044715 * x * x * x))
            return 0.5 * x * (1.0 + self.t)
        self.cdf = 0.5 * (1.0 + _erf(x * _SQRT_HALF))
        return x * self.cdf

    def backward(self, g):
        x = self.x
        if self.approximate == "tanh":
            t = self.t
            # d/dx 0.5 x (1 + t) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 * 0.044715 x^2)
            dt = (1.0 - t * t) * (_TANH_K * (1.0 + 3 * 0.044715 * x * x))
            return (g * (0.5 * (1.0 + t) + 0.5 * x * dt),)
        # d/dx x Phi(x) = Phi(x) + x phi(x)
        return (g * (self.cdf + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)),)
