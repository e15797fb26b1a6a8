"""The LSTM layer's time loop with each step's gate arithmetic as one compiled pass (Numba).

NumPy spends about 15 calls per LSTM step forward and 20 backward on (batch, 4H) arrays that fit
in cache: at a char-RNN's size that is more time than the step's GEMM. One compiled loop per step
computes the gates, the new (h, c) and the derivative factors backward needs, while each row is
in registers. The formula is `_LSTMCell`'s in antorcha/nn/functional/_recurrent.py, in the same
order of operations; that module runs the NumPy form when Numba is not installed, on CuPy, for
LSTM's proj_size, and under create_graph. `available()` says whether this path runs.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

ENABLED = True  # tests switch it off to check the NumPy form against the same oracle
# contract: FMA; arcp: x / y as x * (1 / y). No fast-math on NaN or infinity, no reassociation.
_FAST = {"contract", "arcp"}


@functools.cache  # one dispatcher per process: it compiles (or loads from the disk cache) once
def _compile() -> Any:
    try:
        import numba
    except ImportError:
        return None

    # Scalar exp and tanh in a compiled loop are libm calls, several times slower than NumPy's
    # SIMD ones: the transcendentals stay NumPy passes over the step's block, the rest is fused.
    @numba.njit(nogil=True, cache=True, fastmath=_FAST)
    def new_cell(e, g, c):  # pragma: no cover - compiled
        """e (b, 4H) = exp(-pre) -> the sigmoids i, f, o in place (g's quarter unused); c <- f c + i g."""
        rows, size = c.shape
        one = e.dtype.type(1)
        for r in range(rows):
            p = e[r]
            for j in range(size):
                i = one / (one + p[j])
                f = one / (one + p[size + j])
                p[3 * size + j] = one / (one + p[3 * size + j])
                p[j], p[size + j] = i, f
                p[2 * size + j] = c[r, j]  # the old c, which backward's f factor needs
                c[r, j] = f * c[r, j] + i * g[r, j]

    @numba.njit(nogil=True, cache=True, fastmath=_FAST)
    def output_and_factors(s, g, tanh_c, h_state, out, through_c, forget):  # pragma: no cover
        """h = o tanh(c); s (b, 4H) (sigmoids, old c in g's quarter) becomes backward's gate factors."""
        rows, size = g.shape
        one = s.dtype.type(1)
        for r in range(rows):
            p = s[r]
            for j in range(size):
                i, f, c_old, o = p[j], p[size + j], p[2 * size + j], p[3 * size + j]
                t, gate = tanh_c[r, j], g[r, j]
                h = o * t
                h_state[r, j] = h
                out[r, j] = h
                through_c[r, j] = o * (one - t * t)
                forget[r, j] = f
                p[j] = gate * i * (one - i)
                p[size + j] = c_old * f * (one - f)
                p[2 * size + j] = i * (one - gate * gate)
                p[3 * size + j] = t * o * (one - o)

    @numba.njit(nogil=True, cache=True, fastmath=_FAST)
    def step_backward(
        grad_h, grad_out, has_out, grad_c, through_c, gates, forget, grad_pre
    ):  # pragma: no cover
        """grad_pre (b, 4H) from the step's gradients; grad_c (b, H) becomes the previous step's, in place."""
        rows, size = grad_c.shape
        for r in range(rows):
            for j in range(size):
                g_h = grad_h[r, j] + grad_out[r, j] if has_out else grad_h[r, j]
                g_c = g_h * through_c[r, j] + grad_c[r, j]
                grad_pre[r, j] = gates[r, j] * g_c
                grad_pre[r, size + j] = gates[r, size + j] * g_c
                grad_pre[r, 2 * size + j] = gates[r, 2 * size + j] * g_c
                grad_pre[r, 3 * size + j] = g_h * gates[r, 3 * size + j]
                grad_c[r, j] = g_c * forget[r, j]

    return (new_cell, output_and_factors), step_backward


def available(array: Any) -> bool:
    return (
        ENABLED
        and type(array) is np.ndarray
        and array.dtype.kind == "f"
        and array.itemsize >= 4
        and (_compile() is not None)
    )


def _starts(batch_sizes: tuple) -> list[int]:
    starts, total = [], 0
    for b in batch_sizes:
        starts.append(total)
        total += b
    return starts


def forward(gx: Any, w_hh: Any, h0: Any, c0: Any, b_hh: Any, batch_sizes: tuple, reverse: bool) -> tuple:
    """(output rows (R, H), h_n, c_n, kept); rows in the packed layout, as _run_forward's."""
    (new_cell, output_and_factors), _ = _compile()
    gates = gx + b_hh if b_hh is not None else gx.copy()  # (R, 4H): becomes the gate factors
    w_t = np.ascontiguousarray(w_hh.T)
    rows, size = gx.shape[0], h0.shape[1]
    out, through_c, forget, h_inputs = (np.empty((rows, size), dtype=gx.dtype) for _ in range(4))
    g, tanh_c = np.empty_like(h0), np.empty_like(h0)
    h, c = h0.copy(), c0.copy()
    starts = _starts(batch_sizes)
    order = range(len(batch_sizes) - 1, -1, -1) if reverse else range(len(batch_sizes))
    for t in order:
        b, start = batch_sizes[t], starts[t]
        end = start + b
        h_inputs[start:end] = h[:b]
        pre = gates[start:end]
        pre += h[:b] @ w_t
        np.tanh(pre[:, 2 * size : 3 * size], out=g[:b])
        np.negative(pre, out=pre)
        np.exp(pre, out=pre)  # exp(-x) overflowing to inf gives the sigmoid 1 / inf = 0: exact
        new_cell(pre, g[:b], c[:b])
        np.tanh(c[:b], out=tanh_c[:b])
        output_and_factors(
            pre, g[:b], tanh_c[:b], h[:b], out[start:end], through_c[start:end], forget[start:end]
        )
    return out, h, c, (gates, through_c, forget, h_inputs)


def backward(kept: tuple, w_hh: Any, grads: tuple, like: tuple, batch_sizes: tuple, reverse: bool) -> tuple:
    """Gradients of (gx, W_hh, h0, c0, b_ih, b_hh, W_hr) from the kept factors."""
    _, step_backward = _compile()
    gates, through_c, forget, h_inputs = kept
    grad_out, grad_h, grad_c = grads
    h0, c0 = like
    grad_h = np.zeros_like(h0) if grad_h is None else grad_h.copy()
    grad_c = np.zeros_like(c0) if grad_c is None else grad_c.copy()
    grad_gx = np.empty_like(gates)
    has_out = grad_out is not None
    no_out = np.zeros((0, 0), dtype=gates.dtype)
    starts = _starts(batch_sizes)
    order = range(len(batch_sizes)) if reverse else range(len(batch_sizes) - 1, -1, -1)
    for t in order:
        b, start = batch_sizes[t], starts[t]
        end = start + b
        step_backward(
            grad_h[:b],
            grad_out[start:end] if has_out else no_out,
            has_out,
            grad_c[:b],
            through_c[start:end],
            gates[start:end],
            forget[start:end],
            grad_gx[start:end],
        )
        np.matmul(grad_gx[start:end], w_hh, out=grad_h[:b])
    grad_w = grad_gx.T @ h_inputs
    grad_b = grad_gx.sum(axis=0)
    return grad_gx, grad_w, grad_h, grad_c, grad_b, grad_b, None
