"""Shape ops: views (reshape, transpose, permute, squeeze, expand, ...), cat, stack, split.

View ops return tensors over the same memory (as NumPy views) and share the
version counter with their base, so an in-place change through either is seen
by autograd's checks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from antorcha._device import as_device, move_array, xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor
from antorcha.autograd.function import Op
from antorcha.autograd.views import record_view
from antorcha.ops._common import normalize_dim, write_out


def _as_view(out: Tensor, base: Tensor) -> Tensor:
    """Mark `out` as a view of `base`: same version counter, base recorded."""
    if out._data is not base._data and not _shares_memory(out._data, base._data):
        return out
    return record_view(out, base)


def _shares_memory(a: Any, b: Any) -> bool:
    return a.base is not None and (a.base is b or a.base is b.base)


# ---- reshape / view ---------------------------------------------------------------
def _sizes_or_keyword(positional: tuple, keyword: Any, function: str, name: str) -> tuple:
    """`x.reshape(2, 3)`, `x.reshape((2, 3))` or `x.reshape(shape=(2, 3))`: torch takes all three."""
    if keyword is None:
        return positional
    if positional:
        raise TypeError(f"{function}() got multiple values for argument '{name}'")
    return (keyword,)


def _infer_shape(shape: tuple, numel: int) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    unknown = [i for i, s in enumerate(shape) if s == -1]
    if len(unknown) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = math.prod(s for s in shape if s != -1)
    if unknown:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel or any(s < 0 for s in shape):
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class View(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, shape: tuple, copy_ok: bool) -> Any:
        ctx.shape = x.shape
        if copy_ok:
            return x.reshape(shape)
        try:
            return xp_of(x).reshape(x, shape, copy=False)
        except (ValueError, TypeError):
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) instead. "
                f"(viewing a non-contiguous tensor of shape {list(x.shape)} as {list(shape)})"
            ) from None

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad.reshape(ctx.shape)


@register()
def reshape(input: Tensor, *sizes: Any, shape: Any = None) -> Tensor:
    target = _infer_shape(_sizes_or_keyword(sizes, shape, "reshape", "shape"), input._data.size)
    return _as_view(View.apply(input, params=(target, True)), input)


@register(torch=False)
def view(input: Tensor, *sizes: Any, size: Any = None, dtype: Any = None) -> Tensor:
    if dtype is not None:
        sizes = (dtype,)
    shape = _sizes_or_keyword(sizes, size, "view", "size")
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list, np.integer)):
        return input.to(shape[0])  # view(dtype) is not supported as a reinterpret; treat as cast
    target = _infer_shape(shape, input._data.size)
    return _as_view(View.apply(input, params=(target, False)), input)


@register(torch=False)
def view_as(input: Tensor, other: Tensor) -> Tensor:
    return view(input, *other.shape)


@register(torch=False)
def reshape_as(input: Tensor, other: Tensor) -> Tensor:
    return reshape(input, *other.shape)


@register()
def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if input.ndim == 0:
        return reshape(input, 1)
    start, end = normalize_dim(start_dim, input.ndim), normalize_dim(end_dim, input.ndim)
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = input.shape
    merged = math.prod(shape[start : end + 1])
    return reshape(input, *shape[:start], merged, *shape[end + 1 :])


@register()
def unflatten(input: Tensor, dim: int, sizes: Any) -> Tensor:
    d = normalize_dim(dim, input.ndim)
    sizes = tuple(sizes)
    inner = _infer_shape(sizes, input.shape[d])
    return reshape(input, *input.shape[:d], *inner, *input.shape[d + 1 :])


# ---- transpose and permute --------------------------------------------------------
class Permute(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, axes: tuple) -> Any:
        ctx.inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))  # the inverse permutation
        return x.transpose(axes)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return permute(grad, *ctx.inverse)


class Transpose(Permute):
    pass


class T(Permute):
    pass


@register()
def permute(input: Tensor, *order: Any, dims: Any = None) -> Tensor:
    dims = _sizes_or_keyword(order, dims, "permute", "dims")
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if len(dims) != input.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the length "
            f"of the desired ordering of dimensions i.e. input.dim() = {input.ndim} is not equal to "
            f"len(dims) = {len(dims)}"
        )
    axes = tuple(normalize_dim(d, input.ndim) for d in dims)
    if len(set(axes)) != len(axes):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return _as_view(Permute.apply(input, params=(axes,)), input)


@register()
def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    if input.ndim == 0:
        return _as_view(View.apply(input, params=((), True)), input)
    a, b = normalize_dim(dim0, input.ndim), normalize_dim(dim1, input.ndim)
    axes = list(range(input.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return _as_view(Transpose.apply(input, params=(tuple(axes),)), input)


@register()
def t(input: Tensor) -> Tensor:
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    if input.ndim < 2:
        return _as_view(View.apply(input, params=(input.shape, True)), input)
    return _as_view(T.apply(input, params=((1, 0),)), input)


@register(method="mT", torch=False, as_property=True)
def matrix_transpose(input: Tensor) -> Tensor:
    if input.ndim < 2:
        raise RuntimeError(
            f"tensor.mT is only supported on matrices or batches of matrices. Got {input.ndim}-D tensor."
        )
    return transpose(input, -2, -1)


@register(method="T", torch=False, as_property=True)
def reversed_dims(input: Tensor) -> Tensor:
    """`x.T`: every dimension in reverse order."""
    return permute(input, *reversed(range(input.ndim)))


# ---- squeeze / unsqueeze / expand ----------------------------------------------------
class Squeeze(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, axes: tuple) -> Any:
        ctx.shape = x.shape
        return x.reshape(tuple(s for i, s in enumerate(x.shape) if i not in axes))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad.reshape(ctx.shape)


class Unsqueeze(Squeeze):
    @staticmethod
    def forward(ctx: Any, x: Any, dim: int) -> Any:
        ctx.shape = x.shape
        return xp_of(x).expand_dims(x, dim)


@register()
def squeeze(input: Tensor, dim: Any = None) -> Tensor:
    if dim is None:
        axes = tuple(i for i, s in enumerate(input.shape) if s == 1)
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        picked = (normalize_dim(d, input.ndim) for d in dims)
        axes = tuple(i for i in picked if input.ndim and input.shape[i] == 1)
    return _as_view(Squeeze.apply(input, params=(axes,)), input)


@register()
def unsqueeze(input: Tensor, dim: int) -> Tensor:
    return _as_view(Unsqueeze.apply(input, params=(normalize_dim(dim, input.ndim + 1),)), input)


class Expand(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, shape: tuple) -> Any:
        ctx.shape = x.shape
        return xp_of(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad  # Node._conform sums it back to the input's shape


@register(torch=False)
def expand(input: Tensor, *sizes: Any, size: Any = None) -> Tensor:
    sizes = _sizes_or_keyword(sizes, size, "expand", "size")
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < input.ndim:
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(input.shape)}}}, size={list(sizes)}): the number of sizes "
            f"provided ({len(sizes)}) must be greater or equal to the number of dimensions in the "
            f"tensor ({input.ndim})"
        )
    lead = len(sizes) - input.ndim
    shape = []
    for i, size in enumerate(sizes):
        current = input.shape[i - lead] if i >= lead else None
        if size == -1:
            if current is None:
                raise RuntimeError(f"expand: -1 is not allowed in a leading, non-existing dimension ({i})")
            size = current
        elif current is not None and current != 1 and current != size:
            raise RuntimeError(
                f"The expanded size of the tensor ({size}) must match the existing size ({current}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  "
                f"Tensor sizes: {list(input.shape)}"
            )
        shape.append(int(size))
    shape_t = tuple(shape)
    if shape_t == input._data.shape:
        return _as_view(View.apply(input, params=(shape_t, True)), input)
    return _as_view(Expand.apply(input, params=(shape_t,)), input)


@register(torch=False)
def expand_as(input: Tensor, other: Tensor) -> Tensor:
    return expand(input, *other.shape)


class Repeat(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, repeats: tuple) -> Any:
        ctx.shape, ctx.repeats = x.shape, repeats
        lead = len(repeats) - x.ndim
        return xp_of(x).tile(x.reshape((1,) * lead + x.shape), repeats)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        # split every repeated dim into (repeat, size) and sum over the repeats
        shape = (1,) * (len(ctx.repeats) - len(ctx.shape)) + tuple(ctx.shape)
        split = []
        for r, s in zip(ctx.repeats, shape):
            split += [r, s]
        summed = grad.reshape(*split).sum(tuple(range(0, len(split), 2)))
        return summed.reshape(ctx.shape)


@register(torch=False)
def repeat(input: Tensor, *sizes: Any, repeats: Any = None) -> Tensor:
    repeats = _sizes_or_keyword(sizes, repeats, "repeat", "repeats")
    if len(repeats) == 1 and isinstance(repeats[0], (tuple, list)):
        repeats = tuple(repeats[0])
    if len(repeats) < input.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor"
        )
    return Repeat.apply(input, params=(tuple(int(r) for r in repeats),))


# ---- joining and splitting ------------------------------------------------------------
class Cat(Op):
    @staticmethod
    def forward(ctx: Any, *arrays_and_dim: Any) -> Any:
        *arrays, dim = arrays_and_dim
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] for a in arrays]
        return xp_of(arrays[0]).concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        return tuple(split(grad, ctx.sizes, ctx.dim))


@register(method=False, aliases=("concat", "concatenate"))
def cat(tensors: Any, dim: int = 0, *, out: Tensor | None = None) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    _check_same_device_all(tensors, "cat")
    # torch skips legacy 1-D empty tensors in cat
    kept = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors
    from antorcha import _dtypes

    dtype = kept[0].dtype
    for t in kept[1:]:
        dtype = _dtypes.promote_types(dtype, t.dtype)
    kept = [t.to(dtype) for t in kept]
    ndim = kept[0].ndim
    if ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = normalize_dim(dim, ndim)
    for i, t in enumerate(kept):
        if t.ndim != ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, kept[0].shape)) if j != d):
            raise RuntimeError(
                f"Sizes of tensors must match except in dimension {d}. Expected size "
                f"{list(kept[0].shape)} but got size {list(t.shape)} for tensor number {i} in the list."
            )
    result = Cat.apply(*kept, params=(d,))
    return result if out is None else write_out(result, out, "cat")


def _check_same_device_all(tensors: list, name: str) -> None:
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}(): expected a sequence of Tensors, but got {type(t).__name__}")
        if t._device != tensors[0]._device:
            raise RuntimeError(
                "Expected all tensors to be on the same device, but found at least two devices, "
                f"{tensors[0]._device} and {t._device}!"
            )


@register(method=False)
def stack(tensors: Any, dim: int = 0, *, out: Tensor | None = None) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    _check_same_device_all(tensors, "stack")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at "
                f"entry 0 and {list(t.shape)} at entry {i}"
            )
    d = normalize_dim(dim, tensors[0].ndim + 1)
    from antorcha import _dtypes

    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = _dtypes.promote_types(dtype, t.dtype)
    result = Stack.apply(*[t.to(dtype) for t in tensors], params=(d,))
    return result if out is None else write_out(result, out, "stack")


class Stack(Op):
    @staticmethod
    def forward(ctx: Any, *arrays_and_dim: Any) -> Any:
        *arrays, dim = arrays_and_dim
        ctx.dim = dim
        return xp_of(arrays[0]).stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        return unbind(grad, ctx.dim)


@register()
def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    input = tensor  # noqa: A001 - torch.split names its tensor `tensor`
    d = normalize_dim(dim, input.ndim)
    length = input.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and length:
            raise RuntimeError(
                f"split_size can only be 0 if dimension size is 0, but got dimension size of {length}"
            )
        sizes = [size] * (length // size) + ([length % size] if length % size else []) if size else [0]
        sizes = sizes or [0]  # an empty dim splits into one empty piece
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != length:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {length} (input tensor's size at "
                f"dimension {d}), but got split_sizes={sizes}"
            )
    pieces, start = [], 0
    for size in sizes:
        index = (slice(None),) * d + (slice(start, start + size),)
        pieces.append(input[index])
        start += size
    return tuple(pieces)


@register()
def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = normalize_dim(dim, input.ndim)
    length = input.shape[d]
    if not length:  # torch gives `chunks` empty pieces
        return tuple(input[(slice(None),) * d + (slice(0, 0),)] for _ in range(chunks))
    return split(input, -(-length // chunks), dim)


@register()
def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    d = normalize_dim(dim, input.ndim)
    return tuple(input[(slice(None),) * d + (i,)] for i in range(input.shape[d]))


# ---- triangles, flips, copies ----------------------------------------------------------
class Tril(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, diagonal: int, upper: bool) -> Any:
        ctx.diagonal, ctx.upper = diagonal, upper
        xp = xp_of(x)
        return xp.triu(x, diagonal) if upper else xp.tril(x, diagonal)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return triu(grad, ctx.diagonal) if ctx.upper else tril(grad, ctx.diagonal)


class Triu(Tril):
    pass


@register()
def tril(input: Tensor, diagonal: int = 0, *, out: Tensor | None = None) -> Tensor:
    if input.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    result = Tril.apply(input, params=(diagonal, False))
    return result if out is None else write_out(result, out, "tril")


@register()
def triu(input: Tensor, diagonal: int = 0, *, out: Tensor | None = None) -> Tensor:
    if input.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    result = Triu.apply(input, params=(diagonal, True))
    return result if out is None else write_out(result, out, "triu")


class Flip(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, dims: tuple) -> Any:
        ctx.dims = dims
        return xp_of(x).flip(x, dims).copy() if dims else x.copy()  # torch flips into new memory

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return flip(grad, ctx.dims)


@register()
def flip(input: Tensor, dims: Any) -> Tensor:
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return Flip.apply(input, params=(tuple(normalize_dim(d, input.ndim) for d in dims),))


class Clone(Op):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        return x.copy()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


@register()
def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:
    return Clone.apply(input)


@register(torch=False)
def contiguous(input: Tensor, memory_format: Any = None) -> Tensor:
    if input._data.flags.c_contiguous:
        return input
    return Clone.apply(input)


class ToDevice(Op):
    backward_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx: Any, x: Any, target: Any, source: Any) -> Any:
        ctx.source = source
        return move_array(x, target)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return to_device(grad, ctx.source)


def to_device(x: Tensor, target: Any) -> Tensor:
    from antorcha._device import canonical

    target = canonical(as_device(target))
    if x._device == target:
        return x
    out = ToDevice.apply(x, params=(target, x._device))
    out._device = target
    return out


@register()
def broadcast_to(input: Tensor, size: Any) -> Tensor:
    return expand(input, *tuple(size))


@register(method=False)
def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    from antorcha.ops._common import broadcast_shapes

    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(expand(t, *shape) for t in tensors)
