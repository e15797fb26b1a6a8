"""Pairwise distances: cdist, with torch's forward kernels and backward rules (0 at zero distance)."""

from __future__ import annotations

import math
from typing import Any

from antorcha._device import quiet_float_errors, xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._common import broadcast_shapes
from antorcha.ops.contraction import _require_same_dtype
from antorcha.ops.elementwise import where
from antorcha.ops.movement import cat
from antorcha.ops.unary import zeros_like_grad

_COMPUTE_MODES = (
    "use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"
)


def _p_norm_last(xp: Any, diff: Any, p: float) -> Any:
    """The p-norm over the last axis of an array of differences."""
    magnitude = xp.abs(diff)
    if p == 0:  # torch's kernel counts min(ceil(|d|), 1): a NaN difference makes the count NaN
        return xp.minimum(xp.ceil(magnitude), 1).sum(-1)
    if p == 1:
        return magnitude.sum(-1)
    if p == 2:
        return xp.sqrt((diff * diff).sum(-1))
    if p == math.inf:  # torch's kernel runs max(agg, |d|) from 0, where a NaN |d| never wins
        magnitude = xp.where(xp.isnan(magnitude), 0, magnitude)
        return magnitude.max(-1) if diff.shape[-1] else xp.zeros(diff.shape[:-1], diff.dtype)
    return (magnitude**p).sum(-1) ** (1 / p)


class Cdist(Op):
    """Distances by the difference of every pair of rows (the form torch's own kernel computes)."""

    @staticmethod
    def forward(ctx: Any, x1: Any, x2: Any, p: float) -> Any:
        ctx.p = p
        with quiet_float_errors():
            out = _p_norm_last(xp_of(x1), x1[..., :, None, :] - x2[..., None, :, :], p)  # (B, P, R)
        ctx.save_for_backward(x1, x2, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x1, x2, dist = ctx.saved_tensors
        diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (B, P, R, M)
        slope = _distance_slope(diff, dist.unsqueeze(-1), ctx.p)  # d dist / d x1, per pair and column
        weighted = grad.unsqueeze(-1) * slope
        return weighted.sum(-2), -weighted.sum(-3)


def _distance_slope(diff: Tensor, dist: Tensor, p: float) -> Tensor:
    """torch's cdist backward: 0 where the distance is 0 (and where a difference is 0, for p < 1)."""
    if p == 0:  # a count of nonzero differences: no gradient, even where a difference is infinite
        return zeros_like_grad(diff)
    sign = where(diff.isnan(), diff, diff.sign())  # the kernel's sign keeps a NaN (torch.sign gives 0)
    if p == 1:
        return sign
    if p == math.inf:  # torch's 1 - min(1, ceil(||d| - dist|)): NaN where |d| and dist are both inf
        return sign * (1 - (diff.abs() - dist).abs().ceil().clamp_max(1))
    at_zero = dist == 0
    safe = where(at_zero, 1.0, dist)
    if p == 2:
        return where(at_zero, 0.0, diff / safe)
    if p < 1:  # |diff|^(p-1) is inf at diff = 0: torch's 0 there
        at_zero = at_zero | (diff == 0)
        magnitude = where(diff == 0, 1.0, diff.abs())
        return where(at_zero, 0.0, sign * magnitude ** (p - 1) / safe ** (p - 1))
    if p < 2:  # |diff|^(p-1) is 0 at diff = 0, and 0 / NaN stays NaN, as in torch's kernel
        return where(at_zero, 0.0, sign * diff.abs() ** (p - 1) / safe ** (p - 1))
    return where(at_zero, 0.0, diff * diff.abs() ** (p - 2) / safe ** (p - 1))


def _euclidean_by_matmul(x1: Tensor, x2: Tensor) -> Tensor:
    """torch's mm form: |x1|^2 - 2 x1 x2^T + |x2|^2 as one product of padded matrices, then
    clamped at 1e-30 and rooted, with autograd through the pieces (as torch has it)."""
    x1_norm = (x1 * x1).sum(-1, keepdim=True)  # (B, P, 1)
    x2_norm = (x2 * x2).sum(-1, keepdim=True)  # (B, R, 1)
    ones_1 = wrap(xp_of(x1._data).ones(x1_norm.shape, dtype=x1._data.dtype), device=x1._device)
    ones_2 = wrap(xp_of(x2._data).ones(x2_norm.shape, dtype=x2._data.dtype), device=x2._device)
    left = cat([x1 * -2.0, x1_norm, ones_1], dim=-1)  # (B, P, M + 2)
    right = cat([x2, ones_2, x2_norm], dim=-1)  # (B, R, M + 2)
    return (left @ right.transpose(-1, -2)).clamp_min(1e-30).sqrt()


def _check_cdist(x1: Tensor, x2: Tensor, p: float, compute_mode: Any) -> None:
    if compute_mode not in _COMPUTE_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    for name, x in (("X1", x1), ("X2", x2)):
        if x.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {x.ndim}D")
        if not x.dtype.is_floating_point:
            raise RuntimeError(
                f"cdist only supports floating-point dtypes, {name} got: {x.dtype.scalar_name}"
            )
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(
            f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}"
        )
    _require_same_dtype(x1, x2)
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")


@register(method=False)
def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The p-norm distance between each row of x1 (B.., P, M) and each row of x2 (B.., R, M): (B.., P, R)."""
    _check_cdist(x1, x2, p, compute_mode)
    broadcast_shapes(x1.shape[:-2], x2.shape[:-2])  # torch's message for batch dims that do not broadcast
    rows_1, rows_2 = x1.shape[-2], x2.shape[-2]
    by_matmul = p == 2 and (compute_mode == "use_mm_for_euclid_dist" or (
        compute_mode == _COMPUTE_MODES[0] and (rows_1 > 25 or rows_2 > 25)))
    if by_matmul:
        return _euclidean_by_matmul(x1, x2)
    return Cdist.apply(x1, x2, params=(float(p),))
