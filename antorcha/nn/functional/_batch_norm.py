"""F.batch_norm and its relatives: instance_norm, group_norm, normalize, local_response_norm.

batch_norm is one graph node, NativeBatchNorm (torch's NativeBatchNormBackward0). For x of shape
(N, C, *), per channel c over the M = N·prod(*) values of that channel:

    mean, invstd          the batch's (training) or the running estimates (eval), computed once
    out = (x - mean) · invstd · weight + bias

Its backward is written once, with Tensor ops (so create_graph differentiates it again):

    x̂ = (x - mean) · invstd,   d_bias = Σ g,   d_weight = Σ g x̂
    dx = weight · invstd · (g - d_bias / M - x̂ · d_weight / M)     training: the statistics depend on x
    dx = weight · invstd · g                                         eval: they are constants

In training the running estimates are updated in the forward, in place, outside autograd:
running = (1 - momentum) · running + momentum · batch, with the unbiased variance (M - 1 divisor);
the output uses the biased one, as torch does. instance_norm and group_norm reshape their input so
that each instance (or group) is one channel of batch_norm, as torch's own kernels do.
"""

from __future__ import annotations

import math
from typing import Any

from antorcha._device import xp_of
from antorcha._grad_mode import is_grad_enabled
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops.elementwise import div
from antorcha.ops.movement import cat


def _reduced_axes(ndim: int) -> tuple[int, ...]:
    """Every axis but the channel axis (1)."""
    return (0, *range(2, ndim))


def _stat_shape(x: Any) -> tuple[int, ...]:
    """A per-channel vector shaped to broadcast against x: (1, C, 1, ...), or (C,) for (N, C) input,
    where a (C,) weight broadcasts as it is (no reshape, so no view node per call)."""
    return (x.shape[1],) if x.ndim == 2 else (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _per_channel(t: Tensor, like: Tensor) -> Tensor:
    """A (C,) vector, or a per-channel statistic, in `_stat_shape(like)`."""
    shape = _stat_shape(like)
    return t if tuple(t.shape) == shape else t.reshape(shape)


def _update_running(running: Any, batch: Any, momentum: float) -> None:
    """running = (1 - momentum) · running + momentum · batch, in place on the buffer's array."""
    running *= 1.0 - momentum
    running += momentum * batch.reshape(running.shape)


class NativeBatchNorm(Op):
    """Per-channel normalisation of x (N, C, *), then scale and shift: inputs (x[, weight[, bias]]);
    params (training, momentum, eps, running_mean, running_var), the running arrays or None."""

    @staticmethod
    def forward(ctx: Any, *args: Any) -> Any:
        *arrays, training, momentum, eps, running_mean, running_var = args
        x = arrays[0]
        xp = xp_of(x)
        axes, stat_shape, keep = _reduced_axes(x.ndim), _stat_shape(x), x.ndim > 2
        count = x.size // x.shape[1] if x.shape[1] else 0  # M: the values per channel
        if training and not count:  # an empty batch: nothing to average, nothing to update
            mean, var = xp.zeros(stat_shape, dtype=x.dtype), xp.ones(stat_shape, dtype=x.dtype)
            centered = x - mean
        elif training:
            mean = x.mean(axis=axes, keepdims=keep)  # stat_shape
            centered = x - mean
            squares = (centered * centered).sum(axis=axes, keepdims=keep)
            var = squares / count
            if running_mean is not None:
                _update_running(running_mean, mean, momentum)
                _update_running(running_var, squares / max(count - 1, 1), momentum)
        else:
            mean = running_mean.reshape(stat_shape)
            centered = x - mean
            var = running_var.reshape(stat_shape)
        invstd = 1.0 / xp.sqrt(var + eps)
        scale = invstd if len(arrays) < 2 else invstd * arrays[1].reshape(stat_shape)
        out = centered
        out *= scale
        if len(arrays) > 2:
            out += arrays[2].reshape(stat_shape)
        needs = ctx.needs_input_grad
        needs_weight = len(arrays) > 1 and needs[1]
        keep_x = needs_weight or (training and needs[0])
        keep_weight = len(arrays) > 1 and needs[0]
        ctx.save_for_backward(x if keep_x else None, arrays[1] if keep_weight else None)
        ctx.mean, ctx.invstd = mean, invstd
        ctx.training, ctx.eps, ctx.count = training, eps, count
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, weight = ctx.saved_tensors
        axes, keep = _reduced_axes(grad.ndim), grad.ndim > 2
        mean, invstd = _statistics(ctx, x, grad)
        needs = ctx.needs_input_grad
        needs_weight, needs_bias = len(needs) > 1 and needs[1], len(needs) > 2 and needs[2]
        through_stats = ctx.training and needs[0]  # dx needs Σ g and Σ g x̂ too
        centered = x - mean if (needs_weight or through_stats) else None
        sum_g = grad.sum(axes, keepdim=keep) if (needs_bias or through_stats) else None  # stat shape
        # Σ g (x - mean) = Σ g x̂ / invstd: x̂ itself is never formed (one pass fewer)
        sum_g_centered = (grad * centered).sum(axes, keepdim=keep) if centered is not None else None
        grad_x = None
        if needs[0]:
            scale = invstd if weight is None else invstd * _per_channel(weight, grad)
            grad_x = grad * scale
            if through_stats:
                count = ctx.count
                # minus scale · (Σ g / M + x̂ · Σ g x̂ / M), x̂ · Σ g x̂ = (x - mean) · invstd² · Σ g (x - mean);
                # in place on grad_x, which no op saved: two full-size arrays fewer
                grad_x.sub_(centered * (scale * invstd * invstd * sum_g_centered / count))
                grad_x.sub_(scale * sum_g / count)
        grad_weight = _as_vector(sum_g_centered * invstd) if needs_weight else None
        grad_bias = _as_vector(sum_g) if needs_bias else None
        return grad_x, grad_weight, grad_bias


def _statistics(ctx: Any, x: Tensor | None, grad: Tensor) -> tuple[Tensor, Tensor]:
    """The forward's mean and invstd as tensors: under create_graph in training, recomputed as
    functions of x (so that the graph of the backward differentiates them too); else constants."""
    if ctx.training and x is not None and is_grad_enabled():
        axes, keep = _reduced_axes(x.ndim), x.ndim > 2
        mean = x.mean(axes, keepdim=keep)
        centered = x - mean
        return mean, ((centered * centered).mean(axes, keepdim=keep) + ctx.eps).rsqrt()
    return wrap(ctx.mean, device=grad._device), wrap(ctx.invstd, device=grad._device)


# ---- argument checks, with torch's messages -------------------------------------------------


def _require_floating(input: Tensor, kernel: str) -> None:
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{input.dtype.scalar_name}'")


def _check_same_dtype(input: Tensor, *others: Tensor | None) -> None:
    for other in others:
        if other is not None and other._data.dtype != input._data.dtype:
            if input._data.dtype.itemsize == 4:
                raise RuntimeError(
                    f"mixed dtype (CPU): expect parameter to have scalar type of {input.dtype.scalar_name}"
                )
            raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")


def _check_channel_vectors(channels: int, **vectors: Tensor | None) -> None:
    for name, value in vectors.items():
        if value is not None and value.numel() != channels:
            raise RuntimeError(f"{name} should contain {channels} elements not {value.numel()}")


def _as_vector(value: Tensor) -> Tensor:
    return value if value.ndim == 1 else value.reshape(-1)


def verify_batch_size(size: Any) -> None:
    """torch's check that a training batch has more than one value per channel."""
    values = size[0] * math.prod(size[2:])
    if values == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")


def _normalize_per_channel(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None,
    bias: Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
) -> Tensor:
    """batch_norm after its public checks: the channel vectors checked, then one NativeBatchNorm."""
    _require_floating(input, "batch_norm")
    channels = input.size(1)
    _check_channel_vectors(
        channels, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias
    )
    for name, value in (("running_mean", running_mean), ("running_var", running_var)):
        if not training and value is None:
            raise RuntimeError(f"{name} must be defined in evaluation mode")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or neither be None")
    _check_same_dtype(input, weight, bias, running_mean, running_var)
    inputs = [input]
    if weight is not None or bias is not None:
        if weight is None:
            weight = wrap(xp_of(input._data).ones(channels, dtype=input._data.dtype), device=input._device)
        inputs.append(_as_vector(weight))
        if bias is not None:
            inputs.append(_as_vector(bias))
    running = (None, None) if running_mean is None else (running_mean._data, running_var._data)
    return NativeBatchNorm.apply(*inputs, params=(bool(training), float(momentum), float(eps), *running))


@register_functional()
def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    if training:
        verify_batch_size(input.size())
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if momentum is None:
        raise TypeError("batch_norm(): argument 'momentum' (position 7) must be float, not NoneType")
    return _normalize_per_channel(input, running_mean, running_var, weight, bias, training, momentum, eps)


@register_functional()
def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """batch_norm over (1, N·C, *): each (instance, channel) pair is a channel of its own. The
    running estimates are those of the N instances, averaged, as torch's kernel does."""
    if use_input_stats:
        spatial = math.prod(input.shape[2:])
        if spatial == 1:
            raise ValueError(
                f"Expected more than 1 spatial element when training, got input size {input.size()}"
            )
    batch, channels = input.size(0), input.size(1)
    repeated = [None if v is None else v.repeat(batch) for v in (running_mean, running_var, weight, bias)]
    flat = input.reshape(1, batch * channels, *input.shape[2:])
    out = _normalize_per_channel(flat, *repeated, use_input_stats, momentum, eps)
    for running, tiled in zip((running_mean, running_var), repeated[:2]):
        if running is not None and use_input_stats:
            running._data[...] = tiled._data.reshape(batch, channels).mean(axis=0)
    return out.view(input.shape)


@register_functional()
def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """batch_norm over (1, N·G, C/G · prod(*)): each (instance, group) is one channel; then the
    per-channel scale and shift."""
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    batch, channels = input.shape[0], input.shape[1]
    verify_batch_size([batch * channels // num_groups, num_groups, *input.shape[2:]])
    if channels % num_groups:
        raise RuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got input of shape "
            f"{list(input.shape)} and num_groups={num_groups}"
        )
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None and (value.dim() != 1 or value.numel() != channels):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in input, but got "
                f"{name} of shape {list(value.shape)} and input of shape {list(input.shape)}"
            )
    _require_floating(input, "group_norm")
    _check_same_dtype(input, weight, bias)
    per_group = math.prod(input.shape[1:]) // num_groups
    grouped = input.reshape(1, batch * num_groups, per_group)
    out = NativeBatchNorm.apply(grouped, params=(True, 0.0, float(eps), None, None)).view(input.shape)
    affine_shape = (channels,) + (1,) * (input.dim() - 2)  # (C, 1, ...) against (N, C, *)
    if weight is not None:
        out = out * weight.reshape(affine_shape)
    if bias is not None:
        out = out + bias.reshape(affine_shape)
    return out


@register_functional()
def normalize(
    input: Tensor, p: float = 2.0, dim: Any = 1, eps: float = 1e-12, out: Tensor | None = None
) -> Tensor:
    """input / max(‖input‖_p along dim, eps)."""
    denom = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)
    return input / denom if out is None else div(input, denom, out=out)


@register_functional()
def local_response_norm(
    input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """input / (k + alpha · mean of input² over `size` neighbouring channels) ** beta, the window
    zero-padded by size // 2 channels before and (size - 1) // 2 after, as torch's average pool."""
    dims = input.dim()
    if dims < 3:
        raise ValueError(
            f"Expected 3D or higher dimensionality                          input (got {dims} dimensions)"
        )
    if input.numel() == 0:
        return input
    squares = input * input  # (N, C, *)
    channels = input.shape[1]
    padding = [squares.new_zeros((input.shape[0], n, *input.shape[2:])) for n in (size // 2, (size - 1) // 2)]
    padded = cat([padding[0], squares, padding[1]], 1)  # (N, C + size - 1, *)
    window = padded.narrow(1, 0, channels)
    for offset in range(1, size):
        window = window + padded.narrow(1, offset, channels)
    return input / (window / size * alpha + k) ** beta
