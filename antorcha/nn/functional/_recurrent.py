"""The recurrent layers' op: one graph node per layer and direction, over all its time steps.

`recurrent_layer` projects the inputs of every time step at once (one GEMM, `linear`), then runs
the recurrence as one `Op` (`LSTMLayer`, `GRULayer`, `RNNTanhLayer`, `RNNReluLayer`). Its forward
loops over time on arrays: per step one `h @ W_hh^T` and the gates' nonlinearities in a few array
passes. Its backward is back-propagation through time, written once over a small "math" interface
(`_ArrayMath` on raw arrays, `_TensorMath` on Tensors): with no graph being built it runs on the
arrays the forward kept; under create_graph it replays the forward on Tensors from the saved inputs
and runs the same formula on Tensors, so a second derivative sees every dependency.
`W_hh`'s gradient is one GEMM over all time steps.

Variable-length batches (packed sequences) are padded (T, N, ...) arrays with `batch_sizes[t]`
sequences active at step t (sorted by decreasing length): a step updates only the first rows,
so every sequence's state stops at its own last step.
"""

from __future__ import annotations

from typing import Any

from antorcha._device import xp_of
from antorcha._grad_mode import is_grad_enabled
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops.linalg import linear
from antorcha.ops.movement import cat, stack


class _ArrayMath:
    """The formulas' operations on raw arrays of one array module."""

    def __init__(self, xp: Any) -> None:
        self.xp = xp

    def sigmoid(self, x: Any) -> Any:
        out = self.xp.negative(x)
        self.xp.exp(out, out=out)  # exp(-x) overflowing to inf gives 1 / inf = 0: exact
        out += 1
        return self.xp.reciprocal(out, out=out)

    def tanh(self, x: Any) -> Any:
        return self.xp.tanh(x)

    def relu(self, x: Any) -> Any:
        return self.xp.maximum(x, 0)

    def positive(self, x: Any) -> Any:
        return (x > 0).astype(x.dtype)

    def cat(self, parts: list, dim: int = 0) -> Any:
        return self.xp.concatenate(parts, axis=dim)

    def stack(self, parts: list) -> Any:
        return self.xp.stack(parts)

    def zeros(self, rows: int, like: Any) -> Any:
        return self.xp.zeros((rows, *like.shape[1:]), dtype=like.dtype)

    def t(self, x: Any) -> Any:
        return x.T

    def sum0(self, x: Any) -> Any:
        return x.sum(axis=0)


class _TensorMath:
    """The same operations on Tensors: the formulas then build a graph (create_graph)."""

    @staticmethod
    def sigmoid(x: Tensor) -> Tensor:
        return x.sigmoid()

    @staticmethod
    def tanh(x: Tensor) -> Tensor:
        return x.tanh()

    @staticmethod
    def relu(x: Tensor) -> Tensor:
        return x.relu()

    @staticmethod
    def positive(x: Tensor) -> Tensor:
        return (x > 0).to(x.dtype)

    @staticmethod
    def cat(parts: list, dim: int = 0) -> Tensor:
        return cat(parts, dim)

    @staticmethod
    def stack(parts: list) -> Tensor:
        return stack(parts)

    @staticmethod
    def zeros(rows: int, like: Tensor) -> Tensor:
        return like.new_zeros((rows, *like.shape[1:]))

    @staticmethod
    def t(x: Tensor) -> Tensor:
        return x.t()

    @staticmethod
    def sum0(x: Tensor) -> Tensor:
        return x.sum(0)


# ---- the cells: one step forward and its derivative, over either math ----------------------


class _LSTMCell:
    """Gates i, f, g, o: c' = f c + i g, h' = o tanh(c')."""

    gates, has_cell, bias_in_gates = 4, True, True

    @staticmethod
    def step(m: Any, pre_x: Any, pre_h: Any, h: Any, c: Any) -> tuple:
        pre = pre_x + pre_h  # (b, 4H)
        size = pre.shape[1] // 4  # not h's width: with proj_size, h is narrower
        s = m.sigmoid(pre)  # the g quarter is recomputed as tanh below; one call beats three
        g = m.tanh(pre[:, 2 * size : 3 * size])
        c_new = s[:, size : 2 * size] * c + s[:, :size] * g
        tanh_c = m.tanh(c_new)
        return s[:, 3 * size :] * tanh_c, c_new, (s, g, tanh_c)

    @staticmethod
    def step_grad(m: Any, kept: tuple, h: Any, c: Any, grad_h: Any, grad_c: Any) -> tuple:
        s, g, tanh_c = kept
        size = tanh_c.shape[1]
        i, f, o = s[:, :size], s[:, size : 2 * size], s[:, 3 * size :]
        grad_c_new = grad_h * o * (1 - tanh_c * tanh_c)
        if grad_c is not None:
            grad_c_new = grad_c_new + grad_c
        sig_i_f = s[:, : 2 * size]
        grad_pre = m.cat(
            [
                m.cat([grad_c_new * g, grad_c_new * c], 1) * sig_i_f * (1 - sig_i_f),
                grad_c_new * i * (1 - g * g),
                grad_h * tanh_c * o * (1 - o),
            ],
            1,
        )
        return grad_pre, grad_pre, None, grad_c_new * f


class _GRUCell:
    """Gates r, z, n: n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h."""

    gates, has_cell, bias_in_gates = 3, False, False

    @staticmethod
    def step(m: Any, pre_x: Any, pre_h: Any, h: Any, c: Any) -> tuple:
        size = h.shape[1]
        rz = m.sigmoid(pre_x[:, : 2 * size] + pre_h[:, : 2 * size])  # (b, 2H)
        hidden_n = pre_h[:, 2 * size :]
        n = m.tanh(pre_x[:, 2 * size :] + rz[:, :size] * hidden_n)
        return n + rz[:, size:] * (h - n), None, (rz, hidden_n, n)

    @staticmethod
    def step_grad(m: Any, kept: tuple, h: Any, c: Any, grad_h: Any, grad_c: Any) -> tuple:
        rz, hidden_n, n = kept
        size = h.shape[1]
        r, z = rz[:, :size], rz[:, size:]
        grad_n_pre = grad_h * (1 - z) * (1 - n * n)
        grad_rz = m.cat([grad_n_pre * hidden_n, grad_h * (h - n)], 1) * rz * (1 - rz)
        grad_x = m.cat([grad_rz, grad_n_pre], 1)
        grad_hidden = m.cat([grad_rz, grad_n_pre * r], 1)
        return grad_x, grad_hidden, grad_h * z, None


class _RNNCell:
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh), or relu."""

    gates, has_cell, bias_in_gates = 1, False, True
    relu = False

    @classmethod
    def step(cls, m: Any, pre_x: Any, pre_h: Any, h: Any, c: Any) -> tuple:
        pre = pre_x + pre_h
        h_new = m.relu(pre) if cls.relu else m.tanh(pre)
        return h_new, None, (h_new,)

    @classmethod
    def step_grad(cls, m: Any, kept: tuple, h: Any, c: Any, grad_h: Any, grad_c: Any) -> tuple:
        (h_new,) = kept
        grad_pre = grad_h * m.positive(h_new) if cls.relu else grad_h * (1 - h_new * h_new)
        return grad_pre, grad_pre, None, None


class _RNNReluCell(_RNNCell):
    relu = True


# ---- the loops over time -------------------------------------------------------------------


def _time_order(steps: int, reverse: bool) -> range:
    return range(steps - 1, -1, -1) if reverse else range(steps)


def _rows(x: Any, b: int, n: int) -> Any:
    return x if b == n else x[:b]


def _merge(m: Any, new: Any, old: Any, b: int, n: int) -> Any:
    """The state after a step where only the first b of n sequences were active."""
    return new if b == n else m.cat([new, old[b:]])


def _run_forward(m: Any, cell: Any, arrays: tuple, batch_sizes: tuple, reverse: bool) -> tuple:
    """(output (T, N, H), h_n, c_n, kept): kept holds per step (h, c, what step_grad reads, h before
    the projection)."""
    gx, w_hh, h, c, b_hh, w_hr = arrays
    steps, n = gx.shape[0], gx.shape[1]
    w_t = m.t(w_hh)
    w_hr_t = None if w_hr is None else m.t(w_hr)
    if b_hh is not None and cell.bias_in_gates:
        gx = gx + b_hh  # one pass over all steps instead of one add per step
    outputs: list = [None] * steps
    kept: list = [None] * steps
    for t in _time_order(steps, reverse):
        b = batch_sizes[t]
        h_rows, c_rows = _rows(h, b, n), (None if c is None else _rows(c, b, n))
        pre_h = h_rows @ w_t  # (b, G*H)
        if b_hh is not None and not cell.bias_in_gates:
            pre_h = pre_h + b_hh
        h_new, c_new, step_kept = cell.step(m, _rows(gx[t], b, n), pre_h, h_rows, c_rows)
        kept[t] = (h_rows, c_rows, step_kept, h_new)
        if w_hr_t is not None:  # LSTM with proj_size: h = (o tanh c) W_hr^T
            h_new = h_new @ w_hr_t
        outputs[t] = h_new if b == n else m.cat([h_new, m.zeros(n - b, h_new)])
        h = _merge(m, h_new, h, b, n)
        if c is not None:
            c = _merge(m, c_new, c, b, n)
    return m.stack(outputs), h, c, kept


def _run_backward(
    m: Any,
    cell: Any,
    weights: tuple,
    kept: list,
    grads: tuple,
    batch_sizes: tuple,
    reverse: bool,
    like: tuple,
) -> tuple:
    """Back-propagation through time: gradients of (gx, W_hh, h0, c0, b_hh, W_hr)."""
    w_hh, w_hr = weights
    grad_out, grad_h, grad_c = grads
    h0, c0 = like
    steps, n = len(kept), h0.shape[0]
    grad_h = m.zeros(n, h0) if grad_h is None else grad_h
    if c0 is not None and grad_c is None:
        grad_c = m.zeros(n, c0)
    grad_gx: list = [None] * steps
    hidden_grads, hidden_inputs, projection_grads, projection_inputs = [], [], [], []
    for t in reversed(_time_order(steps, reverse)):
        b = batch_sizes[t]
        h_rows, c_rows, step_kept, h_unprojected = kept[t]
        g_h = _rows(grad_h, b, n)
        if grad_out is not None:
            g_h = g_h + _rows(grad_out[t], b, n)
        if w_hr is not None:
            projection_grads.append(g_h)
            projection_inputs.append(h_unprojected)
            g_h = g_h @ w_hr  # (b, H)
        g_c = None if grad_c is None else _rows(grad_c, b, n)
        g_x, g_hidden, g_h_direct, g_c_prev = cell.step_grad(m, step_kept, h_rows, c_rows, g_h, g_c)
        g_h_prev = g_hidden @ w_hh  # (b, H)
        if g_h_direct is not None:
            g_h_prev = g_h_prev + g_h_direct
        grad_h = _merge(m, g_h_prev, grad_h, b, n)
        if grad_c is not None:
            grad_c = _merge(m, g_c_prev, grad_c, b, n)
        grad_gx[t] = g_x if b == n else m.cat([g_x, m.zeros(n - b, g_x)])
        hidden_grads.append(g_hidden)
        hidden_inputs.append(h_rows)
    all_hidden_grads = m.cat(hidden_grads)  # (sum of batch sizes, G*H): one GEMM for W_hh
    grad_w = m.t(all_hidden_grads) @ m.cat(hidden_inputs)
    grad_w_hr = None
    if w_hr is not None:
        grad_w_hr = m.t(m.cat(projection_grads)) @ m.cat(projection_inputs)
    return m.stack(grad_gx), grad_w, grad_h, grad_c, m.sum0(all_hidden_grads), grad_w_hr


class _Recurrence(Op):
    """Inputs (gx, w_hh, h0[, c0][, b_hh][, w_hr]); params (batch_sizes, reverse, has_bias)."""

    cell: Any = None
    projected = False

    @classmethod
    def _unpack(cls, args: tuple) -> tuple:
        *arrays, batch_sizes, reverse, has_bias = args
        gx, w_hh, h0 = arrays[:3]
        c0 = arrays[3] if cls.cell.has_cell else None
        rest = arrays[4 if cls.cell.has_cell else 3 :]
        b_hh = rest[0] if has_bias else None
        w_hr = rest[-1] if cls.projected else None
        return (gx, w_hh, h0, c0, b_hh, w_hr), batch_sizes, reverse

    @classmethod
    def forward(cls, ctx: Any, *args: Any) -> Any:
        arrays, batch_sizes, reverse = cls._unpack(args)
        gx = arrays[0]
        batch_sizes = batch_sizes or (gx.shape[1],) * gx.shape[0]
        out, h, c, kept = _run_forward(_ArrayMath(xp_of(gx)), cls.cell, arrays, batch_sizes, reverse)
        ctx.save_for_backward(*[a for a in arrays if a is not None])  # a saved None reads as an output
        ctx.present = tuple(a is not None for a in arrays)
        ctx.kept, ctx.batch_sizes, ctx.reverse = kept, batch_sizes, reverse
        return (out, h, c) if cls.cell.has_cell else (out, h)

    @classmethod
    def backward(cls, ctx: Any, *grads: Tensor | None) -> tuple:
        stored = iter(ctx.saved_tensors)
        saved = tuple(next(stored) if present else None for present in ctx.present)
        gx, w_hh, h0, c0, b_hh, w_hr = saved
        grads = tuple(grads) + (None,) * (3 - len(grads))
        if is_grad_enabled():  # create_graph: replay the forward on Tensors, then the same formula
            m, kept = _TensorMath, _run_forward(_TensorMath, cls.cell, saved, ctx.batch_sizes, ctx.reverse)[3]
            like, weights = (h0, c0), (w_hh, w_hr)
        else:
            m, kept = _ArrayMath(xp_of(gx._data)), ctx.kept
            grads = tuple(None if g is None else g._data for g in grads)
            like = (h0._data, None if c0 is None else c0._data)
            weights = (w_hh._data, None if w_hr is None else w_hr._data)
        result = _run_backward(m, cls.cell, weights, kept, grads, ctx.batch_sizes, ctx.reverse, like)
        if m is not _TensorMath:
            result = tuple(None if r is None else wrap(r, device=gx._device) for r in result)
        grad_gx, grad_w, grad_h0, grad_c0, grad_b, grad_w_hr = result
        ordered = [grad_gx, grad_w, grad_h0] + ([grad_c0] if cls.cell.has_cell else [])
        ordered += [grad_b] if b_hh is not None else []
        return tuple(ordered + ([grad_w_hr] if w_hr is not None else []))


class LSTMLayer(_Recurrence):
    cell = _LSTMCell


class LSTMProjLayer(_Recurrence):
    cell, projected = _LSTMCell, True


class GRULayer(_Recurrence):
    cell = _GRUCell


class RNNTanhLayer(_Recurrence):
    cell = _RNNCell


class RNNReluLayer(_Recurrence):
    cell = _RNNReluCell


LAYER_OPS = {
    "LSTM": LSTMLayer,
    "LSTM_PROJ": LSTMProjLayer,
    "GRU": GRULayer,
    "RNN_TANH": RNNTanhLayer,
    "RNN_RELU": RNNReluLayer,
}


def recurrent_layer(
    mode: str,
    input: Tensor,
    weights: tuple,
    hidden: tuple,
    batch_sizes: tuple | None = None,
    reverse: bool = False,
) -> tuple:
    """One layer, one direction, over (T, N, F) input: (output (T, N, H), h_n[, c_n]).

    weights = (w_ih, w_hh, b_ih, b_hh[, w_hr]) (biases may be None; w_hr for LSTM's proj_size);
    hidden = (h0,) or (h0, c0), each (N, H).
    """
    w_ih, w_hh, b_ih, b_hh = weights[:4]
    gx = linear(input, w_ih, b_ih)  # (T, N, G*H): every step's input projection in one GEMM
    inputs = (gx, w_hh, *hidden) + ((b_hh,) if b_hh is not None else ()) + tuple(weights[4:])
    return LAYER_OPS[mode].apply(*inputs, params=(batch_sizes, reverse, b_hh is not None))
