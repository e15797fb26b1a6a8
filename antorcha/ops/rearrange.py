"""More movement: tile, repeat_interleave, narrow, select, movedim, swapaxes, roll, meshgrid, rot90,
atleast_Nd and the stacks (the strided views, diagonal/unfold/as_strided, are in `strided.py`).

Views keep torch's aliasing: `narrow` and `select` are basic indexing, and `movedim`/`swapaxes`
record the index that reads them from their base, so an in-place op on any of them under autograd
rewrites the base, as `x[a:b]` does.
"""

from __future__ import annotations

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
from antorcha.ops.strided import axis_range, finish_out, int_tuple, mark_view


def _permutation_key(shape: tuple, order: list[int]) -> tuple:
    """The index of a tensor of `shape` that reads it permuted to `order` (view dim i = dim order[i])."""
    return tuple(axis_range(n, order.index(d), len(shape)) for d, n in enumerate(shape))


# ---- tile, repeat_interleave ----------------------------------------------------------------
@register()
def tile(input: Tensor, dims: Any) -> Tensor:
    reps = int_tuple(dims, "dims")
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
    src, dst = int_tuple(source, "source"), int_tuple(destination, "destination")
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
    return mark_view(permute(input, *order), input, _permutation_key(tuple(input.shape), order))


def _swapped(input: Tensor, dim0: int, dim1: int) -> Tensor:
    if input.ndim == 0:
        return transpose(input, dim0, dim1)
    order = list(range(input.ndim))
    a, b = normalize_dim(dim0, input.ndim), normalize_dim(dim1, input.ndim)
    order[a], order[b] = order[b], order[a]
    return mark_view(transpose(input, a, b), input, _permutation_key(tuple(input.shape), order))


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
    shift = int_tuple(shifts, "shifts")
    axes = None if dims is None else int_tuple(dims, "dims")
    if len(shift) != (1 if axes is None else len(axes)):
        raise RuntimeError(
            f"shifts and dimensions must align. shifts: {len(shift)}, dims:{0 if axes is None else len(axes)}"
        )
    if axes is not None:
        if input.ndim == 0:
            raise IndexError(f"Dimension specified as {axes[0]} but tensor has no dimensions")
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


# ---- rot90, fliplr, flipud ---------------------------------------------------------------------
@register()
def rot90(input: Tensor, k: int = 1, dims: Any = (0, 1)) -> Tensor:
    dims = int_tuple(dims, "dims")
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
    return finish_out(cat(grown, 0 if grown and grown[0].ndim == 1 else 1), out, "hstack")


@register(method=False, aliases=("row_stack",))
def vstack(tensors: Any, *, out: Tensor | None = None) -> Tensor:
    return finish_out(cat([_at_least_2d(t) for t in tensors], 0), out, "vstack")


@register(method=False)
def dstack(tensors: Any, *, out: Tensor | None = None) -> Tensor:
    return finish_out(cat([_at_least_3d(t) for t in tensors], 2), out, "dstack")


@register(method=False)
def column_stack(tensors: Any, *, out: Tensor | None = None) -> Tensor:
    columns = [reshape(t, t.numel(), 1) if t.ndim <= 1 else t for t in tensors]
    return finish_out(cat(columns, 1), out, "column_stack")


# ---- flat views and splits --------------------------------------------------------------------
@register()
def ravel(input: Tensor) -> Tensor:
    return reshape(input, -1)


@register()
def narrow_copy(input: Tensor, dim: int, start: Any, length: int) -> Tensor:
    return narrow(input, dim, start, length).clone()


@register()
def split_with_sizes(input: Tensor, split_sizes: Any, dim: int = 0) -> tuple[Tensor, ...]:
    from antorcha.ops.movement import split

    return split(input, [int(n) for n in split_sizes], dim)


@register()
def tensor_split(input: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    if input.ndim == 0:
        raise RuntimeError(
            "tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims"
        )
    d = normalize_dim(dim, input.ndim)
    length = input.shape[d]
    cuts = _split_points(indices_or_sections, length)
    starts, ends = [0, *cuts], [*cuts, length]  # NumPy's array_split: each piece is x[a:b], as Python slices
    return tuple(getitem(input, (slice(None),) * d + (slice(a, b),)) for a, b in zip(starts, ends))


def _split_points(indices_or_sections: Any, length: int) -> list[int]:
    """Where tensor_split cuts: `sections` near-equal pieces (the first ones longer), or at indices."""
    if isinstance(indices_or_sections, Tensor):
        if indices_or_sections._data.dtype.kind not in "iu":
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to have dtype of long, but got "
                f"{indices_or_sections.dtype.scalar_name}"
            )
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {sections}")
        size, longer = divmod(length, sections)
        return [i * size + min(i, longer) for i in range(1, sections)]
    return [int(i) for i in indices_or_sections]


def _split_along(name: str, input: Tensor, indices_or_sections: Any, min_dims: int, d: int) -> tuple:
    if input.ndim < min_dims:
        raise RuntimeError(
            f"torch.{name} requires a tensor with at least {min_dims} dimension, but got a tensor with "
            f"{input.ndim} dimensions!"
        )
    if isinstance(indices_or_sections, (int, np.integer)) and input.shape[d] % int(indices_or_sections):
        raise RuntimeError(
            f"torch.{name} attempted to split along dimension {d}, but the size of the dimension "
            f"{input.shape[d]} is not divisible by the split_size {indices_or_sections}!"
        )
    return tensor_split(input, indices_or_sections, d)


@register()
def hsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    return _split_along("hsplit", input, indices_or_sections, 1, 1 if input.ndim > 1 else 0)


@register()
def vsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    return _split_along("vsplit", input, indices_or_sections, 2, 0)


@register()
def dsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    return _split_along("dsplit", input, indices_or_sections, 3, 2)


# ---- writing into a view's region, out of place ------------------------------------------------
def _scatter_region(input: Tensor, src: Tensor, key: tuple, region_shape: tuple) -> Tensor:
    """input with `input[key]` replaced by src (the *_scatter ops); src must fill the region exactly."""
    if tuple(src.shape) != tuple(region_shape):
        raise RuntimeError(
            "expected src to have a size equal to the slice of self. src size = "
            f"{list(src.shape)}, slice size = {list(region_shape)}"
        )
    from antorcha.ops.indexing import index_put

    return index_put(input, key, src)


@register()
def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    region = select(input, dim, index)
    return _scatter_region(input, src, (slice(None),) * normalize_dim(dim, input.ndim) + (int(index),),
                           tuple(region.shape))


@register()
def slice_scatter(
    input: Tensor, src: Tensor, dim: int = 0, start: int | None = None, end: int | None = None, step: int = 1
) -> Tensor:
    key = (slice(None),) * normalize_dim(dim, input.ndim) + (slice(start, end, step),)
    return _scatter_region(input, src, key, tuple(getitem(input, key).shape))


@register(torch=False)
def tril_(input: Tensor, diagonal: int = 0) -> Tensor:
    return input._inplace(lambda old, _: old.tril(diagonal), None)


@register(torch=False)
def triu_(input: Tensor, diagonal: int = 0) -> Tensor:
    return input._inplace(lambda old, _: old.triu(diagonal), None)


# ---- in-place views: the tensor itself takes the view's shape and strides ---------------------------
def _restride_(input: Tensor, make_view: Any) -> Tensor:
    """t_, squeeze_, ...: self becomes `make_view(self)` (same memory), with that op's node under autograd."""
    from antorcha._grad_mode import STATE

    input._check_inplace_allowed()
    view = make_view(input)
    input._data = view._data
    if input._extra:
        input._extra.pop("view_key", None)  # the key read the old shape
    if STATE.enabled and view.grad_fn is not None:
        input.grad_fn, input._output_nr = view.grad_fn, view._output_nr
    input._bump_version()
    return input


@register(torch=False)
def t_(input: Tensor) -> Tensor:
    return _restride_(input, lambda x: x.t())


@register(torch=False)
def transpose_(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return _restride_(input, lambda x: transpose(x, dim0, dim1))


@register(torch=False)
def swapaxes_(input: Tensor, axis0: int, axis1: int) -> Tensor:
    return _restride_(input, lambda x: transpose(x, axis0, axis1))


@register(torch=False)
def swapdims_(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return _restride_(input, lambda x: transpose(x, dim0, dim1))


@register(torch=False)
def squeeze_(input: Tensor, dim: Any = None) -> Tensor:
    return _restride_(input, lambda x: x.squeeze(dim))


@register(torch=False)
def unsqueeze_(input: Tensor, dim: int) -> Tensor:
    return _restride_(input, lambda x: x.unsqueeze(dim))


@register(torch=False)
def as_strided_(input: Tensor, size: Any, stride: Any, storage_offset: int | None = None) -> Tensor:
    from antorcha.ops.strided import as_strided

    return _restride_(input, lambda x: as_strided(x, size, stride, storage_offset))
