"""The autocast switch that ops read: per thread, as torch's, and one attribute read when it is off.

torch's autocast casts the inputs of a few ops, never inside their formulas: ops on its "lower
precision" list (matmul, mm, bmm, linear, einsum here) run in the autocast dtype, ops on its float32
list (the losses, prod) run in float32, and every other op follows type promotion. Those ops' public
functions start with `if AUTOCAST.on:` and call `lower_precision` or `to_float32` on their tensor
arguments; the casts are ordinary recorded ops (`ToCopyBackward0`), so a float32 parameter gets a
float32 gradient, as in torch. The context manager itself is `antorcha.amp.autocast`
(`amp/autocast_mode.py`), which sets this state.
"""

from __future__ import annotations

import threading
from typing import Any

from antorcha import _dtypes


class _AutocastState(threading.local):
    """Per thread: `on` is the one flag ops read; `dtypes[device_type]` is set while enabled there."""

    def __init__(self) -> None:  # runs once per thread; instance attributes read fastest
        self.on = False
        self.cache_enabled = True
        self.dtypes: dict[str, _dtypes.dtype] = {}  # enabled device types -> their autocast dtype
        self.settings: dict[str, _dtypes.dtype] = {}  # the dtype set per device, enabled or not


AUTOCAST = _AutocastState()

DEFAULT_DTYPES = {"cpu": _dtypes.bfloat16, "cuda": _dtypes.float16}


def lower_precision(*tensors: Any) -> tuple:
    """Cast the floating tensors (not float64, as torch) on an autocast device to its dtype."""
    return tuple([_cast(t, None) for t in tensors])


def to_float32(*tensors: Any) -> tuple:
    """Cast the lower-precision floating tensors on an autocast device to float32."""
    return tuple([_cast(t, _dtypes.float32) for t in tensors])


def _cast(t: Any, target: _dtypes.dtype | None) -> Any:
    dtype = getattr(t, "dtype", None)
    if not isinstance(dtype, _dtypes.dtype) or not dtype.is_floating_point or dtype is _dtypes.float64:
        return t
    low = AUTOCAST.dtypes.get(t._device.type)
    if low is None:
        return t
    return t.to(target or low)
