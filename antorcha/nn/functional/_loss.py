"""Functional losses with torch's argument checks, dtype rules and error messages."""

# ruff: noqa: A001 - `input` is the argument name torch uses throughout its API

from __future__ import annotations

from typing import Any

from antorcha import _dtypes
from antorcha._tensor import Tensor
from antorcha.nn import _loss_ops
from antorcha.nn.functional._common import (
    constant_like,
    reduce_tensor,
    resolve_reduction,
    scalar_name,
    warn_target_size,
)
from antorcha.nn.functional._nll import cross_entropy, nll_loss
from antorcha.ops._common import broadcast_shapes, check_same_device

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]


def _promoted_pair(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Broadcast-check the pair and bring both to torch's promoted dtype (differentiable casts)."""
    check_same_device(input, target)
    a, b = input._data, target._data
    if a.shape != b.shape:
        broadcast_shapes(a.shape, b.shape)  # raises torch's "size of tensor a" error
    if a.dtype == b.dtype and a.dtype.kind == "f":
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


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    warn_target_size(input, target)
    reduction = resolve_reduction(reduction, size_average, reduce)
    input, target = _promoted_pair(input, target)
    if weight is not None:
        losses = _loss_ops.MseLoss.apply(input, target, params=("none",))
        return _weighted(losses, weight, input, reduction, mean_by_weight=True)
    return _loss_ops.MseLoss.apply(input, target, params=(reduction,))


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    warn_target_size(input, target)
    reduction = resolve_reduction(reduction, size_average, reduce)
    input, target = _promoted_pair(input, target)
    losses = (input - target).abs()
    if weight is not None:
        return _weighted(losses, weight, input, reduction, mean_by_weight=True)
    return reduce_tensor(losses, reduction)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    warn_target_size(input, target)
    reduction = resolve_reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0.0:
        return l1_loss(input, target, reduction=reduction)
    input, target = _promoted_pair(input, target)
    return _loss_ops.SmoothL1Loss.apply(input, target, params=(reduction, float(beta)))


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    warn_target_size(input, target)
    reduction = resolve_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    input, target = _promoted_pair(input, target)
    if weight is not None:
        losses = _loss_ops.HuberLoss.apply(input, target, params=("none", float(delta)))
        return _weighted(losses, weight, input, reduction, mean_by_weight=False)
    return _loss_ops.HuberLoss.apply(input, target, params=(reduction, float(delta)))


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


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    reduction = resolve_reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size ({input.size()}) "
            "is deprecated. Please ensure they have the same size."
        )
    if target.dtype is not input.dtype:
        raise RuntimeError(f"Found dtype {scalar_name(target.dtype)} but expected {scalar_name(input.dtype)}")
    _no_grad_for("binary_cross_entropy", "weight", weight)
    weight_array = _broadcast_weight(weight, target)
    data = input._data
    if data.size and not bool(((data >= 0) & (data <= 1)).all()):
        raise RuntimeError("all elements of input should be between 0 and 1")
    return _loss_ops.BinaryCrossEntropy.apply(input, target, params=(weight_array, reduction))


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    reduction = resolve_reduction(reduction, size_average, reduce)
    check_same_device(input, target)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.size()}) must be the same as input size ({input.size()})")
    if not target.is_floating_point():
        raise RuntimeError(
            f"result type {scalar_name(input.dtype)} can't be cast to the desired output type "
            f"{scalar_name(target.dtype)}"
        )
    if target.dtype is not input.dtype:
        common = _dtypes.promote_types(input.dtype, target.dtype)
        input, target = input.to(common), target.to(common)
    _no_grad_for("binary_cross_entropy_with_logits", "weight", weight)
    _no_grad_for("binary_cross_entropy_with_logits", "pos_weight", pos_weight)
    params = (_broadcast_weight(weight, target), _broadcast_weight(pos_weight, target), reduction)
    return _loss_ops.BinaryCrossEntropyWithLogits.apply(input, target, params=params)
