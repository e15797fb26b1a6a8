"""Elementwise arithmetic and math, with torch's promotion and broadcasting.

Each op's forward runs one xp ufunc on arrays; its backward is written with
Tensor ops, so it is itself differentiable (higher-order gradients).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._device import xp_of
from antorcha._grad_mode import STATE
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._common import as_operands, broadcast_error, require_float, scalar_tensor


def _quiet() -> np.errstate:
    """torch never warns about inf/nan results; NumPy would."""
    return np.errstate(all="ignore")


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
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        g = grad._data
        if not STATE.enabled and g.dtype == a._data.dtype == b._data.dtype:
            # first order, one dtype: the same products on the arrays, without two Tensor ops
            device = grad._device
            return (wrap(g * b._data, device=device) if need_a else None), (
                wrap(g * a._data, device=device) if need_b else None
            )
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        with _quiet():
            return a / b

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        grad_a = grad / b if need_a else None
        grad_b = -grad * a / (b * b) if need_b else None
        return grad_a, grad_b


class Pow(Op):
    """tensor ** tensor (torch's PowBackward1)."""

    backward_name = "PowBackward1"

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        with _quiet():
            out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        grad_a = grad_b = None
        if need_a:
            grad_a = where(b == 0, 0.0, grad * b * a ** (b - 1))
        if need_b:
            # 0 ** b has no log; torch defines that gradient as 0 where b >= 0
            grad_b = where((a == 0) & (b >= 0), 0.0, grad * out * a.log())
        return grad_a, grad_b


class PowScalar(Op):
    """tensor ** python number (torch's PowBackward0)."""

    backward_name = "PowBackward0"

    @staticmethod
    def forward(ctx: Any, a: Any, exponent: float) -> Any:
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        if exponent == 2:
            return a * a
        with _quiet():
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
        with _quiet():
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
        with _quiet():
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
        with _quiet():
            return xp_of(a).floor_divide(a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        return grad * 0.0, grad * 0.0


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


def add(a: Tensor, b: Any, alpha: float = 1) -> Tensor:
    return _binary(Add, a, b if alpha == 1 else b * alpha)


def sub(a: Tensor, b: Any, alpha: float = 1) -> Tensor:
    _reject_bool_subtraction(a, b)
    return _binary(Sub, a, b if alpha == 1 else b * alpha)


def rsub(a: Tensor, b: Any) -> Tensor:
    """`b - a` for a Python scalar b."""
    _reject_bool_subtraction(a, b)
    return _reflected(Sub, a, b)


def _reject_bool_subtraction(a: Tensor, b: Any) -> None:
    if a._data.dtype.kind == "b" or (isinstance(b, Tensor) and b._data.dtype.kind == "b"):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. "
            "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )


def mul(a: Tensor, b: Any) -> Tensor:
    return _binary(Mul, a, b)


def div(a: Tensor, b: Any, rounding_mode: str | None = None) -> Tensor:
    if rounding_mode == "floor":
        return _binary(DivFloor, a, b)
    if rounding_mode == "trunc":
        return true_divide(a, b).trunc().to(_dtypes.result_type(a, b))
    if rounding_mode is not None:
        raise RuntimeError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'"
        )
    return true_divide(a, b)


def true_divide(a: Tensor, b: Any) -> Tensor:
    """`/`: integer operands divide as floats of the default dtype, as in torch."""
    b_is_float = isinstance(b, float) or (isinstance(b, Tensor) and b._data.dtype.kind == "f")
    if a._data.dtype.kind != "f" and not b_is_float:
        a = a.to(_dtypes.get_default_dtype())
    return _binary(Div, a, b)


def rtrue_divide(a: Tensor, b: Any) -> Tensor:
    if a._data.dtype.kind != "f" and not isinstance(b, float):
        a = a.to(_dtypes.get_default_dtype())
    return _reflected(Div, a, b)


def pow(a: Tensor, exponent: Any) -> Tensor:  # noqa: A001 - torch's name
    if isinstance(exponent, Tensor):
        return _binary(Pow, a, exponent)
    if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        target = _dtypes.result_type(a, exponent)
        if a.dtype is not target:
            a = a.to(target)
        if a._data.dtype.kind in "iu" and exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        return PowScalar.apply(a, params=(exponent,))
    return _binary(Pow, a, exponent)


def rpow(a: Tensor, base: Any) -> Tensor:
    return _reflected(Pow, a, base)


def maximum(a: Tensor, b: Tensor) -> Tensor:
    return _binary(Maximum, a, _require_tensor(b, "maximum"))


def minimum(a: Tensor, b: Tensor) -> Tensor:
    return _binary(Minimum, a, _require_tensor(b, "minimum"))


def _require_tensor(b: Any, name: str) -> Tensor:
    if not isinstance(b, Tensor):
        raise TypeError(f"{name}(): argument 'other' must be Tensor, not {type(b).__name__}")
    return b


def remainder(a: Tensor, b: Any) -> Tensor:
    return _binary(Remainder, a, b)


def fmod(a: Tensor, b: Any) -> Tensor:
    return _binary(Fmod, a, b)


def floor_divide(a: Tensor, b: Any) -> Tensor:
    """`//` rounds toward -inf like Python; torch gives it no gradient."""
    a, b = as_operands(a, b)
    return _floor_divide_arrays(a, b)


def floor_divide_reflected(a: Tensor, b: Any) -> Tensor:
    """`b // a` for a Python scalar b."""
    a, b = as_operands(a, b)
    return _floor_divide_arrays(b, a)


def _floor_divide_arrays(a: Tensor, b: Tensor) -> Tensor:
    with _quiet():
        try:
            return wrap(xp_of(a._data).floor_divide(a._data, b._data), device=a._device)
        except ValueError:
            raise broadcast_error(a.shape, b.shape) from None


def where(condition: Tensor, a: Any, b: Any) -> Tensor:
    if not isinstance(condition, Tensor):
        raise TypeError(f"where(): argument 'condition' must be Tensor, not {type(condition).__name__}")
    if condition._data.dtype.kind != "b":
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor with dtype {condition.dtype}"
        )
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        dtype = _dtypes.result_type(a, b)
        a, b = scalar_tensor(a, condition, dtype), scalar_tensor(b, condition, dtype)
    elif not isinstance(a, Tensor):
        b, a = as_operands(b, a)
    else:
        a, b = as_operands(a, b)
    try:
        return Where.apply(condition, a, b)
    except ValueError:
        raise RuntimeError(
            f"where(): shapes {list(condition.shape)}, {list(a.shape)} and {list(b.shape)} "
            "cannot be broadcast together"
        ) from None


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


def clamp(x: Tensor, min: Any = None, max: Any = None) -> Tensor:
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x
        if min is not None:
            out = maximum(out, min if isinstance(min, Tensor) else scalar_tensor(min, x, x.dtype))
        if max is not None:
            out = minimum(out, max if isinstance(max, Tensor) else scalar_tensor(max, x, x.dtype))
        return out
    target = _dtypes.result_type(x, *(v for v in (min, max) if v is not None))
    if x.dtype is not target:
        x = x.to(target)
    return ClampScalar.apply(x, params=(min, max))


# ---- casts and comparisons ---------------------------------------------------------
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
    return wrap(x._data.astype(dtype.np), device=x._device)


def compare(name: str, a: Tensor, b: Any) -> Tensor:
    """`== != < <= > >=`: never differentiable, result is bool."""
    if isinstance(b, (Tensor, int, float, bool, np.number)):
        a, b = as_operands(a, b)
    else:
        return wrap(np.full(a.shape, name == "ne"), device=a._device)
    try:
        return wrap(getattr(xp_of(a._data), name)(a._data, b._data), device=a._device)
    except ValueError:
        raise broadcast_error(a.shape, b.shape) from None


def logical(name: str, a: Tensor, b: Any) -> Tensor:
    """`& | ^` on bool or int tensors (bitwise for ints, as in torch)."""
    a, b = as_operands(a, b)
    if a._data.dtype.kind == "f":
        raise RuntimeError(f"\"{name}_cpu\" not implemented for '{a.dtype.name.capitalize()}'")
    try:
        return wrap(getattr(xp_of(a._data), name)(a._data, b._data), device=a._device)
    except ValueError:
        raise broadcast_error(a.shape, b.shape) from None


def invert(a: Tensor) -> Tensor:
    if a._data.dtype.kind == "f":
        raise TypeError(f"~ (bitwise_not) is only supported for integer and bool tensors, got {a.dtype}")
    return wrap(~a._data, device=a._device)


def unary_predicate(name: str, x: Tensor) -> Tensor:
    return wrap(getattr(xp_of(x._data), name)(x._data), device=x._device)


class NanToNum(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, nan: float, posinf: float | None, neginf: float | None) -> Any:
        ctx.save_for_backward(x)
        return xp_of(x).nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return where(x.isfinite(), grad, 0.0)


def nan_to_num(
    x: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Tensor:
    require_float(x, "nan_to_num")
    return NanToNum.apply(x, params=(nan, posinf, neginf))


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
