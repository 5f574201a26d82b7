"""The differentiable operations as functions: a facade over the package `dlbd_lib.ops`.

`import dlbd_lib.functional as F` gives every op (F.add, F.matmul, F.sum, F.max, F.cat,
F.gather, F.pad, ...) with torch's signatures; numpy's `axis=` / `keepdims=` are accepted
beside torch's `dim=` / `keepdim=`. The op classes live in `dlbd_lib.ops.<family>`.
"""

from __future__ import annotations

from dlbd_lib.ops import *  # noqa: F403
from dlbd_lib.ops import __all__ as _ops_all
from dlbd_lib.ops.arithmetic import Add, Div, Maximum, Mul, Neg, Pow, Remainder, Sub
from dlbd_lib.ops.elementwise import (
    Abs,
    Cast,
    Clip,
    Cos,
    Exp,
    LeakyReLU,
    Log,
    ReLU,
    Sigmoid,
    Sin,
    Sqrt,
    Tanh,
    Where,
)
from dlbd_lib.ops.indexing import GetItem, SetItem
from dlbd_lib.ops.linalg import Einsum, MatMul
from dlbd_lib.ops.reductions import Amax, Mean, Sum, Var
from dlbd_lib.ops.shape import Cat, Reshape, Stack, Transpose
from dlbd_lib.ops.softmax_ops import LogSoftmax, Softmax

Max = Amax  # the old name of the tie-sharing max/min op

__all__ = list(_ops_all) + [
    "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Remainder", "Maximum", "MatMul", "Einsum",
    "Exp", "Log", "Sqrt", "Sin", "Cos", "Tanh", "Sigmoid", "ReLU", "LeakyReLU", "Abs", "Clip",
    "Cast", "Where", "Sum", "Mean", "Var", "Max", "Amax", "Reshape", "Transpose", "GetItem",
    "SetItem", "Cat", "Stack", "Softmax", "LogSoftmax",
]
