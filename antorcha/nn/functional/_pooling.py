"""Pooling: the arguments all poolings share, avg_pool1d/2d, adaptive_avg_pool1d/2d,
adaptive_max_pool1d/2d and max_unpool1d/2d (max_pool1d/2d are in _max_pooling.py).

* avg pooling is a depthwise convolution with a kernel of ones, divided by torch's divisor
  (count_include_pad, ceil_mode, divisor_override): its gradients are the convolution's.
* adaptive average pooling sums each dim's windows as a gather (index_select, the shorter windows
  padded by `where`), then divides by the window sizes; adaptive max pooling and max_unpool gather
  and scatter at flat indices. Their gradients are those ops'.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.nn._arguments import require_tensor
from antorcha.nn.functional._conv_grads import Convolution, Geometry, TrailingSum
from antorcha.ops.elementwise import where as select
from antorcha.ops.indexing import IndexSelect


# ---- arguments -------------------------------------------------------------------------
def _ints(value: Any, d: int, what: str, name: str) -> tuple[int, ...]:
    values = (value,) * d if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) == 1:
        values = values * d
    if len(values) != d:
        count = "two" if d == 2 else "one"
        raise RuntimeError(f"{name}: {what} must either be a single int, or a tuple of {count} ints")
    return values


def _stride(stride: Any, kernel: tuple[int, ...], name: str) -> tuple[int, ...]:
    """The pooling stride: the kernel's size when None or empty, as torch defaults it."""
    if stride is None or (not isinstance(stride, int) and len(stride) == 0):
        return kernel
    return _ints(stride, len(kernel), "stride", name)


def _check_batched(input: Tensor, d: int, name: str) -> bool:
    shape = list(input.shape)
    if input.ndim not in (d + 1, d + 2) or any(n == 0 for n in shape[-d - 1 :]):
        prefix = f"{name}: " if d == 1 else ""
        raise RuntimeError(
            f"{prefix}Expected {d + 1}D or {d + 2}D (batch mode) tensor with optional 0 dim batch size "
            f"for input, but got:{shape}"
        )
    return input.ndim == d + 2


def pooled_size(size: int, k: int, s: int, p: int, dl: int, ceil_mode: bool) -> int:
    """torch's pooling_output_shape: a last window must start inside the input or its left padding."""
    out = (size + 2 * p - dl * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _sizes(
    input: Tensor, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple, ceil_mode: bool
) -> tuple[int, ...]:
    spatial = tuple(input.shape[2:])
    out = tuple(
        pooled_size(n, k, s, p, dl, ceil_mode)
        for n, k, s, p, dl in zip(spatial, kernel, stride, padding, dilation)
    )
    if any(o < 1 for o in out):
        given = "x".join(str(n) for n in (input.shape[1], *spatial))
        calculated = "x".join(str(n) for n in (input.shape[1], *out))
        raise RuntimeError(
            f"Given input size: ({given}). Calculated output size: ({calculated}). Output size is too small"
        )
    return out


def _window_geometry(
    size: tuple, out: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple
) -> Geometry:
    """The padding after each dim that the last window reaches (ceil_mode can need more than `padding`)."""
    hi = tuple(
        max((o - 1) * s + dl * (k - 1) + 1 - n - p, 0)
        for n, o, k, s, p, dl in zip(size, out, kernel, stride, padding, dilation)
    )
    return Geometry(stride, padding, hi, dilation, 1)


def _check_pool_args(kernel: tuple, stride: tuple, padding: tuple, dilation: tuple) -> None:
    """The checks of torch's 2-d pooling kernels (avg_pool1d is avg_pool2d of height 1 there)."""
    if any(k <= 0 for k in kernel) or any(s <= 0 for s in stride):
        raise RuntimeError("stride should not be zero")
    if any(p < 0 for p in padding):
        raise RuntimeError(f"pad must be non-negative, but got pad: {padding[0]}")
    if any(dl <= 0 for dl in dilation):
        raise RuntimeError(
            f"dilation should be greater than zero, but got dilationH: {dilation[0]} "
            f"dilationW: {dilation[-1]}"
        )
    for p, k, dl in zip(padding, kernel, dilation):
        if p > (dl * (k - 1) + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got pad={p}, kernel_size={k} "
                f"and dilation={dl}"
            )
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise RuntimeError(
            "pad should be smaller than or equal to half of kernel size, but got "
            f"padW = {padding[-1]}, padH = {padding[0]}, kW = {kernel[-1]}, kH = {kernel[0]}"
        )


def _check_max_pool1d_args(kernel: tuple, stride: tuple, padding: tuple, dilation: tuple) -> None:
    """torch's max_pool1d messages."""
    (k,), (s,), (p,), (dl,) = kernel, stride, padding, dilation
    for value, what, low in ((k, "kernel_size", 1), (s, "stride", 1), (dl, "dilation", 1)):
        if value < low:
            raise RuntimeError(f"max_pool1d() {what} must be greater than zero, but got {value}")
    if p < 0:
        raise RuntimeError(f"max_pool1d() padding must be non-negative, but got {p}")
    if p > k // 2:
        raise RuntimeError(
            "max_pool1d() padding should be at most half of kernel size, but got "
            f"padding={p} and kernel_size={k}"
        )


def _lowest(dtype: Any) -> Any:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


# ---- average pooling -------------------------------------------------------------------
def _divisors(size: int, out: int, k: int, s: int, p: int, include_pad: bool) -> np.ndarray:
    """torch's per-position divisor along one dim: the window clipped to the padded input, or to
    the input itself without count_include_pad."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    if include_pad:
        return (end - start).astype(np.float64)
    return (np.minimum(end, size) - np.maximum(start, 0)).astype(np.float64)


def _avg_pool(
    input: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Any,
    d: int,
) -> Tensor:
    name = f"avg_pool{d}d"
    require_tensor(input, name)
    kernel = _ints(kernel_size, d, "kernel_size", name)
    stride = _stride(stride, kernel, name)
    padding = _ints(padding, d, "padding", name)
    batched = _check_batched(input, d, name)
    x = input if batched else input.unsqueeze(0)
    _check_pool_args(kernel, stride, padding, (1,) * d)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    size = tuple(x.shape[2:])
    out = _sizes(x, kernel, stride, padding, (1,) * d, ceil_mode)
    geom = _window_geometry(size, out, kernel, stride, padding, (1,) * d)
    n, c = x.shape[:2]
    xp = xp_of(x._data)
    ones = wrap(xp.ones((1, 1, *kernel), dtype=x._data.dtype), device=x._device)
    flat = x.reshape(n * c, 1, *size)
    sums = Convolution.apply(flat, ones, params=(geom, out)).reshape(n, c, *out)
    if divisor_override is not None:
        result = sums / divisor_override
    else:
        divisor = np.ones(())
        for i in range(d):
            along = _divisors(size[i], out[i], kernel[i], stride[i], padding[i], count_include_pad)
            divisor = np.multiply.outer(divisor, along)
        result = sums / wrap(xp.asarray(divisor.astype(x._data.dtype)), device=x._device)
    return result if batched else result.squeeze(0)


@register_functional()
def avg_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    require_tensor(input, "avg_pool1d")
    kernel = _ints(kernel_size, 1, "kernel_size", "avg_pool1d")
    stride = _stride(stride, kernel, "avg_pool1d")
    padding = _ints(padding, 1, "padding", "avg_pool1d")
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument #1 'self' "
            "(while checking arguments for avg_pool1d)"
        )
    # torch's avg_pool1d is avg_pool2d of height 1: its checks and messages are those
    out = _avg_pool(
        input.unsqueeze(-2), (1, *kernel), (1, *stride), (0, *padding), ceil_mode, count_include_pad, None, 2
    )
    return out.squeeze(-2)


@register_functional()
def avg_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2)


# ---- adaptive pooling ------------------------------------------------------------------
def _output_size(input: Tensor, output_size: Any, d: int, name: str) -> tuple[int, ...]:
    sizes = (output_size,) * d if isinstance(output_size, int) or output_size is None else tuple(output_size)
    if len(sizes) != d:
        raise RuntimeError(f"{name}: output_size must be {d}")
    return tuple(n if o is None else int(o) for o, n in zip(sizes, input.shape[-d:]))


def _check_adaptive_input(input: Tensor, output_size: Any, d: int, name: str, kind: str) -> bool:
    if d == 2 and not isinstance(output_size, int) and input.ndim <= len(output_size):
        raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")  # torch's Python
    if input.ndim not in (d + 1, d + 2):
        if d == 1:
            raise RuntimeError(
                f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument #1 "
                f"'self' (while checking arguments for {name})"
            )
        raise RuntimeError(f"{name}(): Expected 3D or 4D tensor, but got {list(input.shape)}")
    if input._data.dtype.kind not in "fV":
        raise NotImplementedError(f"\"{kind}\" not implemented for '{input.dtype.scalar_name}'")
    return input.ndim == d + 2


def _bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """torch's adaptive windows along one dim: [floor(i·S/O), ceil((i+1)·S/O))."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _window_sums(t: Tensor, axis: int, size: int, out: int) -> Tensor:
    """Each adaptive window's sum along `axis`: the window's positions gathered (index_select),
    padded to the longest window with zeros chosen by `where`, never multiplied in (inf · 0 is NaN,
    where torch's sum over the window alone is inf)."""
    xp = xp_of(t._data)
    starts, ends = _bounds(size, out)
    k = int((ends - starts).max())
    index = np.minimum(starts[:, None] + np.arange(k), size - 1)  # (O, k)
    moved = t.movedim(axis, -1)
    positions = wrap(xp.asarray(index.reshape(-1)), device=t._device)
    picked = IndexSelect.apply(moved, positions, params=(moved.ndim - 1,)).reshape(*moved.shape[:-1], out, k)
    valid = np.arange(k) < (ends - starts)[:, None]
    if not valid.all():
        picked = select(wrap(xp.asarray(valid), device=t._device), picked, 0.0)
    return picked.sum(-1).movedim(-1, axis)


def _adaptive_avg_pool(input: Any, output_size: Any, d: int) -> Tensor:
    name = f"adaptive_avg_pool{d}d"
    require_tensor(input, name)
    sizes = (output_size,) * d if isinstance(output_size, int) else tuple(output_size)
    if all(o == 1 for o in sizes) and input._data.dtype.kind not in "fV":  # torch's global case is a mean
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {input.dtype.scalar_name}"
        )
    _check_adaptive_input(input, output_size, d, name, name)
    out = _output_size(input, output_size, d, name)
    size = tuple(input.shape[-d:])
    if all(o == 1 for o in out):  # global average pooling
        total = TrailingSum.apply(input, params=(d,))
        return (total / math.prod(size)).reshape(*total.shape, *(1,) * d)
    if out == size:
        return input * 1  # each window one element; torch's result is still a new tensor
    result, counts = input, np.ones(())
    for i in range(d):  # one gathered window sum per spatial dim, the last first
        axis = -1 - i
        starts, ends = _bounds(size[axis], out[axis])
        counts = np.multiply.outer(ends - starts, counts)
        if out[axis] != size[axis]:
            result = _window_sums(result, axis, size[axis], out[axis])
    xp = xp_of(input._data)
    return result / wrap(xp.asarray(counts.astype(input._data.dtype)), device=input._device)


@register_functional()
def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    return _adaptive_avg_pool(input, output_size, 1)


@register_functional()
def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    return _adaptive_avg_pool(input, output_size, 2)


def _adaptive_argmax(x: Any, out: tuple[int, ...]) -> Any:
    """The flat input position (over the spatial dims) of each adaptive window's maximum."""
    xp = xp_of(x)
    d = len(out)
    size = x.shape[2:]
    position: Any = 0
    valid: Any = True
    full = []
    for i in range(d):
        starts, ends = _bounds(size[i], out[i])
        k = int((ends - starts).max())
        index = starts[:, None] + np.arange(k)  # (O_i, k_i): window i's positions, padded to k_i
        shape = [1] * (2 * d)
        shape[2 * i], shape[2 * i + 1] = out[i], k
        full += [out[i], k]
        valid = valid & (index < ends[:, None]).reshape(shape)
        position = position * size[i] + np.minimum(index, size[i] - 1).reshape(shape)
    order = (*range(0, 2 * d, 2), *range(1, 2 * d, 2))  # (O..., k...)
    position = np.broadcast_to(position, full).transpose(order).reshape(*out, -1)
    valid = np.broadcast_to(valid, full).transpose(order).reshape(*out, -1)
    position = xp.asarray(position)
    flat = x.reshape(*x.shape[:2], math.prod(size))
    values = flat[:, :, position.reshape(-1)].reshape(*x.shape[:2], *position.shape)
    values = xp.where(xp.asarray(valid), values, _lowest(x.dtype))
    pick = values.argmax(-1)  # (N, C, *O): the first maximum (NumPy's argmax: the first NaN)
    if x.dtype.kind == "f":
        nans = xp.isnan(values)
        if nans.any():  # torch's kernel takes every NaN it meets: the last one
            last = nans.shape[-1] - 1 - nans[..., ::-1].argmax(-1)
            pick = xp.where(nans.any(-1), last, pick)
    pick = pick[..., None]
    return xp.take_along_axis(xp.broadcast_to(position, values.shape), pick, -1)[..., 0]


def _adaptive_max_pool(input: Any, output_size: Any, return_indices: bool, d: int) -> Any:
    name = f"adaptive_max_pool{d}d"
    require_tensor(input, name)
    batched = _check_adaptive_input(input, output_size, d, name, name)
    x = input if batched else input.unsqueeze(0)
    out = _output_size(x, output_size, d, name)
    n, c = x.shape[:2]
    positions = wrap(_adaptive_argmax(x._data, out).astype(np.int64), device=x._device)
    flat = x.reshape(n, c, math.prod(x.shape[2:]))
    values = flat.gather(2, positions.reshape(n, c, math.prod(out))).reshape(n, c, *out)
    if not batched:
        values, positions = values.squeeze(0), positions.squeeze(0)
    return (values, positions) if return_indices else values


@register_functional()
def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    return _adaptive_max_pool(input, output_size, return_indices, 1)


@register_functional()
def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    return _adaptive_max_pool(input, output_size, return_indices, 2)


# ---- max_unpool ------------------------------------------------------------------------
def _unpool_size(input: Tensor, kernel: tuple, stride: tuple, padding: tuple, output_size: Any) -> tuple:
    d = len(kernel)
    default = tuple((i - 1) * s - 2 * p + k for i, s, p, k in zip(input.shape[-d:], stride, padding, kernel))
    if output_size is None:
        return default
    sizes = tuple(int(v) for v in output_size)
    if len(sizes) == d + 2 or (len(sizes) == d + 1 and input.ndim == d + 1):
        sizes = sizes[-d:]
    if len(sizes) != d:
        raise ValueError(
            f"output_size should be a sequence containing {d} or {d + 2} elements, but it has a "
            f"length of '{len(sizes)}'"
        )
    for i, (o, dflt, s) in enumerate(zip(sizes, default, stride)):
        if not dflt - s < o < dflt + s:
            raise ValueError(
                f'invalid output_size "{sizes}" (dim {i} must be between {dflt - s} and {dflt + s})'
            )
    return sizes


def _max_unpool(
    input: Any, indices: Any, kernel_size: Any, stride: Any, padding: Any, output_size: Any, d: int
) -> Tensor:
    name = f"max_unpool{d}d"
    require_tensor(input, name)
    kernel = _ints(kernel_size, d, "kernel_size", name)
    stride = kernel if stride is None else _ints(stride, d, "stride", name)
    padding = _ints(padding, d, "padding", name)
    out = _unpool_size(input, kernel, stride, padding, output_size)
    if indices._data.dtype != np.int64:
        raise RuntimeError(f"elements in indices should be type int64 but got: {indices.dtype.scalar_name}")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(
            f"Expected shape of indices to be same as that of the input tensor ({list(input.shape)}) but "
            f"got indices tensor with shape: {list(indices.shape)}"
        )
    total = math.prod(out)
    if indices.numel() and (int(indices._data.max()) >= total or int(indices._data.min()) < 0):
        bad = int(indices._data.max()) if int(indices._data.max()) >= total else int(indices._data.min())
        volume = "x".join(str(n) for n in out)
        raise RuntimeError(f"Found an invalid max index: {bad} (output volumes are of size {volume})")
    lead = tuple(input.shape[:-d])
    inner = math.prod(input.shape[-d:])
    flat_in = input.reshape(*lead, inner)
    zeros = wrap(xp_of(input._data).zeros((*lead, total), dtype=input._data.dtype), device=input._device)
    return zeros.scatter(-1, indices.reshape(*lead, inner), flat_in).reshape(*lead, *out)


@register_functional()
def max_unpool1d(
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Tensor:
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1)


@register_functional()
def max_unpool2d(
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Tensor:
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2)
