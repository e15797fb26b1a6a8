"""torch.autocast (also torch.amp.autocast): run matmul-like ops in a lower precision inside a region.

    with antorcha.autocast("cpu"):            # bfloat16, the CPU default
        logits = model(x)                     # Linear -> bfloat16
        loss = F.cross_entropy(logits, y)     # a float32-list op -> float32
    loss.backward()                           # float32 parameters get float32 gradients

As in torch: usable as a decorator; nested regions and `enabled=False` restore the previous state on
exit; CPU autocast takes bfloat16 or float16 (another dtype warns and disables it); 'cuda' without a
GPU warns and disables it. The ops read the per-thread state in `antorcha/_autocast.py`.
`cache_enabled` is accepted and reported; casts are not cached (each op casts its own inputs).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from antorcha import _dtypes
from antorcha._autocast import AUTOCAST, DEFAULT_DTYPES

F = TypeVar("F", bound=Callable[..., Any])

_DEVICE_TYPES = (
    "cpu, cuda, ipu, xpu, mkldnn, opengl, opencl, ideep, hip, ve, fpga, maia, xla, lazy, vulkan, mps, "
    "meta, hpu, mtia, privateuseone"
)


def _check_device_type(device_type: Any) -> str:
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type not in _DEVICE_TYPES.split(", "):
        raise RuntimeError(
            f"Expected one of {_DEVICE_TYPES} device type at start of device string: {device_type}"
        )
    return device_type


class autocast:  # noqa: N801 - torch spells it in lower case
    """A region (or decorated function) whose matmul-like ops run in `dtype` on `device_type`."""

    def __init__(
        self,
        device_type: str,
        dtype: _dtypes.dtype | None = None,
        enabled: bool = True,
        cache_enabled: bool | None = None,
    ) -> None:
        self.device = _check_device_type(device_type)
        self.fast_dtype = get_autocast_dtype(self.device) if dtype is None else _dtypes.as_dtype(dtype)
        self._cache_enabled = AUTOCAST.cache_enabled if cache_enabled is None else bool(cache_enabled)
        self._enabled = bool(enabled) and self._supported()

    def _supported(self) -> bool:
        if self.device == "cuda":
            from antorcha import cuda

            if not cuda.is_available():
                warnings.warn(
                    "CUDA is not available or torch_xla is imported. Disabling autocast.", stacklevel=3
                )
                return False
            if self.fast_dtype is _dtypes.bfloat16 and not cuda.is_bf16_supported():
                raise RuntimeError(
                    "Current CUDA Device does not support bfloat16. Please switch dtype to float16."
                )
            return True
        if self.device == "cpu" and self.fast_dtype not in (_dtypes.bfloat16, _dtypes.float16):
            warnings.warn(
                "In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                "CPU Autocast only supports dtypes of torch.bfloat16, torch.float16 currently.",
                stacklevel=3,
            )
            return False
        return self.device in ("cpu", "cuda")

    def __enter__(self) -> None:
        self._previous = (
            AUTOCAST.dtypes.get(self.device), AUTOCAST.settings.get(self.device), AUTOCAST.cache_enabled
        )
        AUTOCAST.settings[self.device] = self.fast_dtype
        AUTOCAST.cache_enabled = self._cache_enabled
        _set_enabled(self.device, self._enabled)

    def __exit__(self, *exc_info: Any) -> None:
        enabled_dtype, setting, AUTOCAST.cache_enabled = self._previous
        if setting is None:
            AUTOCAST.settings.pop(self.device, None)
        else:
            AUTOCAST.settings[self.device] = setting
        _set_enabled(self.device, enabled_dtype is not None)

    def __call__(self, function: F) -> F:
        @functools.wraps(function)
        def autocast_region(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return function(*args, **kwargs)

        return autocast_region  # type: ignore[return-value]


def _set_enabled(device_type: str, enabled: bool) -> None:
    if enabled:
        AUTOCAST.dtypes[device_type] = get_autocast_dtype(device_type)
    else:
        AUTOCAST.dtypes.pop(device_type, None)
    AUTOCAST.on = bool(AUTOCAST.dtypes)


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether autocast is on for `device_type` in this thread (torch's default: 'cuda')."""
    return _check_device_type(device_type) in AUTOCAST.dtypes


def get_autocast_dtype(device_type: str) -> _dtypes.dtype:
    """The dtype autocast uses on `device_type`: bfloat16 on cpu, float16 on cuda, unless set."""
    device_type = _check_device_type(device_type)
    return AUTOCAST.settings.get(device_type, DEFAULT_DTYPES.get(device_type, _dtypes.float16))


def set_autocast_enabled(device_type: str, enabled: bool) -> None:
    _set_enabled(_check_device_type(device_type), bool(enabled))


def set_autocast_dtype(device_type: str, dtype: _dtypes.dtype) -> None:
    AUTOCAST.settings[_check_device_type(device_type)] = _dtypes.as_dtype(dtype)
    if device_type in AUTOCAST.dtypes:
        AUTOCAST.dtypes[device_type] = AUTOCAST.settings[device_type]


def is_autocast_cache_enabled() -> bool:
    return AUTOCAST.cache_enabled


def set_autocast_cache_enabled(enabled: bool) -> None:
    AUTOCAST.cache_enabled = bool(enabled)


def clear_autocast_cache() -> None:
    """Nothing is cached here (each op casts its own inputs): nothing to clear."""


def is_autocast_available(device_type: str) -> bool:
    """torch.amp.is_autocast_available: whether autocast supports `device_type` (cpu and cuda here)."""
    return _check_device_type(device_type) in ("cpu", "cuda")


class cuda_autocast(autocast):  # noqa: N801 - torch.cuda.amp.autocast, its deprecated spelling
    """torch.cuda.amp.autocast(enabled, dtype, cache_enabled): autocast('cuda', ...), with its warning."""

    def __init__(
        self, enabled: bool = True, dtype: _dtypes.dtype = _dtypes.float16, cache_enabled: bool = True
    ) -> None:
        warnings.warn(
            "`torch.cuda.amp.autocast(args...)` is deprecated. Please use `torch.amp.autocast('cuda', "
            "args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


def _deprecated(old: str, new: str) -> None:
    message = f"torch.{old} is deprecated. Please use torch.{new} instead."
    warnings.warn(message, DeprecationWarning, stacklevel=3)


def is_autocast_cpu_enabled() -> bool:
    _deprecated("is_autocast_cpu_enabled()", "is_autocast_enabled('cpu')")
    return is_autocast_enabled("cpu")


def get_autocast_cpu_dtype() -> _dtypes.dtype:
    _deprecated("get_autocast_cpu_dtype()", "get_autocast_dtype('cpu')")
    return get_autocast_dtype("cpu")


def get_autocast_gpu_dtype() -> _dtypes.dtype:
    _deprecated("get_autocast_gpu_dtype()", "get_autocast_dtype('cuda')")
    return get_autocast_dtype("cuda")


def set_autocast_cpu_enabled(enabled: bool) -> None:
    _deprecated("set_autocast_cpu_enabled(enabled)", "set_autocast_enabled('cpu', enabled)")
    set_autocast_enabled("cpu", enabled)


def set_autocast_cpu_dtype(dtype: _dtypes.dtype) -> None:
    _deprecated("set_autocast_cpu_dtype(dtype)", "set_autocast_dtype('cpu', dtype)")
    set_autocast_dtype("cpu", dtype)


def set_autocast_gpu_dtype(dtype: _dtypes.dtype) -> None:
    _deprecated("set_autocast_gpu_dtype(dtype)", "set_autocast_dtype('cuda', dtype)")
    set_autocast_dtype("cuda", dtype)


class cpu_autocast(autocast):  # noqa: N801 - torch.cpu.amp.autocast, its deprecated spelling
    """torch.cpu.amp.autocast(enabled, dtype, cache_enabled): autocast('cpu', ...), with its warning."""

    def __init__(
        self, enabled: bool = True, dtype: _dtypes.dtype = _dtypes.bfloat16, cache_enabled: bool = True
    ) -> None:
        warnings.warn(
            "`torch.cpu.amp.autocast(args...)` is deprecated. Please use `torch.amp.autocast('cpu', "
            "args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__("cpu", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)
