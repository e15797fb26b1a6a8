"""Keep freed array memory in the process for reuse (glibc only).

NumPy allocates a fresh array for every op result. glibc's malloc, by default,
returns freed memory at the top of the heap to the OS as soon as more than 128
KiB is free, so the next op's array of the same size is faulted back in page by
page: a (1310, 100) float32 matmul then takes 300 µs instead of 30 µs. PyTorch
avoids this with its caching allocator; antorcha asks glibc to keep freed memory
(up to 1 GiB at the top of the heap) and to serve arrays up to 32 MiB from the
heap. The memory is reused by later arrays, and returned when the process ends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_FREED_BYTES = 1 << 30
_HEAP_ARRAYS_UP_TO = 32 << 20  # glibc's largest allowed mmap threshold on 64-bit


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for array workloads; returns whether it applied."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES)) and bool(
        mallopt(_M_MMAP_THRESHOLD, _HEAP_ARRAYS_UP_TO)
    )


APPLIED = keep_freed_memory()
