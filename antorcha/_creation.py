"""Tensor creation: tensor, zeros, ones, full, arange, linspace, eye, rand, randn, ...

Each function takes torch's `dtype=`, `device=` and `requires_grad=` keywords.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from antorcha import _dtypes, random
from antorcha._device import (
    as_device,
    canonical,
    get_default_device_spec,
    move_array,
    quiet_float_errors,
    xp_for,
)
from antorcha._sampling import normal  # noqa: F401 - antorcha.normal is exported with the factories
from antorcha._tensor import Tensor, wrap
from antorcha._tensor_random import check_random_range
from antorcha.ops._common import write_out


def default_device_for(device: Any) -> Any:
    """`device`, or the one `set_default_device` chose when it is None (cpu unless set)."""
    return as_device(device if device is not None else get_default_device_spec())


def sizes_of(size: Any) -> tuple[int, ...]:
    """A shape from `(2, 3)`, `[2, 3]`, `Size([2, 3])` or a single int, checked as torch checks it."""
    return _sizes(tuple(size) if isinstance(size, (tuple, list)) else (size,))


def _sizes(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"size must be a tuple of ints, but got an element of type {type(s).__name__}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    return tuple(int(s) for s in size)


def _finish(array: Any, target_device: Any, requires_grad: bool) -> Tensor:
    """Place the array on its device and set requires_grad with torch's dtype check."""
    target = canonical(default_device_for(target_device))
    if target.type != "cpu":
        array = move_array(array, target)
    t = wrap(array, False, None, target)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype: Any) -> _dtypes.dtype:
    return _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.get_default_dtype()


def _check_ragged(data: Any, depth: int = 0) -> None:
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], (list, tuple)):
        length = len(data[0])
        for item in data:
            if not isinstance(item, (list, tuple)) or len(item) != length:
                got = len(item) if isinstance(item, (list, tuple)) else type(item).__name__
                raise ValueError(f"expected sequence of length {length} at dim {depth + 1} (got {got})")
            _check_ragged(item, depth + 1)


def _contains_tensor(data: Any) -> bool:
    if isinstance(data, Tensor):
        return True
    if isinstance(data, (list, tuple)) and data:
        return _contains_tensor(data[0])
    return False


def _untensor(data: Any) -> Any:
    if isinstance(data, Tensor):
        return data._cpu_array()
    if isinstance(data, (list, tuple)):
        return [_untensor(d) for d in data]
    return data


def array_from_data(data: Any, dtype: _dtypes.dtype | None) -> np.ndarray:
    """A host array from Python data with torch's dtype inference (ints→int64, floats→default)."""
    with quiet_float_errors():  # 1e39 as float32 is inf, silently, as in torch
        return _array_from_data(data, dtype)


def _array_from_data(data: Any, dtype: _dtypes.dtype | None) -> np.ndarray:
    if isinstance(data, Tensor):
        array = data._cpu_array().copy()
        return array if dtype is None else array.astype(dtype.np)
    if isinstance(data, (np.ndarray, np.generic)):  # NumPy scalars keep their dtype, as in torch
        if isinstance(data, (np.str_, np.bytes_)):  # torch reads these as text, and refuses them
            raise TypeError(f"new(): invalid data type 'numpy.{type(data).__name__}'")
        _dtypes.from_numpy_dtype(data.dtype)
        return np.array(data, dtype=None if dtype is None else dtype.np)
    if _contains_tensor(data):
        data = _untensor(data)
    _check_ragged(data)
    try:
        array = np.array(data)
    except (ValueError, TypeError) as error:
        raise TypeError(
            f"could not convert data of type {type(data).__name__} to a tensor: {error}"
        ) from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"new(): invalid data type '{type(data).__name__}' (elements must be numbers or bools)"
        )
    if dtype is not None:
        return array.astype(dtype.np)
    if array.dtype.kind == "f":
        return array.astype(_dtypes.get_default_dtype().np)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    return array


def tensor(data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    d = _dtypes.as_dtype(dtype) if dtype is not None else None
    if isinstance(data, Tensor):
        warnings.warn(_COPY_CONSTRUCT_WARNING, UserWarning, stacklevel=2)
        if d is None:
            d = data.dtype
    return _finish(array_from_data(data, d), device, requires_grad)


_COPY_CONSTRUCT_WARNING = (
    "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
    "sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor)."
)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like tensor(), but shares memory with a NumPy array or tensor when it can."""
    if isinstance(data, Tensor):
        out = data
        if dtype is not None:
            out = out.to(dtype)
        return out.to(device) if device is not None else out
    if isinstance(data, np.ndarray) and (dtype is None or _dtypes.as_dtype(dtype).np == data.dtype):
        _dtypes.from_numpy_dtype(data.dtype)
        return _finish(data, device, False)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    _dtypes.from_numpy_dtype(array.dtype)
    return wrap(array)


def _filled(size: tuple, value: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    shape = _sizes(size)
    target = canonical(default_device_for(device))
    d = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.result_type(value)
    xp = xp_for(target)
    array = xp.full(shape, value, dtype=d.np) if value is not None else xp.empty(shape, dtype=d.np)
    return _finish(array, target, requires_grad)


def zeros(
    *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None
) -> Tensor:
    return _filled(size, 0.0, _float_dtype(dtype), device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(size, 1.0, _float_dtype(dtype), device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(size, None, _float_dtype(dtype), device, requires_grad)


def full(
    size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _filled(
        tuple(size) if isinstance(size, (tuple, list)) else (size,), fill_value, dtype, device, requires_grad
    )


def eye(
    n: int, m: int | None = None, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    target = canonical(default_device_for(device))
    array = xp_for(target).eye(n, n if m is None else m, dtype=_float_dtype(dtype).np)
    return _finish(array, target, requires_grad)


def arange(
    start: Any,
    end: Any = None,
    step: Any = 1,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    if end is None:
        start, end = 0, start
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(
            "upper bound and larger bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})"
        )
    if dtype is None:
        is_float = any(isinstance(v, float) for v in (start, end, step))
        dtype = _dtypes.get_default_dtype() if is_float else _dtypes.int64
    d = _dtypes.as_dtype(dtype)
    count = max(math.ceil((end - start) / step), 0)
    # computed in float64 then cast, as torch does, so float32 aranges match its values
    array = (
        (start + np.arange(count, dtype=np.float64) * step)
        if d.is_floating_point
        else np.arange(start, end, step)
    )
    return _finish(array.astype(d.np), device, requires_grad)


def linspace(
    start: float,
    end: float,
    steps: int,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    array = np.linspace(start, end, steps, dtype=np.float64).astype(_float_dtype(dtype).np)
    return _finish(array, device, requires_grad)


def _random(kind: str, size: tuple, dtype: Any, device: Any, requires_grad: bool, generator: Any) -> Tensor:
    shape = _sizes(size)
    target = canonical(default_device_for(device))
    d = _float_dtype(dtype)
    if not d.is_floating_point:  # torch names the kernel that refuses the dtype
        kernel = "check_uniform_bounds" if kind == "uniform" else "normal_kernel_cpu"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{d.scalar_name}'")
    rng = random.generator_for(target, generator)
    draw = random.draw_uniform if kind == "uniform" else random.draw_normal
    return _finish(draw(rng, shape, d.np), target, requires_grad)


def rand(
    *size: Any,
    generator: Any = None,
    out: Any = None,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    result = _random("uniform", size, dtype, device, requires_grad, generator)
    return result if out is None else write_out(result, out, "rand")


def randn(
    *size: Any,
    generator: Any = None,
    out: Any = None,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    result = _random("normal", size, dtype, device, requires_grad, generator)
    return result if out is None else write_out(result, out, "randn")


def randint(
    low: int,
    high: Any = None,
    size: Any = None,
    *,
    generator: Any = None,
    out: Any = None,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if high is None or size is None:
        raise TypeError("randint() missing required arguments: high and size")
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    d = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.int64
    check_random_range(d.np, low, high)
    target = canonical(default_device_for(device))
    rng = random.generator_for(target, generator)
    array = random.draw_integers(rng, low, high, _sizes(tuple(size)))
    result = _finish(array.astype(d.np), target, requires_grad)
    return result if out is None else write_out(result, out, "randint")


def randperm(
    n: int,
    *,
    generator: Any = None,
    out: Any = None,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """A random permutation of 0..n-1 (int64 unless `dtype`), drawn on the cpu then placed."""
    (n,) = _sizes((n,))
    d = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.int64
    if d is _dtypes.bool_:
        raise NotImplementedError("\"randperm\" not implemented for 'Bool'")
    if not d.is_floating_point and n > 0 and n - 1 > np.iinfo(d.np).max:
        raise RuntimeError(
            f"value cannot be converted to type {d.np.name}_t without overflow (randperm of {n})"
        )
    target = canonical(default_device_for(device))
    source = generator.device if isinstance(generator, random.Generator) else as_device("cpu")
    permutation = random.generator_for(source, generator).permutation(n)
    result = _finish(permutation.astype(d.np), target, requires_grad)
    return result if out is None else write_out(result, out, "randperm")


def empty_strided(
    size: Any,
    stride: Any,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """An uninitialised tensor of the given size and stride (in elements), over a buffer just big enough."""
    shape, strides = _sizes(tuple(size)), tuple(int(s) for s in stride)
    if len(strides) != len(shape):
        raise RuntimeError(
            f"mismatch in length of strides and shape: size {list(shape)} has {len(shape)} dims, "
            f"stride {list(strides)} has {len(strides)}"
        )
    if any(s < 0 for s in strides):
        raise RuntimeError(
            f"as_strided: Negative strides are not supported at the moment, got strides: {list(strides)}"
        )
    d = _float_dtype(dtype)
    target = canonical(default_device_for(device))
    xp = xp_for(target)
    extent = 0 if 0 in shape else 1 + sum((n - 1) * s for n, s in zip(shape, strides))
    buffer = xp.empty(extent, dtype=d.np)
    array = xp.lib.stride_tricks.as_strided(buffer, shape, tuple(s * d.itemsize for s in strides))
    return _finish(array, target, requires_grad)


# ---- the *_like forms ------------------------------------------------------------------
def _like(t: Tensor, dtype: Any, device: Any) -> tuple[Any, Any]:
    return (dtype if dtype is not None else t.dtype), (device if device is not None else t.device)


def zeros_like(
    input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    d, dev = _like(input, dtype, device)
    return _filled(input.shape, 0, d, dev, requires_grad)


def ones_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    d, dev = _like(input, dtype, device)
    return _filled(input.shape, 1, d, dev, requires_grad)


def empty_like(
    input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    d, dev = _like(input, dtype, device)
    return _filled(input.shape, None, d, dev, requires_grad)


def full_like(
    input: Tensor, fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    d, dev = _like(input, dtype, device)
    return _filled(input.shape, fill_value, d, dev, requires_grad)


def rand_like(
    input: Tensor,
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    **ignored: Any,
) -> Tensor:
    d, dev = _like(input, dtype, device)
    return rand(*input.shape, generator=generator, dtype=d, device=dev, requires_grad=requires_grad)


def randn_like(
    input: Tensor,
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    **ignored: Any,
) -> Tensor:
    d, dev = _like(input, dtype, device)
    return randn(*input.shape, generator=generator, dtype=d, device=dev, requires_grad=requires_grad)


def randint_like(
    input: Tensor,
    low: int = 0,
    high: Any = None,
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    **ignored: Any,
) -> Tensor:
    """Random integers in [low, high) (or [0, low) given one bound) in input's shape and dtype."""
    d, dev = _like(input, dtype, device)
    low, high = (0, low) if high is None else (low, high)
    return randint(
        low, high, input.shape, generator=generator, dtype=d, device=dev, requires_grad=requires_grad
    )
