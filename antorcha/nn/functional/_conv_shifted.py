"""Stride-1 convolutions over the flattened padded grid, in chunks: the fast path of the array
kernels in _conv_grads.py, which dispatch NumPy arrays here when every stride is 1.

Lay the zero-padded input out channel-major and flatten each channel's whole batch of images:
grid (C, N·prod(P)). With stride 1, the element at kernel offset k of the window that starts at
grid position q is grid[c, q + s_k], a fixed shift s_k = Σ_i k_i·dilation_i·(grid stride of dim
i). So for every grid position q at once

    out[f, q]  = Σ_{c,k} w[f, c, k] · grid[c, q + s_k]        (forward: im2col + GEMM)
    dx[c, q + s_k] += Σ_f w[f, c, k] · g[f, q]                 (input gradient: GEMM + col2im)
    dw[f, c, k] = Σ_q g[f, q] · grid[c, q + s_k]               (weight gradient)

im2col is K slice copies with long contiguous runs, and col2im K slice adds, instead of strided
gathers with runs as short as a row. Positions whose window runs past its row or image are
computed too and dropped (forward), or given a zero gradient (backward): at 16x16 with padding 1
that is 27% more GEMM, against an im2col and col2im that were ~2-3x slower.

The columns go through BLAS in chunks of at most 8 MiB: glibc serves arrays up to 32 MiB from its
heap (speed/allocator.py asks it to keep freed memory), but hands larger ones fresh pages on
every allocation, which made filling them ~3x slower (measured). The input gradient
takes this path at every size; the forward and weight gradient when their columns would pass
32 MiB (see `applies`).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, NamedTuple

import numpy as np

_CHUNK_BYTES = 8 << 20
_LARGE_COLUMNS = 32 << 20  # glibc's largest heap allocation: above it, fresh pages every time


class _Grid(NamedTuple):
    padded: tuple[int, ...]  # P, per spatial dim
    positions: int  # N·prod(P)
    shifts: tuple[int, ...]  # s_k, in w's (flattened) kernel order


def applies(geom: Any, x: Any, kernel: tuple | None = None, out: tuple = ()) -> bool:
    """Whether a convolution of the NumPy array x takes this path: every stride 1, and, given
    kernel and output size, columns above 32 MiB. Smaller columns come from glibc's reused heap at
    full speed and are kept for the weight gradient; on small images the dropped positions cost
    most (at 8x8 with padding 1, 56% more GEMM). CuPy arrays keep im2col's path."""
    if type(x) is not np.ndarray or not all(s == 1 for s in geom.stride):
        return False
    if kernel is None:
        return True
    columns = x.shape[0] * x.shape[1] * math.prod(kernel) * math.prod(out) * x.itemsize
    return not fits_the_heap(columns)


def fits_the_heap(columns: int) -> bool:
    """Whether `columns` bytes come from glibc's reused heap (at most 32 MiB)."""
    return columns <= _LARGE_COLUMNS


def _grid_of(n: int, padded: tuple[int, ...], kernel: tuple[int, ...], dilation: tuple) -> _Grid:
    steps = [math.prod(padded[i + 1 :]) for i in range(len(padded))]  # the grid's strides, in elements
    shifts = tuple(
        sum(k * d * step for k, d, step in zip(offset, dilation, steps))
        for offset in itertools.product(*(range(k) for k in kernel))
    )
    return _Grid(padded, n * math.prod(padded), shifts)


def _padded(size: tuple[int, ...], geom: Any) -> tuple[int, ...]:
    return tuple(s + a + b for s, a, b in zip(size, geom.pad_lo, geom.pad_hi))


def _to_grid(x: Any, grid: _Grid, lo: tuple[int, ...]) -> Any:
    """x (N, C, *S) -> (C, N·prod(P) + max shift): zero borders and tail, x at offset `lo`."""
    n, c = x.shape[:2]
    buffer = np.zeros((c, grid.positions + grid.shifts[-1]), dtype=x.dtype)
    view = buffer[:, : grid.positions].reshape(c, n, *grid.padded)
    view[(slice(None), slice(None), *(slice(a, a + s) for a, s in zip(lo, x.shape[2:])))] = x.swapaxes(0, 1)
    return buffer


def _from_grid(buffer: Any, grid: _Grid, n: int, lo: tuple[int, ...], size: tuple[int, ...]) -> Any:
    """The inverse of _to_grid: (C, N·prod(P) + tail) -> (N, C, *size), contiguous."""
    view = buffer[:, : grid.positions].reshape(buffer.shape[0], n, *grid.padded)
    crop = view[(slice(None), slice(None), *(slice(a, a + s) for a, s in zip(lo, size)))]
    return np.ascontiguousarray(crop.swapaxes(0, 1))


def _step(rows: int, itemsize: int) -> int:
    """Positions per chunk: columns of `rows` values each, at most _CHUNK_BYTES together."""
    return max(1, _CHUNK_BYTES // max(1, rows * itemsize))


def _column_chunks(source: Any, grid: _Grid, groups: int) -> Any:
    """im2col over the grid, a chunk at a time: yields (start, stop, cols (G, C/G·prod(K),
    stop - start)) for positions [start, stop), each chunk written over the last one's buffer."""
    channels, taps = source.shape[0], len(grid.shifts)
    step = _step(channels * taps, source.itemsize)
    cols = np.empty((channels, taps, min(step, grid.positions)), dtype=source.dtype)
    for start in range(0, grid.positions, step):
        stop = min(start + step, grid.positions)
        width = stop - start
        for k, shift in enumerate(grid.shifts):
            cols[:, k, :width] = source[:, start + shift : stop + shift]
        yield start, stop, cols[:, :, :width].reshape(groups, channels // groups * taps, width)


def conv_forward(x: Any, w: Any, geom: Any, out: tuple | None = None) -> Any:
    """x (N, C, *S), w (F, C/G, *K) -> (N, F, *O); O is every window unless `out` is given."""
    n, c = x.shape[:2]
    f, kernel, g = w.shape[0], w.shape[2:], geom.groups
    padded = _padded(x.shape[2:], geom)
    grid = _grid_of(n, padded, kernel, geom.dilation)
    source = _to_grid(x, grid, geom.pad_lo)
    taps = len(grid.shifts)
    weight = w.reshape(g, f // g, c // g * taps)  # (G, F/G, C/G·prod(K))
    result = np.empty((g, f // g, grid.positions), dtype=x.dtype)
    for start, stop, chunk in _column_chunks(source, grid, g):
        for i in range(g):
            np.matmul(weight[i], chunk[i], out=result[i, :, start:stop])
    if out is None:
        out = tuple(p - d * (k - 1) for p, d, k in zip(padded, geom.dilation, kernel))
    return _from_grid(result.reshape(f, grid.positions), grid, n, (0,) * len(kernel), tuple(out))


def conv_transpose_forward(y: Any, w: Any, size: tuple[int, ...], geom: Any) -> Any:
    """The adjoint of conv_forward in x: y (N, F, *O), w (F, C/G, *K) -> (N, C, *size)."""
    n, f = y.shape[:2]
    kernel, g = w.shape[2:], geom.groups
    c = w.shape[1] * g
    grid = _grid_of(n, _padded(size, geom), kernel, geom.dilation)
    taps = len(grid.shifts)
    gradient = _to_grid(y, grid, (0,) * len(kernel))  # zero where no window starts
    weight = w.reshape(g, f // g, c // g * taps).swapaxes(1, 2)  # (G, C/G·prod(K), F/G)
    total = np.zeros((c, grid.positions + grid.shifts[-1]), dtype=y.dtype)
    step = _step(c * taps, y.itemsize)
    cols = np.empty((g, c // g * taps, min(step, grid.positions)), dtype=y.dtype)
    by_group = gradient.reshape(g, f // g, -1)
    for start in range(0, grid.positions, step):
        stop = min(start + step, grid.positions)
        width = stop - start
        for i in range(g):
            np.matmul(weight[i], by_group[i, :, start:stop], out=cols[i, :, :width])
        per_tap = cols[:, :, :width].reshape(c, taps, width)
        for k, shift in enumerate(grid.shifts):
            total[:, start + shift : stop + shift] += per_tap[:, k]
    return _from_grid(total, grid, n, geom.pad_lo, size)


def conv_weight_grad(x: Any, grad: Any, kernel: tuple[int, ...], geom: Any) -> Any:
    """The adjoint of conv_forward in w: x (N, C, *S), grad (N, F, *O) -> (F, C/G, *K)."""
    n, c = x.shape[:2]
    f, g = grad.shape[1], geom.groups
    grid = _grid_of(n, _padded(x.shape[2:], geom), kernel, geom.dilation)
    taps = len(grid.shifts)
    source = _to_grid(x, grid, geom.pad_lo)
    by_group = _to_grid(grad, grid, (0,) * len(kernel)).reshape(g, f // g, -1)
    total = np.zeros((g, c // g * taps, f // g), dtype=x.dtype)
    partial = np.empty_like(total[0])
    for start, stop, chunk in _column_chunks(source, grid, g):
        for i in range(g):
            # (cols @ gᵀ): the long positions axis inside, as in _conv_grads.conv_weight_grad
            np.matmul(chunk[i], by_group[i, :, start:stop].T, out=partial)
            total[i] += partial
    return total.swapaxes(1, 2).reshape(f, c // g, *kernel)


def finite(*arrays: Any) -> bool:
    """Whether every value is finite: the positions whose window runs past the grid multiply
    other windows' values by a zero gradient, and 0 · inf would be NaN."""
    for a in arrays:
        if a.size and not (math.isfinite(float(a.max())) and math.isfinite(float(a.min()))):
            return False
    return True
