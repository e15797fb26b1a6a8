"""Writing along a dim by a 1-D index (index_fill/add/copy/reduce), by a key (index_put, put) and
by a mask (masked_scatter), with masked_select, its adjoint; and their in-place forms.

Each op computes out of place; its in-place method writes the result back through
`Tensor._inplace` (version bump, autograd on non-leaf tensors and views). Where a position is
written twice, index_add and index_put(accumulate=True) add; index_copy and index_put keep the
last write, where torch leaves the order unspecified.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from antorcha._device import add_at, xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._common import broadcast_shapes, normalize_dim
from antorcha.ops.indexing import Index, MaskedOut, index_select
from antorcha.ops.indexing import index_put as _assign_at
from antorcha.ops.scatter import FlatPutIntoZeros, check_range, require_index


# ---- index_fill, index_add, index_copy, index_put --------------------------------------------------
@register()
def index_fill(input: Tensor, dim: int, index: Tensor, value: Any) -> Tensor:
    require_index(index, "index_fill_(): Expected dtype int64 for index.", IndexError)
    if index.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    d = normalize_dim(dim, input.ndim)
    size = input.shape[d] if input.ndim else 1
    check_range(index, size, d, IndexError, negative=True)
    xp = xp_of(input._data)
    hit = xp.zeros(size, dtype=bool)
    hit[index._data.reshape(-1)] = True
    hit = hit.reshape((size,) + (1,) * (input.ndim - d - 1)) if input.ndim else hit[0]  # (n, 1, ..., 1)
    mask = wrap(hit, device=input.device)
    from antorcha.ops.indexing import masked_fill

    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(
            "index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
            f"{value.ndim} dimension(s)."
        )
    return masked_fill(input, mask, value)


def _slices(t: Tensor, d: int) -> list[int]:
    """The shape of one slice of `t` along `d`."""
    return [n for i, n in enumerate(t.shape) if i != d]


def _check_add_source(input: Tensor, d: int, index: Tensor, source: Tensor, name: str = "index_add_") -> None:
    """index_add (and index_reduce): a vector index, one source slice per index, slices of self's shape."""
    if index.ndim > 1:
        raise IndexError(
            f"{name}(): Index is supposed to be a vector, but got dim: {index.ndim} with type: "
            f"{index.dtype.scalar_name} and size: {list(index.shape)}"
        )
    source_length = source.shape[d] if source.ndim else 1
    if index.numel() != source_length:
        raise RuntimeError(
            f"{name}(): Number of indices ({index.numel()}) should be equal to source.size(dim): "
            f"({source_length}), for dim: {d}"
        )
    if max(input.ndim, 1) != max(source.ndim, 1) or _slices(input, d) != _slices(source, d):
        raise RuntimeError(
            "source tensor shape must match self tensor shape, excluding the specified dimension. Got "
            f"self.shape = {list(input.shape)} source.shape = {list(source.shape)}"
        )


def _check_copy_source(input: Tensor, d: int, index: Tensor, source: Tensor) -> None:
    """index_copy: the same rules as index_add, in index_copy_'s words."""
    if index.ndim > 1:
        raise IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {index.ndim})")
    source_length = source.shape[d] if source.ndim else 1
    if index.numel() != source_length:
        raise IndexError(
            f"index_copy_(): Number of indices ({index.numel()}) should be equal to source.size(dim) "
            f"({source_length})"
        )
    if max(input.ndim, 1) != max(source.ndim, 1):
        raise IndexError(
            "index_copy_(): When source and destination are not scalars, their dimensionality must "
            f"match. Source dimensionality ({source.ndim}), destination dimensionality ({input.ndim})"
        )
    for i, (mine, theirs) in enumerate(zip(_slices(input, d), _slices(source, d))):
        if mine != theirs:
            raise RuntimeError(
                "index_copy_(): Source/destination tensor must have same slice shapes. Destination "
                f"slice shape: {mine} at dimension {i} and source slice shape: {theirs} at dimension {i}."
            )


def _occurrence_ranks(xp: Any, index: Any) -> Any:
    """rank[i] = how many earlier entries of the index equal index[i] (0 for a first occurrence)."""
    order = xp.argsort(index, kind="stable")
    ordered = index[order]
    starts = xp.concatenate([xp.ones(1, dtype=bool), ordered[1:] != ordered[:-1]])
    group_start = xp.maximum.accumulate(xp.where(starts, xp.arange(index.size), 0))
    ranks = xp.empty_like(order)
    ranks[order] = xp.arange(index.size) - group_start
    return ranks


def _fused_add_at(out: Any, index: Any, source: Any, dim: int, alpha: Any) -> None:
    """out[..., index[i], ...] = out + alpha * source[..., i, ...] in index order, each step one
    fused multiply-add as torch's kernel (alpha * source is never rounded, so it never overflows
    alone): the step runs in a wider float and rounds once; positions written twice take turns."""
    xp = xp_of(out)
    wide = np.longdouble if xp is np and out.dtype == np.float64 else np.float64
    if index.size == 0:
        return
    ranks = _occurrence_ranks(xp, index)
    for rank in range(int(ranks.max()) + 1):
        chosen = xp.flatnonzero(ranks == rank)
        key = (slice(None),) * dim + (index[chosen],)
        step = xp.take(source, chosen, axis=dim).astype(wide) * alpha
        out[key] = (out[key].astype(wide) + step).astype(out.dtype)


class IndexAdd(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, source: Any, index: Any, dim: int, alpha: Any) -> Any:
        ctx.save_for_backward(index)
        ctx.dim, ctx.alpha = dim, alpha
        out = x.copy()
        if alpha != 1 and x.dtype.kind in "fV":
            _fused_add_at(out, index, source, dim, alpha)
        else:
            add_at(out, (slice(None),) * dim + (index,), source * alpha if alpha != 1 else source)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        (index,) = ctx.saved_tensors
        grad_source = None
        if ctx.needs_input_grad[1]:
            grad_source = index_select(grad, ctx.dim, index)
            grad_source = grad_source * ctx.alpha if ctx.alpha != 1 else grad_source
        return grad, grad_source, None


@register()
def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
    require_index(index, "index_add_(): Expected dtype int32/int64 for index but got: {got}")
    if input.ndim == 0:  # torch takes a scalar self as a one-element vector
        return index_add(input.reshape(1), dim, index.reshape(-1), source.reshape(1), alpha=alpha).reshape(())
    d = normalize_dim(dim, input.ndim)
    _check_add_source(input, d, index, source)
    if source.dtype is not input.dtype:
        raise RuntimeError(
            f"index_add_(): self ({input.dtype.scalar_name}) and source ({source.dtype.scalar_name}) "
            "must have the same scalar type"
        )
    check_range(index, input.shape[d] if input.ndim else 1, d, RuntimeError)
    return IndexAdd.apply(input, source, index.reshape(-1), params=(d, alpha))


@register()
def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    require_index(index, "index_copy_(): Expected a long tensor for index, but got {got}")
    if input.ndim == 0:  # torch takes a scalar self as a one-element vector
        return index_copy(input.reshape(1), dim, index.reshape(-1), source.reshape(1)).reshape(())
    d = normalize_dim(dim, input.ndim)
    _check_copy_source(input, d, index, source)
    if source.dtype is not input.dtype:
        raise RuntimeError(
            "index_copy_(): self and source expected to have the same dtype, but got (self) "
            f"{input.dtype.scalar_name} and (source) {source.dtype.scalar_name}"
        )
    check_range(index, input.shape[d] if input.ndim else 1, d, IndexError, prefix="index_copy_(): ")
    return _assign_at(input, (slice(None),) * d + (index.reshape(-1),), source)


class IndexPutAccumulate(Op):
    backward_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx: Any, x: Any, values: Any, key: tuple) -> Any:
        ctx.key = key
        out = x.copy()
        add_at(out, key, xp_of(x).broadcast_to(values, x[key].shape))
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        grad_values = Index.apply(grad, params=(ctx.key, True)) if ctx.needs_input_grad[1] else None
        return grad, grad_values  # summed to values' shape by the engine


@register()
def index_put(input: Tensor, indices: Any, values: Tensor, accumulate: bool = False) -> Tensor:
    if not isinstance(indices, (tuple, list)):
        raise TypeError(
            "index_put(): argument 'indices' (position 1) must be tuple of Tensors, not "
            f"{type(indices).__name__}"
        )
    if not isinstance(values, Tensor):
        kind = type(values).__name__
        raise TypeError(f"index_put(): argument 'values' (position 2) must be Tensor, not {kind}")
    if values.dtype is not input.dtype:
        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{input.dtype.scalar_name} for the destination and {values.dtype.scalar_name} for the source."
        )
    key = tuple(indices)
    if not accumulate:
        return _assign_at(input, key, values)
    from antorcha.ops.indexing import _convert_key, _index_error

    converted, _ = _convert_key(input, key)
    try:
        return IndexPutAccumulate.apply(input, values, params=(converted,))
    except IndexError as error:
        raise _index_error(error, input, converted) from None
    except ValueError:
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {list(values.shape)} cannot be broadcast to "
            f"indexing result of shape {list(input._data[converted].shape)}"
        ) from None


# ---- masked_scatter ------------------------------------------------------------------------------
class MaskedScatter(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, source: Any, mask: Any) -> Any:
        ctx.save_for_backward(mask)
        ctx.source_shape = source.shape
        out = x.copy()
        out[mask] = source.reshape(-1)[: int(mask.sum())]
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        (mask,) = ctx.saved_tensors
        grad_x = MaskedOut.apply(grad, params=(mask._data,)) if ctx.needs_input_grad[0] else None
        grad_source = None
        if ctx.needs_input_grad[1]:
            picked = Index.apply(grad, params=(mask._data, True))  # (k,): in mask order
            positions = xp_of(mask._data).arange(picked.shape[0], dtype=np.int64)
            grad_source = FlatPutIntoZeros.apply(picked, params=(ctx.source_shape, positions))
        return grad_x, grad_source, None


@register()
def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    if not isinstance(mask, Tensor) or mask._data.dtype.kind != "b":
        got = mask.dtype.scalar_name if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype {got}")
    if not isinstance(source, Tensor) or source.dtype is not input.dtype:
        got = source.dtype.scalar_name if isinstance(source, Tensor) else type(source).__name__
        raise RuntimeError(
            "masked_scatter: expected self and source to have same dtypes but got"  # sic: torch's spacing
            f"{input.dtype.scalar_name} and {got}"
        )
    shape = broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    if int(mask._data.sum()) * math.prod(shape) // max(mask.numel(), 1) > source.numel():
        raise RuntimeError("Number of elements of source < number of ones in mask")
    grown = input.expand(*shape) if tuple(input.shape) != shape else input
    mask = mask.expand(*shape) if tuple(mask.shape) != shape else mask
    return MaskedScatter.apply(grown, source, mask)


@register(torch=False)
def index_fill_(input: Tensor, dim: int, index: Tensor, value: Any) -> Tensor:
    return input._inplace(lambda old, v: index_fill(old, dim, index, v), value)


@register(torch=False)
def index_add_(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
    return input._inplace(lambda old, s: index_add(old, dim, index, s, alpha=alpha), source)


@register(torch=False)
def index_copy_(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    return input._inplace(lambda old, s: index_copy(old, dim, index, s), source)


@register()
def index_put_(input: Tensor, indices: Any, values: Tensor, accumulate: bool = False) -> Tensor:
    return input._inplace(lambda old, v: index_put(old, indices, v, accumulate), values)


@register(torch=False)
def masked_scatter_(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    shape = tuple(input.shape)
    if isinstance(mask, Tensor) and broadcast_shapes(shape, tuple(mask.shape)) != shape:
        raise RuntimeError(
            f"masked_scatter_: the mask of shape {list(mask.shape)} does not broadcast to self's shape "
            f"{list(input.shape)}"
        )
    return input._inplace(lambda old, s: masked_scatter(old, mask, s), source)


# ---- masked_select, put, index_reduce ---------------------------------------------------------------
@register()
def masked_select(input: Tensor, mask: Tensor, *, out: Tensor | None = None) -> Tensor:
    if not isinstance(mask, Tensor) or mask._data.dtype.kind != "b":
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    shape = broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    grown = input.expand(*shape) if tuple(input.shape) != shape else input
    mask = mask.expand(*shape) if tuple(mask.shape) != shape else mask
    from antorcha.ops.indexing import getitem

    result = getitem(grown, mask)  # (k,): the selected elements in row-major order
    if out is None:
        return result
    from antorcha.ops._common import write_out

    return write_out(result, out, "masked_select")


@register()
def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    require_index(index, "put_(): Expected a long tensor for index, but got {got}")
    if source.numel() != index.numel():
        raise IndexError(
            "put_(): Expected source and index to have the same number of elements, but got "
            f"source.numel() = {source.numel()}, index.numel() = {index.numel()}"
        )
    if source.dtype is not input.dtype:
        raise RuntimeError(
            "put_(): self and source expected to have the same dtype, but got self.dtype = "
            f"{input.dtype.scalar_name} and source.dtype = {source.dtype.scalar_name}"
        )
    n = input.numel()
    positions = index._data.reshape(-1).astype(np.int64)
    if positions.size and (int(positions.max()) >= n or int(positions.min()) < -n):
        bad = int(positions.max()) if int(positions.max()) >= n else int(positions.min())
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
    flat_key = (wrap(positions, device=input.device),)
    written = index_put(input.reshape(-1), flat_key, source.reshape(-1), accumulate)
    return written.reshape(*input.shape)


@register(torch=False)
def put_(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    return input._inplace(lambda old, s: put(old, index, s, accumulate), source)


_INDEX_REDUCTIONS = ("prod", "mean", "amax", "amin")


@register()
def index_reduce(
    input: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    """scatter_reduce with the 1-D index spread over source's shape: its forward and gradients."""
    if reduce not in _INDEX_REDUCTIONS:
        raise RuntimeError(
            f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}."
        )
    require_index(index, "index_reduce_(): Expected dtype int32/int64 for index but got: {got}")
    d = normalize_dim(dim, input.ndim)
    _check_add_source(input, d, index, source, "index_reduce_")
    if source.dtype is not input.dtype:
        raise RuntimeError(
            f"index_reduce_(): self ({input.dtype.scalar_name}) and source ({source.dtype.scalar_name}) "
            "must have the same dtype"
        )
    check_range(index, input.shape[d] if input.ndim else 1, d, IndexError)
    from antorcha.ops.scatter import scatter_reduce

    if input.ndim == 0:
        index, source = index.reshape(()), source.reshape(())
    else:  # each slice of source goes where its index says: the index laid along d, spread over source
        along = index.reshape(*((1,) * d), -1, *((1,) * (input.ndim - d - 1)))  # (1, .., k, .., 1)
        spread = xp_of(index._data).ascontiguousarray(along.expand(*source.shape)._data)
        index = wrap(spread, device=index.device)
    return scatter_reduce(input, d, index, source, reduce, include_self=include_self)


@register(torch=False)
def index_reduce_(
    input: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    compute = lambda old, s: index_reduce(old, dim, index, s, reduce, include_self=include_self)  # noqa: E731
    return input._inplace(compute, source)
