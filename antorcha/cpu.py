"""torch.cpu: the CPU as a device module (always available, one device, nothing to synchronize), and
torch.cpu.amp, the deprecated spelling of torch.amp for 'cpu' (autocast, GradScaler)."""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

from antorcha.amp.autocast_mode import cpu_autocast
from antorcha.amp.grad_scaler import GradScaler as _GradScaler


def is_available() -> bool:
    return True


def device_count() -> int:
    return 1


def current_device() -> str:
    return "cpu"


def synchronize(device: Any = None) -> None:
    """CPU work is done when a call returns: nothing to wait for."""


def set_device(device: Any) -> None:
    """torch accepts and ignores it on the cpu."""


class _CpuGradScaler(_GradScaler):
    """torch.cpu.amp.GradScaler(...): torch.amp.GradScaler('cpu', ...), with its warning."""

    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        warnings.warn(
            "`torch.cpu.amp.GradScaler(args...)` is deprecated. Please use `torch.amp.GradScaler('cpu', "
            "args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__("cpu", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


_CpuGradScaler.__name__ = _CpuGradScaler.__qualname__ = "GradScaler"

amp = types.ModuleType("antorcha.cpu.amp", "torch.cpu.amp: deprecated spellings of torch.amp for 'cpu'.")
amp.autocast = cpu_autocast
amp.GradScaler = _CpuGradScaler
sys.modules.setdefault("antorcha.cpu.amp", amp)  # `from antorcha.cpu.amp import autocast` works too
