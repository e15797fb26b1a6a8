"""The recurrent layers' op: one graph node per layer and direction, over all its time steps.

`recurrent_layer` projects the inputs of every time step at once (one GEMM, `linear`), then runs
the recurrence as one `Op` (`LSTMLayer`, `GRULayer`, `RNNTanhLayer`, `RNNReluLayer`). Its forward
loops over time on arrays: per step one `h @ W_hh^T` and the gates' nonlinearities in a few array
passes. Its backward is back-propagation through time, written once over a small "math" interface
(`_ArrayMath` on raw arrays, `_TensorMath` on Tensors): with no graph being built it runs on the
arrays the forward kept; under create_graph it replays the forward on Tensors from the saved inputs
and runs the same formula on Tensors, so a second derivative sees every dependency.
`W_hh`'s gradient is one GEMM over all time steps.

Inputs and outputs are rows in a packed sequence's layout: step t's `batch_sizes[t]` rows follow
step t - 1's (sequences sorted by decreasing length; T * N rows when all run T steps). A step
updates only the first rows of the (N, H) state, so every sequence's state stops at its own last
step, and no padding is ever computed.
"""

from __future__ import annotations

from typing import Any

from antorcha._device import xp_of
from antorcha._grad_mode import is_grad_enabled
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops.linalg import linear
from antorcha.ops.movement import cat
from antorcha.speed import lstm_kernels


class _ArrayMath:
    """The formulas' operations on raw arrays of one array module."""

    def __init__(self, xp: Any) -> None:
        self.xp = xp

    # The formulas call add_ and sigmoid_ only on arrays they have just made: in place here,
    # out of place on Tensors.
    def add_(self, a: Any, b: Any) -> Any:
        a += b
        return a

    def sigmoid_(self, x: Any) -> Any:
        xp = self.xp
        xp.negative(x, out=x)
        xp.exp(x, out=x)  # exp(-x) overflowing to inf gives 1 / inf = 0: exact
        x += 1
        return xp.reciprocal(x, out=x)

    def tanh(self, x: Any) -> Any:
        return self.xp.tanh(x)

    def relu(self, x: Any) -> Any:
        return self.xp.maximum(x, 0)

    def positive(self, x: Any) -> Any:
        return (x > 0).astype(x.dtype)

    def cat(self, parts: list, dim: int = 0) -> Any:
        return self.xp.concatenate(parts, axis=dim)

    def zeros(self, rows: int, like: Any) -> Any:
        return self.xp.zeros((rows, *like.shape[1:]), dtype=like.dtype)

    def t(self, x: Any) -> Any:
        return x.T

    def weight_t(self, w: Any) -> Any:
        return self.xp.ascontiguousarray(w.T)  # a GEMM reads a contiguous (K, M) operand faster

    def sum0(self, x: Any) -> Any:
        return x.sum(axis=0)


class _TensorMath:
    """The same operations on Tensors: the formulas then build a graph (create_graph)."""

    @staticmethod
    def add_(a: Tensor, b: Tensor) -> Tensor:
        return a + b

    @staticmethod
    def sigmoid_(x: Tensor) -> Tensor:
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
    def zeros(rows: int, like: Tensor) -> Tensor:
        return like.new_zeros((rows, *like.shape[1:]))

    @staticmethod
    def t(x: Tensor) -> Tensor:
        return x.t()

    weight_t = t

    @staticmethod
    def sum0(x: Tensor) -> Tensor:
        return x.sum(0)


# ---- the cells -----------------------------------------------------------------------------
# Each cell has three parts, each written once over either math:
#   step(m, pre_x, pre_h, h, c) -> (h', c', kept): one step forward (pre_x, pre_h fresh (b, G*H));
#   factors(m, kept, h, c) -> the step's derivative factors, which do not depend on the incoming
#       gradient (computed step by step: over all steps at once they would stream through memory
#       instead of staying in cache, which measured no faster);
#   step_grad(m, factors, grad_h, grad_c) -> (grad_pre_x, grad_pre_h, grad_h_direct, grad_c_prev).
# antorcha/speed/lstm_kernels.py runs the LSTM's step and step_grad as compiled passes.


class _LSTMCell:
    """Gates i, f, g, o: c' = f c + i g, h' = o tanh(c')."""

    gates, has_cell, bias_in_gates, same_gate_grads = 4, True, True, True

    @staticmethod
    def step(m: Any, pre_x: Any, pre_h: Any, h: Any, c: Any) -> tuple:
        pre = m.add_(pre_h, pre_x)  # (b, 4H)
        size = pre.shape[1] // 4  # not h's width: with proj_size, h is narrower
        g = m.tanh(pre[:, 2 * size : 3 * size])
        s = m.sigmoid_(pre)  # the g quarter is computed but unused: one call beats three
        c_new = m.add_(s[:, size : 2 * size] * c, s[:, :size] * g)
        tanh_c = m.tanh(c_new)
        return s[:, 3 * size :] * tanh_c, c_new, (s, g, tanh_c)

    @staticmethod
    def factors(m: Any, kept: tuple, h: Any, c: Any) -> tuple:
        s, g, tanh_c = kept
        size = tanh_c.shape[1]
        i, f, o = s[:, :size], s[:, size : 2 * size], s[:, 3 * size :]
        through_c = o * (1 - tanh_c * tanh_c)  # d c' / d h'
        gates = m.cat([g * i * (1 - i), c * f * (1 - f), i * (1 - g * g), tanh_c * o * (1 - o)], 1)
        return through_c, gates, f

    @staticmethod
    def step_grad(m: Any, factors: tuple, grad_h: Any, grad_c: Any) -> tuple:
        through_c, gates, f = factors
        rows, size = through_c.shape
        grad_c_new = grad_h * through_c
        if grad_c is not None:
            grad_c_new = m.add_(grad_c_new, grad_c)
        from_c = gates[:, : 3 * size].reshape(rows, 3, size) * grad_c_new.reshape(rows, 1, size)
        grad_pre = m.cat([from_c.reshape(rows, 3 * size), grad_h * gates[:, 3 * size :]], 1)
        return grad_pre, grad_pre, None, grad_c_new * f


class _GRUCell:
    """Gates r, z, n: n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h."""

    gates, has_cell, bias_in_gates, same_gate_grads = 3, False, False, False

    @staticmethod
    def step(m: Any, pre_x: Any, pre_h: Any, h: Any, c: Any) -> tuple:
        size = h.shape[1]
        rz = m.sigmoid_(m.add_(pre_h[:, : 2 * size], pre_x[:, : 2 * size]))  # (b, 2H)
        hidden_n = pre_h[:, 2 * size :]
        n = m.tanh(m.add_(rz[:, :size] * hidden_n, pre_x[:, 2 * size :]))
        return m.add_(rz[:, size:] * (h - n), n), None, (rz, hidden_n, n)

    @staticmethod
    def factors(m: Any, kept: tuple, h: Any, c: Any) -> tuple:
        rz, hidden_n, n = kept
        size = n.shape[1]
        r, z = rz[:, :size], rz[:, size:]
        return (1 - z) * (1 - n * n), hidden_n * r * (1 - r), (h - n) * z * (1 - z), r, z

    @staticmethod
    def step_grad(m: Any, factors: tuple, grad_h: Any, grad_c: Any) -> tuple:
        through_n, n_to_r, to_z, r, z = factors
        grad_n_pre = grad_h * through_n
        grad_rz = m.cat([grad_n_pre * n_to_r, grad_h * to_z], 1)
        grad_x = m.cat([grad_rz, grad_n_pre], 1)
        grad_hidden = m.cat([grad_rz, grad_n_pre * r], 1)
        return grad_x, grad_hidden, grad_h * z, None


class _RNNCell:
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh), or relu."""

    gates, has_cell, bias_in_gates, same_gate_grads = 1, False, True, True
    relu = False

    @classmethod
    def step(cls, m: Any, pre_x: Any, pre_h: Any, h: Any, c: Any) -> tuple:
        pre = m.add_(pre_h, pre_x)
        h_new = m.relu(pre) if cls.relu else m.tanh(pre)
        return h_new, None, (h_new,)

    @classmethod
    def factors(cls, m: Any, kept: tuple, h: Any, c: Any) -> tuple:
        (h_new,) = kept
        return (m.positive(h_new) if cls.relu else 1 - h_new * h_new,)

    @staticmethod
    def step_grad(m: Any, factors: tuple, grad_h: Any, grad_c: Any) -> tuple:
        grad_pre = grad_h * factors[0]
        return grad_pre, grad_pre, None, None


class _RNNReluCell(_RNNCell):
    relu = True


# ---- the loops over time -------------------------------------------------------------------
# Rows layout: step t's b_t = batch_sizes[t] rows are rows starts[t] : starts[t] + b_t of gx and
# of the output (a packed sequence's own layout; T * N rows, step after step, when every sequence
# runs all T steps). The state (N, H) holds every sequence; a step updates its first b_t rows.


def _starts(batch_sizes: tuple) -> list[int]:
    starts, total = [], 0
    for b in batch_sizes:
        starts.append(total)
        total += b
    return starts


def _time_order(steps: int, reverse: bool) -> range:
    return range(steps - 1, -1, -1) if reverse else range(steps)


def _merge(m: Any, new: Any, old: Any, b: int) -> Any:
    """The state after a step where only the first b sequences were active."""
    return new if b == old.shape[0] else m.cat([new, old[b:]])


def _run_forward(m: Any, cell: Any, arrays: tuple, batch_sizes: tuple, reverse: bool) -> tuple:
    """(output rows (sum b_t, H), h_n, c_n, kept); kept[t] = (h, c, step's kept, h before projection)."""
    gx, w_hh, h, c, b_ih, b_hh, w_hr = arrays
    n = h.shape[0]
    w_t = m.weight_t(w_hh)
    w_hr_t = None if w_hr is None else m.weight_t(w_hr)
    if b_ih is not None:  # one pass over all steps (b_hh too, where it is outside the gates' products)
        gx = gx + (b_ih + b_hh if cell.bias_in_gates else b_ih)
    starts = _starts(batch_sizes)
    outputs: list = [None] * len(batch_sizes)
    kept: list = [None] * len(batch_sizes)
    for t in _time_order(len(batch_sizes), reverse):
        b, start = batch_sizes[t], starts[t]
        h_rows = h if b == n else h[:b]
        c_rows = None if c is None else (c if b == n else c[:b])
        pre_h = h_rows @ w_t  # (b, G*H)
        if b_hh is not None and not cell.bias_in_gates:
            pre_h = m.add_(pre_h, b_hh)
        h_new, c_new, step_kept = cell.step(m, gx[start : start + b], pre_h, h_rows, c_rows)
        kept[t] = (h_rows, c_rows, step_kept, h_new)
        if w_hr_t is not None:  # LSTM with proj_size: h = (o tanh c) W_hr^T
            h_new = h_new @ w_hr_t
        outputs[t] = h_new
        h = _merge(m, h_new, h, b)
        if c is not None:
            c = _merge(m, c_new, c, b)
    return m.cat(outputs), h, c, kept


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
    """Back-propagation through time: gradients of (gx, W_hh, h0, c0, b_ih, b_hh, W_hr)."""
    w_hh, w_hr = weights
    grad_out, grad_h, grad_c = grads
    h0, c0 = like
    steps, starts = len(kept), _starts(batch_sizes)
    grad_h = m.zeros(h0.shape[0], h0) if grad_h is None else grad_h
    if c0 is not None and grad_c is None:
        grad_c = m.zeros(c0.shape[0], c0)
    h_inputs = m.cat([k[0] for k in kept])
    grad_x: list = [None] * steps
    grad_hidden: list = [None] * steps
    projection_grads: list = [None] * steps
    for t in reversed(_time_order(steps, reverse)):
        b, start = batch_sizes[t], starts[t]
        g_h = grad_h if b == grad_h.shape[0] else grad_h[:b]
        if grad_out is not None:
            g_h = g_h + grad_out[start : start + b]
        if w_hr is not None:
            projection_grads[t] = g_h
            g_h = g_h @ w_hr  # (b, H)
        g_c = None if grad_c is None else (grad_c if b == grad_c.shape[0] else grad_c[:b])
        factors = cell.factors(m, kept[t][2], kept[t][0], kept[t][1])  # in cache, step by step
        grad_x[t], grad_hidden[t], g_h_direct, g_c_prev = cell.step_grad(m, factors, g_h, g_c)
        g_h_prev = grad_hidden[t] @ w_hh  # (b, H)
        if g_h_direct is not None:
            g_h_prev = m.add_(g_h_prev, g_h_direct)
        grad_h = _merge(m, g_h_prev, grad_h, b)
        if grad_c is not None:
            grad_c = _merge(m, g_c_prev, grad_c, b)
    grad_gx = m.cat(grad_x)
    all_hidden = grad_gx if cell.same_gate_grads else m.cat(grad_hidden)  # (sum b_t, G*H)
    grad_w = m.t(all_hidden) @ h_inputs  # one GEMM for all steps
    grad_w_hr = None
    if w_hr is not None:
        grad_w_hr = m.t(m.cat(projection_grads)) @ m.cat([k[3] for k in kept])
    grad_b_ih = m.sum0(grad_gx)
    grad_b_hh = grad_b_ih if cell.same_gate_grads else m.sum0(all_hidden)
    return grad_gx, grad_w, grad_h, grad_c, grad_b_ih, grad_b_hh, grad_w_hr


class _Recurrence(Op):
    """Inputs (gx, w_hh, h0[, c0][, b_ih, b_hh][, w_hr]); params (batch_sizes, reverse, has_bias).

    gx = x W_ih^T without its bias: the op adds both biases in one pass, and their gradients are
    its own sums."""

    cell: Any = None
    projected = False

    @classmethod
    def _unpack(cls, args: tuple) -> tuple:
        *arrays, batch_sizes, reverse, has_bias = args
        gx, w_hh, h0 = arrays[:3]
        c0 = arrays[3] if cls.cell.has_cell else None
        rest = arrays[4 if cls.cell.has_cell else 3 :]
        b_ih, b_hh = rest[:2] if has_bias else (None, None)
        w_hr = rest[-1] if cls.projected else None
        return (gx, w_hh, h0, c0, b_ih, b_hh, w_hr), batch_sizes, reverse

    @classmethod
    def forward(cls, ctx: Any, *args: Any) -> Any:
        arrays, batch_sizes, reverse = cls._unpack(args)
        ctx.fused = cls.cell is _LSTMCell and not cls.projected and lstm_kernels.available(arrays[0])
        if ctx.fused:  # the same formula, each step's gate arithmetic one compiled pass
            gx, w_hh, h0, c0, b_ih, b_hh, _ = arrays
            bias = None if b_ih is None else b_ih + b_hh
            out, h, c, kept = lstm_kernels.forward(gx, w_hh, h0, c0, bias, batch_sizes, reverse)
        else:
            out, h, c, kept = _run_forward(
                _ArrayMath(xp_of(arrays[0])), cls.cell, arrays, batch_sizes, reverse
            )
        ctx.save_for_backward(*[a for a in arrays if a is not None])  # a saved None reads as an output
        ctx.present = tuple(a is not None for a in arrays)
        ctx.kept, ctx.batch_sizes, ctx.reverse = kept, batch_sizes, reverse
        return (out, h, c) if cls.cell.has_cell else (out, h)

    @classmethod
    def backward(cls, ctx: Any, *grads: Tensor | None) -> tuple:
        stored = iter(ctx.saved_tensors)
        saved = tuple(next(stored) if present else None for present in ctx.present)
        gx, w_hh, h0, c0, _, b_hh, w_hr = saved
        grads = tuple(grads) + (None,) * (3 - len(grads))
        if is_grad_enabled():  # create_graph: replay the forward on Tensors, then the same formula
            m, kept = _TensorMath, _run_forward(_TensorMath, cls.cell, saved, ctx.batch_sizes, ctx.reverse)[3]
            like, weights = (h0, c0), (w_hh, w_hr)
        else:
            m, kept = _ArrayMath(xp_of(gx._data)), ctx.kept
            grads = tuple(None if g is None else g._data for g in grads)
            like = (h0._data, None if c0 is None else c0._data)
            weights = (w_hh._data, None if w_hr is None else w_hr._data)
        if m is not _TensorMath and ctx.fused:
            result = lstm_kernels.backward(kept, weights[0], grads, like, ctx.batch_sizes, ctx.reverse)
        else:
            result = _run_backward(m, cls.cell, weights, kept, grads, ctx.batch_sizes, ctx.reverse, like)
        if m is not _TensorMath:
            result = tuple(None if r is None else wrap(r, device=gx._device) for r in result)
        grad_gx, grad_w, grad_h0, grad_c0, grad_b_ih, grad_b_hh, grad_w_hr = result
        ordered = [grad_gx, grad_w, grad_h0] + ([grad_c0] if cls.cell.has_cell else [])
        ordered += [grad_b_ih, grad_b_hh] if b_hh is not None else []
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
    mode: str, input: Tensor, weights: tuple, hidden: tuple, batch_sizes: tuple, reverse: bool = False
) -> tuple:
    """One layer, one direction: (output rows (sum b_t, H), h_n[, c_n]).

    input: rows (sum b_t, F), step t's b_t = batch_sizes[t] rows after step t - 1's (T * N rows of a
    (T, N, F) input, or a PackedSequence's data); weights = (w_ih, w_hh, b_ih, b_hh[, w_hr]) (biases
    may be None; w_hr for LSTM's proj_size); hidden = (h0,) or (h0, c0), each (N, H).
    """
    w_ih, w_hh, b_ih, b_hh = weights[:4]
    gx = linear(input, w_ih)  # (sum b_t, G*H): every step's input projection in one GEMM
    biases = (b_ih, b_hh) if b_hh is not None else ()
    inputs = (gx, w_hh, *hidden, *biases, *weights[4:])
    return LAYER_OPS[mode].apply(*inputs, params=(batch_sizes, reverse, b_hh is not None))
