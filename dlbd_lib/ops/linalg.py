"""Linear algebra: matmul (mm, bmm, dot, outer) and einsum."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlbd_lib._parallel import blas_threads_back
from dlbd_lib.errors import ShapeError, fmt_shape
from dlbd_lib.ops._common import shape_of
from dlbd_lib.tensor import Function, Tensor

__all__ = ["matmul", "mm", "bmm", "dot", "outer", "einsum"]


class MatMul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        blas_threads_back()  # BLAS's threads, if a convolution held them and is done
        try:
            return np.matmul(a, b)
        except ValueError:
            sa, sb = np.shape(a), np.shape(b)
            if len(sa) == 0 or len(sb) == 0:
                why = "both operands need at least one dimension"
            else:
                ka, kb = sa[-1], sb[-2] if len(sb) > 1 else sb[0]
                why = (f"{ka} (last dim of the first) != {kb} (first matrix dim of the second)"
                       if ka != kb else "their batch dimensions cannot be broadcast together")
            raise ShapeError(
                f"matmul: shapes {fmt_shape(sa)} and {fmt_shape(sb)} are not aligned: {why}"
            ) from None

    def backward(self, g):
        a, b = self.a, self.b
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:
            # dot product: d(a.b)/da = b, d(a.b)/db = a
            return (g * b if self.needs_grad[0] else None), (g * a if self.needs_grad[1] else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        # d(AB)/dA = G B^T, d(AB)/dB = A^T G
        if self.needs_grad[0]:
            ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga.sum(axis=tuple(range(ga.ndim - 1)))  # size 0 works too
        if self.needs_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                # one B shared by a batch of A: fold the batch into the rows, one GEMM
                gb = a2.reshape(-1, a2.shape[-1]).T @ g2.reshape(-1, g2.shape[-1])
            else:
                gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
            if b.ndim == 1:
                gb = gb[..., 0]
                gb = gb.sum(axis=tuple(range(gb.ndim - 1)))
        return ga, gb


class Einsum(Function):
    def forward(self, *xs, equation=""):
        self.xs = xs
        ins, out = _parse(equation, len(xs))
        self.ins, self.out = ins, out
        for sub, x in zip(ins, xs):
            if len(set(sub)) != len(sub):
                raise ShapeError(f"einsum: repeated index in {sub!r} (diagonals) is not "
                                 "supported")
            if len(sub) != x.ndim:
                raise ShapeError(f"einsum: {sub!r} names {len(sub)} dims but the operand "
                                 f"has shape {fmt_shape(x.shape)}")
        return np.asarray(np.einsum(f"{','.join(ins)}->{out}", *xs))

    def backward(self, g):
        # d out/d x_i: the same contraction of g with the other operands, back to x_i's dims
        grads = []
        for i, (sub, x) in enumerate(zip(self.ins, self.xs)):
            if not self.needs_grad[i]:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(self.ins) if j != i]
            present = set(self.out).union(*others)
            kept = "".join(c for c in sub if c in present)  # letters summed only in x_i
            ops = [g] + [x2 for j, x2 in enumerate(self.xs) if j != i]
            gi = np.einsum(f"{','.join([self.out] + others)}->{kept}", *ops)
            shape = [x.shape[k] if c in kept else 1 for k, c in enumerate(sub)]
            grads.append(np.broadcast_to(gi.reshape(shape), x.shape))
        return tuple(grads)


def _parse(equation: str, n: int) -> tuple[list[str], str]:
    eq = equation.replace(" ", "")
    if "." in eq:
        raise ShapeError("einsum: '...' is not supported; name every dim")
    lhs, _, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != n:
        raise ShapeError(f"einsum: {equation!r} names {len(ins)} operands, got {n}")
    if "->" not in eq:  # implicit output: the letters used once, in alphabetical order
        letters = "".join(ins)
        rhs = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return ins, rhs


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with numpy's rules: (..., n, k) @ (..., k, m) -> (..., n, m)."""
    __tracebackhide__ = True  # noqa: F841 - IPython hides this engine frame
    return MatMul.apply(a, b)


def mm(a: Any, b: Any) -> Tensor:
    """(n, k) @ (k, m) -> (n, m); both must be matrices."""
    if len(shape_of(a)) != 2 or len(shape_of(b)) != 2:
        raise ShapeError(f"mm: needs two matrices, got shapes {fmt_shape(shape_of(a))} and "
                         f"{fmt_shape(shape_of(b))}")
    return MatMul.apply(a, b)


def bmm(a: Any, b: Any) -> Tensor:
    """(B, n, k) @ (B, k, m) -> (B, n, m); both must be batches of matrices."""
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) != 3 or len(sb) != 3 or sa[0] != sb[0]:
        raise ShapeError(f"bmm: needs two 3-D tensors with the same batch size, got shapes "
                         f"{fmt_shape(sa)} and {fmt_shape(sb)}")
    return MatMul.apply(a, b)


def dot(a: Any, b: Any) -> Tensor:
    """The inner product of two 1-D tensors of the same length."""
    if len(shape_of(a)) != 1 or len(shape_of(b)) != 1:
        raise ShapeError(f"dot: needs two 1-D tensors, got shapes {fmt_shape(shape_of(a))} "
                         f"and {fmt_shape(shape_of(b))}")
    return MatMul.apply(a, b)


def outer(a: Any, b: Any) -> Tensor:
    """out[i, j] = a[i] * b[j] for 1-D a and b."""
    return einsum("i,j->ij", a, b)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, e.g. einsum('bij,bjk->bik', a, b); differentiable in every operand."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return Einsum.apply(*operands, equation=equation)
