"""The softmax family: logsumexp, softmax and log_softmax, each one graph node."""

from __future__ import annotations

from typing import Any

from antorcha import _dtypes
from antorcha._device import xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor
from antorcha.autograd.function import Op
from antorcha.ops._bfloat16 import in_float32, sum_rounded_once
from antorcha.ops._common import normalize_dim, normalize_dims, write_out
from antorcha.ops.reduce import restore_dims
from antorcha.ops.reduce import sum as sum_over


class Logsumexp(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, dims: tuple, keepdim: bool) -> Any:
        xp = xp_of(x)
        peak = x.max(axis=dims, keepdims=True) if x.size else xp.zeros((1,) * x.ndim, x.dtype)
        peak = xp.where(xp.isfinite(peak), peak, 0)  # keeps all -inf rows at -inf, not nan
        out = xp.log(sum_rounded_once(xp.exp(x - peak), dims)) + peak
        result = out if keepdim else out.squeeze(axis=dims)
        ctx.save_for_backward(x, result)  # the returned array, so grad-of-grad sees it depend on x
        ctx.dims, ctx.keepdim = dims, keepdim
        return result

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        x, out = ctx.saved_tensors
        grad_full = restore_dims(grad, x.shape, ctx.dims, ctx.keepdim)
        return grad_full * (x - restore_dims(out, x.shape, ctx.dims, ctx.keepdim)).exp()


@register()
def logsumexp(input: Tensor, dim: Any, keepdim: bool = False, *, out: Tensor | None = None) -> Tensor:
    x = input
    if x._data.dtype.kind not in "fV":
        x = x.to(_dtypes.get_default_dtype())
    dims = normalize_dims(dim, x.ndim)
    result = Logsumexp.apply(x, params=(dims if x.ndim else (), keepdim))
    return result if out is None else write_out(result, out, "logsumexp")


class Softmax(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, dim: int) -> Any:
        xp = xp_of(x)
        if x.size == 0:  # nothing to normalize (and max() of nothing has no identity)
            out = x.copy()
            ctx.save_for_backward(out)
            ctx.dim = dim
            return out
        shifted = x - x.max(axis=dim, keepdims=True)
        out = xp.exp(shifted, out=shifted)
        out /= out.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return out * (grad - sum_over(grad * out, ctx.dim, keepdim=True))


class LogSoftmax(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, dim: int) -> Any:
        xp = xp_of(x)
        if x.size == 0:
            out = x.copy()
            ctx.save_for_backward(out)
            ctx.dim = dim
            return out
        shifted = x - x.max(axis=dim, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return grad - out.exp() * sum_over(grad, ctx.dim, keepdim=True)


class _LogSoftmaxLastDim(LogSoftmax):
    """torch's bfloat16 log_softmax over the last dim (run through `in_float32`): the sum of the
    exponentials and its log are bfloat16 values there; over other dims all is float32."""

    backward_name = "LogSoftmaxBackward0"

    @staticmethod
    def forward(ctx: Any, x: Any, dim: int) -> Any:
        if x.size == 0:
            return LogSoftmax.forward(ctx, x, dim)
        xp, low = xp_of(x), _dtypes.bfloat16.np
        shifted = x - x.max(axis=dim, keepdims=True)
        total = xp.exp(shifted).sum(axis=dim, keepdims=True).astype(low).astype(x.dtype)
        out = shifted - xp.log(total).astype(low).astype(x.dtype)
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out


def _softmax_input(x: Tensor, dim: int | None, dtype: Any) -> tuple[Tensor, int]:
    if dtype is not None:
        x = x.to(dtype)
    elif x._data.dtype.kind not in "fV":
        raise RuntimeError(f"softmax not implemented for '{x.dtype.name}' (expected a floating point tensor)")
    if dim is None:  # torch's legacy implicit dim
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return x, normalize_dim(dim, x.ndim)


@register()
def softmax(input: Tensor, dim: int | None = None, dtype: Any = None, *, out: Tensor | None = None) -> Tensor:
    x, d = _softmax_input(input, dim, dtype)
    op = in_float32(Softmax) if x._data.dtype.kind == "V" else Softmax  # bfloat16: as torch
    if x.ndim == 0:
        result = op.apply(x.reshape(1), params=(0,)).reshape(())
        return result if out is None else write_out(result, out, "softmax")
    result = op.apply(x, params=(d,))
    return result if out is None else write_out(result, out, "softmax")


@register()
def log_softmax(
    input: Tensor, dim: int | None = None, dtype: Any = None, *, out: Tensor | None = None
) -> Tensor:
    x, d = _softmax_input(input, dim, dtype)
    op = LogSoftmax
    if x._data.dtype.kind == "V":  # bfloat16: as torch's kernels
        op = in_float32(_LogSoftmaxLastDim if d == x.ndim - 1 or x.ndim == 0 else LogSoftmax)
    if x.ndim == 0:
        result = op.apply(x.reshape(1), params=(0,)).reshape(())
        return result if out is None else write_out(result, out, "log_softmax")
    result = op.apply(x, params=(d,))
    return result if out is None else write_out(result, out, "log_softmax")
