"""Functional layers: linear, dropout, embedding, layer_norm and one_hot."""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._device import xp_of
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.grad_mode import no_grad
from antorcha.nn import _ops
from antorcha.ops.linalg import linear as _linear


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """input @ weight.T + bias (one fused addmm node for 2-D inputs)."""
    return _linear(input, weight, bias)


def _keep_mask(input: Tensor, p: float) -> Any:
    """Bernoulli(1 - p) keep-mask scaled by 1 / (1 - p), drawn from antorcha's generator."""
    from antorcha import random

    data = input._data
    if p == 1.0:
        return xp_of(data).zeros(data.shape, dtype=data.dtype)
    rng = random.generator_for(input._device)
    keep = random.draw_uniform(rng, data.shape, data.dtype.type) < (1.0 - p)
    return keep.astype(data.dtype) * data.dtype.type(1.0 / (1.0 - p))


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0 or input.numel() == 0:
        return input
    mask = wrap(_keep_mask(input, p), device=input._device)
    return input.mul_(mask) if inplace else input * mask


def _check_indices(input: Tensor, num_embeddings: int) -> Any:
    if input.dtype not in (_dtypes.int64, _dtypes.int32):
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
            f"Long, Int; but got {input.type()} instead (while checking arguments for embedding)"
        )
    indices = input._data
    if indices.size and (bool((indices < 0).any()) or bool((indices >= num_embeddings).any())):
        raise IndexError("index out of range in self")
    return indices


def _embedding_renorm(weight: Tensor, indices: Any, max_norm: float, norm_type: float) -> None:
    """Rescale, in place and outside autograd, the looked-up rows whose norm exceeds max_norm."""
    xp = xp_of(weight._data)
    rows = xp.unique(indices.reshape(-1))
    with no_grad():
        selected = weight._data[rows]
        norms = xp.linalg.norm(selected.astype(np.float64), ord=norm_type, axis=1)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(weight._data.dtype)
        weight._data[rows] = selected * scale[:, None]
        weight._bump_version()


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """weight[input]; the padding row receives no gradient. `sparse` gives a dense gradient."""
    num_embeddings = weight.shape[0]
    if padding_idx is not None:
        if padding_idx > 0 and padding_idx >= num_embeddings:
            raise AssertionError("Padding_idx must be within num_embeddings")
        if padding_idx < 0:
            if padding_idx < -num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx += num_embeddings
    indices = _check_indices(input, num_embeddings)
    if max_norm is not None:
        _embedding_renorm(weight, indices, max_norm, norm_type)
    return _ops.Embedding.apply(weight, params=(indices, padding_idx, bool(scale_grad_by_freq)))


def layer_norm(
    input: Tensor,
    normalized_shape: Any,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    n_dims = len(shape)
    if n_dims == 0 or tuple(input.shape[input.ndim - n_dims :]) != shape or input.ndim < n_dims:
        dims = ", ".join(str(s) for s in shape)
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape [*, {dims}], "
            f"but got input of size{list(input.shape)}"
        )
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None and tuple(value.shape) != shape:
            raise RuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                f"{list(value.shape)} and normalized_shape = {list(shape)}"
            )
    inputs = [input]
    if weight is not None or bias is not None:
        if weight is None:
            weight = wrap(xp_of(input._data).ones(shape, dtype=input._data.dtype), device=input._device)
        inputs.append(weight)
        if bias is not None:
            inputs.append(bias)
    return _ops.NativeLayerNorm.apply(*inputs, params=(n_dims, eps))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    if tensor.dtype is not _dtypes.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    data = tensor._data
    xp = xp_of(data)
    if num_classes == -1:
        if data.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(data.max()) + 1
    if data.size and int(data.min()) < 0:
        raise RuntimeError("Class values must be non-negative.")
    if data.size and int(data.max()) >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    out = (data[..., None] == xp.arange(num_classes)).astype(np.int64)
    return wrap(out, device=tensor._device)
