"""Triangular systems: solve_triangular, and torch's cholesky_solve / cholesky_inverse (A = L Lᵀ).

All three are compositions, so their gradients are those of their parts: solve_triangular solves
with the triangle of A that it reads (the mask's adjoint keeps A's gradient on that triangle, as
torch's does); cholesky_solve and cholesky_inverse differentiate A = L Lᵀ through the whole of L,
which is torch's formula (-(C + Cᵀ) L).
"""

from __future__ import annotations

import numpy as np

from antorcha._device import xp_of
from antorcha._tensor import Tensor
from antorcha.linalg._common import (
    FormallyDependent,
    check_float,
    check_matrix,
    identity_like,
    write_result,
)
from antorcha.linalg._inverse import LinalgInvEx, LinalgSolveEx
from antorcha.ops._common import broadcast_error
from antorcha.ops.linalg import matmul


def _triangle(A: Tensor, upper: bool, unitriangular: bool) -> Tensor:
    """The triangle solve_triangular reads, with ones on the diagonal when unitriangular."""
    if unitriangular:
        strict = A.triu(1) if upper else A.tril(-1)
        return strict + identity_like(A)
    return A.triu() if upper else A.tril()


def solve_triangular(
    A: Tensor,
    B: Tensor,
    *,
    upper: bool,
    left: bool = True,
    unitriangular: bool = False,
    out: Tensor | None = None,
) -> Tensor:
    """X with A X = B (left) or X A = B, A triangular; a zero on its diagonal gives inf/NaN, no error."""
    name = "linalg.solve_triangular"
    check_matrix(A, name)
    if B.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor B must have at least 2 dimensions.")
    check_float(B, name)
    B = B.to(A.dtype)  # torch computes in A's dtype
    n = A.shape[-1]
    rows, cols = B.shape[-2:]
    if (rows if left else cols) != n:
        equation = "AX = B" if left else "XA = B"
        raise RuntimeError(
            f"{name}: Incompatible shapes of A and B for the equation {equation} ({n}x{n} and {rows}x{cols})"
        )
    try:
        np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    except ValueError:
        raise broadcast_error(tuple(B.shape[:-2]), tuple(A.shape[:-2])) from None
    T = _triangle(A, upper, unitriangular)
    if left:
        X = LinalgSolveEx.apply(T, B, params=(name, False))
    else:
        X = LinalgSolveEx.apply(T.mT, B.mT, params=(name, False)).mT
    return write_result(X, out, name)


def _gram(L: Tensor, upper: bool) -> Tensor:
    """A from its Cholesky factor: L Lᵀ, or Uᵀ U."""
    return matmul(L.mT, L) if upper else matmul(L, L.mT)


def cholesky_solve(
    input: Tensor, input2: Tensor, upper: bool = False, *, out: Tensor | None = None
) -> Tensor:
    """X with A X = B, A = L Lᵀ given by its factor L (input2); B is input."""
    B, L = input, input2
    if B.ndim < 2:
        raise RuntimeError(f"b should have at least 2 dimensions, but has {B.ndim} dimensions instead")
    if L.ndim < 2:
        raise RuntimeError(f"u should have at least 2 dimensions, but has {L.ndim} dimensions instead")
    if B.dtype is not L.dtype:
        raise RuntimeError(
            f"Expected b and A to have the same dtype, but found b of type {B.dtype.scalar_name} and A of "
            f"type {L.dtype.scalar_name} instead."
        )
    if L.shape[-1] != L.shape[-2] or B.shape[-2] != L.shape[-1]:
        raise RuntimeError(
            f"Incompatible matrix sizes for cholesky_solve: each A matrix is {L.shape[-2]} by {L.shape[-1]} "
            f"but each b matrix is {B.shape[-2]} by {B.shape[-1]}"
        )
    check_float(L, "cholesky_solve")
    return write_result(LinalgSolveEx.apply(_gram(L, upper), B), out, "cholesky_solve")


def cholesky_inverse(input: Tensor, upper: bool = False, *, out: Tensor | None = None) -> Tensor:
    """A^{-1} for A = L Lᵀ given by its factor L."""
    check_matrix(input, "cholesky_inverse")
    return write_result(LinalgInvEx.apply(_gram(input, upper)), out, "cholesky_inverse")


def householder_product(A: Tensor, tau: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The first n columns of H₁ ⋯ H_k, H_i = I - τ_i v_i v_iᵀ with v_i = (0, …, 0, 1, A[i+1:, i]).

    A composition (one rank-1 update per reflector), so its gradient is that of its products.
    """
    name = "torch.linalg.householder_product"
    if A.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    m, n = A.shape[-2:]
    k = tau.shape[-1] if tau.ndim else 0
    if m < n:
        raise RuntimeError(f"{name}: input.shape[-2] must be greater than or equal to input.shape[-1]")
    if n < k:
        raise RuntimeError(f"{name}: input.shape[-1] must be greater than or equal to tau.shape[-1]")
    if tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise RuntimeError(
            f"{name}: Expected batch dimensions of tau to be equal to input.shape[:-2], "
            f"but got {list(tau.shape[:-1])}"
        )
    if A._data.dtype.kind != "f":
        raise NotImplementedError(f"\"orgqr_cpu\" not implemented for '{A.dtype.scalar_name}'")
    if tau.dtype is not A.dtype:
        raise RuntimeError(
            f"{name}: tau dtype {tau.dtype.scalar_name} does not match input dtype {A.dtype.scalar_name}"
        )
    if k == 0 or A.numel() == 0:  # the identity's first n columns; torch gives A no gradient here
        identity = xp_of(A._data).broadcast_to(xp_of(A._data).eye(m, n, dtype=A._data.dtype), A.shape).copy()
        return write_result(FormallyDependent.apply(A, params=(identity,)), out, "linalg.householder_product")
    below = A.tril(-1) + identity_like(A, m)[..., :, :n]  # (..., m, n): column i is v_i
    Q = identity_like(A, m)[..., :, :n]  # (..., m, n): the reflectors act on I's columns
    for i in reversed(range(k)):
        v = below[..., :, i : i + 1]  # (..., m, 1)
        Q = Q - tau[..., i : i + 1].unsqueeze(-1) * matmul(v, matmul(v.mT, Q))
    return write_result(Q, out, "linalg.householder_product")
