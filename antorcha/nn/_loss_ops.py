"""Fused loss ops: one graph node per loss, as torch has (MseLossBackward0, NllLossBackward0, ...).

Each forward computes the elementwise loss and its reduction in one go on raw arrays;
weights are constants (torch does not differentiate losses w.r.t. them either).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.autograd.grad_mode import STATE
from antorcha.nn._ops import log_sigmoid, log_sigmoid_array, scale_by_constant
from antorcha.ops.elementwise import where

_BCE_EPSILON = float(np.float32(1e-12))  # torch's floor on x (1 - x) in the BCE gradient (a C float)


def reduce_array(losses: Any, reduction: str) -> Any:
    if reduction == "none":
        return losses
    with np.errstate(invalid="ignore", divide="ignore"):  # mean of nothing is nan, as in torch
        return losses.sum() if reduction == "sum" else losses.sum() / losses.dtype.type(losses.size)


def _grad_scale(grad: Tensor, reduction: str, count: int) -> Tensor:
    """The incoming gradient, divided by the element count for 'mean'."""
    return grad / count if reduction == "mean" else grad


class MseLoss(Op):
    """mean/sum/none of (x - y)^2; backward 2 (x - y) g / N without building intermediate tensors."""

    @staticmethod
    def forward(ctx: Any, x: Any, y: Any, reduction: str) -> Any:
        diff = x - y
        ctx.save_for_backward(x, y)
        ctx.diff, ctx.reduction = diff, reduction
        if reduction == "none":
            return diff * diff
        flat = diff.reshape(-1)
        total = flat.dot(flat)
        if reduction == "mean":
            size = diff.size  # a Python int keeps the float32 result float32 (NEP 50)
            total = total / size if size else xp_of(diff).asarray(np.nan, dtype=diff.dtype)
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, y = ctx.saved_tensors  # also checks that no input was modified in place
        needs_x, needs_y = ctx.needs_input_grad[:2]
        scale = 2.0 / ctx.diff.size if ctx.reduction == "mean" else 2.0
        if STATE.enabled:  # create_graph: express the gradient with differentiable ops
            grad_x = (x - y) * (grad * scale)
            return (grad_x if needs_x else None), (-grad_x if needs_y else None)
        array = ctx.diff * (grad._data * scale)
        device = grad._device
        return (wrap(array, device=device) if needs_x else None), (
            wrap(-array, device=device) if needs_y else None
        )


class _PiecewiseLoss(Op):
    """Shared forward/backward of smooth_l1 and huber: quadratic near zero, linear beyond `limit`."""

    @staticmethod
    def elementwise(xp: Any, abs_diff: Any, limit: float) -> Any:
        raise NotImplementedError

    @staticmethod
    def slope(diff: Tensor, limit: float) -> Tensor:
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx: Any, x: Any, y: Any, reduction: str, limit: float) -> Any:
        xp = xp_of(x)
        ctx.save_for_backward(x, y)
        ctx.reduction, ctx.limit = reduction, limit
        diff = x - y
        ctx.count = diff.size
        return reduce_array(cls.elementwise(xp, xp.abs(diff), limit), reduction)

    @classmethod
    def backward(cls, ctx: Any, grad: Tensor) -> tuple:
        x, y = ctx.saved_tensors
        grad_x = _grad_scale(grad, ctx.reduction, ctx.count) * cls.slope(x - y, ctx.limit)
        needs_x, needs_y = ctx.needs_input_grad[:2]
        return (grad_x if needs_x else None), (-grad_x if needs_y else None)


class SmoothL1Loss(_PiecewiseLoss):
    @staticmethod
    def elementwise(xp: Any, abs_diff: Any, beta: float) -> Any:
        return xp.where(abs_diff < beta, 0.5 * abs_diff * abs_diff / beta, abs_diff - 0.5 * beta)

    @staticmethod
    def slope(diff: Tensor, beta: float) -> Tensor:
        return where(diff.abs() < beta, diff / beta, diff.sign())


class HuberLoss(_PiecewiseLoss):
    @staticmethod
    def elementwise(xp: Any, abs_diff: Any, delta: float) -> Any:
        return xp.where(abs_diff < delta, 0.5 * abs_diff * abs_diff, delta * (abs_diff - 0.5 * delta))

    @staticmethod
    def slope(diff: Tensor, delta: float) -> Tensor:
        return diff.clamp(-delta, delta)


class NllLoss(Op):
    """-logp[n, target[n], ...] * weight[target[n]]; inputs (N, C, ...) with targets (N, ...), or an
    unbatched (C,) input with a 0-dim target."""

    @staticmethod
    def forward(ctx: Any, logp: Any, target: Any, weight: Any, reduction: str, ignore_index: int) -> Any:
        xp = xp_of(logp)
        ctx.unbatched = logp.ndim == 1
        if ctx.unbatched:
            logp, target = logp[None], target.reshape(1)
        valid = target != ignore_index
        safe = xp.where(valid, target, 0)[:, None]  # ignored targets may be out of range
        picked = xp.take_along_axis(logp, safe, axis=1)[:, 0]
        if weight is None:
            target_weight = valid.astype(logp.dtype)
        else:
            target_weight = weight[safe[:, 0]] * valid
        losses = -picked * target_weight
        ctx.safe, ctx.target_weight, ctx.reduction, ctx.valid = safe, target_weight, reduction, valid
        ctx.n_classes = logp.shape[1]
        if reduction == "none":
            return losses.reshape(()) if ctx.unbatched else losses
        if reduction == "sum":
            return losses.sum()
        ctx.total_weight = target_weight.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            return losses.sum() / ctx.total_weight

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        # d loss / d logp is a constant: -weight[target] (over the total weight for 'mean')
        # at each target position and zero elsewhere
        safe, target_weight = ctx.safe, ctx.target_weight
        xp = xp_of(target_weight)
        shape = (safe.shape[0], ctx.n_classes) + safe.shape[2:]
        coefficient = xp.zeros(shape, dtype=target_weight.dtype)
        values = -target_weight
        if ctx.reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                values = xp.where(ctx.valid, values / ctx.total_weight, 0)  # ignored: 0, even over 0
        xp.put_along_axis(coefficient, safe, values[:, None], axis=1)
        if ctx.unbatched:
            coefficient = coefficient[0]
        elif ctx.reduction == "none":
            grad = grad.unsqueeze(1)
        return scale_by_constant(grad, coefficient)


class BinaryCrossEntropy(Op):
    """-w (y log x + (1 - y) log(1 - x)), each log floored at -100 as in torch."""

    @staticmethod
    def forward(ctx: Any, x: Any, y: Any, weight: Any, reduction: str) -> Any:
        xp = xp_of(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(xp.log1p(-x), -100)
        losses = (y - 1) * log_1mx - y * log_x
        if weight is not None:
            losses = losses * weight
        ctx.save_for_backward(x, y)
        ctx.weight, ctx.reduction, ctx.count = weight, reduction, losses.size
        return reduce_array(losses, reduction)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, y = ctx.saved_tensors
        grad = _grad_scale(grad, ctx.reduction, ctx.count)
        if ctx.weight is not None:
            grad = scale_by_constant(grad, ctx.weight)
        needs_x, needs_y = ctx.needs_input_grad[:2]
        grad_x = grad * (x - y) / ((1 - x) * x).clamp(min=_BCE_EPSILON) if needs_x else None
        grad_y = grad * ((1 - x).log() - x.log()) if needs_y else None
        return grad_x, grad_y


class BinaryCrossEntropyWithLogits(Op):
    """(1 - y) x - (1 + (pos_weight - 1) y) log(sigmoid(x)), stable for any finite logit."""

    @staticmethod
    def forward(ctx: Any, x: Any, y: Any, weight: Any, pos_weight: Any, reduction: str) -> Any:
        log_sig = log_sigmoid_array(x)
        if pos_weight is not None:
            losses = (1 - y) * x - ((pos_weight - 1) * y + 1) * log_sig
        else:
            losses = (1 - y) * x - log_sig
        if weight is not None:
            losses = losses * weight
        ctx.save_for_backward(x, y)
        ctx.weight, ctx.pos_weight, ctx.reduction, ctx.count = weight, pos_weight, reduction, losses.size
        return reduce_array(losses, reduction)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, y = ctx.saved_tensors
        grad = _grad_scale(grad, ctx.reduction, ctx.count)
        if ctx.weight is not None:
            grad = scale_by_constant(grad, ctx.weight)
        needs_x, needs_y = ctx.needs_input_grad[:2]
        pos_weight = ctx.pos_weight
        grad_x = grad_y = None
        if pos_weight is None:
            if needs_x:
                grad_x = grad * (x.sigmoid() - y)
            if needs_y:
                grad_y = grad * -x
            return grad_x, grad_y
        pos = wrap(pos_weight, device=x._device)
        if needs_x:
            scaled_target = y * pos
            grad_x = grad * ((scaled_target + 1 - y) * x.sigmoid() - scaled_target)
        if needs_y:
            grad_y = grad * (log_sigmoid(-x) - log_sigmoid(x) * pos)
        return grad_x, grad_y
