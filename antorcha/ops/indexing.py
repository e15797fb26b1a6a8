"""Indexing: x[key], x[key] = v, masked_fill, gather, index_select.

Keys follow NumPy's rules, which torch shares: ints, slices, None and Ellipsis
give views; int and bool tensors (or lists) give copies ("advanced" indexing).
Gradients of advanced indexing accumulate repeated indices (`add.at`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha._device import add_at, xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.autograd.views import record_view
from antorcha.ops._common import normalize_dim, write_out


def _convert_key(x: Tensor, key: Any) -> tuple[Any, bool]:
    """The key as an xp index tuple, and whether it uses advanced indexing."""
    if not isinstance(key, tuple):
        key = (key,)
    converted, advanced = [], False
    xp = xp_of(x._data)
    for k in key:
        if isinstance(k, Tensor):
            if k._data.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            if k._device != x._device and k._data.ndim:
                raise RuntimeError(
                    "indices should be either on cpu or on the same device as the indexed tensor "
                    f"({x._device})"
                )
            array = k._data if k._device == x._device else xp.asarray(k._cpu_array())
            if array.ndim == 0 and array.dtype.kind in "iu":
                converted.append(int(array))
                continue
            converted.append(array)
            advanced = True
        elif isinstance(k, (list, range, np.ndarray)):  # a range is a sequence of ints, as in torch
            array = xp.asarray(k)
            if array.size == 0 and not isinstance(k, np.ndarray):
                array = array.astype(np.int64)  # NumPy makes an empty sequence float64; torch, long
            if array.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            converted.append(array)
            advanced = True
        elif isinstance(k, slice):
            if k.step is not None and int(k.step) <= 0:
                raise ValueError("step must be greater than zero")
            converted.append(k)
        elif k is None or k is Ellipsis or (isinstance(k, (int, np.integer)) and not isinstance(k, bool)):
            converted.append(k)
        elif isinstance(k, bool):
            converted.append(k)
            advanced = True
        else:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
                f"valid indices (got {type(k).__name__})"
            )
    return tuple(converted), advanced


def _index_error(error: IndexError, x: Tensor, key: Any = ()) -> IndexError:
    message = str(error)
    if "boolean index did not match" in message:
        keys = key if isinstance(key, tuple) else (key,)
        masks = [list(k.shape) for k in keys if getattr(k, "dtype", None) is not None and k.dtype.kind == "b"]
        return IndexError(
            f"The shape of the mask {masks[0] if masks else ''} does not match the shape of the indexed "
            f"tensor {list(x.shape)}"
        )
    message = message.replace("axis", "dimension")
    if "too many indices" in message:
        message = f"too many indices for tensor of dimension {x.ndim}"
    return IndexError(message)


class Index(Op):
    """Advanced indexing (a copy)."""

    @staticmethod
    def forward(ctx: Any, x: Any, key: Any, advanced: bool) -> Any:
        ctx.shape, ctx.key, ctx.advanced = x.shape, key, advanced
        return x[key]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return IndexPutIntoZeros.apply(grad, params=(ctx.shape, ctx.key, ctx.advanced))


class Select(Index):
    pass


class Slice(Index):
    pass


class IndexPutIntoZeros(Op):
    """The adjoint of indexing: zeros of the source shape with `grad` added at `key`."""

    @staticmethod
    def forward(ctx: Any, grad: Any, shape: tuple, key: Any, advanced: bool) -> Any:
        ctx.key, ctx.advanced = key, advanced
        xp = xp_of(grad)
        out = xp.zeros(shape, dtype=grad.dtype)
        if advanced:
            add_at(out, key, grad)
        else:
            out[key] = grad
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return Index.apply(grad, params=(ctx.key, ctx.advanced))


@register(method="__getitem__", torch=False)
def getitem(input: Tensor, key: Any) -> Tensor:
    if input.ndim == 0 and isinstance(key, (int, slice)) and not isinstance(key, bool):
        raise IndexError(
            "invalid index of a 0-dim tensor. Use `tensor.item()` to convert a 0-dim tensor to a number"
        )
    converted, advanced = _convert_key(input, key)
    if not advanced and Ellipsis not in converted:
        converted += (Ellipsis,)  # NumPy: x[0] of a 1-D array is a scalar copy, x[0, ...] a view
    op = Index if advanced else (Select if any(isinstance(k, int) for k in converted) else Slice)
    try:
        out = op.apply(input, params=(converted, advanced))
    except IndexError as error:
        raise _index_error(error, input, converted) from None
    if not advanced:
        record_view(out, input)  # a basic index is a view
        if input._base is None:  # remembered so an in-place op on the view can update input's graph
            out._extras()["view_key"] = key
    return out


class IndexPut(Op):
    """`x[key] = value` computed out of place; the in-place wrapper copies the result back."""

    backward_name = "CopySlices"

    @staticmethod
    def forward(ctx: Any, x: Any, value: Any, key: Any, advanced: bool) -> Any:
        ctx.key, ctx.advanced, ctx.value_shape = key, advanced, value.shape
        out = x.copy()
        out[key] = value
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        grad_x = grad_value = None
        if ctx.needs_input_grad[0]:
            grad_x = MaskedOut.apply(grad, params=(ctx.key,))
        if ctx.needs_input_grad[1]:
            grad_value = Index.apply(grad, params=(ctx.key, ctx.advanced))
        return grad_x, grad_value


class MaskedOut(Op):
    """Zero the entries at `key` (the gradient of overwritten elements)."""

    @staticmethod
    def forward(ctx: Any, grad: Any, key: Any) -> Any:
        ctx.key = key
        out = grad.copy()
        out[key] = 0
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return MaskedOut.apply(grad, params=(ctx.key,))


def index_put(x: Tensor, key: Any, value: Any) -> Tensor:
    """The out-of-place result of `x[key] = value`."""
    from antorcha.ops._common import scalar_tensor

    converted, advanced = _convert_key(x, key)
    if not isinstance(value, Tensor):
        value = scalar_tensor(value, x, x.dtype)
    elif value.dtype is not x.dtype:
        value = value.to(x.dtype)
    if value._device != x._device:
        value = value.to(x._device)
    try:
        return IndexPut.apply(x, value, params=(converted, advanced))
    except IndexError as error:
        raise _index_error(error, x, converted) from None
    except ValueError:
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast to "
            f"the indexing result of {list(x.shape)}[{key!r}]"
        ) from None


# ---- masked_fill, gather, index_select ---------------------------------------------------
class MaskedFill(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, mask: Any, value: Any) -> Any:
        ctx.save_for_backward(mask)
        xp = xp_of(x)
        return xp.where(mask, xp.asarray(value, dtype=x.dtype), x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        from antorcha.ops.elementwise import where

        (mask,) = ctx.saved_tensors
        return where(mask, 0.0, grad), None


@register()
def masked_fill(input: Tensor, mask: Tensor, value: Any) -> Tensor:
    if not isinstance(mask, Tensor) or mask._data.dtype.kind != "b":
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype "
            f"{getattr(mask, 'dtype', type(mask).__name__)}"
        )
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value.ndim} dimension(s)."
            )
        if value._requires_grad:
            from antorcha.ops.elementwise import where

            return where(mask, value.to(input.dtype), input)
        value = value.item()
    try:
        np.broadcast_shapes(input.shape, mask.shape)
        if np.broadcast_shapes(input.shape, mask.shape) != tuple(input.shape):
            raise ValueError
    except ValueError:
        raise RuntimeError(
            f"The size of tensor a ({list(input.shape)}) must match the size of tensor b "
            f"({list(mask.shape)}) for masked_fill (mask must broadcast to the input's shape)"
        ) from None
    return MaskedFill.apply(input, mask, params=(value,))


class Gather(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, index: Any, dim: int) -> Any:
        ctx.shape, ctx.dim = x.shape, dim
        ctx.save_for_backward(index)
        # torch lets the index be smaller than x in the other dims: crop x to it first
        crop = tuple(slice(0, n) if d != dim else slice(None) for d, n in enumerate(index.shape))
        return xp_of(x).take_along_axis(x[crop], index, axis=dim)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        (index,) = ctx.saved_tensors
        return scatter_into_zeros(grad, ctx.shape, ctx.dim, index), None


class ScatterAddIntoZeros(Op):
    """The adjoint of gather: zeros of `shape`, with grad added at `index` along `dim`."""

    @staticmethod
    def forward(ctx: Any, grad: Any, index: Any, shape: tuple, dim: int) -> Any:
        ctx.save_for_backward(index)
        ctx.dim = dim
        xp = xp_of(grad)
        out = xp.zeros(shape, dtype=grad.dtype)
        grid = list(xp.indices(index.shape, sparse=True))
        grid[dim] = index
        add_at(out, tuple(grid), grad)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        (index,) = ctx.saved_tensors
        return gather(grad, ctx.dim, index), None


def scatter_into_zeros(grad: Tensor, shape: tuple, dim: int, index: Tensor) -> Tensor:
    return ScatterAddIntoZeros.apply(grad, index, params=(shape, dim))


def _check_gather_index(x: Tensor, dim: int, index: Tensor, name: str) -> int:
    if not isinstance(index, Tensor) or index._data.dtype not in (np.int64, np.int32):
        got = getattr(index, "dtype", type(index).__name__)
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index, got {got}")
    d = normalize_dim(dim, x.ndim)
    if index.ndim != x.ndim and not (x.ndim == 0 and index.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for i, (n_index, n_x) in enumerate(zip(index.shape, x.shape)):
        if i != d and n_index > n_x:
            raise RuntimeError(
                f"Size does not match at dimension {i} expected index {list(index.shape)} to be no "
                f"larger than self {list(x.shape)} apart from dimension {d}"
            )
    if index.numel() and (int(index._data.max()) >= x.shape[d] or int(index._data.min()) < -x.shape[d]):
        raise RuntimeError(
            f"index {int(index._data.max())} is out of bounds for dimension {d} with size {x.shape[d]}"
        )
    return d


@register()
def gather(input: Tensor, dim: int, index: Tensor, *, out: Tensor | None = None) -> Tensor:
    d = _check_gather_index(input, dim, index, "gather")
    result = Gather.apply(input, index, params=(d,))
    return result if out is None else write_out(result, out, "gather")


class IndexSelect(Op):
    @staticmethod
    def forward(ctx: Any, x: Any, index: Any, dim: int) -> Any:
        ctx.shape, ctx.dim = x.shape, dim
        ctx.save_for_backward(index)
        return xp_of(x).take(x, index, axis=dim)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        (index,) = ctx.saved_tensors
        key = (slice(None),) * ctx.dim + (index._data,)
        return IndexPutIntoZeros.apply(grad, params=(ctx.shape, key, True)), None


@register()
def index_select(input: Tensor, dim: int, index: Tensor, *, out: Tensor | None = None) -> Tensor:
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        raise RuntimeError("index_select(): Expected dtype int32/int64 for index")
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    d = normalize_dim(dim, input.ndim)
    index = index.reshape(-1)
    size = input.shape[d] if input.ndim else 1
    if index.numel() and (int(index._data.max()) >= size or int(index._data.min()) < 0):
        raise IndexError(f"index out of range in self (dimension {d} has size {size})")
    result = IndexSelect.apply(input, index, params=(d,))
    return result if out is None else write_out(result, out, "index_select")


@register()
def nonzero(input: Tensor, as_tuple: bool = False) -> Any:
    xp = xp_of(input._data)
    if input.ndim == 0:  # torch: shape (0 or 1, 0), or as a tuple one index of the flattened tensor
        count = int(bool(input._data))
        if as_tuple:
            return (wrap(xp.zeros((count,), dtype=np.int64), device=input._device),)
        return wrap(xp.zeros((count, 0), dtype=np.int64), device=input._device)
    indices = xp.nonzero(input._data)
    if as_tuple:
        return tuple(wrap(i.astype(np.int64), device=input._device) for i in indices)
    return wrap(xp.stack(indices, axis=1).astype(np.int64), device=input._device)
