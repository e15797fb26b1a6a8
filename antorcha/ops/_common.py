"""Helpers every op module shares: operand promotion, device checks, error translation."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._device import xp_of
from antorcha._dims import normalize_dim, normalize_dims  # noqa: F401 - the ops import them from here
from antorcha._grad_mode import is_grad_enabled
from antorcha._tensor import Tensor, wrap


def scalar_tensor(value: Any, like: Tensor, dtype: _dtypes.dtype) -> Tensor:
    """A Python scalar as a 0-dim tensor of `dtype` on `like`'s device."""
    xp = xp_of(like._data)
    try:
        array = xp.asarray(value, dtype=dtype.np)
    except OverflowError:  # torch wraps around, as C does: uint8 tensor - 3 counts down from 256
        array = xp.asarray(value).astype(dtype.np)
    return wrap(array, False, None, like._device)


def check_same_device(a: Tensor, b: Tensor) -> None:
    if a._device is not b._device and a._device != b._device:
        # torch lets a 0-dim cpu tensor take part in a cuda op, as a scalar would
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{a._device} and {b._device}!"
        )


def as_operands(a: Tensor, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as tensors of torch's promoted dtype, on one device."""
    if isinstance(b, Tensor):
        if a._device is not b._device:
            a, b = _align_devices(a, b)
        if a._data.dtype is b._data.dtype:
            return a, b
        target = _dtypes.result_type(a, b)
        if a.dtype is not target:
            a = a.to(target)
        if b.dtype is not target:
            b = b.to(target)
        return a, b
    if isinstance(b, (int, float, bool, np.number, np.bool_)):
        target = _dtypes.result_type(a, b)
        if a.dtype is not target:
            a = a.to(target)
        return a, scalar_tensor(b, a, target)
    raise TypeError(f"unsupported operand type(s): 'Tensor' and '{type(b).__name__}'")


def _align_devices(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    if a._device == b._device:
        return a, b
    if b.ndim == 0 and b._device.type == "cpu":
        return a, b.to(a._device)
    if a.ndim == 0 and a._device.type == "cpu":
        return a.to(b._device), b
    check_same_device(a, b)
    return a, b


def broadcast_error(a_shape: tuple, b_shape: tuple) -> RuntimeError:
    """torch's message for shapes that do not broadcast, naming the first bad dimension."""
    ndim = max(len(a_shape), len(b_shape))
    pa = (1,) * (ndim - len(a_shape)) + tuple(a_shape)
    pb = (1,) * (ndim - len(b_shape)) + tuple(b_shape)
    for dim in range(ndim - 1, -1, -1):
        if pa[dim] != pb[dim] and pa[dim] != 1 and pb[dim] != 1:
            return RuntimeError(
                f"The size of tensor a ({pa[dim]}) must match the size of tensor b ({pb[dim]}) "
                f"at non-singleton dimension {dim}"
            )
    return RuntimeError(f"shapes {list(a_shape)} and {list(b_shape)} cannot be broadcast together")


def broadcast_shapes(*shapes: tuple) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        first = shapes[0]
        for other in shapes[1:]:
            try:
                first = np.broadcast_shapes(first, other)
            except ValueError:
                raise broadcast_error(first, other) from None
        raise


def require_float(t: Tensor, op: str) -> None:
    if t._data.dtype.kind not in "fV":
        raise RuntimeError(f"{op}(): expected a floating point tensor, got {t.dtype}")


def write_out(result: Any, out: Any, name: str) -> Any:
    """Give a function's `out=` torch's semantics: `result` copied into `out`, which is returned.

    `out` is resized to the result's shape (with torch's warning when it had elements), the values
    are cast to its dtype where torch's casting rules allow it, and its version is bumped. As in
    torch, out= does not record autograd: with grad mode on it refuses inputs that require grad.
    A function with several results (max along a dim) takes a tuple of outs.
    """
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{name}(): argument 'out' must be tuple of {len(result)} Tensors")
        for one_result, one_out in zip(result, out, strict=True):
            write_out(one_result, one_out, name)
        return type(result)(*out) if hasattr(result, "_fields") else tuple(out)  # (values, indices)
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if result._requires_grad or (out._requires_grad and is_grad_enabled()):
        raise RuntimeError(
            f"{name}(): functions with out=... arguments don't support automatic differentiation, "
            "but one of the arguments requires grad."
        )
    if result.dtype.category > out.dtype.category:  # torch.can_cast: never float -> int -> bool
        raise RuntimeError(
            f"result type {result.dtype.scalar_name} can't be cast to the desired output type "
            f"{out.dtype.scalar_name}"
        )
    check_same_device(out, result)
    xp = xp_of(out._data)
    if out._data.shape != result._data.shape:
        _resize(out, result._data.shape, xp)
    xp.copyto(out._data, result._data, casting="unsafe")
    out._counter()[0] += 1
    return out


def _resize(out: Tensor, shape: tuple, xp: Any) -> None:
    if out._data.size != 0:
        warnings.warn(
            f"An output with one or more elements was resized since it had shape {list(out._data.shape)}, "
            f"which does not match the required output shape {list(shape)}. This behavior is deprecated, "
            "and in a future PyTorch release outputs will not be resized unless they have zero elements. "
            "You can explicitly reuse an out tensor t by resizing it, inplace, to zero elements with "
            "t.resize_(0).",
            UserWarning,
            stacklevel=4,
        )
    out._data = xp.empty(shape, dtype=out._data.dtype)
