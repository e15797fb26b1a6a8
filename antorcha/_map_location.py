"""`map_location` for `antorcha.load`: which device an array saved from a given location goes to.

Shared by the antorcha checkpoint reader (serialization.py) and the PyTorch checkpoint reader
(_torch_pickle.py), so that both accept the same forms, as torch.load does: None (back where
it was saved), a device or string, a dict from saved location strings to devices, or a
callable `(tensor_on_cpu, saved_location) -> tensor or None`.
"""

from __future__ import annotations

from typing import Any

from antorcha._device import as_device, cupy_module, device, move_array

_NO_CUDA = (
    "Attempting to deserialize object on a CUDA device but antorcha.cuda.is_available() is False. "
    "If you are running on a CPU-only machine, please use antorcha.load with "
    "map_location=antorcha.device('cpu') to map your storages to the CPU."
)


class MapLocationCallbackError(Exception):
    """Carries an exception raised by the user's map_location callable past the readers' damage
    handling, so that it reaches the caller unchanged rather than as 'the file is damaged'."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def is_callable_map(map_location: Any) -> bool:
    return callable(map_location) and not isinstance(map_location, (str, device))


def call_map(map_location: Any, host_tensor: Any, saved_location: str) -> Any:
    """The user's callable's answer, with its own exceptions marked as its own."""
    try:
        return map_location(host_tensor, saved_location)
    except Exception as error:
        raise MapLocationCallbackError(error) from error


def target_device(map_location: Any, saved_location: str) -> device:
    """The device a non-callable `map_location` picks for data saved from `saved_location`."""
    target: Any = saved_location
    if isinstance(map_location, dict):
        target = map_location.get(saved_location, saved_location)
    elif map_location is not None:
        target = map_location
    target = as_device(target)
    if target.type == "cuda" and cupy_module() is None:
        raise RuntimeError(_NO_CUDA)
    return target


def place(array: Any, map_location: Any, saved_location: str) -> Any:
    """`array` moved to the device a non-callable `map_location` picks."""
    return move_array(array, target_device(map_location, saved_location))
