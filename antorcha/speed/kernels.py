"""Compiled loops for the fused ops, with NumPy fallbacks of the same meaning.

NumPy runs one pass over memory per call. After the (rows, H) pre-activation of a
layer comes out of BLAS, the fused MLP needs three more passes over it (the mask,
relu, the product with the next layer's weights); one compiled loop does all three
while each row is in registers. With Numba installed (the `speed` extra) that loop
is compiled on first use and cached on disk; without it the NumPy passes run.

More array formulas take loops here, for the same reason:
- relu's backward: a select, instead of NumPy's four passes of a bit mask;
- gelu(tanh): three passes instead of nine forward, one instead of a dozen backward;
- layer_norm: one row at a time, instead of eight passes over the whole input forward and some
  twenty Tensor ops backward;
- attention's softmax: two row loops around NumPy's exp forward, one loop backward;
- embedding's backward: a scatter-add of rows, instead of np.add.at's slow generic loop.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np


def relu_mask_and_output_numpy(pre: Any, w2: Any, mask: Any, out: Any) -> None:
    """The same three steps as NumPy passes; `pre` is overwritten with relu(pre)."""
    np.greater(pre, 0, out=mask)
    np.multiply(pre, mask, out=pre)  # relu as one cheap pass (np.maximum with a scalar is slower)
    np.matmul(pre, w2.T, out=out)


@functools.cache  # one dispatcher per process: it compiles (or loads from the disk cache) once
def _compile_with_numba() -> Any:
    try:
        import numba
    except ImportError:
        return None

    # reassoc lets the sum over hidden units run in SIMD lanes (any order is a valid
    # float sum, as BLAS's is); contract allows FMA. No fast-math on NaN or infinity.
    @numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
    def relu_mask_and_output(pre: Any, w2: Any, mask: Any, out: Any) -> None:  # pragma: no cover - compiled
        rows, hidden = pre.shape
        one, zero = pre.dtype.type(1), pre.dtype.type(0)
        for i in range(rows):
            p, m = pre[i], mask[i]
            for j in range(hidden):
                m[j] = one if p[j] > 0 else zero
            for o in range(w2.shape[0]):
                w = w2[o]
                total = zero
                for j in range(hidden):
                    total += p[j] * m[j] * w[j]  # NaN * 0 stays NaN, as relu(NaN) is NaN
                out[i, o] = total

    return relu_mask_and_output


_implementation: Any = None


def relu_mask_and_output(pre: Any, w2: Any, mask: Any, out: Any) -> None:
    """mask = (pre > 0) as 0/1 floats; out = relu(pre) @ w2.T; `pre` may be overwritten.

    Numba is imported on the first call, not with antorcha: importing it is slow.
    """
    global _implementation
    if _implementation is None:
        _implementation = _compile_with_numba() or relu_mask_and_output_numpy
    _implementation(pre, w2, mask, out)


def _flat_float_arrays(*arrays: Any) -> bool:
    """Whether the compiled loops take these arrays: NumPy, float32 or float64 alike, one shape,
    C order (so that a flat view reads each in the same order)."""
    first = arrays[0]
    if type(first) is not np.ndarray or first.dtype.char not in "fd":
        return False
    for a in arrays:  # a loop, not all() over a generator: this runs on every relu backward
        if type(a) is not np.ndarray or a.dtype != first.dtype or a.shape != first.shape:
            return False
        if not a.flags.c_contiguous:
            return False
    return True


@functools.cache
def _compile_threshold_backward() -> Any:
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(nogil=True, cache=True)
    def zeroed_where_at_most(grad: Any, y: Any, threshold: Any, out: Any) -> None:  # pragma: no cover
        for i in range(grad.size):  # a select: NaN in y keeps its gradient
            if y[i] <= threshold:
                out[i] = 0.0
            else:
                out[i] = grad[i]

    @numba.njit(nogil=True, cache=True)
    def zeroed_in_place_where_at_most(grad: Any, y: Any, threshold: Any) -> None:  # pragma: no cover
        for i in range(grad.size):  # writes only the zeros
            if y[i] <= threshold:
                grad[i] = 0.0

    return zeroed_where_at_most, zeroed_in_place_where_at_most


def zeroed_where_at_most(grad: Any, y: Any, threshold: float, out: Any) -> bool:
    """out = grad with +0 where y <= threshold, as one compiled pass over flat float32/float64
    arrays of one shape (NumPy's version takes four); False, doing nothing, without Numba or
    for other arrays: the caller then runs the NumPy passes.

    Numba is imported on the first call, not with antorcha.
    """
    kernels = _compile_threshold_backward() if _flat_float_arrays(grad, y, out) else None
    if kernels is None:
        return False
    threshold = grad.dtype.type(threshold)  # compared in the arrays' type, as torch does
    select, select_in_place = kernels
    if out is grad:
        select_in_place(grad.reshape(-1), y.reshape(-1), threshold)
    else:
        select(grad.reshape(-1), y.reshape(-1), threshold, out.reshape(-1))
    return True


@functools.cache
def _compile_gelu_tanh() -> Any:
    try:
        import numba
    except ImportError:
        return None

    # Gelu's and GeluBackward's NumPy passes element by element, in the same order and the
    # arrays' own type (each constant comes in that type). The forward's tanh stays NumPy's
    # (vectorised; Numba's scalar tanh is slower), between the loop for its argument u and the
    # loop for the output.
    @numba.njit(nogil=True, cache=True)
    def inner(x: Any, one: Any, coef: Any, scale: Any, out: Any) -> None:  # pragma: no cover
        for i in range(x.size):
            v = x[i]
            out[i] = (v * v * coef + one) * v * scale

    @numba.njit(nogil=True, cache=True)
    def output(x: Any, tanh: Any, one: Any, half: Any, out: Any) -> None:  # pragma: no cover
        for i in range(x.size):
            out[i] = (tanh[i] + one) * x[i] * half

    @numba.njit(nogil=True, cache=True)
    def backward(
        grad: Any, x: Any, tanh: Any, one: Any, half: Any, coef3: Any, half_scale: Any, out: Any
    ) -> None:  # pragma: no cover
        for i in range(x.size):
            v, t = x[i], tanh[i]
            half_x_du = (v * v * coef3 + one) * half_scale * v * (one - t * t)
            out[i] = ((t + one) * half + half_x_du) * grad[i]

    return inner, output, backward


def gelu_tanh(x: Any, coef: float, scale: float) -> tuple | None:
    """(gelu(x), tanh(u)) for approximate="tanh": a loop for u, NumPy's tanh in place, a loop for
    0.5 x (1 + tanh(u)); None where the NumPy passes must run."""
    loops = _compile_gelu_tanh() if _flat_float_arrays(x) else None
    if loops is None:
        return None
    inner, output, _ = loops
    kind = x.dtype.type
    flat = x.reshape(-1)
    tanh, out = np.empty_like(x), np.empty_like(x)
    inner(flat, kind(1), kind(coef), kind(scale), tanh.reshape(-1))
    np.tanh(tanh, out=tanh)
    output(flat, tanh.reshape(-1), kind(1), kind(0.5), out.reshape(-1))
    return out, tanh


def gelu_tanh_backward(grad: Any, x: Any, tanh: Any, coef: float, scale: float) -> Any:
    """grad * gelu'(x) for approximate="tanh", given the forward's tanh(u), in one compiled pass;
    None where the NumPy passes must run."""
    loops = _compile_gelu_tanh() if _flat_float_arrays(x, grad, tanh) else None
    if loops is None:
        return None
    kernel = loops[2]
    kind = x.dtype.type
    out = np.empty_like(x)
    flat = [a.reshape(-1) for a in (grad, x, tanh)]
    kernel(*flat, kind(1), kind(0.5), kind(3 * coef), kind(0.5 * scale), out.reshape(-1))
    return out


@functools.cache
def _compile_layer_norm() -> Any:
    try:
        import numba
    except ImportError:
        return None

    # NativeLayerNorm's forward row by row: the mean, the centred row, its mean square, rstd, then
    # scale and shift, each rounded to the arrays' type where NumPy's passes round. The sums run
    # in float64 (which NumPy's pairwise float32 sums approach), in any order (reassoc: SIMD
    # lanes). `weight`/`bias` may be empty.
    @numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
    def layer_norm_rows(
        x: Any, weight: Any, bias: Any, eps: Any, one: Any, out: Any, mean: Any, rstd: Any
    ) -> None:  # pragma: no cover
        rows, cols = x.shape
        for i in range(rows):
            row, out_row = x[i], out[i]
            total = 0.0
            for j in range(cols):
                total += row[j]
            mean[i] = total / cols
            m = mean[i]
            squares = 0.0
            for j in range(cols):
                centred = row[j] - m
                out_row[j] = centred
                squares += centred * centred
            rstd[i] = squares / cols
            r = one / np.sqrt(rstd[i] + eps)
            rstd[i] = r
            for j in range(cols):
                out_row[j] *= r
            if weight.size:
                for j in range(cols):
                    out_row[j] *= weight[j]
            if bias.size:
                for j in range(cols):
                    out_row[j] += bias[j]

    return layer_norm_rows


def layer_norm(x: Any, n_dims: int, eps: float, weight: Any = None, bias: Any = None) -> tuple | None:
    """(out, mean, rstd) of layer_norm over the last `n_dims` dims in one compiled loop, the
    statistics shaped as NumPy's keepdims; None where the NumPy passes must run."""
    extra = [a for a in (weight, bias) if a is not None]
    if not _flat_float_arrays(x) or not all(
        type(a) is np.ndarray and a.dtype == x.dtype and a.flags.c_contiguous for a in extra
    ):
        return None
    cols = int(np.prod(x.shape[x.ndim - n_dims :]))
    kernel = _compile_layer_norm() if cols else None
    if kernel is None:
        return None
    rows = x.size // cols
    statistics_shape = x.shape[: x.ndim - n_dims] + (1,) * n_dims
    out = np.empty_like(x)
    mean, rstd = np.empty(statistics_shape, x.dtype), np.empty(statistics_shape, x.dtype)
    none = np.empty(0, x.dtype)
    weight = none if weight is None else weight.reshape(-1)
    bias = none if bias is None else bias.reshape(-1)
    kind = x.dtype.type
    kernel(
        x.reshape(rows, cols),
        weight,
        bias,
        kind(eps),
        kind(1),
        out.reshape(rows, cols),
        mean.reshape(-1),
        rstd.reshape(-1),
    )
    return out, mean, rstd


@functools.cache
def _compile_layer_norm_backward() -> Any:
    try:
        import numba
    except ImportError:
        return None

    # NativeLayerNorm's backward row by row, from the forward's statistics:
    #   x_hat = (x - mean) rstd,  g_hat = grad weight,
    #   grad_x = rstd (g_hat - mean(g_hat) - x_hat mean(g_hat x_hat)),
    #   grad_weight = sum over rows of grad x_hat,  grad_bias = sum over rows of grad.
    # Sums run in float64, in any order (reassoc). An empty array: not wanted (or no weight).
    @numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
    def layer_norm_backward_rows(
        grad: Any, x: Any, weight: Any, mean: Any, rstd: Any, grad_x: Any, grad_w: Any, grad_b: Any
    ) -> None:  # pragma: no cover
        rows, cols = x.shape
        sum_w = np.zeros(cols if grad_w.size else 0)
        sum_b = np.zeros(cols if grad_b.size else 0)
        g_hat = np.empty(cols, x.dtype)
        x_hat = np.empty(cols, x.dtype)
        for i in range(rows):
            g_row, m, r = grad[i], mean[i], rstd[i]
            for j in range(cols):
                x_hat[j] = (x[i, j] - m) * r
            if sum_w.size:
                for j in range(cols):
                    sum_w[j] += g_row[j] * x_hat[j]
            if sum_b.size:
                for j in range(cols):
                    sum_b[j] += g_row[j]
            if grad_x.size:
                if weight.size:
                    for j in range(cols):
                        g_hat[j] = g_row[j] * weight[j]
                else:
                    g_hat[:] = g_row
                total, dot = 0.0, 0.0
                for j in range(cols):
                    total += g_hat[j]
                    dot += g_hat[j] * x_hat[j]
                mean_g, mean_gx = x.dtype.type(total / cols), x.dtype.type(dot / cols)
                out_row = grad_x[i]
                for j in range(cols):
                    out_row[j] = r * (g_hat[j] - mean_g - x_hat[j] * mean_gx)
        for j in range(sum_w.size):
            grad_w[j] = sum_w[j]
        for j in range(sum_b.size):
            grad_b[j] = sum_b[j]

    return layer_norm_backward_rows


def layer_norm_backward(
    grad: Any, x: Any, weight: Any, mean: Any, rstd: Any, n_dims: int, needs: tuple
) -> tuple | None:
    """(grad_x, grad_weight, grad_bias) of layer_norm over the last `n_dims` dims, in one
    compiled loop, each None where `needs` (three flags) says not wanted; None where the
    Tensor formula must run. `mean` and `rstd` are the forward's statistics."""
    if not _flat_float_arrays(x, grad) or not (weight is None or _flat_float_arrays(weight)):
        return None
    if weight is not None and weight.dtype != x.dtype:
        return None
    normalized = x.shape[x.ndim - n_dims :]
    cols = math.prod(normalized)
    kernel = _compile_layer_norm_backward() if cols else None
    if kernel is None:
        return None
    rows = x.size // cols
    none = np.empty(0, x.dtype)
    grad_x = np.empty_like(x) if needs[0] else None
    grad_w = np.empty(normalized, x.dtype) if needs[1] else None
    grad_b = np.empty(normalized, x.dtype) if needs[2] else None
    kernel(
        grad.reshape(rows, cols),
        x.reshape(rows, cols),
        none if weight is None else weight.reshape(-1),
        mean.reshape(-1),
        rstd.reshape(-1),
        none.reshape(0, 0) if grad_x is None else grad_x.reshape(rows, cols),
        none if grad_w is None else grad_w.reshape(-1),
        none if grad_b is None else grad_b.reshape(-1),
    )
    return grad_x, grad_w, grad_b


@functools.cache
def _compile_attention_softmax() -> Any:
    try:
        import numba
    except ImportError:
        return None

    # Attention's softmax over each row of the (rows, S) scores, around NumPy's SIMD exp:
    # `shift_rows` scales a row, masks it (causal: query i sees keys 0..i of its (L, S) matrix)
    # and subtracts its max. The mask is added as -inf, as torch adds it: a masked +inf or NaN
    # score becomes NaN. A row with nothing to attend to (max -inf) is left -inf, so that it
    # becomes 0s. The max may skip a NaN (fastmath): the NaN still reaches the row's sum, and
    # from there every probability of the row, as in NumPy's passes.
    @numba.njit(nogil=True, cache=True, fastmath=True)
    def row_max(row: Any) -> Any:  # pragma: no cover
        top = row.dtype.type(-np.inf)
        for j in range(row.size):
            value = row[j]
            top = value if value > top else top
        return top

    @numba.njit(nogil=True, cache=True)
    def shift_rows(scores: Any, length: int, scale: Any, causal: bool) -> None:  # pragma: no cover
        rows, keys = scores.shape
        minus_inf = scores.dtype.type(-np.inf)
        for r in range(rows):
            row = scores[r]
            for j in range(keys):
                row[j] *= scale
            if causal:
                for j in range(min(r % length + 1, keys), keys):
                    row[j] += minus_inf
            top = row_max(row)
            if top != minus_inf:
                for j in range(keys):
                    row[j] -= top

    @numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
    def normalize_rows(probs: Any, masked: Any) -> None:  # pragma: no cover
        rows, keys = probs.shape
        for r in range(rows):
            row = probs[r]
            total = 0.0
            for j in range(keys):
                total += row[j]
            masked[r] = total == 0  # every key masked: exp gave 0s
            if total != 0:
                divisor = row.dtype.type(total)
                for j in range(keys):
                    row[j] /= divisor

    # dS = P (dP - rowsum(dP P)) scale, written over dP
    @numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
    def softmax_backward_rows(probs: Any, grad: Any, scale: Any) -> None:  # pragma: no cover
        rows, keys = probs.shape
        for r in range(rows):
            p, g = probs[r], grad[r]
            dot = 0.0
            for j in range(keys):
                dot += g[j] * p[j]
            centre = g.dtype.type(dot)
            for j in range(keys):
                g[j] = p[j] * (g[j] - centre) * scale

    return shift_rows, normalize_rows, softmax_backward_rows


def attention_probabilities(scores: Any, scale: float, causal: bool) -> tuple | None:
    """softmax(scores · scale, masked causally if asked) over the last dim, in place in the
    C-order (..., L, S) `scores`, and the rows that had nothing to attend to (None when there are
    none); None where the NumPy passes must run."""
    loops = _compile_attention_softmax() if _flat_float_arrays(scores) and scores.ndim >= 2 else None
    if loops is None or not scores.size:
        return None
    shift_rows, normalize_rows, _ = loops
    length, keys = scores.shape[-2:]
    rows = scores.reshape(-1, keys)
    shift_rows(rows, length, scores.dtype.type(scale), causal)
    np.exp(rows, out=rows)
    masked = np.empty(scores.shape[:-1] + (1,), dtype=bool)
    normalize_rows(rows, masked.reshape(-1))
    return scores, (masked if masked.any() else None)


def softmax_backward_scaled(probs: Any, grad: Any, scale: float) -> Any | None:
    """probs (grad - rowsum(grad probs)) · scale over the last dim, written over `grad` (a new
    C-order array of probs' shape); None where the Tensor formula must run."""
    loops = _compile_attention_softmax() if _flat_float_arrays(probs, grad) and probs.ndim >= 1 else None
    if loops is None or not probs.size:
        return None
    keys = probs.shape[-1]
    loops[2](probs.reshape(-1, keys), grad.reshape(-1, keys), probs.dtype.type(scale))
    return grad


@functools.cache
def _compile_add_rows_at() -> Any:
    try:
        import numba
    except ImportError:
        return None

    # np.add.at's scatter-add of whole rows, in its order (row by row, each column in turn), so
    # the sums round as NumPy's and torch's embedding backward round them
    @numba.njit(nogil=True, cache=True)
    def add_rows(target: Any, index: Any, rows: Any) -> None:  # pragma: no cover
        for i in range(index.size):
            out_row, row = target[index[i]], rows[i]
            for j in range(row.size):
                out_row[j] += row[j]

    return add_rows


def add_rows_at(target: Any, index: Any, rows: Any) -> bool:
    """target[index[i]] += rows[i] for each i, repeated indices accumulating, in one compiled loop;
    False (nothing done) where np.add.at must run."""
    if not (_flat_float_arrays(target) and _flat_float_arrays(rows)) or rows.dtype != target.dtype:
        return False
    if type(index) is not np.ndarray or index.dtype.kind not in "iu" or index.ndim != 1:
        return False
    if rows.shape != index.shape + target.shape[1:] or target.ndim != 2:
        return False
    kernel = _compile_add_rows_at()
    if kernel is None or (index.size and not -len(target) <= index.min() <= index.max() < len(target)):
        return False  # out of range: NumPy raises (the compiled loop would not check)
    kernel(target, index, rows)
    return True


def load() -> bool:
    """Compile (or load from the disk cache) the backward formulas' loops now, not on their first
    call; whether Numba is there. Numba and LLVM take about 120 MiB of memory once loaded: the
    benchmarks load them before measuring a step's memory, as torch's libraries are loaded by
    its import."""
    loops = [
        _compile_threshold_backward(),
        _compile_gelu_tanh(),
        _compile_layer_norm(),
        _compile_layer_norm_backward(),
        _compile_attention_softmax(),
        _compile_add_rows_at(),
    ]
    if None in loops:
        return False
    one = np.zeros(1, np.float32)
    zeroed_where_at_most(one, one, 0.0, np.empty_like(one))
    in_place = one.copy()
    zeroed_where_at_most(in_place, one, 0.0, in_place)  # out is grad: the in-place loop
    gelu_tanh(one, 0.0, 0.0)
    gelu_tanh_backward(one, one, one, 0.0, 0.0)
    layer_norm(one, 1, 1e-5, one, one)
    layer_norm(one, 1, 1e-5)
    layer_norm_backward(one, one, one, one, one, 1, (True, True, True))
    layer_norm_backward(one, one, None, one, one, 1, (True, False, False))
    square = np.zeros((1, 1), np.float32)
    attention_probabilities(square, 1.0, True)
    softmax_backward_scaled(square, square.copy(), 1.0)
    add_rows_at(square, np.zeros(1, np.int64), square.copy())
    from antorcha.speed import window_kernels  # the sliding-window loops (pooling, im2col) live beside these

    return window_kernels.load()
