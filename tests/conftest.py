"""Fixtures the compiled-kernel tests share (test_jit_kernels, test_jit_recurrent)."""

from __future__ import annotations

import pytest

import dlbd_lib as dl
from dlbd_lib import _jit


@pytest.fixture
def kernels_on():
    """The test starts with the kernels on (even under DLBD_NO_NUMBA=1), and the setting
    is restored after it."""
    previous = _jit.use_kernels(True)
    yield
    _jit.use_kernels(previous)


@pytest.fixture
def two_threads():
    """Two engine threads: the slices of a kernel's work run side by side."""
    before = dl.get_num_threads()
    dl.set_num_threads(2)
    yield
    dl.set_num_threads(before)
