"""Matrix products: matmul in all its cases (dot, mv, mm, batched), bmm, and linear (addmm)."""

from __future__ import annotations

from typing import Any

from antorcha._autocast import AUTOCAST, lower_precision
from antorcha._device import xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor
from antorcha.autograd.function import Op
from antorcha.ops._common import as_operands, write_out


class Dot(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return _matrix_product(a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Mv(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return _matrix_product(a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        grad_a = grad.unsqueeze(-1) * b if need_a else None  # outer product
        grad_b = matmul(a.mT, grad) if need_b else None
        return grad_a, grad_b


def _product(a: Any, b: Any) -> Any:
    """a @ b on arrays; with an inner dimension of 1 it is an outer product, which BLAS does slowly."""
    return a * b if a.shape[-1] == 1 else _matrix_product(a, b)


def _is_half(a: Any) -> bool:
    """float16 or bfloat16 (2-byte, not an integer)."""
    return a.itemsize == 2 and a.dtype.kind != "i"


def _matrix_product(a: Any, b: Any) -> Any:
    """a @ b; float16 and bfloat16 through float32, rounded once: torch accumulates them in float32
    (NumPy's float16 product accumulates in float16, ml_dtypes' bfloat16 one returns float32)."""
    if _is_half(a):
        return (a.astype("float32") @ b.astype("float32")).astype(a.dtype)
    return a @ b


def _swap(a: Any) -> Any:
    return a.swapaxes(-1, -2)


class Mm(Op):
    """2-D @ 2-D, and the broadcast batched case (its gradient is summed to each input's shape)."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return _product(a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        _, grad_a, grad_b = MatmulGrads.apply(grad, a, b, params=(False, *ctx.needs_input_grad[:2]))
        return grad_a, grad_b


class Bmm(Mm):
    pass


class Addmm(Op):
    """bias + x @ weight_t: what `F.linear` runs for a 2-D input (torch's AddmmBackward0)."""

    @staticmethod
    def forward(ctx: Any, bias: Any, x: Any, weight_t: Any) -> Any:
        ctx.save_for_backward(x, weight_t)
        if _is_half(x):  # float16/bfloat16: the product and the bias in float32, rounded once, as torch
            out = x.astype("float32") @ weight_t.astype("float32")
            out += bias
            return out.astype(x.dtype)
        rows, inner = x.shape
        if inner + 1 < weight_t.shape[1] and rows > _FOLD_MIN_ROWS and inner <= _FOLD_MAX_INNER:
            return _bias_folded_into_the_product(x, weight_t, bias)
        out = x @ weight_t
        out += bias
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, weight_t = ctx.saved_tensors
        return MatmulGrads.apply(grad, x, weight_t, params=ctx.needs_input_grad[:3])


# With fewer inputs than outputs the product is cheap next to a separate `out += bias`, a whole
# extra pass over the (rows, out) result: a column of ones in x folds the bias into the product.
# Past 64 inputs the copy of x and the odd inner size (129) cost what the pass saves: in the GPT
# benchmark's forward (768 rows, 128 -> 384 and 128 -> 512) folding was 2.6% slower (the median
# of 20 alternations), while the lesson's 10 -> 100 layer takes 0.57x the time folded.
_FOLD_MIN_ROWS = 256
_FOLD_MAX_INNER = 64


def _bias_folded_into_the_product(x: Any, weight_t: Any, bias: Any) -> Any:
    """x @ weight_t + bias as one product of [x, 1] (rows, in + 1) and [weight_t; bias] (in + 1, out)."""
    xp = xp_of(x)
    augmented_x = xp.empty((x.shape[0], x.shape[1] + 1), dtype=x.dtype)
    augmented_x[:, :-1] = x
    augmented_x[:, -1] = 1
    augmented_w = xp.concatenate([weight_t, bias.reshape(1, -1).astype(weight_t.dtype, copy=False)])
    return augmented_x @ augmented_w


class MatmulGrads(Op):
    """The gradients of `bias + a @ b` for (bias, a, b), as one op of their own (Chainer's *Grad nodes).

    Its forward is the first-order formula on arrays: grad summed over the rows, grad @ bᵀ,
    and aᵀ @ grad (made as the transpose of a C-order product: `weight.t()`'s backward turns it
    back into the weight's own layout without a copy). Its backward differentiates that
    formula, so create_graph gives second and higher derivatives.
    """

    @staticmethod
    def forward(ctx: Any, grad: Any, a: Any, b: Any, need_bias: bool, need_a: bool, need_b: bool) -> tuple:
        ctx.save_for_backward(grad, a, b)
        grad_bias = _row_sum(grad) if need_bias else None  # (out,): a bias is 2-D addmm only
        grad_a = _product(grad, _swap(b)) if need_a else None
        grad_b = _swap(_product(_swap(grad), a)) if need_b else None
        return grad_bias, grad_a, grad_b

    @staticmethod
    def backward(ctx: Any, over_bias: Tensor | None, over_a: Tensor | None, over_b: Tensor | None) -> tuple:
        grad, a, b = ctx.saved_tensors
        terms = []
        if over_bias is not None:
            terms.append(over_bias.expand(*grad.shape))  # the adjoint of the row sum
        if over_a is not None:
            terms.append(matmul(over_a, b))
        if over_b is not None:
            terms.append(matmul(a, over_b))
        grad_grad = None
        for term in terms:
            grad_grad = term if grad_grad is None else grad_grad + term
        grad_a = matmul(grad, over_b.mT) if over_b is not None else None
        grad_b = matmul(over_a.mT, grad) if over_a is not None else None
        return grad_grad, grad_a, grad_b


def _row_sum(grad: Any) -> Any:
    """grad.sum(axis=0); a float16/bfloat16 gradient accumulates in float32 (its node rounds it once)."""
    return grad.sum(axis=0, dtype="float32") if _is_half(grad) else grad.sum(axis=0)


def _shape_error(a: Tensor, b: Tensor) -> RuntimeError:
    if a.ndim == 1 and b.ndim == 1:
        return RuntimeError(
            f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to have "
            "the same number of elements, but got "
            f"{a.shape[0]} and {b.shape[0]} elements respectively"
        )
    a_rows = a.shape[-2] if a.ndim > 1 else 1
    b_cols = b.shape[-1] if b.ndim > 1 else 1
    return RuntimeError(
        f"mat1 and mat2 shapes cannot be multiplied ({a_rows}x{a.shape[-1]} and "
        f"{b.shape[-2] if b.ndim > 1 else b.shape[0]}x{b_cols})"
    )


@register(dunders=("__matmul__",))
def matmul(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    if AUTOCAST.on:  # torch's autocast lower-precision list (mm and bmm come through here)
        input, other = lower_precision(input, other)  # noqa: A001
    result = _matmul(input, other)
    return result if out is None else write_out(result, out, "matmul")


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    if not isinstance(b, Tensor):
        raise TypeError(f"matmul(): argument 'other' must be Tensor, not {type(b).__name__}")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D"
        )
    a, b = as_operands(a, b)
    inner_a = a.shape[-1]
    inner_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if inner_a != inner_b:
        raise _shape_error(a, b)
    if a.ndim == 1 and b.ndim == 1:
        return Dot.apply(a, b)
    if a.ndim == 2 and b.ndim == 1:
        return Mv.apply(a, b)
    if b.ndim == 1:
        return Mm.apply(a, b.unsqueeze(-1)).squeeze(-1)
    if a.ndim == 1:
        return Mm.apply(a.unsqueeze(0), b).squeeze(-2)
    if a.ndim == 2 and b.ndim == 2:
        return Mm.apply(a, b)
    if b.ndim == 2:  # (..., n, k) @ (k, m): one GEMM over all rows, as torch folds it
        rows = a.reshape(-1, inner_a)
        return Mm.apply(rows, b).view(*a.shape[:-1], b.shape[-1])
    try:
        return Bmm.apply(a, b)
    except ValueError:
        raise RuntimeError(
            f"matmul: batch dimensions of {list(a.shape)} and {list(b.shape)} cannot be broadcast"
        ) from None


@register()
def mm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:
    a, b = input, mat2
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got {a.ndim}-D and {b.ndim}-D")
    result = matmul(a, b)
    return result if out is None else write_out(result, out, "mm")


@register()
def bmm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:
    a, b = input, mat2
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(
            f"batch1 must be a 3D tensor and batch2 must be a 3D tensor (got {a.ndim}D and {b.ndim}D)"
        )
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{a.shape[0]}, {a.shape[2]}] "
            f"but got: [{b.shape[0]}, {b.shape[1]}]."
        )
    result = matmul(a, b)
    return result if out is None else write_out(result, out, "bmm")


@register()
def dot(input: Tensor, tensor: Tensor, *, out: Tensor | None = None) -> Tensor:
    a, b = input, tensor
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    result = _matmul(a, b)  # not on torch's autocast list
    return result if out is None else write_out(result, out, "dot")


@register(method=False, torch=False, functional=True)
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, with torch's addmm path for 2-D inputs."""
    if AUTOCAST.on:  # torch's autocast lower-precision list
        input, weight, bias = lower_precision(input, weight, bias)  # noqa: A001
    x = input
    x_shape, weight_shape = x._data.shape, weight._data.shape  # arrays' shapes: no Size built per call
    if not x_shape or not weight_shape:
        raise RuntimeError(
            "both arguments to linear need to be at least 1D, but they are "
            f"{len(x_shape)}D and {len(weight_shape)}D"
        )
    if x_shape[-1] != weight_shape[-1]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({int(x.numel() // max(x.shape[-1], 1))}x"
            f"{x.shape[-1]} and {weight.shape[-1]}x{weight.shape[0]})"
        )
    if x._data.dtype != weight._data.dtype:
        raise RuntimeError(
            f"mat1 and mat2 must have the same dtype, but got {x.dtype.scalar_name} and "
            f"{weight.dtype.scalar_name}"
        )
    if len(x_shape) == 2 and bias is not None:
        return Addmm.apply(bias, x, weight.t())
    if x.ndim > 2 and bias is not None and x.is_contiguous():  # torch: a view of one addmm
        rows = Addmm.apply(bias, x.view(-1, x.shape[-1]), weight.t())
        return rows.view(*x.shape[:-1], weight.shape[0])
    out = matmul(x, weight.t())
    return out + bias if bias is not None else out


@register(method=False, torch=False, dunders=("__rmatmul__",))
def rmatmul(input: Tensor, other: Tensor) -> Tensor:
    return matmul(other, input)


@register()
def mv(input: Tensor, vec: Tensor, *, out: Tensor | None = None) -> Tensor:
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {input.ndim}, {vec.ndim}")
    result = _matmul(input, vec)  # not on torch's autocast list
    return result if out is None else write_out(result, out, "mv")


@register()
def outer(input: Tensor, vec2: Tensor, *, out: Tensor | None = None) -> Tensor:
    result = input.unsqueeze(-1) * vec2
    return result if out is None else write_out(result, out, "outer")
