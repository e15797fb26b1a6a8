"""The names old tutorials still use: torch.FloatTensor & co., tensor.type(), Variable.

`antorcha.FloatTensor` is not a subclass of Tensor (nor is torch's): it is a type whose
`isinstance` check asks for a float32 tensor on the cpu, and whose call builds one, from sizes
(`FloatTensor(2, 3)`, uninitialised) or from data (`FloatTensor([1, 2])`). `tensor.type()` gives
torch's own string, 'torch.FloatTensor', so scripts that compare it keep working.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._tensor import Size, Tensor


class _LegacyTensorType(type):
    """The metaclass of FloatTensor & co. (torch.tensortype)."""

    dtype: _dtypes.dtype
    is_cuda: bool

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype and obj.is_cuda == cls.is_cuda

    def __call__(cls, *args: Any, device: Any = None, **kwargs: Any) -> Tensor:
        if kwargs:
            raise TypeError(
                f"new() received an invalid combination of arguments: {cls.__name__} takes no "
                f"{', '.join(kwargs)} (its dtype is {cls.dtype})"
            )
        return _construct(cls, args, "cuda" if cls.is_cuda else device)

    def __repr__(cls) -> str:
        return f"<class '{_type_string(cls.dtype, cls.is_cuda)}'>"


def _type_string(dtype: _dtypes.dtype, is_cuda: bool) -> str:
    return f"torch.{'cuda.' if is_cuda else ''}{dtype.legacy_name}"


def _is_sizes(args: tuple) -> bool:
    if len(args) == 1 and isinstance(args[0], Size):
        return True
    return all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args)


def _construct(cls: _LegacyTensorType, args: tuple, device: Any) -> Tensor:
    from antorcha._creation import empty, tensor

    if _is_sizes(args):  # FloatTensor(), FloatTensor(2, 3), FloatTensor(Size([2, 3])): uninitialised
        sizes = tuple(args[0]) if len(args) == 1 and isinstance(args[0], Size) else args
        return (
            empty(*sizes, dtype=cls.dtype, device=device)
            if sizes
            else empty(0, dtype=cls.dtype, device=device)
        )
    if len(args) != 1:
        raise TypeError(f"new() received an invalid combination of arguments: {cls.__name__}{args!r}")
    (data,) = args
    if isinstance(data, Tensor):
        if data.dtype is not cls.dtype:
            raise TypeError(
                f"expected a tensor of dtype {cls.dtype} for {cls.__name__}, got one of dtype {data.dtype}"
            )
        return data if device is None else data.to(device)
    if not isinstance(data, (list, tuple, np.ndarray)):
        raise TypeError(f"new(): data must be a sequence (got {type(data).__name__})")
    _check_fits(data, cls.dtype)
    return tensor(data, dtype=cls.dtype, device=device)


def _check_fits(data: Any, dtype: _dtypes.dtype) -> None:
    """torch refuses integers a legacy integer type cannot hold (ByteTensor([300]))."""
    if dtype.is_floating_point or dtype is _dtypes.bool_:
        return
    values = np.asarray(data)
    if values.size and values.dtype.kind in "iuf":
        info = np.iinfo(dtype.np)
        finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        if finite.size and (finite.min() < info.min or finite.max() > info.max):
            raise RuntimeError(f"value cannot be converted to type {dtype.name} without overflow")


def _legacy_type(dtype: _dtypes.dtype, is_cuda: bool = False) -> _LegacyTensorType:
    name = dtype.legacy_name
    cls = _LegacyTensorType(name, (), {"__module__": "antorcha.cuda" if is_cuda else "antorcha"})
    cls.dtype, cls.is_cuda = dtype, is_cuda
    cls.__doc__ = f"The legacy type of {'cuda' if is_cuda else 'cpu'} tensors of dtype {dtype}."
    return cls


FloatTensor = _legacy_type(_dtypes.float32)
DoubleTensor = _legacy_type(_dtypes.float64)
HalfTensor = _legacy_type(_dtypes.float16)
ByteTensor = _legacy_type(_dtypes.uint8)
CharTensor = _legacy_type(_dtypes.int8)
ShortTensor = _legacy_type(_dtypes.int16)
IntTensor = _legacy_type(_dtypes.int32)
LongTensor = _legacy_type(_dtypes.int64)
BoolTensor = _legacy_type(_dtypes.bool_)

CPU_TYPES = (
    FloatTensor,
    DoubleTensor,
    HalfTensor,
    ByteTensor,
    CharTensor,
    ShortTensor,
    IntTensor,
    LongTensor,
    BoolTensor,
)
# torch.cuda.FloatTensor & co., for antorcha.cuda to export
CUDA_TYPES = tuple(_legacy_type(t.dtype, is_cuda=True) for t in CPU_TYPES)
_BY_STRING = {_type_string(t.dtype, t.is_cuda): t for t in CPU_TYPES + CUDA_TYPES}


# ---- tensor.type() -------------------------------------------------------------------------
def tensor_type(t: Tensor, dtype: Any = None, non_blocking: bool = False) -> Any:
    """`t.type()`: torch's type string; `t.type(T)` with T a legacy type, its string or a dtype: t as T."""
    if dtype is None:
        return _type_string(t.dtype, t.is_cuda)
    if isinstance(dtype, str):
        if dtype not in _BY_STRING:
            raise ValueError(f"invalid type: '{dtype}'")
        dtype = _BY_STRING[dtype]
    if isinstance(dtype, _LegacyTensorType):
        target = "cuda" if dtype.is_cuda else "cpu"
        if t.dtype is dtype.dtype and t.device.type == target:
            return t
        return t.to(device=target if t.device.type != target else None, dtype=dtype.dtype)
    if isinstance(dtype, _dtypes.dtype):
        return t.to(dtype)
    if dtype is Tensor:
        return t
    name = getattr(dtype, "__module__", "") + "." + getattr(dtype, "__name__", repr(dtype))
    raise ValueError(f"invalid type: '{name}'")


# ---- Variable -------------------------------------------------------------------------------
class _VariableMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor)


class _ExecutionEngine:
    """`Variable._execution_engine`, where torch code (DDP among it) queues final callbacks."""

    @staticmethod
    def queue_callback(callback: Any) -> None:
        from antorcha.autograd.engine import queue_callback

        queue_callback(callback)


class Variable(metaclass=_VariableMeta):
    """torch.autograd.Variable: since torch 0.4 just a Tensor. `Variable(t)` is a new tensor sharing
    t's memory, outside any graph; `requires_grad=True` makes it a leaf that requires grad."""

    _execution_engine = _ExecutionEngine()

    def __new__(cls, data: Any = None, requires_grad: bool = False, volatile: bool = False) -> Tensor:  # type: ignore[misc]
        from antorcha._creation import empty

        if volatile:
            import warnings

            warnings.warn(
                "volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
                UserWarning,
                stacklevel=2,
            )
        if data is None:
            return empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        out = data.detach()  # shares memory and the version counter, as torch's does
        return out.requires_grad_(True) if requires_grad else out


def variable(*args: Any, **kwargs: Any) -> None:
    """torch.autograd.variable: removed in torch, and so here."""
    raise RuntimeError("torch.autograd.variable(...) is deprecated, use torch.tensor(...) instead")


# `from torch.autograd.variable import Variable` imports a module torch keeps for old code
_variable_module = types.ModuleType("antorcha.autograd.variable", "torch.autograd.variable: Variable")
_variable_module.Variable = Variable  # type: ignore[attr-defined]
sys.modules.setdefault(_variable_module.__name__, _variable_module)


def set_default_tensor_type(t: Any) -> None:
    """torch.set_default_tensor_type (deprecated in torch 2.1): the default float dtype, and cuda for
    a 'torch.cuda.*' type, given a legacy type or its name."""
    import warnings

    from antorcha._device import set_default_device

    warnings.warn(
        "torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
        "torch.set_default_dtype() and torch.set_default_device() as alternatives.",
        UserWarning,
        stacklevel=2,
    )
    if isinstance(t, str):
        if t not in _BY_STRING:
            raise AttributeError(f"module 'torch' has no attribute '{t.rsplit('.', 1)[-1]}'")
        t = _BY_STRING[t]
    if not isinstance(t, _LegacyTensorType) or not t.dtype.is_floating_point:
        raise TypeError(
            f"invalid type object {t!r}: only floating-point types are supported as the default type"
        )
    _dtypes.set_default_dtype(t.dtype)
    set_default_device("cuda" if t.is_cuda else None)
