"""Comparisons, logic and predicates: never differentiable, so plain array calls, no Op.

`== != < <= > >=` give bool tensors with torch's promotion; `& | ^ ~` are bitwise on ints
and logical on bools, as in torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._device import quiet_float_errors, xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._bfloat16 import in_float32
from antorcha.ops._common import as_operands, broadcast_error, require_float, write_out
from antorcha.ops.elementwise import where


def _compare(ufunc_name: str, a: Tensor, b: Any) -> Tensor:
    if not isinstance(b, (Tensor, int, float, bool, np.number)):
        # torch: a tensor never equals a non-number (`x == None` is all False)
        xp = xp_of(a._data)
        return wrap(xp.full(a._data.shape, ufunc_name == "not_equal"), device=a._device)
    return _binary_ufunc(ufunc_name, *as_operands(a, b))


def _binary_ufunc(ufunc_name: str, a: Tensor, b: Tensor) -> Tensor:
    """`xp.<ufunc_name>(a, b)` on operands already promoted, with torch's broadcast error."""
    try:
        return wrap(getattr(xp_of(a._data), ufunc_name)(a._data, b._data), device=a._device)
    except ValueError:
        raise broadcast_error(a.shape, b.shape) from None


@register(dunders=("__eq__",))
def eq(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    result = _compare("equal", input, other)
    return result if out is None else write_out(result, out, "eq")


@register(dunders=("__ne__",))
def ne(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    result = _compare("not_equal", input, other)
    return result if out is None else write_out(result, out, "ne")


@register(dunders=("__lt__",))
def lt(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    result = _compare("less", input, other)
    return result if out is None else write_out(result, out, "lt")


@register(dunders=("__le__",))
def le(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    result = _compare("less_equal", input, other)
    return result if out is None else write_out(result, out, "le")


@register(dunders=("__gt__",))
def gt(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    result = _compare("greater", input, other)
    return result if out is None else write_out(result, out, "gt")


@register(dunders=("__ge__",))
def ge(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    result = _compare("greater_equal", input, other)
    return result if out is None else write_out(result, out, "ge")


@register()
def equal(input: Tensor, other: Tensor) -> bool:
    return input.shape == other.shape and bool(eq(input, other).all())


@register()
def allclose(
    input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    a, b = as_operands(input, other)
    with quiet_float_errors():  # inf - inf inside the closeness test
        return bool(xp_of(a._data).allclose(a._data, b._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def _bitwise(ufunc_name: str, a: Tensor, b: Any) -> Tensor:
    a, b = as_operands(a, b)
    if a._data.dtype.kind in "fV":
        raise RuntimeError(f"\"{ufunc_name}_cpu\" not implemented for '{a.dtype.scalar_name}'")
    return _binary_ufunc(ufunc_name, a, b)


@register(dunders=("__and__", "__rand__"))
def bitwise_and(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    result = _bitwise("bitwise_and", input, other)
    return result if out is None else write_out(result, out, "bitwise_and")


@register(dunders=("__or__", "__ror__"))
def bitwise_or(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    result = _bitwise("bitwise_or", input, other)
    return result if out is None else write_out(result, out, "bitwise_or")


@register(dunders=("__xor__", "__rxor__"))
def bitwise_xor(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    result = _bitwise("bitwise_xor", input, other)
    return result if out is None else write_out(result, out, "bitwise_xor")


@register(dunders=("__invert__",))
def bitwise_not(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    if input._data.dtype.kind in "fV":
        raise TypeError(f"~ (bitwise_not) is only supported for integer and bool tensors, got {input.dtype}")
    result = wrap(~input._data, device=input._device)
    return result if out is None else write_out(result, out, "bitwise_not")


@register()
def logical_and(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    result = _bitwise("logical_and", input.bool(), other.bool())
    return result if out is None else write_out(result, out, "logical_and")


@register()
def logical_or(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    result = _bitwise("logical_or", input.bool(), other.bool())
    return result if out is None else write_out(result, out, "logical_or")


def _predicate(ufunc_name: str, x: Tensor) -> Tensor:
    return wrap(getattr(xp_of(x._data), ufunc_name)(x._data), device=x._device)


@register()
def logical_not(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    result = _predicate("logical_not", input)
    return result if out is None else write_out(result, out, "logical_not")


@register()
def isnan(input: Tensor) -> Tensor:
    return _predicate("isnan", input)


@register()
def isinf(input: Tensor) -> Tensor:
    return _predicate("isinf", input)


@register()
def isfinite(input: Tensor) -> Tensor:
    return _predicate("isfinite", input)


class NanToNum(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, nan: float, posinf: float | None, neginf: float | None) -> Any:
        ctx.save_for_backward(x)
        return xp_of(x).nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return where(isfinite(x), grad, 0.0)


@register()
def nan_to_num(
    input: Tensor,
    nan: float = 0.0,
    posinf: float | None = None,
    neginf: float | None = None,
    *,
    out: Tensor | None = None,
) -> Tensor:
    require_float(input, "nan_to_num")
    op = NanToNum
    if input._data.dtype.kind == "V":  # bfloat16 in float32, with bfloat16's own limits
        op, limit = in_float32(NanToNum), _dtypes.bfloat16_max()
        posinf, neginf = limit if posinf is None else posinf, -limit if neginf is None else neginf
    result = op.apply(input, params=(nan, posinf, neginf))
    return result if out is None else write_out(result, out, "nan_to_num")
