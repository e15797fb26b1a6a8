"""Factorisations: cholesky (and _ex), qr, eigh, eigvalsh, svd, svdvals, with torch's gradients.

An op with several outputs cannot save them for backward (autograd saves a multi-output op's
inputs only), so qr, eigh and svd keep their output arrays on the ctx; under create_graph the
backward recomputes them from the saved input instead, so that the second-order graph knows
they depend on A.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from antorcha._creation import zeros_like
from antorcha._device import quiet_float_errors, xp_of
from antorcha._grad_mode import STATE
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.linalg._common import (
    LinAlgError,
    all_finite,
    batch_prefix,
    check_matrix,
    diag_embed,
    guarded_svd,
    off_diagonal_inverse_gaps,
    write_result,
)
from antorcha.linalg._inverse import LinalgInvEx
from antorcha.ops.linalg import matmul
from antorcha.ops.movement import cat


class CholeskyExResult(NamedTuple):
    L: Tensor
    info: Tensor


class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


class EighResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class SVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    Vh: Tensor


def _outputs_for_backward(ctx: Any, recompute: Callable[[Tensor], tuple]) -> tuple:
    """The forward's outputs as Tensors: kept arrays, or (create_graph) recomputed from the input."""
    (A,) = ctx.saved_tensors
    if STATE.enabled:
        return A, recompute(A)
    return A, tuple(wrap(array, device=A.device) for array in ctx.outputs)


# ---- cholesky -------------------------------------------------------------------------------------
def _failing_minor(matrix: np.ndarray) -> int:
    """potrf's `info`: the order of the first leading minor that is not positive-definite, or 0."""
    for k in range(1, matrix.shape[0] + 1):
        try:
            np.linalg.cholesky(matrix[:k, :k])
        except np.linalg.LinAlgError:
            return k
    return 0


def _minor_infos(a: Any) -> np.ndarray:
    host = np.asarray(a.get() if hasattr(a, "get") else a)
    flat = host.reshape(-1, *host.shape[-2:])
    return np.array([_failing_minor(m) for m in flat], dtype=np.int32).reshape(host.shape[:-2])


def cholesky_arrays(a: Any, name: str, raise_errors: bool) -> Any:
    """The lower factor of every matrix (its lower triangle is read); NaN where one is not PD."""
    xp = xp_of(a)
    try:
        with quiet_float_errors():
            out = xp.linalg.cholesky(a)
        if xp is np or all_finite(out) or not all_finite(a):
            return out
    except np.linalg.LinAlgError:
        pass
    infos = _minor_infos(a)
    if raise_errors:
        flat_index = int(np.flatnonzero(infos.reshape(-1))[0])
        raise LinAlgError(
            f"{name}: {batch_prefix(a.shape, flat_index)}The factorization could not be completed because "
            "the input is not positive-definite (the leading minor of order "
            f"{int(infos.reshape(-1)[flat_index])} is not positive-definite)."
        )
    out = xp.full(a.shape, np.nan, dtype=a.dtype)
    good = xp.asarray(infos == 0)
    out[good] = xp.linalg.cholesky(a[good])
    return out


class LinalgCholeskyEx(Op):
    """A = L Lᵀ; backward (torch's): g_A = L^{-T} Φ L^{-1}, Φ = ½ (M + tril(M, -1)ᵀ), M = tril(Lᵀ g)."""

    @staticmethod
    def forward(ctx: Any, a: Any, name: str, raise_errors: bool) -> Any:
        out = cholesky_arrays(a, name, raise_errors)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (L,) = ctx.saved_tensors
        M = matmul(L.mT, grad).tril()
        phi = 0.5 * (M + M.tril(-1).mT)
        L_inverse = LinalgInvEx.apply(L)
        return matmul(matmul(L_inverse.mT, phi), L_inverse)


def _cholesky(A: Tensor, upper: bool, name: str, raise_errors: bool) -> Tensor:
    check_matrix(A, name)
    if upper:  # the upper triangle is read: U = chol(Aᵀ)ᵀ
        return LinalgCholeskyEx.apply(A.mT, params=(name, raise_errors)).mT
    return LinalgCholeskyEx.apply(A, params=(name, raise_errors))


def cholesky(input: Tensor, *, upper: bool = False, out: Tensor | None = None) -> Tensor:
    return write_result(_cholesky(input, upper, "linalg.cholesky", True), out, "linalg.cholesky")


def cholesky_ex(
    input: Tensor, *, upper: bool = False, check_errors: bool = False, out: Any = None
) -> CholeskyExResult:
    """(L, info): info is potrf's per matrix (0: positive-definite); L is NaN where it is not."""
    L = _cholesky(input, upper, "linalg.cholesky_ex", check_errors)
    failed = not all_finite(L._data) and all_finite(input._data)
    infos = _minor_infos(input._data) if failed else np.zeros(input.shape[:-2], dtype=np.int32)
    info = wrap(xp_of(input._data).asarray(infos), device=input.device)
    return write_result(CholeskyExResult(L, info), out, "linalg.cholesky_ex")


# ---- qr -------------------------------------------------------------------------------------------
_QR_MODES = ("reduced", "complete", "r")


class LinalgQr(Op):
    """A = Q R (Householder, as LAPACK's geqrf); backward for mode 'reduced', and 'complete' when m <= n."""

    @staticmethod
    def forward(ctx: Any, a: Any, mode: str) -> tuple:
        xp = xp_of(a)
        if mode == "r":
            q, r = xp.zeros((0,), dtype=a.dtype), xp.linalg.qr(a, mode="r")
        else:
            q, r = xp.linalg.qr(a, mode=mode)
        ctx.save_for_backward(a)
        ctx.mode, ctx.outputs = mode, (q, r)
        return q, r

    @staticmethod
    def backward(ctx: Any, grad_q: Tensor | None, grad_r: Tensor | None) -> Tensor:
        if ctx.mode == "r":
            raise RuntimeError(
                "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please use "
                "linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr."
            )
        A, (Q, R) = _outputs_for_backward(ctx, lambda A: LinalgQr.apply(A, params=(ctx.mode,)))
        m, n = A.shape[-2:]
        if ctx.mode == "complete" and m > n:
            raise RuntimeError(
                "The QR decomposition is not differentiable when mode='complete' and nrows > ncols."
            )
        if m >= n:
            return _qr_backward_tall(Q, R, grad_q, grad_r)
        # A = [X | Y] with X square: Y = Q V, so V's gradient reaches Q as Y g_Vᵀ and Y as Q g_V
        Y = A[..., :, m:]
        grad_u = None if grad_r is None else grad_r[..., :, :m]
        grad_q_total = grad_q
        grad_y = None
        if grad_r is not None:
            grad_v = grad_r[..., :, m:]
            grad_y = matmul(Q, grad_v)
            through_v = matmul(Y, grad_v.mT)
            grad_q_total = through_v if grad_q is None else grad_q + through_v
        grad_x = _qr_backward_tall(Q, R[..., :, :m], grad_q_total, grad_u)
        if grad_y is None:
            grad_y = zeros_like(Y)
        return cat([grad_x, grad_y], dim=-1)


def _qr_backward_tall(Q: Tensor, R: Tensor, grad_q: Tensor | None, grad_r: Tensor | None) -> Tensor:
    """m >= n: g_A = (g_Q + Q copyltu(M)) R^{-T}, M = R g_Rᵀ - g_Qᵀ Q, copyltu copying tril onto triu."""
    M: Tensor | None = None
    if grad_r is not None:
        M = matmul(R, grad_r.mT)
    if grad_q is not None:
        term = matmul(grad_q.mT, Q)
        M = -term if M is None else M - term
    lower = M.tril()
    copied = lower + lower.tril(-1).mT
    grad_a = matmul(Q, copied)
    if grad_q is not None:
        grad_a = grad_a + grad_q
    return matmul(grad_a, LinalgInvEx.apply(R).mT)


def qr(A: Tensor, mode: str = "reduced", *, out: Any = None) -> QRResult:
    check_matrix(A, "linalg.qr", square=False)
    if mode not in _QR_MODES:
        raise RuntimeError(
            f"qr received unrecognized mode '{mode}' "
            "but expected one of 'reduced' (default), 'r', or 'complete'"
        )
    return write_result(QRResult(*LinalgQr.apply(A, params=(mode,))), out, "linalg.qr")


# ---- eigh -----------------------------------------------------------------------------------------
def _check_uplo(UPLO: str) -> None:
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")


class LinalgEigh(Op):
    """A = V diag(λ) Vᵀ, λ ascending; backward: g_A = V (diag(g_λ) + skew(Vᵀ g_V) / (λ_j - λ_i)) Vᵀ."""

    @staticmethod
    def forward(ctx: Any, a: Any, UPLO: str) -> tuple:
        with quiet_float_errors():  # float32 eigenvalues past float32's max become inf, as torch's
            values, vectors = xp_of(a).linalg.eigh(a, UPLO=UPLO)
        ctx.save_for_backward(a)
        ctx.UPLO, ctx.outputs = UPLO, (values, vectors)
        return values, vectors

    @staticmethod
    def backward(ctx: Any, grad_values: Tensor | None, grad_vectors: Tensor | None) -> Tensor:
        _, (values, V) = _outputs_for_backward(ctx, lambda A: LinalgEigh.apply(A, params=(ctx.UPLO,)))
        inner = None if grad_values is None else diag_embed(grad_values)
        if grad_vectors is not None:
            projected = matmul(V.mT, grad_vectors)
            skew = 0.5 * (projected - projected.mT)
            term = skew * off_diagonal_inverse_gaps(values)
            inner = term if inner is None else inner + term
        return matmul(matmul(V, inner), V.mT)


def eigh(input: Tensor, UPLO: str = "L", *, out: Any = None) -> EighResult:
    check_matrix(input, "linalg.eigh")
    _check_uplo(UPLO)
    return write_result(EighResult(*LinalgEigh.apply(input, params=(UPLO,))), out, "linalg.eigh")


def eigvalsh(input: Tensor, UPLO: str = "L", *, out: Tensor | None = None) -> Tensor:
    """The eigenvalues, ascending; with a gradient the eigenvectors are computed too (as torch does)."""
    check_matrix(input, "linalg.eigvalsh")
    _check_uplo(UPLO)
    if input.requires_grad and STATE.enabled:
        values = LinalgEigh.apply(input, params=(UPLO,))[0]
    else:
        with quiet_float_errors():
            values = wrap(xp_of(input._data).linalg.eigvalsh(input._data, UPLO=UPLO), device=input.device)
    return write_result(values, out, "linalg.eigvalsh")


# ---- svd ------------------------------------------------------------------------------------------
class LinalgSvd(Op):
    """A = U diag(S) Vh, S descending; backward (Townsend's, as torch's, on the first k = min(m, n) vectors).

    g_A = U [(F ∘ (Uᵀg_U - g_UᵀU)) S + diag(g_S) + S (F ∘ (Vᵀg_V - g_VᵀV))] Vh
          + (I - U Uᵀ) g_U S⁻¹ Vh + U S⁻¹ g_Vᵀ (I - V Vᵀ),   F_ij = 1 / (s_j² - s_i²)
    """

    @staticmethod
    def forward(ctx: Any, a: Any, full_matrices: bool) -> tuple:
        u, s, vh = guarded_svd(a, full_matrices=full_matrices)
        ctx.save_for_backward(a)
        ctx.full_matrices, ctx.outputs = full_matrices, (u, s, vh)
        return u, s, vh

    @staticmethod
    def backward(ctx: Any, grad_u: Tensor | None, grad_s: Tensor | None, grad_vh: Tensor | None) -> Tensor:
        recompute = lambda A: LinalgSvd.apply(A, params=(ctx.full_matrices,))  # noqa: E731
        A, (U, S, Vh) = _outputs_for_backward(ctx, recompute)
        m, n = A.shape[-2:]
        k = min(m, n)
        if ctx.full_matrices:  # the vectors past the k-th do not depend on A (torch drops them too)
            U, Vh = U[..., :, :k], Vh[..., :k, :]
            grad_u = None if grad_u is None else grad_u[..., :, :k]
            grad_vh = None if grad_vh is None else grad_vh[..., :k, :]
        return _svd_backward(U, S, Vh, grad_u, grad_s, grad_vh, m, n)


def _svd_backward(
    U: Tensor,
    S: Tensor,
    Vh: Tensor,
    grad_u: Tensor | None,
    grad_s: Tensor | None,
    grad_vh: Tensor | None,
    m: int,
    n: int,
) -> Tensor:
    k = min(m, n)
    inner = diag_embed(grad_s) if grad_s is not None else None
    gaps = off_diagonal_inverse_gaps(S * S) if (grad_u is not None or grad_vh is not None) else None
    extra = None
    if grad_u is not None:
        projected = matmul(U.mT, grad_u)  # (..., k, k)
        term = (gaps * (projected - projected.mT)) * S.unsqueeze(-2)
        inner = term if inner is None else inner + term
        if m > k:  # (I - U Uᵀ) g_U S⁻¹ Vh
            extra = matmul((grad_u - matmul(U, projected)) / S.unsqueeze(-2), Vh)
    if grad_vh is not None:
        V, grad_v = Vh.mT, grad_vh.mT
        projected = matmul(V.mT, grad_v)
        term = S.unsqueeze(-1) * (gaps * (projected - projected.mT))
        inner = term if inner is None else inner + term
        if n > k:  # U S⁻¹ g_Vᵀ (I - V Vᵀ)
            side = matmul(U, ((grad_v - matmul(V, projected)) / S.unsqueeze(-2)).mT)
            extra = side if extra is None else extra + side
    grad_a = matmul(matmul(U, inner), Vh)
    return grad_a if extra is None else grad_a + extra


def svd(A: Tensor, full_matrices: bool = True, *, driver: str | None = None, out: Any = None) -> SVDResult:
    """driver= is CUDA's choice of solver in torch: accepted and ignored."""
    check_matrix(A, "linalg.svd", square=False)
    return write_result(SVDResult(*LinalgSvd.apply(A, params=(full_matrices,))), out, "linalg.svd")


def svdvals(A: Tensor, *, driver: str | None = None, out: Tensor | None = None) -> Tensor:
    """The singular values, descending; with a gradient the vectors are computed too (as torch does)."""
    check_matrix(A, "linalg.svdvals", square=False)
    if A.requires_grad and STATE.enabled:
        values = LinalgSvd.apply(A, params=(False,))[1]
    else:
        values = wrap(guarded_svd(A._data, compute_uv=False), device=A.device)
    return write_result(values, out, "linalg.svdvals")
