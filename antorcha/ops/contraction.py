"""Contractions: einsum, tensordot, inner, vdot, kron, block_diag, cartesian_prod, cross (cdist: distance.py).

einsum is the one contraction op: tensordot and inner are einsums over labels they build, and
einsum's backward is an einsum too. The gradient of operand k is the einsum of the output
gradient with every other operand, over operand k's labels; a label repeated in operand k
(a diagonal) gets a fresh label joined to it by an identity matrix, and a label only operand
k has (summed away in the forward) comes from a vector of ones. So one formula covers
matmul, traces, diagonals, sums and outer products, and, being an einsum, is differentiable.
"""

from __future__ import annotations

import itertools
import string
import warnings
from dataclasses import dataclass
from typing import Any

from antorcha import _dtypes
from antorcha._autocast import AUTOCAST, lower_precision
from antorcha._creation import zeros
from antorcha._device import quiet_float_errors, xp_of
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._bfloat16 import in_float32
from antorcha.ops._common import broadcast_shapes, normalize_dim, write_out
from antorcha.ops.linalg import dot
from antorcha.ops.movement import stack

_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # label n is _LETTERS[n]: torch's sort order
_ELLIPSIS_LABELS = 1000  # ellipsis dims get labels from here on, clear of the 52 letters


def _written(result: Tensor, out: Tensor | None, name: str) -> Tensor:
    return result if out is None else write_out(result, out, name)


def _require_same_dtype(a: Tensor, b: Tensor) -> None:
    """torch's kernels that take one dtype (einsum's bmm, cross, cdist)."""
    if a.dtype is not b.dtype:
        raise RuntimeError(f"expected scalar type {a.dtype.scalar_name} but found {b.dtype.scalar_name}")


def _label_name(label: int) -> str:
    return _LETTERS[label] if label < len(_LETTERS) else "..."


# ---- einsum: the equation -------------------------------------------------------------------
@dataclass(frozen=True)
class Contraction:
    """A validated einsum: one label per dim of each operand, the output's labels, each label's size."""

    inputs: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]
    sizes: tuple[tuple[int, int], ...]  # (label, size), as a tuple so the contraction is hashable

    def shape_of(self, labels: tuple[int, ...]) -> tuple[int, ...]:
        sizes = dict(self.sizes)
        return tuple(sizes[label] for label in labels)


def _einsum_error(message: str) -> RuntimeError:
    return RuntimeError(f"einsum(): {message}")


def _parse_equation(equation: str) -> tuple[list[list[Any]], list[Any] | None]:
    """torch's equation string as terms of labels (ints) and Ellipsis; the output is None when implicit."""
    terms: list[list[Any]] = [[]]
    output: list[Any] | None = None
    current = terms[0]
    i = 0
    while i < len(equation):
        char = equation[i]
        where_ = "output" if output is not None else f"operand {len(terms) - 1}"
        if char == " ":
            i += 1
        elif char == "," and output is None:
            current = []
            terms.append(current)
            i += 1
        elif equation.startswith("->", i) and output is None:
            output = current = []
            i += 2
        elif char == ".":
            if Ellipsis in current:
                raise _einsum_error(f"found '.' for {where_} for which an ellipsis was already found")
            if not equation.startswith("...", i):
                suffix = " (...)" if output is not None else ""
                raise _einsum_error(f"found '.' for {where_} that is not part of any ellipsis{suffix}")
            current.append(Ellipsis)
            i += 3
        elif char in _LETTERS:
            current.append(_LETTERS.index(char))
            i += 1
        else:
            raise _einsum_error(
                f"invalid subscript given at index {i} in the equation string, subscripts must be in [a-zA-Z]"
            )
    return terms, output


def _parse_sublists(args: tuple) -> tuple[list[Tensor], list[list[Any]], list[Any] | None]:
    """einsum(op0, [0, 1], op1, [1, 2], [0, 2]): torch's sublist form."""
    output = list(args[-1]) if len(args) % 2 == 1 else None
    pairs = args[:-1] if output is not None else args
    operands = list(pairs[0::2])
    terms = [list(sublist) for sublist in pairs[1::2]]
    for term in [*terms, *([output] if output is not None else [])]:
        for label in term:
            if label is not Ellipsis and not (isinstance(label, int) and 0 <= label < len(_LETTERS)):
                raise ValueError(
                    "einsum(): subscript in subscript list is not within the valid range [0, 52)"
                )
    return operands, terms, output


def _contraction(terms: list[list[Any]], output: list[Any] | None, shapes: list[tuple]) -> Contraction:
    """Check the terms against the operands' shapes, as torch does, and give every dim a label."""
    if len(terms) < len(shapes):
        raise _einsum_error("more operands were provided than specified in the equation")
    if len(terms) > len(shapes):
        raise _einsum_error("fewer operands were provided than specified in the equation")
    ellipsis_ndim = 0
    for k, (term, shape) in enumerate(zip(terms, shapes)):
        n_letters = len(term) - (Ellipsis in term)
        if Ellipsis not in term and n_letters != len(shape):
            raise _einsum_error(
                f"the number of subscripts in the equation ({n_letters}) does not match the number of "
                f"dimensions ({len(shape)}) for operand {k} and no ellipsis was given"
            )
        if n_letters > len(shape):
            raise _einsum_error(
                f"the number of subscripts in the equation ({n_letters}) is more than the number of "
                f"dimensions ({len(shape)}) for operand {k}"
            )
        if Ellipsis in term:
            ellipsis_ndim = max(ellipsis_ndim, len(shape) - n_letters)
    ellipsis = tuple(range(_ELLIPSIS_LABELS, _ELLIPSIS_LABELS + ellipsis_ndim))
    inputs = tuple(_expand_ellipsis(term, len(shape), ellipsis) for term, shape in zip(terms, shapes))
    sizes = _label_sizes(inputs, shapes)
    return Contraction(inputs, _output_labels(terms, inputs, output, ellipsis), tuple(sizes.items()))


def _expand_ellipsis(term: list[Any], ndim: int, ellipsis: tuple[int, ...]) -> tuple[int, ...]:
    """An operand's labels, its ellipsis replaced by the last (right-aligned) ellipsis labels it covers."""
    if Ellipsis not in term:
        return tuple(term)
    at = term.index(Ellipsis)
    covered = ndim - (len(term) - 1)
    return (*term[:at], *ellipsis[len(ellipsis) - covered :], *term[at + 1 :])


def _label_sizes(inputs: tuple[tuple[int, ...], ...], shapes: list[tuple]) -> dict[int, int]:
    """Each label's size: repeats within an operand must agree; across operands, sizes broadcast."""
    sizes: dict[int, int] = {}
    for k, (labels, shape) in enumerate(zip(inputs, shapes)):
        own: dict[int, int] = {}
        for dim, (label, size) in enumerate(zip(labels, shape)):
            if label in own and own[label] != size:
                raise _einsum_error(
                    f"subscript {_label_name(label)} is repeated for operand {k} but the sizes don't match, "
                    f"{size} != {own[label]}"
                )
            own[label] = size
            seen = sizes.get(label)
            if seen is not None and seen != size and seen != 1 and size != 1:
                if label >= _ELLIPSIS_LABELS:
                    raise _einsum_error(
                        f"dimension {dim} covered by ellipsis in operand {k}has size {size} which does "
                        f"not broadcast with previously seen ellipsis with size {seen} for the respective "
                        "dimension"
                    )
                raise _einsum_error(
                    f"subscript {_label_name(label)} has size {size} for operand {k} which does not "
                    f"broadcast with previously seen size {seen}"
                )
            sizes[label] = size if seen is None or seen == 1 else seen
    return sizes


def _output_labels(terms: list[list[Any]], inputs: tuple[tuple[int, ...], ...], output: list[Any] | None,
                   ellipsis: tuple[int, ...]) -> tuple[int, ...]:
    if output is None:  # implicit: the ellipsis dims, then the labels used once, in alphabetical order
        counts: dict[int, int] = {}
        for term in terms:
            for label in term:
                if label is not Ellipsis:
                    counts[label] = counts.get(label, 0) + 1
        return (*ellipsis, *sorted(label for label, n in counts.items() if n == 1))
    labels: list[int] = []
    used = {label for labels_k in inputs for label in labels_k}
    for label in output:
        if label is Ellipsis:
            labels.extend(ellipsis)
            continue
        if label in labels:
            raise _einsum_error(f"output subscript {_label_name(label)} appears more than once in the output")
        if label not in used:
            raise _einsum_error(
                f"output subscript {_label_name(label)} does not appear in the equation for any input operand"
            )
        labels.append(label)
    return tuple(labels)


# ---- einsum: the op ---------------------------------------------------------------------------
def _einsum_arrays(arrays: tuple, contraction: Contraction) -> Any:
    """xp.einsum in its sublist form: labels renumbered from 0 (it takes 52 at most), size-1 dims
    broadcast first (NumPy's einsum broadcasts only the ellipsis)."""
    xp = xp_of(arrays[0])
    numbering: dict[int, int] = {}
    interleaved: list[Any] = []
    for array, labels in zip(arrays, contraction.inputs):
        full = contraction.shape_of(labels)
        interleaved.append(array if array.shape == full else xp.broadcast_to(array, full))
        interleaved.append([numbering.setdefault(label, len(numbering)) for label in labels])
    output = [numbering[label] for label in contraction.output]
    with quiet_float_errors():
        return xp.einsum(*interleaved, output, optimize=len(arrays) > 1)


class Einsum(Op):
    @staticmethod
    def forward(ctx: Any, *args: Any) -> Any:
        *arrays, contraction = args
        ctx.save_for_backward(*arrays)
        ctx.contraction = contraction
        return _einsum_arrays(tuple(arrays), contraction)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        operands = ctx.saved_tensors
        return tuple(
            _operand_grad(k, grad, operands, ctx.contraction) if needed else None
            for k, needed in enumerate(ctx.needs_input_grad)
        )


def _operand_grad(k: int, grad: Tensor, operands: tuple, contraction: Contraction) -> Tensor:
    """d(einsum)/d(operand k) applied to grad: an einsum of grad with the other operands."""
    sizes = dict(contraction.sizes)
    xp = xp_of(grad._data)
    constant = lambda array: wrap(array, device=grad._device)  # noqa: E731
    tensors = [grad, *(t for j, t in enumerate(operands) if j != k)]
    terms = [contraction.output, *(labels for j, labels in enumerate(contraction.inputs) if j != k)]
    fresh = itertools.count(max(sizes, default=0) + 1)
    target: list[int] = []
    for label in contraction.inputs[k]:
        if label in target:  # a diagonal: a fresh label, tied to this one by an identity matrix
            tied = next(fresh)
            tensors.append(constant(xp.eye(sizes[label], dtype=grad._data.dtype)))
            terms.append((label, tied))
            label = tied
        target.append(label)
    present = {label for term in terms for label in term}
    for label in dict.fromkeys(target):
        if label not in present:  # summed away in the forward: each element got the whole gradient
            tensors.append(constant(xp.ones(sizes[label], dtype=grad._data.dtype)))
            terms.append((label,))
    result = _einsum_labels(tensors, terms, tuple(target))
    full = contraction.shape_of(contraction.inputs[k])
    # a label that had size 1 everywhere but operand k was broadcast: the gradient is constant along it
    return result if tuple(result.shape) == full else result.expand(*full)


def _einsum_labels(tensors: list[Tensor], terms: list, output: tuple[int, ...]) -> Tensor:
    """einsum over labels already chosen (tensordot, inner, backward): checked, then the op."""
    contraction = _contraction([list(t) for t in terms], list(output), [t._data.shape for t in tensors])
    op = in_float32(Einsum) if tensors[0]._data.dtype.kind == "V" else Einsum  # bfloat16: as torch
    return op.apply(*tensors, params=(contraction,))


def _common_dtype(tensors: list[Tensor]) -> list[Tensor]:
    """torch's einsum: mixed float dtypes are refused; integers join a float operand's dtype."""
    floats = [t for t in tensors if t.dtype.is_floating_point]
    for t in floats[1:]:
        _require_same_dtype(floats[0], t)
    target = _dtypes.result_type(*tensors)
    return [t if t.dtype is target else t.to(target) for t in tensors]


@register(method=False)
def einsum(*args: Any) -> Tensor:
    """torch.einsum: an equation and operands ('ij,jk->ik', a, b; or a list of them), or sublists."""
    if args and isinstance(args[0], str):
        equation, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
        terms, output = _parse_equation(equation)
    else:
        operands, terms, output = _parse_sublists(args)
    for position, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"expected Tensor as element {position} in argument 1, but got {type(t).__name__}"
            )
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    contraction = _contraction(terms, output, [t._data.shape for t in operands])
    operands = _common_dtype(operands)
    if AUTOCAST.on:  # torch's autocast lower-precision list
        operands = lower_precision(*operands)
    op = in_float32(Einsum) if operands[0]._data.dtype.kind == "V" else Einsum  # bfloat16: as torch
    return op.apply(*operands, params=(contraction,))


# ---- tensordot, inner, vdot -----------------------------------------------------------------
def _same_dtype(a: Tensor, b: Tensor) -> None:
    if a.dtype is not b.dtype:
        raise RuntimeError("both inputs should have same dtype")


def _tensordot_dims(a: Tensor, b: Tensor, dims: Any) -> tuple[list[int], list[int]]:
    if isinstance(dims, Tensor):
        dims = dims.item() if dims.ndim == 0 else dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > a.ndim or dims > b.ndim:
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        return list(range(-dims, 0)), list(range(dims))
    dims_a, dims_b = dims
    for value in (dims_a, dims_b):
        if isinstance(value, int):
            raise TypeError("tensordot(): argument 'dims_self' (position 3) must be tuple of ints, not int")
    if len(dims_a) != len(dims_b):
        raise RuntimeError("both dimension lists should have same length")
    return list(dims_a), list(dims_b)


@register(method=False)
def tensordot(a: Tensor, b: Tensor, dims: Any = 2, out: Tensor | None = None) -> Tensor:
    """Contract a's dims `dims[0]` with b's `dims[1]` (or a's last `dims` with b's first `dims`)."""
    if AUTOCAST.on:  # torch's autocast lower-precision list (its tensordot is a bmm)
        a, b = lower_precision(a, b)
    _same_dtype(a, b)
    dims_a, dims_b = _tensordot_dims(a, b, dims)
    labels_a = list(range(a.ndim))
    labels_b = list(range(a.ndim, a.ndim + b.ndim))
    for da, db in zip(dims_a, dims_b):
        size_a, size_b = a.shape[normalize_dim(da, a.ndim)], b.shape[normalize_dim(db, b.ndim)]
        if size_a != size_b and size_a != 1 and size_b != 1:
            raise RuntimeError(
                f"contracted dimensions need to match, but first has size {size_a} in dim {da} and second "
                f"has size {size_b} in dim {db}"
            )
        labels_b[normalize_dim(db, b.ndim)] = labels_a[normalize_dim(da, a.ndim)]
    contracted = set(labels_b) & set(labels_a)
    output = tuple([label for label in labels_a if label not in contracted] +
                   [label for label in labels_b if label not in contracted])
    return _written(_einsum_labels([a, b], [labels_a, labels_b], output), out, "tensordot")


@register()
def inner(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The dot product over the last dims; a scalar operand multiplies."""
    if input.ndim == 0 or other.ndim == 0:
        return _written(input * other, out, "inner")
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(
            "inner() the last dimension must match on both input tensors but got shapes "
            f"{list(input.shape)} and {list(other.shape)}"
        )
    _same_dtype(input, other)
    return _written(tensordot(input, other, ([-1], [-1])), out, "inner")


@register()
def vdot(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The dot product of two 1-D tensors (conjugating the first, which for real tensors changes nothing)."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.dtype is not other.dtype:
        raise RuntimeError(
            "dot : expected both vectors to have same dtype, but found "
            f"{input.dtype.scalar_name} and {other.dtype.scalar_name}"
        )
    n, m = input.shape[0], other.shape[0]
    if n != m:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same number of "
            f"elements, but got {n} and {m} elements respectively"
        )
    return _written(dot(input, other), out, "vdot")


# ---- kron, block_diag, cartesian_prod ---------------------------------------------------------
@register()
def kron(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The Kronecker product: block (i, j, ...) of the result is input[i, j, ...] * other."""
    target = _dtypes.result_type(input, other)
    a, b = input.to(target), other.to(target)
    ndim = max(a.ndim, b.ndim)
    if ndim == 0:
        return _written(a * b, out, "kron")
    shape_a = (1,) * (ndim - a.ndim) + tuple(a.shape)
    shape_b = (1,) * (ndim - b.ndim) + tuple(b.shape)
    interleaved_a = [n for size in shape_a for n in (size, 1)]  # (a0, 1, a1, 1, ...)
    interleaved_b = [n for size in shape_b for n in (1, size)]  # (1, b0, 1, b1, ...)
    product = a.reshape(interleaved_a) * b.reshape(interleaved_b)
    return _written(product.reshape([sa * sb for sa, sb in zip(shape_a, shape_b)]), out, "kron")


class BlockDiag(Op):
    @staticmethod
    def forward(ctx: Any, *blocks: Any) -> Any:
        xp = xp_of(blocks[0])
        matrices = [b.reshape(1, -1) if b.ndim < 2 else b for b in blocks]  # 0-d -> (1, 1), 1-d -> (1, n)
        rows, cols = sum(m.shape[0] for m in matrices), sum(m.shape[1] for m in matrices)
        out = xp.zeros((rows, cols), dtype=blocks[0].dtype)
        ctx.corners = []
        r = c = 0
        for block, matrix in zip(blocks, matrices):
            out[r : r + matrix.shape[0], c : c + matrix.shape[1]] = matrix
            ctx.corners.append((r, c, matrix.shape, block.shape))
            r, c = r + matrix.shape[0], c + matrix.shape[1]
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        return tuple(
            grad[r : r + h, c : c + w].reshape(shape) for r, c, (h, w), shape in ctx.corners
        )


@register(method=False)
def block_diag(*tensors: Tensor) -> Tensor:
    """The tensors (0-d, 1-d as a row, or 2-d) as the blocks of a block-diagonal matrix."""
    if not tensors:
        return zeros(1, 0)
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(
                f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has {t.ndim} "
                "dimensions"
            )
    target = _dtypes.result_type(*tensors)
    return BlockDiag.apply(*(t if t.dtype is target else t.to(target) for t in tensors))


@register(method=False)
def cartesian_prod(*tensors: Tensor) -> Tensor:
    """Every combination of one element from each 1-D tensor: (n1 * n2 * ..., k) rows."""
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
        if t.dtype is not tensors[0].dtype:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    if len(tensors) == 1:
        return tensors[0]
    sizes = [t.shape[0] for t in tensors]
    columns = []
    for i, t in enumerate(tensors):
        along_i = [size if j == i else 1 for j, size in enumerate(sizes)]
        columns.append(t.reshape(along_i).expand(*sizes).reshape(-1))  # (n1 * n2 * ...,)
    return stack(columns, dim=1)


# ---- cross ----------------------------------------------------------------------------------
class Cross(Op):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any, dim: int) -> Any:
        ctx.save_for_backward(a, b)
        ctx.dim = dim
        with quiet_float_errors():
            return xp_of(a).cross(a, b, axis=dim)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        # (a x b) . g = a . (b x g) = b . (g x a)
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        return (Cross.apply(b, grad, params=(ctx.dim,)) if need_a else None,
                Cross.apply(grad, a, params=(ctx.dim,)) if need_b else None)


@register()
def cross(input: Tensor, other: Tensor, dim: int | None = None, *, out: Tensor | None = None) -> Tensor:
    """The cross product of 3-vectors along `dim` (by default the first dim of size 3, as torch did)."""
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    _require_same_dtype(input, other)
    if dim is None:
        warnings.warn(
            "Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the dim "
            "explicitly or simply use torch.linalg.cross.\nThe default value of dim will change to agree "
            "with that of linalg.cross in a future release.",
            UserWarning,
            stacklevel=2,
        )
        dim = next((d for d, size in enumerate(input.shape) if size == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    dim = normalize_dim(dim, input.ndim)
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[dim]} and "
            f"{other.shape[dim]}"
        )
    broadcast_shapes(input.shape, other.shape)
    return _written(Cross.apply(input, other, params=(dim,)), out, "cross")
