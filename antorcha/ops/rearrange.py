"""More movement: tile, repeat_interleave, narrow, select, movedim, roll, meshgrid, diag, trace, ...

Views keep torch's aliasing: `narrow` and `select` are basic indexing (so an in-place op on them
under autograd rewrites the base, as `x[a:b]` does); `diagonal`, `unfold` and `as_strided` are
strided views of the input's memory, writable like torch's, sharing its version counter. Their
gradients are scatter-adds into zeros at the view's flat positions (`scatter.FlatPutIntoZeros`),
which overlapping windows (`unfold` with step < size) need.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._common import normalize_dim
from antorcha.ops.indexing import getitem
from antorcha.ops.movement import Repeat, cat, expand, flip, permute, reshape, transpose
from antorcha.ops.scatter import FlatPutIntoZeros


def _mark_view(out: Tensor, base: Tensor, key: tuple | None = None) -> Tensor:
    """`out` is a strided view of `base`'s memory: it shares the version counter and the base.

    `key`, an index of `base` that reads the view's elements in the view's shape, lets an in-place
    op on the view under autograd rewrite the base as `base[key] = op(base[key])`, as it does for
    `x[a:b]` (`Tensor._inplace_on_view`); like there, only for a view of a tensor that is no view.
    """
    out._vc = base._counter()
    out._base = base if base._base is None else base._base
    if key is not None and base._base is None:
        out._extras()["view_key"] = key
    return out


def _axis(n: int, at: int, ndim: int) -> np.ndarray:
    """arange(n) laid along axis `at` of `ndim` (a sparse index that broadcasts)."""
    return np.arange(n).reshape((1,) * at + (n,) + (1,) * (ndim - at - 1))


def _permutation_key(shape: tuple, order: list[int]) -> tuple:
    """The index of a tensor of `shape` that reads it permuted to `order` (view dim i = dim order[i])."""
    return tuple(_axis(n, order.index(d), len(shape)) for d, n in enumerate(shape))


def _as_ints(values: Any, name: str) -> tuple[int, ...]:
    if isinstance(values, Tensor):
        values = values.tolist()
    if isinstance(values, (int, np.integer)):
        return (int(values),)
    try:
        return tuple(int(v) for v in values)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, not {type(values).__name__}") from None


def _finish(result: Tensor, out: Tensor | None, name: str) -> Tensor:
    if out is None:
        return result
    from antorcha.ops._common import write_out

    return write_out(result, out, name)


# ---- tile, repeat_interleave ----------------------------------------------------------------
@register()
def tile(input: Tensor, dims: Any) -> Tensor:
    reps = _as_ints(dims, "dims")
    reps = (1,) * (input.ndim - len(reps)) + reps  # torch pads dims with leading ones
    lead = len(reps) - input.ndim
    shape = (1,) * lead + tuple(input.shape)
    if any(r < 0 for r in reps):
        sizes = [n * r for n, r in zip(shape, reps)]
        bad = next(s for s in sizes if s < 0)
        raise RuntimeError(f"Trying to create tensor with negative dimension {bad}: {sizes}")
    return Repeat.apply(input, params=(reps,))


@register()
def repeat_interleave(
    input: Tensor, repeats: Any = None, dim: int | None = None, *, output_size: int | None = None
) -> Tensor:
    if repeats is None:  # repeat_interleave(repeats): each index i, repeats[i] times
        from antorcha._creation import arange

        if input.ndim != 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        counts = _repeat_counts(input, input.shape[0])
        index = arange(counts.size, device=input.device)
        return repeat_interleave(index, input, 0, output_size=output_size)
    if dim is None:
        input, d = reshape(input, -1), 0  # noqa: A001 - repeated as one flat vector
    elif input.ndim == 0:  # torch's words differ: for an int count it first unsqueezes dim 1
        if isinstance(repeats, Tensor):
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        raise IndexError("Dimension out of range (expected to be in range of [-1, 0], but got 1)")
    else:
        d = normalize_dim(dim, input.ndim)
    length = input.shape[d] if input.ndim else 1
    if isinstance(repeats, (int, np.integer)):
        if repeats < 0:
            raise RuntimeError("Repeats must be non-negative")
        _check_output_size(output_size, length * int(repeats))
        return _repeat_each(input, d, int(repeats))
    counts = _repeat_counts(repeats, length)
    _check_output_size(output_size, int(counts.sum()))
    from antorcha.ops.indexing import index_select

    xp = xp_of(input._data)
    index = xp.repeat(xp.arange(length), xp.asarray(counts))
    return index_select(input, d, wrap(index.astype(np.int64), device=input.device))


def _repeat_each(input: Tensor, d: int, count: int) -> Tensor:
    """Each slice along `d`, `count` times: an expand of a new axis, then a merge (torch's way)."""
    if input.ndim == 0:
        return expand(reshape(input, 1), count)
    shape = tuple(input.shape)
    grown = expand(input.unsqueeze(d + 1), *shape[: d + 1], count, *shape[d + 1 :])
    return reshape(grown, *shape[:d], shape[d] * count, *shape[d + 1 :])


def _repeat_counts(repeats: Any, length: int) -> np.ndarray:
    """`repeats` (an int tensor, 0-dim or 1-dim) as counts for `length` slices, checked as torch does."""
    if not isinstance(repeats, Tensor):
        kind = type(repeats).__name__
        raise TypeError(f"repeat_interleave(): repeats must be an int or a Tensor, not {kind}")
    if repeats._data.dtype.kind not in "iu":
        raise NotImplementedError(
            f'"repeat_interleave_cpu" not implemented for \'{repeats.dtype.scalar_name}\''
        )
    if repeats.ndim > 1:
        raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
    counts = np.asarray(repeats._cpu_array()).reshape(-1).astype(np.int64)
    if counts.size == 1 and length != 1:
        counts = np.repeat(counts, length)
    if counts.size != length:
        raise RuntimeError(
            "repeats must have the same size as input along dim, but got "
            f"repeats.size(0) = {counts.size} and input.size(0) = {length}"
        )
    if counts.size and counts.min() < 0:
        raise RuntimeError("repeats can not be negative")
    return counts


def _check_output_size(output_size: int | None, expected: int) -> None:
    if output_size is not None and output_size != expected:
        raise RuntimeError(
            f"repeat_interleave: Invalid output_size, expected {expected} but got {output_size}"
        )


# ---- narrow, select (basic-indexing views) ---------------------------------------------------
@register()
def narrow(input: Tensor, dim: int, start: Any, length: int) -> Tensor:
    if input.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, input.ndim)
    size = input.shape[d]
    start = int(start.item()) if isinstance(start, Tensor) else int(start)
    if not -size <= start <= size:
        raise IndexError(
            f"start out of range (expected to be in range of [{-size}, {size}], but got {start})"
        )
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    start = start + size if start < 0 else start
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return getitem(input, (slice(None),) * d + (slice(start, start + length),))


@register()
def select(input: Tensor, dim: int, index: Any) -> Tensor:
    if input.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, input.ndim)
    index = int(index.item()) if isinstance(index, Tensor) else int(index)
    if not -input.shape[d] <= index < input.shape[d]:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(input.shape)} at dimension {d}"
        )
    return getitem(input, (slice(None),) * d + (index,))


# ---- movedim, swapaxes, roll --------------------------------------------------------------------
@register(aliases=("moveaxis",))
def movedim(input: Tensor, source: Any, destination: Any) -> Tensor:
    src, dst = _as_ints(source, "source"), _as_ints(destination, "destination")
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should contain "
            f"the same number of dims as destination ({list(dst)} dims)"
        )
    src_n = [normalize_dim(d, input.ndim) for d in src]
    dst_n = [normalize_dim(d, input.ndim) for d in dst]
    for name, given, dims in (("source", src, src_n), ("destination", dst, dst_n)):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({list(given)})")
    if input.ndim == 0:  # dims 0 and -1 name the scalar itself
        return permute(input)
    order = [d for d in range(input.ndim) if d not in src_n]
    for d_to, d_from in sorted(zip(dst_n, src_n)):
        order.insert(d_to, d_from)
    return _mark_view(permute(input, *order), input, _permutation_key(tuple(input.shape), order))


def _swapped(input: Tensor, dim0: int, dim1: int) -> Tensor:
    if input.ndim == 0:
        return transpose(input, dim0, dim1)
    order = list(range(input.ndim))
    a, b = normalize_dim(dim0, input.ndim), normalize_dim(dim1, input.ndim)
    order[a], order[b] = order[b], order[a]
    return _mark_view(transpose(input, a, b), input, _permutation_key(tuple(input.shape), order))


@register()
def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    return _swapped(input, axis0, axis1)


@register()
def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return _swapped(input, dim0, dim1)


class Roll(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, shifts: tuple, dims: tuple | None) -> Any:
        ctx.shifts, ctx.dims = shifts, dims
        return xp_of(x).roll(x, shifts if dims is not None else shifts[0], axis=dims)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return Roll.apply(grad, params=(tuple(-s for s in ctx.shifts), ctx.dims))


@register()
def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    shift = _as_ints(shifts, "shifts")
    axes = None if dims is None else _as_ints(dims, "dims")
    if len(shift) != (1 if axes is None else len(axes)):
        raise RuntimeError(
            f"shifts and dimensions must align. shifts: {len(shift)}, dims:{0 if axes is None else len(axes)}"
        )
    if axes is not None:
        axes = tuple(normalize_dim(d, input.ndim) for d in axes)
    return Roll.apply(input, params=(shift, axes))


# ---- meshgrid ------------------------------------------------------------------------------------
@register(method=False)
def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn(
            "torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
            UserWarning,
            stacklevel=2,
        )
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    _check_grid_inputs(tensors)
    sizes = [t.numel() for t in tensors]
    axis_of = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:  # x varies along columns: the first two axes swap
        axis_of[0], axis_of[1] = 1, 0
    shape = [0] * len(tensors)
    for i, n in enumerate(sizes):
        shape[axis_of[i]] = n
    grids = []
    for i, t in enumerate(tensors):
        placed = [1] * len(tensors)
        placed[axis_of[i]] = sizes[i]
        grids.append(expand(reshape(t, *placed), *shape))
    return tuple(grids)


def _check_grid_inputs(tensors: tuple) -> None:
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"meshgrid(): expected Tensors, but got {type(t).__name__}")
        if t.ndim > 1:
            raise RuntimeError(
                "torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got a tensor of shape "
                f"{list(t.shape)}"
            )
        if t.dtype is not tensors[0].dtype:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
        if t._device != tensors[0]._device:
            raise RuntimeError("meshgrid expects all tensors to have the same device")


# ---- strided views: diagonal, unfold, as_strided ---------------------------------------------------
def _strided(array: Any, shape: tuple, strides: tuple) -> Any:
    """A writable view of `array`'s memory from its first element (strides in bytes)."""
    return xp_of(array).lib.stride_tricks.as_strided(array, shape=tuple(shape), strides=tuple(strides))


def _diagonal_view(a: Any, offset: int, d1: int, d2: int) -> Any:
    """NumPy's diagonal, but writable: the other dims first, the diagonal last."""
    n1, n2 = a.shape[d1], a.shape[d2]
    first1, first2 = (0, offset) if offset >= 0 else (-offset, 0)
    length = max(0, min(n1 - first1, n2 - first2))
    if length:  # start at the diagonal's first element
        a = a[tuple(slice(first1 if i == d1 else first2 if i == d2 else 0, None) for i in range(a.ndim))]
    others = [i for i in range(a.ndim) if i not in (d1, d2)]
    shape = [a.shape[i] for i in others] + [length]
    strides = [a.strides[i] for i in others] + [a.strides[d1] + a.strides[d2]]
    return _strided(a, shape, strides)


def _positions(shape: tuple, xp: Any) -> Any:
    """Each element's flat (C-order) position in a tensor of `shape`."""
    return xp.arange(math.prod(shape), dtype=np.int64).reshape(shape)


class Diagonal(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, offset: int, d1: int, d2: int) -> Any:
        ctx.shape, ctx.where = x.shape, (offset, d1, d2)
        return _diagonal_view(x, offset, d1, d2)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        positions = _diagonal_view(_positions(ctx.shape, xp_of(grad._data)), *ctx.where)
        return FlatPutIntoZeros.apply(grad, params=(ctx.shape, positions))


def _diagonal_dims(ndim: int, dim1: int, dim2: int) -> tuple[int, int]:
    d1, d2 = normalize_dim(dim1, ndim), normalize_dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


@register()
def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    return _take_diagonal(input, offset, dim1, dim2)


def _take_diagonal(input: Tensor, offset: int, dim1: int, dim2: int) -> Tensor:
    d1, d2 = _diagonal_dims(input.ndim, dim1, dim2)
    key = _diagonal_key(tuple(input.shape), int(offset), d1, d2)
    return _mark_view(Diagonal.apply(input, params=(int(offset), d1, d2)), input, key)


def _diagonal_key(shape: tuple, offset: int, d1: int, d2: int) -> tuple:
    """The index that reads the diagonal: the other dims in order, then the diagonal."""
    first1, first2 = (0, offset) if offset >= 0 else (-offset, 0)
    length = max(0, min(shape[d1] - first1, shape[d2] - first2))
    others = [d for d in range(len(shape)) if d not in (d1, d2)]
    ndim = len(others) + 1
    along = _axis(length, ndim - 1, ndim)
    return tuple(along + first1 if d == d1 else along + first2 if d == d2 else _axis(n, others.index(d), ndim)
                 for d, n in enumerate(shape))


class DiagEmbed(FlatPutIntoZeros):
    """diag_embed: zeros with the input along a diagonal; the same scatter as diagonal's gradient."""


@register()
def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    ndim = input.ndim + 1
    d1, d2 = _diagonal_dims(ndim, dim1, dim2)
    n = input.shape[-1] + abs(offset)
    others = iter(input.shape[:-1])
    shape = tuple(n if i in (d1, d2) else next(others) for i in range(ndim))  # (..., n, ..., n, ...)
    positions = _diagonal_view(_positions(shape, xp_of(input._data)), offset, d1, d2)  # input's shape
    return DiagEmbed.apply(input, params=(shape, positions))


@register()
def diag(input: Tensor, diagonal: int = 0, *, out: Tensor | None = None) -> Tensor:
    if input.ndim == 1:
        result = diag_embed(input, diagonal, 0, 1)
    elif input.ndim == 2:
        result = _take_diagonal(input, diagonal, 0, 1).clone()
    else:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")
    return _finish(result, out, "diag")


class Trace(Op):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.shape = x.shape
        out = xp_of(x).trace(x)
        return out.astype(np.int64) if x.dtype.kind in "biu" else out.astype(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        positions = _diagonal_view(_positions(ctx.shape, xp_of(grad._data)), 0, 0, 1)
        return FlatPutIntoZeros.apply(grad.expand(positions.shape[0]), params=(ctx.shape, positions))


@register()
def trace(input: Tensor) -> Tensor:
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return Trace.apply(input)


def _unfold_view(a: Any, d: int, size: int, step: int) -> Any:
    """Windows of `size` every `step` along `d`, as a new last dim (a view)."""
    count = (a.shape[d] - size) // step + 1
    shape = (*a.shape[:d], count, *a.shape[d + 1 :], size)
    strides = (*a.strides[:d], a.strides[d] * step, *a.strides[d + 1 :], a.strides[d])
    return _strided(a, shape, strides)


class Unfold(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, d: int, size: int, step: int) -> Any:
        ctx.shape, ctx.window = x.shape, (d, size, step)
        return _unfold_view(x, d, size, step)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        positions = _unfold_view(_positions(ctx.shape, xp_of(grad._data)), *ctx.window)
        return FlatPutIntoZeros.apply(grad, params=(ctx.shape, positions))  # overlaps add up


@register(torch=False)
def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    d = normalize_dim(dimension, input.ndim)
    length = input.shape[d] if input.ndim else 1
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if size > length:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {length} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if input.ndim == 0:  # torch: a 0-dim tensor unfolds to its `size` (0 or 1) elements
        return getitem(reshape(input, 1), slice(0, size))
    # windows that overlap have no index that writes back: in-place ops on them are not recorded
    key = _unfold_key(tuple(input.shape), d, size, step) if step >= size else None
    return _mark_view(Unfold.apply(input, params=(d, size, step)), input, key)


def _unfold_key(shape: tuple, d: int, size: int, step: int) -> tuple:
    """The index that reads the windows: (..., window, ..., element)."""
    ndim = len(shape) + 1
    count = (shape[d] - size) // step + 1
    start = _axis(count, d, ndim) * step
    element = _axis(size, ndim - 1, ndim)
    return tuple(start + element if i == d else _axis(n, i, ndim) for i, n in enumerate(shape))


# as_strided addresses the memory the input's array lives in, as torch addresses its storage.
def _storage(a: Any) -> tuple[Any, int]:
    """The array owning `a`'s memory, as a flat view, and `a`'s element offset in it."""
    root = a
    while True:  # past NumPy's as_strided wrappers (a view of a view keeps the first one's memory)
        owner = root.base
        if owner is not None and not isinstance(owner, type(a)):
            owner = getattr(owner, "base", None)
        if not isinstance(owner, type(a)):
            break
        root = owner
    if not (root.flags.c_contiguous or root.flags.f_contiguous):  # not an owner: a's own extent
        root = a
    flat = _strided(root, (root.size,), (root.itemsize,))
    return flat, (_address(a) - _address(root)) // a.itemsize


def _address(a: Any) -> int:
    return a.ctypes.data if isinstance(a, np.ndarray) else a.data.ptr


def _check_strided(size: tuple, stride: tuple, offset: int, itemsize: int, storage_size: int) -> None:
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    if any(s < 0 for s in stride):
        raise RuntimeError(
            f"as_strided: Negative strides are not supported at the moment, got strides: {list(stride)}"
        )
    if any(n < 0 for n in size):
        raise RuntimeError(f"as_strided: Negative sizes are not supported, got sizes: {list(size)}")
    if offset < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {offset}")
    needed = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride)) if math.prod(size) else 0
    if needed > storage_size:
        raise RuntimeError(
            f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {offset}, and itemsize "
            f"{itemsize} requiring a storage size of {needed * itemsize} are out of bounds for storage of "
            f"size {storage_size * itemsize}"
        )


class AsStrided(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, size: tuple, stride: tuple, offset: int) -> Any:
        flat, x_offset = _storage(x)
        ctx.layout = (x.shape, tuple(s // x.itemsize for s in x.strides), x_offset, flat.size)
        ctx.view = (size, stride, offset)
        return _strided(flat[offset:], size, tuple(s * x.itemsize for s in stride))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        shape, x_strides, x_offset, storage_size = ctx.layout
        xp = xp_of(grad._data)
        # storage slot -> the input element there (or a spare slot past the input's end)
        owner = xp.full(storage_size, math.prod(shape), dtype=np.int64)
        owner[_storage_positions(xp, shape, x_strides, x_offset)] = _positions(shape, xp)
        read = owner[_storage_positions(xp, *ctx.view)]
        spread = FlatPutIntoZeros.apply(grad, params=((math.prod(shape) + 1,), read))
        return reshape(spread[: math.prod(shape)], *shape)


def _storage_positions(xp: Any, size: tuple, stride: tuple, offset: int) -> Any:
    positions = xp.full(tuple(size), offset, dtype=np.int64)
    for d, (n, s) in enumerate(zip(size, stride)):
        positions += (xp.arange(n, dtype=np.int64) * s).reshape((n,) + (1,) * (len(size) - d - 1))
    return positions


@register()
def as_strided(input: Tensor, size: Any, stride: Any, storage_offset: int | None = None) -> Tensor:
    size, stride = _as_ints(size, "size"), _as_ints(stride, "stride")
    flat, own_offset = _storage(input._data)
    offset = own_offset if storage_offset is None else int(storage_offset)
    _check_strided(size, stride, offset, input._data.itemsize, flat.size)
    return _mark_view(AsStrided.apply(input, params=(size, stride, offset)), input)


# ---- rot90, fliplr, flipud ---------------------------------------------------------------------
@register()
def rot90(input: Tensor, k: int = 1, dims: Any = (0, 1)) -> Tensor:
    dims = _as_ints(dims, "dims")
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = normalize_dim(dims[0], input.ndim), normalize_dim(dims[1], input.ndim)
    if d0 == d1:
        raise RuntimeError(
            f"expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = {dims[1]}"
        )
    turns = k % 4
    if turns == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if turns == 2:
        return flip(input, (d0, d1))
    if turns == 3:
        return transpose(flip(input, (d0,)), d0, d1)
    return input.clone()


@register()
def fliplr(input: Tensor) -> Tensor:
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


@register()
def flipud(input: Tensor) -> Tensor:
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, (0,))


# ---- atleast_Nd and the stacks -------------------------------------------------------------------
def _each(tensors: tuple, grow: Any) -> Any:
    """One tensor in, one out; several (or one sequence) in, a tuple out."""
    if len(tensors) == 1 and isinstance(tensors[0], Tensor):
        return grow(tensors[0])
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    return tuple(grow(t) for t in tensors)


def _at_least_1d(t: Tensor) -> Tensor:
    return reshape(t, 1) if t.ndim == 0 else t


def _at_least_2d(t: Tensor) -> Tensor:
    return reshape(t, 1, -1) if t.ndim < 2 else t  # () -> (1, 1), (n,) -> (1, n)


def _at_least_3d(t: Tensor) -> Tensor:
    if t.ndim == 0:
        return reshape(t, 1, 1, 1)
    if t.ndim == 1:
        return reshape(t, 1, -1, 1)  # (n,) -> (1, n, 1)
    return t.unsqueeze(-1) if t.ndim == 2 else t


@register(method=False)
def atleast_1d(*tensors: Any) -> Any:
    return _each(tensors, _at_least_1d)


@register(method=False)
def atleast_2d(*tensors: Any) -> Any:
    return _each(tensors, _at_least_2d)


@register(method=False)
def atleast_3d(*tensors: Any) -> Any:
    return _each(tensors, _at_least_3d)


@register(method=False)
def hstack(tensors: Any, *, out: Tensor | None = None) -> Tensor:
    grown = [_at_least_1d(t) for t in tensors]
    return _finish(cat(grown, 0 if grown and grown[0].ndim == 1 else 1), out, "hstack")


@register(method=False, aliases=("row_stack",))
def vstack(tensors: Any, *, out: Tensor | None = None) -> Tensor:
    return _finish(cat([_at_least_2d(t) for t in tensors], 0), out, "vstack")


@register(method=False)
def dstack(tensors: Any, *, out: Tensor | None = None) -> Tensor:
    return _finish(cat([_at_least_3d(t) for t in tensors], 2), out, "dstack")


@register(method=False)
def column_stack(tensors: Any, *, out: Tensor | None = None) -> Tensor:
    columns = [reshape(t, t.numel(), 1) if t.ndim <= 1 else t for t in tensors]
    return _finish(cat(columns, 1), out, "column_stack")
