"""nll_loss and cross_entropy: class-index targets (with weight, ignore_index, label smoothing)
and class-probability targets, for inputs (C,), (N, C) and (N, C, d1, ...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._autocast import AUTOCAST, to_float32
from antorcha._device import quiet_float_errors, xp_of
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.nn.functional._common import resolve_reduction
from antorcha.ops._bfloat16 import in_float32
from antorcha.ops._common import check_same_device
from antorcha.ops.elementwise import where
from antorcha.ops.softmax import log_softmax


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
            with quiet_float_errors():
                values = xp.where(ctx.valid, values / ctx.total_weight, 0)  # ignored: 0, even over 0
        xp.put_along_axis(coefficient, safe, values[:, None], axis=1)
        if ctx.unbatched:
            coefficient = coefficient[0]
        elif ctx.reduction == "none":
            grad = grad.unsqueeze(1)
        return grad * wrap(coefficient, device=grad._device)  # a constant: -weight at each target


def _check_weight(weight: Tensor | None, input: Tensor, n_classes: int, prefix: str = "") -> None:
    if weight is None:
        return
    if weight.ndim != 1 or weight.numel() != n_classes:
        raise RuntimeError(
            f"{prefix}weight tensor should be defined either for all {n_classes} classes or no classes "
            f"but got weight tensor of shape: {list(weight.shape)}"
        )
    if weight.dtype is not input.dtype:
        raise RuntimeError(
            f"expected scalar type {input.dtype.scalar_name} but found {weight.dtype.scalar_name}"
        )
    if weight.requires_grad:
        raise RuntimeError(
            "The function 'nll_loss_forward' is not differentiable with respect to argument 'weight'. "
            "This input cannot have requires_grad True."
        )


def _check_target(input: Tensor, target: Tensor) -> None:
    """torch's nll_loss_nd shape and dtype checks, in its order."""
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if input.ndim != 1 and (target.ndim == 0 or input.shape[0] != target.shape[0]):
        batch = target.shape[0] if target.ndim else 0
        raise ValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({batch})."
        )
    if target.dtype not in (_dtypes.int64, _dtypes.uint8):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {target.dtype.scalar_name}")
    if input.ndim == 1 and target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input.ndim == 2 and target.ndim != 1:
        raise RuntimeError("1D target tensor expected, multi-target not supported")
    if input.ndim == 4 and target.ndim != 3:
        raise RuntimeError(
            "only batches of spatial targets supported (3D tensors) but got targets of dimension: "
            f"{target.ndim}"
        )
    if input.ndim > 2:
        expected = [input.shape[0], *input.shape[2:]]
        if list(target.shape) != expected:
            raise RuntimeError(f"Expected target size {expected}, got {list(target.shape)}")


def _target_indices(target: Tensor, n_classes: int, ignore_index: int) -> Any:
    """The targets as an int64 array, after torch's out-of-bounds check."""
    indices = target._data.astype(np.int64, copy=False)
    bad = (indices != ignore_index) & ((indices < 0) | (indices >= n_classes))
    if bad.any():
        raise IndexError(f"Target {int(indices[bad].reshape(-1)[0])} is out of bounds.")
    return indices


@register_functional()
def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    if AUTOCAST.on:  # torch's autocast float32 list
        input, target, weight = to_float32(input, target, weight)  # noqa: A001
    reduction = resolve_reduction(reduction, size_average, reduce)
    check_same_device(input, target)
    if weight is not None:
        check_same_device(input, weight)
    _check_target(input, target)
    n_classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    _check_weight(weight, input, n_classes)
    indices = _target_indices(target, n_classes, ignore_index)
    weight_array = None if weight is None else weight._data
    op = in_float32(NllLoss) if input._data.dtype.kind == "V" else NllLoss  # bfloat16: as torch
    return op.apply(input, params=(indices, weight_array, reduction, ignore_index))


@register_functional()
def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    if AUTOCAST.on:  # torch's autocast float32 list
        input, target, weight = to_float32(input, target, weight)  # noqa: A001
    reduction = resolve_reduction(reduction, size_average, reduce)
    check_same_device(input, target)
    class_dim = 0 if input.ndim == 1 else 1
    if input.ndim >= 1 and input.shape == target.shape:
        if target.is_floating_point() and ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        return _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing, class_dim)
    if label_smoothing > 0.0:
        if label_smoothing > 1.0:
            raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
        return _cross_entropy_smoothed(input, target, weight, reduction, ignore_index, label_smoothing)
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    log_probs = log_softmax(input, class_dim)
    return nll_loss(log_probs, target, weight, ignore_index=ignore_index, reduction=reduction)


def _class_view(weight: Tensor, ndim: int, class_dim: int) -> Tensor:
    shape = [1] * ndim
    shape[class_dim] = weight.shape[0]
    return weight.reshape(shape)


def _cross_entropy_probabilities(
    input: Tensor, target: Tensor, weight: Tensor | None, reduction: str, smoothing: float, class_dim: int
) -> Tensor:
    if not target.is_floating_point():
        raise RuntimeError(
            "Expected floating point type for target with class probabilities, "
            f"got {target.dtype.scalar_name}"
        )
    n_classes = input.shape[class_dim]
    if weight is not None and (weight.ndim != 1 or weight.numel() != n_classes):
        raise RuntimeError(
            f"cross_entropy: weight tensor should be defined either for all {n_classes} classes or no "
            f"classes but got weight tensor of shape: {list(weight.shape)}"
        )
    if smoothing > 0.0:
        if smoothing > 1.0:
            raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {smoothing}")
        target = target * (1 - smoothing) + smoothing / n_classes
    products = log_softmax(input, class_dim) * target
    if weight is not None:
        products = products * (_class_view(weight, input.ndim, class_dim) if input.ndim > 1 else weight)
    if reduction == "none":
        return -products.sum(class_dim)
    if reduction == "sum":
        return -products.sum()
    if input.numel() == 0:
        return -products.sum() * float("nan")
    return -products.sum() / (input.numel() // n_classes)


def _cross_entropy_smoothed(
    input: Tensor, target: Tensor, weight: Tensor | None, reduction: str, ignore_index: int, smoothing: float
) -> Tensor:
    """torch's cross_entropy_loss_label_smoothing: (1 - e) nll + e / C * (sum of -log p over classes)."""
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    log_probs = log_softmax(input, class_dim)
    nll = nll_loss(log_probs, target, weight, ignore_index=ignore_index, reduction=reduction)
    ignored = target._data == ignore_index
    if weight is not None:
        smooth = -(log_probs * _class_view(weight, input.ndim, class_dim)).sum(class_dim)
    else:
        smooth = -log_probs.sum(class_dim)
    smooth = where(wrap(ignored, device=input._device), 0.0, smooth)
    if reduction == "mean":
        xp = xp_of(ignored)
        if weight is not None:
            kept = target._data[~ignored].astype(np.int64)
            denominator = weight._data[kept].sum()
        else:
            denominator = xp.asarray((~ignored).sum(), dtype=input._data.dtype)
        smooth = smooth.sum() / wrap(xp.asarray(denominator, dtype=input._data.dtype), device=input._device)
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1 - smoothing) + smooth * (smoothing / n_classes)
