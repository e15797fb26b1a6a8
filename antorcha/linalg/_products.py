"""Products and views of linalg: cross, vecdot, multi_dot, diagonal, matmul, vander, over core ops."""

from __future__ import annotations

from typing import Any

from antorcha._creation import ones_like
from antorcha._tensor import Tensor
from antorcha.linalg._common import check_float, write_result
from antorcha.ops._common import broadcast_shapes, normalize_dim
from antorcha.ops.contraction import Cross
from antorcha.ops.linalg import matmul as _matmul
from antorcha.ops.movement import stack
from antorcha.ops.strided import diagonal as _diagonal


def matmul(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    return write_result(_matmul(input, other), out, "linalg.matmul")


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1, out: Tensor | None = None) -> Tensor:
    """Σ x y along `dim`, the other dims broadcast."""
    check_float(x, "linalg.vecdot")
    if x.dtype is not y.dtype:
        raise RuntimeError(
            "linalg.vecdot: Expected x and y to have the same dtype, but found x of type "
            f"{x.dtype.scalar_name} and y of type {y.dtype.scalar_name} instead"
        )
    if x.ndim == 1 and y.ndim == 1 and x.shape[0] != y.shape[0]:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{x.shape[0]}] and src [{y.shape[0]}] to have the "
            f"same number of elements, but got {x.shape[0]} and {y.shape[0]} elements respectively"
        )
    return write_result((x * y).sum(dim), out, "linalg.vecdot")


def cross(input: Tensor, other: Tensor, *, dim: int = -1, out: Tensor | None = None) -> Tensor:
    """The 3-vector cross product along `dim` (torch.cross's op; the other dims broadcast)."""
    a, b = input, other
    if a.ndim != b.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    if a.dtype is not b.dtype:
        raise RuntimeError(f"expected scalar type {a.dtype.scalar_name} but found {b.dtype.scalar_name}")
    axis = normalize_dim(dim, a.ndim)
    if a.shape[axis] != 3 or b.shape[axis] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. "
            f"Got {a.shape[axis]} and {b.shape[axis]}"
        )
    broadcast_shapes(tuple(a.shape), tuple(b.shape))
    result = Cross.apply(a, b, params=(axis,))
    return write_result(result, out, "linalg.cross")


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """torch.diagonal with linalg's defaults: the diagonal of the last two dims, as the last dim (a view)."""
    return _diagonal(A, offset, dim1, dim2)


def multi_dot(tensors: Any, *, out: Tensor | None = None) -> Tensor:
    """A chain of matrix products in the cheapest order; a 1-D first (last) operand is a row (column)."""
    tensors = list(tensors)
    _check_chain(tensors)
    first_vector, last_vector = tensors[0].ndim == 1, tensors[-1].ndim == 1
    matrices = list(tensors)
    if first_vector:
        matrices[0] = matrices[0].unsqueeze(0)
    if last_vector:
        matrices[-1] = matrices[-1].unsqueeze(-1)
    for i in range(len(matrices) - 1):
        if matrices[i].shape[1] != matrices[i + 1].shape[0]:
            raise RuntimeError(
                f"multi_dot(): tensors {i} and {i + 1} with shapes {list(tensors[i].shape)} and "
                f"{list(tensors[i + 1].shape)} cannot be multiplied"
            )
    result = _chain_product(matrices, _chain_order(matrices), 0, len(matrices) - 1)
    if first_vector:
        result = result.squeeze(0)
    if last_vector:
        result = result.squeeze(-1)
    return write_result(result, out, "linalg.multi_dot")


def _check_chain(tensors: list) -> None:
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    for i, t in enumerate(tensors):
        where = "the first tensor" if i == 0 else ("the last tensor" if i == len(tensors) - 1 else None)
        if where and t.ndim not in (1, 2):
            raise RuntimeError(f"multi_dot(): {where} must be 1D or 2D but got {t.ndim}D")
        if not where and t.ndim != 2:
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {t.ndim}D")
        if t.dtype is not tensors[0].dtype:
            raise RuntimeError(
                f"multi_dot(): all tensors must have be the same dtype but tensor 0 is {_c_name(tensors[0])} "
                f"and tensor {i} {_c_name(t)}"
            )


def _c_name(t: Tensor) -> str:
    """The C type torch's message names: float, double, long."""
    return {"float32": "float", "float64": "double", "int64": "long"}.get(
        str(t._data.dtype), str(t._data.dtype)
    )


def _chain_order(matrices: list) -> list[list[int]]:
    """The textbook matrix-chain dynamic programme: split[i][j] is where (i..j) is best cut."""
    sizes = [m.shape[0] for m in matrices] + [matrices[-1].shape[1]]
    n = len(matrices)
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            options = [
                (cost[i][k] + cost[k + 1][j] + sizes[i] * sizes[k + 1] * sizes[j + 1], k) for k in range(i, j)
            ]
            cost[i][j], split[i][j] = min(options)
    return split


def _chain_product(matrices: list, split: list[list[int]], i: int, j: int) -> Tensor:
    if i == j:
        return matrices[i]
    k = split[i][j]
    return _matmul(_chain_product(matrices, split, i, k), _chain_product(matrices, split, k + 1, j))


def vander(x: Tensor, *, N: int | None = None) -> Tensor:
    """(..., n) -> (..., n, N): the powers x⁰, x¹, ..., x^{N-1} (by products: finite gradients at 0)."""
    x = x.reshape(1) if x.ndim == 0 else x
    count = x.shape[-1] if N is None else N
    if count <= 1:
        raise RuntimeError("N must be greater than 1.")
    powers = [ones_like(x), x]
    while len(powers) < count:
        powers.append(powers[-1] * x)
    return stack(powers, dim=-1)
