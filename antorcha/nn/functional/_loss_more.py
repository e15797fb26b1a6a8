"""The rest of nn.functional's losses and distances: kl_div, poisson_nll_loss, gaussian_nll_loss,
soft_margin_loss, multilabel_soft_margin_loss, hinge_embedding_loss, margin_ranking_loss,
cosine_embedding_loss, triplet_margin_loss (and _with_distance_function), multi_margin_loss,
multilabel_margin_loss, cosine_similarity and pairwise_distance.

Each is written as torch's ATen composition is (Loss.cpp, Distance.cpp), with antorcha's ops, so
the values round the same way and every loss is differentiable to any order.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._grad_mode import is_grad_enabled, no_grad
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.linalg import vector_norm
from antorcha.nn.functional._activation import logsigmoid
from antorcha.nn.functional._common import constant_like, reduce_tensor, resolve_reduction
from antorcha.ops.elementwise import where

_COSINE_EMBEDDING_EPSILON = 1e-12  # torch's EPSILON in cosine_embedding_loss


def _reduce(
    losses: Tensor, reduction: str, size_average: bool | None = None, reduce: bool | None = None
) -> Tensor:
    return reduce_tensor(losses, resolve_reduction(reduction, size_average, reduce))


@register_functional()
def kl_div(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """target (log target - input) pointwise; 'batchmean' divides the sum by the batch size."""
    if size_average is None and reduce is None and reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support size."
            "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
            "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
            stacklevel=2,
        )
    if log_target:
        losses = target.exp() * (target - input)
    else:
        losses = target.xlogy(target) - target * input
    if reduction == "batchmean" and size_average is None and reduce is None:
        total = losses.sum()
        return total / input.shape[0] if input.ndim else total
    return _reduce(losses, reduction, size_average, reduce)


@register_functional()
def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    reduction = resolve_reduction(reduction, size_average, reduce)
    losses = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:  # Stirling's term, where target > 1
        stirling = target * target.log() - target + 0.5 * (target * (2 * math.pi)).log()
        losses = losses + stirling.masked_fill(target <= 1, 0)
    return reduce_tensor(losses, reduction)


def _gaussian_variance(input: Tensor, var: Tensor | float) -> Tensor:
    """var as a tensor that broadcasts against input (torch's homoscedastic and heteroscedastic cases)."""
    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        return input.new_ones(input.shape) * var
    if bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) == tuple(input.shape):
        return var
    if tuple(input.shape[:-1]) == tuple(var.shape):
        return var.unsqueeze(-1)
    mismatched = sum(v for i, v in zip(input.shape, var.shape) if i != v) if input.ndim == var.ndim else None
    if mismatched == 1:
        return var
    raise ValueError("var is of incorrect size")


@register_functional()
def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var: Tensor | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """0.5 (log var + (input - target)^2 / var); var is floored at eps outside autograd, so its
    gradient passes the floor unchanged, as torch's in-place clamp under no_grad does."""
    var = _gaussian_variance(input, var)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    with no_grad():
        floored = var.clamp(min=eps)
    var = var + (floored - var.detach())  # the floor's value, the identity's gradient
    losses = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        losses = losses + 0.5 * math.log(2 * math.pi)
    return reduce_tensor(losses, reduction)


@register_functional()
def soft_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    reduction = resolve_reduction(reduction, size_average, reduce)
    if target.requires_grad and is_grad_enabled():
        raise RuntimeError(
            "The function 'soft_margin_loss' is not differentiable with respect to argument 'target'. "
            "This input cannot have requires_grad True."
        )
    return reduce_tensor((-input * target).exp().log1p(), reduction)


@register_functional()
def multilabel_soft_margin_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    if size_average is not None or reduce is not None:
        reduction = resolve_reduction(reduction, size_average, reduce)
    losses = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        losses = losses * weight
    class_dim = input.ndim - 1
    losses = losses.sum(class_dim) / input.shape[class_dim]  # one loss per sample
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    return reduce_tensor(losses, reduction)


@register_functional()
def hinge_embedding_loss(
    input: Tensor,
    target: Tensor,
    margin: float = 1.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """input where target is 1, max(0, margin - input) where it is -1 (both for other values)."""
    reduction = resolve_reduction(reduction, size_average, reduce)
    margin_term = where(target != 1, (margin - input).clamp_min(0), 0.0)
    self_term = where(target != -1, input, 0.0)
    return reduce_tensor(margin_term + self_term, reduction)


@register_functional()
def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    reduction = resolve_reduction(reduction, size_average, reduce)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} "
        )
    return reduce_tensor((-target * (input1 - input2) + margin).clamp_min(0), reduction)


@register_functional()
def cosine_embedding_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """1 - cos where target is 1, max(0, cos - margin) where it is -1; cos along the last dim."""
    reduction = resolve_reduction(reduction, size_average, reduce)
    dim = target.ndim
    if dim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input1.ndim != dim + 1 or input2.ndim != dim + 1:
        raise RuntimeError(
            f"{dim}D target tensor expects {dim + 1}D input tensors, but found inputs with sizes "
            f"{list(input1.shape)} and {list(input2.shape)}."
        )
    dot = (input1 * input2).sum(dim)
    square1 = (input1 * input1).sum(dim) + _COSINE_EMBEDDING_EPSILON
    square2 = (input2 * input2).sum(dim) + _COSINE_EMBEDDING_EPSILON
    cos = dot / (square1 * square2).sqrt()
    positive = where(target == 1, 1 - cos, 0.0)
    negative = where(target == -1, (cos - margin).clamp_min(0), 0.0)
    return reduce_tensor(positive + negative, reduction)


@register_functional()
def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """‖x1 - x2 + eps‖_p along the last dim of the broadcast shape."""
    innermost = max(x1.ndim, x2.ndim) - 1
    return (x1 - x2 + eps).norm(p, innermost, keepdim)


@register_functional()
def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(‖x1‖, eps) * x2 / max(‖x2‖, eps)) along dim; the floor on each norm is applied
    outside autograd, as torch does (its gradient is the unfloored norm's)."""
    x1, x2 = _broadcast_pair(x1, x2)
    norm1 = _floored(vector_norm(x1, 2, dim, keepdim=True), eps)
    norm2 = _floored(vector_norm(x2, 2, dim, keepdim=True), eps)
    return ((x1 / norm1) * (x2 / norm2)).sum(dim)


def _broadcast_pair(x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
    if tuple(x1.shape) == tuple(x2.shape):
        return x1, x2
    from antorcha import broadcast_tensors

    return tuple(broadcast_tensors(x1, x2))  # type: ignore[return-value]


def _floored(norm: Tensor, eps: float) -> Tensor:
    with no_grad():
        floor = norm.clamp_min(eps) - norm
    return norm + floor


def _distance_or_default(distance_function: Callable | None) -> Callable:
    return pairwise_distance if distance_function is None else distance_function


@register_functional()
def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    reduction = resolve_reduction(reduction, size_average, reduce)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    dims = (anchor.ndim, positive.ndim, negative.ndim)
    if len(set(dims)) != 1:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of dimensions, "
            f"but got: anchor {dims[0]}D, positive {dims[1]}D, and negative {dims[2]}D inputs"
        )
    distance = lambda a, b: pairwise_distance(a, b, p, eps)  # noqa: E731
    return _triplet(anchor, positive, negative, distance, margin, swap, reduction)


def _triplet(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    distance: Callable,
    margin: float,
    swap: bool,
    reduction: str,
) -> Tensor:
    to_positive = distance(anchor, positive)
    to_negative = distance(anchor, negative)
    if swap:
        to_negative = to_negative.minimum(distance(positive, negative))
    return reduce_tensor((margin + to_positive - to_negative).clamp_min(0), reduction)


@register_functional()
def triplet_margin_with_distance_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    distance_function: Callable | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    if margin <= 0:
        raise ValueError(
            f"triplet_margin_with_distance_loss: expected margin to be greater than 0, got {margin} instead"
        )
    reduction = resolve_reduction(reduction)
    distance = _distance_or_default(distance_function)
    return _triplet(anchor, positive, negative, distance, margin, swap, reduction)


def _check_margin_input(input: Tensor, target: Tensor, name: str) -> tuple[int, int]:
    """(N, C) of a 1-D (C,) or 2-D (N, C) input; torch's message otherwise."""
    if input.ndim > 2 or (input.ndim == 2 and input.shape[1] == 0) or (input.ndim < 2 and input.numel() == 0):
        raise RuntimeError(
            f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: {input.size()}"
        )
    n, c = (1, input.numel()) if input.ndim < 2 else input.shape
    if target.numel() != n * (c if name == "multilabel" else 1):
        raise RuntimeError(f"inconsistent target size: {target.size()} for input of size: {input.size()}")
    return n, c


@register_functional()
def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """sum over j != y of w[y] max(0, margin - x[y] + x[j])^p / C, per sample."""
    reduction = resolve_reduction(reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim > 1:
        raise ValueError("weight must be one-dimensional")
    n, c = _check_margin_input(input, target, "multi")
    labels = np.asarray(target.cpu()._data).reshape(n).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= c):
        raise RuntimeError("target out of range")
    x = input.reshape(n, c)  # (N, C)
    picked = x.gather(1, wrap(labels.reshape(n, 1), device=input._device))  # (N, 1)
    hinge = margin - picked + x
    hinge = where(hinge > 0, hinge, 0.0)  # torch's `if (z > 0)`: a NaN term is skipped
    if p == 2:
        hinge = hinge * hinge
    if weight is not None:
        per_sample = constant_like(weight, input)[xp_of(input._data).asarray(labels)]
        hinge = hinge * wrap(per_sample.reshape(n, 1), device=input._device)
    not_label = np.arange(c)[None, :] != labels[:, None]  # (N, C)
    hinge = where(wrap(xp_of(input._data).asarray(not_label), device=input._device), hinge, 0.0)
    losses = hinge.sum(1) / c
    losses = losses if input.ndim == 2 else losses.reshape(tuple(target.shape))  # () or (1,), as target
    return reduce_tensor(losses, reduction)


def _label_counts(labels: Any, classes: int) -> Any:
    """(N, C) counts of each class among the labels before the first -1 of each row."""
    counts = np.zeros(labels.shape, dtype=np.int64)
    for row, values in enumerate(labels):
        ends = np.nonzero(values < 0)[0]
        valid = values[: ends[0]] if ends.size else values
        if valid.size and valid.max() >= classes:
            raise RuntimeError(f"target index out of range: {int(valid.max())} >= {classes}")
        np.add.at(counts[row], valid, 1)
    return counts


@register_functional()
def multilabel_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """sum over the labels j and the classes i that are not labels of max(0, 1 - (x[j] - x[i])) / C."""
    reduction = resolve_reduction(reduction, size_average, reduce)
    n, c = _check_margin_input(input, target, "multilabel")
    labels = np.asarray(target.cpu()._data).reshape(n, c).astype(np.int64)
    counts = _label_counts(labels, c)  # (N, C): how often class j is a label
    pair_weight = counts[:, :, None] * (counts == 0)[:, None, :]  # (N, j, i)
    x = input.reshape(n, c)
    hinge = 1 - x.unsqueeze(2) + x.unsqueeze(1)  # (N, j, i)
    hinge = where(hinge > 0, hinge, 0.0)  # torch's `if (z > 0)`: a NaN term is skipped
    weights = wrap(xp_of(input._data).asarray(pair_weight, dtype=input._data.dtype), device=input._device)
    losses = (hinge * weights).sum((1, 2)) / c
    losses = losses if input.ndim == 2 else losses.reshape(())
    return reduce_tensor(losses, reduction)
