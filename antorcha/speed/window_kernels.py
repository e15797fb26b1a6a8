"""Compiled loops over sliding windows (Numba, optional), with the meaning of the NumPy passes
they replace: max pooling, forward and backward.

NumPy's max pooling is one elementwise maximum per kernel offset over strided views, then one
comparison pass per offset to find where each maximum came from, and one masked write per
offset backward: for a 2x2 pool, a dozen passes over the input. These loops visit each window
once: its maximum and argmax forward, one add per window backward.

Torch's rule for the argmax: a value replaces the maximum when it is greater or NaN, so the first
of equal maxima wins, and the last NaN of a window with NaNs. The backward adds each window's
gradient into its argmax in window order, as torch's CPU kernel does where windows overlap.
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

    return max_pool, max_pool_2x2, scatter


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


def load() -> bool:
    """Compile (or load from the disk cache) the loops now; whether Numba is there."""
    if _compile() is None:
        return False
    best, argmax = max_pool(np.zeros((1, 1, 1)), (1,), (1,), (1,), (1,), np.uint8)
    scatter(best, argmax, (1,), (1,), (1,), (1,))
    max_pool(np.zeros((1, 1, 2, 2), np.float32), (2, 2), (2, 2), (1, 1), (1, 1), np.uint8)
    return True
