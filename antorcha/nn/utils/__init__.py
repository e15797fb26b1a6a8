"""antorcha.nn.utils: gradient clipping and flat parameter vectors (torch.nn.utils)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._grad_mode import no_grad
from antorcha._tensor import Tensor, wrap

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _as_list(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _vector_norm(array: Any, p: float) -> Any:
    """||array||_p over all elements, in the array's dtype (torch.linalg.vector_norm)."""
    xp = xp_of(array)
    flat = xp.abs(array.reshape(-1))
    if p == math.inf:
        return flat.max() if flat.size else xp.zeros((), dtype=array.dtype)
    if p == -math.inf:
        return flat.min() if flat.size else xp.asarray(math.inf, dtype=array.dtype)
    if p == 0:
        return xp.asarray(xp.count_nonzero(flat), dtype=array.dtype)
    if p == 1:
        return flat.sum()
    if p == 2:
        return xp.sqrt(xp.dot(flat, flat))
    return (flat**p).sum() ** (1.0 / p)


def get_total_norm(
    tensors: Tensor | Iterable[Tensor],
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: Any = None,
) -> Tensor:
    """The p-norm of the norms of `tensors`: the norm of all their elements taken together."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return wrap(np.asarray(0.0, dtype=np.float32))
    device = tensors[0]._device
    dtype = np.result_type(*[t._data.dtype for t in tensors])
    xp = xp_of(tensors[0]._data)
    norms = xp.stack([xp.asarray(_vector_norm(t._data, norm_type), dtype=dtype) for t in tensors])
    total = xp.asarray(_vector_norm(norms, norm_type), dtype=dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
            "cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
            "anyway, set `error_if_nonfinite=False`"
        )
    return wrap(total, device=device)


def clip_grads_with_norm_(
    parameters: Tensor | Iterable[Tensor], max_norm: float, total_norm: Tensor, foreach: Any = None
) -> None:
    """Scale every gradient by min(1, max_norm / (total_norm + 1e-6)), in place."""
    grads = [p._grad for p in _as_list(parameters) if p._grad is not None]
    if not grads:
        return
    with no_grad():
        norm = total_norm._data
        coefficient = xp_of(norm).minimum(float(max_norm) / (norm + norm.dtype.type(1e-6)), 1.0)
        for grad in grads:
            grad._data *= coefficient.astype(grad._data.dtype)
            grad._bump_version()


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: Any = None,
) -> Tensor:
    """Rescale gradients so their total norm is at most max_norm; returns the norm before clipping."""
    parameters = _as_list(parameters)
    grads = [p._grad for p in parameters if p._grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: Any = None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    with no_grad():
        for param in _as_list(parameters):
            grad = param._grad
            if grad is not None:
                xp_of(grad._data).clip(grad._data, -clip_value, clip_value, out=grad._data)
                grad._bump_version()


def _check_same_device(param: Tensor, device: Any) -> Any:
    if device is not None and param._device != device:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return param._device


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one vector (differentiable)."""
    from antorcha.ops.movement import cat

    device = None
    pieces = []
    for param in parameters:
        device = _check_same_device(param, device)
        pieces.append(param.reshape(-1))
    return cat(pieces)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Point each parameter's data at its slice of `vec` (they share memory afterwards, as in torch)."""
    if not isinstance(vec, Tensor):
        from antorcha._functional import typename

        raise TypeError(f"expected antorcha.Tensor, but got: {typename(vec)}")
    device = None
    pointer = 0
    for param in parameters:
        device = _check_same_device(param, device)
        count = param.numel()
        param._data = vec._data[pointer : pointer + count].reshape(param.shape)
        pointer += count
