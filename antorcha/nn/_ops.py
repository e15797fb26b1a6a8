"""Differentiable ops that nn needs beyond the core: erf, gelu, silu, leaky_relu, softplus,
log_sigmoid, layer_norm and embedding.

Forwards work on raw `xp` arrays. Backwards return Tensors built with antorcha ops so that
`create_graph=True` gives correct higher-order gradients; where a derivative is a constant
(piecewise-linear functions, embedding scatter) it is applied with `scale_by_constant`,
which skips the graph machinery when no graph is being built.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.autograd.grad_mode import STATE
from antorcha.ops.elementwise import where

_SQRT1_2 = 1 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_GELU_TANH_COEF = 0.044715

_erf_scalar = np.frompyfunc(math.erf, 1, 1)


def erf_array(x: Any) -> Any:
    """erf on an array. NumPy has no erf: the C library's, element by element (exact, not fast)."""
    xp = xp_of(x)
    if xp is not np:
        from cupyx.scipy.special import erf as cupy_erf

        return cupy_erf(x)
    return np.asarray(_erf_scalar(x.astype(np.float64, copy=False)), dtype=np.float64).astype(x.dtype)


def _add_at(xp: Any, target: Any, index: Any, values: Any) -> None:
    """target[index] += values, accumulating repeated indices."""
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx

        cupyx.scatter_add(target, index, values)


def scale_by_constant(grad: Tensor, coefficient: Any) -> Tensor:
    """grad * coefficient, where the coefficient is an array that does not depend on any input."""
    if STATE.enabled:  # create_graph: the product must stay differentiable w.r.t. grad
        return grad * wrap(coefficient, device=grad._device)
    return wrap(grad._data * coefficient, device=grad._device)


class Erf(Op):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return erf_array(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (-(x * x)).exp() * _TWO_OVER_SQRT_PI


def erf(x: Tensor) -> Tensor:
    return Erf.apply(x)


class Gelu(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, approximate: str) -> Any:
        xp = xp_of(x)
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x + _GELU_TANH_COEF * x * x * x)
            return 0.5 * x * (1 + xp.tanh(inner))
        return 0.5 * x * (1 + erf_array(x * _SQRT1_2))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        if ctx.approximate == "tanh":
            x_sq = x * x
            t = ((x + x_sq * x * _GELU_TANH_COEF) * _SQRT_2_OVER_PI).tanh()
            d_inner = (x_sq * (3 * _GELU_TANH_COEF) + 1) * _SQRT_2_OVER_PI
            return grad * ((t + 1) * 0.5 + x * 0.5 * (1 - t * t) * d_inner)
        cdf = (erf(x * _SQRT1_2) + 1) * 0.5
        pdf = (x * x * -0.5).exp() * _INV_SQRT_2PI
        return grad * (cdf + x * pdf)


class Silu(Op):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        xp = xp_of(x)
        ctx.save_for_backward(x)
        # x * sigmoid(x) = x / (1 + exp(-x)); exp(-x) overflowing to inf gives the right -0
        with np.errstate(over="ignore"):
            return x / (1 + xp.exp(-x))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = x.sigmoid()
        return grad * s * (x * (1 - s) + 1)


class LeakyRelu(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, negative_slope: float) -> Any:
        xp = xp_of(x)
        positive = x > 0
        ctx.coefficient = xp.where(positive, x.dtype.type(1), x.dtype.type(negative_slope))
        return xp.where(positive, x, x * x.dtype.type(negative_slope))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return scale_by_constant(grad, ctx.coefficient)


class Softplus(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, beta: float, threshold: float) -> Any:
        xp = xp_of(x)
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        scaled = x * beta
        linear = scaled > threshold
        with np.errstate(over="ignore"):
            soft = xp.log1p(xp.exp(xp.where(linear, 0, scaled))) / beta
        return xp.where(linear, x, soft).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        scaled = x * ctx.beta
        return where(scaled > ctx.threshold, grad, grad * scaled.sigmoid())


def log_sigmoid_array(x: Any) -> Any:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), finite for every finite x."""
    xp = xp_of(x)
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))


class LogSigmoid(Op):
    backward_name = "LogSigmoidBackward0"

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return log_sigmoid_array(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (-x).sigmoid()


def log_sigmoid(x: Tensor) -> Tensor:
    return LogSigmoid.apply(x)


class NativeLayerNorm(Op):
    """Normalize over the last `n_dims` dims, then scale and shift: inputs (x[, weight[, bias]])."""

    @staticmethod
    def forward(ctx: Any, *args: Any) -> Any:
        *arrays, n_dims, eps = args
        x = arrays[0]
        xp = xp_of(x)
        axes = tuple(range(x.ndim - n_dims, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        rstd = 1 / xp.sqrt((centered * centered).mean(axis=axes, keepdims=True) + eps)
        out = centered * rstd
        if len(arrays) > 1:
            out *= arrays[1]
        if len(arrays) > 2:
            out += arrays[2]
        ctx.save_for_backward(*arrays[:2])
        ctx.axes, ctx.eps, ctx.mean, ctx.rstd = axes, eps, mean, rstd
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        saved = ctx.saved_tensors
        x, weight = saved[0], (saved[1] if len(saved) > 1 else None)
        axes = ctx.axes
        if STATE.enabled:  # create_graph: recompute the statistics as a function of x
            centered = x - x.mean(axes, keepdim=True)
            rstd = ((centered * centered).mean(axes, keepdim=True) + ctx.eps).rsqrt()
            x_hat = centered * rstd
        else:
            rstd = wrap(ctx.rstd, device=x._device)
            x_hat = wrap((x._data - ctx.mean) * ctx.rstd, device=x._device)
        needs = ctx.needs_input_grad
        grad_x = None
        if needs[0]:
            g_hat = grad * weight if weight is not None else grad
            grad_x = rstd * (
                g_hat - g_hat.mean(axes, keepdim=True) - x_hat * (g_hat * x_hat).mean(axes, keepdim=True)
            )
        # weight and bias gradients are summed over the batch dims centrally (broadcast undo)
        grad_w = grad * x_hat if len(needs) > 1 and needs[1] else None
        grad_b = grad if len(needs) > 2 and needs[2] else None
        return grad_x, grad_w, grad_b


class Embedding(Op):
    """weight[indices]; the indices are a constant parameter, never differentiated."""

    @staticmethod
    def forward(ctx: Any, weight: Any, indices: Any, padding_idx: int | None, scale_by_freq: bool) -> Any:
        xp = xp_of(weight)
        ctx.indices, ctx.num_weights = indices, weight.shape[0]
        ctx.padding_idx, ctx.scale_by_freq = padding_idx, scale_by_freq
        return xp.take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        params = (ctx.indices, ctx.num_weights, ctx.padding_idx, ctx.scale_by_freq)
        return EmbeddingDenseBackward.apply(grad, params=params)


class EmbeddingDenseBackward(Op):
    """Scatter-add of output gradients into weight rows; the padding row gets nothing."""

    @staticmethod
    def forward(
        ctx: Any, grad: Any, indices: Any, num_weights: int, padding_idx: Any, scale_by_freq: bool
    ) -> Any:
        xp = xp_of(grad)
        flat_index = indices.reshape(-1)
        flat_grad = grad.reshape(flat_index.shape[0], -1)
        keep = None
        if padding_idx is not None:
            keep = flat_index != padding_idx
            flat_index, flat_grad = flat_index[keep], flat_grad[keep]
        if scale_by_freq:
            counts = xp.bincount(flat_index, minlength=num_weights)
            flat_grad = flat_grad / counts[flat_index][:, None].astype(grad.dtype)
        out = xp.zeros((num_weights, flat_grad.shape[1]), dtype=grad.dtype)
        _add_at(xp, out, flat_index, flat_grad)
        ctx.indices, ctx.keep, ctx.scale_by_freq = indices, keep, scale_by_freq
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        if ctx.scale_by_freq:
            raise RuntimeError("double backward of embedding with scale_grad_by_freq=True is not supported")
        out = Embedding.apply(grad, params=(ctx.indices, None, False))
        if ctx.keep is not None:
            mask = ctx.keep.reshape(ctx.indices.shape + (1,)).astype(grad._data.dtype)
            out = scale_by_constant(out, mask)
        return out
