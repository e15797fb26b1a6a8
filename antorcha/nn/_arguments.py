"""Argument checks shared by the layers, with torch's messages."""

from __future__ import annotations

from typing import Any

from antorcha._tensor import Tensor


def require_tensor(value: Any, function: str, name: str = "input", position: int = 1) -> None:
    """torch's TypeError for a non-tensor reaching a layer: `relu(): argument 'input' (position 1)
    must be Tensor, not list` (`function` is the ATen name torch reports, not always the layer's)."""
    if not isinstance(value, Tensor):
        given = type(value).__name__
        raise TypeError(f"{function}(): argument '{name}' (position {position}) must be Tensor, not {given}")
