"""Identity and Linear."""

from __future__ import annotations

import math
from typing import Any

from antorcha._creation import empty
from antorcha._tensor import Tensor
from antorcha.nn import init
from antorcha.nn._arguments import require_tensor
from antorcha.nn.module import Module
from antorcha.nn.parameter import Parameter
from antorcha.ops.linalg import linear as _linear


class Identity(Module):
    """Returns its input; accepts and ignores any constructor arguments, as torch's does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x W^T + b, with torch's default init: W, b ~ U(-1/sqrt(in_features), 1/sqrt(in_features))."""

    __constants__ = ["in_features", "out_features"]
    in_features: int
    out_features: int
    weight: Parameter

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty((out_features, in_features), device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch's historical default
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bias = self._parameters.get("bias")
        if bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        params = self._parameters  # direct dict access: this is the hot path of every MLP
        if not isinstance(input, Tensor) or input.ndim == 0:
            _reject_input(input, params["weight"])
        return _linear(input, params["weight"], params.get("bias"))

    def extra_repr(self) -> str:
        has_bias = self._parameters.get("bias") is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={has_bias}"


def _reject_input(input: Any, weight: Tensor) -> None:
    """torch's errors for what linear cannot multiply: a non-tensor, or a 0-d tensor."""
    require_tensor(input, "linear")
    raise RuntimeError(
        f"both arguments to linear need to be at least 1D, but they are {input.ndim}D and {weight.ndim}D"
    )
