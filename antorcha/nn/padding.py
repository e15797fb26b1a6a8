"""The padding layers (torch.nn's *Pad1d/*Pad2d): each calls F.pad with its mode."""

from __future__ import annotations

from typing import Any

from antorcha._tensor import Tensor
from antorcha.nn.functional._pad import pad
from antorcha.nn.module import Module


def _amounts(padding: Any, d: int) -> tuple[int, ...]:
    return tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * (2 * d)


class _PadNd(Module):
    __constants__ = ["padding"]
    _mode = "constant"
    _d = 2

    def __init__(self, padding: Any) -> None:
        super().__init__()
        self.padding = _amounts(padding, self._d)

    def forward(self, input: Tensor) -> Tensor:
        return pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    __constants__ = ["padding", "value"]

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    _d = 1


class ConstantPad2d(_ConstantPadNd):
    _d = 2


class ZeroPad1d(ConstantPad1d):
    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    _mode, _d = "reflect", 1


class ReflectionPad2d(_PadNd):
    _mode, _d = "reflect", 2


class ReplicationPad1d(_PadNd):
    _mode, _d = "replicate", 1


class ReplicationPad2d(_PadNd):
    _mode, _d = "replicate", 2


class CircularPad1d(_PadNd):
    _mode, _d = "circular", 1


class CircularPad2d(_PadNd):
    _mode, _d = "circular", 2
