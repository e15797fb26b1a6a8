"""torch.accelerator: the device-neutral API over the current accelerator, which here is cuda or none.

Everything answers without a GPU: `is_available()` is False, `current_accelerator()` None, and
the functions that need a device raise torch's RuntimeError.
"""

from __future__ import annotations

from typing import Any

from antorcha import cuda
from antorcha._device import as_device, device

_NONE_AVAILABLE = "Cannot access accelerator device when none is available."


def is_available() -> bool:
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> device | None:
    """device('cuda') when a GPU is usable, else None."""
    return device("cuda") if cuda.is_available() else None


def device_count() -> int:
    return cuda.device_count()


def _require() -> None:
    if not cuda.is_available():
        raise RuntimeError(_NONE_AVAILABLE)


def current_device_index() -> int:
    _require()
    return cuda.current_device()


current_device_idx = current_device_index


def _index_of(target: device | str | int | None) -> int | None:
    if target is None or isinstance(target, int):
        return target
    spec = as_device(target)
    if spec.type != "cuda":
        raise ValueError(f"{spec} doesn't match the current accelerator cuda")
    return spec.index


def set_device_index(device: device | str | int | None, /) -> None:
    _require()
    index = _index_of(device)
    if index is not None:
        cuda.set_device(index)


set_device_idx = set_device_index


def synchronize(device: device | str | int | None = None, /) -> None:
    """Wait for the device's queued work (call before reading a clock around GPU work)."""
    _require()
    cuda.synchronize(_index_of(device))


def empty_cache() -> None:
    if cuda.is_available():
        cuda.empty_cache()


def memory_allocated(device_index: Any = None, /) -> int:
    _require()
    return cuda.memory_allocated(device_index)


def max_memory_allocated(device_index: Any = None, /) -> int:
    _require()
    return cuda.max_memory_allocated(device_index)
