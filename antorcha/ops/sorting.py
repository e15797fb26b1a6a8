"""Sorting and selection: sort, argsort, topk, kthvalue, median, mode, quantile, unique, searchsorted.

Every op here that returns values picked out of its input differentiates the same way: the
gradient goes back to the picked indices (`SelectAlongDim`, a scatter into zeros). The indices
themselves are computed on raw arrays with a stable sort, in which NaN is the largest value,
as in torch. The scans (cumprod, cummax, ...) and the counting ops are in `scan.py`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from antorcha._device import xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._common import normalize_dim, write_out
from antorcha.ops.elementwise import where
from antorcha.ops.indexing import gather, scatter_into_zeros


# ---- return types ------------------------------------------------------------------------
class ValuesIndices(NamedTuple):
    """`(values, indices)`, indexable and unpackable, as torch's `torch.return_types.*`."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"antorcha.return_types.{name}(\nvalues={self.values!r},\nindices={self.indices!r})"


def return_type(name: str) -> type:
    """A `ValuesIndices` named like torch's return type (`sort`, `topk`, ...)."""
    return type(name, (ValuesIndices,), {"__slots__": (), "__module__": "antorcha.return_types"})


SortResult = return_type("sort")
TopkResult = return_type("topk")
KthvalueResult = return_type("kthvalue")
MedianResult = return_type("median")
NanmedianResult = return_type("nanmedian")
ModeResult = return_type("mode")


# ---- the one backward: a scatter of the gradient to the picked indices ---------------------
class SelectAlongDim(Op):
    """`x` taken at `index` along `dim` (index has x's ndim); `keepdim=False` drops that dim.

    Backward: the gradient scattered into zeros at the same indices (summed where an index
    repeats, as cummax's do). Subclasses only give torch's node names.
    """

    @staticmethod
    def forward(ctx: Any, x: Any, index: Any, dim: int, keepdim: bool) -> Any:
        ctx.shape, ctx.dim, ctx.keepdim = x.shape, dim, keepdim
        if x.ndim == 0:  # a 0-dim tensor is its own (only) element
            ctx.index = None
            return x.copy()
        ctx.index = index
        out = xp_of(x).take_along_axis(x, index, axis=dim)
        return out if keepdim else out.squeeze(dim)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        if ctx.index is None:
            return grad
        if not ctx.keepdim:
            grad = grad.unsqueeze(ctx.dim)
        return scatter_into_zeros(grad, ctx.shape, ctx.dim, wrap(ctx.index, device=grad.device))


class Sort(SelectAlongDim):
    pass


class Topk(SelectAlongDim):
    pass


class Kthvalue(SelectAlongDim):
    pass


class MedianDim(SelectAlongDim):
    backward_name = "MedianBackward1"


class NanmedianDim(SelectAlongDim):
    backward_name = "NanmedianBackward1"


class Mode(SelectAlongDim):
    pass


def select_along(op: type[Op], x: Tensor, index: Any, dim: int, keepdim: bool) -> Tensor:
    return op.apply(x, params=(index, dim, keepdim))


# ---- stable argsort with NaN largest -------------------------------------------------------
def argsort_array(a: Any, dim: int, descending: bool) -> Any:
    """Stable sort order along `dim` as int64; NaN sorts as the largest value, as in torch."""
    xp = xp_of(a)
    if a.ndim == 0:
        return xp.zeros((), dtype=np.int64)
    if not descending:
        return xp.argsort(a, axis=dim, kind="stable").astype(np.int64, copy=False)
    # descending and still stable: sort the reversed array, reverse that order, and map the
    # positions back, so equal elements keep their original order
    n = a.shape[dim]
    order = xp.argsort(xp.flip(a, dim), axis=dim, kind="stable")
    return (n - 1 - xp.flip(order, dim)).astype(np.int64, copy=False)


def _size_along(x: Tensor, dim: int) -> int:
    return x.shape[dim] if x.ndim else 1


def _index_tensor(index: Any, like: Tensor) -> Tensor:
    return wrap(index, device=like._device)


def _require_nonempty_dim(x: Tensor, dim: int, name: str) -> None:
    if x.ndim and x.shape[dim] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {dim} to have non-zero size.")


def _position(order: Any, dim: int, position: Any) -> Any:
    """The sorted order's entry at `position` (an int, or an array with `order`'s shape but a
    size-1 `dim`): the input's index of that rank, kept as a size-1 dim."""
    xp = xp_of(order)
    if order.ndim == 0:
        return order
    if isinstance(position, int):
        return xp.take(order, xp.asarray([position]), axis=dim)
    return xp.take_along_axis(order, position.astype(np.int64, copy=False), axis=dim)


# ---- sort, argsort, msort, topk ----------------------------------------------------------------
@register()
def sort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False,
         out: Any = None) -> Any:
    """Always a stable sort: torch leaves the order of equal elements open unless stable=True,
    so the stable order is one torch allows either way."""
    d = normalize_dim(dim, input.ndim)
    order = argsort_array(input._data, d, descending)
    result = SortResult(select_along(Sort, input, order, d, True), _index_tensor(order, input))
    return result if out is None else write_out(result, out, "sort")


@register()
def argsort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    d = normalize_dim(dim, input.ndim)
    return _index_tensor(argsort_array(input._data, d, descending), input)


@register()
def msort(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    result = sort(input, 0).values
    return result if out is None else write_out(result, out, "msort")


def _topk_order(a: Any, k: int, dim: int, largest: bool) -> Any:
    """Where the k largest (smallest) elements along `dim` are, best first."""
    xp = xp_of(a)
    n = a.shape[dim]
    if not 0 < k * 8 < n:  # k near n: one full sort
        return xp.take(argsort_array(a, dim, largest), xp.arange(k), axis=dim)
    # few of many: partition them off (NaN is the largest here too), then sort only those
    part = xp.argpartition(a, n - k if largest else k - 1, axis=dim)
    candidates = xp.take(part, xp.arange(n - k, n) if largest else xp.arange(k), axis=dim)
    ranked = argsort_array(xp.take_along_axis(a, candidates, axis=dim), dim, largest)
    return xp.take_along_axis(candidates, ranked, axis=dim).astype(np.int64, copy=False)


@register()
def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True, *,
         out: Any = None) -> Any:
    """The k largest (or smallest) along `dim`, always in sorted order (torch leaves the order
    of `sorted=False` unspecified)."""
    d = normalize_dim(dim, input.ndim)
    size = _size_along(input, d)
    if not 0 <= k <= size:
        raise RuntimeError(f"selected index k out of range: k={k} for dimension {d} of size {size}")
    order = _topk_order(input._data, k, d, largest) if input.ndim else argsort_array(input._data, d, largest)
    result = TopkResult(select_along(Topk, input, order, d, True), _index_tensor(order, input))
    return result if out is None else write_out(result, out, "topk")


# ---- kthvalue, median, nanmedian, mode ---------------------------------------------------------
def _picked(op: type[Op], result_type: type, x: Tensor, index: Any, dim: int, keepdim: bool) -> Any:
    """values and indices of a reduction that picks one element (`index`, a size-1 dim)."""
    values = select_along(op, x, index, dim, keepdim)
    indices = index if keepdim or x.ndim == 0 else index.squeeze(dim)
    return result_type(values, _index_tensor(indices, x))


@register()
def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False, *, out: Any = None) -> Any:
    d = normalize_dim(dim, input.ndim)
    _require_nonempty_dim(input, d, "kthvalue")
    if not 1 <= k <= _size_along(input, d):
        raise RuntimeError(
            f"kthvalue(): selected number k out of range for dimension {d}: k={k}, but the "
            f"dimension has size {_size_along(input, d)}"
        )
    index = _position(argsort_array(input._data, d, False), d, k - 1)
    result = _picked(Kthvalue, KthvalueResult, input, index, d, keepdim)
    return result if out is None else write_out(result, out, "kthvalue")


class MedianAll(Op):
    """median()/nanmedian() of the whole tensor: the gradient is shared evenly among the
    elements equal to the result (all NaNs, when the result is NaN), as torch shares it."""

    @staticmethod
    def forward(ctx: Any, x: Any, ignore_nan: bool) -> Any:
        xp = xp_of(x)
        flat = x.reshape(-1)
        nans = xp.isnan(flat) if flat.dtype.kind in "fV" else xp.zeros(flat.shape, dtype=bool)
        count = flat.size - int(nans.sum()) if ignore_nan else flat.size
        if flat.size == 0 or count == 0 or (nans.any() and not ignore_nan):
            out = xp.asarray(xp.nan if flat.dtype.kind in "fV" else 0, dtype=x.dtype)
        else:
            out = xp.sort(flat)[(count - 1) // 2]  # NaNs sort last: the lower median of the rest
        ctx.save_for_backward(x, xp.asarray(out))
        return xp.asarray(out)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, out = ctx.saved_tensors
        hits = x.isnan() if bool(out.isnan()) else x == out
        share = hits.to(grad.dtype)
        return grad * share / share.sum(), None


class Nanmedian(MedianAll):
    pass


class Median(MedianAll):
    pass


def _median(x: Tensor, dim: int | None, keepdim: bool, ignore_nan: bool, out: Any) -> Any:
    name = "nanmedian" if ignore_nan else "median"
    if dim is None:
        result = (Nanmedian if ignore_nan else Median).apply(x, params=(ignore_nan,))
        return result if out is None else write_out(result, out, name)
    d = normalize_dim(dim, x.ndim)
    _require_nonempty_dim(x, d, name)
    data = x._data
    xp = xp_of(data)
    order = argsort_array(data, d, False)
    if x.ndim == 0:
        index = order
    else:
        nans = xp.isnan(data) if data.dtype.kind in "fV" else xp.zeros(data.shape, dtype=bool)
        valid = data.shape[d] - nans.sum(axis=d, keepdims=True)  # non-NaN count per row
        if ignore_nan:  # the lower median of the non-NaN values; an all-NaN row picks its first NaN
            position = xp.maximum(valid - 1, 0) // 2
        else:  # a row with a NaN has median NaN: its first NaN, which sorts right after the rest
            position = xp.where(valid < data.shape[d], valid, (data.shape[d] - 1) // 2)
        index = _position(order, d, position)
    result_type = NanmedianResult if ignore_nan else MedianResult
    result = _picked(NanmedianDim if ignore_nan else MedianDim, result_type, x, index, d, keepdim)
    return result if out is None else write_out(result, out, name)


@register()
def median(input: Tensor, dim: int | None = None, keepdim: bool = False, *, out: Any = None) -> Any:
    """Without `dim`: the lower median of all elements (NaN if any is NaN). With `dim`: values
    and indices along it."""
    return _median(input, dim, keepdim, False, out)


@register()
def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False, *, out: Any = None) -> Any:
    """median, ignoring NaNs (NaN only where every element is NaN)."""
    return _median(input, dim, keepdim, True, out)


def _mode_index(data: Any, dim: int) -> Any:
    """Where along `dim` each row's mode is: the most frequent value (the smallest of those
    equally frequent), at its last occurrence, as torch's CPU kernel picks it."""
    xp = xp_of(data)
    rows = xp.moveaxis(data, dim, -1)  # (..., n)
    n = rows.shape[-1]
    order = argsort_array(rows, rows.ndim - 1, False)
    ranked = xp.take_along_axis(rows, order, axis=-1)
    starts = xp.ones(ranked.shape, dtype=bool)  # where each run of equal values starts
    starts[..., 1:] = ranked[..., 1:] != ranked[..., :-1]
    run = xp.cumsum(starts.reshape(-1)) - 1  # one id per run (every row starts a new one)
    lengths = xp.bincount(run)
    run_ends = xp.cumsum(lengths) - 1  # the flat position of each run's last element
    counts = lengths[run].reshape(ranked.shape)
    best = xp.argmax(counts, axis=-1)[..., None]  # the first longest run: the smallest value
    row_starts = (xp.arange(counts.size // n) * n).reshape(best.shape)
    last = run_ends[run[row_starts + best]] - row_starts  # its last element in the stable order
    index = xp.take_along_axis(order, last, axis=-1)  # (..., 1)
    return xp.moveaxis(index, -1, dim)


@register()
def mode(input: Tensor, dim: int = -1, keepdim: bool = False, *, out: Any = None) -> Any:
    d = normalize_dim(dim, input.ndim)
    _require_nonempty_dim(input, d, "mode")
    data = input._data
    index = xp_of(data).zeros((), dtype=np.int64) if input.ndim == 0 else _mode_index(data, d)
    result = _picked(Mode, ModeResult, input, index, d, keepdim)
    return result if out is None else write_out(result, out, "mode")


# ---- quantile, nanquantile ------------------------------------------------------------------------
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile_q(input: Tensor, q: Any, name: str) -> tuple[Tensor, bool]:
    """q as a 1-D tensor of the input's dtype, and whether it was a scalar (no leading output
    dim). A tensor q stays in the graph: torch differentiates the linear weights through it."""
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise RuntimeError(f"{name}() q must be a scalar or 1D tensor, but got a {q.ndim}-D tensor")
        if q.dtype is not input.dtype:
            raise RuntimeError(
                f"{name}() q tensor must be same dtype as the input tensor, but got q {q.dtype} "
                f"and input {input.dtype}"
            )
        if not bool(((q._data >= 0) & (q._data <= 1)).all()):
            raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
        return q.reshape(-1), q.ndim == 0
    if not 0 <= q <= 1:
        raise RuntimeError(f"{name}() q must be in the range [0, 1] but got {q}")
    return wrap(xp_of(input._data).asarray([q], dtype=input._data.dtype), device=input._device), True


def _quantile_checks(input: Tensor, interpolation: str, name: str) -> None:
    if input._data.dtype.kind not in "fV":
        raise RuntimeError(
            f"{name}() input tensor must be either float or double dtype, but got {input.dtype}"
        )
    if input.numel() == 0:
        raise RuntimeError(f"{name}() input tensor must be non-empty")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(
            f"{name}() interpolation must be one of linear, lower, higher, midpoint or nearest, "
            f"but got {interpolation}"
        )


def _ranks(rows: Tensor, q: Tensor, ignore_nan: bool) -> Tensor:
    """The fractional sorted position of each quantile in each row of `rows` (..., n): (..., Q)."""
    data = rows._data
    xp = xp_of(data)
    n = data.shape[-1]
    nans = xp.isnan(data).sum(axis=-1, keepdims=True)  # (..., 1)
    if ignore_nan:  # the rank among the non-NaN values; an all-NaN row reads its first NaN
        ranks = q * wrap((n - 1 - nans).astype(data.dtype), device=rows._device)
        return where(ranks < 0, 0.0, ranks)
    has_nan = wrap(nans > 0, device=rows._device)
    return where(has_nan, float(n - 1), q * float(n - 1))  # a row with a NaN reads a NaN


def _interpolate(ranked: Tensor, ranks: Tensor, interpolation: str) -> Tensor:
    """Read each rank off the sorted rows, interpolating between neighbours as asked."""
    r = ranks._data
    xp = xp_of(r)
    if interpolation in ("lower", "higher", "nearest"):
        pick = {"lower": xp.floor, "higher": xp.ceil, "nearest": xp.round}[interpolation](r)
        return gather(ranked, -1, _index_tensor(pick.astype(np.int64), ranked))
    below, above = xp.floor(r), xp.ceil(r)
    if interpolation == "linear":
        weights = ranks - wrap(below, device=ranks._device)
    else:
        weights = wrap(xp.full_like(r, 0.5), device=ranks._device)
    low = gather(ranked, -1, _index_tensor(below.astype(np.int64), ranked))
    high = gather(ranked, -1, _index_tensor(above.astype(np.int64), ranked))
    # torch's lerp, whose two forms keep each end exact
    return where(weights < 0.5, low + weights * (high - low), high - (high - low) * (1 - weights))


def _quantile(x: Tensor, q: Any, dim: int | None, keepdim: bool, interpolation: str,
              ignore_nan: bool, out: Any) -> Tensor:
    name = "nanquantile" if ignore_nan else "quantile"
    _quantile_checks(x, interpolation, name)
    q_values, scalar_q = _quantile_q(x, q, name)  # (Q,)
    if dim is None:
        rows, reduced = x.reshape(-1), (1,) * x.ndim if keepdim else ()
    else:
        d = normalize_dim(dim, x.ndim)
        if x.ndim == 0:
            rows, reduced = x.reshape(1), ()
        else:
            # (..., n): the reduced dim last, the others in order
            rows = x.permute(*[i for i in range(x.ndim) if i != d], d)
            reduced = tuple(1 if i == d else s for i, s in enumerate(x.shape)) if keepdim else \
                tuple(s for i, s in enumerate(x.shape) if i != d)
    ranked = sort(rows, -1).values
    result = _interpolate(ranked, _ranks(rows, q_values, ignore_nan), interpolation)  # (..., Q)
    result = result.permute(result.ndim - 1, *range(result.ndim - 1))  # (Q, ...)
    result = result.reshape(reduced if scalar_q else (q_values.shape[0], *reduced))
    return result if out is None else write_out(result, out, name)


@register()
def quantile(input: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear", out: Tensor | None = None) -> Tensor:
    return _quantile(input, q, dim, keepdim, interpolation, False, out)


@register()
def nanquantile(input: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
                interpolation: str = "linear", out: Tensor | None = None) -> Tensor:
    return _quantile(input, q, dim, keepdim, interpolation, True, out)


# ---- unique, unique_consecutive -------------------------------------------------------------------
def _unique_result(x: Tensor, values: Any, inverse: Any, counts: Any, return_inverse: bool,
                   return_counts: bool) -> Any:
    output = wrap(values, device=x._device)
    extra = []
    if return_inverse:
        extra.append(wrap(inverse.astype(np.int64, copy=False), device=x._device))
    if return_counts:
        extra.append(wrap(counts.astype(np.int64, copy=False), device=x._device))
    return (output, *extra) if extra else output


def _rows_along(data: Any, dim: int | None) -> tuple[Any, Any]:
    """The elements (dim None) or the slices along `dim`, as rows of a 2-D array, and a function
    that turns selected rows back into the output's layout."""
    xp = xp_of(data)
    if dim is None:
        return data.reshape(-1, 1), lambda rows: rows.reshape(-1)
    moved = xp.moveaxis(data, dim, 0)
    inner = moved.shape[1:]
    if 0 in inner:
        raise RuntimeError(
            "There are 0 sized dimensions, and they aren't selected, so unique cannot be applied"
        )
    rows = moved.reshape(moved.shape[0], math.prod(inner))
    return rows, lambda picked: xp.moveaxis(picked.reshape(picked.shape[0], *inner), 0, dim)


def _run_starts(rows: Any) -> Any:
    """Where each run of equal consecutive rows starts (NaN equals nothing, as in torch)."""
    xp = xp_of(rows)
    starts = xp.ones(rows.shape[0], dtype=bool)
    if rows.shape[0] > 1:
        starts[1:] = (rows[1:] != rows[:-1]).any(axis=1) if rows.shape[1] else False
    return starts


def _runs(x: Tensor, rows: Any, restore: Any, dim: int | None) -> tuple[Any, Any, Any]:
    """Collapse runs of equal consecutive rows: (values, inverse, counts)."""
    xp = xp_of(rows)
    starts = _run_starts(rows)
    first = xp.flatnonzero(starts)
    inverse = xp.cumsum(starts) - 1
    counts = xp.diff(xp.concatenate([first, xp.asarray([rows.shape[0]])]))
    inverse = inverse.reshape(x.shape) if dim is None else inverse
    return restore(rows[first]), inverse, counts


@register()
def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim: int | None = None) -> Any:
    """The distinct elements (or slices along `dim`), always sorted, as torch's CPU kernel
    returns them; NaNs are all distinct. Not differentiable (torch has no derivative either)."""
    d = None if dim is None else normalize_dim(dim, input.ndim)
    data = input._data if input.ndim else input._data.reshape(1)
    rows, restore = _rows_along(data, d)
    xp = xp_of(rows)
    order = xp.lexsort(rows.T[::-1]) if rows.shape[1] else xp.arange(rows.shape[0])  # rows sorted
    values, run_of_sorted, counts = _runs(input, rows[order], restore, d)
    run_of_sorted = run_of_sorted.reshape(-1)
    inverse = xp.empty_like(run_of_sorted)
    inverse[order] = run_of_sorted
    inverse = inverse.reshape(input.shape) if d is None else inverse
    return _unique_result(input, values, inverse, counts, return_inverse, return_counts)


@register()
def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None) -> Any:
    d = None if dim is None else normalize_dim(dim, input.ndim)
    data = input._data if input.ndim else input._data.reshape(1)
    rows, restore = _rows_along(data, d)
    values, inverse, counts = _runs(input, rows, restore, d)
    return _unique_result(input, values, inverse, counts, return_inverse, return_counts)


# ---- searchsorted, bucketize ----------------------------------------------------------------------
def _as_values(values: Any, like: Tensor) -> Tensor:
    if isinstance(values, Tensor):
        return values
    return wrap(xp_of(like._data).asarray(values), device=like._device)


def _search(boundaries: Any, values: Any, side: str) -> Any:
    """searchsorted row by row: `boundaries` (..., S) and `values` (..., V), or 1-D boundaries."""
    xp = xp_of(values)
    if boundaries.ndim == 1:
        return xp.searchsorted(boundaries, values, side=side)
    flat_b = boundaries.reshape(-1, boundaries.shape[-1])
    flat_v = values.reshape(flat_b.shape[0], values.shape[-1])
    out = xp.empty(flat_v.shape, dtype=np.int64)
    for i in range(flat_b.shape[0]):  # one binary search per row of boundaries
        out[i] = xp.searchsorted(flat_b[i], flat_v[i], side=side)
    return out.reshape(values.shape)


def _check_boundaries(boundaries: Tensor, values: Tensor) -> None:
    if boundaries.ndim <= 1:
        return
    if values.ndim != boundaries.ndim or values.shape[:-1] != boundaries.shape[:-1]:
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions "
            "of boundaries tensor and input value tensor must match, but we got boundaries tensor "
            f"{list(boundaries.shape)} and input value tensor {list(values.shape)}"
        )


def _sorted_by(boundaries: Tensor, sorter: Tensor | None) -> Any:
    if sorter is None:
        return boundaries._data
    if sorter.shape != boundaries.shape:
        raise RuntimeError(
            "torch.searchsorted(): boundary and sorter must have the same size, but got boundary "
            f"tensor {list(boundaries.shape)} and got sorter tensor {list(sorter.shape)}"
        )
    if sorter._data.dtype != np.int64:
        raise RuntimeError(
            f"torch.searchsorted(): sorter must be a tensor of long dtype but got {sorter.dtype}"
        )
    size = boundaries.shape[-1] if boundaries.ndim else 1
    if sorter.numel() and (int(sorter._data.min()) < 0 or int(sorter._data.max()) >= size):
        raise RuntimeError("torch.searchsorted(): sorter index out of range")
    return xp_of(boundaries._data).take_along_axis(boundaries._data, sorter._data, axis=-1)


@register(method=False)
def searchsorted(sorted_sequence: Tensor, input: Any, *, out_int32: bool = False, right: bool = False,
                 side: str | None = None, out: Tensor | None = None, sorter: Tensor | None = None) -> Tensor:
    """Where each value would go in the sorted innermost rows of `sorted_sequence`."""
    if side is not None and side not in ("left", "right"):
        raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
    if side == "left" and right:
        raise RuntimeError(
            "torch.searchsorted(): side and right can't be set to opposites, got side of left "
            "while right was True"
        )
    values = _as_values(input, sorted_sequence)
    _check_boundaries(sorted_sequence, values)
    boundaries = _sorted_by(sorted_sequence, sorter)
    found = _search(boundaries, values._data, "right" if right or side == "right" else "left")
    result = wrap(xp_of(found).asarray(found, dtype=np.int32 if out_int32 else np.int64),
                  device=sorted_sequence._device)
    return result if out is None else write_out(result, out, "searchsorted")


@register(method=False)
def bucketize(input: Any, boundaries: Tensor, *, out_int32: bool = False, right: bool = False,
              out: Tensor | None = None) -> Tensor:
    """The bucket of each value: `boundaries[i-1] < x <= boundaries[i]` (`<=`, `<` with right)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right, out=out)

