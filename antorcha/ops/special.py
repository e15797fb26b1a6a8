"""More elementwise math: addcmul/addcdiv, logaddexp, hypot, atan2, erfinv, lgamma, digamma, ....

Each op is an Op (array forward, Tensor-level backward, so every backward is itself
differentiable) beside its declared public function, as in `unary.py` and
`elementwise.py`. The special functions' array kernels (NumPy has no erfinv, lgamma,
digamma, polygamma or i1) are in `_special_arrays.py`.
"""

from __future__ import annotations

import math
from typing import Any

from antorcha import _dtypes
from antorcha._device import quiet_float_errors, xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor
from antorcha.autograd.function import Op
from antorcha.ops._bfloat16 import in_float32
from antorcha.ops._common import as_operands, broadcast_shapes, scalar_tensor, write_out
from antorcha.ops._special_arrays import (
    digamma_array,
    erfc_array,
    erfinv_array,
    i1_array,
    lgamma_array,
    polygamma_array,
)
from antorcha.ops.elementwise import pow as _pow
from antorcha.ops.elementwise import where
from antorcha.ops.unary import _unary, trunc, zeros_like_grad

_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2
_2_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_LN2 = math.log(2)


def _written(result: Tensor, out: Tensor | None, name: str) -> Tensor:
    """torch's `out=` (`_common.write_out`), when one is given."""
    return result if out is None else write_out(result, out, name)


def _as_float(t: Tensor) -> Tensor:
    """Integer and bool tensors computed in the default float dtype, as torch's math functions do."""
    return t if t._data.dtype.kind in "fV" else t.to(_dtypes.get_default_dtype())


def _require_tensor(value: Any, name: str, argument: str, position: int) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{name}(): argument '{argument}' (position {position}) must be Tensor, "
            f"not {type(value).__name__}"
        )
    return value


def _float_kernel_only(t: Tensor, name: str) -> None:
    """torch has no integer kernel for some functions (hypot, logaddexp, frac, nextafter)."""
    if t._data.dtype.kind not in "fV":
        raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{t.dtype.scalar_name}'")


# ---- one-input functions -------------------------------------------------------------------
def _unary_float(op_name: str, public_name: str, forward: Any, backward: Any, save: str = "input") -> Any:
    """A one-input Op (see `unary._unary`) and its declared public function, with torch's int -> float
    and out=; returns the function."""
    op = _unary(op_name, forward, backward, save)

    def public(input: Tensor, *, out: Tensor | None = None) -> Tensor:
        return _written(op.apply(_as_float(input)), out, public_name)

    public.__name__ = public.__qualname__ = public_name
    public.__module__ = __name__
    public.__doc__ = f"Elementwise {public_name}, differentiable (`{op_name}Backward0`)."
    return register()(public)


def _sinc_backward(grad: Tensor, x: Tensor) -> Tensor:
    # d/dx sin(pi x) / (pi x) = (cos(pi x) pi x - sin(pi x)) / (pi x^2); 0 where pi x^2 underflows
    # to 0 (torch's rule: x = 0 and the tiniest x alike)
    pix = x * math.pi
    denominator = x * x * math.pi
    zero = denominator == 0
    slope = grad * (pix * pix.cos() - pix.sin()) / where(zero, 1.0, denominator)
    return where(zero, 0.0, slope)


erfinv = _unary_float("Erfinv", "erfinv", lambda xp, x: erfinv_array(x),
                      lambda g, y: g * (y * y).exp() * _SQRT_PI_OVER_2, "output")
erfc = _unary_float("Erfc", "erfc", lambda xp, x: erfc_array(x),
                    lambda g, x: g * (-x * x).exp() * -_2_OVER_SQRT_PI)
lgamma = _unary_float("Lgamma", "lgamma", lambda xp, x: lgamma_array(x), lambda g, x: g * digamma(x))
digamma = _unary_float("Digamma", "digamma", lambda xp, x: digamma_array(x), lambda g, x: g * polygamma(1, x))
sinc = _unary_float("Sinc", "sinc", lambda xp, x: xp.sinc(x), _sinc_backward)
_RADIANS_PER_DEGREE = math.pi / 180
deg2rad = _unary_float("Deg2Rad", "deg2rad", lambda xp, x: x * _RADIANS_PER_DEGREE,
                       lambda g, _: g * _RADIANS_PER_DEGREE, "nothing")
rad2deg = _unary_float("Rad2Deg", "rad2deg", lambda xp, x: x / _RADIANS_PER_DEGREE,
                       lambda g, _: g / _RADIANS_PER_DEGREE, "nothing")
i0 = _unary_float("I0", "i0", lambda xp, x: xp.i0(x), lambda g, x: g * _bessel_i1(x))


class SpecialI1(Op):
    """i1, i0's derivative (torch.special.i1); its own derivative is i0(x) - i1(x) / x."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        out = i1_array(x)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        x, out = ctx.saved_tensors
        safe = where(x == 0, 1.0, x)
        return grad * where(x == 0, 0.5, i0(x) - out / safe)


def _bessel_i1(x: Tensor) -> Tensor:
    return SpecialI1.apply(x)


class Polygamma(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, n: int) -> Any:
        ctx.save_for_backward(x)
        ctx.n = n
        return polygamma_array(n, x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * polygamma(ctx.n + 1, x)


@register(method=False)
def polygamma(n: int, input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The n-th derivative of digamma (n = 0 is digamma itself)."""
    if isinstance(n, Tensor):
        n = int(n.item())
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"polygamma(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    x = _as_float(input)
    result = digamma(x) if n == 0 else Polygamma.apply(x, params=(n,))
    return _written(result, out, "polygamma")


@register("polygamma", torch=False)
def polygamma_method(input: Tensor, n: int) -> Tensor:
    """`x.polygamma(n)`: torch's method puts the tensor first."""
    return polygamma(n, input)


class Logit(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, eps: float | None) -> Any:
        ctx.save_for_backward(x)
        ctx.eps = eps
        z = x if eps is None else xp_of(x).clip(x, eps, 1 - eps)
        with quiet_float_errors():
            return xp_of(x).log(z / (1 - z))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        slope = grad / (x * (1 - x))
        if ctx.eps is None:  # torch: NaN outside [0, 1]
            return where((x < 0) | (x > 1), math.nan, slope)
        return where((x < ctx.eps) | (x > 1 - ctx.eps), 0.0, slope)  # clamped: no gradient


@register()
def logit(input: Tensor, eps: float | None = None) -> Tensor:
    return Logit.apply(_as_float(input), params=(None if eps is None else float(eps),))


class Frac(Op):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        with quiet_float_errors():
            return x - xp_of(x).trunc(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


@register()
def frac(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    _float_kernel_only(input, "frac")
    return _written(Frac.apply(input), out, "frac")


@register()
def fix(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """torch.fix: another name for trunc."""
    return _written(trunc(input), out, "fix")


# ---- two-input functions ---------------------------------------------------------------------
def _binary_float(op: type[Op], input: Tensor, other: Any, name: str, integer: str = "promote") -> Tensor:
    """Both operands promoted together; integer results become the default float dtype (`promote`)
    or are refused as torch refuses them (`refuse`). Shapes broadcast as torch's do."""
    a, b = as_operands(input, other)
    if integer == "refuse":
        _float_kernel_only(a, name)
    elif a._data.dtype.kind not in "fV":
        a, b = _as_float(a), _as_float(b)
    broadcast_shapes(a.shape, b.shape)  # torch's message when they do not broadcast
    return op.apply(a, b)


class Atan2(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return xp_of(a).arctan2(a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        norm2 = a * a + b * b
        safe = where(norm2 == 0, 1.0, norm2)  # torch gives 0 at the origin, where both numerators are 0
        return grad * b / safe, grad * -a / safe


@register(aliases=("arctan2",))
def atan2(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    other = _require_tensor(other, "atan2", "other", 2)
    return _written(_binary_float(Atan2, input, other, "atan2"), out, "atan2")


class Hypot(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        out = xp_of(a).hypot(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b, out = ctx.saved_tensors
        return grad * a / out, grad * b / out  # NaN at the origin, as in torch


@register()
def hypot(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    other = _require_tensor(other, "hypot", "other", 2)
    return _written(_binary_float(Hypot, input, other, "hypot", "refuse"), out, "hypot")


class Logaddexp(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        with quiet_float_errors():
            out = xp_of(a).logaddexp(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b, _ = ctx.saved_tensors
        # torch's form: finite where one side is infinite (a - out would be inf - inf there)
        return grad / (1 + (b - a).exp()), grad / (1 + (a - b).exp())


class Logaddexp2(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        with quiet_float_errors():
            out = xp_of(a).logaddexp2(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b, _ = ctx.saved_tensors
        return grad / (1 + ((b - a) * _LN2).exp()), grad / (1 + ((a - b) * _LN2).exp())


@register()
def logaddexp(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    other = _require_tensor(other, "logaddexp", "other", 2)
    return _written(_binary_float(Logaddexp, input, other, "logaddexp", "refuse"), out, "logaddexp")


@register()
def logaddexp2(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    other = _require_tensor(other, "logaddexp2", "other", 2)
    return _written(_binary_float(Logaddexp2, input, other, "logaddexp2", "refuse"), out, "logaddexp2")


class Copysign(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        out = xp_of(a).copysign(a, b)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, out = ctx.saved_tensors
        flip = where(a == 0, 0.0, out / where(a == 0, 1.0, a))  # +-1, and 0 where a is 0 (torch)
        grad_b = zeros_like_grad(grad) if ctx.needs_input_grad[1] else None  # piecewise constant
        return grad * flip, grad_b


@register()
def copysign(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:
    return _written(_binary_float(Copysign, input, other, "copysign"), out, "copysign")


class Xlogy(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, y: Any) -> Any:
        ctx.save_for_backward(x, y)
        xp = xp_of(x)
        with quiet_float_errors():
            product = x * xp.log(y)
        return xp.where((x == 0) & ~xp.isnan(y), x.dtype.type(0), product)  # 0 log 0 is 0; NaN stays

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, y = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[0]:  # torch: log(y) grad, but 0 where x is 0 and log(y) has no value
            grad_x = where((x == 0) & (y <= 0), 0.0, xlogy(grad, y))
        grad_y = grad * x / y if ctx.needs_input_grad[1] else None
        return grad_x, grad_y


@register()
def xlogy(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:
    """x * log(y), and 0 where x is 0 (unless y is NaN); either may be a Python number."""
    x = input
    if not isinstance(x, Tensor):
        other = _require_tensor(other, "xlogy", "other", 2)
        x = scalar_tensor(x, other, _dtypes.result_type(x, other))
    return _written(_binary_float(Xlogy, x, other, "xlogy"), out, "xlogy")


class Nextafter(Op):
    """The next float after a toward b. torch passes the gradient to a where a != b (where a == b
    the result is b, constant in a: 0; NaN != NaN, so a NaN passes it), and gives b 0."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return xp_of(a).nextafter(a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        a, b = ctx.saved_tensors
        grad_a = grad.masked_fill(a == b, 0) if ctx.needs_input_grad[0] else None
        return grad_a, zeros_like_grad(grad) if ctx.needs_input_grad[1] else None


@register()
def nextafter(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    other = _require_tensor(other, "nextafter", "other", 2)
    return _written(_binary_float(Nextafter, input, other, "nextafter", "refuse"), out, "nextafter")


class Heaviside(Op):
    """0 below 0, `values` at 0, 1 above. torch's output requires grad, but backward raises."""

    @staticmethod
    def forward(ctx: Any, x: Any, values: Any) -> Any:
        xp = xp_of(x)
        return xp.where(x == 0, values, (x > 0).astype(x.dtype))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        raise RuntimeError("derivative for aten::heaviside is not implemented")


@register()
def heaviside(input: Tensor, values: Tensor, *, out: Tensor | None = None) -> Tensor:
    values = _require_tensor(values, "heaviside", "values", 2)
    if input.dtype is not values.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    broadcast_shapes(input.shape, values.shape)
    return _written(Heaviside.apply(input, values), out, "heaviside")


@register()
def float_power(input: Any, exponent: Any, *, out: Tensor | None = None) -> Tensor:
    """pow computed in float64, whatever the operands' dtypes (torch.float_power)."""
    if isinstance(input, Tensor):
        base = input.to(_dtypes.float64)
    else:
        base = scalar_tensor(input, exponent, _dtypes.float64)
    if isinstance(exponent, Tensor):
        exponent = exponent.to(_dtypes.float64)
    elif isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        exponent = float(exponent)
    return _written(_pow(base, exponent), out, "float_power")


# ---- addcmul / addcdiv ------------------------------------------------------------------------
class Addcmul(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, t1: Any, t2: Any, value: Any) -> Any:
        ctx.save_for_backward(t1, t2)
        ctx.value = value
        with quiet_float_errors():
            return x + value * (t1 * t2)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        t1, t2 = ctx.saved_tensors
        scaled = grad * ctx.value
        need = ctx.needs_input_grad
        return grad, (scaled * t2 if need[1] else None), (scaled * t1 if need[2] else None)


class Addcdiv(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, t1: Any, t2: Any, value: Any) -> Any:
        ctx.save_for_backward(t1, t2)
        ctx.value = value
        with quiet_float_errors():  # torch's kernel's order: (value t1) / t2, then the sum
            return x + value * t1 / t2

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        """torch's formulas, in its order (where a product overflows, the order decides inf or NaN):
        g_t1 = g (value / t2), g_t2 = -g (value t1 / (t2 t2))."""
        t1, t2 = ctx.saved_tensors
        value, need = float(ctx.value), ctx.needs_input_grad  # a Python scalar: NumPy's would win / t2
        grad_t1 = grad * (value / t2) if need[1] else None
        grad_t2 = -grad * (t1 * value / (t2 * t2)) if need[2] else None
        return grad, grad_t1, grad_t2


def _three_operands(input: Tensor, tensor1: Tensor, tensor2: Tensor, value: Any) -> tuple:
    """The three tensors in their promoted dtype (torch's result_type; `value` does not take part)."""
    for position, (argument, t) in enumerate((("tensor1", tensor1), ("tensor2", tensor2)), start=2):
        _require_tensor(t, "addcmul", argument, position)
    broadcast_shapes(input.shape, tensor1.shape, tensor2.shape)
    target = _dtypes.result_type(input, tensor1, tensor2)
    operands = tuple(t if t.dtype is target else t.to(target) for t in (input, tensor1, tensor2))
    if isinstance(value, Tensor):
        value = value.item()
    return (*operands, target.np.type(value) if target.is_floating_point else value)


@register()
def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1,
            out: Tensor | None = None) -> Tensor:
    """input + value * tensor1 * tensor2."""
    x, t1, t2, value = _three_operands(input, tensor1, tensor2, value)
    op = in_float32(Addcmul) if x._data.dtype.kind == "V" else Addcmul  # bfloat16: as torch
    return _written(op.apply(x, t1, t2, params=(value,)), out, "addcmul")


@register()
def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1,
            out: Tensor | None = None) -> Tensor:
    """input + value * tensor1 / tensor2."""
    if tensor1._data.dtype.kind in "iub" and tensor2._data.dtype.kind in "iub":
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will "
            "perform a true division of tensor1 and tensor2. The historic addcdiv behavior can be "
            "implemented as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer "
            "inputs and as (input + value * tensor1 / tensor2) for float inputs. The future addcdiv behavior "
            "is just the "
            "latter implementation: (input + value * tensor1 / tensor2), for all dtypes."
        )
    x, t1, t2, value = _three_operands(input, tensor1, tensor2, value)
    op = in_float32(Addcdiv) if x._data.dtype.kind == "V" else Addcdiv  # bfloat16: as torch
    return _written(op.apply(x, t1, t2, params=(value,)), out, "addcdiv")


# ---- in-place forms ---------------------------------------------------------------------------
def _tracked(*tensors: Any) -> Any:
    """The operand `Tensor._inplace` should watch: one that requires grad, if any does."""
    for t in tensors:
        if isinstance(t, Tensor) and t._requires_grad:
            return t
    return tensors[0]


@register("addcmul_", torch=False)
def addcmul_(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
    compute = lambda old, _: addcmul(old, tensor1, tensor2, value=value)  # noqa: E731
    return input._inplace(compute, _tracked(tensor1, tensor2))


@register("addcdiv_", torch=False)
def addcdiv_(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
    compute = lambda old, _: addcdiv(old, tensor1, tensor2, value=value)  # noqa: E731
    return input._inplace(compute, _tracked(tensor1, tensor2))


def _inplace_binary(name: str, function: Any) -> None:
    """`x.<name>_(other)`: the out-of-place function, written back into x (`Tensor._inplace`)."""

    def method(input: Tensor, other: Any) -> Tensor:
        return input._inplace(lambda old, o: function(old, o), other)

    method.__name__ = method.__qualname__ = f"{name}_"
    method.__module__ = __name__
    method.__doc__ = f"In-place {name}."
    register(f"{name}_", torch=False)(method)


def _inplace_unary(name: str, function: Any) -> None:
    def method(input: Tensor) -> Tensor:
        return input._inplace(lambda old, _: function(old), None)

    method.__name__ = method.__qualname__ = f"{name}_"
    method.__module__ = __name__
    method.__doc__ = f"In-place {name}."
    register(f"{name}_", torch=False)(method)


@register("float_power_", torch=False)
def float_power_(input: Tensor, exponent: Any) -> Tensor:
    if input.dtype is not _dtypes.float64:  # the result is float64, and in place it cannot be narrowed
        raise RuntimeError(
            f"the base given to float_power_ has dtype {input.dtype.scalar_name} but the operation's result "
            "requires dtype Double"
        )
    return input._inplace(lambda old, e: float_power(old, e), exponent)


for _name, _function in (("atan2", atan2), ("arctan2", atan2), ("hypot", hypot), ("copysign", copysign),
                         ("xlogy", xlogy)):
    _inplace_binary(_name, _function)
for _function in (erfinv, erfc, lgamma, digamma, sinc, deg2rad, rad2deg, frac, fix, i0):
    _inplace_unary(_function.__name__, _function)


@register("logit_", torch=False)
def logit_(input: Tensor, eps: float | None = None) -> Tensor:
    return input._inplace(lambda old, _: logit(old, eps), None)


@register("polygamma_", torch=False)
def polygamma_(input: Tensor, n: int) -> Tensor:
    return input._inplace(lambda old, _: polygamma(n, old), None)
