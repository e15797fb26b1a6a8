"""Row-parallel work for the fused ops: one share of the rows per core, in cache-sized chunks.

NumPy's ufuncs and BLAS release the GIL, so threads that each run their own rows
through NumPy calls use every core. BLAS itself is held to one thread meanwhile:
its own threads would only compete with the workers for the same cores.

A hand-off to a pool thread has a fixed cost, so a split pays only when each
share is worth more than that (`min_rows` per worker).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

# One chunk's widest (rows, width) buffer: small enough to stay in a core's L2 cache between
# the ops that touch it, big enough that the per-chunk calls are few. Both fused ops use it.
CHUNK_BYTES = 2**20
_WORKERS = max(1, min(os.cpu_count() or 1, 8))
_pool: ThreadPoolExecutor | None = None


def rows_per_chunk(width: int, itemsize: int) -> int:
    """How many rows of `width` elements fill `CHUNK_BYTES` (at least 64)."""
    return max(64, CHUNK_BYTES // (width * itemsize))


def run_split(work: Callable[[int, int], Any], rows: int, chunk: int, min_rows: int = 0) -> list[Any]:
    """`work(start, stop)` over [0, rows), one equal share per worker; the results in order.

    The calling thread runs the last share itself, so n workers cost n - 1 hand-offs.
    """
    global _pool
    workers = min(_WORKERS, -(-rows // chunk), max(1, rows // max(min_rows, 1)))
    if workers <= 1:
        return [work(0, rows)]
    share = -(-rows // workers)
    bounds = [(start, min(start + share, rows)) for start in range(0, rows, share)]
    if _pool is None:
        _pool = ThreadPoolExecutor(_WORKERS - 1, thread_name_prefix="antorcha-fused")
    errors = np.geterr()  # NumPy's error state is per thread: the workers take the caller's

    def work_as_caller(start: int, stop: int) -> Any:
        with np.errstate(**errors):
            return work(start, stop)

    with _SingleThreadedBlas():
        futures = [_pool.submit(work_as_caller, *b) for b in bounds[:-1]]
        last = work(*bounds[-1])
        return [f.result() for f in futures] + [last]


class _SingleThreadedBlas:
    """Hold BLAS to one thread inside the block (threadpoolctl, the `speed` extra; else a no-op)."""

    _libraries: list[Any] | None = None

    def __enter__(self) -> None:
        self._saved = [(lib, lib.num_threads) for lib in self._blas_libraries()]
        for lib, _ in self._saved:
            lib.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        for lib, threads in self._saved:
            lib.set_num_threads(threads)

    @classmethod
    def _blas_libraries(cls) -> list[Any]:
        if cls._libraries is None:  # found once: scanning the loaded libraries is slow
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:
                cls._libraries = []
            else:
                cls._libraries = ThreadpoolController().select(user_api="blas").lib_controllers
        return cls._libraries
