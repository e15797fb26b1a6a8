"""`pin_memory=True`: a batch's cpu tensors copied into page-locked host memory (CuPy's), as torch's
`_utils/pin_memory.pin_memory`, so that `.cuda(non_blocking=True)` copies from them faster."""

from __future__ import annotations

import collections.abc
import copy
from typing import Any

from antorcha._tensor import Tensor


def pin_memory(data: Any) -> Any:
    """`data` with every cpu tensor pinned, containers rebuilt as torch's does."""
    if isinstance(data, Tensor):
        return data.pin_memory()
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        pinned = {key: pin_memory(value) for key, value in data.items()}
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)  # keeps extra state of the mapping type
                clone.update(pinned)
                return clone
            return type(data)(pinned)
        except TypeError:
            return pinned
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(pin_memory(item) for item in data))
    if isinstance(data, tuple):
        return type(data)(pin_memory(item) for item in data)
    if isinstance(data, collections.abc.Sequence):
        items = [pin_memory(item) for item in data]
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, item in enumerate(items):
                    clone[i] = item
                return clone
            return type(data)(items)
        except TypeError:
            return items
    if hasattr(data, "pin_memory"):
        return data.pin_memory()
    return data
