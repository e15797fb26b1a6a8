"""torch.backends.cudnn: enabled, benchmark, deterministic, allow_tf32 — set as module attributes.

antorcha uses no cuDNN (its convolutions are NumPy/CuPy array code), so `is_available()` is False
and the flags, accepted and readable, change nothing.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

enabled = True
benchmark = False
benchmark_limit = 10
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    return False


def version() -> int | None:
    return None


@contextlib.contextmanager
def flags(
    enabled: bool = False,
    benchmark: bool = False,
    benchmark_limit: int = 10,
    deterministic: bool = False,
    allow_tf32: bool = True,
) -> Iterator[None]:
    """Set the flags inside the block, restoring them after (torch.backends.cudnn.flags)."""
    module = sys.modules[__name__]
    names = ("enabled", "benchmark", "benchmark_limit", "deterministic", "allow_tf32")
    saved = {name: getattr(module, name) for name in names}
    values = (enabled, benchmark, benchmark_limit, deterministic, allow_tf32)
    for name, value in zip(names, values):
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)
