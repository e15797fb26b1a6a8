"""Unary math: exp, log, sqrt, trig, tanh, sigmoid, erf, relu, abs, sign, rounding.

Most are one line each: `_float_math` builds the Op from an array forward and a
Tensor-level derivative rule (saying whether the derivative needs the input or the
output) and declares its public function.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._device import cupyx_module, xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._bfloat16 import in_float32
from antorcha.ops._common import write_out
from antorcha.ops.elementwise import pow as _pow
from antorcha.speed import kernels as compiled_kernels


def _unary(name: str, forward: Any, backward: Any, save: str = "input", float_only: bool = True) -> type[Op]:
    """Build a one-input Op from an array forward and a Tensor-level derivative rule.

    `save` says what the derivative needs: "input", "output" or "nothing". `float_only`
    ops compute integer inputs in the default float dtype, as torch's math functions do.
    """

    def fwd(ctx: Any, x: Any) -> Any:
        out = forward(xp_of(x), x)
        if save == "input":
            ctx.save_for_backward(x)
        elif save == "output":
            ctx.save_for_backward(out)
        return out

    def bwd(ctx: Any, grad: Tensor) -> Tensor:
        saved = ctx.saved_tensors[0] if save != "nothing" else None
        return backward(grad, saved)

    cls = type(name, (Op,), {"forward": staticmethod(fwd), "backward": staticmethod(bwd)})
    cls.float_only = float_only
    return cls


def _float_math(op_name: str, public_name: str, forward: Any, backward: Any, save: str = "input") -> type[Op]:
    """A `_unary` op plus its public function `antorcha.<public_name>` / `Tensor.<public_name>`."""
    op = _unary(op_name, forward, backward, save)

    def public(input: Tensor, *, out: Tensor | None = None) -> Tensor:
        kind = input._data.dtype.kind  # "V": bfloat16 (ml_dtypes), computed in float32 as torch
        if kind not in "fV":
            input = input.to(_dtypes.get_default_dtype())  # noqa: A001 - torch's int -> float promotion
        result = (in_float32(op) if kind == "V" else op).apply(input)
        return result if out is None else write_out(result, out, public_name)

    public.__name__ = public.__qualname__ = public_name
    public.__module__ = __name__
    public.__doc__ = f"Elementwise {public_name}, differentiable (`{op_name}Backward0`)."
    register()(public)
    return op


_2_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_erf_scalar = np.frompyfunc(math.erf, 1, 1)


def erf_array(x: Any) -> Any:
    """erf on an array. NumPy has no erf: the C library's, element by element (exact, not fast)."""
    if xp_of(x) is not np:
        return cupyx_module("cupyx.scipy.special").erf(x)
    return np.asarray(_erf_scalar(x.astype(np.float64, copy=False)), dtype=np.float64).astype(x.dtype)


def _stable_sigmoid(xp: Any, x: Any) -> Any:
    # exp(-|x|) never overflows, and the small branch keeps tiny values exact
    e = xp.exp(-xp.abs(x))
    r = 1 / (1 + e)
    return xp.where(x >= 0, r, e * r)


Neg = _unary("Neg", lambda xp, x: -x, lambda g, _: -g, "nothing", float_only=False)
Abs = _unary("Abs", lambda xp, x: xp.abs(x), lambda g, x: g * x.sign(), float_only=False)
Exp = _float_math("Exp", "exp", lambda xp, x: xp.exp(x), lambda g, y: g * y, "output")
Expm1 = _float_math("Expm1", "expm1", lambda xp, x: xp.expm1(x), lambda g, y: g * (y + 1), "output")
Log = _float_math("Log", "log", lambda xp, x: xp.log(x), lambda g, x: g / x)
Log1p = _float_math("Log1P", "log1p", lambda xp, x: xp.log1p(x), lambda g, x: g / (x + 1))
Log2 = _float_math("Log2", "log2", lambda xp, x: xp.log2(x), lambda g, x: g / (x * 0.6931471805599453))
Log10 = _float_math("Log10", "log10", lambda xp, x: xp.log10(x), lambda g, x: g / (x * 2.302585092994046))
Sqrt = _float_math("Sqrt", "sqrt", lambda xp, x: xp.sqrt(x), lambda g, y: g / (y * 2), "output")
Rsqrt = _float_math("Rsqrt", "rsqrt", lambda xp, x: 1 / xp.sqrt(x), lambda g, y: g * y**3 * -0.5, "output")
Sin = _float_math("Sin", "sin", lambda xp, x: xp.sin(x), lambda g, x: g * x.cos())
Cos = _float_math("Cos", "cos", lambda xp, x: xp.cos(x), lambda g, x: -g * x.sin())
Tan = _float_math("Tan", "tan", lambda xp, x: xp.tan(x), lambda g, y: g * (1 + y * y), "output")
Tanh = _float_math("Tanh", "tanh", lambda xp, x: xp.tanh(x), lambda g, y: g * (1 - y * y), "output")
Sigmoid = _float_math("Sigmoid", "sigmoid", _stable_sigmoid, lambda g, y: g * y * (1 - y), "output")
Reciprocal = _float_math("Reciprocal", "reciprocal", lambda xp, x: 1 / x, lambda g, y: -g * y * y, "output")
Erf = _float_math("Erf", "erf", lambda xp, x: erf_array(x), lambda g, x: g * (-x * x).exp() * _2_OVER_SQRT_PI)


class Relu(Op):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        out = xp_of(x).maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return threshold_backward(grad, out, 0, reuse_grad=ctx.may_overwrite_grad(0))


class ThresholdBackward(Op):
    """`grad`, zeroed where y <= threshold: relu's backward as an op of its own, as torch has it.

    Its forward is the array formula, so a first-order backward costs one masked write;
    under create_graph it records a node whose own backward is the same mask again. Zeroing
    (rather than multiplying by a 0/1 mask) is torch's arithmetic: a NaN output lets its
    gradient through, and an infinite gradient where relu was off gives 0, not NaN.
    """

    @staticmethod
    def forward(ctx: Any, grad: Any, y: Any, threshold: float, reuse_grad: bool) -> Any:
        ctx.save_for_backward(y)
        ctx.threshold = threshold
        into = grad if reuse_grad and grad.shape == y.shape and grad.flags.writeable else None
        return _zeroed_where_at_most(grad, y, threshold, into)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        (y,) = ctx.saved_tensors
        grad_y = zeros_like_grad(grad) if ctx.needs_input_grad[1] else None  # the mask is piecewise constant
        return threshold_backward(grad, y, ctx.threshold), grad_y


def zeros_like_grad(grad: Tensor) -> Tensor:
    """The zero gradient of a piecewise-constant factor (torch returns zeros here, not None)."""
    return wrap(xp_of(grad._data).zeros_like(grad._data), device=grad._device)


def threshold_backward(grad: Tensor, y: Tensor, threshold: float, reuse_grad: bool = False) -> Tensor:
    """`grad`, zeroed where `y <= threshold`; with `reuse_grad`, written into grad's own memory."""
    return ThresholdBackward.apply(grad, y, params=(threshold, reuse_grad))


_MASK_BLOCK = 1 << 16  # elements per block: a block's integer mask stays in the CPU's L2 cache

# The integer type of each float width: a float's bits, ANDed with all ones or with zeros
_SAME_WIDTH_INT = {2: "int16", 4: "int32", 8: "int64"}


def _zeroed_where_at_most(grad: Any, y: Any, threshold: float, into: Any = None) -> Any:
    """grad with +0 where y <= threshold, into `into` (which may be grad itself) or a new array.

    torch's select, as bit arithmetic: the mask `y <= threshold` becomes 0 where zeroed and all
    ones elsewhere, and is ANDed with grad's bits. So NaN in y keeps its gradient, and an
    infinite or NaN gradient where relu was off gives 0 (a multiply by a 0/1 mask would give
    NaN there, and -0 for a negative gradient). Block by block, so a big batch needs no
    full-size mask.
    """
    xp = xp_of(grad)
    bits = _SAME_WIDTH_INT.get(grad.dtype.itemsize)
    if grad.shape != y.shape or bits is None:  # y broadcasts against grad: one pass over that shape
        return xp.where(y <= threshold, grad.dtype.type(0), grad)
    result = into if into is not None else xp.empty(grad.shape, dtype=grad.dtype)  # C order
    if xp is np and compiled_kernels.zeroed_where_at_most(grad, y, threshold, result):
        return result  # one compiled pass (Numba, where installed)
    blocks = _aligned_blocks(grad, y, result) if xp is np else [(grad, y, result)]  # a GPU: one kernel each
    for grad_block, y_block, result_block in blocks:
        keep = xp.less_equal(y_block, threshold).astype(bits)  # 1 where zeroed
        keep -= 1  # 0 where zeroed, all ones where kept
        xp.bitwise_and(grad_block.view(bits), keep, out=result_block.view(bits))
    return result


def _aligned_blocks(*arrays: Any) -> list[tuple]:
    """The same-shaped arrays as aligned flat slices of `_MASK_BLOCK` elements, or whole when
    they are small or not all C-contiguous (a flat view would then be a copy)."""
    size = arrays[0].size
    if size <= _MASK_BLOCK or not all(a.flags.c_contiguous for a in arrays):
        return [arrays]
    flats = [a.reshape(-1) for a in arrays]
    return [tuple(f[start : start + _MASK_BLOCK] for f in flats) for start in range(0, size, _MASK_BLOCK)]


def _sign(xp: Any, x: Any) -> Any:
    """torch's sign: 0 for NaN (NumPy's sign keeps NaN)."""
    out = xp.sign(x, out=xp.empty_like(x))  # an array even for 0-dim x, so it can be written
    return xp.nan_to_num(out, copy=False, nan=0.0) if out.dtype.kind in "fV" else out


def _zero_grad_op(name: str, fn_name: str) -> type[Op]:
    """Piecewise-constant functions: defined gradient of zero, as torch gives."""
    return _unary(name, lambda xp, x: getattr(xp, fn_name)(x), lambda g, _: g * 0.0, "nothing", False)


Sign = _unary("Sign", lambda xp, x: _sign(xp, x), lambda g, _: g * 0.0, "nothing", False)
Floor = _zero_grad_op("Floor", "floor")
Ceil = _zero_grad_op("Ceil", "ceil")
Round = _zero_grad_op("Round", "round")
Trunc = _zero_grad_op("Trunc", "trunc")


@register(dunders=("__neg__",), aliases=("negative",))
def neg(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    if input._data.dtype.kind == "b":
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. "
            "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    result = Neg.apply(input)
    return result if out is None else write_out(result, out, "neg")


@register(method=False, torch=False, dunders=("__pos__",))
def positive(input: Tensor) -> Tensor:
    return input


@register(dunders=("__abs__",))
def abs(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A001
    if input._data.dtype.kind == "b":
        raise RuntimeError("abs is not supported for bool tensors")
    result = Abs.apply(input)
    return result if out is None else write_out(result, out, "abs")


@register()
def relu(input: Tensor) -> Tensor:
    if input._data.dtype.kind == "b":
        raise RuntimeError("relu is not supported for bool tensors")
    return Relu.apply(input)


@register()
def sign(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    result = Sign.apply(input)
    return result if out is None else write_out(result, out, "sign")


@register()
def floor(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    result = input.clone() if input._data.dtype.kind not in "fV" else Floor.apply(input)
    return result if out is None else write_out(result, out, "floor")


@register()
def ceil(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    result = input.clone() if input._data.dtype.kind not in "fV" else Ceil.apply(input)
    return result if out is None else write_out(result, out, "ceil")


@register()
def round(input: Tensor, *, decimals: int = 0, out: Tensor | None = None) -> Tensor:  # noqa: A001
    if decimals:
        scale = 10.0**decimals
        result = Round.apply(input * scale) / scale
        return result if out is None else write_out(result, out, "round")
    result = input.clone() if input._data.dtype.kind not in "fV" else Round.apply(input)
    return result if out is None else write_out(result, out, "round")


@register()
def trunc(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    result = input.clone() if input._data.dtype.kind not in "fV" else Trunc.apply(input)
    return result if out is None else write_out(result, out, "trunc")


@register()
def square(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    result = _pow(input, 2)
    return result if out is None else write_out(result, out, "square")
