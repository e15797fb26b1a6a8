"""Shape and sampling layers: unfold/fold (im2col/col2im, one op each, each the other's backward),
pixel_shuffle/pixel_unshuffle, channel_shuffle, and the channel-wise and alpha dropouts.

interpolate and the upsample spellings are in `_interpolate.py`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from antorcha._device import xp_of
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op

Pair = tuple[int, int]


def _pair(value: Any) -> Pair:
    if isinstance(value, (tuple, list)):
        return (int(value[0]), int(value[1])) if len(value) == 2 else (int(value[0]),) * 2
    return (int(value), int(value))


def _blocks(size: Pair, kernel: Pair, dilation: Pair, padding: Pair, stride: Pair) -> Pair:
    """How many sliding blocks fit along each of the two spatial dims."""
    return tuple(  # type: ignore[return-value]
        (size[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(2)
    )


def _window(start: int, count: int, step: int) -> slice:
    return slice(start, start + step * (count - 1) + 1, step)


class Im2Col(Op):
    """(N, C, H, W) -> (N, C·kh·kw, L): every kernel-sized block, one column each. The forward
    copies kh·kw strided slices of the padded input; the backward is Col2Im, its adjoint."""

    @staticmethod
    def forward(ctx: Any, x: Any, kernel: Pair, dilation: Pair, padding: Pair, stride: Pair) -> Any:
        xp = xp_of(x)
        n, c, h, w = x.shape
        ctx.geometry = ((h, w), kernel, dilation, padding, stride)
        rows, cols = _blocks((h, w), kernel, dilation, padding, stride)
        padded = xp.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2)) if any(padding) else x
        out = xp.empty((n, c, kernel[0], kernel[1], rows, cols), dtype=x.dtype)  # (N, C, kh, kw, oh, ow)
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                out[:, :, i, j] = padded[
                    :, :, _window(i * dilation[0], rows, stride[0]), _window(j * dilation[1], cols, stride[1])
                ]
        return out.reshape(n, c * kernel[0] * kernel[1], rows * cols)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return Col2Im.apply(grad, params=ctx.geometry)


class Col2Im(Op):
    """(N, C·kh·kw, L) -> (N, C, H, W): each column added back where its block came from
    (overlaps sum). The backward is Im2Col."""

    @staticmethod
    def forward(
        ctx: Any, cols: Any, size: Pair, kernel: Pair, dilation: Pair, padding: Pair, stride: Pair
    ) -> Any:
        xp = xp_of(cols)
        ctx.geometry = (kernel, dilation, padding, stride)
        n, c = cols.shape[0], cols.shape[1] // (kernel[0] * kernel[1])
        rows, columns = _blocks(size, kernel, dilation, padding, stride)
        blocks = cols.reshape(n, c, kernel[0], kernel[1], rows, columns)
        out = xp.zeros((n, c, size[0] + 2 * padding[0], size[1] + 2 * padding[1]), dtype=cols.dtype)
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                window = (
                    _window(i * dilation[0], rows, stride[0]),
                    _window(j * dilation[1], columns, stride[1]),
                )
                out[:, :, window[0], window[1]] += blocks[:, :, i, j]
        return out[:, :, padding[0] : padding[0] + size[0], padding[1] : padding[1] + size[1]]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return Im2Col.apply(grad.contiguous(), params=ctx.geometry)


def _check_geometry(kernel: Pair, dilation: Pair, padding: Pair, stride: Pair) -> None:
    checks = (
        (kernel, "kernel size should be greater than zero, but got kernel_height: {} kernel_width: {}", 1),
        (dilation, "dilation should be greater than zero, but got dilation_height: {} dilation_width: {}", 1),
        (padding, "padding should be non-negative, but got pad_height: {} pad_width: {}", 0),
        (stride, "stride should be greater than zero, but got stride_height: {} stride_width: {}", 1),
    )
    for values, message, least in checks:
        if min(values) < least:
            raise RuntimeError(message.format(*values))


@register_functional()
def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Tensor:
    """im2col: (N, C, H, W) -> (N, C·kh·kw, L), or (C, H, W) -> (C·kh·kw, L)."""
    kernel, dilation, padding, stride = _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)
    _check_geometry(kernel, dilation, padding, stride)
    if input.ndim == 0:  # torch reads the size of dim ndim first
        raise IndexError("Dimension specified as 1 but tensor has no dimensions")
    if input.ndim < 3:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-input.ndim}, {input.ndim - 1}], "
            f"but got {input.ndim})"
        )
    if input.ndim > 4 or any(n == 0 for n in input.shape[1:]):
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, "
            f"but got: {list(input.shape)}"
        )
    batched = input.ndim == 4
    x = input if batched else input.unsqueeze(0)
    size = tuple(x.shape[2:])
    blocks = _blocks(size, kernel, dilation, padding, stride)  # type: ignore[arg-type]
    if min(blocks) < 1:
        raise RuntimeError(
            f"Given input with spatial size {size}, kernel_size={kernel}, dilation={dilation}, "
            f"padding={padding}, calculated shape of the array of sliding blocks as {blocks}, "
            "but its components must be at least one."
        )
    out = Im2Col.apply(x.contiguous(), params=(kernel, dilation, padding, stride))
    return out if batched else out.squeeze(0)


@register_functional()
def fold(
    input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
) -> Tensor:
    """col2im: (N, C·kh·kw, L) -> (N, C, H, W) with H, W = output_size; overlapping blocks sum."""
    size, kernel = _pair(output_size), _pair(kernel_size)
    dilation, padding, stride = _pair(dilation), _pair(padding), _pair(stride)
    _check_geometry(kernel, dilation, padding, stride)
    if input.ndim not in (2, 3) or any(n == 0 for n in input.shape[1:]):
        raise RuntimeError(
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero "
            f"dimensions for input, but got: {list(input.shape)}"
        )
    batched = input.ndim == 3
    cols = input if batched else input.unsqueeze(0)
    if cols.shape[1] % (kernel[0] * kernel[1]):
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got "
            f"input.size(1)={cols.shape[1]} and kernel_size={kernel}."
        )
    rows, columns = _blocks(size, kernel, dilation, padding, stride)
    if cols.shape[2] != rows * columns:
        raise RuntimeError(
            f"Given output_size={size}, kernel_size={kernel}, dilation={dilation}, padding={padding}, "
            f"stride={stride}, expected size of input's dimension 2 to match the calculated number of "
            f"sliding blocks {rows} * {columns} = {rows * columns}, but got input.size(2)={cols.shape[2]}."
        )
    out = Col2Im.apply(cols.contiguous(), params=(size, kernel, dilation, padding, stride))
    return out if batched else out.squeeze(0)


def _check_factor(input: Tensor, factor: int, name: str, what: str) -> None:
    if input.ndim < 3:
        raise RuntimeError(
            f"{name} expects input to have at least 3 dimensions, "
            f"but got input with {input.ndim} dimension(s)"
        )
    if factor <= 0:
        raise RuntimeError(f"{name} expects a positive {what}, but got {factor}")


@register_functional()
def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C·r², H, W) -> (*, C, H·r, W·r)."""
    r = upscale_factor
    _check_factor(input, r, "pixel_shuffle", "upscale_factor")
    *batch, channels, h, w = input.shape
    if channels % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
            f"upscale_factor, but input.size(-3)={channels} is not divisible by {r * r}"
        )
    lead = len(batch)
    x = input.reshape(*batch, channels // (r * r), r, r, h, w)
    x = x.permute(*range(lead), lead, lead + 3, lead + 1, lead + 4, lead + 2)  # (*, C, H, r, W, r)
    return x.reshape(*batch, channels // (r * r), h * r, w * r)


@register_functional()
def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H·r, W·r) -> (*, C·r², H, W)."""
    r = downscale_factor
    _check_factor(input, r, "pixel_unshuffle", "downscale_factor")
    *batch, channels, h, w = input.shape
    for size, side, index in ((h, "height", -2), (w, "width", -1)):
        if size % r:
            raise RuntimeError(
                f"pixel_unshuffle expects {side} to be divisible by downscale_factor, but "
                f"input.size({index})={size} is not divisible by {r}"
            )
    lead = len(batch)
    x = input.reshape(*batch, channels, h // r, r, w // r, r)
    x = x.permute(*range(lead), lead, lead + 2, lead + 4, lead + 1, lead + 3)  # (*, C, r, r, H, W)
    return x.reshape(*batch, channels * r * r, h // r, w // r)


@register_functional()
def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """(N, C, *) -> the channels regrouped: (N, g, C/g, *) transposed to (N, C/g, g, *)."""
    if input.ndim <= 2:
        raise RuntimeError(
            f"channel_shuffle expects input with > 2 dims, but got input with sizes {list(input.shape)}"
        )
    if groups <= 0:
        raise RuntimeError(
            f"Number of groups to divide channels in must be positive. Value of groups:{groups}"
        )
    n, channels, *rest = input.shape
    if channels % groups:
        raise RuntimeError(
            f"Number of channels must be divisible by groups. Got {channels} channels and {groups} groups."
        )
    x = input.reshape(n, groups, channels // groups, *rest).transpose(1, 2)
    return x.reshape(n, channels, *rest)


# ---- channel-wise and alpha dropout -------------------------------------------------------------
_SELU_ALPHA_PRIME = 1.7580993408473766  # -selu's scale * alpha: the value alpha dropout drops to


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep(input: Tensor, p: float, feature: bool) -> Any:
    """A Bernoulli(1 - p) array of 0s and 1s: one per element, or per (N, C) when `feature`."""
    from antorcha import random

    data = input._data
    if feature and input.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    shape = (*data.shape[:2], *([1] * (data.ndim - 2))) if feature else data.shape
    rng = random.generator_for(input._device)
    return (random.draw_uniform(rng, shape, data.dtype.type) < (1.0 - p)).astype(data.dtype)


def _dropout(input: Tensor, p: float, training: bool, inplace: bool, feature: bool, alpha: bool) -> Tensor:
    """torch's _dropout_impl: identity outside training; zeros for p = 1; otherwise the input times
    keep / (1 - p), or, for alpha dropout, times a·keep plus b = a alpha' (keep - 1 + p)."""
    _check_p(p)
    if p == 0 or not training or input.numel() == 0:
        return input
    if p == 1:
        return input.mul_(0.0) if inplace else input * 0.0
    keep = _keep(input, p, feature)
    if not alpha:
        noise = wrap(keep / keep.dtype.type(1 - p), device=input._device)
        return input.mul_(noise) if inplace else input * noise
    a = 1.0 / math.sqrt((_SELU_ALPHA_PRIME**2 * p + 1) * (1 - p))
    shift = wrap(
        (keep - 1) * keep.dtype.type(_SELU_ALPHA_PRIME * a) + keep.dtype.type(_SELU_ALPHA_PRIME * a * p),
        device=input._device,
    )
    scale = wrap(keep * keep.dtype.type(a), device=input._device)
    return input.mul_(scale).add_(shift) if inplace else input * scale + shift


@register_functional()
def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    return _dropout(input, p, training, inplace, feature=False, alpha=True)


@register_functional()
def feature_alpha_dropout(
    input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    return _dropout(input, p, training, inplace, feature=True, alpha=True)


def _channel_dropout(input: Tensor, p: float, training: bool, inplace: bool, batched: bool) -> Tensor:
    x = input if batched else (input.unsqueeze_(0) if inplace else input.unsqueeze(0))
    out = _dropout(x, p, training, inplace, feature=True, alpha=False)
    return out if batched else (out.squeeze_(0) if inplace else out.squeeze(0))


@register_functional()
def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    _check_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. "
            "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 "
            "spatial dimension, a channel dimension, and an optional batch dimension "
            "(i.e. 2D or 3D inputs)."
        )
    return _channel_dropout(input, p, training, inplace, batched=input.ndim == 3)


def _warn_spatial_dims(name: str, ndim: int, spatial: int) -> None:
    warnings.warn(
        f"{name}: Received a {ndim}-D input to {name}, which is deprecated "
        "and will result in an error in a future release. To retain the behavior "
        f"and silence this warning, please use dropout instead. Note that {name} "
        f"exists to provide channel-wise dropout on inputs with {spatial} spatial dimensions, "
        "a channel dimension, and an optional batch dimension "
        f"(i.e. {spatial + 1}D or {spatial + 2}D inputs).",
        stacklevel=3,
    )


@register_functional()
def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    _check_p(p)
    if input.ndim not in (3, 4):
        _warn_spatial_dims("dropout2d", input.ndim, 2)
    if input.ndim == 3:  # torch reads (N, C, L) here, for now, and says so
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
            "1D dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
    return _dropout(input, p, training, inplace, feature=True, alpha=False)


@register_functional()
def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    _check_p(p)
    if input.ndim not in (4, 5):
        _warn_spatial_dims("dropout3d", input.ndim, 3)
    return _channel_dropout(input, p, training, inplace, batched=input.ndim == 5)
