"""Helpers shared by the functional ops: reduction arguments, dtype names, raw-array access."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from antorcha._grad_mode import is_grad_enabled
from antorcha._tensor import Tensor


def maybe_inplace(input: Tensor, compute: Callable[[Tensor], Tensor], inplace: bool) -> Tensor:
    """compute(input), written into input when `inplace`. Under autograd the result is computed
    from a copy, so that what its backward saved is not the memory being overwritten."""
    if not inplace:
        return compute(input)
    recording = input.requires_grad and is_grad_enabled()
    return input.copy_(compute(input.clone() if recording else input))


def legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """torch's _Reduction.legacy_get_string, with its deprecation warning."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    result = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{result}' instead.",
        stacklevel=3,
    )
    return result


_REDUCTIONS = frozenset(("none", "mean", "sum"))


def resolve_reduction(reduction: str, size_average: bool | None = None, reduce: bool | None = None) -> str:
    if reduction in _REDUCTIONS and size_average is None and reduce is None:
        return reduction  # the common case, first and cheap
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def reduce_tensor(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def require_floating(x: Tensor, kernel: str) -> None:
    if x._data.dtype.kind not in "fV":
        raise RuntimeError(f"\"{kernel}\" not implemented for '{x.dtype.scalar_name}'")


def constant_like(value: Tensor | None, like: Tensor) -> Any:
    """A tensor's array in `like`'s dtype, for use as a constant (weights are not differentiated)."""
    if value is None:
        return None
    if value._device != like._device:
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{like.device} and {value.device}!"
        )
    return value._data.astype(like._data.dtype, copy=False)


def warn_target_size(input: Tensor, target: Tensor) -> None:
    if target._data.shape != input._data.shape:
        warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input size ({input.size()}). "
            "This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=3,
        )
