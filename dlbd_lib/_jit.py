"""Compiled kernels for the engine's memory-bound passes, when numba is installed.

A few ops make several numpy passes, or many small numpy calls, where one loop would do:
ReLU, 2x2 max pooling, conv's col2im, an LSTM or GRU time step, SGD with momentum, the
copy of a recurrent layer's states into its batch-first output.
`dlbd_lib._kernels` writes each as one loop, and numba compiles it (with the GIL released,
so the engine's threads run the batch slices side by side). Every such op keeps its numpy
code, which runs when:

- numba is not installed (it is optional: `pip install numba`),
- `DLBD_NO_NUMBA=1` is set, or `use_kernels(False)` was called,
- the compiler failed (a warning says why, once), or the input is small, not contiguous
  or not floating point.

The LSTM's and GRU's time loops run whole in compiled code, matrix products included: they
call numpy's own BLAS (`dlbd_lib._blas`), as np.matmul does; where it cannot be found the
numpy loop runs. Both paths give the same results (the tests run each op both ways).

Kernels compile on first use, one dtype at a time, and numba caches the machine code on
disk, so a later process loads it in milliseconds instead of compiling again (0.1 to
0.4 s a kernel).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from functools import partial

import numpy as np

__all__ = ["kernel", "kernels_enabled", "use_kernels", "fits"]

_enabled = os.environ.get("DLBD_NO_NUMBA", "") in ("", "0")
_numba = None  # the numba module once imported; False when it cannot be
_compiled: dict[tuple, Callable | None] = {}


def kernels_enabled() -> bool:
    """True when the compiled kernels run (numba importable and not turned off)."""
    return _enabled and _load_numba() is not False


def use_kernels(enabled: bool) -> bool:
    """Turn the compiled kernels on or off for this process; returns the previous setting.
    Off, every op runs its numpy code (how the tests compare the two)."""
    global _enabled
    previous, _enabled = _enabled, bool(enabled)
    return previous


def _load_numba():
    global _numba
    if _numba is None:
        try:
            import numba
            from numba.extending import register_jitable

            from dlbd_lib._kernels import JITABLE

            for helper in JITABLE:  # plain functions the kernels call: compiled into them
                register_jitable(helper)
            _numba = numba
        except Exception:  # not installed, or broken on this Python: numpy paths only
            _numba = False
    return _numba


def kernel(fn: Callable, dtype: np.dtype) -> Callable | None:
    """fn compiled for arrays of `dtype` (its signature: fn.signature with T = dtype),
    or None when the numpy code should run instead.

    Compiles on the first call for each (fn, dtype), on the calling thread, before any
    slice of the work is handed to other threads.
    """
    if not _enabled:
        return None
    key = (fn, dtype)
    try:
        return _compiled[key]
    except KeyError:
        pass
    numba = _load_numba()
    compiled = None
    if numba is not False and dtype in (np.float32, np.float64):
        sig = fn.signature.replace("T", "float32" if dtype == np.float32 else "float64")
        if sig.startswith("void(G, "):  # its first argument: numpy's BLAS matrix product
            compiled = _with_gemm(numba, fn, sig, dtype)
        else:
            compiled = _compile(numba, fn, sig)
    _compiled[key] = compiled
    return compiled


def _with_gemm(numba, fn: Callable, sig: str, dtype: np.dtype) -> Callable | None:
    """fn compiled with numpy's cblas gemm (a ctypes function) as its first argument, and
    that argument bound; None where numpy's BLAS has no such function (see _blas)."""
    from numba.core import sigutils

    from dlbd_lib._blas import gemm

    g = gemm(dtype)
    if g is None:
        return None
    args, ret = sigutils.normalize_signature(sig.replace("G, ", "", 1))
    compiled = _compile(numba, fn, ret(numba.typeof(g), *args))
    return None if compiled is None else partial(compiled, g)


def _compile(numba, fn: Callable, sig) -> Callable | None:
    # cache=True keeps the machine code beside the source (or in the user's cache folder
    # when the package folder is read-only); where neither can be written, compile anyway
    errors = []
    for cache in (True, False):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", numba.NumbaWarning)
                return numba.njit(sig, nogil=True, cache=cache)(fn)
        except Exception as exc:  # caching impossible, or the compiler failed
            errors.append(exc)
    warnings.warn(f"dlbd_lib: could not compile {fn.__name__} with numba ({errors[-1]!r}); "
                  "using the numpy code instead", RuntimeWarning, stacklevel=3)
    return None


def fits(*arrays: np.ndarray) -> bool:
    """True when every array can go to a kernel as it is: C-contiguous and writeable (the
    signatures say so; a read-only memmap or a broadcast gradient takes the numpy path)."""
    return all(a.flags.c_contiguous and a.flags.writeable for a in arrays)
