"""The rest of nn.functional's activations: elu, selu, celu, prelu, rrelu, relu6, hardtanh,
hardswish, hardsigmoid, mish, glu, softsign, softmin, threshold, tanhshrink, softshrink, hardshrink,
gumbel_softmax.

elu/selu/celu (one Elu op, with torch's EluBackward) and hardsigmoid are ops of their own, since
torch's backward rounds a constant to a C float there (celu's alpha in 1 / alpha, hardsigmoid's 1 / 6). The
others are compositions of antorcha ops (`where` picks the branch, so a gradient only flows
through the branch taken and an overflowing branch not taken gives no NaN), differentiable to any
order. The masks follow torch's kernels at the kinks: hardtanh's gradient is
0 at min_val and max_val, threshold's at the threshold, hardswish's is (x / 3 + 0.5) at x = -3 and
x = 3.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.nn.functional._activation import _implicit_dim
from antorcha.nn.functional._common import maybe_inplace, require_floating
from antorcha.ops.elementwise import where
from antorcha.ops.unary import zeros_like_grad

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class Elu(Op):
    """torch's elu kernel: scale x where x > 0, else alpha scale (exp(input_scale x) - 1). It
    carries elu, selu and celu; `grad_scale` is the input_scale torch's backward uses (celu's
    backward rounds 1 / alpha to a C float)."""

    @staticmethod
    def forward(ctx: Any, x: Any, alpha: float, scale: float, input_scale: float, grad_scale: float) -> Any:
        xp = xp_of(x)
        ctx.save_for_backward(x)
        ctx.coefficients = (alpha, scale, grad_scale)
        kind = x.dtype.type
        negative = xp.expm1(x * kind(input_scale))
        negative *= kind(alpha * scale)
        return xp.where(x > 0, x * kind(scale), negative)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return EluBackward.apply(grad, x, params=ctx.coefficients)


class EluBackward(Op):
    """grad scale where x > 0, else grad input_scale alpha scale exp(input_scale x): elu's
    backward as an op (torch's elu_backward); its own backward gives the second derivative."""

    @staticmethod
    def forward(ctx: Any, grad: Any, x: Any, alpha: float, scale: float, input_scale: float) -> Any:
        xp = xp_of(x)
        ctx.save_for_backward(grad, x)
        ctx.coefficients = (alpha, scale, input_scale)
        kind = x.dtype.type
        negative = xp.exp(x * kind(input_scale))
        negative *= kind(input_scale * alpha * scale)
        return xp.where(x > 0, grad * kind(scale), grad * negative)

    @staticmethod
    def backward(ctx: Any, over: Tensor) -> tuple:
        grad, x = ctx.saved_tensors
        alpha, scale, input_scale = ctx.coefficients
        need_grad, need_x = ctx.needs_input_grad[:2]
        grad_grad = EluBackward.apply(over, x, params=ctx.coefficients) if need_grad else None
        grad_x = None
        if need_x:
            curvature = (x * input_scale).exp() * (input_scale * input_scale * alpha * scale)
            grad_x = where(x > 0, 0.0, over * grad * curvature)
        return grad_grad, grad_x


def _elu(
    input: Tensor, alpha: float, scale: float, input_scale: float, grad_scale: float, inplace: bool
) -> Tensor:
    require_floating(input, "elu_cpu")
    params = (alpha, scale, input_scale, grad_scale)
    return maybe_inplace(input, lambda x: Elu.apply(x, params=params), inplace)


@register_functional()
def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _elu(input, alpha, 1.0, 1.0, 1.0, inplace)


@register_functional()
def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


@register_functional()
def selu(input: Tensor, inplace: bool = False) -> Tensor:
    return _elu(input, SELU_ALPHA, SELU_SCALE, 1.0, 1.0, inplace)


@register_functional()
def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


@register_functional()
def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _elu(input, alpha, 1.0, 1.0 / alpha, 1.0 / float(np.float32(alpha)), inplace)


@register_functional()
def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


@register_functional()
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x; weight has 1 entry or one per channel (dim 1)."""
    channels = input.shape[1] if input.ndim >= 2 else 1
    count = weight.numel()
    if count != 1 and count != channels:
        raise RuntimeError(
            "Mismatch of parameter numbers and input channel size. "
            f"Found parameter numbers = {count} and channel size = {channels}."
        )
    if input.ndim >= 2:
        weight = weight.reshape(count, *([1] * (input.ndim - 2)))  # (C, 1, ..., 1): a slope per channel
    else:
        weight = weight.reshape(())  # one slope; a 0-dim input stays 0-dim
    return Prelu.apply(input, weight)


class Prelu(Op):
    """x where x > 0, else w x, with w broadcast over x; torch's backward picks each gradient's
    branch rather than multiplying by a mask (so an infinite slope does not make NaN)."""

    @staticmethod
    def forward(ctx: Any, x: Any, weight: Any) -> Any:
        ctx.save_for_backward(x, weight)
        return xp_of(x).where(x > 0, x, weight * x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, weight = ctx.saved_tensors
        need_x, need_weight = ctx.needs_input_grad[:2]
        positive = x > 0
        grad_x = where(positive, grad, grad * weight) if need_x else None
        grad_weight = where(positive, 0.0, grad * x) if need_weight else None  # summed to w's shape
        return grad_x, grad_weight


def _check_rrelu_bounds(lower: float, upper: float) -> None:
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")


@register_functional()
def rrelu(
    input: Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
) -> Tensor:
    """Training: each non-positive element times its own slope, uniform in [lower, upper];
    otherwise the mean slope (lower + upper) / 2, as leaky_relu."""
    _check_rrelu_bounds(lower, upper)
    require_floating(input, "rrelu_with_noise_cpu")
    if not training:
        slope = (lower + upper) / 2
        return maybe_inplace(input, lambda x: where(x >= 0, x, x * slope), inplace)
    noise = wrap(_rrelu_slopes(input, lower, upper), device=input._device)
    return maybe_inplace(input, lambda x: where(x > 0, x, x * noise), inplace)


def _rrelu_slopes(input: Tensor, lower: float, upper: float) -> Any:
    """torch's rrelu_with_noise: one float64 uniform in [lower, upper) per element <= 0, drawn in
    order from the default generator, so the same seed gives torch's slopes; 1 elsewhere."""
    import antorcha

    data = input._data
    xp = xp_of(data)
    non_positive = data <= 0  # NaN is not: it passes through, as in torch's kernel
    count = int(non_positive.sum())
    uniforms = antorcha.rand(count, dtype=antorcha.float64, device=input._device)._data
    slopes = xp.ones(data.shape, dtype=data.dtype)
    slopes[non_positive] = (uniforms * (upper - lower) + lower).astype(data.dtype)
    return slopes


@register_functional()
def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    return rrelu(input, lower, upper, training, inplace=True)


def _hardtanh(input: Tensor, min_val: float, max_val: float) -> Tensor:
    """clamp(x, min_val, max_val), with torch's gradient mask: 0 at and beyond either bound."""
    return where(input <= min_val, min_val, where(input >= max_val, max_val, input))


@register_functional()
def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return maybe_inplace(input, lambda x: _hardtanh(x, min_val, max_val), inplace)


@register_functional()
def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


@register_functional()
def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return maybe_inplace(input, lambda x: _hardtanh(x, 0.0, 6.0), inplace)


@register_functional()
def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6; torch's gradient x / 3 + 0.5 holds on the closed interval [-3, 3]."""
    require_floating(input, "hardswish_cpu")
    return maybe_inplace(input, Hardswish.apply, inplace)


class Hardswish(Op):
    """torch's kernel, x * min(max(x + 3, 0), 6) / 6 (so a huge x overflows to inf, as there)."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return x * xp_of(x).clip(x + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return where(x < -3, 0.0, where(x <= 3, grad * (x / 3 + 0.5), grad))


_ONE_SIXTH_FLOAT = float(np.float32(1.0 / 6.0))  # torch's hardsigmoid backward: a C float in every dtype


class Hardsigmoid(Op):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        xp = xp_of(x)
        ctx.save_for_backward(x)
        return xp.clip(x + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return HardsigmoidBackward.apply(grad, x)


class HardsigmoidBackward(Op):
    """grad / 6 strictly inside (-3, 3), else 0 (torch's hardsigmoid_backward)."""

    @staticmethod
    def forward(ctx: Any, grad: Any, x: Any) -> Any:
        xp = xp_of(x)
        ctx.save_for_backward(x)
        inside = (x > -3) & (x < 3)
        return xp.where(inside, grad * grad.dtype.type(_ONE_SIXTH_FLOAT), 0).astype(grad.dtype, copy=False)

    @staticmethod
    def backward(ctx: Any, over: Tensor) -> tuple:
        (x,) = ctx.saved_tensors
        grad_x = zeros_like_grad(over) if ctx.needs_input_grad[1] else None  # piecewise constant in x
        return HardsigmoidBackward.apply(over, x), grad_x


@register_functional()
def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    require_floating(input, "hardsigmoid_cpu")
    return maybe_inplace(input, Hardsigmoid.apply, inplace)


@register_functional()
def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x tanh(softplus(x))."""
    require_floating(input, "mish_cpu")
    return maybe_inplace(input, Mish.apply, inplace)


class Mish(Op):
    """torch's kernel, x tanh(log1p(exp(x))), and its backward
    grad (t + x sigmoid(x) (1 - t^2)) in that order (a huge x gives huge * 0 = 0, not NaN)."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        xp = xp_of(x)
        ctx.save_for_backward(x)
        return x * xp.tanh(xp.log1p(xp.exp(x)))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        t = x.exp().log1p().tanh()
        return grad * (t + x * x.sigmoid() * (1 - t * t))


@register_functional()
def glu(input: Tensor, dim: int = -1) -> Tensor:
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    require_floating(input, "glu_cpu")
    axis = dim + input.ndim if dim < 0 else dim
    if not 0 <= axis < input.ndim:
        raise IndexError(
            "Dimension out of range (expected to be in range of "
            f"[{-input.ndim}, {input.ndim - 1}], but got {dim})"
        )
    size = input.shape[axis]
    if size % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {axis} is size {size}")
    half = size // 2
    return input.narrow(axis, 0, half) * input.narrow(axis, half, half).sigmoid()


@register_functional()
def softsign(input: Tensor) -> Tensor:
    return input / (input.abs() + 1)


@register_functional()
def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    if dim is None:
        dim = _implicit_dim("softmin", input.ndim, _stacklevel)
    return (-input).softmax(dim, dtype=dtype)


@register_functional()
def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """value where x <= threshold, else x (the gradient is 0 where the value is taken)."""
    return _threshold(input, threshold, value, inplace)


def _threshold(input: Tensor, limit: float, value: float, inplace: bool) -> Tensor:
    return maybe_inplace(input, lambda x: where(x <= limit, value, x), inplace)


@register_functional()
def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return _threshold(input, threshold, value, inplace=True)


@register_functional()
def tanhshrink(input: Tensor) -> Tensor:
    return input - input.tanh()


def _check_lambda(input: Tensor, lambd: float) -> None:
    if lambd < 0:
        largest = 3.40282e38 if input._data.dtype.itemsize <= 4 else 1.79769e308
        raise RuntimeError(
            f"lambda must be in range [0, {largest:g}] for input dtype {input.dtype.scalar_name}, "
            f"but found {lambd:g}"
        )


@register_functional()
def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    _check_lambda(input, lambd)
    require_floating(input, "softshrink_cpu")
    return where(input > lambd, input - lambd, where(input < -lambd, input + lambd, 0.0))


@register_functional()
def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    require_floating(input, "hardshrink_cpu")
    inside = (input >= -lambd) & (input <= lambd)
    return where(inside, 0.0, input)


@register_functional()
def gumbel_softmax(
    logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1
) -> Tensor:
    """softmax((logits + g) / tau) with g ~ Gumbel(0, 1) drawn as -log(Exponential(1)), as torch
    draws it; `hard` returns the one-hot argmax with the soft sample's gradient (straight through)."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    from antorcha import empty_like, zeros_like

    gumbels = -empty_like(logits).exponential_().log()
    soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return soft
    index = soft.max(dim, keepdim=True)[1]
    one_hot = zeros_like(logits).scatter_(dim, index, 1.0)
    return one_hot - soft.detach() + soft
