"""antorcha.nn.init: in-place parameter initialisation (torch.nn.init), run outside autograd."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

from antorcha import random
from antorcha._device import xp_of
from antorcha._grad_mode import no_grad
from antorcha._mt19937 import TorchCPUStream
from antorcha._tensor import Tensor

__all__ = [
    "calculate_gain",
    "constant_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (torch's table)."""
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    with no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    with no_grad():
        return tensor.normal_(mean, std, generator=generator)


def constant_(tensor: Tensor, val: float) -> Tensor:
    with no_grad():
        return tensor.fill_(val)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    with no_grad():
        return tensor.zero_()


def eye_(tensor: Tensor) -> Tensor:
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with no_grad():
        xp = xp_of(tensor._data)
        tensor._data[...] = xp.eye(*tensor.shape, dtype=tensor._data.dtype)
        tensor._bump_version()
    return tensor


def _norm_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def _truncated_like_torch(
    shape: tuple, dtype: Any, mean: float, std: float, a: float, b: float, rng: Any
) -> Any:
    """torch's trunc_normal_ step by step on its cpu stream, so a seed gives torch's values."""
    np = xp_of(rng.uniform((0,), dtype))
    lo, hi = dtype(a), dtype(b)  # the bounds as the tensor's dtype holds them
    if _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std) > 0.3:
        values = rng.normal(shape, dtype, mean, std)
        outside = (values < lo) | (values > hi)
        while outside.any():
            values = np.where(outside, rng.normal(shape, dtype, mean, std), values)
            outside = (values < lo) | (values > hi)
        return values
    log_peak = -0.5 * ((max(a, min(mean, b)) - mean) / std) ** 2

    def log_density(x: Any) -> Any:  # torch's sub_, div_, pow_, mul_, sub_ in the tensor's dtype
        return ((x - dtype(mean)) / dtype(std)) ** 2 * dtype(-0.5) - dtype(log_peak)

    values = rng.uniform(shape, dtype, a, b)
    with np.errstate(divide="ignore"):
        pending = np.log(rng.uniform(shape, dtype)) > log_density(values)
        while pending.any():
            candidates = rng.uniform(shape, dtype, a, b)
            values = np.where(pending, candidates, values)
            pending &= np.log(rng.uniform(shape, dtype)) > log_density(candidates)
    return values


def _draw_truncated(
    shape: tuple, dtype: Any, mean: float, std: float, a: float, b: float, rng: Any, xp: Any
) -> Any:
    """Exact samples of N(mean, std) restricted to [a, b], by rejection (as torch now does)."""
    if isinstance(rng, TorchCPUStream):
        return _truncated_like_torch(shape, dtype, mean, std, a, b, rng)
    accepted_mass = _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std)
    if accepted_mass > 0.3:  # redraw from the normal until everything lands inside
        values = random.draw_normal(rng, shape, dtype) * dtype(std) + dtype(mean)
        outside = (values < a) | (values > b)
        while outside.any():
            fresh = random.draw_normal(rng, shape, dtype) * dtype(std) + dtype(mean)
            values = xp.where(outside, fresh, values)
            outside = (values < a) | (values > b)
        return values
    # narrow or far window: uniform proposals on [a, b], accepted with the normal's relative density
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2
    values = xp.zeros(shape, dtype=dtype)
    pending = xp.ones(shape, dtype=bool)
    while pending.any():
        proposal = random.draw_uniform(rng, shape, dtype) * dtype(b - a) + dtype(a)
        log_density = -0.5 * ((proposal - mean) / std) ** 2 - log_peak
        accept = xp.log(random.draw_uniform(rng, shape, dtype)) <= log_density
        values = xp.where(pending & accept, proposal, values)
        pending &= ~accept
    return values


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Any = None,
) -> Tensor:
    """Fill with N(mean, std^2) truncated to [a, b]."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    with no_grad():
        rng = random.generator_for(tensor._device, generator)
        data = tensor._data
        data[...] = _draw_truncated(data.shape, data.dtype.type, mean, std, a, b, rng, xp_of(data))
        tensor._bump_version()
    return tensor


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field_size = 1
    for size in tensor.shape[2:]:
        receptive_field_size *= size
    return tensor.size(1) * receptive_field_size, tensor.size(0) * receptive_field_size


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator: Any = None) -> Tensor:
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.size(0)
    cols = tensor.numel() // rows
    data = tensor._data
    xp = xp_of(data)
    flat = random.draw_normal(random.generator_for(tensor._device, generator), (rows, cols), data.dtype.type)
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diag(r))
    if rows < cols:
        q = q.T
    with no_grad():
        data[...] = (q * gain).reshape(data.shape)
        tensor._bump_version()
    return tensor


def _deprecated(method: Callable) -> Callable:
    new_name = method.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(
            f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
            FutureWarning,
            stacklevel=2,
        )
        return method(*args, **kwargs)

    deprecated_init.__name__ = old_name
    return deprecated_init


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
