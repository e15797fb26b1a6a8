"""Vector norms: torch.norm and the Op behind torch.linalg.vector_norm (p = 0, 1, 2, inf, any p)."""

from __future__ import annotations

from typing import Any

from antorcha._device import xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor
from antorcha.autograd.function import Op
from antorcha.ops._bfloat16 import in_float32
from antorcha.ops._common import require_float, write_out
from antorcha.ops.elementwise import where
from antorcha.ops.reduce import _dims_arg, restore_dims
from antorcha.ops.reduce import sum as sum_over


class LinalgVectorNorm(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, p: float, dims: tuple | None, keepdim: bool) -> Any:
        xp = xp_of(x)
        magnitude = xp.abs(x)
        if p in (float("inf"), -float("inf")) and x.size == 0:
            for d in dims if dims is not None else range(x.ndim):
                if x.shape[d] == 0:
                    raise RuntimeError(
                        f"linalg.vector_norm cannot compute the {p} norm on the empty dimension {d} of a "
                        f"tensor of shape {list(x.shape)}: the operation does not have an identity"
                    )
        if p == float("inf"):
            out = magnitude.max(axis=dims, keepdims=keepdim)
        elif p == -float("inf"):
            out = magnitude.min(axis=dims, keepdims=keepdim)
        elif p == 0:
            out = (magnitude != 0).sum(axis=dims, keepdims=keepdim).astype(x.dtype)
        elif p == 2:
            out = xp.sqrt((x * x).sum(axis=dims, keepdims=keepdim))
        elif p == 1:
            out = magnitude.sum(axis=dims, keepdims=keepdim)
        else:
            out = (magnitude**p).sum(axis=dims, keepdims=keepdim) ** (1.0 / p)
        ctx.save_for_backward(x, out)
        ctx.p, ctx.dims, ctx.keepdim = p, dims, keepdim
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        x, out = ctx.saved_tensors
        p = ctx.p
        dims = ctx.dims if ctx.dims is not None else tuple(range(x.ndim))
        grad_full = restore_dims(grad, x.shape, dims, ctx.keepdim)
        norm_full = restore_dims(out, x.shape, dims, ctx.keepdim)
        if p == 0:
            return grad_full * 0.0
        if p == 1:
            return grad_full * x.sign()
        if p == 2:
            return where(norm_full == 0, 0.0, grad_full * x / norm_full)
        if p in (float("inf"), -float("inf")):
            hits = (x.abs() == norm_full).to(grad.dtype)
            count = sum_over(hits, dims, keepdim=True)
            return grad_full * x.sign() * hits / count
        scaled = x * x.abs() ** (p - 2) / norm_full ** (p - 1)
        return where(norm_full == 0, 0.0, grad_full * scaled)


@register()
def norm(
    input: Tensor,
    p: Any = "fro",
    dim: Any = None,
    keepdim: bool = False,
    dtype: Any = None,
    *,
    out: Tensor | None = None,
) -> Tensor:
    x = input
    if dtype is not None:
        x = x.to(dtype)
    require_float(x, "linalg.vector_norm")
    if p == "fro" or p is None:
        p = 2.0
    if isinstance(p, str):
        raise RuntimeError(f"norm(): unsupported norm type {p!r}")
    op = in_float32(LinalgVectorNorm) if x._data.dtype.kind == "V" else LinalgVectorNorm  # bfloat16
    result = op.apply(x, params=(float(p), _dims_arg(x, dim), keepdim))
    return result if out is None else write_out(result, out, "norm")
