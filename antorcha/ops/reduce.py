"""Reductions: sum, mean, prod, max/min, arg max/min, var/std, any/all, cumsum.

The softmax family is in `softmax.py`, the norms in `norms.py`, the scans in `scan.py`.

`sum_to_shape` is the adjoint of broadcasting; `Node._conform` calls it to turn a
gradient in the output's shape into one in each input's shape.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import numpy as np

from antorcha import _dtypes
from antorcha._device import xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._bfloat16 import in_float32
from antorcha.ops._common import normalize_dim, normalize_dims, require_float, write_out
from antorcha.ops.elementwise import where


class ReturnTypes(NamedTuple):
    """`values, indices` as torch's max(dim=...) returns them."""

    values: Tensor
    indices: Tensor


def _keepdim_shape(shape: tuple, dims: tuple[int, ...]) -> tuple:
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def restore_dims(grad: Tensor, shape: tuple, dims: tuple[int, ...], keepdim: bool) -> Tensor:
    """Bring a reduced gradient back to `shape` by broadcasting over the reduced dims."""
    return ExpandReduced.apply(grad, params=(shape, dims, keepdim))


# Up to this many elements a broadcast result is materialised: NumPy's broadcast_to costs more
# than filling a small array, and a fresh array is one the engine may reuse in place.
_SMALL_BROADCAST = 4096


class ExpandReduced(Op):
    """A reduction's result broadcast back over the dims it removed: the backward of sum and mean.

    Its own backward sums over those dims again, so grad-of-grad through a reduction works.
    """

    @staticmethod
    def forward(ctx: Any, x: Any, shape: tuple, dims: tuple[int, ...], keepdim: bool) -> Any:
        ctx.dims, ctx.keepdim = dims, keepdim
        kept = x if keepdim else x.reshape(_keepdim_shape(shape, dims))
        xp = xp_of(x)
        if math.prod(shape) <= _SMALL_BROADCAST:
            out = xp.empty(shape, dtype=x.dtype)
            out[...] = kept
            return out
        return xp.broadcast_to(kept, shape)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        if not ctx.dims:  # nothing was reduced (a 0-dim input)
            return grad
        return sum(grad, ctx.dims, keepdim=ctx.keepdim)


# ---- sum and mean --------------------------------------------------------------
class Sum(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, dims: tuple | None, keepdim: bool, np_dtype: Any) -> Any:
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        return x.sum(axis=dims, keepdims=keepdim, dtype=np_dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        dims = ctx.dims if ctx.dims is not None else tuple(range(len(ctx.shape)))
        return restore_dims(grad, ctx.shape, dims, ctx.keepdim)


class Mean(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, dims: tuple | None, keepdim: bool, np_dtype: Any) -> Any:
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        if x.size == 0:  # the mean of nothing is nan, as in torch (NumPy would warn)
            return x.sum(axis=dims, keepdims=keepdim, dtype=np_dtype) * np.nan
        return x.mean(axis=dims, keepdims=keepdim, dtype=np_dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        dims = ctx.dims if ctx.dims is not None else tuple(range(len(ctx.shape)))
        count = int(np.prod([ctx.shape[d] for d in dims], dtype=np.int64))
        return restore_dims(grad / count if count else grad * float("nan"), ctx.shape, dims, ctx.keepdim)


class SumDim(Sum):
    backward_name = "SumBackward1"  # torch names sum(dim=...) apart from the full sum()


class MeanDim(Mean):
    backward_name = "MeanBackward1"


def _dims_arg(x: Tensor, dim: Any) -> tuple | None:
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return None
    dims = normalize_dims(dim, x.ndim)
    return None if x.ndim == 0 else dims  # a 0-dim tensor accepts dim 0 or -1: reduce over nothing


@register()
def sum(  # noqa: A001
    input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, out: Tensor | None = None
) -> Tensor:
    x = input
    np_dtype = _dtypes.as_dtype(dtype).np if dtype is not None else None
    dims = _dims_arg(x, dim)
    op = Sum if dims is None else SumDim
    if np_dtype is None:
        kind = x._data.dtype.kind
        if kind in "biu":
            np_dtype = np.int64  # torch sums integers and bools as int64
        elif kind == "V":  # bfloat16: accumulate in float32, as torch
            op = in_float32(op)
    result = op.apply(x, params=(dims, keepdim, np_dtype))
    return result if out is None else write_out(result, out, "sum")


@register()
def mean(
    input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, out: Tensor | None = None
) -> Tensor:
    x = input
    target = _dtypes.as_dtype(dtype) if dtype is not None else x.dtype
    if not target.is_floating_point:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {target.scalar_name}"
        )
    if target is not x.dtype:
        x = x.to(target)
    dims = _dims_arg(x, dim)
    op = Mean if dims is None else MeanDim
    if target is _dtypes.bfloat16:  # accumulate in float32, as torch
        op = in_float32(op)
    result = op.apply(x, params=(dims, keepdim, None))
    return result if out is None else write_out(result, out, "mean")


def sum_to_shape(grad: Tensor, shape: tuple, what: str = "gradient") -> Tensor:
    """Sum a broadcast gradient back down to `shape` (the adjoint of expand)."""
    grad_shape = grad._data.shape
    if grad_shape == shape:
        return grad
    lead = len(grad_shape) - len(shape)
    if lead < 0:
        raise RuntimeError(f"{what}: got a gradient of shape {list(grad_shape)}, expected {list(shape)}")
    inner = []
    for i, size in enumerate(shape):
        if size == 1 and grad_shape[lead + i] != 1:
            inner.append(lead + i)
        elif size != grad_shape[lead + i]:
            raise RuntimeError(
                f"{what}: got a gradient of shape {list(grad_shape)}, "
                f"expected a shape compatible with {list(shape)}"
            )
    if not inner:  # only leading dims to drop: one sum gives the shape
        return sum(grad, tuple(range(lead)))
    out = sum(grad, (*range(lead), *inner), keepdim=True)
    return out.reshape(shape) if lead else out


# ---- prod ----------------------------------------------------------------------
class Prod(Op):
    backward_name = "ProdBackward1"

    @staticmethod
    def forward(ctx: Any, x: Any, dim: int | None, keepdim: bool, np_dtype: Any) -> Any:
        out = x.prod(axis=dim, keepdims=keepdim, dtype=np_dtype)
        ctx.save_for_backward(x, out)
        ctx.dim, ctx.keepdim = dim, keepdim
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        x, out = ctx.saved_tensors
        if x.ndim == 0:  # the product of one number is the number (even inf, where out / x is nan)
            return grad
        dim = ctx.dim
        dims = tuple(range(x.ndim)) if dim is None else (dim,)
        grad = restore_dims(grad, x.shape, dims, ctx.keepdim)
        xa = x._data
        if not (xa == 0).any():
            return grad * (restore_dims(out, x.shape, dims, ctx.keepdim) / x)  # torch's order: no overflow
        # with zeros, divide-by-x fails: multiply the products of the elements before and after
        return grad * wrap(_product_of_others(xa, dim), device=x._device)


def _product_of_others(x: Any, dim: int | None) -> Any:
    xp = xp_of(x)
    flat = dim is None
    work = x.reshape(-1) if flat else x
    axis = 0 if flat else dim
    ones_shape = list(work.shape)
    ones_shape[axis] = 1
    ones = xp.ones(ones_shape, dtype=x.dtype)
    before = xp.cumprod(xp.concatenate([ones, work], axis=axis), axis=axis)
    after = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(work, axis)], axis=axis), axis=axis), axis)
    length = work.shape[axis]
    take = lambda a, lo: xp.take(a, xp.arange(lo, lo + length), axis=axis)  # noqa: E731
    result = take(before, 0) * take(after, 1)
    return result.reshape(x.shape)


class ProdAll(Prod):
    backward_name = "ProdBackward0"


@register()
def prod(
    input: Tensor,
    dim: int | None = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
    out: Tensor | None = None,
) -> Tensor:
    x = input
    np_dtype = _dtypes.as_dtype(dtype).np if dtype is not None else None
    if np_dtype is None and x._data.dtype.kind in "biu":
        np_dtype = np.int64
    d = None if dim is None else normalize_dim(dim, x.ndim)
    if x.ndim == 0:
        d = None
    result = (ProdAll if dim is None else Prod).apply(x, params=(d, keepdim, np_dtype))
    return result if out is None else write_out(result, out, "prod")


# ---- max / min -------------------------------------------------------------------
class _ExtremumAll(Op):
    """max()/min()/amax/amin: the gradient is shared evenly among tied extrema, as in torch."""

    @staticmethod
    def forward(ctx: Any, x: Any, largest: bool, dims: tuple | None, keepdim: bool) -> Any:
        if x.size == 0 and dims is None:
            raise RuntimeError(
                "max(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument."
            )
        for d in dims or ():
            if x.shape[d] == 0:
                name = "amax" if largest else "amin"
                raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
        out = x.max(axis=dims, keepdims=keepdim) if largest else x.min(axis=dims, keepdims=keepdim)
        ctx.save_for_backward(x, out)
        ctx.dims, ctx.keepdim = dims, keepdim
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        x, out = ctx.saved_tensors
        dims = ctx.dims if ctx.dims is not None else tuple(range(x.ndim))
        out_full = restore_dims(out, x.shape, dims, ctx.keepdim)
        grad_full = restore_dims(grad, x.shape, dims, ctx.keepdim)
        hits = (x == out_full).to(grad.dtype)
        count = sum(hits, dims, keepdim=True)
        return grad_full * hits / count


class MaxAll(_ExtremumAll):
    backward_name = "MaxBackward1"


class MinAll(_ExtremumAll):
    backward_name = "MinBackward1"


class Amax(_ExtremumAll):
    pass


class Amin(_ExtremumAll):
    pass


class _ExtremumDim(Op):
    """max(dim)/min(dim): the gradient goes to the one returned index."""

    @staticmethod
    def forward(ctx: Any, x: Any, indices: Any, dim: int, keepdim: bool) -> Any:
        xp = xp_of(x)
        if x.ndim == 0:  # a 0-dim tensor is its own extremum along dim 0
            ctx.shape, ctx.dim, ctx.keepdim, ctx.index = x.shape, None, keepdim, None
            return x.copy()
        idx = xp.expand_dims(indices, dim)  # argmax dropped the dim, whatever keepdim says
        out = xp.take_along_axis(x, idx, axis=dim)
        ctx.shape, ctx.dim, ctx.keepdim, ctx.index = x.shape, dim, keepdim, idx
        return out if keepdim else xp.squeeze(out, axis=dim)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        from antorcha.ops.indexing import scatter_into_zeros

        if ctx.dim is None:
            return grad, None
        if not ctx.keepdim:
            grad = grad.unsqueeze(ctx.dim)
        index = wrap(ctx.index, device=grad.device)
        return scatter_into_zeros(grad, ctx.shape, ctx.dim, index), None


class MaxDim(_ExtremumDim):
    backward_name = "MaxBackward0"


class MinDim(_ExtremumDim):
    backward_name = "MinBackward0"


def _extremum(x: Tensor, largest: bool, dim: Any, keepdim: bool, other: Any = None) -> Any:
    from antorcha.ops.elementwise import maximum, minimum

    if isinstance(dim, Tensor):  # torch.max(a, b) is the elementwise maximum
        return maximum(x, dim) if largest else minimum(x, dim)
    if other is not None:
        return maximum(x, other) if largest else minimum(x, other)
    if dim is None:
        return (MaxAll if largest else MinAll).apply(x, params=(largest, None, False))
    d = normalize_dim(dim, x.ndim)
    if x.ndim and x.shape[d] == 0:
        raise IndexError(
            f"{'max' if largest else 'min'}(): Expected reduction dim {d} to have non-zero size."
        )
    xp = xp_of(x._data)
    data = x._data.reshape(1) if x.ndim == 0 else x._data
    indices = xp.argmax(data, axis=d) if largest else xp.argmin(data, axis=d)
    if x.ndim == 0:
        indices = indices.reshape(())
    values = (MaxDim if largest else MinDim).apply(x, params=(indices.astype(np.int64), d, keepdim))
    indices_t = wrap(xp.expand_dims(indices, d) if keepdim and x.ndim else indices, device=x._device)
    return ReturnTypes(values, indices_t.to(_dtypes.int64))


@register()
def max(  # noqa: A001
    input: Tensor, dim: Any = None, keepdim: bool = False, *, other: Any = None, out: Tensor | None = None
) -> Any:
    result = _extremum(input, True, dim, keepdim, other)
    return result if out is None else write_out(result, out, "max")


@register()
def min(  # noqa: A001
    input: Tensor, dim: Any = None, keepdim: bool = False, *, other: Any = None, out: Tensor | None = None
) -> Any:
    result = _extremum(input, False, dim, keepdim, other)
    return result if out is None else write_out(result, out, "min")


@register()
def amax(input: Tensor, dim: Any = (), keepdim: bool = False, *, out: Tensor | None = None) -> Tensor:
    result = Amax.apply(input, params=(True, _dims_arg(input, dim), keepdim))
    return result if out is None else write_out(result, out, "amax")


@register()
def amin(input: Tensor, dim: Any = (), keepdim: bool = False, *, out: Tensor | None = None) -> Tensor:
    result = Amin.apply(input, params=(False, _dims_arg(input, dim), keepdim))
    return result if out is None else write_out(result, out, "amin")


@register()
def argmax(
    input: Tensor, dim: int | None = None, keepdim: bool = False, *, out: Tensor | None = None
) -> Tensor:
    result = _arg_extremum(input, True, dim, keepdim)
    return result if out is None else write_out(result, out, "argmax")


@register()
def argmin(
    input: Tensor, dim: int | None = None, keepdim: bool = False, *, out: Tensor | None = None
) -> Tensor:
    result = _arg_extremum(input, False, dim, keepdim)
    return result if out is None else write_out(result, out, "argmin")


def _arg_extremum(x: Tensor, largest: bool, dim: int | None, keepdim: bool) -> Tensor:
    xp = xp_of(x._data)
    find = xp.argmax if largest else xp.argmin
    name = "argmax" if largest else "argmin"
    if x.numel() == 0 and dim is None:
        raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
    if x.numel() == 0 and x.ndim and x.shape[normalize_dim(dim, x.ndim)] == 0:
        d = normalize_dim(dim, x.ndim)
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    if dim is None:
        out = find(x._data.reshape(-1))
        if keepdim:
            out = out.reshape((1,) * x.ndim)
    else:
        d = normalize_dim(dim, x.ndim)
        out = find(x._data, axis=d, keepdims=keepdim) if x.ndim else find(x._data.reshape(1))
    return wrap(xp.asarray(out, dtype=np.int64), device=x._device)


# ---- var / std -------------------------------------------------------------------
def _spread(statistic: Any, name: str, x: Any, dims: tuple | None, correction: float, keepdim: bool) -> Any:
    """x.var or x.std; with no degrees of freedom left, torch's warning instead of NumPy's."""
    count = x.size if dims is None else math.prod(x.shape[d] for d in dims)
    if count - correction > 0:
        return statistic(x, axis=dims, ddof=correction, keepdims=keepdim)
    warnings.warn(
        f"{name}(): degrees of freedom is <= 0. Correction should be strictly less than the "
        "reduction factor (input numel divided by output numel).",
        UserWarning,
        stacklevel=5,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's own words for the same thing
        return statistic(x, axis=dims, ddof=correction, keepdims=keepdim)


class Var(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, dims: tuple | None, correction: float, keepdim: bool) -> Any:
        ctx.save_for_backward(x)
        ctx.dims, ctx.correction, ctx.keepdim = dims, correction, keepdim
        return _spread(xp_of(x).var, "var", x, dims, correction, keepdim)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        dims = ctx.dims if ctx.dims is not None else tuple(range(x.ndim))
        count = int(np.prod([x.shape[d] for d in dims], dtype=np.int64))
        centered = x - mean(x, dims, keepdim=True)
        scale = 2.0 / (count - ctx.correction) if count > ctx.correction else float("inf")
        return restore_dims(grad, x.shape, dims, ctx.keepdim) * centered * scale


class Std(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, dims: tuple | None, correction: float, keepdim: bool) -> Any:
        out = _spread(xp_of(x).std, "std", x, dims, correction, keepdim)
        ctx.save_for_backward(x, out)
        ctx.dims, ctx.correction, ctx.keepdim = dims, correction, keepdim
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        x, out = ctx.saved_tensors
        dims = ctx.dims if ctx.dims is not None else tuple(range(x.ndim))
        count = int(np.prod([x.shape[d] for d in dims], dtype=np.int64))
        centered = x - mean(x, dims, keepdim=True)
        std_full = restore_dims(out, x.shape, dims, ctx.keepdim)
        grad_full = restore_dims(grad, x.shape, dims, ctx.keepdim)
        denominator = std_full * (count - ctx.correction)
        # a zero std has an undefined derivative; torch masks it to zero
        return where(std_full == 0, 0.0, grad_full * centered / denominator)


def _correction(unbiased: Any, correction: Any) -> float:
    if correction is not None:
        return float(correction)
    if unbiased is None:
        return 1.0
    return 1.0 if unbiased else 0.0


@register()
def var(
    input: Tensor,
    dim: Any = None,
    unbiased: Any = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
    out: Tensor | None = None,
) -> Tensor:
    require_float(input, "var")
    op = in_float32(Var) if input._data.dtype.kind == "V" else Var  # bfloat16: as torch
    result = op.apply(input, params=(_dims_arg(input, dim), _correction(unbiased, correction), keepdim))
    return result if out is None else write_out(result, out, "var")


@register()
def std(
    input: Tensor,
    dim: Any = None,
    unbiased: Any = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
    out: Tensor | None = None,
) -> Tensor:
    require_float(input, "std")
    op = in_float32(Std) if input._data.dtype.kind == "V" else Std  # bfloat16: as torch
    result = op.apply(input, params=(_dims_arg(input, dim), _correction(unbiased, correction), keepdim))
    return result if out is None else write_out(result, out, "std")


# ---- cumsum ------------------------------------------------------------------------
class Cumsum(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, dim: int, np_dtype: Any) -> Any:
        ctx.dim = dim
        return xp_of(x).cumsum(x, axis=dim, dtype=np_dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        # the adjoint of a running sum is a running sum from the other end
        return cumsum(grad.flip(ctx.dim), ctx.dim).flip(ctx.dim)


@register()
def cumsum(input: Tensor, dim: int, *, dtype: Any = None, out: Tensor | None = None) -> Tensor:
    x = input
    np_dtype = _dtypes.as_dtype(dtype).np if dtype is not None else None
    if np_dtype is None and x._data.dtype.kind in "biu":
        np_dtype = np.int64
    if x.ndim == 0:
        result = x.clone()
        return result if out is None else write_out(result, out, "cumsum")
    op = in_float32(Cumsum) if np_dtype is None and x._data.dtype.kind == "V" else Cumsum  # bfloat16
    result = op.apply(x, params=(normalize_dim(dim, x.ndim), np_dtype))
    return result if out is None else write_out(result, out, "cumsum")


@register()
def any(input: Tensor, dim: Any = None, keepdim: bool = False, *, out: Tensor | None = None) -> Tensor:  # noqa: A001
    """Whether any element is nonzero: a bool result, never differentiable."""
    result = wrap(input._data.any(axis=_dims_arg(input, dim), keepdims=keepdim), device=input._device)
    return result if out is None else write_out(result, out, "any")


@register()
def all(input: Tensor, dim: Any = None, keepdim: bool = False, *, out: Tensor | None = None) -> Tensor:  # noqa: A001
    """Whether every element is nonzero: a bool result, never differentiable."""
    result = wrap(input._data.all(axis=_dims_arg(input, dim), keepdims=keepdim), device=input._device)
    return result if out is None else write_out(result, out, "all")
