"""`pin_memory=True`: a batch's cpu tensors copied into page-locked host memory (CuPy's), as torch's
`_utils/pin_memory.pin_memory`, so that `.cuda(non_blocking=True)` copies from them faster."""

from __future__ import annotations

import collections.abc
from typing import Any

from antorcha._tensor import Tensor
from antorcha.utils.data._collate import rebuild_mapping, rebuild_sequence


def pin_memory(data: Any) -> Any:
    """`data` with every cpu tensor pinned, containers rebuilt as torch's does."""
    if isinstance(data, Tensor):
        return data.pin_memory()
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        return rebuild_mapping(data, {key: pin_memory(value) for key, value in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(pin_memory(item) for item in data))
    if isinstance(data, tuple):
        return type(data)(pin_memory(item) for item in data)
    if isinstance(data, collections.abc.Sequence):
        return rebuild_sequence(data, [pin_memory(item) for item in data])
    if hasattr(data, "pin_memory"):
        return data.pin_memory()
    return data
