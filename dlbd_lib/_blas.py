"""numpy's own BLAS matrix product, callable from the compiled kernels.

A compiled loop that needs a matrix product per step (an LSTM's or GRU's time loop) calls the
very `cblas_?gemm` that `np.matmul` calls, found in numpy's bundled OpenBLAS through
ctypes. One library means the same numbers as numpy's code (bit for bit) and one thread
pool: numba's own `np.dot` would call scipy's OpenBLAS instead, whose threads then spin
against numpy's (an LSTM with 128 hidden units ran 4x slower that way on 2 cores).

Where numpy's BLAS is something else (Accelerate, MKL, a system OpenBLAS with other
symbol names), `gemm` returns None and the ops run their numpy code.
"""

from __future__ import annotations

import ctypes

import numpy as np

__all__ = ["gemm"]

# numpy's wheels bundle scipy-openblas: 64-bit integers ("64_" suffix), or 32-bit ones
_SYMBOLS = (("scipy_cblas_{}gemm64_", ctypes.c_int64), ("scipy_cblas_{}gemm", ctypes.c_int32))
_found: dict[str, object] = {}


def _numpy_blas_path() -> str | None:
    """The file of the OpenBLAS that numpy's wheel bundles (numpy.libs/ or numpy/.dylibs/),
    as threadpoolctl finds it loaded; None for any other BLAS (it could be scipy's)."""
    from dlbd_lib._parallel import _blas_libs

    libs = [lib for lib in _blas_libs() if getattr(lib, "internal_api", "") == "openblas"
            and "numpy" in str(lib.filepath)]
    return str(libs[0].filepath) if len(libs) == 1 else None


def gemm(dtype: np.dtype) -> object | None:
    """numpy's cblas_sgemm (float32) or cblas_dgemm (float64) as a ctypes function, or
    None when it cannot be found. Arguments as CBLAS: order, trans_a, trans_b, M, N, K,
    alpha, A, lda, B, ldb, beta, C, ldc (C = alpha op(A) op(B) + beta C; C is M x N)."""
    letter = {np.dtype(np.float32): "s", np.dtype(np.float64): "d"}.get(np.dtype(dtype))
    if letter is None:
        return None
    if letter not in _found:
        _found[letter] = _load(letter)
    return _found[letter]


def _load(letter: str) -> object | None:
    try:
        path = _numpy_blas_path()
        lib = ctypes.CDLL(path) if path else None
    except OSError:
        lib = None
    if lib is None:
        return None
    real = ctypes.c_float if letter == "s" else ctypes.c_double
    for pattern, integer in _SYMBOLS:
        fn = getattr(lib, pattern.format(letter), None)
        if fn is not None:
            fn.restype = None
            p = ctypes.c_void_p
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer,
                           real, p, integer, p, integer, real, p, integer]
            return fn
    return None
