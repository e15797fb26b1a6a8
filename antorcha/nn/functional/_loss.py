"""Functional losses with torch's argument checks, dtype rules and error messages."""

# ruff: noqa: A001 - `input` is the argument name torch uses throughout its API

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._autocast import AUTOCAST, to_float32
from antorcha._device import quiet_float_errors, xp_of
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.nn.functional._activation import log_sigmoid_array, logsigmoid
from antorcha.nn.functional._common import (
    constant_like,
    reduce_tensor,
    resolve_reduction,
    warn_target_size,
)
from antorcha.ops._bfloat16 import in_float32
from antorcha.ops._common import broadcast_shapes, check_same_device
from antorcha.ops.elementwise import where

_BCE_EPSILON = float(np.float32(1e-12))  # torch's floor on x (1 - x) in the BCE gradient (a C float)


def reduce_array(losses: Any, reduction: str) -> Any:
    if reduction == "none":
        return losses
    with quiet_float_errors():  # mean of nothing is nan, as in torch
        return losses.sum() if reduction == "sum" else losses.sum() / losses.dtype.type(losses.size)


def _grad_scale(grad: Tensor, reduction: str, count: int) -> Tensor:
    """The incoming gradient, divided by the element count for 'mean'."""
    return grad / count if reduction == "mean" else grad


class MseLoss(Op):
    """mean/sum/none of (x - y)^2 as one node; backward 2 (x - y) g / N."""

    @staticmethod
    def forward(ctx: Any, x: Any, y: Any, reduction: str) -> Any:
        diff = x - y
        ctx.save_for_backward(x, y)
        ctx.count, ctx.reduction = diff.size, reduction
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
        x, y = ctx.saved_tensors
        scale = 2.0 / ctx.count if ctx.reduction == "mean" else 2.0
        return MseLossGrads.apply(grad, x, y, params=(scale, *ctx.needs_input_grad[:2]))


class MseLossGrads(Op):
    """(d, -d) with d = 2 (x - y) g / N: mse's gradients as one op of their own (torch's
    mse_loss_backward). Its forward is that formula on arrays; its backward differentiates it,
    with u = over_x - over_y: d/dg = u (x - y) scale, d/dx = u g scale = -d/dy."""

    @staticmethod
    def forward(ctx: Any, grad: Any, x: Any, y: Any, scale: float, need_x: bool, need_y: bool) -> tuple:
        ctx.save_for_backward(grad, x, y)
        ctx.scale = scale
        d = (x - y) * (grad * scale)
        return (d if need_x else None), (-d if need_y else None)

    @staticmethod
    def backward(ctx: Any, over_x: Tensor | None, over_y: Tensor | None) -> tuple:
        grad, x, y = ctx.saved_tensors
        if over_x is None:
            u = -over_y  # type: ignore[operator]
        else:
            u = over_x if over_y is None else over_x - over_y
        return u * (x - y) * ctx.scale, u * grad * ctx.scale, -(u * grad * ctx.scale)


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


class BinaryCrossEntropy(Op):
    """-w (y log x + (1 - y) log(1 - x)), each log floored at -100 as in torch."""

    @staticmethod
    def forward(ctx: Any, x: Any, y: Any, weight: Any, reduction: str) -> Any:
        xp = xp_of(x)
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
            grad = grad * wrap(ctx.weight, device=grad._device)
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
            grad = grad * wrap(ctx.weight, device=grad._device)
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
            grad_y = grad * (logsigmoid(-x) - logsigmoid(x) * pos)
        return grad_x, grad_y


def _promoted_pair(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Broadcast-check the pair and bring both to torch's promoted dtype (differentiable casts)."""
    check_same_device(input, target)
    a, b = input._data, target._data
    if a.shape != b.shape:
        broadcast_shapes(a.shape, b.shape)  # raises torch's "size of tensor a" error
    if a.dtype == b.dtype and a.dtype.kind in "fV":
        return input, target  # the common case: nothing to do
    if input.dtype is not target.dtype:
        common = _dtypes.result_type(input, target)
        if not common.is_floating_point:
            common = _dtypes.get_default_dtype()
        input, target = input.to(common), target.to(common)
    elif not input.is_floating_point():
        input, target = input.to(_dtypes.get_default_dtype()), target.to(_dtypes.get_default_dtype())
    return input, target


def _weighted(losses: Tensor, weight: Tensor, input: Tensor, reduction: str, mean_by_weight: bool) -> Tensor:
    """The optional per-element `weight` of mse/l1/huber, reduced as torch's Python code does."""
    if weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")
    weighted = losses * weight
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return weighted.sum() / weight.sum() if mean_by_weight else weighted.mean()


def _bf16(op: type[Op], input: Tensor, fused: bool) -> type[Op]:
    """The loss op, or for a bfloat16 input that torch computes in one float32 kernel (`fused`) its
    float32 twin, rounded once; mse and huber without reduction round after each step in torch, as
    the ufuncs do."""
    return in_float32(op) if fused and input._data.dtype.kind == "V" else op


@register_functional()
def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    if AUTOCAST.on:  # torch's autocast float32 list
        input, target = to_float32(input, target)
    warn_target_size(input, target)
    reduction = resolve_reduction(reduction, size_average, reduce)
    input, target = _promoted_pair(input, target)
    if weight is not None:
        losses = _bf16(MseLoss, input, False).apply(input, target, params=("none",))
        return _weighted(losses, weight, input, reduction, mean_by_weight=True)
    return _bf16(MseLoss, input, reduction != "none").apply(input, target, params=(reduction,))


@register_functional()
def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    if AUTOCAST.on:  # torch's autocast float32 list
        input, target = to_float32(input, target)
    warn_target_size(input, target)
    reduction = resolve_reduction(reduction, size_average, reduce)
    input, target = _promoted_pair(input, target)
    losses = (input - target).abs()
    if weight is not None:
        return _weighted(losses, weight, input, reduction, mean_by_weight=True)
    return reduce_tensor(losses, reduction)


@register_functional()
def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    if AUTOCAST.on:  # torch's autocast float32 list
        input, target = to_float32(input, target)
    warn_target_size(input, target)
    reduction = resolve_reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0.0:
        return l1_loss(input, target, reduction=reduction)
    input, target = _promoted_pair(input, target)
    return _bf16(SmoothL1Loss, input, True).apply(input, target, params=(reduction, float(beta)))


@register_functional()
def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    if AUTOCAST.on:  # torch's autocast float32 list
        input, target = to_float32(input, target)
    warn_target_size(input, target)
    reduction = resolve_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    input, target = _promoted_pair(input, target)
    if weight is not None:
        losses = _bf16(HuberLoss, input, False).apply(input, target, params=("none", float(delta)))
        return _weighted(losses, weight, input, reduction, mean_by_weight=False)
    return _bf16(HuberLoss, input, reduction != "none").apply(input, target, params=(reduction, float(delta)))


def _broadcast_weight(weight: Tensor | None, like: Tensor) -> Any:
    """A loss weight as a constant array broadcast to `like`'s shape (torch expands it the same way)."""
    if weight is None:
        return None
    shape = broadcast_shapes(tuple(like.shape), tuple(weight.shape))
    array = constant_like(weight, like)
    return array if tuple(array.shape) == tuple(shape) else _xp_broadcast(array, shape)


def _xp_broadcast(array: Any, shape: tuple) -> Any:
    from antorcha._device import xp_of

    return xp_of(array).broadcast_to(array, shape)


def _no_grad_for(function: str, name: str, value: Tensor | None) -> None:
    if value is not None and value.requires_grad:
        raise RuntimeError(
            f"The function '{function}' is not differentiable with respect to argument '{name}'. "
            "This input cannot have requires_grad True."
        )


@register_functional()
def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    if AUTOCAST.on:  # torch's autocast float32 list
        input, target, weight = to_float32(input, target, weight)
    reduction = resolve_reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size ({input.size()}) "
            "is deprecated. Please ensure they have the same size."
        )
    if target.dtype is not input.dtype:
        raise RuntimeError(f"Found dtype {target.dtype.scalar_name} but expected {input.dtype.scalar_name}")
    _no_grad_for("binary_cross_entropy", "weight", weight)
    weight_array = _broadcast_weight(weight, target)
    data = input._data
    if data.size and not bool(((data >= 0) & (data <= 1)).all()):
        raise RuntimeError("all elements of input should be between 0 and 1")
    return _bf16(BinaryCrossEntropy, input, True).apply(input, target, params=(weight_array, reduction))


@register_functional()
def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    if AUTOCAST.on:  # torch's autocast float32 list
        input, target = to_float32(input, target)
    reduction = resolve_reduction(reduction, size_average, reduce)
    check_same_device(input, target)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.size()}) must be the same as input size ({input.size()})")
    if not target.is_floating_point():
        raise RuntimeError(
            f"result type {input.dtype.scalar_name} can't be cast to the desired output type "
            f"{target.dtype.scalar_name}"
        )
    if target.dtype is not input.dtype:
        common = _dtypes.promote_types(input.dtype, target.dtype)
        input, target = input.to(common), target.to(common)
    _no_grad_for("binary_cross_entropy_with_logits", "weight", weight)
    _no_grad_for("binary_cross_entropy_with_logits", "pos_weight", pos_weight)
    params = (_broadcast_weight(weight, target), _broadcast_weight(pos_weight, target), reduction)
    return _bf16(BinaryCrossEntropyWithLogits, input, True).apply(input, target, params=params)
