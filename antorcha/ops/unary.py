"""Unary math: exp, log, sqrt, trig, tanh, sigmoid, relu, abs, sign, rounding.

Most are built by `_unary` from an array forward and a Tensor-level derivative
rule, saying whether the derivative needs the input or the output.
"""

from __future__ import annotations

import sys
from typing import Any

from antorcha import _dtypes
from antorcha._device import xp_of
from antorcha._grad_mode import STATE
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops.elementwise import _quiet
from antorcha.ops.elementwise import pow as _pow


def _unary(name: str, forward: Any, backward: Any, save: str = "input", float_only: bool = True) -> type[Op]:
    """Build a one-input Op from an array forward and a Tensor-level derivative rule.

    `save` says what the derivative needs: "input", "output" or "nothing".
    """

    def fwd(ctx: Any, x: Any) -> Any:
        with _quiet():
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


def _stable_sigmoid(xp: Any, x: Any) -> Any:
    # exp(-|x|) never overflows, and the small branch keeps tiny values exact
    e = xp.exp(-xp.abs(x))
    r = 1 / (1 + e)
    return xp.where(x >= 0, r, e * r)


Neg = _unary("Neg", lambda xp, x: -x, lambda g, _: -g, "nothing", float_only=False)
Exp = _unary("Exp", lambda xp, x: xp.exp(x), lambda g, y: g * y, "output")
Log = _unary("Log", lambda xp, x: xp.log(x), lambda g, x: g / x)
Log1p = _unary("Log1P", lambda xp, x: xp.log1p(x), lambda g, x: g / (x + 1))
Sqrt = _unary("Sqrt", lambda xp, x: xp.sqrt(x), lambda g, y: g / (y * 2), "output")
Rsqrt = _unary("Rsqrt", lambda xp, x: 1 / xp.sqrt(x), lambda g, y: g * y**3 * -0.5, "output")
Sin = _unary("Sin", lambda xp, x: xp.sin(x), lambda g, x: g * cos(x))
Cos = _unary("Cos", lambda xp, x: xp.cos(x), lambda g, x: -g * sin(x))
Tanh = _unary("Tanh", lambda xp, x: xp.tanh(x), lambda g, y: g * (1 - y * y), "output")
Sigmoid = _unary("Sigmoid", _stable_sigmoid, lambda g, y: g * y * (1 - y), "output")
Abs = _unary("Abs", lambda xp, x: xp.abs(x), lambda g, x: g * sign(x), float_only=False)
Reciprocal = _unary("Reciprocal", lambda xp, x: 1 / x, lambda g, y: -g * y * y, "output")
Log2 = _unary("Log2", lambda xp, x: xp.log2(x), lambda g, x: g / (x * 0.6931471805599453))
Log10 = _unary("Log10", lambda xp, x: xp.log10(x), lambda g, x: g / (x * 2.302585092994046))
Expm1 = _unary("Expm1", lambda xp, x: xp.expm1(x), lambda g, y: g * (y + 1), "output")
Tan = _unary("Tan", lambda xp, x: xp.tan(x), lambda g, y: g * (1 + y * y), "output")


class Relu(Op):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        out = xp_of(x).maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        if not STATE.enabled:  # first order: one multiply by the mask (np.where is ~10x slower)
            if _owned_by_the_engine(grad) and grad._data.shape == out._data.shape:
                _masked_by_positive(grad._data, out._data, into=grad._data)
                return grad  # reused in place: saves a full-size array at the backward peak
            return wrap(_masked_by_positive(grad._data, out._data), device=grad._device)
        return grad * (out > 0).to(grad.dtype)


# How many references the engine itself holds on a gradient passed to a backward
# formula (and on its array), measured once by running a tiny graph. A gradient
# with no more references than that reached this node and nowhere else (no hook
# kept it, no autograd.grad captured it, no other node shares it), so the formula
# may overwrite it; torch's autograd steals such buffers the same way.
_ENGINE_REFERENCES: tuple[int, int] | None = None
_calibrating = False


def _owned_by_the_engine(grad: Tensor) -> bool:
    array = grad._data
    if array.base is not None or not array.flags.writeable or array.ndim == 0:
        return False  # a view shares memory with something else
    if _ENGINE_REFERENCES is None:
        if _calibrating:
            _record_engine_references(sys.getrefcount(grad) - 1, sys.getrefcount(array))
            return False
        _calibrate()
    tensor_refs, array_refs = _ENGINE_REFERENCES  # type: ignore[misc]
    # -1: this function's own parameter, one frame deeper than Relu.backward's
    return sys.getrefcount(grad) - 1 <= tensor_refs and sys.getrefcount(array) <= array_refs


def _record_engine_references(tensor_refs: int, array_refs: int) -> None:
    global _ENGINE_REFERENCES
    _ENGINE_REFERENCES = (tensor_refs, array_refs)


def _calibrate() -> None:
    """Backpropagate through relu(x * 2) * 3 once; _owned_by_the_engine records the baseline counts.

    relu must sit inside the graph, not at its root: a root's gradient is also held by the caller.
    """
    global _calibrating, _ENGINE_REFERENCES
    from antorcha._creation import ones

    _calibrating = True
    previous = STATE.enabled
    STATE.enabled = True
    try:
        x = ones(2, requires_grad=True)
        (relu(x * 2.0) * 3.0).sum().backward()
    finally:
        _calibrating = False
        STATE.enabled = previous
    if _ENGINE_REFERENCES is None:  # the calibration did not reach relu's backward: never reuse
        _ENGINE_REFERENCES = (0, 0)


_MASK_BLOCK = 1 << 20  # elements per block: the bool mask stays ~1 MiB instead of a full copy


def _masked_by_positive(grad: Any, out: Any, into: Any = None) -> Any:
    """grad * (out > 0), building the mask block by block so a big batch needs no full-size mask.

    With `into`, the product is written there (it may be `grad` itself).
    """
    xp = xp_of(grad)
    contiguous = grad.flags.c_contiguous and out.flags.c_contiguous
    if grad.size <= _MASK_BLOCK or grad.shape != out.shape or not contiguous:
        return xp.multiply(grad, out > 0, out=into)
    result = (
        xp.empty(grad.shape, dtype=grad.dtype) if into is None else into
    )  # C order: flat views write through
    flat_grad, flat_out, flat_result = grad.reshape(-1), out.reshape(-1), result.reshape(-1)
    mask = xp.empty(_MASK_BLOCK, dtype=bool)
    for start in range(0, grad.size, _MASK_BLOCK):
        stop = min(start + _MASK_BLOCK, grad.size)
        block = mask[: stop - start]
        xp.greater(flat_out[start:stop], 0, out=block)
        xp.multiply(flat_grad[start:stop], block, out=flat_result[start:stop])
    return result


def _zero_grad_op(name: str, fn_name: str) -> type[Op]:
    """Piecewise-constant functions: defined gradient of zero, as torch gives."""
    return _unary(name, lambda xp, x: getattr(xp, fn_name)(x), lambda g, _: g * 0.0, "nothing", False)


Sign = _zero_grad_op("Sign", "sign")
Floor = _zero_grad_op("Floor", "floor")
Ceil = _zero_grad_op("Ceil", "ceil")
Round = _zero_grad_op("Round", "round")
Trunc = _zero_grad_op("Trunc", "trunc")


def _apply_unary(op: type[Op], x: Tensor) -> Tensor:
    if op.float_only and x._data.dtype.kind != "f":
        x = x.to(_dtypes.get_default_dtype())  # torch's int -> float promotion for math ops
    return op.apply(x)


def neg(x: Tensor) -> Tensor:
    if x._data.dtype.kind == "b":
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. "
            "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return Neg.apply(x)


def exp(x: Tensor) -> Tensor:
    return _apply_unary(Exp, x)


def log(x: Tensor) -> Tensor:
    return _apply_unary(Log, x)


def log1p(x: Tensor) -> Tensor:
    return _apply_unary(Log1p, x)


def log2(x: Tensor) -> Tensor:
    return _apply_unary(Log2, x)


def log10(x: Tensor) -> Tensor:
    return _apply_unary(Log10, x)


def expm1(x: Tensor) -> Tensor:
    return _apply_unary(Expm1, x)


def sqrt(x: Tensor) -> Tensor:
    return _apply_unary(Sqrt, x)


def rsqrt(x: Tensor) -> Tensor:
    return _apply_unary(Rsqrt, x)


def sin(x: Tensor) -> Tensor:
    return _apply_unary(Sin, x)


def cos(x: Tensor) -> Tensor:
    return _apply_unary(Cos, x)


def tan(x: Tensor) -> Tensor:
    return _apply_unary(Tan, x)


def tanh(x: Tensor) -> Tensor:
    return _apply_unary(Tanh, x)


def sigmoid(x: Tensor) -> Tensor:
    return _apply_unary(Sigmoid, x)


def reciprocal(x: Tensor) -> Tensor:
    return _apply_unary(Reciprocal, x)


def abs(x: Tensor) -> Tensor:  # noqa: A001
    if x._data.dtype.kind == "b":
        raise RuntimeError("abs is not supported for bool tensors")
    return Abs.apply(x)


def relu(x: Tensor) -> Tensor:
    if x._data.dtype.kind == "b":
        raise RuntimeError("relu is not supported for bool tensors")
    return Relu.apply(x)


def sign(x: Tensor) -> Tensor:
    return Sign.apply(x)


def floor(x: Tensor) -> Tensor:
    return x.clone() if x._data.dtype.kind != "f" else Floor.apply(x)


def ceil(x: Tensor) -> Tensor:
    return x.clone() if x._data.dtype.kind != "f" else Ceil.apply(x)


def round(x: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001
    if decimals:
        scale = 10.0**decimals
        return Round.apply(x * scale) / scale
    return x.clone() if x._data.dtype.kind != "f" else Round.apply(x)


def trunc(x: Tensor) -> Tensor:
    return x.clone() if x._data.dtype.kind != "f" else Trunc.apply(x)


def square(x: Tensor) -> Tensor:
    return _pow(x, 2)
