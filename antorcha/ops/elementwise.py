"""Elementwise arithmetic and math, with torch's promotion and broadcasting.

Each op's forward runs one xp ufunc on arrays; its backward is written with
Tensor ops, so it is itself differentiable (higher-order gradients).
"""

from __future__ import annotations

from typing import Any

from antorcha import _dtypes
from antorcha._device import enter_quiet, leave_quiet, quiet_float_errors, xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._common import as_operands, broadcast_error, scalar_tensor, write_out


# ---- binary arithmetic --------------------------------------------------------
class Add(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        return a + b

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        return grad, grad


class Sub(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        return a - b

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        # each factor is kept only for the other's gradient, as torch's MulBackward0 does, so an
        # in-place change to a factor that no gradient needs (x * 2, then x.add_) is no error
        need_a, need_b = ctx.needs_input_grad[:2]
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        return a * b

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        if a is None:  # only a's gradient: grad * b, as an op of its own for create_graph
            return Mul.apply(grad, b), None
        if b is None:
            return None, Mul.apply(grad, a)
        return MulGrads.apply(grad, a, b, params=ctx.needs_input_grad[:2])


class MulGrads(Op):
    """(grad * b, grad * a): the gradients of a * b as one op of their own (Chainer's MulGrad).

    Its forward is the first-order formula on arrays; its backward differentiates it, for
    create_graph: d/dgrad = over_a * b + over_b * a, d/da = over_b * grad, d/db = over_a * grad.
    """

    @staticmethod
    def forward(ctx: Any, grad: Any, a: Any, b: Any, need_a: bool, need_b: bool) -> tuple:
        ctx.save_for_backward(grad, a, b)
        return (grad * b if need_a else None), (grad * a if need_b else None)

    @staticmethod
    def backward(ctx: Any, over_a: Tensor | None, over_b: Tensor | None) -> tuple:
        grad, a, b = ctx.saved_tensors
        over_grad = None
        if over_a is not None:
            over_grad = over_a * b
        if over_b is not None:
            over_grad = over_b * a if over_grad is None else over_grad + over_b * a
        return (
            over_grad,
            over_b * grad if over_b is not None else None,
            over_a * grad if over_a is not None else None,
        )


class Div(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        grad_a = grad / b if need_a else None
        # torch's order, -g * ((a / b) / b): g * a first could overflow where the result does not
        grad_b = -grad * (a / b / b) if need_b else None
        return grad_a, grad_b


class Pow(Op):
    """tensor ** tensor (torch's PowBackward1)."""

    backward_name = "PowBackward1"

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        out = _integer_power(xp_of(a), a, b) if a.dtype.kind == "i" else a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        grad_a = grad_b = None
        if need_a:
            grad_a = where(b == 0, 0.0, grad * (b * a ** (b - 1)))  # torch's order: b * 0 before grad
        if need_b:
            # 0 ** b has no log; torch defines that gradient as 0 where b >= 0
            grad_b = where((a == 0) & (b >= 0), 0.0, grad * out * a.log())
        return grad_a, grad_b


def _integer_power(xp: Any, a: Any, b: Any) -> Any:
    """torch's integer `a ** b`: a negative exponent gives 1 / a**|b| rounded toward zero, so 0,
    or ±1 for a base of ±1 (NumPy refuses negative integer powers)."""
    negative = b < 0
    if not negative.any():
        return a**b
    unit = xp.where(a == 1, 1, xp.where(a == -1, 1 - 2 * (b % 2), 0))  # (-1) ** b by b's parity
    return xp.where(negative, unit, a ** xp.where(negative, 0, b)).astype(a.dtype, copy=False)


class PowScalar(Op):
    """tensor ** python number (torch's PowBackward0)."""

    backward_name = "PowBackward0"

    @staticmethod
    def forward(ctx: Any, a: Any, exponent: float) -> Any:
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        if exponent == 2:
            return a * a
        return a**exponent

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        exponent = ctx.exponent
        if exponent == 0:
            return grad * 0.0
        if exponent == 2:
            return grad * a * 2.0
        return grad * exponent * a ** (exponent - 1)


class Maximum(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return xp_of(a).maximum(a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        return _split_ties(grad, a, b, a < b), _split_ties(grad, a, b, a > b)


class Minimum(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return xp_of(a).minimum(a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        return _split_ties(grad, a, b, a > b), _split_ties(grad, a, b, a < b)


def _split_ties(grad: Tensor, a: Tensor, b: Tensor, loses: Tensor) -> Tensor:
    """torch's rule for max/min: the loser gets 0, a tie gives each side half."""
    half = where(a == b, grad / 2, grad)
    return where(loses, 0.0, half)


class Remainder(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        _reject_integer_division_by_zero(b)
        return xp_of(a).remainder(a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        grad_b = -grad * floor_divide(a, b) if ctx.needs_input_grad[1] else None
        return grad, grad_b


class Fmod(Op):
    """C's fmod: the remainder takes the dividend's sign (torch.fmod), unlike `%`."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        _reject_integer_division_by_zero(b)
        return xp_of(a).fmod(a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        grad_b = -grad * (a / b).trunc() if ctx.needs_input_grad[1] else None
        return grad, grad_b


class DivFloor(Op):
    """div(rounding_mode='floor'): piecewise constant, so a zero gradient (torch's DivBackward2)."""

    backward_name = "DivBackward2"

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        _reject_integer_division_by_zero(b)
        return xp_of(a).floor_divide(a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        return grad * 0.0, grad * 0.0


def _reject_integer_division_by_zero(divisor: Any) -> None:
    """torch raises for an integer division by zero (floats give inf or nan); NumPy would give 0."""
    if divisor.dtype.kind in "iu" and not divisor.all():
        raise RuntimeError("ZeroDivisionError")


class DivTrunc(DivFloor):
    """div(rounding_mode='trunc'): the quotient rounded toward zero, with a zero gradient as in
    torch (its DivBackward2 as well); integers divide exactly, without a trip through floats."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        xp = xp_of(a)
        if a.dtype.kind not in "iu":
            return xp.trunc(a / b)
        _reject_integer_division_by_zero(b)
        quotient = xp.floor_divide(a, b)
        # floor and trunc differ by one where the division is inexact and the signs differ
        return quotient + ((xp.remainder(a, b) != 0) & ((a < 0) != (b < 0)))


class Where(Op):
    @staticmethod
    def forward(ctx: Any, condition: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(condition)
        return xp_of(a).where(condition, a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        (condition,) = ctx.saved_tensors
        zero = scalar_tensor(0, grad, grad.dtype)
        grad_a = where(condition, grad, zero) if ctx.needs_input_grad[1] else None
        grad_b = where(condition, zero, grad) if ctx.needs_input_grad[2] else None
        return None, grad_a, grad_b


def _binary(op: type[Op], a: Tensor, b: Any) -> Tensor:
    a, b = as_operands(a, b)
    try:
        return op.apply(a, b)
    except ValueError:
        raise broadcast_error(a.shape, b.shape) from None


def _reflected(op: type[Op], a: Tensor, b: Any) -> Tensor:
    """`b op a` where b is a Python scalar (e.g. `2 - x`)."""
    a, b = as_operands(a, b)
    return op.apply(b, a)


@register(dunders=("__add__", "__radd__"))
def add(input: Tensor, other: Any, *, alpha: float = 1, out: Tensor | None = None) -> Tensor:
    result = _binary(Add, input, other if alpha == 1 else other * alpha)
    return result if out is None else write_out(result, out, "add")


@register(dunders=("__sub__",), aliases=("subtract",))
def sub(input: Tensor, other: Any, *, alpha: float = 1, out: Tensor | None = None) -> Tensor:
    _reject_bool_subtraction(input, other)
    result = _binary(Sub, input, other if alpha == 1 else other * alpha)
    return result if out is None else write_out(result, out, "sub")


@register(method=False, dunders=("__rsub__",))
def rsub(input: Tensor, other: Any, *, alpha: float = 1) -> Tensor:
    """`other - alpha * input` (torch.rsub); `2 - x` for a Python scalar."""
    _reject_bool_subtraction(input, other)
    scaled = mul(input, alpha) if alpha != 1 else input
    if isinstance(other, Tensor):
        return sub(other, scaled)
    return _reflected(Sub, scaled, other)


def _reject_bool_subtraction(a: Tensor, b: Any) -> None:
    if a._data.dtype.kind == "b" or (isinstance(b, Tensor) and b._data.dtype.kind == "b"):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. "
            "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )


@register(dunders=("__mul__", "__rmul__"), aliases=("multiply",))
def mul(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    result = _binary(Mul, input, other)
    return result if out is None else write_out(result, out, "mul")


@register(aliases=("divide",))
def div(input: Tensor, other: Any, *, rounding_mode: str | None = None, out: Tensor | None = None) -> Tensor:
    if rounding_mode == "floor":
        result = _binary(DivFloor, input, other)
        return result if out is None else write_out(result, out, "div")
    if rounding_mode == "trunc":
        result = _binary(DivTrunc, input, other)
        return result if out is None else write_out(result, out, "div")
    if rounding_mode is not None:
        raise RuntimeError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'"
        )
    result = true_divide(input, other)
    return result if out is None else write_out(result, out, "div")


@register(dunders=("__truediv__",))
def true_divide(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    """`/`: integer operands divide as floats of the default dtype, as in torch."""
    other_is_float = isinstance(other, float) or (
        isinstance(other, Tensor) and other._data.dtype.kind in "fV"
    )
    integer_division = input._data.dtype.kind not in "fV" and not other_is_float
    a = input.to(_dtypes.get_default_dtype()) if integer_division else input
    result = _binary(Div, a, other)
    return result if out is None else write_out(result, out, "true_divide")


@register(method=False, torch=False, dunders=("__rtruediv__",))
def rtrue_divide(input: Tensor, other: Any) -> Tensor:
    """`other / input` for a Python scalar `other`."""
    a = input.to(_dtypes.get_default_dtype()) if input._data.dtype.kind not in "fV" else input
    return _reflected(Div, a, other)


@register(dunders=("__pow__",))
def pow(input: Tensor, exponent: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A001 - torch's name
    if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        target = _dtypes.result_type(input, exponent)
        base = input if input.dtype is target else input.to(target)
        if base._data.dtype.kind in "iu" and exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        result = PowScalar.apply(base, params=(exponent,))
        return result if out is None else write_out(result, out, "pow")
    result = _binary(Pow, input, exponent)
    return result if out is None else write_out(result, out, "pow")


@register(method=False, torch=False, dunders=("__rpow__",))
def rpow(input: Tensor, base: Any) -> Tensor:
    """`base ** input` for a Python scalar base."""
    return _reflected(Pow, input, base)


@register()
def maximum(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    result = _binary(Maximum, input, _require_tensor(other, "maximum"))
    return result if out is None else write_out(result, out, "maximum")


@register()
def minimum(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    result = _binary(Minimum, input, _require_tensor(other, "minimum"))
    return result if out is None else write_out(result, out, "minimum")


def _require_tensor(b: Any, name: str) -> Tensor:
    if not isinstance(b, Tensor):
        raise TypeError(f"{name}(): argument 'other' must be Tensor, not {type(b).__name__}")
    return b


@register(dunders=("__mod__",))
def remainder(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    result = _binary(Remainder, input, other)
    return result if out is None else write_out(result, out, "remainder")


@register(method=False, torch=False, dunders=("__rmod__",))
def rremainder(input: Tensor, other: Any) -> Tensor:
    """`other % input` for a Python scalar `other`."""
    return _reflected(Remainder, input, other)


@register()
def fmod(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    result = _binary(Fmod, input, other)
    return result if out is None else write_out(result, out, "fmod")


@register(dunders=("__floordiv__",))
def floor_divide(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    """`//` rounds toward -inf like Python; torch gives it no gradient."""
    a, b = as_operands(input, other)
    result = _floor_divide_arrays(a, b)
    return result if out is None else write_out(result, out, "floor_divide")


@register(method=False, torch=False, dunders=("__rfloordiv__",))
def rfloor_divide(input: Tensor, other: Any) -> Tensor:
    """`other // input` for a Python scalar `other`."""
    a, b = as_operands(input, other)
    return _floor_divide_arrays(b, a)


def _floor_divide_arrays(a: Tensor, b: Tensor) -> Tensor:
    _reject_integer_division_by_zero(b._data)
    with quiet_float_errors():
        try:
            return wrap(xp_of(a._data).floor_divide(a._data, b._data), device=a._device)
        except ValueError:
            raise broadcast_error(a.shape, b.shape) from None


@register(method=False)
def where(condition: Tensor, input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:
    if not isinstance(condition, Tensor):
        raise TypeError(f"where(): argument 'condition' must be Tensor, not {type(condition).__name__}")
    if condition._data.dtype.kind != "b":
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor with dtype {condition.dtype}"
        )
    a, b = input, other
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        dtype = _dtypes.result_type(a, b)
        a, b = scalar_tensor(a, condition, dtype), scalar_tensor(b, condition, dtype)
    elif not isinstance(a, Tensor):
        b, a = as_operands(b, a)
    else:
        a, b = as_operands(a, b)
    try:
        result = Where.apply(condition, a, b)
        return result if out is None else write_out(result, out, "where")
    except ValueError:
        raise RuntimeError(
            f"where(): shapes {list(condition.shape)}, {list(a.shape)} and {list(b.shape)} "
            "cannot be broadcast together"
        ) from None


@register("where", torch=False)
def where_method(input: Tensor, condition: Tensor, other: Any) -> Tensor:
    """`x.where(condition, y)`: torch's method puts the tensor first."""
    return where(condition, input, other)


@register()
def lerp(input: Tensor, end: Tensor, weight: Any, *, out: Tensor | None = None) -> Tensor:
    """torch's two-sided formula: from `input` for weight < 0.5, from `end` above (exact at 1)."""
    difference = end - input
    if isinstance(weight, Tensor):
        near_start = weight.abs() < 0.5
        result = where(near_start, input + weight * difference, end - difference * (1 - weight))
    elif abs(weight) < 0.5:
        result = input + difference * weight
    else:
        result = end - difference * (1 - weight)
    return result if out is None else write_out(result, out, "lerp")


# ---- clamp ---------------------------------------------------------------------
class ClampScalar(Op):
    backward_name = "ClampBackward1"

    @staticmethod
    def forward(ctx: Any, x: Any, low: Any, high: Any) -> Any:
        ctx.save_for_backward(x)
        ctx.bounds = (low, high)
        return xp_of(x).clip(x, low, high)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        low, high = ctx.bounds
        inside = None
        if low is not None:
            inside = x >= low
        if high is not None:
            inside = (x <= high) if inside is None else inside & (x <= high)
        return where(inside, grad, 0.0)


@register(aliases=("clip",))
def clamp(input: Tensor, min: Any = None, max: Any = None, *, out: Tensor | None = None) -> Tensor:
    x = input
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        result = x
        if min is not None:
            result = maximum(result, min if isinstance(min, Tensor) else scalar_tensor(min, x, x.dtype))
        if max is not None:
            result = minimum(result, max if isinstance(max, Tensor) else scalar_tensor(max, x, x.dtype))
        return result if out is None else write_out(result, out, "clamp")
    target = _dtypes.result_type(x, *(v for v in (min, max) if v is not None))
    if x.dtype is not target:
        x = x.to(target)
    result = ClampScalar.apply(x, params=(min, max))
    return result if out is None else write_out(result, out, "clamp")


@register()
def clamp_min(input: Tensor, min: Any, *, out: Tensor | None = None) -> Tensor:
    result = clamp(input, min, None)
    return result if out is None else write_out(result, out, "clamp_min")


@register()
def clamp_max(input: Tensor, max: Any, *, out: Tensor | None = None) -> Tensor:
    result = clamp(input, None, max)
    return result if out is None else write_out(result, out, "clamp_max")


# ---- casts ---------------------------------------------------------
class ToCopy(Op):
    """A dtype cast; the gradient is cast back to the input's dtype centrally."""

    @staticmethod
    def forward(ctx: Any, x: Any, np_dtype: Any) -> Any:
        return x.astype(np_dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


def cast(x: Tensor, dtype: _dtypes.dtype) -> Tensor:
    if x._data.dtype is dtype.np or x._data.dtype == dtype.np:
        return x
    if x._requires_grad and dtype.is_floating_point:
        return ToCopy.apply(x, params=(dtype.np,))
    quiet = enter_quiet()  # nan -> int and 1e39 -> float32 are silent in torch
    try:
        return wrap(x._data.astype(dtype.np), device=x._device)
    finally:
        leave_quiet(quiet)


class _Overwritten(Op):
    """zero_/fill_/uniform_/normal_ on a tensor in a graph: it stays in the graph, and no
    gradient reaches its old values (torch's ZeroBackward0, FillBackward2, ...)."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        return x  # the values were already overwritten in place

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad * 0.0


class Zero(_Overwritten):
    pass


class Fill(_Overwritten):
    backward_name = "FillBackward2"


class Uniform(_Overwritten):
    pass


class Normal(_Overwritten):
    pass
