"""The convolution ops: one graph node per convolution, im2col plus one batched GEMM.

A convolution of x (N, C, *S) with w (F, C/G, *K) over G groups is, on arrays:

    cols = windows(pad(x))            (G, C/G·prod(K), N·prod(O))    an as_strided view, copied once
    out  = w (G, F/G, C/G·prod(K)) @ cols                           (G, F/G, N·prod(O)), one GEMM a group

Three ops, each the others' adjoint, so that every backward is itself differentiable:

    Convolution(x, w)        forward: im2col + GEMM                  (torch's ConvolutionBackward0)
    ConvTranspose(y, w)      forward: GEMM + col2im (slice adds, one per kernel offset)
    ConvWeightGrad(x, g)     forward: one GEMM a group of g with x's windows (batch and positions)

    d Convolution / dx = ConvTranspose(g, w),   d/dw = ConvWeightGrad(x, g)
    d ConvTranspose / dy = Convolution(g, w),   d/dw = ConvWeightGrad(g, y)
    d ConvWeightGrad / dx = ConvTranspose(g, G), d/dg = Convolution(x, G)

`Geometry` holds stride, padding (before and after, per spatial dim), dilation and groups.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, NamedTuple

import numpy as np

from antorcha._device import xp_of
from antorcha._tensor import Tensor
from antorcha.autograd.function import Op
from antorcha.nn.functional import _conv_shifted as shifted
from antorcha.speed import window_kernels


class Geometry(NamedTuple):
    stride: tuple[int, ...]
    pad_lo: tuple[int, ...]
    pad_hi: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int


# ---- array kernels -----------------------------------------------------------------------
def pad_constant(x: Any, lo: tuple[int, ...], hi: tuple[int, ...], value: float = 0) -> Any:
    """x (N, C, *S) padded with `value` on the spatial dims: x itself when nothing is added."""
    if not any(lo) and not any(hi):
        return x
    xp = xp_of(x)
    shape = x.shape[:2] + tuple(s + a + b for s, a, b in zip(x.shape[2:], lo, hi))
    out = xp.full(shape, value, dtype=x.dtype) if value else xp.zeros(shape, dtype=x.dtype)
    out[(Ellipsis, *(slice(a, a + s) for a, s in zip(lo, x.shape[2:])))] = x
    return out


def unpad(buffer: Any, lo: tuple[int, ...], size: tuple[int, ...]) -> Any:
    """pad_constant's inverse: buffer (N, C, *P) cut to (N, C, *size) from offset `lo`, contiguous
    (buffer itself when it has no borders)."""
    if not any(lo) and buffer.shape[2:] == tuple(size):
        return buffer
    crop = tuple(slice(a, a + s) for a, s in zip(lo, size))
    return xp_of(buffer).ascontiguousarray(buffer[(Ellipsis, *crop)])


def out_size(padded: tuple[int, ...], kernel: tuple[int, ...], stride: tuple, dilation: tuple) -> tuple:
    return tuple((p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(padded, kernel, stride, dilation))


def windows(padded: Any, kernel: tuple[int, ...], stride: tuple, dilation: tuple) -> Any:
    """The sliding windows of padded (N, C, *S) as a view (N, C, *K, *O): no copy."""
    xp = xp_of(padded)
    out = out_size(padded.shape[2:], kernel, stride, dilation)
    steps = padded.strides[2:]
    shape = padded.shape[:2] + tuple(kernel) + out
    strides = (
        padded.strides[:2]
        + tuple(st * d for st, d in zip(steps, dilation))
        + tuple(st * s for st, s in zip(steps, stride))
    )
    return xp.lib.stride_tricks.as_strided(padded, shape, strides)


def _move_batch_inside(view: Any, d: int) -> Any:
    """(N, C, *K, *O) -> (C, *K, N, *O), a view: the batch joins the output positions."""
    return view.transpose(1, *range(2, 2 + d), 0, *range(2 + d, 2 + 2 * d))


def im2col(x: Any, kernel: tuple[int, ...], geom: Geometry, out: tuple | None = None) -> Any:
    """x (N, C, *S) -> cols (G, C/G·prod(K), N·prod(O)), contiguous: the one copy of a convolution,
    laid out so that each group's product is one plain GEMM over the whole batch.

    `out` keeps only the first windows: the adjoint of a transposed convolution whose output_padding
    reaches past the last window has fewer positions than its input's size allows."""
    padded = pad_constant(x, geom.pad_lo, geom.pad_hi)
    d = len(kernel)
    if out is None:
        out = out_size(padded.shape[2:], kernel, geom.stride, geom.dilation)
    cols = window_kernels.im2col(padded, kernel, geom.stride, geom.dilation, tuple(out))  # Numba
    if cols is None:
        view = windows(padded, kernel, geom.stride, geom.dilation)
        if view.shape[2 + d :] != tuple(out):
            view = view[(Ellipsis, *(slice(0, o) for o in out))]
        cols = _move_batch_inside(view, d)
    n, c = x.shape[:2]
    return cols.reshape(geom.groups, c // geom.groups * math.prod(kernel), n * math.prod(out))


def _grouped_product(a: Any, b: Any) -> Any:
    """a (G, m, k) @ b (G, k, n): one 2-d GEMM per group (NumPy's stacked matmul is slower)."""
    xp = xp_of(a)
    if a.shape[0] == 1:
        return xp.matmul(a[0], b[0])[None]
    return xp.stack([xp.matmul(a[i], b[i]) for i in range(a.shape[0])])


def _by_group(y: Any, g: int) -> Any:
    """(N, F, *O) -> (G, F/G, N·prod(O)): a copy, the batch joined to the positions."""
    n, f = y.shape[:2]
    return (
        y.reshape(n, g, f // g, -1 if n else math.prod(y.shape[2:]))
        .transpose(1, 2, 0, 3)
        .reshape(g, f // g, n * math.prod(y.shape[2:]))
    )


def _batch_first(product: Any, n: int, out: tuple) -> Any:
    """(G, F/G, N·prod(O)) -> (N, F, *O), contiguous."""
    g, per_group = product.shape[:2]
    grid = product.reshape(g * per_group, n, *out)
    return xp_of(product).ascontiguousarray(grid.swapaxes(0, 1))


def conv_forward(x: Any, w: Any, geom: Geometry, out: tuple | None = None) -> tuple[Any, Any]:
    """(out (N, F, *O), cols or None) for x (N, C, *S), w (F, C/G, *K); O is all windows unless
    given. Large columns at stride 1 take the shifted-grid path, which keeps none."""
    kernel = w.shape[2:]
    if out is None:
        padded = tuple(s + a + b for s, a, b in zip(x.shape[2:], geom.pad_lo, geom.pad_hi))
        out = out_size(padded, kernel, geom.stride, geom.dilation)
    if shifted.applies(geom, x, kernel, out):
        return shifted.conv_forward(x, w, geom, out), None
    cols = im2col(x, kernel, geom, out)
    g = geom.groups
    weight = w.reshape(g, w.shape[0] // g, cols.shape[1])  # (G, F/G, C/G·prod(K))
    return _batch_first(_grouped_product(weight, cols), x.shape[0], tuple(out)), cols


def col2im(cols: Any, size: tuple[int, ...], geom: Geometry) -> Any:
    """The adjoint of `windows`: cols (N, C, *K, *O) (any strides) summed back into (N, C, *size)."""
    d = len(size)
    padded = tuple(s + a + b for s, a, b in zip(size, geom.pad_lo, geom.pad_hi))
    buffer = window_kernels.col2im(_move_batch_inside(cols, d), geom.stride, geom.dilation, padded)  # Numba
    if buffer is None:
        buffer = _slice_adds(cols, padded, geom)
    return unpad(buffer, geom.pad_lo, size)


def _slice_adds(cols: Any, padded: tuple[int, ...], geom: Geometry) -> Any:
    """col2im on arrays: one strided slice add per kernel offset into a zero (N, C, *padded)
    buffer (no scatter, no add.at)."""
    d = len(padded)
    kernel, out = cols.shape[2 : 2 + d], cols.shape[2 + d :]
    buffer = xp_of(cols).zeros(cols.shape[:2] + padded, dtype=cols.dtype)
    for offset in itertools.product(*(range(k) for k in kernel)):
        target = tuple(
            slice(k * dl, k * dl + s * (o - 1) + 1, s)
            for k, dl, s, o in zip(offset, geom.dilation, geom.stride, out)
        )
        buffer[(Ellipsis, *target)] += cols[(slice(None), slice(None), *offset)]
    return buffer


def conv_transpose_forward(y: Any, w: Any, size: tuple[int, ...], geom: Geometry) -> Any:
    """The adjoint of conv_forward in x: y (N, F, *O), w (F, C/G, *K) -> (N, C, *size)."""
    kernel, out = w.shape[2:], y.shape[2:]
    n, f = y.shape[:2]
    g = geom.groups
    # The shifted grid beats col2im's strided slice adds at every size, but not its compiled loop
    # while the columns fit the heap: (64, 32, 4, 4) -> 16 channels, 3x3: 660 µs against 450;
    # (64, 32, 32, 32) -> 3: 5.8 ms against 4.0; (64, 64, 16, 16) -> 64 (38 MB): 24.6 against 31.7.
    columns = n * g * w.shape[1] * math.prod(kernel) * math.prod(out) * y.itemsize
    compiled = window_kernels.short_rows(y, kernel, out, geom.stride, geom.dilation)
    if not (compiled and shifted.fits_the_heap(columns)) and shifted.applies(geom, y) and shifted.finite(w):
        return shifted.conv_transpose_forward(y, w, size, geom)
    weight = w.reshape(g, f // g, w.shape[1] * math.prod(kernel)).swapaxes(1, 2)  # (G, C/G·prod(K), F/G)
    cols = _grouped_product(weight, _by_group(y, g))  # (G, C/G·prod(K), N·prod(O))
    d = len(kernel)
    grid = cols.reshape(g * w.shape[1], *kernel, n, *out)  # (C, *K, N, *O)
    return col2im(grid.transpose(d + 1, 0, *range(1, d + 1), *range(d + 2, 2 * d + 2)), size, geom)


def conv_weight_grad(x: Any, g: Any, kernel: tuple[int, ...], geom: Geometry, cols: Any = None) -> Any:
    """The adjoint of conv_forward in w: x (N, C, *S), g (N, F, *O) -> (F, C/G, *K): one GEMM per
    group, over the batch and the positions together."""
    if cols is None and shifted.applies(geom, x, kernel, g.shape[2:]) and shifted.finite(x):
        return shifted.conv_weight_grad(x, g, kernel, geom)
    if cols is None:
        cols = im2col(x, kernel, geom, g.shape[2:])
    groups = geom.groups
    # (cols @ gᵀ)ᵀ rather than g @ colsᵀ: OpenBLAS runs a GEMM with few rows (F/G) and a long inner
    # dimension (N·prod(O)) ~10x slower than the same product with the long side first
    product = _grouped_product(cols, _by_group(g, groups).swapaxes(1, 2))  # (G, C/G·prod(K), F/G)
    return product.swapaxes(1, 2).reshape(g.shape[1], x.shape[1] // groups, *kernel)


def _add_bias(out: Any, bias: Any) -> Any:
    out += bias.reshape((-1,) + (1,) * (out.ndim - 2))
    return out


def _bias_grad(grad: Tensor) -> Tensor:
    """grad (N, C, *O) summed to (C,)."""
    return TrailingSum.apply(grad, params=(grad.ndim - 2,)).sum(0)


class TrailingSum(Op):
    """x (..., *S) -> (...): the sum over the last `dims` dims (a convolution's positions).

    On NumPy arrays it is one matrix-vector product with ones: NumPy's reduction over short
    trailing runs took ~4x as long (a bias gradient at (64, 32, 4, 4): 72 µs against 17;
    at (64, 32, 32, 32): 970 against 270)."""

    @staticmethod
    def forward(ctx: Any, x: Any, dims: int) -> Any:
        ctx.shape = x.shape
        lead, positions = x.shape[: x.ndim - dims], math.prod(x.shape[x.ndim - dims :])
        rows = x.reshape(math.prod(lead), positions)
        if type(x) is np.ndarray and x.dtype.char in "fd" and positions > 1:
            return (rows @ np.ones(positions, dtype=x.dtype)).reshape(lead)
        return rows.sum(axis=1).reshape(lead)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        lead = grad.ndim
        return grad.reshape(*grad.shape, *(1,) * (len(ctx.shape) - lead)).expand(*ctx.shape)


# ---- the ops -----------------------------------------------------------------------------
class Convolution(Op):
    """x (N, C, *S), w (F, C/G, *K)[, bias (F,)]; params: the Geometry, and the output size (None:
    every window)."""

    backward_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx: Any, x: Any, w: Any, *rest: Any) -> Any:
        geom, size = rest[-2], rest[-1]
        out, cols = conv_forward(x, w, geom, size)
        if len(rest) == 3:
            out = _add_bias(out, rest[0])
        needs = ctx.needs_input_grad
        if needs[0] or needs[1]:
            ctx.geom, ctx.kernel = geom, w.shape[2:]
            ctx.cols = cols if needs[1] else None  # x's windows, reused by the weight gradient
            ctx.save_for_backward(x if needs[1] else None, w if needs[0] else None)
            ctx.size = x.shape[2:]
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        gx = ConvTranspose.apply(grad, w, params=(ctx.size, ctx.geom)) if needs[0] else None
        gw = ConvWeightGrad.apply(x, grad, params=(ctx.kernel, ctx.geom, ctx.cols)) if needs[1] else None
        gb = _bias_grad(grad) if len(needs) > 2 and needs[2] else None
        return gx, gw, gb


class ConvTranspose(Op):
    """y (N, F, *O), w (F, C/G, *K)[, bias (C,)] -> (N, C, *size); params: size, the Geometry."""

    backward_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx: Any, y: Any, w: Any, *rest: Any) -> Any:
        size, geom = rest[-2], rest[-1]
        out = conv_transpose_forward(y, w, size, geom)
        if len(rest) == 3:
            out = _add_bias(out, rest[0])
        needs = ctx.needs_input_grad
        if needs[0] or needs[1]:
            ctx.geom, ctx.kernel, ctx.positions = geom, w.shape[2:], y.shape[2:]
            ctx.save_for_backward(y if needs[1] else None, w if needs[0] else None)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        y, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        gy = Convolution.apply(grad, w, params=(ctx.geom, ctx.positions)) if needs[0] else None
        gw = ConvWeightGrad.apply(grad, y, params=(ctx.kernel, ctx.geom, None)) if needs[1] else None
        gb = _bias_grad(grad) if len(needs) > 2 and needs[2] else None
        return gy, gw, gb


class ConvWeightGrad(Op):
    """x (N, C, *S), g (N, F, *O) -> (F, C/G, *K); params: kernel, Geometry, x's cols or None."""

    @staticmethod
    def forward(ctx: Any, x: Any, g: Any, kernel: Any, geom: Geometry, cols: Any) -> Any:
        needs = ctx.needs_input_grad
        if needs[0] or needs[1]:
            ctx.geom, ctx.size, ctx.positions = geom, x.shape[2:], g.shape[2:]
            ctx.save_for_backward(x if needs[1] else None, g if needs[0] else None)
        return conv_weight_grad(x, g, kernel, geom, cols)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, g = ctx.saved_tensors
        needs = ctx.needs_input_grad
        gx = ConvTranspose.apply(g, grad, params=(ctx.size, ctx.geom)) if needs[0] else None
        gg = Convolution.apply(x, grad, params=(ctx.geom, ctx.positions)) if needs[1] else None
        return gx, gg
