"""dlbd_lib: a small, readable deep-learning engine on numpy, shaped like PyTorch.

Built step by step in the Deep Learning for Big Data course. `Tensor` records operations;
`backward()` fills `.grad`; `dlbd_lib.nn`, `dlbd_lib.optim` and `dlbd_lib.data` follow
torch's names so every piece can be checked against PyTorch.
"""

import numpy as np

from dlbd_lib import functional
from dlbd_lib._allocator import tune_allocator
from dlbd_lib._parallel import get_num_threads, set_num_threads
from dlbd_lib.creation import (
    arange,
    empty,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from dlbd_lib.errors import AnomalyError, DimError, DtypeError, GradError, ShapeError
from dlbd_lib.functional import (
    abs,
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    argsort,
    bmm,
    cat,
    chunk,
    clamp,
    clip,
    cos,
    cumprod,
    cumsum,
    einsum,
    exp,
    flatten,
    flip,
    gather,
    isfinite,
    isinf,
    isnan,
    log,
    log_softmax,
    logsumexp,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mm,
    norm,
    outer,
    permute,
    pow,
    prod,
    relu,
    reshape,
    roll,
    sigmoid,
    sin,
    softmax,
    sort,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    tanh,
    topk,
    transpose,
    tril,
    triu,
    unbind,
    unsqueeze,
    var,
    where,
)
from dlbd_lib.tensor import (
    Function,
    Tensor,
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
    unbroadcast,
)

# torch's dtype names, so `x.to(dl.float32)` and `(pred == y).type(dl.float)` read as in torch
float32 = float = np.float32  # noqa: A001
float64 = double = np.float64
float16 = half = np.float16
int64 = long = np.int64
int32 = int = np.int32  # noqa: A001
uint8 = np.uint8
bool = np.bool_  # noqa: A001

__version__ = "0.1.0"

_SUBMODULES = {"nn", "optim", "data", "train", "plot", "gradcheck", "torch_bridge", "device",
               "grading", "creation", "errors"}


def __getattr__(name: str):
    """`dlbd_lib.nn`, `dlbd_lib.optim`, ... work after a plain `import dlbd_lib`, as in torch."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"dlbd_lib.{name}")
    raise AttributeError(f"module 'dlbd_lib' has no attribute {name!r}")

__all__ = [
    "Tensor", "Function", "functional", "unbroadcast", "no_grad", "enable_grad",
    "set_grad_enabled", "is_grad_enabled", "detect_anomaly", "set_detect_anomaly",
    "is_anomaly_enabled", "tensor", "zeros", "ones", "zeros_like", "ones_like", "full",
    "full_like", "empty", "eye", "linspace", "from_numpy", "arange", "randn", "rand",
    "manual_seed", "float32", "float", "float64", "double", "float16", "half", "int64", "long",
    "int32", "int", "uint8", "bool", "ShapeError", "DimError", "DtypeError", "GradError",
    "AnomalyError", "get_num_threads", "set_num_threads",
    # torch's top-level functions that tutorials use (dl.exp, dl.sum, dl.max, dl.cat, ...)
    "abs", "all", "amax", "amin", "any", "argmax", "argmin", "argsort", "bmm", "cat", "chunk",
    "clamp", "clip", "cos", "cumprod", "cumsum", "einsum", "exp", "flatten", "flip", "gather",
    "isfinite", "isinf", "isnan", "log", "log_softmax", "logsumexp", "masked_fill", "matmul",
    "max", "maximum", "mean", "min", "minimum", "mm", "norm", "outer", "permute", "pow",
    "prod", "relu", "reshape", "roll", "sigmoid", "sin", "softmax", "sort", "split", "sqrt",
    "squeeze", "stack", "std", "sum", "tanh", "topk", "transpose", "tril", "triu", "unbind",
    "unsqueeze", "var", "where",
]

tune_allocator()
