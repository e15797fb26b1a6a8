"""max_pool1d/2d, and their _with_indices forms.

Max pooling is one op, MaxPool: one pass per kernel offset over the (-inf padded) input's strided
view of that offset, keeping the running maximum and its offset (the first maximum wins ties, as
in torch's kernel). Its backward, MaxPoolScatter, adds each gradient back at its window's argmax
(one strided slice add per kernel offset); WindowPick, MaxPoolScatter's adjoint, gives the
second order. With Numba, speed/window_kernels.py runs MaxPool's forward and MaxPoolScatter as one
loop each.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.nn._arguments import require_tensor
from antorcha.nn.functional._conv_grads import Geometry, pad_constant, unpad
from antorcha.nn.functional._pooling import (
    _check_batched,
    _check_max_pool1d_args,
    _check_pool_args,
    _ints,
    _lowest,
    _sizes,
    _stride,
    _window_geometry,
    pooled_size,
)
from antorcha.speed import window_kernels


# ---- max pooling -----------------------------------------------------------------------
def _offsets(kernel: tuple, geom: Geometry, out: tuple) -> Any:
    """(k, slices): for each kernel offset, in row-major order, the strided slices of the padded
    input that hold that offset of every window."""
    for k, offset in enumerate(itertools.product(*(range(n) for n in kernel))):
        yield (
            k,
            (
                Ellipsis,
                *(
                    slice(j * dl, j * dl + s * (o - 1) + 1, s)
                    for j, dl, s, o in zip(offset, geom.dilation, geom.stride, out)
                ),
            ),
        )


def _flat_indices(xp: Any, argmax: Any, size: tuple, kernel: tuple, geom: Geometry, out: tuple) -> Any:
    """The input position (flattened over the spatial dims) of each window's argmax."""
    offsets = xp.unravel_index(argmax, kernel)
    flat = 0
    d = len(kernel)
    for i in range(d):
        starts = xp.arange(out[i]) * geom.stride[i] - geom.pad_lo[i]
        starts = starts.reshape((-1,) + (1,) * (d - 1 - i))
        flat = flat * size[i] + starts + offsets[i] * geom.dilation[i]
    return flat


def _argmax_dtype(kernel: tuple) -> Any:
    return np.uint8 if math.prod(kernel) <= 256 else np.int32


def _first_argmax(padded: Any, best: Any, kernel: tuple, geom: Geometry, out: tuple) -> Any:
    """The kernel offset of each window's maximum `best`: the first equal to it (torch's kernel
    replaces the maximum only with a greater value), and for a NaN maximum the last NaN."""
    xp = xp_of(padded)
    views = [padded[where] for _, where in _offsets(kernel, geom, out)]
    dtype = _argmax_dtype(kernel)
    argmax: Any = dtype(len(views) - 1)
    for k in range(len(views) - 2, -1, -1):
        argmax = xp.where(views[k] == best, dtype(k), argmax)
    argmax = xp.broadcast_to(argmax, best.shape) if xp.ndim(argmax) == 0 else argmax
    if best.dtype.kind == "f":
        missing = xp.isnan(best)
        if missing.any():
            for k, view in enumerate(views):
                argmax = xp.where(missing & xp.isnan(view), dtype(k), argmax)
    return argmax


class MaxPool(Op):
    """x (N, C, *S) -> each window's maximum; params: kernel, Geometry, output size, and a list
    that receives the flat input index of each maximum (None: not wanted).

    The maximum is a chain of elementwise maxima over the strided views of the (-inf padded) input,
    one per kernel offset; the offset it came from is found only when a gradient or the indices
    need it (`_first_argmax`)."""

    @staticmethod
    def forward(ctx: Any, x: Any, kernel: tuple, geom: Geometry, out: tuple, indices: Any) -> Any:
        xp = xp_of(x)
        padded = pad_constant(x, geom.pad_lo, geom.pad_hi, _lowest(x.dtype))
        argmax_dtype = _argmax_dtype(kernel)
        # one loop where Numba is installed
        compiled = window_kernels.max_pool(padded, kernel, geom.stride, geom.dilation, out, argmax_dtype)
        if compiled is not None:
            best, argmax = compiled
        else:
            best = None
            for _, where in _offsets(kernel, geom, out):
                best = padded[where].copy() if best is None else xp.maximum(best, padded[where], out=best)
            if not ctx.needs_input_grad[0] and indices is None:
                return best
            argmax = _first_argmax(padded, best, kernel, geom, out)
        ctx.argmax, ctx.kernel, ctx.geom, ctx.size = argmax, kernel, geom, x.shape[2:]
        if indices is not None:
            indices.append(_flat_indices(xp, argmax, x.shape[2:], kernel, geom, out))
        return best

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return MaxPoolScatter.apply(grad, params=(ctx.argmax, ctx.kernel, ctx.geom, ctx.size))


def _windows_overlap(kernel: tuple, geom: Geometry) -> bool:
    return any(s < dl * (k - 1) + 1 for k, s, dl in zip(kernel, geom.stride, geom.dilation))


class MaxPoolScatter(Op):
    """The adjoint of picking each window's argmax: g (N, C, *O) summed back into (N, C, *size),
    one strided slice write per kernel offset (an add where windows overlap)."""

    @staticmethod
    def forward(ctx: Any, g: Any, argmax: Any, kernel: tuple, geom: Geometry, size: tuple) -> Any:
        ctx.argmax, ctx.kernel, ctx.geom = argmax, kernel, geom
        padded = tuple(s + a + b for s, a, b in zip(size, geom.pad_lo, geom.pad_hi))
        buffer = window_kernels.scatter(g, argmax, kernel, geom.stride, geom.dilation, padded)  # Numba
        if buffer is None:
            buffer = _scatter_passes(g, argmax, kernel, geom, padded)
        return unpad(buffer, geom.pad_lo, size)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return WindowPick.apply(grad, params=(ctx.argmax, ctx.kernel, ctx.geom))


def _scatter_passes(g: Any, argmax: Any, kernel: tuple, geom: Geometry, padded: tuple) -> Any:
    """MaxPoolScatter's buffer as one strided pass per kernel offset."""
    xp = xp_of(g)
    buffer = xp.zeros(g.shape[:2] + padded, dtype=g.dtype)
    overlap = _windows_overlap(kernel, geom)
    for k, where in _offsets(kernel, geom, g.shape[2:]):
        if overlap:
            buffer[where] += xp.where(argmax == k, g, g.dtype.type(0))
        else:  # each position belongs to one window at most: write in place
            xp.multiply(g, argmax == k, out=buffer[where])
    return buffer


class WindowPick(Op):
    """x (N, C, *S) at the given argmax of each window (MaxPoolScatter's adjoint)."""

    @staticmethod
    def forward(ctx: Any, x: Any, argmax: Any, kernel: tuple, geom: Geometry) -> Any:
        ctx.argmax, ctx.kernel, ctx.geom, ctx.size = argmax, kernel, geom, x.shape[2:]
        xp = xp_of(x)
        padded = pad_constant(x, geom.pad_lo, geom.pad_hi)
        out = xp.zeros(argmax.shape, dtype=x.dtype)
        for k, where in _offsets(kernel, geom, argmax.shape[2:]):
            xp.copyto(out, padded[where], where=argmax == k)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return MaxPoolScatter.apply(grad, params=(ctx.argmax, ctx.kernel, ctx.geom, ctx.size))


def _max_pool(
    input: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    return_indices: bool,
    d: int,
) -> Any:
    name = f"max_pool{d}d"
    require_tensor(input, name if d == 2 else "max_pool1d")
    kernel = _ints(kernel_size, d, "kernel_size", name)
    stride = _stride(stride, kernel, name)
    padding, dilation = _ints(padding, d, "padding", name), _ints(dilation, d, "dilation", name)
    batched = _check_batched(input, d, name)
    x = input if batched else input.unsqueeze(0)
    if d == 1:
        _check_max_pool1d_args(kernel, stride, padding, dilation)
        out = (pooled_size(x.shape[-1], kernel[0], stride[0], padding[0], dilation[0], ceil_mode),)
        if out[0] < 1:
            raise RuntimeError(f"max_pool1d() Invalid computed output size: {out[0]}")
    else:
        _check_pool_args(kernel, stride, padding, dilation)
        out = _sizes(x, kernel, stride, padding, dilation, ceil_mode)
    geom = _window_geometry(tuple(x.shape[2:]), out, kernel, stride, padding, dilation)
    holder: list | None = [] if return_indices else None
    values = MaxPool.apply(x, params=(kernel, geom, out, holder))
    if not return_indices:
        return values if batched else values.squeeze(0)
    indices = wrap(holder[0].astype(np.int64, copy=False), device=x._device)
    return (values, indices) if batched else (values.squeeze(0), indices.squeeze(0))


def max_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def max_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


register_functional()(max_pool1d)
register_functional()(max_pool2d)


@register_functional()
def max_pool1d_with_indices(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 1)


@register_functional()
def max_pool2d_with_indices(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 2)
