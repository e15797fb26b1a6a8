"""LU with partial pivoting: lu_factor (and _ex), lu, lu_solve.

NumPy has no LU, so the factorisation is written here: Gaussian elimination with partial pivoting
as LAPACK's getrf does it (the first largest |pivot| wins, a zero pivot is recorded in `info` and
skipped), vectorised over the batch, one Python step per column. `pivots` are LAPACK's (1-based:
row j was swapped with row pivots[j]), and A = P L U.

The packed LU has one backward formula (LinalgLuFactorEx); the permutation is locally constant.
For a square A, with g_L = tril(g, -1) and g_U = triu(g):
    g_A = P L^{-T} (tril(Lᵀ g_L, -1) + triu(g_U Uᵀ)) U^{-T}
A wide A = [A₁ | A₂] treats U₂ = L⁻¹ Pᵀ A₂ first, a tall one L₂ = (PᵀA)₂ U⁻¹, then the square rule.
lu and lu_solve are compositions over it.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from antorcha._creation import eye
from antorcha._device import quiet_float_errors, xp_of
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.linalg._common import batch_prefix, check_float, write_result
from antorcha.linalg._inverse import LinalgInvEx
from antorcha.linalg._triangular import solve_triangular
from antorcha.ops.linalg import matmul
from antorcha.ops.movement import cat


class LUFactorResult(NamedTuple):
    LU: Tensor
    pivots: Tensor


class LUFactorExResult(NamedTuple):
    LU: Tensor
    pivots: Tensor
    info: Tensor


class LUResult(NamedTuple):
    P: Tensor
    L: Tensor
    U: Tensor


# ---- the factorisation on arrays -----------------------------------------------------------------
def lu_arrays(a: Any) -> tuple[Any, Any, np.ndarray]:
    """(packed LU, pivots (..., k) int32, info (...) int32) of every (m, n) matrix of a batch."""
    xp = xp_of(a)
    m, n = a.shape[-2:]
    k = min(m, n)
    count = math.prod(a.shape[:-2])
    flat = a.reshape(count, m, n).copy()
    pivots = xp.zeros((count, k), dtype=np.int32)
    infos = np.zeros(count, dtype=np.int32)
    every = xp.arange(count)
    with quiet_float_errors():  # inf and NaN entries eliminate to inf and NaN, silently as in getrf
        for j in range(k):
            _eliminate_column(xp, flat, pivots, infos, every, j)
    batch = a.shape[:-2]
    return flat.reshape(a.shape), pivots.reshape(*batch, k), infos.reshape(batch)


def _largest_magnitude(xp: Any, columns: Any) -> Any:
    """BLAS i?amax on every row of (count, r): the first largest |x|, where a NaN never compares
    larger (it wins only from the first place, where the scan starts), as LAPACK picks pivots."""
    magnitudes = xp.abs(columns)
    nan = xp.isnan(magnitudes)
    best = xp.where(nan, -1, magnitudes).argmax(axis=1)
    return xp.where(nan[:, 0], 0, best)


def _eliminate_column(xp: Any, flat: Any, pivots: Any, infos: np.ndarray, every: Any, j: int) -> None:
    """One step of getrf on every matrix (count, m, n) at once: pivot on column j and eliminate below."""
    pivot_rows = j + _largest_magnitude(xp, flat[:, j:, j])  # (count,)
    pivots[:, j] = pivot_rows + 1
    current = flat[every, j].copy()
    flat[every, j] = flat[every, pivot_rows]
    flat[every, pivot_rows] = current
    pivot = flat[:, j, j]
    zero = np.asarray(pivot.get() if hasattr(pivot, "get") else pivot) == 0
    infos[(infos == 0) & zero] = j + 1
    flat[:, j + 1 :, j] /= xp.where(pivot == 0, 1, pivot)[:, None]  # a zero pivot's column is all 0
    flat[:, j + 1 :, j + 1 :] -= flat[:, j + 1 :, j : j + 1] * flat[:, j : j + 1, j + 1 :]


def permutation_arrays(pivots: Any, m: int, dtype: Any) -> Any:
    """P (..., m, m) from LAPACK pivots, with A = P L U."""
    xp = xp_of(pivots)
    batch = pivots.shape[:-1]
    count = math.prod(batch)
    order = xp.broadcast_to(xp.arange(m), (count, m)).copy()  # row i of PᵀA is A[order[i]]
    flat_pivots = pivots.reshape(count, pivots.shape[-1]) - 1
    every = xp.arange(order.shape[0])
    for j in range(flat_pivots.shape[1]):
        swapped = flat_pivots[:, j]
        current = order[every, j].copy()
        order[every, j] = order[every, swapped]
        order[every, swapped] = current
    transposed = xp.eye(m, dtype=dtype)[order]  # Pᵀ: its row i is e_{order[i]}
    return transposed.swapaxes(-1, -2).reshape(*batch, m, m)


# ---- the op ------------------------------------------------------------------------------------
class LinalgLuFactorEx(Op):
    """The packed LU of A (computed by the caller, passed in): see the module docstring."""

    @staticmethod
    def forward(ctx: Any, a: Any, lu: Any, pivots: Any) -> Any:
        ctx.save_for_backward(lu)
        ctx.pivots = pivots
        return lu

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (LU,) = ctx.saved_tensors
        m, n = LU.shape[-2:]
        k = min(m, n)
        P = wrap(permutation_arrays(ctx.pivots, m, LU._data.dtype), device=LU.device)
        L = LU[..., :, :k].tril(-1) + eye(m, k, dtype=LU.dtype, device=LU.device)
        U = LU[..., :k, :].triu()
        grad_l, grad_u = grad[..., :, :k].tril(-1), grad[..., :k, :].triu()
        if m == n:
            return matmul(P, _square_backward(L, U, grad_l, grad_u))
        if m < n:  # U = [U₁ | U₂], U₂ = L⁻¹ Pᵀ A₂: g_A₂ = P L^{-T} g_U₂, and L gets -L^{-T} g_U₂ U₂ᵀ
            L_inverse_t = LinalgInvEx.apply(L).mT
            grad_u2, U2 = grad_u[..., :, k:], U[..., :, k:]
            grad_l = grad_l - matmul(matmul(L_inverse_t, grad_u2), U2.mT).tril(-1)
            square = _square_backward(L, U[..., :, :k], grad_l, grad_u[..., :, :k])
            return matmul(P, cat([square, matmul(L_inverse_t, grad_u2)], dim=-1))
        # tall: PᵀA = [L₁; L₂] U, L₂ = (PᵀA)₂ U⁻¹: g_(PᵀA)₂ = g_L₂ U^{-T}, and U gets -L₂ᵀ g_L₂ U^{-T}
        U_inverse_t = LinalgInvEx.apply(U).mT
        grad_l2, L2 = grad_l[..., k:, :], L[..., k:, :]
        grad_u = grad_u - matmul(matmul(L2.mT, grad_l2), U_inverse_t).triu()
        square = _square_backward(L[..., :k, :], U, grad_l[..., :k, :], grad_u)
        return matmul(P, cat([square, matmul(grad_l2, U_inverse_t)], dim=-2))


def _square_backward(L: Tensor, U: Tensor, grad_l: Tensor, grad_u: Tensor) -> Tensor:
    """Pᵀ g_A for a square A = P L U: L^{-T} (tril(Lᵀ g_L, -1) + triu(g_U Uᵀ)) U^{-T}."""
    phi = matmul(L.mT, grad_l).tril(-1) + matmul(grad_u, U.mT).triu()
    return matmul(matmul(LinalgInvEx.apply(L).mT, phi), LinalgInvEx.apply(U).mT)


# ---- the public functions -----------------------------------------------------------------------
def _check_lu_input(A: Tensor, name: str, pivot: bool) -> None:
    if A.ndim < 2:
        raise RuntimeError(
            f"torch.lu_factor: Expected tensor with 2 or more dimensions. Got size: {list(A.shape)} instead"
        )
    if A._data.dtype.kind != "f":
        raise NotImplementedError(f"\"lu_cpu\" not implemented for '{A.dtype.scalar_name}'")
    check_float(A, name)
    if not pivot and A.device.type == "cpu":
        raise RuntimeError(f"{name}: LU without pivoting is not implemented on the CPU")


def _factor(A: Tensor, name: str, pivot: bool) -> tuple[Tensor, Tensor, np.ndarray]:
    _check_lu_input(A, name, pivot)
    lu, pivots, infos = lu_arrays(A._data)
    LU = LinalgLuFactorEx.apply(A, params=(lu, pivots))
    return LU, wrap(pivots, device=A.device), infos


def lu_factor_ex(
    A: Tensor, *, pivot: bool = True, check_errors: bool = False, out: Any = None
) -> LUFactorExResult:
    """(LU, pivots, info): info is getrf's per matrix (j: U[j-1, j-1] is exactly 0)."""
    LU, pivots, infos = _factor(A, "linalg.lu_factor_ex", pivot)
    if check_errors and infos.any():
        raise _zero_pivot_error(A, infos, "linalg.lu_factor_ex")
    info = wrap(xp_of(A._data).asarray(infos), device=A.device)
    return write_result(LUFactorExResult(LU, pivots, info), out, "linalg.lu_factor_ex")


def _zero_pivot_error(A: Tensor, infos: np.ndarray, name: str) -> RuntimeError:
    flat_index = int(np.flatnonzero(infos.reshape(-1))[0])
    order = int(infos.reshape(-1)[flat_index])
    return RuntimeError(
        f"torch.{name}: {batch_prefix(A.shape, flat_index)}U[{order},{order}] is zero and using it on "
        "lu_solve would result in a division by zero. If you still want to perform the factorization, "
        "consider calling linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)"
    )


def lu_factor(A: Tensor, *, pivot: bool = True, out: Any = None) -> LUFactorResult:
    """(LU, pivots); a matrix with a zero pivot raises, as torch's does."""
    LU, pivots, infos = _factor(A, "linalg.lu_factor", pivot)
    if infos.any():
        raise _zero_pivot_error(A, infos, "linalg.lu_factor")
    return write_result(LUFactorResult(LU, pivots), out, "linalg.lu_factor")


def _unpack(LU: Tensor, pivots: Tensor) -> LUResult:
    m, n = LU.shape[-2:]
    k = min(m, n)
    P = wrap(permutation_arrays(pivots._data, m, LU._data.dtype), device=LU.device)
    L = LU[..., :, :k].tril(-1) + eye(m, k, dtype=LU.dtype, device=LU.device)
    return LUResult(P, L, LU[..., :k, :].triu())


def lu(A: Tensor, *, pivot: bool = True, out: Any = None) -> LUResult:
    """(P, L, U) with A = P L U; L (m, k) unit lower, U (k, n) upper. Singular matrices are fine."""
    LU, pivots, _ = _factor(A, "linalg.lu_factor", pivot)
    return write_result(_unpack(LU, pivots), out, "linalg.lu")


def lu_solve(
    LU: Tensor,
    pivots: Tensor,
    B: Tensor,
    *,
    left: bool = True,
    adjoint: bool = False,
    out: Tensor | None = None,
) -> Tensor:
    """X with A X = B (or X A = B; Aᵀ for adjoint), A = P L U given as lu_factor's (LU, pivots)."""
    name = "linalg.lu_solve"
    if LU.shape[-1] != LU.shape[-2]:
        raise RuntimeError(
            f"torch.{name}: A must be batches of square matrices, "
            f"but they are {LU.shape[-2]} by {LU.shape[-1]} matrices"
        )
    if B.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor B must have at least 2 dimensions.")
    n = LU.shape[-1]
    rows, cols = B.shape[-2:]
    if (rows if left else cols) != n:
        equation = "AX = B" if left else "XA = B"
        raise RuntimeError(
            f"{name}: Incompatible shapes of A and B for the equation {equation} ({n}x{n} and {rows}x{cols})"
        )
    P, L, U = _unpack(LU, pivots)
    if not left:  # X A = B  <=>  Aᵀ Xᵀ = Bᵀ
        return write_result(lu_solve(LU, pivots, B.mT, adjoint=not adjoint).mT, out, name)
    if adjoint:  # Aᵀ = Uᵀ Lᵀ Pᵀ: X = P L^{-T} U^{-T} B
        inner = solve_triangular(U.mT, B, upper=False)
        X = matmul(P, solve_triangular(L.mT, inner, upper=True, unitriangular=True))
    else:  # X = U⁻¹ L⁻¹ Pᵀ B
        inner = solve_triangular(L, matmul(P.mT, B), upper=False, unitriangular=True)
        X = solve_triangular(U, inner, upper=True)
    return write_result(X, out, name)
