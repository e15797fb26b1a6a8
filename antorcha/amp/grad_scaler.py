"""torch.amp.GradScaler: loss scaling for float16 training, with torch's schedule.

`scale(loss)` multiplies by the current scale; `step(optimizer)` unscales the gradients first
(unless `unscale_` already did), and skips the step when any gradient is inf or NaN; `update()`
halves the scale after such a step (`backoff_factor`) and doubles it after `growth_interval`
clean steps in a row (`growth_factor`). A scaler for cuda on a machine without a GPU disables
itself with torch's warning, and then every method passes straight through.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from antorcha._tensor import Tensor

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


class GradScaler:
    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        self._device = str(device)
        if enabled and self._device.startswith("cuda"):
            from antorcha import cuda

            if not cuda.is_available():
                # torch's words, whichever spelling made the scaler
                warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                              UserWarning, stacklevel=3)
                enabled = False
        if enabled and not growth_factor > 1.0:
            raise AssertionError("The growth factor must be > 1.0.")
        if enabled and not backoff_factor < 1.0:
            raise AssertionError("The backoff factor must be < 1.0.")
        self._enabled = enabled
        self._scale = float(np.float32(init_scale))  # torch keeps the scale as a float32 tensor
        self._growth_factor, self._backoff_factor = growth_factor, backoff_factor
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._stages: dict[int, str] = {}
        self._found_inf: dict[int, bool] = {}

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def scale(self, outputs: Any) -> Any:
        """outputs (a tensor, or lists/tuples of them) times the scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * np.float32(self._scale)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError("outputs must be a Tensor or an iterable of Tensors")

    def unscale_(self, optimizer: Any) -> None:
        """Divide the optimizer's gradients by the scale, in place, and note any inf or NaN."""
        if not self._enabled:
            return
        key = id(optimizer)
        stage = self._stages.get(key, _READY)
        if stage == _UNSCALED:
            raise RuntimeError(
                "unscale_() has already been called on this optimizer since the last update()."
            )
        if stage == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inverse = np.float32(np.float64(1.0) / np.float64(np.float32(self._scale)))
        found_inf = False
        for group in optimizer.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad._data
                grad *= grad.dtype.type(inverse)
                found_inf = found_inf or not bool(np.isfinite(grad).all())
        self._found_inf[key] = found_inf
        self._stages[key] = _UNSCALED

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """optimizer.step(), unless a gradient is inf or NaN (then the step is skipped)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        key = id(optimizer)
        if self._stages.get(key, _READY) == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if self._stages.get(key, _READY) == _READY:
            self.unscale_(optimizer)
        result = None if self._found_inf[key] else optimizer.step(*args, **kwargs)
        self._stages[key] = _STEPPED
        return result

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Back off after a skipped step, grow after `growth_interval` clean ones (torch's schedule)."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(np.float32(new_scale.item() if isinstance(new_scale, Tensor) else new_scale))
        else:
            if not self._found_inf:
                raise AssertionError("No inf checks were recorded prior to update.")
            if any(self._found_inf.values()):
                self._scale = float(np.float32(self._scale * self._backoff_factor))
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = self._scale * self._growth_factor
                    if grown <= float(np.finfo(np.float32).max):  # torch grows only to a finite scale
                        self._scale = float(np.float32(grown))
                    self._growth_tracker = 0
        self._stages.clear()
        self._found_inf.clear()

    def state_dict(self) -> dict:
        if not self._enabled:
            return {}
        return {
            "scale": self._scale,
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved from a disabled "
                "instance of GradScaler."
            )
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
