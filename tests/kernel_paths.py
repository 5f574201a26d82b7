"""Helpers of the compiled-kernel tests (test_jit_kernels, test_jit_recurrent): both
paths of an op, and bit-for-bit comparison. Their fixtures are in conftest.py."""

from __future__ import annotations

import numpy as np
import torch

from dlbd_lib import _jit

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def both_paths(fn):
    """fn() with the kernels on, then off: the two results."""
    previous = _jit.use_kernels(True)
    try:
        on = fn()
        _jit.use_kernels(False)
        off = fn()
    finally:
        _jit.use_kernels(previous)
    return on, off


def same(a, b) -> None:
    """Bit-for-bit equal, NaN where the other has NaN."""
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    assert np.array_equal(a, b, equal_nan=True)
