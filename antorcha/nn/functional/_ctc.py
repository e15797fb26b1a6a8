"""F.ctc_loss: the connectionist temporal classification loss, one node (CtcLoss, torch's
CtcLossBackward0) whose backward is one op of its own (CtcLossGrad, torch's _ctc_loss_backward).

The forward runs the alpha recursion in log space over the extended label sequence
(blank, l1, blank, l2, ..., blank), vectorised over the batch: one NumPy step per time step. The
backward runs the beta recursion the same way and gives torch's formula,
exp(lp) - exp(log Σ_s alpha·beta + nll - lp), which is the gradient with respect to the
logits of a log_softmax (the exp(lp) term sums to the grad of the normaliser), as torch's is.
Like torch's, it has no second derivative.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha._device import as_device, move_array, xp_of
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.nn.functional._common import require_floating

CPU = as_device("cpu")


class _Labels:
    """The batch's extended labels (N, L = 2·S_max + 1) and where a skip over a blank is allowed."""

    def __init__(self, targets: np.ndarray, target_lengths: np.ndarray, blank: int) -> None:
        n, s_max = targets.shape
        self.extended = np.full((n, 2 * s_max + 1), blank, dtype=np.int64)
        self.extended[:, 1::2] = targets
        positions = np.arange(2 * s_max + 1)
        self.extended[positions[None, :] > 2 * target_lengths[:, None]] = blank
        previous = np.roll(self.extended, 2, axis=1)
        self.skip = (positions >= 2)[None, :] & (self.extended != blank) & (self.extended != previous)
        self.target_lengths = target_lengths


def _logsumexp3(a: Any, b: Any, c: Any) -> Any:
    """log(e^a + e^b + e^c), 0-shifted where all three are -inf (torch's lamax = 0 rule)."""
    xp = xp_of(a)
    top = xp.maximum(xp.maximum(a, b), c)
    top = xp.where(xp.isneginf(top), 0, top)
    return xp.log(xp.exp(a - top) + xp.exp(b - top) + xp.exp(c - top)) + top


def _shifted(values: Any, by: int, fill: float) -> Any:
    """values[..., s - by] along the last axis (by > 0) or values[..., s + |by|] (by < 0)."""
    out = np.full_like(values, fill)
    if by > 0:
        out[:, by:] = values[:, :-by]
    else:
        out[:, :by] = values[:, -by:]
    return out


def _emissions(log_probs: np.ndarray, labels: _Labels) -> np.ndarray:
    """(T, N, L): log_probs[t, n, extended[n, s]]."""
    return np.take_along_axis(
        log_probs, np.broadcast_to(labels.extended[None], (log_probs.shape[0], *labels.extended.shape)), 2
    )


def _alphas(emit: np.ndarray, labels: _Labels, input_lengths: np.ndarray) -> np.ndarray:
    """(T, N, L) log alpha; after a sample's last step its row stays as it was at T_n - 1."""
    steps, n, width = emit.shape
    alpha = np.full((steps, n, width), -np.inf, dtype=emit.dtype)
    if steps == 0:
        return alpha
    alpha[0, :, 0] = emit[0, :, 0]
    has_label = labels.target_lengths > 0
    if width > 1:
        alpha[0, has_label, 1] = emit[0, has_label, 1]
    for t in range(1, steps):
        prev = alpha[t - 1]
        skip = np.where(labels.skip, _shifted(prev, 2, -np.inf), -np.inf)
        step = _logsumexp3(prev, _shifted(prev, 1, -np.inf), skip) + emit[t]
        alpha[t] = np.where((t < input_lengths)[:, None], step, prev)
    return alpha


def _betas(emit: np.ndarray, labels: _Labels, input_lengths: np.ndarray) -> np.ndarray:
    """(T, N, L) log beta, -inf at and after each sample's T_n."""
    steps, n, width = emit.shape
    beta = np.full((steps, n, width), -np.inf, dtype=emit.dtype)
    rows = np.arange(n)
    last = 2 * labels.target_lengths
    skip_next = _shifted(labels.skip, -2, False)  # may s jump to s + 2
    for t in range(steps - 1, -1, -1):
        start = np.full((n, width), -np.inf, dtype=emit.dtype)
        start[rows, last] = emit[t, rows, last]
        has_label = labels.target_lengths > 0
        start[rows[has_label], last[has_label] - 1] = emit[t, rows[has_label], last[has_label] - 1]
        if t + 1 < steps:
            nxt = beta[t + 1]
            skip = np.where(skip_next, _shifted(nxt, -2, -np.inf), -np.inf)
            step = _logsumexp3(nxt, _shifted(nxt, -1, -np.inf), skip) + emit[t]
        else:
            step = start
        beta[t] = np.where(
            (t == input_lengths - 1)[:, None],
            start,
            np.where((t < input_lengths - 1)[:, None], step, -np.inf),
        )
    return beta


def _negative_log_likelihood(alpha: np.ndarray, labels: _Labels, input_lengths: np.ndarray) -> np.ndarray:
    rows = np.arange(alpha.shape[1])
    final = alpha[-1] if alpha.shape[0] else np.full(alpha.shape[1:], -np.inf, alpha.dtype)
    last = 2 * labels.target_lengths
    l1 = final[rows, last]
    l2 = np.where(labels.target_lengths > 0, final[rows, np.maximum(last - 1, 0)], -np.inf)
    top = np.maximum(l1, l2)
    top = np.where(np.isneginf(top), 0, top)
    nll = -(np.log(np.exp(l1 - top) + np.exp(l2 - top)) + top)
    empty = input_lengths == 0  # no steps: a certain empty path, an impossible other one
    return np.where(empty, np.where(labels.target_lengths == 0, 0.0, np.inf), nll).astype(alpha.dtype)


def _on_host(array: Any) -> np.ndarray:
    """The recursions are sequential over time: they run on the host, with NumPy, on every device."""
    return move_array(array, CPU)


class CtcLoss(Op):
    """(T, N, C) log-probabilities -> (N,) negative log-likelihoods."""

    @staticmethod
    def forward(ctx: Any, log_probs: Any, labels: _Labels, input_lengths: Any, zero_infinity: bool) -> Any:
        lp = _on_host(log_probs)
        emit = _emissions(lp, labels)
        alpha = _alphas(emit, labels, input_lengths)
        nll = _negative_log_likelihood(alpha, labels, input_lengths)
        ctx.save_for_backward(log_probs)
        ctx.state = (labels, input_lengths, zero_infinity, alpha, nll)
        losses = np.where(np.isposinf(nll), 0, nll).astype(nll.dtype) if zero_infinity else nll
        return xp_of(log_probs).asarray(losses)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (log_probs,) = ctx.saved_tensors
        return CtcLossGrad.apply(grad, log_probs, params=ctx.state)


class CtcLossGrad(Op):
    """torch's _ctc_loss_backward: (exp(lp) - exp(lcab + nll - lp)) · grad_n for t < T_n, else 0."""

    @staticmethod
    def forward(
        ctx: Any,
        grad: Any,
        log_probs: Any,
        labels: _Labels,
        input_lengths: Any,
        zero_infinity: bool,
        alpha: Any,
        nll: Any,
    ) -> Any:
        lp = _on_host(log_probs)
        emit = _emissions(lp, labels)
        beta = _betas(emit, labels, input_lengths)
        both = alpha + beta  # (T, N, L)
        top = both.max(axis=2, keepdims=True)
        top = np.where(np.isneginf(top), 0, top)
        steps, batch, classes = lp.shape
        width = labels.extended.shape[1]
        on_path = np.arange(width)[None, :] <= 2 * labels.target_lengths[:, None]  # (N, L)
        where_class = (np.arange(batch)[:, None] * classes + labels.extended)[on_path]  # flat (n, c)
        terms = np.exp(both - top)[:, on_path]  # (T, positions on a path)
        sums = np.zeros((steps, batch * classes), dtype=lp.dtype)  # Σ_s exp(alpha + beta - top) per class
        np.add.at(sums, (slice(None), where_class), terms)
        present = np.zeros(batch * classes, dtype=bool)
        present[where_class] = True
        sums = sums.reshape(steps, batch, classes)
        # log Σ alpha beta; -inf for a class on no path (torch leaves those at -inf)
        lcab = np.where(present.reshape(batch, classes), np.log(sums) + top, -np.inf)
        out = (np.exp(lp) - np.exp(lcab + nll[None, :, None] - lp)) * _on_host(grad)[None, :, None]
        alive = np.arange(lp.shape[0])[:, None] < input_lengths[None, :]  # (T, N)
        if zero_infinity:
            alive = alive & ~np.isposinf(nll)[None, :]
        return xp_of(log_probs).asarray(np.where(alive[:, :, None], out, 0).astype(lp.dtype))

    @staticmethod
    def backward(ctx: Any, over: Tensor) -> tuple:
        raise RuntimeError("derivative for aten::_ctc_loss_backward is not implemented")


def _lengths(value: Any, name: str) -> np.ndarray:
    if isinstance(value, Tensor):
        return np.asarray(value.cpu()._data).reshape(-1).astype(np.int64)
    return np.asarray(list(value) if not isinstance(value, int) else [value], dtype=np.int64)


def _padded_targets(targets: Tensor, target_lengths: np.ndarray, batch: int) -> np.ndarray:
    """(N, S_max) targets from the padded (N, S) form or the concatenated 1-D form."""
    values = np.asarray(targets.cpu()._data).astype(np.int64)
    s_max = int(target_lengths.max()) if target_lengths.size else 0
    if values.ndim == 1:
        total = int(target_lengths.sum())
        if values.shape[0] < total:
            raise RuntimeError(
                f"Expected tensor to have size at least {total} at dimension 0, but got size "
                f"{values.shape[0]} for argument #2 'targets' "
                "(while checking arguments for ctc_loss_allocate_outputs)"
            )
        padded = np.zeros((batch, s_max), dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(target_lengths)[:-1]])
        for n, (start, length) in enumerate(zip(offsets, target_lengths)):
            padded[n, :length] = values[start : start + length]
        return padded
    if values.shape[1] < s_max:
        raise RuntimeError(
            f"Expected tensor to have size at least {s_max} at dimension 1, but got size {values.shape[1]} "
            "for argument #2 'targets' (while checking arguments for ctc_loss_allocate_outputs)"
        )
    return values[:, :s_max]


@register_functional()
def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """The CTC loss of (T, N, C) log-probabilities (or (T, C) unbatched) against padded (N, S) or
    concatenated targets; 'mean' divides each loss by its target length, then averages."""
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    require_floating(log_probs, "ctc_loss_cpu")
    batched = log_probs.ndim == 3
    lp = log_probs if batched else log_probs.unsqueeze(1)
    steps, batch, classes = lp.shape
    inputs, lengths = _lengths(input_lengths, "input_lengths"), _lengths(target_lengths, "target_lengths")
    if not 0 <= blank < classes:
        raise RuntimeError("blank must be in label range")
    if inputs.shape[0] != batch or lengths.shape[0] != batch:
        wrong = "input_lengths" if inputs.shape[0] != batch else "target_lengths"
        raise RuntimeError(f"{wrong} must be of size batch_size")
    if inputs.size and inputs.max() > steps:
        raise RuntimeError(
            f"Expected input_lengths to have value at most {steps}, but got value {int(inputs.max())} "
            "(while checking arguments for ctc_loss_allocate_outputs)"
        )
    padded = _padded_targets(targets if batched else targets.unsqueeze(0), lengths, batch)
    labels = _Labels(padded, lengths, blank)
    losses = CtcLoss.apply(lp.contiguous(), params=(labels, inputs, zero_infinity))
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        per_target = wrap(
            xp_of(lp._data).asarray(np.maximum(lengths, 1), dtype=lp._data.dtype), device=lp._device
        )
        return (losses / per_target).mean()
    return losses if batched else losses.squeeze(0)
