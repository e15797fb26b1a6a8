"""Functional activations, each op beside its function: relu, leaky_relu, gelu, silu, sigmoid,
tanh, softplus, logsigmoid, softmax and log_softmax.

Forwards work on raw `xp` arrays. Backwards are written with antorcha ops, so that
`create_graph=True` gives correct higher-order gradients.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from antorcha._device import xp_of
from antorcha._registry import register_functional
from antorcha._tensor import Tensor
from antorcha.autograd.function import Op
from antorcha.nn.functional._common import maybe_inplace, require_floating
from antorcha.ops import softmax as _softmax
from antorcha.ops._bfloat16 import in_float32
from antorcha.ops.elementwise import where
from antorcha.ops.unary import erf_array, zeros_like_grad
from antorcha.speed import kernels as compiled_kernels

_SQRT1_2 = 1 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2.0 * math.pi)
_GELU_TANH_COEF = 0.044715


@register_functional()
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu_() if inplace else input.relu()


@register_functional()
def relu_(input: Tensor) -> Tensor:
    return input.relu_()


class LeakyRelu(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, negative_slope: float) -> Any:
        xp = xp_of(x)
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return xp.where(x > 0, x, x * x.dtype.type(negative_slope))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return LeakyReluBackward.apply(grad, x, params=(ctx.negative_slope,))


class LeakyReluBackward(Op):
    """grad * (1 where x > 0, else the slope): leaky_relu's backward as an op, as torch has it."""

    @staticmethod
    def forward(ctx: Any, grad: Any, x: Any, negative_slope: float) -> Any:
        xp = xp_of(grad)
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return xp.where(x > 0, grad, grad * grad.dtype.type(negative_slope))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        (x,) = ctx.saved_tensors
        grad_x = zeros_like_grad(grad) if ctx.needs_input_grad[1] else None  # piecewise constant in x
        return LeakyReluBackward.apply(grad, x, params=(ctx.negative_slope,)), grad_x


@register_functional()
def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    require_floating(input, "leaky_relu_cpu")
    op = in_float32(LeakyRelu) if input._data.dtype.kind == "V" else LeakyRelu  # bfloat16: as torch
    return maybe_inplace(input, lambda x: op.apply(x, params=(negative_slope,)), inplace)


class Gelu(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, approximate: str) -> Any:
        ctx.save_for_backward(x)
        ctx.approximate, ctx.tanh = approximate, None
        xp = xp_of(x)
        if approximate == "tanh":  # 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
            compiled = compiled_kernels.gelu_tanh(x, _GELU_TANH_COEF, _SQRT_2_OVER_PI)  # Numba, if there
            if compiled is not None:
                out, ctx.tanh = compiled
                return out
            ctx.tanh = _tanh_of_inner(xp, x)  # kept: tanh is the costly pass, and backward needs it
            out = ctx.tanh + 1
        else:  # 0.5 x (1 + erf(x / sqrt 2))
            out = xp.asarray(erf_array(x * _SQRT1_2))
            out += 1
        out *= x
        out *= 0.5
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return GeluBackward.apply(grad, x, params=(ctx.approximate, ctx.tanh))


def _tanh_of_inner(xp: Any, x: Any) -> Any:
    """tanh(sqrt(2/pi) (x + 0.044715 x^3)) in a new array, in place after the first pass."""
    inner = xp.multiply(x, x, out=xp.empty_like(x))  # out=: a 0-d input stays an array
    inner *= _GELU_TANH_COEF
    inner += 1
    inner *= x
    inner *= _SQRT_2_OVER_PI
    return xp.tanh(inner, out=inner)


class GeluBackward(Op):
    """grad * gelu'(x), as an op of its own (torch's GeluBackward0): a few in-place passes over
    arrays when only first derivatives are wanted; its own backward gives the second. `tanh` is
    the forward's tanh(u) for approximate="tanh" (not overwritten), or None to recompute it."""

    @staticmethod
    def forward(ctx: Any, grad: Any, x: Any, approximate: str, tanh: Any = None) -> Any:
        ctx.save_for_backward(grad, x)
        ctx.approximate, ctx.tanh = approximate, tanh
        xp = xp_of(x)
        if approximate == "tanh" and tanh is not None:
            compiled = compiled_kernels.gelu_tanh_backward(grad, x, tanh, _GELU_TANH_COEF, _SQRT_2_OVER_PI)
            if compiled is not None:  # the passes below as one loop (Numba, where installed)
                return compiled
        if approximate == "tanh":
            # gelu' = 0.5 (1 + t) + 0.5 x (1 - t^2) u',  u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
            t = _tanh_of_inner(xp, x) if tanh is None else tanh.copy()  # slope is built in t
            half_x_du = xp.multiply(x, x, out=xp.empty_like(x))
            half_x_du *= 3 * _GELU_TANH_COEF
            half_x_du += 1
            half_x_du *= 0.5 * _SQRT_2_OVER_PI
            half_x_du *= x
            one_minus_t2 = xp.multiply(t, t, out=xp.empty_like(t))
            xp.subtract(1, one_minus_t2, out=one_minus_t2)
            half_x_du *= one_minus_t2
            slope = t
            slope += 1
            slope *= 0.5
            slope += half_x_du
        else:  # gelu' = cdf(x) + x pdf(x)
            slope = xp.asarray(erf_array(x * _SQRT1_2))
            slope += 1
            slope *= 0.5
            x_pdf = xp.multiply(x, x, out=xp.empty_like(x))
            x_pdf *= -0.5
            xp.exp(x_pdf, out=x_pdf)
            x_pdf *= _INV_SQRT_2PI
            x_pdf *= x
            slope += x_pdf
        slope *= grad
        return slope

    @staticmethod
    def backward(ctx: Any, over: Tensor) -> tuple:
        grad, x = ctx.saved_tensors
        need_grad, need_x = ctx.needs_input_grad[:2]
        grad_grad = GeluBackward.apply(over, x, params=(ctx.approximate, ctx.tanh)) if need_grad else None
        grad_x = over * grad * _gelu_curvature(x, ctx.approximate) if need_x else None
        return grad_grad, grad_x


def _gelu_curvature(x: Tensor, approximate: str) -> Tensor:
    """gelu''(x), with Tensor ops (so it is differentiable again)."""
    if approximate == "tanh":  # (1 - t^2) (u' - x t u'^2 + 0.5 x u''),  u'' = 6 * 0.044715 sqrt(2/pi) x
        x_sq = x * x
        t = ((x + x_sq * x * _GELU_TANH_COEF) * _SQRT_2_OVER_PI).tanh()
        du = (x_sq * (3 * _GELU_TANH_COEF) + 1) * _SQRT_2_OVER_PI
        ddu = x * (6 * _GELU_TANH_COEF * _SQRT_2_OVER_PI)
        return (1 - t * t) * (du - x * t * du * du + x * ddu * 0.5)
    pdf = (x * x * -0.5).exp() * _INV_SQRT_2PI  # pdf(x) (2 - x^2)
    return pdf * (2 - x * x)


@register_functional()
def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    require_floating(input, "GeluKernelImpl")
    return (in_float32(Gelu) if input._data.dtype.kind == "V" else Gelu).apply(input, params=(approximate,))


class Silu(Op):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        xp = xp_of(x)
        ctx.save_for_backward(x)
        # x * sigmoid(x) = x / (1 + exp(-x)); exp(-x) overflowing to inf gives the right -0
        return x / (1 + xp.exp(-x))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = x.sigmoid()
        return grad * s * (x * (1 - s) + 1)


@register_functional()
def silu(input: Tensor, inplace: bool = False) -> Tensor:
    require_floating(input, "silu_cpu")
    op = in_float32(Silu) if input._data.dtype.kind == "V" else Silu
    return maybe_inplace(input, op.apply, inplace)


@register_functional()
def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


@register_functional()
def tanh(input: Tensor) -> Tensor:
    return input.tanh()


class Softplus(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, beta: float, threshold: float) -> Any:
        xp = xp_of(x)
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        scaled = x * beta
        linear = scaled > threshold
        soft = xp.log1p(xp.exp(xp.where(linear, 0, scaled))) / beta
        return xp.where(linear, x, soft).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        scaled = x * ctx.beta
        return where(scaled > ctx.threshold, grad, grad * scaled.sigmoid())


@register_functional()
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    require_floating(input, "softplus_cpu")
    op = in_float32(Softplus) if input._data.dtype.kind == "V" else Softplus  # bfloat16: as torch
    return op.apply(input, params=(beta, threshold))


def log_sigmoid_array(x: Any) -> Any:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), finite for every finite x."""
    xp = xp_of(x)
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))


class LogSigmoid(Op):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return log_sigmoid_array(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (-x).sigmoid()


@register_functional()
def logsigmoid(input: Tensor) -> Tensor:
    require_floating(input, "log_sigmoid_cpu")
    return LogSigmoid.apply(input)


def _implicit_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


@register_functional()
def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    if dim is None:
        dim = _implicit_dim("softmax", input.ndim, _stacklevel)
    return _softmax.softmax(input, dim, dtype=dtype)


@register_functional()
def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    if dim is None:
        dim = _implicit_dim("log_softmax", input.ndim, _stacklevel)
    return _softmax.log_softmax(input, dim, dtype=dtype)
