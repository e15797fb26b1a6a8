"""F.interpolate (nearest, nearest-exact, linear, bilinear, bicubic, trilinear; area through
adaptive average pooling) and the deprecated F.upsample spellings.

Resampling is separable, so it runs one spatial dim at a time, last dim first: nearest is one
`index_select` per dim, linear interpolation two (`x[i0] l0 + x[i1] l1`), in torch's order of
operations (its CPU kernel sums along the last dim inside, then the one before). The gradient is
index_select's, a scatter-add of the weighted gradient: torch's upsample backward. The source
indices and weights are computed as torch's kernels compute them: nearest in C float, linear in
the input's dtype (its `opmath_t`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from antorcha._device import add_at, xp_of
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op

_LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3}
_MODES = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"


def _output_sizes(input: Tensor, size: Any, scale_factor: Any, recompute: bool | None) -> tuple[list, list]:
    """(output sizes, scales or None per dim), with torch's checks on size and scale_factor."""
    dims = input.ndim - 2
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if recompute:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        if isinstance(size, (list, tuple)):
            if len(size) != dims:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got "
                    f"input with spatial dimensions of {spatial} and output size of {size}. "
                    "Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                    "output size in (o1, o2, ...,oK) format."
                )
            return [int(s) for s in size], [None] * dims
        return [int(size)] * dims, [None] * dims
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if isinstance(scale_factor, (list, tuple)):
        if len(scale_factor) != dims:
            raise ValueError(
                "Input and scale_factor must have the same number of spatial dimensions, but "
                f"got input with spatial dimensions of {spatial} and "
                f"scale_factor of shape {scale_factor}. "
                "Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                "scale_factor in (s1, s2, ...,sK) format."
            )
        scales = [float(s) for s in scale_factor]
    else:
        scales = [float(scale_factor)] * dims
    sizes = [int(n * s) for n, s in zip(spatial, scales)]  # torch truncates the double product
    return sizes, ([None] * dims if recompute else scales)


def _check_sizes(input: Tensor, sizes: list) -> None:
    if min(sizes, default=1) > 0 and min(input.shape[2:], default=1) > 0:
        return
    names = ("D", "H", "W")[3 - len(sizes) :]
    given = ", ".join(f"{n}: {s}" for n, s in zip(names, input.shape[2:]))
    wanted = ", ".join(f"{n}: {s}" for n, s in zip(names, sizes))
    raise RuntimeError(
        f"Input and output sizes should be greater than 0, but got input ({given}) and output ({wanted})"
    )


def _nearest_indices(in_size: int, out_size: int, scale: float | None, exact: bool) -> Any:
    """torch's nearest_idx / nearest_neighbor_exact_compute_source_index, in C float."""
    if out_size == in_size and not exact:
        return np.arange(out_size)
    if out_size == 2 * in_size and not exact:
        return np.arange(out_size) >> 1
    ratio = np.float32(1.0 / scale if scale and scale > 0 else in_size / out_size)
    positions = np.arange(out_size, dtype=np.float32)
    if exact:
        positions = positions + np.float32(0.5)
    return np.minimum(np.floor(positions * ratio).astype(np.int64), in_size - 1)


def _linear_weights(
    in_size: int, out_size: int, scale: float | None, align_corners: bool, dtype: Any
) -> tuple:
    """(i0, i1, l0, l1): torch's compute_source_index_and_lambda in the input's dtype."""
    kind = np.dtype(dtype).type
    if out_size == in_size:
        index = np.arange(out_size)
        return index, index, np.ones(out_size, kind), np.zeros(out_size, kind)
    if align_corners:
        ratio = kind((in_size - 1) / (out_size - 1)) if out_size > 1 else kind(0)
    else:
        ratio = kind(1.0 / scale) if scale and scale > 0 else kind(in_size / out_size)
    positions = np.arange(out_size).astype(kind)
    source = (
        ratio * positions if align_corners else np.maximum(ratio * (positions + kind(0.5)) - kind(0.5), 0)
    )
    source = source.astype(kind)
    i0 = source.astype(np.int64)
    i1 = i0 + (i0 < in_size - 1)
    l1 = np.clip(source - i0.astype(kind), 0, 1).astype(kind)
    return i0, i1, (kind(1) - l1).astype(kind), l1


def _along(x: Tensor, dim: int, values: Any) -> Tensor:
    """A 1-D array of per-position values shaped to broadcast along `dim` of x."""
    shape = [1] * x.ndim
    shape[dim] = values.shape[0]
    return wrap(xp_of(x._data).asarray(values.reshape(shape)), device=x._device)


class Gather(Op):
    """x[..., index, ...] along `axis` for non-decreasing indices (every resampling's are). Its
    backward is SortedScatter, so the gradient sums runs of equal indices with one add.reduceat
    instead of index_select's unbuffered scatter-add (ufunc.at, some 10x slower)."""

    @staticmethod
    def forward(ctx: Any, x: Any, index: Any, axis: int) -> Any:
        ctx.geometry = (index, axis, x.shape[axis])
        return xp_of(x).take(x, xp_of(x).asarray(index), axis=axis)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return SortedScatter.apply(grad, params=ctx.geometry)


class SortedScatter(Op):
    """The adjoint of Gather: grad summed back to `size` positions along `axis`."""

    @staticmethod
    def forward(ctx: Any, grad: Any, index: Any, axis: int, size: int) -> Any:
        xp = xp_of(grad)
        ctx.geometry = (index, axis)
        shape = list(grad.shape)
        shape[axis] = size
        out = xp.zeros(shape, dtype=grad.dtype)
        targets, starts = np.unique(index, return_index=True)
        where = [slice(None)] * grad.ndim
        where[axis] = xp.asarray(targets)
        if xp is np:
            out[tuple(where)] = np.add.reduceat(grad, starts, axis=axis)
        else:  # CuPy has no reduceat: one scatter-add
            add_at(out, tuple([slice(None)] * axis + [xp.asarray(index)]), grad)
        return out

    @staticmethod
    def backward(ctx: Any, over: Tensor) -> Tensor:
        index, axis = ctx.geometry
        return Gather.apply(over, params=(index, axis))


def _select(x: Tensor, dim: int, index: Any) -> Tensor:
    return Gather.apply(x, params=(index, dim))


def _nearest(x: Tensor, sizes: list, scales: list, exact: bool) -> Tensor:
    for k in reversed(range(len(sizes))):
        dim = k + 2
        index = _nearest_indices(x.shape[dim], sizes[k], scales[k], exact)
        x = (
            _repeat_each(x, dim, sizes[k] // x.shape[dim])
            if _is_repeat(index, x.shape[dim])
            else _select(x, dim, index)
        )
    return x


def _is_repeat(index: Any, in_size: int) -> bool:
    """Whether the indices are 0, 0, .., 1, 1, ..: each input position repeated the same count."""
    out_size = index.shape[0]
    return (
        in_size > 0
        and out_size % in_size == 0
        and bool((index == np.arange(out_size) // (out_size // in_size)).all())
    )


def _repeat_each(x: Tensor, dim: int, count: int) -> Tensor:
    """Each position along `dim` repeated `count` times, as a broadcast: its gradient is a sum
    over the repeats rather than index_select's scatter-add (about 4x faster at 32x32)."""
    if count == 1:
        return x
    shape = list(x.shape)
    expanded = x.unsqueeze(dim + 1).expand(*shape[: dim + 1], count, *shape[dim + 1 :])
    return expanded.reshape(*shape[:dim], shape[dim] * count, *shape[dim + 1 :])


def _linear(x: Tensor, sizes: list, scales: list, align_corners: bool) -> Tensor:
    for k in reversed(range(len(sizes))):
        dim = k + 2
        i0, i1, l0, l1 = _linear_weights(x.shape[dim], sizes[k], scales[k], align_corners, x._data.dtype)
        x = _select(x, dim, i0) * _along(x, dim, l0) + _select(x, dim, i1) * _along(x, dim, l1)
    return x


_CUBIC_A = -0.75  # torch's bicubic kernel constant


def _cubic_taps(in_size: int, out_size: int, scale: float | None, align_corners: bool, dtype: Any) -> list:
    """[(indices, weights)] for torch's 4-tap bicubic: source positions unclamped (its cubic=True
    rule), taps at floor(x) - 1 .. floor(x) + 2 clamped into the input, weights in the input's dtype."""
    kind = np.dtype(dtype).type
    if align_corners:
        ratio = kind((in_size - 1) / (out_size - 1)) if out_size > 1 else kind(0)
    else:
        ratio = kind(1.0 / scale) if scale and scale > 0 else kind(in_size / out_size)
    positions = np.arange(out_size).astype(kind)
    source = (ratio * positions if align_corners else ratio * (positions + kind(0.5)) - kind(0.5)).astype(
        kind
    )
    floor = np.floor(source).astype(np.int64)
    t = (source - floor.astype(kind)).astype(kind)
    a = kind(_CUBIC_A)

    def near(x: Any) -> Any:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: Any) -> Any:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    one = kind(1)
    weights = (far(t + one), near(t), near(one - t), far(one - t + one))
    return [(np.clip(floor - 1 + k, 0, in_size - 1), w.astype(kind)) for k, w in enumerate(weights)]


def _bicubic(x: Tensor, sizes: list, scales: list, align_corners: bool) -> Tensor:
    for k in reversed(range(len(sizes))):
        dim = k + 2
        taps = _cubic_taps(x.shape[dim], sizes[k], scales[k], align_corners, x._data.dtype)
        out = None
        for index, weight in taps:  # summed in torch's order, the first tap first
            term = _select(x, dim, index) * _along(x, dim, weight)
            out = term if out is None else out + term
        x = out  # type: ignore[assignment]
    return x


def _area(input: Tensor, sizes: list) -> Tensor:
    from antorcha.nn import functional as F

    pool = getattr(F, f"adaptive_avg_pool{len(sizes)}d", None)
    if pool is None:
        raise NotImplementedError(f"interpolate(mode='area') needs F.adaptive_avg_pool{len(sizes)}d")
    return pool(input, sizes)


def _check_mode(input: Tensor, mode: str, align_corners: bool | None, antialias: bool) -> None:
    if mode in ("nearest", "area", "nearest-exact") and align_corners is not None:
        raise ValueError(
            "align_corners option can only be set with the "
            "interpolating modes: linear | bilinear | bicubic | trilinear"
        )
    if input.ndim not in (3, 4, 5):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the modes: "
            f"{_MODES} (got {mode})"
        )
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes "
            "and requires a 4-D tensor as input"
        )
    wanted = _LINEAR_MODES.get(mode)
    if wanted is not None and input.ndim - 2 != wanted:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {wanted + 2}D input")


@register_functional()
def interpolate(
    input: Tensor,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resample (N, C, *spatial) to `size`, or to `spatial * scale_factor` (truncated)."""
    _check_mode(input, mode, align_corners, antialias)
    area_from_scale = mode == "area" and size is None  # area always resamples to an explicit size
    sizes, scales = _output_sizes(input, size, scale_factor, recompute_scale_factor or area_from_scale)
    if mode == "bicubic" and input.ndim != 4:
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the modes: "
            f"{_MODES} (got {mode})"
        )
    if antialias or mode == "lanczos":
        raise NotImplementedError(
            f"interpolate: mode {mode!r}{' with antialias' if antialias else ''} is not "
            "implemented in antorcha (nearest, nearest-exact, linear, bilinear, "
            "bicubic, trilinear and area are)"
        )
    if mode not in ("nearest", "nearest-exact", "area", "bicubic") and mode not in _LINEAR_MODES:
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the modes: "
            f"{_MODES} (got {mode})"
        )
    if mode == "area":  # adaptive average pooling, whose checks are its own
        return _area(input, sizes)
    _check_sizes(input, sizes)
    if mode in ("nearest", "nearest-exact"):
        return _nearest(input, sizes, scales, mode == "nearest-exact")
    if mode == "bicubic":
        return _bicubic(input, sizes, scales, bool(align_corners))
    return _linear(input, sizes, scales, bool(align_corners))


@register_functional()
def upsample(
    input: Tensor,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: Any = None,
) -> Tensor:
    warnings.warn(
        "`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2
    )
    return interpolate(input, size, scale_factor, mode, align_corners)


@register_functional()
def upsample_nearest(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    warnings.warn(
        "`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=2,
    )
    return interpolate(input, size, scale_factor, mode="nearest")


@register_functional()
def upsample_bilinear(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    warnings.warn(
        "`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=2,
    )
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
