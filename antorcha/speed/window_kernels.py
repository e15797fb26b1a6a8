"""Compiled loops over sliding windows (Numba, optional), with the meaning of the NumPy passes
they replace: max pooling, forward and backward, and a convolution's im2col and col2im on small
images.

NumPy's max pooling is one elementwise maximum per kernel offset over strided views, then one
comparison pass per offset to find where each maximum came from, and one masked write per
offset backward: for a 2x2 pool, a dozen passes over the input. These loops visit each window
once: its maximum and argmax forward, one add per window backward.

Torch's rule for the argmax: a value replaces the maximum when it is greater or NaN, so the first
of equal maxima wins, and the last NaN of a window with NaNs. The backward adds each window's
gradient into its argmax in window order, as torch's CPU kernel does where windows overlap.

im2col copies each window of a padded (N, C, H, W) input into columns (C, KH, KW, N, OH, OW);
col2im adds such columns back, kernel offset by kernel offset, in the order of NumPy's slice adds
(so the sums are bit-equal). NumPy copies the strided view a row of OW values at a time, which
costs more than the copy itself when rows are short: at (64, 16, 4, 4) with a 3x3 kernel its
im2col took 400-520 µs, this loop 160-175; at (64, 3, 32, 32), 870 against 470.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np


@functools.cache
def _compile() -> Any:
    try:
        import numba
    except ImportError:
        return None

    # Selects, not branches: on random data a branch on "greater" mispredicts about once a window
    # (measured: 23 ns a 2x2 window with branches, 12 with selects, 5 with 2x2 written out).
    @numba.njit(nogil=True, cache=True, inline="always")
    def keep_greater(value: Any, k: int, top: Any, where: int) -> tuple:  # pragma: no cover
        better = (value > top) | (value != value)
        return (value if better else top), (k if better else where)

    @numba.njit(nogil=True, cache=True)
    def max_pool(padded: Any, window: Any, best: Any, argmax: Any) -> None:  # pragma: no cover
        kh, kw, sh, sw, dh, dw = window[0], window[1], window[2], window[3], window[4], window[5]
        planes, out_h, out_w = best.shape
        for p in range(planes):
            plane = padded[p]
            for i in range(out_h):
                for j in range(out_w):
                    top, where = plane[i * sh, j * sw], 0
                    for a in range(kh):
                        for b in range(kw):
                            value = plane[i * sh + a * dh, j * sw + b * dw]
                            top, where = keep_greater(value, a * kw + b, top, where)
                    best[p, i, j] = top
                    argmax[p, i, j] = where

    @numba.njit(nogil=True, cache=True)
    def max_pool_2x2(padded: Any, window: Any, best: Any, argmax: Any) -> None:  # pragma: no cover
        sh, sw, dh, dw = window[2], window[3], window[4], window[5]
        planes, out_h, out_w = best.shape
        for p in range(planes):
            plane = padded[p]
            for i in range(out_h):
                upper, lower = plane[i * sh], plane[i * sh + dh]
                best_row, argmax_row = best[p, i], argmax[p, i]
                for j in range(out_w):
                    c = j * sw
                    top, where = upper[c], 0
                    top, where = keep_greater(upper[c + dw], 1, top, where)
                    top, where = keep_greater(lower[c], 2, top, where)
                    top, where = keep_greater(lower[c + dw], 3, top, where)
                    best_row[j], argmax_row[j] = top, where

    @numba.njit(nogil=True, cache=True)
    def scatter(grad: Any, argmax: Any, window: Any, out: Any) -> None:  # pragma: no cover
        kw, sh, sw, dh, dw = window[1], window[2], window[3], window[4], window[5]
        planes, out_h, out_w = grad.shape
        for p in range(planes):
            for i in range(out_h):
                for j in range(out_w):
                    k = np.int64(argmax[p, i, j])  # uint8 with int64 would make floats
                    a = k >> 1 if kw == 2 else k // kw  # a shift, not a division, for 2-wide windows
                    b = k - a * kw
                    out[p, i * sh + a * dh, j * sw + b * dw] += grad[p, i, j]

    # im2col (back=False) copies each window into the columns; col2im (back=True), its adjoint,
    # adds the columns back. Unit stride and dilation only: with them as run-time factors in the
    # index the loop took 2.5x as long (no better than NumPy's copy).
    @numba.njit(nogil=True, cache=True)
    def windows_to_columns(padded: Any, cols: Any, back: bool) -> None:  # pragma: no cover
        channels, kh, kw, batch, out_h, out_w = cols.shape
        for c in range(channels):
            for a in range(kh):
                for b in range(kw):
                    for n in range(batch):
                        for i in range(out_h):
                            for j in range(out_w):
                                if back:
                                    padded[n, c, a + i, b + j] += cols[c, a, b, n, i, j]
                                else:
                                    cols[c, a, b, n, i, j] = padded[n, c, a + i, b + j]

    return max_pool, max_pool_2x2, scatter, windows_to_columns


def _planes_shape(spatial: tuple) -> tuple:
    """One or two spatial dims as two: a 1-D pool is a 2-D one of height 1."""
    return (1, spatial[0]) if len(spatial) == 1 else tuple(spatial)


def _as_planes(a: Any) -> Any:
    """(N, C, *S) -> (N·C, H, W), C order (a copy only if needed)."""
    return np.ascontiguousarray(a).reshape(-1, *_planes_shape(a.shape[2:]))


def _window(kernel: tuple, stride: tuple, dilation: tuple) -> np.ndarray:
    """(kh, kw, sh, sw, dh, dw), 1-D as 2-D of height 1."""
    pad = (1,) * (2 - len(kernel))
    return np.array([*pad, *kernel, *pad, *stride, *pad, *dilation], dtype=np.int64)


def _applies(a: Any, kernel: tuple) -> bool:
    return type(a) is np.ndarray and a.dtype.char in "fd" and len(kernel) in (1, 2) and a.size > 0


def max_pool(
    padded: Any, kernel: tuple, stride: tuple, dilation: tuple, out: tuple, argmax_dtype: Any
) -> tuple | None:
    """(maximum, argmax) of each window of the padded (N, C, *P) input, argmax as the kernel
    offset in row-major order; None where NumPy's passes must run."""
    loops = _compile() if _applies(padded, kernel) else None
    if loops is None:
        return None
    planes = _as_planes(padded)
    best = np.empty((planes.shape[0], *_planes_shape(out)), dtype=padded.dtype)
    argmax = np.empty(best.shape, dtype=argmax_dtype)
    loop = loops[1] if tuple(kernel) == (2, 2) else loops[0]
    loop(planes, _window(kernel, stride, dilation), best, argmax)
    shape = padded.shape[:2] + tuple(out)
    return best.reshape(shape), argmax.reshape(shape)


def scatter(
    grad: Any, argmax: Any, kernel: tuple, stride: tuple, dilation: tuple, padded: tuple
) -> Any | None:
    """Each window's gradient added into its argmax of a zero (N, C, *P) buffer; None where
    NumPy's passes must run."""
    loops = _compile() if _applies(grad, kernel) else None
    if loops is None:
        return None
    out = np.zeros(grad.shape[:2] + tuple(padded), dtype=grad.dtype)
    loops[2](_as_planes(grad), _as_planes(argmax), _window(kernel, stride, dilation), _as_planes(out))
    return out


# Measured for a 3x3 im2col over a batch of 64: the loop took 0.34x NumPy's time at 8x8 outputs,
# 0.39x at 4x4, 0.56x at 16x16 and 0.54x at 32x32; longer rows are unmeasured, so NumPy keeps them.
_SHORT_ROWS = 32


def short_rows(a: Any, kernel: tuple, out: tuple, stride: tuple, dilation: tuple) -> bool:
    """Whether im2col and col2im run compiled for a NumPy array a with these windows: unit
    stride and dilation, output rows of at most _SHORT_ROWS, and Numba there."""
    unit = all(s == 1 for s in stride) and all(d == 1 for d in dilation)
    return unit and _applies(a, kernel) and out[-1] <= _SHORT_ROWS and _compile() is not None


def _as_image(a: Any) -> Any:
    """(N, C, *S) with one or two spatial dims as (N, C, H, W)."""
    return a.reshape(*a.shape[:2], *_planes_shape(a.shape[2:]))


def im2col(padded: Any, kernel: tuple, stride: tuple, dilation: tuple, out: tuple) -> Any | None:
    """The windows of padded (N, C, *P) as contiguous columns (C, *K, N, *O); None where NumPy's
    copy runs (no Numba, CuPy, long rows)."""
    loops = _compile() if short_rows(padded, kernel, out, stride, dilation) else None
    if loops is None:
        return None
    n, c = padded.shape[:2]
    cols = np.empty((c, *_planes_shape(kernel), n, *_planes_shape(out)), dtype=padded.dtype)
    loops[3](_as_image(np.ascontiguousarray(padded)), cols, False)
    return cols.reshape(c, *kernel, n, *out)


def col2im(cols: Any, stride: tuple, dilation: tuple, padded: tuple) -> Any | None:
    """Columns (C, *K, N, *O) added back into a zero (N, C, *padded) buffer; None where NumPy's
    slice adds run."""
    d = len(padded)
    kernel, out = cols.shape[1 : 1 + d], cols.shape[2 + d :]
    loops = _compile() if short_rows(cols, kernel, out, stride, dilation) else None
    if loops is None:
        return None
    c, n = cols.shape[0], cols.shape[1 + d]
    buffer = np.zeros((n, c, *padded), dtype=cols.dtype)
    grid = np.ascontiguousarray(cols).reshape(c, *_planes_shape(kernel), n, *_planes_shape(out))
    loops[3](_as_image(buffer), grid, True)
    return buffer


def load() -> bool:
    """Compile (or load from the disk cache) the loops now; whether Numba is there."""
    if _compile() is None:
        return False
    best, argmax = max_pool(np.zeros((1, 1, 1)), (1,), (1,), (1,), (1,), np.uint8)
    scatter(best, argmax, (1,), (1,), (1,), (1,))
    max_pool(np.zeros((1, 1, 2, 2), np.float32), (2, 2), (2, 2), (1, 1), (1, 1), np.uint8)
    for dtype in (np.float32, np.float64):
        cols = im2col(np.zeros((1, 1, 1), dtype), (1,), (1,), (1,), (1,))
        col2im(cols, (1,), (1,), (1,))
    return True
