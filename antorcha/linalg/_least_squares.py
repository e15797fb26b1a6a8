"""Pseudo-inverses, least squares and rank: pinv, lstsq, matrix_rank.

lstsq is the composition pinv(A) @ B (its gradient is pinv's and matmul's, which is torch's
LinalgLstsqBackward0 formula), with torch's per-driver fields: CPU's default 'gelsy' returns
the rank but no residuals or singular values; 'gelsd'/'gelss' add both; 'gels' has no rank.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from antorcha._device import quiet_float_errors, xp_of
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.linalg._common import guarded_svd, write_result
from antorcha.ops._common import broadcast_error
from antorcha.ops.linalg import matmul

_FLOAT_ONLY = "This function doesn't handle types other than float and double"
_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


class LstsqResult(NamedTuple):
    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


# ---- tolerances -------------------------------------------------------------------------------
def _tolerance_array(value: Any, a: Any) -> Any:
    """A float or a Tensor tolerance as an array that broadcasts over the batch: (..., 1)."""
    xp = xp_of(a)
    array = value._data if isinstance(value, Tensor) else xp.asarray(0.0 if value is None else value)
    return xp.asarray(array, dtype=a.dtype)[..., None]


def _cutoff(a: Any, largest: Any, atol: Any, rtol: Any) -> Any:
    """max(atol, rtol σ₁) per matrix, torch's defaults: rtol = eps max(m, n) unless atol > 0 is given."""
    if rtol is None:
        atol_given = atol is not None and bool((_tolerance_array(atol, a) > 0).any())
        rtol = 0.0 if atol_given else np.finfo(a.dtype).eps * max(a.shape[-2:])
    xp = xp_of(a)
    return xp.maximum(_tolerance_array(atol, a), _tolerance_array(rtol, a) * largest)


def _spectrum(a: Any, hermitian: bool) -> Any:
    """Singular values (|eigenvalues| when hermitian), (..., k)."""
    xp = xp_of(a)
    if hermitian:
        with quiet_float_errors():
            return xp.abs(xp.linalg.eigvalsh(a))
    return guarded_svd(a, compute_uv=False)


def _largest(values: Any) -> Any:
    if values.shape[-1] == 0:
        return xp_of(values).zeros((*values.shape[:-1], 1), dtype=values.dtype)
    return values.max(axis=-1, keepdims=True)


# ---- pinv -------------------------------------------------------------------------------------
class LinalgPinv(Op):
    """A⁺ from the SVD (the eigendecomposition when hermitian), values at or below the cutoff dropped.

    Backward (torch's pinv_backward, for m <= n; the transposed form otherwise), P = A⁺:
    g_A = -(P K)ᵀ + K Pᵀ - A P K Pᵀ + Pᵀ P (gᵀ - K A),  K = gᵀ P
    """

    @staticmethod
    def forward(ctx: Any, a: Any, atol: Any, rtol: Any, hermitian: bool) -> Any:
        xp = xp_of(a)
        if hermitian:
            with quiet_float_errors():
                values, vectors = xp.linalg.eigh(a)
            left, right_t = vectors, vectors
        else:
            left, values, right_t = guarded_svd(a, full_matrices=False)
            right_t = right_t.swapaxes(-1, -2)
        cutoff = _cutoff(a, _largest(xp.abs(values)), atol, rtol)
        kept = xp.abs(values) > cutoff
        with np.errstate(divide="ignore"):
            inverted = xp.where(kept, 1 / xp.where(kept, values, 1), 0)
        out = (right_t * inverted[..., None, :]) @ left.swapaxes(-1, -2)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        A, P = ctx.saved_tensors
        m, n = A.shape[-2:]
        P_t, grad_t = P.mT, grad.mT
        if m <= n:
            K = matmul(grad_t, P)
            KP_t = matmul(K, P_t)
            return (
                -matmul(P, K).mT
                + KP_t
                - matmul(matmul(A, P), KP_t)
                + matmul(matmul(P_t, P), grad_t - matmul(K, A))
            )
        K = matmul(P, grad_t)
        P_tK = matmul(P_t, K)
        return (
            -matmul(K, P).mT
            + matmul(matmul(grad_t - matmul(A, K), P), P_t)
            + P_tK
            - matmul(matmul(P_tK, P), A)
        )


def _check_pinv_input(A: Any) -> None:
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg_pinv(): argument 'input' must be Tensor, not {type(A).__name__}")
    if A.ndim < 2 or A._data.dtype.kind != "f" or A._data.dtype.itemsize < 4:
        raise RuntimeError(
            f"linalg.pinv({A.dtype.scalar_name}{{{list(A.shape)}}}): expected a tensor with 2 or more "
            "dimensions of float, double, cfloat or cdouble types"
        )


def pinv(
    input: Tensor,
    rcond: Any = None,
    hermitian: bool = False,
    *,
    atol: Any = None,
    rtol: Any = None,
    out: Tensor | None = None,
) -> Tensor:
    """torch's two forms: pinv(A, *, atol, rtol, hermitian) and the older pinv(A, rcond, hermitian)."""
    _check_pinv_input(input)
    if rcond is not None:
        if atol is not None or rtol is not None:
            raise TypeError("linalg_pinv(): rcond cannot be given together with atol or rtol")
        atol, rtol = 0.0, rcond
    return write_result(LinalgPinv.apply(input, params=(atol, rtol, hermitian)), out, "linalg.pinv")


# ---- matrix_rank ------------------------------------------------------------------------------
def matrix_rank(
    input: Tensor,
    tol: Any = None,
    hermitian: bool = False,
    *,
    atol: Any = None,
    rtol: Any = None,
    out: Tensor | None = None,
) -> Tensor:
    """The number of singular values above max(atol, rtol σ₁), int64; `tol` is torch's older atol."""
    A = input
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg_matrix_rank(): argument 'input' must be Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_rank: The input tensor input must have at least 2 dimensions.")
    if A._data.dtype.kind != "f" or A._data.dtype.itemsize < 4:
        raise RuntimeError(_FLOAT_ONLY)
    if tol is not None:
        atol, rtol = tol, 0.0
    values = _spectrum(A._data, hermitian)
    cutoff = _cutoff(A._data, _largest(values), atol, rtol)
    rank = (values > cutoff).sum(axis=-1).astype(np.int64)
    return write_result(wrap(rank, device=A.device), out, "linalg.matrix_rank")


# ---- lstsq ------------------------------------------------------------------------------------
def _lstsq_operands(A: Tensor, B: Tensor) -> tuple[Tensor, bool]:
    """B as matrices (torch's vector case unsqueezed), after torch's checks."""
    if A.ndim < 2:
        raise RuntimeError("torch.linalg.lstsq: input must have at least 2 dimensions.")
    if B.ndim < 1:
        raise RuntimeError("torch.linalg.lstsq: other must have at least 1 dimension.")
    if A._data.dtype.kind != "f" or A._data.dtype.itemsize < 4:
        raise RuntimeError(_FLOAT_ONLY)
    if A.dtype is not B.dtype:
        raise RuntimeError(
            "torch.linalg.lstsq: Expected input and other to have the same dtype, but got input's dtype "
            f"{A.dtype.scalar_name} and other's dtype {B.dtype.scalar_name}"
        )
    if not (0 <= A.ndim - B.ndim <= 1):
        raise RuntimeError(
            "torch.linalg.lstsq: input.dim() must be greater or equal to other.dim() and "
            "(input.dim() - other.dim()) <= 1"
        )
    vector = B.ndim == A.ndim - 1
    if A.shape[-2] != B.shape[-1 if vector else -2]:
        which = "other.size(-1)" if vector else "other.size(-2)"
        raise RuntimeError(f"torch.linalg.lstsq: input.size(-2) should match {which}")
    matrices = B.unsqueeze(-1) if vector else B
    try:
        np.broadcast_shapes(A.shape[:-2], matrices.shape[:-2])
    except ValueError:
        raise broadcast_error(tuple(A.shape[:-2]), tuple(matrices.shape[:-2])) from None
    return matrices, vector


def _refuse_nan(A: Tensor, B: Tensor) -> None:
    """torch's LAPACK drivers reject a NaN in A or B (an 'illegal value' RuntimeError)."""
    xp = xp_of(A._data)
    for name, array in (("input", A._data), ("other", B._data)):
        if bool(xp.isnan(array).any()):
            raise RuntimeError(f"torch.linalg.lstsq: {name} contains NaN, which the LAPACK drivers reject")


def _nan_where_other_is_infinite(solution: Tensor, B: Tensor) -> Tensor:
    """NaN for every matrix whose B holds an infinity: torch's drivers scale B by its largest
    entry, which turns the whole solution into inf / inf."""
    xp = xp_of(B._data)
    infinite = xp.isinf(B._data).any(axis=(-2, -1), keepdims=True)  # (..., 1, 1)
    if not bool(infinite.any()):
        return solution
    return solution.masked_fill(wrap(infinite, device=B.device), float("nan"))


def lstsq(input: Tensor, b: Tensor, rcond: float | None = None, *, driver: str | None = None) -> LstsqResult:
    """The least-squares (minimum-norm) solution of A X = B, and torch's per-driver extra fields."""
    A = input
    matrices, vector = _lstsq_operands(A, b)
    driver = driver or ("gelsy" if A.device.type == "cpu" else "gels")
    if driver not in _DRIVERS:
        raise RuntimeError(
            "torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)"
        )
    m, n = A.shape[-2:]
    if rcond is None or rcond < 0:
        rcond = float(np.finfo(A._data.dtype).eps) * max(m, n)
    _refuse_nan(A, matrices)
    solution = matmul(LinalgPinv.apply(A, params=(0.0, rcond, False)), matrices)  # (..., n, k)
    solution = _nan_where_other_is_infinite(solution, matrices)
    values = _spectrum(A._data, False)
    rank = (values > _cutoff(A._data, _largest(values), 0.0, rcond)).sum(axis=-1).astype(np.int64)
    empty = solution.reshape(-1)[:0]  # an empty result, in the graph as torch's is
    residuals = empty
    full_rank = bool((rank == min(m, n)).all())
    if driver != "gelsy" and m > n and full_rank:
        residuals = ((matmul(A, solution) - matrices) ** 2).sum(-2)  # (..., k)
    xp = xp_of(A._data)
    no_rank = wrap(xp.zeros((0,), dtype=np.int64), device=A.device)
    no_values = wrap(xp.zeros((0,), dtype=A._data.dtype), device=A.device)
    return LstsqResult(
        solution.squeeze(-1) if vector else solution,
        residuals,
        no_rank if driver == "gels" else wrap(rank, device=A.device),
        wrap(values, device=A.device) if driver in ("gelsd", "gelss") else no_values,
    )
