"""dlbd_lib: a small, readable deep-learning engine on numpy, shaped like PyTorch.

Built step by step in the Deep Learning for Big Data course. `Tensor` records operations;
`backward()` fills `.grad`; `dlbd_lib.nn`, `dlbd_lib.optim` and `dlbd_lib.data` follow
torch's names so every piece can be checked against PyTorch.
"""

from dlbd_lib import functional
from dlbd_lib._allocator import tune_allocator
from dlbd_lib._parallel import get_num_threads, set_num_threads
from dlbd_lib.creation import (
    arange,
    full,
    manual_seed,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from dlbd_lib.errors import AnomalyError, DtypeError, GradError, ShapeError
from dlbd_lib.functional import cat, stack, where
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
    "arange", "randn", "rand", "manual_seed", "cat", "stack", "where", "ShapeError",
    "DtypeError", "GradError", "AnomalyError", "get_num_threads", "set_num_threads",
]

tune_allocator()
