"""Scans and counts: cumprod, cummax, cummin, logcumsumexp, nansum, nanmean, count_nonzero,
bincount, histc.

cumsum is in `reduce.py`; cummax/cummin pick elements, so their backward is sorting.py's
`SelectAlongDim` (a scatter-add of the gradient at the picked indices).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._device import quiet_float_errors, xp_of
from antorcha._grad_mode import is_grad_enabled
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops import reduce
from antorcha.ops._bfloat16 import in_float32
from antorcha.ops._common import normalize_dim, normalize_dims, write_out
from antorcha.ops.elementwise import where
from antorcha.ops.movement import stack
from antorcha.ops.reduce import cumsum
from antorcha.ops.sorting import SelectAlongDim, ValuesIndices, return_type, select_along

CummaxResult = return_type("cummax")
CumminResult = return_type("cummin")


def _reverse_cumsum(t: Tensor, dim: int) -> Tensor:
    """sum over positions >= i, at each i: the adjoint of a running sum."""
    return cumsum(t.flip(dim), dim).flip(dim)


def _scan_dtype(x: Tensor, dtype: Any) -> Any:
    """torch's accumulation dtype: as asked, else int64 for integers and bools."""
    if dtype is not None:
        return _dtypes.as_dtype(dtype).np
    return np.int64 if x._data.dtype.kind in "biu" else None


def accumulate(ufunc: str, a: Any, axis: int) -> Any:
    """`xp.<ufunc>.accumulate(a, axis)` for a commutative binary ufunc: NumPy's own, or, for array
    modules whose ufuncs lack it, `scan_in_steps`."""
    xp = xp_of(a)
    binary = getattr(xp, ufunc)
    if xp is np:
        return binary.accumulate(a, axis=axis)
    return scan_in_steps(binary, a, axis)


def scan_in_steps(binary: Any, a: Any, axis: int) -> Any:
    """An inclusive scan as log2(n) whole-array steps (Hillis and Steele): at step s every
    element combines with the one s places before it."""
    xp = xp_of(a)
    out = xp.moveaxis(a, axis, 0).copy()
    step = 1
    while step < out.shape[0]:
        combined = out.copy()
        combined[step:] = binary(out[step:], out[:-step])
        out, step = combined, step * 2
    return xp.moveaxis(out, 0, axis)


# ---- cumprod ------------------------------------------------------------------------------
class Cumprod(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, dim: int, np_dtype: Any) -> Any:
        out_dtype = np.dtype(np_dtype) if np_dtype is not None else x.dtype
        if out_dtype == np.float32:  # torch's CPU kernel runs float32 products in double: a partial
            with quiet_float_errors():  # product past float32's max times 0 is 0, not inf * 0
                out = xp_of(x).cumprod(x, axis=dim, dtype=np.float64).astype(np.float32)
        else:
            out = xp_of(x).cumprod(x, axis=dim, dtype=np_dtype)
        ctx.save_for_backward(x, out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        """d/dx_k = sum_{i>=k} g_i y_i / x_k, which fails where x_k = 0; then (torch's way):
        before a row's first zero the division is safe, after it every product holds that zero,
        and at the first zero itself the sum runs over the products that leave it out."""
        x, out = ctx.saved_tensors
        dim = ctx.dim
        if x.numel() <= 1:  # a product of one element: the identity (torch says so exactly)
            return grad
        zeros = x._data == 0
        if not zeros.any():
            return _reverse_cumsum(grad * out, dim) / x
        if is_grad_enabled():  # a graph of this gradient is wanted: the form with no division
            return _cumprod_grad_by_steps(x, grad, dim)
        xp = xp_of(zeros)
        zeros_so_far = xp.cumsum(zeros, axis=dim)
        before = wrap(zeros_so_far == 0, device=x.device)
        first_zero = wrap(zeros & (zeros_so_far == 1), device=x.device)
        safe_x = where(before, x, 1.0)
        grad_before = where(before, _reverse_cumsum(grad * out, dim) / safe_x, 0.0)
        without_first_zero = cumprod(where(first_zero, 1.0, x), dim)
        grad_at_zero = where(first_zero, _reverse_cumsum(grad * without_first_zero, dim), 0.0)
        return grad_before + grad_at_zero


def _cumprod_grad_by_steps(x: Tensor, grad: Tensor, dim: int) -> Tensor:
    """d/dx_k = (prod_{j<k} x_j) * t_k with t_k = g_k + x_{k+1} t_{k+1}: no division anywhere, so
    differentiable again where x has zeros (what torch does too), at one small op per position."""
    n = x.shape[dim]
    at = lambda t, i: t[(slice(None),) * dim + (i,)]  # noqa: E731 - position i along dim
    before = [at(x, 0) * 0 + 1]  # the empty product, in x's dtype and shape
    for k in range(1, n):
        before.append(before[-1] * at(x, k - 1))
    after = [at(grad, n - 1)]
    for k in range(n - 2, -1, -1):
        after.append(at(grad, k) + at(x, k + 1) * after[-1])
    return stack(before, dim) * stack(after[::-1], dim)


@register()
def cumprod(input: Tensor, dim: int, *, dtype: Any = None, out: Tensor | None = None) -> Tensor:
    np_dtype = _scan_dtype(input, dtype)
    if input.ndim == 0:
        normalize_dim(dim, 0)
        result = cumprod(input.reshape(1), 0, dtype=dtype).reshape(())
    else:
        op = in_float32(Cumprod) if np_dtype is None and input._data.dtype.kind == "V" else Cumprod
        result = op.apply(input, params=(normalize_dim(dim, input.ndim), np_dtype))
    return result if out is None else write_out(result, out, "cumprod")


# ---- cummax, cummin ---------------------------------------------------------------------------
class Cummax(SelectAlongDim):
    pass


class Cummin(SelectAlongDim):
    pass


def _running_extremum_index(data: Any, dim: int, largest: bool) -> Any:
    """For each position, where the running max (min) so far was last reached: torch takes the
    latest of equal extrema, and a NaN, once seen, stays the extremum (its latest occurrence)."""
    xp = xp_of(data)
    running = accumulate("maximum" if largest else "minimum", data, dim)
    hits = data == running
    if data.dtype.kind in "fV":
        hits |= xp.isnan(data)
    shape = [1] * data.ndim
    shape[dim] = data.shape[dim]
    positions = xp.arange(data.shape[dim]).reshape(shape)
    return accumulate("maximum", xp.where(hits, positions, 0), dim).astype(np.int64)


def _cumulative_extremum(x: Tensor, dim: int, largest: bool, out: Any) -> Any:
    d = normalize_dim(dim, x.ndim)
    op, result_type = (Cummax, CummaxResult) if largest else (Cummin, CumminResult)
    xp = xp_of(x._data)
    if x.ndim == 0 or x.numel() == 0:
        index = xp.zeros(x.shape, dtype=np.int64)
    else:
        index = _running_extremum_index(x._data, d, largest)
    result: ValuesIndices = result_type(select_along(op, x, index, d, True), wrap(index, device=x._device))
    return result if out is None else write_out(result, out, "cummax" if largest else "cummin")


@register()
def cummax(input: Tensor, dim: int, *, out: Any = None) -> Any:
    return _cumulative_extremum(input, dim, True, out)


@register()
def cummin(input: Tensor, dim: int, *, out: Any = None) -> Any:
    return _cumulative_extremum(input, dim, False, out)


# ---- logcumsumexp -----------------------------------------------------------------------------
def _logcumsumexp_array(x: Any, dim: int) -> Any:
    with quiet_float_errors():
        return accumulate("logaddexp", x, dim)


class Logcumsumexp(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, dim: int) -> Any:
        out = _logcumsumexp_array(x, dim)
        ctx.save_for_backward(x, out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        """d/dx_k = sum_{i>=k} g_i exp(x_k - y_i), summed in log space (positive and negative
        parts of g apart, as torch does) so that no exp overflows."""
        x, out = ctx.saved_tensors
        dim = ctx.dim
        log_size = grad.abs().log()
        lowest = float(np.finfo(grad._data.dtype).min)  # exp of it is 0, and so is its derivative

        def part(sign_holds: Tensor) -> Tensor:
            log_part = where(sign_holds, log_size, lowest)
            reversed_sums = logcumsumexp((log_part - out).flip(dim), dim).flip(dim)
            return (reversed_sums + x).exp()

        return part(grad > 0) - part(grad < 0)


@register()
def logcumsumexp(input: Tensor, dim: int, *, out: Tensor | None = None) -> Tensor:
    if input._data.dtype.kind not in "fV":
        raise NotImplementedError(f'"logcumsumexp_out_cpu" not implemented for \'{input.dtype.scalar_name}\'')
    d = normalize_dim(dim, input.ndim)
    op = in_float32(Logcumsumexp) if input._data.dtype.kind == "V" else Logcumsumexp  # bfloat16
    result = input.clone() if input.ndim == 0 else op.apply(input, params=(d,))
    return result if out is None else write_out(result, out, "logcumsumexp")


# ---- nansum, nanmean, count_nonzero -----------------------------------------------------------
class Nansum(Op):
    """A sum that skips NaNs. Backward: the gradient times "not NaN", a product as in torch, so
    an infinite incoming gradient (nanmean of an all-NaN row) gives NaN, not 0."""

    @staticmethod
    def forward(ctx: Any, x: Any, dims: tuple[int, ...], keepdim: bool, np_dtype: Any) -> Any:
        ctx.dims, ctx.keepdim = dims, keepdim
        ctx.kept = ~xp_of(x).isnan(x)
        return xp_of(x).nansum(x, axis=dims, keepdims=keepdim, dtype=np_dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        kept = wrap(ctx.kept, device=grad.device)
        return reduce.restore_dims(grad, kept.shape, ctx.dims, ctx.keepdim) * kept


@register()
def nansum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
           out: Tensor | None = None) -> Tensor:
    if input._data.dtype.kind not in "fV":
        result = reduce.sum(input, dim, keepdim, dtype=dtype)  # nothing to skip
    else:
        whole = dim is None or (isinstance(dim, (list, tuple)) and not dim)
        dims = tuple(range(input.ndim)) if whole else normalize_dims(dim, input.ndim)
        dims = dims if input.ndim else ()  # a 0-dim tensor takes dim 0 or -1 and reduces nothing
        np_dtype = _dtypes.as_dtype(dtype).np if dtype is not None else None
        # bfloat16: NumPy's nansum skips NaNs only in its own float kinds; in float32, as torch
        op = in_float32(Nansum) if np_dtype is None and input._data.dtype.kind == "V" else Nansum
        result = op.apply(input, params=(dims, keepdim, np_dtype))
    return result if out is None else write_out(result, out, "nansum")


@register()
def nanmean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
            out: Tensor | None = None) -> Tensor:
    if not input.dtype.is_floating_point:  # torch checks the input, whatever dtype= asks for
        raise RuntimeError(
            "nanmean(): expected input to have floating point or complex dtype but got "
            f"{input.dtype.scalar_name}"
        )
    x = input if dtype is None else input.to(dtype)
    count = reduce.sum(~x.isnan(), dim, keepdim)
    result = nansum(x, dim, keepdim) / count
    return result if out is None else write_out(result, out, "nanmean")


@register()
def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:
    dims = None if dim is None else normalize_dims(dim, input.ndim)
    if input.ndim == 0:
        dims = None
    counts = (input._data != 0).sum(axis=dims)
    return wrap(xp_of(counts).asarray(counts, dtype=np.int64), device=input._device)


# ---- bincount, histc ----------------------------------------------------------------------------
@register()
def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each non-negative integer occurs (summing `weights` instead of ones).
    Not differentiable: torch has no derivative for it either."""
    kind = input._data.dtype.kind
    if kind not in "iu":
        raise NotImplementedError(f'"bincount_cpu" not implemented for \'{input.dtype.scalar_name}\'')
    if input.ndim != 1 or (input.numel() and int(input._data.min()) < 0):
        raise RuntimeError(
            "bincount only supports 1-d non-negative integral inputs; got a tensor of shape "
            f"{list(input.shape)}" + ("" if input.ndim != 1 else " with negative values")
        )
    if minlength < 0:
        raise RuntimeError(f"minlength should be >= 0, but got {minlength}")
    xp = xp_of(input._data)
    if weights is None or input.numel() == 0:  # torch counts an empty input as int64, weights or not
        counts = xp.bincount(input._data, minlength=minlength).astype(np.int64)
        return wrap(counts, device=input._device)
    if weights.ndim != 1 or weights.shape[0] != input.shape[0]:
        raise RuntimeError(
            "weights should be 1-d and have the same length as input: got weights of shape "
            f"{list(weights.shape)} for an input of shape {list(input.shape)}"
        )
    # torch sums float32 weights as float32, every other weight dtype as float64
    result_dtype = np.float32 if weights._data.dtype == np.float32 else np.float64
    sums = xp.bincount(input._data, weights=weights._data.astype(np.float64), minlength=minlength)
    return wrap(sums.astype(result_dtype), device=input._device)


def _histogram_range(data: Any, low: float, high: float) -> tuple[Any, Any]:
    """torch's histc range: [min, max] as given, the data's own when they are equal, widened by
    one either side when that is a single point."""
    xp = xp_of(data)
    if low == high and data.size:
        low, high = float(data.min()), float(data.max())
    low, high = data.dtype.type(low), data.dtype.type(high)
    if not (xp.isfinite(low) and xp.isfinite(high)):
        raise RuntimeError(f"torch.histc: range of [{low}, {high}] is not finite")
    if low == high:
        low, high = low - 1, high + 1
    return low, high


@register()
def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0, *,
          out: Tensor | None = None) -> Tensor:
    """A histogram of `bins` equal bins over [min, max]; values outside it (and NaNs) are left out.
    Not differentiable, as in torch."""
    if input._data.dtype.kind not in "fV":
        raise NotImplementedError(f'"histogram_cpu" not implemented for \'{input.dtype.scalar_name}\'')
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    if min > max:
        raise RuntimeError(f"torch.histc: max must be larger than min, but got min={min}, max={max}")
    data = input._data.reshape(-1)
    xp = xp_of(data)
    low, high = _histogram_range(data, min, max)
    inside = data[(data >= low) & (data <= high)]
    with quiet_float_errors():  # torch's arithmetic, in the input's dtype: (x - min) * bins / (max - min)
        position = ((inside - low) * data.dtype.type(bins) / (high - low)).astype(np.int64)
    position = xp.minimum(position, bins - 1)  # the right edge belongs to the last bin
    counts = xp.bincount(position, minlength=bins)[:bins].astype(data.dtype)
    result = wrap(counts, device=input._device)
    return result if out is None else write_out(result, out, "histc")
