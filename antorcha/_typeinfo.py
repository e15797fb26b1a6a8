"""torch.finfo and torch.iinfo: the limits of a floating-point or integer dtype, with torch's attributes."""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha import _dtypes


def _as_dtype(type: Any, which: str) -> _dtypes.dtype:
    if type is None:
        return _dtypes.get_default_dtype()
    if type is float:
        return _dtypes.float64  # a Python float is a double, as torch.finfo(float) says
    if not isinstance(type, _dtypes.dtype) and type not in (int, bool):
        raise TypeError(
            f"{which}(): argument 'type' (position 1) must be torch.dtype, not {type.__class__.__name__}"
        )
    return _dtypes.as_dtype(type)


class finfo:  # noqa: N801 - torch spells it in lower case
    """Machine limits of a floating-point dtype: bits, eps, max, min, tiny (= smallest_normal), resolution."""

    def __init__(self, type: Any = None) -> None:
        d = _as_dtype(type, "finfo")
        if not d.is_floating_point:
            raise TypeError(
                f"antorcha.finfo() requires a floating point input type, got {d}. Use antorcha.iinfo for it"
            )
        info = np.finfo(d.np)
        self.bits: int = info.bits
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = float(info.tiny)
        self.smallest_normal = float(info.smallest_normal)
        self.resolution = 10.0 ** -int(info.precision)  # exact in decimal, as torch gives it
        self.dtype: str = d.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, finfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("finfo", self.dtype))

    def __repr__(self) -> str:
        return (
            f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
            f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})"
        )


class iinfo:  # noqa: N801 - torch spells it in lower case
    """Limits of an integer dtype: bits, max, min (Python ints)."""

    def __init__(self, type: Any) -> None:
        d = _as_dtype(type, "iinfo")
        if d is _dtypes.bool_:
            raise TypeError(f"{d} is not supported by antorcha.iinfo")
        if d.is_floating_point:
            raise TypeError(
                f"antorcha.iinfo() requires an integer input type, got {d}. Use antorcha.finfo to handle it"
            )
        info = np.iinfo(d.np)
        self.bits: int = info.bits
        self.max: int = int(info.max)
        self.min: int = int(info.min)
        self.dtype: str = d.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, iinfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("iinfo", self.dtype))

    def __repr__(self) -> str:
        return f"iinfo(min={float(self.min):g}, max={float(self.max):g}, dtype={self.dtype})"
