"""Grad mode lives in `antorcha._grad_mode` (the tensor needs it before autograd loads)."""

from antorcha._grad_mode import (
    STATE,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)

__all__ = ["STATE", "enable_grad", "inference_mode", "is_grad_enabled", "no_grad", "set_grad_enabled"]
