"""Keep freed array memory in the process for reuse (glibc only; on by default).

NumPy allocates a fresh array for every op result. glibc's malloc, by default,
serves blocks over 128 KiB with fresh mmaps and returns freed memory at the top of
the heap to the OS once more than 128 KiB of it is free, so the next op's array of
the same size is faulted back in page by page. PyTorch avoids this with its caching
allocator; antorcha asks glibc instead to keep freed memory (up to 1 GiB at the top
of the heap) and to serve arrays up to 32 MiB from the heap. The memory is reused by
later arrays, and returned when the process ends.

`import antorcha` applies this with `mallopt`, which changes malloc for the whole
process, not only for antorcha's arrays. To leave malloc alone, set the environment
variable `ANTORCHA_KEEP_FREED_MEMORY=0` before the import; `keep_freed_memory(False)`
puts glibc's default thresholds back at any time, and `keep_freed_memory()` applies
the setting again. `APPLIED` says whether it is in effect.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from typing import Any

ENV_VAR = "ANTORCHA_KEEP_FREED_MEMORY"
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_FREED_BYTES = 1 << 30
_HEAP_ARRAYS_UP_TO = 32 << 20  # glibc's largest allowed mmap threshold on 64-bit
_GLIBC_DEFAULT_THRESHOLD = 128 << 10  # where glibc starts both thresholds


@functools.cache
def _mallopt() -> Any:
    """glibc's mallopt, or None where there is none (not Linux, or a libc such as musl)."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt


def keep_freed_memory(enabled: bool = True) -> bool:
    """Keep freed memory for reuse (`enabled`), or put glibc's default thresholds back.

    The defaults are M_TRIM_THRESHOLD and M_MMAP_THRESHOLD of 128 KiB, the values
    glibc starts with (once set, glibc no longer raises the mmap threshold by itself).
    Returns whether malloc took the settings; False where there is no glibc.
    """
    global APPLIED
    mallopt = _mallopt()
    if mallopt is None:
        return False
    trim, mmap = (_KEEP_FREED_BYTES, _HEAP_ARRAYS_UP_TO) if enabled else (_GLIBC_DEFAULT_THRESHOLD,) * 2
    done = bool(mallopt(_M_TRIM_THRESHOLD, trim)) and bool(mallopt(_M_MMAP_THRESHOLD, mmap))
    APPLIED = done and enabled
    return done


def _wanted() -> bool:
    return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "false", "no", "off")


APPLIED = False  # whether freed memory is being kept (set by keep_freed_memory)
if _wanted():
    keep_freed_memory()
