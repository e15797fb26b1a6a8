"""Functional layers: dropout, embedding, layer_norm, rms_norm and one_hot (F.linear is in ops/linalg.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._device import add_at, xp_of
from antorcha._grad_mode import is_grad_enabled, no_grad
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._bfloat16 import in_float32
from antorcha.speed import kernels as compiled_kernels


def keep_mask(input: Tensor, p: float, shape: tuple | None = None) -> Any:
    """Bernoulli(1 - p) keep-mask scaled by 1 / (1 - p), of input's shape (or `shape`) and dtype,
    drawn from the default generator as torch's dropout draws it."""
    from antorcha import random

    data = input._data
    shape = data.shape if shape is None else shape
    if p >= 1.0:
        return xp_of(data).zeros(shape, dtype=data.dtype)
    rng = random.generator_for(input._device)
    keep = random.draw_bernoulli(rng, shape, 1.0 - p)  # torch's noise.bernoulli_(1 - p)
    return keep.astype(data.dtype) * (data.dtype.type(1) / data.dtype.type(1.0 - p))  # noise.div_(1 - p)


@register_functional()
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0 or input.numel() == 0:
        return input
    mask = wrap(keep_mask(input, p), device=input._device)
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


@register_functional()
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
    return Embedding.apply(weight, params=(indices, padding_idx, bool(scale_grad_by_freq)))


def _normalized_shape(input: Tensor, normalized_shape: Any, star: str) -> tuple:
    """normalized_shape as a tuple, checked against input's trailing dims with torch's message."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    n_dims = len(shape)
    if n_dims == 0 or input.ndim < n_dims or tuple(input.shape[input.ndim - n_dims :]) != shape:
        dims = ", ".join(str(s) for s in shape)
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape [{star}{dims}], "
            f"but got input of size{list(input.shape)}"
        )
    return shape


@register_functional()
def layer_norm(
    input: Tensor,
    normalized_shape: Any,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    shape = _normalized_shape(input, normalized_shape, "*, ")
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
    op = in_float32(NativeLayerNorm) if input._data.dtype.kind == "V" else NativeLayerNorm  # bfloat16
    return op.apply(*inputs, params=(len(shape), eps))


@register_functional()
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


class NativeLayerNorm(Op):
    """Normalize over the last `n_dims` dims, then scale and shift: inputs (x[, weight[, bias]])."""

    @staticmethod
    def forward(ctx: Any, *args: Any) -> Any:
        *arrays, n_dims, eps = args
        x = arrays[0]
        axes = tuple(range(x.ndim - n_dims, x.ndim))
        compiled = compiled_kernels.layer_norm(x, n_dims, eps, *arrays[1:3])  # Numba, where installed
        out, mean, rstd = compiled if compiled is not None else _layer_norm_passes(arrays, axes, eps)
        ctx.save_for_backward(*arrays[:2])
        ctx.axes, ctx.eps, ctx.mean, ctx.rstd = axes, eps, mean, rstd  # (..., 1): torch keeps these too
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        saved = ctx.saved_tensors
        x, weight = saved[0], (saved[1] if len(saved) > 1 else None)
        axes = ctx.axes
        inputs = len(ctx.needs_input_grad)
        needs = tuple(ctx.needs_input_grad) + (False,) * (3 - inputs)  # (x, weight, bias)
        if is_grad_enabled():  # create_graph: the statistics must be functions of x too
            mean = x.mean(axes, keepdim=True)
            rstd = ((x - mean).square().mean(axes, keepdim=True) + ctx.eps).rsqrt()
        else:
            weight_array = weight._data if weight is not None else None
            compiled = compiled_kernels.layer_norm_backward(  # one loop, where Numba is installed
                grad._data, x._data, weight_array, ctx.mean, ctx.rstd, len(axes), needs
            )
            if compiled is not None:
                device = grad._device
                return tuple(wrap(a, device=device) if a is not None else None for a in compiled[:inputs])
            mean, rstd = wrap(ctx.mean, device=grad._device), wrap(ctx.rstd, device=grad._device)
        x_hat = (x - mean) * rstd
        grad_x = None
        if needs[0]:
            g_hat = grad * weight if weight is not None else grad
            grad_x = rstd * (
                g_hat - g_hat.mean(axes, keepdim=True) - x_hat * (g_hat * x_hat).mean(axes, keepdim=True)
            )
        # weight and bias gradients are summed over the batch dims centrally (broadcast undo)
        grad_w = grad * x_hat if needs[1] else None
        grad_b = grad if needs[2] else None
        return (grad_x, grad_w, grad_b)[:inputs]


def _layer_norm_passes(arrays: list, axes: tuple, eps: float) -> tuple:
    """(out, mean, rstd) of NativeLayerNorm's forward as NumPy passes."""
    x = arrays[0]
    xp = xp_of(x)
    mean = x.mean(axis=axes, keepdims=True)
    out = xp.subtract(x, mean, out=xp.empty_like(x))  # centered, then normalized in place
    variance = xp.square(out).mean(axis=axes, keepdims=True)
    rstd = 1 / xp.sqrt(variance + eps)
    out *= rstd
    if len(arrays) > 1:
        out *= arrays[1]
    if len(arrays) > 2:
        out += arrays[2]
    return out, mean, rstd


class Embedding(Op):
    """weight[indices]; the indices are a constant parameter, never differentiated."""

    @staticmethod
    def forward(ctx: Any, weight: Any, indices: Any, padding_idx: int | None, scale_by_freq: bool) -> Any:
        xp = xp_of(weight)
        ctx.indices, ctx.num_weights = indices, weight.shape[0]
        ctx.padding_idx, ctx.scale_by_freq = padding_idx, scale_by_freq
        return xp.take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        params = (ctx.indices, ctx.num_weights, ctx.padding_idx, ctx.scale_by_freq)
        return EmbeddingDenseBackward.apply(grad, params=params)


class EmbeddingDenseBackward(Op):
    """Scatter-add of output gradients into weight rows; the padding row gets nothing."""

    @staticmethod
    def forward(
        ctx: Any, grad: Any, indices: Any, num_weights: int, padding_idx: Any, scale_by_freq: bool
    ) -> Any:
        xp = xp_of(grad)
        flat_index = indices.reshape(-1)
        flat_grad = grad.reshape(flat_index.shape[0], -1)
        keep = None
        if padding_idx is not None:
            keep = flat_index != padding_idx
            flat_index, flat_grad = flat_index[keep], flat_grad[keep]
        if scale_by_freq:
            counts = xp.bincount(flat_index, minlength=num_weights)
            flat_grad = flat_grad / counts[flat_index][:, None].astype(grad.dtype)
        out = xp.zeros((num_weights, flat_grad.shape[1]), dtype=grad.dtype)
        if not compiled_kernels.add_rows_at(out, flat_index, flat_grad):  # Numba: one loop over the rows
            add_at(out, flat_index, flat_grad)
        ctx.indices, ctx.keep, ctx.scale_by_freq = indices, keep, scale_by_freq
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        if ctx.scale_by_freq:
            raise RuntimeError("double backward of embedding with scale_grad_by_freq=True is not supported")
        out = Embedding.apply(grad, params=(ctx.indices, None, False))
        if ctx.keep is not None:
            mask = ctx.keep.reshape(ctx.indices.shape + (1,)).astype(grad._data.dtype)
            out = out * wrap(mask, device=grad._device)  # the padding rows get no gradient
        return out


@register_functional()
def rms_norm(
    input: Tensor, normalized_shape: Any, weight: Tensor | None = None, eps: float | None = None
) -> Tensor:
    """x / sqrt(mean(x², trailing dims) + eps) · weight; eps None is the dtype's machine epsilon, as
    torch. Built from Tensor ops, so autograd (to any order) comes from theirs."""
    shape = _normalized_shape(input, normalized_shape, "*")  # torch's rms_norm message has no ", "
    if eps is None:
        eps = float(np.finfo(input._data.dtype).eps)
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    normalized = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return normalized if weight is None else normalized * weight
