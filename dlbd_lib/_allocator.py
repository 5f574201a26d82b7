"""Process-wide memory-allocator tuning applied when dlbd_lib is imported."""

from __future__ import annotations

import os
import sys


def tune_allocator() -> None:
    """Keep freed numpy buffers mapped between training steps (glibc Linux only).

    By default glibc returns every freed block above 128 KB to the OS, so each training
    step page-faults its activations and im2col buffers back in (measured: ~40% of a LeNet
    step). These two settings keep up to 256 MB of freed memory for reuse, as torch's
    allocator does. Set DLBD_NO_MALLOPT=1 to leave the allocator alone.
    """
    if not sys.platform.startswith("linux") or os.environ.get("DLBD_NO_MALLOPT"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: blocks below 32 MB come from the heap
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD: keep up to 256 MB of freed heap
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        pass
