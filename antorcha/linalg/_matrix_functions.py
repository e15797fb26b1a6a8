"""matrix_exp, and the tensor forms of inv and solve (tensorinv, tensorsolve).

matrix_exp's backward is torch's: the gradient of f(A) with cotangent G is the top-right block of
f([[Aᵀ, G], [0, Aᵀ]]) — the same op again, so it is differentiable to any order.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from antorcha._creation import zeros_like
from antorcha._device import xp_of
from antorcha._tensor import Tensor
from antorcha.autograd.function import Op
from antorcha.linalg._common import check_matrix, write_result
from antorcha.linalg._inverse import inv, solve
from antorcha.ops.movement import cat

# Taylor terms after scaling ‖A‖₁ below 1/2: the remainder 0.5^19 / 19! is below float64's eps
_TAYLOR_TERMS = 18


def exp_arrays(a: Any) -> Any:
    """e^A by scaling and squaring: e^A = (e^{A / 2^s})^{2^s}, each matrix scaled by its own s."""
    xp = xp_of(a)
    if a.size == 0:
        return a.copy()
    norms = xp.abs(a).sum(axis=-2).max(axis=-1)  # (...): the 1-norm of each matrix
    with np.errstate(divide="ignore"):
        squarings = xp.maximum(xp.ceil(xp.log2(norms / 0.5)), 0)
    squarings = xp.where(xp.isfinite(squarings), squarings, 0).astype(np.int64)
    scaled = a / (2.0**squarings)[..., None, None].astype(a.dtype)
    result = xp.broadcast_to(xp.eye(a.shape[-1], dtype=a.dtype), a.shape).copy()
    term = result.copy()
    for k in range(1, _TAYLOR_TERMS + 1):
        term = term @ scaled / k
        result = result + term
    for step in range(int(squarings.max())):
        squared = result @ result
        result = xp.where((step < squarings)[..., None, None], squared, result)
    return result


class LinalgMatrixExp(Op):
    @staticmethod
    def forward(ctx: Any, a: Any) -> Any:
        ctx.save_for_backward(a)
        return exp_arrays(a)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (A,) = ctx.saved_tensors
        n = A.shape[-1]
        A_t = A.mT
        lower = zeros_like(A_t)
        block = cat([cat([A_t, grad], dim=-1), cat([lower, A_t], dim=-1)], dim=-2)  # (..., 2n, 2n)
        return LinalgMatrixExp.apply(block)[..., :n, n:]


def matrix_exp(A: Tensor) -> Tensor:
    check_matrix(A, "linalg.matrix_exp")
    return LinalgMatrixExp.apply(A)


def tensorinv(A: Tensor, ind: int = 2, *, out: Tensor | None = None) -> Tensor:
    """A's inverse as a (prod(shape[:ind]), prod(shape[ind:])) matrix, shaped shape[ind:] + shape[:ind]."""
    if ind <= 0:
        raise RuntimeError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    rows, cols = math.prod(A.shape[:ind]), math.prod(A.shape[ind:])
    if rows != cols:
        raise RuntimeError(
            "Expected self to satisfy the requirement prod(self.shape[ind:]) == prod(self.shape[:ind]), "
            f"but got {cols} != {rows}"
        )
    result = inv(A.reshape(rows, cols)).reshape(*A.shape[ind:], *A.shape[:ind])
    return write_result(result, out, "linalg.tensorinv")


def tensorsolve(A: Tensor, B: Tensor, dims: Any = None, *, out: Tensor | None = None) -> Tensor:
    """X with tensordot(A, X, X.ndim) = B; `dims` of A are moved to the end first."""
    if dims is not None:
        moved = [d % A.ndim for d in dims]
        A = A.permute(*[d for d in range(A.ndim) if d not in moved], *moved)
    rest = A.shape[B.ndim :]
    if math.prod(rest) != B.numel():
        raise RuntimeError(
            "Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == "
            f"prod(self.shape[:other.ndim]), but got {math.prod(rest)} != {B.numel()}"
        )
    size = B.numel()
    result = solve(A.reshape(size, size), B.reshape(size)).reshape(*rest)
    return write_result(result, out, "linalg.tensorsolve")
