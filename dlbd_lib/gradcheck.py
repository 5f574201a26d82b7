"""Finite-difference gradient checks: is backward() right? Work in float64.

`gradcheck` perturbs every input element (central differences, exact but O(size) function
calls); `gradcheck_projection` checks a random directional derivative with two function
calls per direction, whatever the size, so convolutions and RNNs can be checked cheaply.
Both compare against L = sum(u * f(x)) for a random u, so every output element matters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dlbd_lib.tensor import Tensor, no_grad

__all__ = ["numerical_grad", "gradcheck", "gradcheck_projection", "relative_error"]


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a| + |b|, tiny): 0 for equal arrays, about 1 for unrelated ones."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-12))


def _check_inputs(inputs: Sequence[Tensor]) -> None:
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"input {i} is a {type(t).__name__}, expected a dlbd_lib.Tensor")
        if t.requires_grad and t.dtype != np.float64:
            raise TypeError(
                f"input {i} has dtype {t.dtype}; gradient checks need float64 "
                "(float32 rounding swamps the finite differences)"
            )


def _scalar_loss(fn: Callable[..., Tensor], inputs: Sequence[Tensor], u: np.ndarray) -> float:
    with no_grad():
        return float(np.sum(u * np.asarray(fn(*inputs).data, dtype=np.float64)))


def _analytic(fn: Callable[..., Tensor], inputs: Sequence[Tensor],
              seed: int) -> tuple[np.ndarray, list[np.ndarray | None]]:
    for t in inputs:
        t.grad = None
    out = fn(*inputs)
    u = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(u.astype(out.dtype))
    grads = [None if not t.requires_grad else
             (np.zeros(t.shape) if t.grad is None else t.grad.astype(np.float64))
             for t in inputs]
    return u, grads


def numerical_grad(fn: Callable[..., Tensor], inputs: Sequence[Tensor], u: np.ndarray,
                   eps: float = 1e-6) -> list[np.ndarray | None]:
    """Central differences of L = sum(u * fn(*inputs)) for every element of every input."""
    result: list[np.ndarray | None] = []
    for t in inputs:
        if not t.requires_grad:
            result.append(None)
            continue
        g = np.zeros(t.shape)
        for i in np.ndindex(t.shape):  # perturb t.data itself in place (even non-contiguous)
            old = t.data[i]
            t.data[i] = old + eps
            plus = _scalar_loss(fn, inputs, u)
            t.data[i] = old - eps
            minus = _scalar_loss(fn, inputs, u)
            t.data[i] = old
            g[i] = (plus - minus) / (2 * eps)
        result.append(g)
    return result


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Compare backward() with central differences for every input element.

    fn: a function of the input Tensors returning a Tensor of any shape.
    inputs: float64 Tensors; those with requires_grad=True are checked.
    Returns True, or raises AssertionError naming the input, the worst element and both values.
    """
    _check_inputs(inputs)
    u, analytic = _analytic(fn, inputs, seed)
    numeric = numerical_grad(fn, inputs, u, eps)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        if a is None or n is None:
            continue
        if not np.allclose(a, n, atol=atol, rtol=rtol):
            worst = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(a - n)), a.shape))
            raise AssertionError(
                f"gradient of input {i} (shape {a.shape}) is wrong: at index {worst} "
                f"backward gave {a[worst]:.6g}, finite differences {n[worst]:.6g} "
                f"(relative error {relative_error(a, n):.2e})"
            )
    return True


def gradcheck_projection(fn: Callable[..., Tensor], inputs: Sequence[Tensor],
                         n_dirs: int = 3, eps: float = 1e-6, rtol: float = 1e-4,
                         atol: float = 1e-8, seed: int = 0) -> bool:
    """Check random directional derivatives: two function calls per direction.

    For random directions v (one per checked input, all moved together) compare
    (L(x + eps v) - L(x - eps v)) / (2 eps) with sum(grad * v), where L = sum(u * fn(x)).
    Returns True, or raises AssertionError with both values.
    """
    _check_inputs(inputs)
    u, analytic = _analytic(fn, inputs, seed)
    rng = np.random.default_rng(seed + 1)
    originals = [t.data.copy() for t in inputs]
    for d in range(n_dirs):
        dirs = [rng.standard_normal(t.shape) if t.requires_grad else None for t in inputs]
        expected = sum(float(np.sum(g * v)) for g, v in zip(analytic, dirs) if g is not None)
        values = []
        for sign in (1.0, -1.0):
            for t, v, x0 in zip(inputs, dirs, originals):
                if v is not None:
                    t.data[...] = x0 + sign * eps * v
            values.append(_scalar_loss(fn, inputs, u))
        for t, x0 in zip(inputs, originals):
            t.data[...] = x0
        numeric = (values[0] - values[1]) / (2 * eps)
        if not np.isclose(expected, numeric, rtol=rtol, atol=atol * max(1.0, abs(numeric))):
            raise AssertionError(
                f"directional derivative {d}: backward gives {expected:.10g}, finite "
                f"differences {numeric:.10g} (relative error "
                f"{abs(expected - numeric) / max(abs(numeric), 1e-12):.2e})"
            )
    return True
