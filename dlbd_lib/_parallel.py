"""The engine's CPU threads: how many, and running a loop over the batch on them.

numpy releases the GIL inside large copies, ufunc loops and BLAS calls, so the per-sample
work of convolution and pooling (copying windows into columns, adding them back, taking
window maxima) runs truly in parallel when the batch is split over a few Python threads.
`set_num_threads` mirrors torch.set_num_threads: it sets this pool and numpy's BLAS pool.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["get_num_threads", "set_num_threads", "parallel_for", "blas_threads_back"]


def _default_threads() -> int:
    """OMP_NUM_THREADS if set (as torch reads it), else the cores this process may use."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_threads = _default_threads()
_pool: ThreadPoolExecutor | None = None
_blas: list | None = None  # threadpoolctl's handles on numpy's BLAS, found on first use
_pinned_at: float | None = None  # when parallel_for last held BLAS to one thread
_held: dict[int, int] = {}  # id of a BLAS library held to one thread -> its thread count
_QUIET_S = 1.0  # seconds without a parallel loop after which BLAS gets its threads back


def _forget_pool() -> None:
    """A forked child has none of its parent's threads: start a fresh pool on first use."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _blas_libs() -> list:
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController

            libs = ThreadpoolController().select(user_api="blas").lib_controllers
            # numpy's own BLAS (a wheel bundles it under numpy.libs); scipy may load a second
            # one, which numpy's matmul never calls. A system numpy: all BLAS libraries.
            _blas = [lib for lib in libs if "numpy" in str(lib.filepath)] or libs
        except Exception:  # threadpoolctl missing or unable to load: leave BLAS alone
            _blas = []
    return _blas


def get_num_threads() -> int:
    """Number of threads the engine's own parallel loops use (as torch.get_num_threads)."""
    return _threads


def set_num_threads(num_threads: int) -> None:
    """Use num_threads CPU threads in the engine and in numpy's BLAS (torch.set_num_threads)."""
    global _threads, _pool, _pinned_at
    if not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {num_threads!r}")
    _threads = num_threads
    _pinned_at = None
    _held.clear()
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(num_threads, user_api="blas")
    except ImportError:  # threadpoolctl is optional: then numpy's BLAS keeps its threads
        pass


def blas_threads_back() -> None:
    """Give numpy's BLAS back the threads parallel_for took (it holds BLAS to one thread)
    once no parallel loop has run for a second. Called before the engine's
    large matrix products (Linear, matmul); costs one clock read while BLAS is held."""
    global _pinned_at
    if _pinned_at is None or time.monotonic() - _pinned_at < _QUIET_S:
        return
    _pinned_at = None
    for lib in _blas_libs():
        if id(lib) in _held:
            lib.set_num_threads(_held.pop(id(lib)))


def parallel_for(body: Callable[[int, int], None], n: int, work_per_item: int) -> None:
    """Call body(start, stop) on slices that cover range(n), on up to get_num_threads()
    threads. Runs inline when one thread is set or the work (n * work_per_item elements
    touched) is too small to repay a thread hand-off (~20 us)."""
    global _pool, _pinned_at
    parts = min(_threads, n, max(1, n * work_per_item // 50_000))
    if parts <= 1:
        body(0, n)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="dlbd")
    # The slices' BLAS calls run one thread each, and BLAS stays on one thread afterwards:
    # OpenBLAS's threads keep spinning for a while after every multi-threaded call, so a
    # Linear layer's GEMM on two BLAS threads would hold the core this pool needs for the
    # next convolution (a LeNet step measured no faster on two threads than on one).
    # set_num_threads() gives BLAS its threads back, and so does blas_threads_back() once
    # no parallel loop has run for _QUIET_S seconds (an MLP trained after a CNN).
    _pinned_at = time.monotonic()
    for lib in _blas_libs():
        n_blas = lib.get_num_threads()
        if n_blas > 1:
            _held[id(lib)] = n_blas
            lib.set_num_threads(1)
    bounds = [n * i // parts for i in range(parts + 1)]
    futures = [_pool.submit(body, lo, hi) for lo, hi in zip(bounds[1:-1], bounds[2:])]
    body(bounds[0], bounds[1])  # this thread takes the first slice
    for f in futures:
        f.result()  # re-raises an exception from a worker
