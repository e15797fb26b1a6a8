"""Functional activations: relu, leaky_relu, gelu, silu, sigmoid, tanh, softplus, logsigmoid,
softmax and log_softmax."""

from __future__ import annotations

import warnings
from typing import Any

from antorcha._tensor import Tensor
from antorcha.nn import _ops
from antorcha.nn.functional._common import require_floating
from antorcha.ops import reduce as _reduce
from antorcha.ops import unary as _un


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu_() if inplace else _un.relu(input)


def relu_(input: Tensor) -> Tensor:
    return input.relu_()


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    require_floating(input, "leaky_relu_cpu")
    out = _ops.LeakyRelu.apply(input, params=(negative_slope,))
    return input.copy_(out) if inplace else out


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    require_floating(input, "GeluKernelImpl")
    return _ops.Gelu.apply(input, params=(approximate,))


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    require_floating(input, "silu_cpu")
    out = _ops.Silu.apply(input)
    return input.copy_(out) if inplace else out


def sigmoid(input: Tensor) -> Tensor:
    return _un.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    return _un.tanh(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    require_floating(input, "softplus_cpu")
    return _ops.Softplus.apply(input, params=(beta, threshold))


def logsigmoid(input: Tensor) -> Tensor:
    require_floating(input, "log_sigmoid_cpu")
    return _ops.LogSigmoid.apply(input)


def _implicit_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    if dim is None:
        dim = _implicit_dim("softmax", input.ndim, _stacklevel)
    return _reduce.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    if dim is None:
        dim = _implicit_dim("log_softmax", input.ndim, _stacklevel)
    return _reduce.log_softmax(input, dim, dtype=dtype)


def erf(input: Tensor) -> Tensor:
    return _ops.erf(input)
