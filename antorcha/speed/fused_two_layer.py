"""Linear -> ReLU -> Linear with few outputs (the lesson's MLP) as one chunked op.

Forward, per chunk of rows (the bias is folded into the matmul by a ones column):

    pre = [x, 1] @ [W1, b1].T        # (rows, H)
    out = relu(pre) @ W2.T (+ b2)    # (rows, O)

Backward needs no (rows, H) gradient at all. With M = (pre > 0) as 0/1 floats and
g = dL/dout, both weight gradients are contractions of one small matrix

    G[j, o, k] = sum_i M[i, j] * g[i, o] * [x, 1][i, k]         # (H, O, in + 1)

because relu(pre)[i, j] = M[i, j] * sum_k [W1, b1][j, k] * [x, 1][i, k]:

    dL/dW2[o, j]       = sum_k [W1, b1][j, k] * G[j, o, k]
    dL/d[W1, b1][j, k] = sum_o W2[o, j] * G[j, o, k]

The forward keeps M (up to 64 MiB; above that the backward recomputes it chunk by
chunk from a thin matmul), so the backward is one matmul, M.T @ (g * [x, 1]).
Eager autograd makes five passes over (rows, H) arrays instead, and keeps them all
in memory. The identity holds for finite values; with an infinite or NaN input,
weight, output or gradient, an input that needs a gradient, or create_graph, the
backward runs the generic chunked path (`fused_chain.py`), whose arithmetic is torch's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from antorcha._device import quiet_float_errors
from antorcha._grad_mode import is_grad_enabled
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.speed.fused_chain import chain_backward
from antorcha.speed.kernels import relu_mask_and_output
from antorcha.speed.threads import rows_per_chunk, run_split

# The forward keeps the whole (B, H) mask for backward up to this size; above it
# (the lesson's full batch: 800 MB) backward recomputes it chunk by chunk instead
_KEEP_MASK_BYTES = 64 * 2**20
# Threads pay only on big batches: below this many rows per worker, the hand-offs and the
# GIL held between NumPy calls cost more than the second core saves
_MIN_ROWS_PER_WORKER = 16384
# torch computes with infinities and NaNs silently; NumPy would warn
# The moment matrix G is (H, O * (in + 1)): worth it while that is narrow
MAX_MOMENT_COLUMNS = 64


def is_two_layer_relu(layers: list) -> bool:
    """Whether a traced chain is Linear -> ReLU -> Linear with a narrow moment matrix."""
    if len(layers) != 2 or not layers[0].relu or layers[1].relu:
        return False
    inputs, outputs = layers[0].weight.shape[1], layers[1].weight.shape[0]
    return outputs * (inputs + 1) <= MAX_MOMENT_COLUMNS


def _with_bias_column(weight: Any, bias: Any) -> Any:
    return np.concatenate([weight, bias.reshape(-1, 1)], axis=1)  # (H, in + 1)


def _with_ones_column(x_rows: Any, buffer: Any) -> Any:
    """[x, 1] (rows, in + 1) for a chunk: a transposed view of `buffer`, whose last row holds ones.

    Stored transposed, the copy runs over all the rows once per input column; into a
    row-major (rows, in + 1) buffer NumPy would copy only `in` elements per inner loop.
    BLAS reads the transposed view as it is.
    """
    rows = x_rows.shape[0]
    np.copyto(buffer[:-1, :rows], x_rows.T)
    return buffer[:, :rows].T


def _ones_buffer(chunk: int, inputs: int, dtype: Any) -> Any:
    """The transposed buffer for `_with_ones_column`: (in + 1, chunk), its last row ones."""
    buffer = np.empty((inputs + 1, chunk), dtype=dtype)
    buffer[-1] = 1
    return buffer


class FusedTwoLayerReLU(Op):
    """relu(x @ W1.T + b1) @ W2.T + b2, chunked; backward through the moment matrix G."""

    @staticmethod
    def forward(ctx: Any, x: Any, w1: Any, b1: Any, w2: Any, b2: Any, chunk: int) -> Any:
        w1_ones = _with_bias_column(w1, b1)  # (H, in + 1)
        rows, hidden = x.shape[0], w1.shape[0]
        # nothing is kept for backward when no input needs a gradient (under no_grad, say)
        keep = any(ctx.needs_input_grad) and rows * hidden * x.dtype.itemsize <= _KEEP_MASK_BYTES
        mask = np.empty((rows, hidden), dtype=x.dtype) if keep else None  # (B, H) 0/1
        with quiet_float_errors():
            out = _forward(x, w1_ones, w2, b2, chunk, mask)
            # relu as pre * mask turns pre = -inf into NaN: such rare inputs take the exact path
            finite = _all_finite(out)
            if not finite:
                out, mask = _forward_exact(x, w1, b1, w2, b2), None
        # w1_ones and the mask are saved as constants: freed with the graph, kept by retain_graph
        ctx.save_for_backward(x, w1, b1, w2, b2, w1_ones, mask)
        ctx.chunk, ctx.finite_output = chunk, finite
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        with quiet_float_errors():
            return _backward(ctx, grad)


def _backward(ctx: Any, grad: Tensor) -> tuple:
    """Through the moments when exact, else the generic chunked path."""
    x, w1, b1, w2, b2, w1_ones, mask = ctx.saved_tensors
    w1_ones = w1_ones._data
    g = grad._data
    moments = None
    if not is_grad_enabled() and not ctx.needs_input_grad[0] and ctx.finite_output:
        moments = _moments(g, x._data, w1_ones, None if mask is None else mask._data, ctx.chunk)
    # A finite output and G mean finite inputs, weights and g (an infinity or NaN in
    # any of them reaches G or the output), so the identity holds exactly
    if moments is None or not _all_finite(moments):
        # create_graph, an input gradient or non-finite values: the generic chunked path
        return chain_backward(grad, x, [w1, b1, w2, b2], (True, False), ctx.chunk, ctx.needs_input_grad[0])
    grad_w1, grad_b1, grad_w2 = _gradients_from_moments(moments, w1_ones, w2._data)
    grads = (None, grad_w1, grad_b1, grad_w2, g.sum(axis=0))  # dL/db2: (O,)
    device = grad._device
    return tuple(
        wrap(value, device=device) if value is not None and needed else None
        for value, needed in zip(grads, ctx.needs_input_grad)
    )


def _forward(x: Any, w1_ones: Any, w2: Any, b2: Any, chunk: int, mask: Any) -> Any:
    """The output (B, O), chunk by chunk; fills `mask` (B, H) with relu's derivative when given."""
    out = np.empty((x.shape[0], w2.shape[0]), dtype=x.dtype)  # (B, O)

    def forward_rows(start: int, stop: int) -> None:
        x_ones = _ones_buffer(min(chunk, stop - start), x.shape[1], x.dtype)
        pre_buffer = np.empty((x_ones.shape[1], w1_ones.shape[0]), dtype=x.dtype)
        mask_buffer = np.empty_like(pre_buffer) if mask is None else None
        for lo in range(start, stop, chunk):
            hi = min(lo + chunk, stop)
            pre = pre_buffer[: hi - lo]
            chunk_mask = mask_buffer[: hi - lo] if mask is None else mask[lo:hi]
            np.matmul(_with_ones_column(x[lo:hi], x_ones), w1_ones.T, out=pre)  # (rows, H)
            relu_mask_and_output(pre, w2, chunk_mask, out[lo:hi])  # mask (rows, H), out (rows, O)

    run_split(forward_rows, x.shape[0], chunk, _MIN_ROWS_PER_WORKER)
    out += b2
    return out


def _all_finite(array: Any) -> bool:
    """No infinity or NaN in `array` (a sum that overflows answers False: the exact path then runs)."""
    return math.isfinite(array.sum())


def _forward_exact(x: Any, w1: Any, b1: Any, w2: Any, b2: Any) -> Any:
    """Eager's arithmetic, for inputs with infinities or NaNs."""
    return np.maximum(x @ w1.T + b1, 0) @ w2.T + b2


def _moments(g: Any, x: Any, w1_ones: Any, mask: Any, chunk: int) -> Any:
    """G = M.T @ (g * [x, 1]) as (H, O, in + 1): from the kept mask, or recomputed chunk by chunk."""
    rows, inputs = x.shape
    hidden, outputs = w1_ones.shape[0], g.shape[1]
    columns = outputs * (inputs + 1)
    if mask is not None:  # one matmul over all the rows (BLAS threads it when it is big)
        moments = mask.T @ _weighted_inputs(g, x)  # (H, padded columns)
        return moments[:, :columns].reshape(hidden, outputs, inputs + 1)

    def moments_of_rows(start: int, stop: int) -> Any:
        x_ones = _ones_buffer(min(chunk, stop - start), inputs, x.dtype)
        pre = np.empty((x_ones.shape[1], hidden), dtype=x.dtype)
        moments = np.zeros((hidden, _padded(columns)), dtype=x.dtype)
        partial = np.empty_like(moments)
        for lo in range(start, stop, chunk):
            hi = min(lo + chunk, stop)
            # recompute this chunk's mask exactly as the forward made it
            chunk_mask = pre[: hi - lo]
            np.matmul(_with_ones_column(x[lo:hi], x_ones), w1_ones.T, out=chunk_mask)
            np.greater(chunk_mask, 0, out=chunk_mask)
            np.matmul(chunk_mask.T, _weighted_inputs(g[lo:hi], x[lo:hi]), out=partial)
            moments += partial
        return moments

    parts = run_split(moments_of_rows, rows, chunk, _MIN_ROWS_PER_WORKER)
    return sum(parts[1:], parts[0])[:, :columns].reshape(hidden, outputs, inputs + 1)


def _padded(columns: int) -> int:
    """Columns rounded up to a multiple of 4, the width BLAS's matmul kernels work in."""
    return -(-columns // 4) * 4


def _weighted_inputs(g: Any, x: Any) -> Any:
    """g[i, o] * [x, 1][i, k] as a (rows, O * (in + 1)) matrix, zero columns padded to `_padded`.

    Built transposed, one row of the result per (o, k): each multiply then runs over all
    the rows at once. Written row by row, NumPy's inner loop would be only `in` elements long.
    """
    rows, outputs, inputs = x.shape[0], g.shape[1], x.shape[1]
    columns = outputs * (inputs + 1)
    transposed = np.empty((_padded(columns), rows), dtype=x.dtype)  # (padded, rows)
    for o in range(outputs):
        first = o * (inputs + 1)
        np.multiply(x.T, g[:, o], out=transposed[first : first + inputs])
        transposed[first + inputs] = g[:, o]
    transposed[columns:] = 0
    return transposed.T  # (rows, padded), a view


def _gradients_from_moments(moments: Any, w1_ones: Any, w2: Any) -> tuple:
    """dL/dW1, dL/db1 and dL/dW2 as contractions of G (see the module docstring).

    dL/dW1 and dL/db1 are handed over as views of one (H, in + 1) array: the leaf
    takes a C-order copy on its first accumulation, as for any gradient.
    """
    if moments.shape[1] == 1:  # one output (the lesson): plain broadcasts beat einsum's set-up
        single = moments[:, 0, :]  # (H, in + 1)
        grad_w1_ones = single * w2.reshape(-1, 1)  # w2[0, j] * G[j, 0, k]
        grad_w2 = (single * w1_ones).sum(axis=1).reshape(1, -1)  # (1, H)
    else:
        grad_w1_ones = np.einsum("oj,jok->jk", w2, moments)  # (H, in + 1)
        grad_w2 = np.einsum("jk,jok->oj", w1_ones, moments)  # (O, H)
    return grad_w1_ones[:, :-1], grad_w1_ones[:, -1], grad_w2


def fused_two_layer(x: Tensor, layers: list) -> Tensor:
    first, second = layers
    chunk = rows_per_chunk(first.weight.shape[0], x._data.itemsize)
    return FusedTwoLayerReLU.apply(x, first.weight, first.bias, second.weight, second.bias, params=(chunk,))
