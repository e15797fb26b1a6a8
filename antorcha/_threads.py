"""torch.get_num_threads / set_num_threads, driving the BLAS (and OpenMP) pools through threadpoolctl.

antorcha's heavy CPU work is NumPy's BLAS calls, so torch's intra-op thread count is the BLAS
pools' thread count. torch's inter-op pool has no counterpart here: its number is only kept.
"""

from __future__ import annotations

import os
from typing import Any

_controller: Any = None
_interop_threads: int | None = None


def _thread_pools() -> Any:
    """threadpoolctl's controller over the loaded BLAS/OpenMP libraries (found once: the scan is slow)."""
    global _controller
    if _controller is None:
        import numpy  # noqa: F401 - loads the BLAS the controller should find
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def _check_count(n: Any, name: str) -> int:
    if isinstance(n, bool) or (not isinstance(n, int) and not hasattr(n, "__index__")):
        raise RuntimeError(f"{name} expects an int, but got {type(n).__name__}")
    n = int(n)
    if n <= 0:
        raise RuntimeError(f"{name} expects a positive integer, got {n}")
    return n


def get_num_threads() -> int:
    """The BLAS pools' thread count (the cpu count where no pool is loaded)."""
    counts = [lib.num_threads for lib in _thread_pools().lib_controllers]
    return max(counts) if counts else os.cpu_count() or 1


def set_num_threads(int: Any) -> None:
    """Limit every BLAS and OpenMP pool to `int` threads, until set again."""
    _thread_pools().limit(limits=_check_count(int, "set_num_threads"))


def get_num_interop_threads() -> int:
    return _interop_threads if _interop_threads is not None else os.cpu_count() or 1


def set_num_interop_threads(int: Any) -> None:
    """Accepted and remembered: antorcha runs no inter-op pool (torch's parallelism between ops)."""
    global _interop_threads
    _interop_threads = _check_count(int, "set_num_interop_threads")
