"""Devices and the array-module switch.

Every op is written once against `xp`, the device's array module: NumPy on the
cpu, CuPy on cuda. This is the only module that knows about CuPy; it imports it
lazily and never fails when CuPy, a GPU or the driver is missing.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import numpy as np


class device:  # noqa: N801 - torch spells it in lower case
    """`device('cpu')`, `device('cuda')`, `device('cuda:1')` or `device('cuda', 1)`."""

    __slots__ = ("index", "type")

    def __init__(self, spec: str | device | int, index: int | None = None) -> None:
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if isinstance(spec, int) and not isinstance(spec, bool):
            spec, index = "cuda", spec
        if not isinstance(spec, str):
            raise TypeError(f"device() expected a string or int, got {type(spec).__name__}")
        kind, _, number = spec.partition(":")
        if kind not in ("cpu", "cuda") or (number and not number.isdigit()):
            raise RuntimeError("Expected one of cpu, cuda device type at start of device string: " + spec)
        if number:
            if index is not None:
                raise RuntimeError(f"device string {spec!r} already has an index")
            index = int(number)
        if kind == "cpu" and index not in (None, 0):
            raise RuntimeError(f"CPU device index must be 0 or None, got {index}")
        self.type, self.index = kind, index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"


CPU = device("cpu")

# where factories create tensors when given no device (torch.set_default_device)
_default_device: device = CPU


def set_default_device(device: str | device | int | None) -> None:
    """torch.set_default_device: factories called without `device=` then create there (None: cpu).

    Checked when a factory runs, as in torch: 'cuda' is accepted here on a machine without a GPU,
    and the next factory raises.
    """
    global _default_device
    _default_device = CPU if device is None else as_device(device)


def get_default_device() -> device:
    """The device factories use by default; 'cuda' with the current GPU's index."""
    return canonical(_default_device)


def get_default_device_spec() -> device:
    """The default device as set, without asking CuPy which GPU is current (for the factories)."""
    return _default_device

_cupy: ModuleType | None = None
_cupy_checked = False


def cupy_module() -> ModuleType | None:
    """CuPy when it imports and sees at least one GPU, else None (cached)."""
    global _cupy, _cupy_checked
    if not _cupy_checked:
        _cupy_checked = True
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() > 0:
                _cupy = cupy
        except Exception:
            _cupy = None
    return _cupy


def require_cupy(target: device) -> ModuleType:
    cp = cupy_module()
    if cp is None:
        raise RuntimeError(
            f"cannot use device '{target}': CUDA is not available "
            "(install antorcha[cuda] with CuPy and run on a machine with an NVIDIA GPU)"
        )
    return cp


def as_device(spec: object) -> device:
    if spec is None:
        return CPU
    if isinstance(spec, device):
        return spec
    return device(spec)  # type: ignore[arg-type]


def canonical(target: device) -> device:
    """cuda without an index means the current GPU; arrays always carry an index."""
    if target.type == "cuda" and target.index is None:
        cp = require_cupy(target)
        return device("cuda", cp.cuda.runtime.getDevice())
    return target


def xp_of(array: Any) -> ModuleType:
    """The array module an array belongs to."""
    if type(array) is np.ndarray:
        return np
    cp = cupy_module()
    if cp is not None and isinstance(array, cp.ndarray):
        return cp
    return np


def device_of(array: Any) -> device:
    if type(array) is np.ndarray:
        return CPU
    cp = cupy_module()
    if cp is not None and isinstance(array, cp.ndarray):
        return device("cuda", array.device.id)
    return CPU


def xp_for(target: device) -> ModuleType:
    if target.type == "cpu":
        return np
    return require_cupy(target)


def move_array(array: Any, target: device) -> Any:
    """Copy an array to `target`, or return it unchanged when it already lives there."""
    source = device_of(array)
    target = canonical(target)
    if source == target:
        return array
    if target.type == "cpu":
        return array.get()
    cp = require_cupy(target)
    with cp.cuda.Device(target.index):
        return cp.asarray(array)


def _quiet_switch() -> tuple[Any, Any]:
    """(enter, leave): make NumPy's float-error mode "ignore" for the current context, and restore it.

    `np.errstate(all="ignore")` builds its settings object on every use; setting NumPy's own
    context variable to one prepared "ignore" object is about six times cheaper, cheap enough for
    every op. That variable is NumPy 2's private `_ufunc_config._extobj_contextvar`: where it is
    missing, np.errstate does the same, slower.
    """
    try:
        from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj

        ignore_all = _make_extobj(all="ignore")
        return functools.partial(_extobj_contextvar.set, ignore_all), _extobj_contextvar.reset
    except (ImportError, AttributeError, TypeError):

        def enter() -> Any:
            state = np.errstate(all="ignore")
            state.__enter__()
            return state

        return enter, lambda state: state.__exit__(None, None, None)


# Op.apply runs every forward between these two: torch never warns about inf or NaN results
enter_quiet, leave_quiet = _quiet_switch()


class _QuietFloatErrors:
    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = enter_quiet()

    def __exit__(self, *exc: Any) -> None:
        leave_quiet(self._token)


def quiet_float_errors() -> Any:
    """A context in which NumPy does not warn about inf or NaN results: torch never does.

    The one spelling of `np.errstate(all="ignore")` in antorcha (CuPy never warns).
    """
    return _QuietFloatErrors()


def add_at(target: Any, index: Any, values: Any) -> None:
    """target[index] += values, where repeated indices accumulate (a scatter-add)."""
    if type(target) is np.ndarray:
        np.add.at(target, index, values)
        return
    cupyx_module().scatter_add(target, index, values)


def cupyx_module(name: str = "cupyx") -> ModuleType:
    """One of CuPy's extension modules (`cupyx`, `cupyx.scipy.special`), for ops on cupy arrays."""
    import importlib

    return importlib.import_module(name)
