"""F.conv1d/conv2d and F.conv_transpose1d/conv_transpose2d: torch's argument checks and messages,
then one op (`_conv_grads.Convolution` or `ConvTranspose`, both named ConvolutionBackward0)."""

from __future__ import annotations

import warnings
from typing import Any

from antorcha._registry import register_functional
from antorcha._tensor import Tensor
from antorcha.nn._arguments import require_tensor
from antorcha.nn.functional._conv_grads import Convolution, ConvTranspose, Geometry


def expand_param(value: Any, d: int, name: str, declared: int | None = None) -> tuple[int, ...]:
    """An int or a list of 1 or d ints, as d ints (torch's expand_param_if_needed). An int is first
    `declared` ints, as torch's argument parser makes it for conv2d's int[2] (then checked against
    the weight's d)."""
    if isinstance(value, int):
        if declared is None or declared == d:
            return (value,) * d
        value = (value,) * declared
    values = tuple(int(v) for v in value)
    if len(values) == 1:
        return values * d
    if len(values) != d:
        listed = ", ".join(str(v) for v in values)
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {d} values to match the "
            f"convolution dimensions, but got {name}=[{listed}]"
        )
    return values


def _check_input_dims(input: Tensor, d: int, name: str) -> bool:
    """Whether the input is batched; torch's message for a wrong number of dims."""
    if input.ndim not in (d + 1, d + 2):
        raise RuntimeError(
            f"Expected {d + 1}D (unbatched) or {d + 2}D (batched) input to {name}, but got input of "
            f"size: {list(input.shape)}"
        )
    return input.ndim == d + 2


def _check_dtypes(input: Tensor, weight: Tensor, bias: Tensor | None, kernel: str) -> None:
    if input._device != weight._device:
        raise RuntimeError(
            f"Input type ({input.device}) and weight type ({weight.device}) should be the same"
        )
    if input._data.dtype != weight._data.dtype:
        raise RuntimeError(
            f"expected scalar type {input.dtype.scalar_name} but found {weight.dtype.scalar_name}"
        )
    if bias is not None and bias._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"Input type ({_c_name(input)}) and bias type ({_c_name(bias)}) should be the same"
        )
    if input._data.dtype.kind == "b":
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


_C_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long", "int32": "int"}


def _c_name(t: Tensor) -> str:
    return _C_NAMES.get(t.dtype.name, t.dtype.name)


def _check_common(stride: tuple, padding: tuple, dilation: tuple, groups: int) -> None:
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")


def _check_weight(input: Tensor, weight: Tensor, groups: int, transposed: bool) -> None:
    w_shape, x_shape = list(weight.shape), list(input.shape)
    if weight.ndim != input.ndim:
        raise RuntimeError(
            f"Expected {weight.ndim}-dimensional input for {weight.ndim}-dimensional weight {w_shape}, "
            f"but got {input.ndim}-dimensional input of size {x_shape} instead"
        )
    if w_shape[0] % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got "
            f"weight of size [{w_shape}] instead"
        )
    expected = w_shape[0] if transposed else w_shape[1] * groups
    if x_shape[1] != expected:
        given = "transposed=1" if transposed else f"groups={groups}"
        raise RuntimeError(
            f"Given {given}, weight of size {w_shape}, expected input{x_shape} to have {expected} "
            f"channels, but got {x_shape[1]} channels instead"
        )


def _check_bias(bias: Tensor | None, weight: Tensor, channels: int, transposed: bool) -> None:
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != channels):
        given = "transposed=1, weight" if transposed else "weight"
        raise RuntimeError(
            f"Given {given} of size {list(weight.shape)}, expected bias to be 1-dimensional with "
            f"{channels} elements, but got bias of size {list(bias.shape)} instead"
        )


def _times(values: Any) -> str:
    return " x ".join(str(v) for v in values)


def _padding_of(
    padding: Any, kernel: tuple, dilation: tuple, stride: tuple, declared: int
) -> tuple[tuple, tuple]:
    """(before, after) per spatial dim, from an int, a tuple, 'same' or 'valid'."""
    d = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * d, (0,) * d
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        total = tuple(dl * (k - 1) for dl, k in zip(dilation, kernel))
        if any(t % 2 for t in total):
            warnings.warn(
                "Using padding='same' with even kernel lengths and odd dilation may require a "
                "zero-padded copy of the input be created",
                UserWarning,
                stacklevel=4,
            )
        return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)  # torch: the extra after
    values = expand_param(padding, d, "padding", declared)
    return values, values


def _convolution(
    input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any, groups: int,
    d: int, name: str,
) -> Tensor:
    require_tensor(input, name)
    require_tensor(weight, name, "weight", 2)
    batched = _check_input_dims(input, d, name)
    x = input if batched else input.unsqueeze(0)
    k = weight.ndim - 2
    stride, dilation = expand_param(stride, k, "stride", d), expand_param(dilation, k, "dilation", d)
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        _check_common(stride, (0,), dilation, groups)
    lo, hi = _padding_of(padding, kernel, dilation, stride, d)
    _check_common(stride, lo, dilation, groups)
    _check_weight(x, weight, groups, transposed=False)
    _check_bias(bias, weight, weight.shape[0], transposed=False)
    padded = tuple(s + a + b for s, a, b in zip(x.shape[2:], lo, hi))
    dilated = tuple(dl * (kk - 1) + 1 for dl, kk in zip(dilation, kernel))
    if any(p < kk for p, kk in zip(padded, dilated)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({_times(padded)}). Kernel size: "
            f"({_times(dilated)}). Kernel size can't be greater than actual input size"
        )
    _check_dtypes(x, weight, bias, f"slow_conv{d}d_cpu" if d > 1 else "slow_conv2d_cpu")
    geom = Geometry(stride, lo, hi, dilation, groups)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    out = Convolution.apply(*inputs, params=(geom, None))
    return out if batched else out.squeeze(0)


def _convolution_transpose(
    input: Any, weight: Any, bias: Any, stride: Any, padding: Any, output_padding: Any, groups: int,
    dilation: Any, d: int, name: str,
) -> Tensor:
    require_tensor(input, name)
    require_tensor(weight, name, "weight", 2)
    if isinstance(padding, str):
        raise TypeError(f"{name}(): argument 'padding' must be tuple of ints, not str")
    batched = _check_input_dims(input, d, name)
    x = input if batched else input.unsqueeze(0)
    k = weight.ndim - 2
    stride, dilation = expand_param(stride, k, "stride", d), expand_param(dilation, k, "dilation", d)
    pad = expand_param(padding, k, "padding", d)
    extra = expand_param(output_padding, k, "output_padding", d)
    _check_common(stride, pad, dilation, groups)
    _check_weight(x, weight, groups, transposed=True)
    _check_output_padding(extra, stride, dilation)
    channels = weight.shape[1] * groups
    _check_bias(bias, weight, channels, transposed=True)
    kernel = tuple(weight.shape[2:])
    size = tuple(
        (i - 1) * s - 2 * p + dl * (kk - 1) + e + 1
        for i, s, p, dl, kk, e in zip(x.shape[2:], stride, pad, dilation, kernel, extra)
    )
    if any(s <= 0 for s in size):
        raise RuntimeError(
            f"Given input size per channel: ({_times(x.shape[2:])}). Calculated output size per "
            f"channel: ({_times(size)}). Output size is too small"
        )
    _check_dtypes(x, weight, bias, f"slow_conv_transpose{max(d, 2)}d_out_cpu")
    geom = Geometry(stride, pad, pad, dilation, groups)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    out = ConvTranspose.apply(*inputs, params=(size, geom))
    return out if batched else out.squeeze(0)


def _check_output_padding(extra: tuple, stride: tuple, dilation: tuple) -> None:
    if all(e < s or e < dl for e, s, dl in zip(extra, stride, dilation)):
        return
    if len(extra) == 1:  # torch checks a 1-d convolution as a 2-d one of height 1
        extra, stride, dilation = (0, *extra), (1, *stride), (1, *dilation)
    raise RuntimeError(
        "output padding must be smaller than either stride or dilation, but got "
        f"output_padding_height: {extra[0]} output_padding_width: {extra[1]} "
        f"stride_height: {stride[0]} stride_width: {stride[1]} "
        f"dilation_height: {dilation[0]} dilation_width: {dilation[1]}"
    )


@register_functional()
def conv1d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
    dilation: Any = 1, groups: int = 1,
) -> Tensor:
    return _convolution(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


@register_functional()
def conv2d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
    dilation: Any = 1, groups: int = 1,
) -> Tensor:
    return _convolution(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


@register_functional()
def conv_transpose1d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
    output_padding: Any = 0, groups: int = 1, dilation: Any = 1,
) -> Tensor:
    return _convolution_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 1, "conv_transpose1d"
    )


@register_functional()
def conv_transpose2d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
    output_padding: Any = 0, groups: int = 1, dilation: Any = 1,
) -> Tensor:
    return _convolution_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 2, "conv_transpose2d"
    )
