"""Writing by index: scatter, scatter_add, scatter_reduce; take, take_along_dim and flat positions.

Each op computes out of place; its in-place method (`scatter_`, ...) writes that result back
through `Tensor._inplace`, which bumps the version counter and keeps autograd right on non-leaf
tensors and on views. Repeated indices accumulate through `add_at` (NumPy's `ufunc.at`, CuPy's
scatter kernels). The index_* family and masked_scatter are in `index_write.py`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from antorcha._device import add_at, cupyx_module, xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._common import broadcast_shapes, normalize_dim, scalar_tensor
from antorcha.ops.indexing import Gather, MaskedOut, gather


# ---- flat positions: take, and the scatter-add that is its adjoint -----------------------------
class Take(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, positions: Any) -> Any:
        ctx.shape, ctx.positions = x.shape, positions
        return x.reshape(-1)[positions]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return FlatPutIntoZeros.apply(grad, params=(ctx.shape, ctx.positions))


class FlatPutIntoZeros(Op):
    """Zeros of `shape` with `grad` added at flat `positions` (of grad's shape); repeats add up."""

    @staticmethod
    def forward(ctx: Any, grad: Any, shape: tuple, positions: Any) -> Any:
        ctx.positions = positions
        out = xp_of(grad).zeros(math.prod(shape), dtype=grad.dtype)
        add_at(out, positions, grad)
        return out.reshape(shape)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return Take.apply(grad, params=(ctx.positions,))


@register()
def take(input: Tensor, index: Tensor) -> Tensor:
    require_index(index, "take(): Expected a long tensor for index, but got {got}")
    positions = index._data.astype(np.int64)
    n = input.numel()
    if positions.size:
        low, high = int(positions.min()), int(positions.max())
        if high >= n or low < -n:
            bad = high if high >= n else low
            raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
    xp = xp_of(positions)
    return Take.apply(input, params=(xp.where(positions < 0, positions + n, positions),))


@register()
def take_along_dim(
    input: Tensor, indices: Tensor, dim: int | None = None, *, out: Tensor | None = None
) -> Tensor:
    require_index(indices, "torch.take_along_dim(): dtype of indices should be Long but got {got}")
    if dim is None:  # torch counts negative indices from the end only along a given dim
        check_range(indices, input.numel(), 0, RuntimeError)
        result = gather(input.reshape(-1), 0, indices.reshape(-1))
    else:
        if input.ndim != indices.ndim:
            raise RuntimeError(
                "torch.take_along_dim(): input and indices should have the same number of dimensions, "
                f"but got {input.ndim} dimensions for input, and {indices.ndim} dimensions for indices"
            )
        d = normalize_dim(dim, input.ndim)
        shape = list(broadcast_shapes(_without(input.shape, d), _without(indices.shape, d)))
        grown = input.expand(*shape[:d], input.shape[d], *shape[d + 1 :])
        indices = indices.expand(*shape[:d], indices.shape[d], *shape[d + 1 :])
        result = _gather_wrapped(grown, d, indices)
    if out is None:
        return result
    from antorcha.ops._common import write_out

    return write_out(result, out, "take_along_dim")


def _without(shape: tuple, d: int) -> tuple:
    return (*shape[:d], 1, *shape[d + 1 :])


def _gather_wrapped(input: Tensor, d: int, indices: Tensor) -> Tensor:
    """gather, with negative indices counted from the end (take_along_dim allows them)."""
    size = input.shape[d]
    positions = indices._data.astype(np.int64)
    positions = xp_of(positions).where(positions < 0, positions + size, positions)
    return gather(input, d, wrap(positions, device=indices.device))


# ---- argument checks shared by the scatter family ---------------------------------------------
def require_index(index: Any, message: str, error: type = RuntimeError) -> None:
    """An integer index tensor, or torch's `error(message)`; `{got}` in it names what came."""
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        got = index.dtype.scalar_name if isinstance(index, Tensor) else type(index).__name__
        raise error(message.format(got=got))


def _check_scatter(name: str, input: Tensor, dim: int, index: Tensor, src: Tensor | None) -> int:
    """torch's checks for scatter-like ops (its messages say scatter() for all); returns the dim."""
    require_index(index, "scatter(): Expected dtype int32/int64 for index")
    d = normalize_dim(dim, input.ndim)
    if index.ndim != input.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    if src is not None:
        if src.ndim != input.ndim:
            raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
        if src.dtype is not input.dtype:
            raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    too_big_for_self = any(i != d and n > s for i, (n, s) in enumerate(zip(index.shape, input.shape)))
    too_big_for_src = src is not None and any(n > s for n, s in zip(index.shape, src.shape))
    if too_big_for_self or too_big_for_src:
        message = (
            f"Expected index {list(index.shape)} to be no larger than self {list(input.shape)} apart "
            f"from dimension {d}"
        )
        if src is not None:
            message += f" and to be no larger size than src {list(src.shape)}"
        raise RuntimeError(message)
    check_range(index, input.shape[d], d, RuntimeError)
    return d


def check_range(
    index: Tensor, size: int, d: int, error: type, prefix: str = "", negative: bool = False
) -> None:
    """torch's message for an index outside [0, size) (or [-size, size) where negatives count back)."""
    if not index.numel():
        return
    low, high = int(index._data.min()), int(index._data.max())
    lowest = -size if negative else 0
    if high >= size or low < lowest:
        bad = high if high >= size else low
        raise error(f"{prefix}index {bad} is out of bounds for dimension {d} with size {size}")


def _as_vectors(
    op: Any, input: Tensor, dim: int, index: Tensor, src: Any, *rest: Any, **kwargs: Any
) -> Tensor:
    """A scatter into a 0-dim self: torch treats self, index and src as one-element vectors."""
    normalize_dim(dim, 0)
    if isinstance(index, Tensor):
        index = index.reshape(-1)
    src = src.reshape(-1) if isinstance(src, Tensor) else src
    return op(input.reshape(1), 0, index, src, *rest, **kwargs).reshape(())


def _grid(index: Any, dim: int) -> tuple:
    """index along `dim`, each other dim's own coordinate: the advanced key of a scatter."""
    xp, ndim = xp_of(index), index.ndim
    grid = [xp.arange(n).reshape((1,) * i + (n,) + (1,) * (ndim - i - 1)) for i, n in enumerate(index.shape)]
    grid[dim] = index
    return tuple(grid)


def _crop(src: Any, shape: tuple) -> Any:
    return src[tuple(slice(0, n) for n in shape)]


def _ufunc_at(name: str, target: Any, key: tuple, values: Any) -> None:
    """`ufunc.at(target, key, values)`: repeated positions combine (add, multiply, maximum, minimum)."""
    if name == "add":
        add_at(target, key, values)
    elif isinstance(target, np.ndarray):
        getattr(np, name).at(target, key, values)
    elif name in ("maximum", "minimum"):
        getattr(cupyx_module(), "scatter_max" if name == "maximum" else "scatter_min")(target, key, values)
    else:  # CuPy has no scatter-multiply: combine on the host
        import cupy

        host = cupy.asnumpy(target)
        np.multiply.at(host, tuple(cupy.asnumpy(k) for k in key), cupy.asnumpy(values))
        target[...] = cupy.asarray(host)


# ---- scatter -------------------------------------------------------------------------------------
class Scatter(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, src: Any, index: Any, dim: int) -> Any:
        ctx.save_for_backward(index)
        ctx.dim = dim
        out = x.copy()
        out[_grid(index, dim)] = _crop(src, index.shape)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        (index,) = ctx.saved_tensors
        grad_x = grad_src = None
        if ctx.needs_input_grad[0]:  # overwritten positions get none
            grad_x = MaskedOut.apply(grad, params=(_grid(index._data, ctx.dim),))
        if ctx.needs_input_grad[1]:
            grad_src = Gather.apply(grad, index, params=(ctx.dim,))
        return grad_x, grad_src, None


class ScatterValue(Op):
    backward_name = "ScatterBackward1"

    @staticmethod
    def forward(ctx: Any, x: Any, index: Any, dim: int, value: Any) -> Any:
        ctx.key = _grid(index, dim)
        out = x.copy()
        out[ctx.key] = value
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        return MaskedOut.apply(grad, params=(ctx.key,)), None


class ScatterLegacyReduce(Op):
    """scatter(..., reduce='add'|'multiply'): torch has no derivative for it, and says so in backward."""

    backward_name = "NotImplemented"

    @staticmethod
    def forward(ctx: Any, x: Any, src: Any, index: Any, dim: int, ufunc: str) -> Any:
        out = x.copy()
        _ufunc_at(ufunc, out, _grid(index, dim), _crop(src, index.shape))
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        raise RuntimeError("derivative for aten::scatter is not implemented")


_LEGACY_REDUCE = {"add": "add", "multiply": "multiply"}


@register()
def scatter(
    input: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None, reduce: str | None = None
) -> Tensor:
    if src is not None and not isinstance(src, Tensor):  # scatter(dim, index, 1.5): the value form
        src, value = None, src
    if (src is None) == (value is None):
        raise TypeError("scatter(): expected exactly one of `src` (a Tensor) or `value` (a number)")
    if input.ndim == 0:
        return _as_vectors(scatter, input, dim, index, src, value=value, reduce=reduce)
    d = _check_scatter("scatter", input, dim, index, src)
    if reduce is not None and reduce not in _LEGACY_REDUCE:
        raise RuntimeError("reduce argument must be either add or multiply.")
    if src is None:
        if reduce is None:
            return ScatterValue.apply(input, index, params=(d, value))
        src = scalar_tensor(value, input, input.dtype).expand(*index.shape)
    if reduce is not None:
        return ScatterLegacyReduce.apply(input, src, index, params=(d, _LEGACY_REDUCE[reduce]))
    return Scatter.apply(input, src, index, params=(d,))


class ScatterAdd(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, src: Any, index: Any, dim: int) -> Any:
        ctx.save_for_backward(index)
        ctx.dim = dim
        out = x.copy()
        add_at(out, _grid(index, dim), _crop(src, index.shape))
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        (index,) = ctx.saved_tensors
        grad_src = Gather.apply(grad, index, params=(ctx.dim,)) if ctx.needs_input_grad[1] else None
        return grad, grad_src, None


@register()
def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    if input.ndim == 0:
        return _as_vectors(scatter_add, input, dim, index, src)
    d = _check_scatter("scatter_add", input, dim, index, src)
    return ScatterAdd.apply(input, src, index, params=(d,))


# ---- scatter_reduce ------------------------------------------------------------------------------
_REDUCE_UFUNC = {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum", "amin": "minimum"}


def _identity(reduce: str, dtype: Any) -> Any:
    """The value a position starts from when include_self=False."""
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if dtype.kind in "fV":
        return -np.inf if reduce == "amax" else np.inf
    if dtype.kind == "b":
        return reduce == "amin"
    return np.iinfo(dtype).min if reduce == "amax" else np.iinfo(dtype).max


def _scatter_reduce_array(x: Any, src: Any, index: Any, dim: int, reduce: str, include_self: bool) -> Any:
    xp = xp_of(x)
    key, values = _grid(index, dim), _crop(src, index.shape)
    out = x.copy()
    if not include_self:
        out[key] = _identity(reduce, x.dtype)
    _ufunc_at(_REDUCE_UFUNC[reduce], out, key, values)
    if reduce == "mean":
        counts = _contributions(x.shape, key, include_self, xp.ones(index.shape, dtype=np.int64))
        if x.dtype.kind in "fV":
            out /= counts
        else:
            out //= counts
    return out


class ScatterReduce(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, src: Any, index: Any, dim: int, reduce: str, include_self: bool) -> Any:
        out = _scatter_reduce_array(x, src, index, dim, reduce, include_self)
        ctx.save_for_backward(x, src, index, out)
        ctx.how = (dim, reduce, include_self)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, src, index, out = ctx.saved_tensors
        dim, reduce, include_self = ctx.how
        grad_x, grad_src = _REDUCE_BACKWARD[reduce](grad, x, src, index, out, dim, include_self)
        if not include_self:  # self's old value never reached the scattered positions
            grad_x = grad_x.masked_fill(_scattered(x, index, dim), 0.0)
        return grad_x, grad_src, None


def _contributions(shape: tuple, key: tuple, include_self: bool, weights: Any) -> Any:
    """How many values each position combines (at least 1: positions nothing reached keep self)."""
    counts = xp_of(weights).full(shape, 1 if include_self else 0, dtype=weights.dtype)
    add_at(counts, key, weights)
    return xp_of(weights).maximum(counts, 1)


def _scattered(x: Tensor, index: Tensor, dim: int) -> Tensor:
    """A bool mask of the positions some index reached."""
    xp = xp_of(x._data)
    mask = xp.zeros(x.shape, dtype=bool)
    mask[_grid(index._data, dim)] = True
    return wrap(mask, device=x.device)


def _sum_backward(grad: Tensor, x: Tensor, src: Tensor, index: Tensor, out: Tensor, dim: int,
                  include_self: bool) -> tuple:
    return grad, grad.gather(dim, index)


def _mean_backward(grad: Tensor, x: Tensor, src: Tensor, index: Tensor, out: Tensor, dim: int,
                   include_self: bool) -> tuple:
    xp = xp_of(grad._data)
    weights = xp.ones(index.shape, dtype=grad._data.dtype)
    counts = _contributions(tuple(x.shape), _grid(index._data, dim), include_self, weights)
    share = grad / wrap(counts, device=grad.device)
    return share, share.gather(dim, index)


def _prod_backward(grad: Tensor, x: Tensor, src: Tensor, index: Tensor, out: Tensor, dim: int,
                   include_self: bool) -> tuple:
    # torch's formula: products of the others, computed without dividing by a zero
    masked_x = x.masked_fill(x == 0, 1.0)
    grad_x = grad * masked_x.scatter_reduce(dim, index, src, "prod", include_self=include_self) / masked_x
    src_zero = src == 0
    xp, key = xp_of(grad._data), _grid(index._data, dim)
    zero_counts = xp.zeros(tuple(x.shape), dtype=np.int64)
    add_at(zero_counts, key, _crop(src_zero._data, index.shape).astype(np.int64))
    single_zero = src_zero & wrap(zero_counts[key] == 1, device=grad.device)  # the only zero there
    without_zero = x.scatter_reduce(dim, index, src.masked_fill(single_zero, 1.0), "prod",
                                    include_self=include_self)
    from antorcha.ops.elementwise import where

    grad_src = where(single_zero, (grad * without_zero).gather(dim, index),
                     (grad * out).gather(dim, index) / src.masked_fill(src_zero, 1.0))
    return grad_x, grad_src


def _extreme_backward(grad: Tensor, x: Tensor, src: Tensor, index: Tensor, out: Tensor, dim: int,
                      include_self: bool) -> tuple:
    # ties share the gradient evenly. torch counts self among the ties even with include_self=False
    # (its share is then dropped, so src gets less than the whole gradient): matched here.
    value = out.gather(dim, index)
    x_is_result = (x == out).to(grad.dtype)
    src_is_result = (src == value).to(grad.dtype)
    ties = x_is_result.scatter_add(dim, index, src_is_result)
    share = grad / ties
    return x_is_result * share, src_is_result * share.gather(dim, index)


_REDUCE_BACKWARD = {"sum": _sum_backward, "mean": _mean_backward, "prod": _prod_backward,
                    "amax": _extreme_backward, "amin": _extreme_backward}


@register()
def scatter_reduce(
    input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    if reduce not in _REDUCE_UFUNC:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    if input.ndim == 0:
        return _as_vectors(scatter_reduce, input, dim, index, src, reduce, include_self=include_self)
    d = _check_scatter("scatter_reduce", input, dim, index, src)
    return ScatterReduce.apply(input, src, index, params=(d, reduce, bool(include_self)))


# ---- the in-place forms: each writes its out-of-place result back into self -----------------------
@register(torch=False)
def scatter_(
    input: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None, reduce: str | None = None
) -> Tensor:
    return input._inplace(lambda old, s: scatter(old, dim, index, s, value=value, reduce=reduce), src)


@register(torch=False)
def scatter_add_(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    return input._inplace(lambda old, s: scatter_add(old, dim, index, s), src)


@register(torch=False)
def scatter_reduce_(
    input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    compute = lambda old, s: scatter_reduce(old, dim, index, s, reduce, include_self=include_self)  # noqa: E731
    return input._inplace(compute, src)
