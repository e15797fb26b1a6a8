"""Views at strides: diagonal (and diag, diag_embed, trace), Tensor.unfold, as_strided.

Each view is a writable strided view of the input's memory, as torch's are, sharing its version
counter. Their gradients are scatter-adds into zeros at the view's flat positions
(`scatter.FlatPutIntoZeros`), so overlapping windows (`unfold` with step < size, as_strided with a
stride 0) add up. A view also records an index of its base that reads it (`view_key`), so that an
in-place op on it under autograd rewrites the base, as `x[a:b]` does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor
from antorcha.autograd.function import Op
from antorcha.autograd.views import record_view
from antorcha.ops._common import normalize_dim, write_out
from antorcha.ops.indexing import getitem
from antorcha.ops.movement import reshape
from antorcha.ops.scatter import FlatPutIntoZeros


def mark_view(out: Tensor, base: Tensor, key: tuple | None = None) -> Tensor:
    """`out` is a strided view of `base`'s memory: it shares the version counter and the base.

    `key`, an index of `base` that reads the view's elements in the view's shape, lets an in-place
    op on the view under autograd rewrite the base as `base[key] = op(base[key])`, as it does for
    `x[a:b]` (`Tensor._inplace_on_view`); like there, only for a view of a tensor that is no view.
    """
    record_view(out, base)
    if key is not None and base._base is None:
        out._extras()["view_key"] = key
    return out


def axis_range(n: int, at: int, ndim: int) -> np.ndarray:
    """arange(n) laid along axis `at` of `ndim` (a sparse index that broadcasts)."""
    return np.arange(n).reshape((1,) * at + (n,) + (1,) * (ndim - at - 1))


def int_tuple(values: Any, name: str) -> tuple[int, ...]:
    if isinstance(values, Tensor):
        values = values.tolist()
    if isinstance(values, (int, np.integer)):
        return (int(values),)
    try:
        return tuple(int(v) for v in values)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, not {type(values).__name__}") from None


def finish_out(result: Tensor, out: Tensor | None, name: str) -> Tensor:
    """`out=`: the result copied into `out` (torch's rules, `write_out`), or the result itself."""
    return result if out is None else write_out(result, out, name)


# ---- diagonal, diag_embed, diag, trace -------------------------------------------------------------
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
    return mark_view(Diagonal.apply(input, params=(int(offset), d1, d2)), input, key)


def _diagonal_key(shape: tuple, offset: int, d1: int, d2: int) -> tuple:
    """The index that reads the diagonal: the other dims in order, then the diagonal."""
    first1, first2 = (0, offset) if offset >= 0 else (-offset, 0)
    length = max(0, min(shape[d1] - first1, shape[d2] - first2))
    others = [d for d in range(len(shape)) if d not in (d1, d2)]
    ndim = len(others) + 1
    along = axis_range(length, ndim - 1, ndim)
    starts = {d1: first1, d2: first2}
    return tuple(along + starts[d] if d in starts else axis_range(n, others.index(d), ndim)
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
    return finish_out(result, out, "diag")


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
    return mark_view(Unfold.apply(input, params=(d, size, step)), input, key)


def _unfold_key(shape: tuple, d: int, size: int, step: int) -> tuple:
    """The index that reads the windows: (..., window, ..., element)."""
    ndim = len(shape) + 1
    count = (shape[d] - size) // step + 1
    start = axis_range(count, d, ndim) * step
    element = axis_range(size, ndim - 1, ndim)
    return tuple(start + element if i == d else axis_range(n, i, ndim) for i, n in enumerate(shape))


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


def storage_offset_in(base: Any, view: Any) -> int:
    """Where `view` (an array over `base`'s memory) starts, in elements, as as_strided(base) counts."""
    flat, _ = _storage(base)
    return (_address(view) - _address(flat)) // view.itemsize


def positions_in(base: Any, view: Any) -> Any:
    """Each element of `view` (an array over `base`'s memory) as its flat C-order position in `base`
    (-1 where none is: not base's memory)."""
    xp = xp_of(base)
    flat, base_offset = _storage(base)
    owner = xp.full(flat.size, -1, dtype=np.int64)  # storage slot -> the base element there
    base_strides = tuple(s // base.itemsize for s in base.strides)
    owner[_storage_positions(xp, base.shape, base_strides, base_offset)] = _positions(base.shape, xp)
    view_strides = tuple(s // view.itemsize for s in view.strides)
    return owner[_storage_positions(xp, view.shape, view_strides, storage_offset_in(base, view))]


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
    size, stride = int_tuple(size, "size"), int_tuple(stride, "stride")
    flat, own_offset = _storage(input._data)
    offset = own_offset if storage_offset is None else int(storage_offset)
    _check_strided(size, stride, offset, input._data.itemsize, flat.size)
    return mark_view(AsStrided.apply(input, params=(size, stride, offset)), input)


@register()
def diagonal_scatter(input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """input with its diagonal replaced by src, out of place (the key that reads the diagonal writes it)."""
    d1, d2 = _diagonal_dims(input.ndim, dim1, dim2)
    key = _diagonal_key(tuple(input.shape), int(offset), d1, d2)
    region = _diagonal_view(input._data, int(offset), d1, d2).shape
    if tuple(src.shape) != tuple(region):
        raise RuntimeError(
            "expected src to have a size equal to the slice of self. src size = "
            f"{list(src.shape)}, slice size = {list(region)}"
        )
    from antorcha.ops.indexing import index_put

    return index_put(input, key, src)
