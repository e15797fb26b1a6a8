"""Inverses, determinants and linear solves: inv, inv_ex, det, slogdet, solve, solve_ex, matrix_power."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from antorcha._device import quiet_float_errors, xp_of
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.linalg._common import (
    all_finite,
    check_float,
    check_matrix,
    guarded_svd,
    identity_like,
    pivot_infos,
    singular_error,
    write_result,
    zeros_in_graph,
)
from antorcha.ops._common import broadcast_error, broadcast_shapes
from antorcha.ops.linalg import matmul


class InvExResult(NamedTuple):
    inverse: Tensor
    info: Tensor


class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class SolveExResult(NamedTuple):
    result: Tensor
    info: Tensor


# ---- inverse ------------------------------------------------------------------------------------
def invert(a: Any, name: str, raise_errors: bool = True) -> tuple[Any, np.ndarray | None]:
    """The inverse of every matrix of a batch, and getrf's `info` per matrix (None: all invertible).

    Without `raise_errors` a singular matrix's inverse is NaN (torch leaves LAPACK's garbage there).
    """
    xp = xp_of(a)
    try:
        with quiet_float_errors():
            out = xp.linalg.inv(a)
        if xp is np or all_finite(out) or not all_finite(a):  # CuPy does not raise: look at the result
            return out, None
    except np.linalg.LinAlgError:
        pass
    infos = pivot_infos(a)
    if not infos.any():  # LAPACK met a zero pivot only through inf/NaN arithmetic (inf - inf)
        return _invert_one_by_one(a), None
    if raise_errors:
        raise singular_error(a.shape, infos, name, "inv")
    out = xp.full(a.shape, np.nan, dtype=a.dtype)
    invertible = xp.asarray(infos == 0)
    out[invertible] = xp.linalg.inv(a[invertible])
    return out, infos


def _invert_one_by_one(a: np.ndarray) -> np.ndarray:
    """Each matrix inverted alone, NaN for one that LAPACK finds singular: a non-finite matrix,
    whose 'singularity' depends on how inf and NaN met in the elimination, not on the matrix."""
    flat = a.reshape(-1, *a.shape[-2:])
    out = np.full(flat.shape, np.nan, dtype=a.dtype)
    for i, matrix in enumerate(flat):
        try:
            with quiet_float_errors():
                out[i] = np.linalg.inv(matrix)
        except np.linalg.LinAlgError:
            pass
    return out.reshape(a.shape)


class LinalgInvEx(Op):
    """A^{-1}; backward: -A^{-T} g A^{-T}."""

    @staticmethod
    def forward(ctx: Any, a: Any, name: str = "linalg.inv", raise_errors: bool = True) -> Any:
        out, _ = invert(a, name, raise_errors)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (inverse,) = ctx.saved_tensors
        inverse_t = inverse.mT
        return -matmul(matmul(inverse_t, grad), inverse_t)


def inv(A: Tensor, *, out: Tensor | None = None) -> Tensor:
    check_matrix(A, "linalg.inv")
    return write_result(LinalgInvEx.apply(A), out, "linalg.inv")


def inv_ex(A: Tensor, *, check_errors: bool = False, out: Any = None) -> InvExResult:
    """(inverse, info): info is getrf's per matrix (0: invertible); no error unless check_errors."""
    check_matrix(A, "linalg.inv_ex")
    xp = xp_of(A._data)
    inverse = LinalgInvEx.apply(A, params=("linalg.inv_ex", check_errors))
    failed = not all_finite(inverse._data) and all_finite(A._data)  # NaN marks a singular matrix
    infos = pivot_infos(A._data) if failed else np.zeros(A.shape[:-2], dtype=np.int32)
    info = wrap(xp.asarray(infos), device=A.device)
    return write_result(InvExResult(inverse, info), out, "linalg.inv_ex")


# ---- determinants -------------------------------------------------------------------------------
def cofactors(a: Any) -> Any:
    """The cofactor matrix (the gradient of det) from an SVD: defined for singular matrices too.

    With A = U S Vᵀ, d det(A) / dA = det(U) det(V) U diag(prod_{j != i} s_j) Vᵀ.
    """
    xp = xp_of(a)
    u, s, vh = guarded_svd(a)
    n = s.shape[-1]
    alone = xp.eye(n, dtype=bool)  # row i: s with s_i replaced by 1, whose product is prod_{j != i} s_j
    others = xp.where(alone, 1, s[..., None, :]).prod(axis=-1)  # (..., n)
    signs = xp.linalg.det(u) * xp.linalg.det(vh)
    return signs[..., None, None] * ((u * others[..., None, :]) @ vh)


def det_gradient(A: Tensor, det: Tensor, grad: Tensor) -> Tensor:
    """g det(A) A^{-T} where A is invertible (differentiable again); the cofactors where it is not."""
    if A.shape[-1] == 1:  # a 1x1 cofactor is 1: exactly, and constant for the second order
        return grad.unsqueeze(-1).unsqueeze(-1).expand(*A.shape)
    scale = (grad * det).unsqueeze(-1).unsqueeze(-1)
    if bool((det._data != 0).all()):
        return scale * LinalgInvEx.apply(A).mT
    return grad.unsqueeze(-1).unsqueeze(-1) * wrap(cofactors(A._data), device=A.device)


class LinalgDet(Op):
    @staticmethod
    def forward(ctx: Any, a: Any) -> Any:
        out = xp_of(a).linalg.det(a)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        A, det = ctx.saved_tensors
        return det_gradient(A, det, grad)


def det(A: Tensor, *, out: Tensor | None = None) -> Tensor:
    check_matrix(A, "linalg.det")
    return write_result(LinalgDet.apply(A), out, "linalg.det")


class LinalgSlogdet(Op):
    """(sign, log|det|): the sign's gradient is zero; log|det|'s is A^{-T}."""

    @staticmethod
    def forward(ctx: Any, a: Any) -> tuple:
        xp = xp_of(a)
        with quiet_float_errors():
            sign, logabsdet = xp.linalg.slogdet(a)
        sign = xp.where(xp.isnan(logabsdet), 0, sign)  # torch multiplies sign(NaN) = 0 into it
        ctx.save_for_backward(a)
        return sign, logabsdet

    @staticmethod
    def backward(ctx: Any, grad_sign: Tensor | None, grad_logabsdet: Tensor | None) -> Tensor | None:
        if grad_logabsdet is None:
            return None
        (A,) = ctx.saved_tensors
        # a singular A (log|det| = -inf) gets NaN, not an error: torch's LU solve gives inf/NaN there
        inverse = LinalgInvEx.apply(A, params=("linalg.inv", False))
        return grad_logabsdet.unsqueeze(-1).unsqueeze(-1) * inverse.mT


def slogdet(A: Tensor, *, out: Any = None) -> SlogdetResult:
    check_matrix(A, "linalg.slogdet")
    return write_result(SlogdetResult(*LinalgSlogdet.apply(A)), out, "linalg.slogdet")


# ---- solve ----------------------------------------------------------------------------------------
def solve_arrays(a: Any, b: Any, name: str, raise_errors: bool = True) -> Any:
    """X with A X = B for every matrix of the broadcast batch; torch's LinAlgError when A is singular.

    Without `raise_errors` a singular system's solution is NaN (torch leaves LAPACK's garbage there).
    """
    xp = xp_of(a)
    try:
        with quiet_float_errors():
            out = xp.linalg.solve(a, b)
        if xp is np or all_finite(out) or not (all_finite(a) and all_finite(b)):
            return out
    except np.linalg.LinAlgError:
        pass
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a_full = xp.broadcast_to(a, (*batch, *a.shape[-2:]))
    b_full = xp.broadcast_to(b, (*batch, *b.shape[-2:]))
    infos = pivot_infos(a)  # torch factorises A once, before broadcasting: its batch names the failure
    if raise_errors:
        raise singular_error(a.shape, infos, name, "solve")
    out = xp.full(b_full.shape, np.nan, dtype=b.dtype)
    good = xp.asarray(np.broadcast_to(infos == 0, batch))
    out[good] = xp.linalg.solve(a_full[good], b_full[good])
    return out


class LinalgSolveEx(Op):
    """X = A^{-1} B (B as matrices); backward: g_B = A^{-T} g, g_A = -g_B Xᵀ."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any, name: str = "torch.linalg.solve", raise_errors: bool = True) -> Any:
        out = solve_arrays(a, b, name, raise_errors)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        A, X = ctx.saved_tensors
        grad_b = LinalgSolveEx.apply(A.mT, grad)
        grad_a = -matmul(grad_b, X.mT) if ctx.needs_input_grad[0] else None
        return grad_a, grad_b


def _solve_operands(A: Tensor, B: Tensor, left: bool) -> tuple[Tensor, bool]:
    """B as a batch of matrices (torch's vector case unsqueezed), after torch's shape checks."""
    check_matrix(A, "linalg.solve")
    if not isinstance(B, Tensor):
        raise TypeError(f"linalg_solve(): argument 'B' must be Tensor, not {type(B).__name__}")
    check_float(B, "linalg.solve")
    if A.dtype is not B.dtype:
        raise RuntimeError(
            "linalg.solve: Expected A and B to have the same dtype, but found A of type "
            f"{A.dtype.scalar_name} and B of type {B.dtype.scalar_name} instead"
        )
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    matrices = B.unsqueeze(-1) if vector else B
    n = A.shape[-1]
    rows, cols = matrices.shape[-2:]
    if (rows if left else cols) != n:
        equation = "AX = B" if left else "XA = B"
        raise RuntimeError(
            f"linalg.solve: Incompatible shapes of A and B for the equation {equation} "
            f"({n}x{n} and {rows}x{cols})"
        )
    try:
        np.broadcast_shapes(A.shape[:-2], matrices.shape[:-2])
    except ValueError:
        raise broadcast_error(tuple(matrices.shape[:-2]), tuple(A.shape[:-2])) from None  # torch's order
    return matrices, vector


def solve(A: Tensor, B: Tensor, *, left: bool = True, out: Tensor | None = None) -> Tensor:
    """X with A X = B (left) or X A = B; B a (batch of) vector(s) or matrices; batches broadcast."""
    return write_result(_solve(A, B, left, "torch.linalg.solve", True), out, "linalg.solve")


def _solve(A: Tensor, B: Tensor, left: bool, name: str, raise_errors: bool) -> Tensor:
    matrices, vector = _solve_operands(A, B, left)
    if left:
        X = LinalgSolveEx.apply(A, matrices, params=(name, raise_errors))
    else:  # X A = B  <=>  Aᵀ Xᵀ = Bᵀ
        X = LinalgSolveEx.apply(A.mT, matrices.mT, params=(name, raise_errors)).mT
    return X.squeeze(-1) if vector else X


def solve_ex(
    A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False, out: Any = None
) -> SolveExResult:
    """(result, info): info is getrf's per matrix of the batch (0: A invertible); NaN where it is not."""
    X = _solve(A, B, left, "torch.linalg.solve_ex", check_errors)
    xp = xp_of(A._data)
    if all_finite(X._data) or not all_finite(A._data):
        infos = np.zeros(A.shape[:-2], dtype=np.int32)
    else:  # the factorised matrix is A, or Aᵀ for X A = B
        infos = pivot_infos(A._data if left else A._data.swapaxes(-1, -2))
    info = wrap(xp.asarray(infos), device=A.device)
    return write_result(SolveExResult(X, info), out, "linalg.solve_ex")


# ---- matrix_power -------------------------------------------------------------------------------
def matrix_power(input: Tensor, n: int, *, out: Tensor | None = None) -> Tensor:
    """A^n by repeated squaring (matmuls, so its gradient is theirs); A^{-n} through inv."""
    A = input
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(
            f"linalg_matrix_power(): argument 'n' (position 2) must be int, not {type(n).__name__}"
        )
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg_matrix_power(): argument 'input' must be Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_power: The input tensor A must have at least 2 dimensions.")
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(
            "linalg.matrix_power: A must be batches of square matrices, but they are "
            f"{A.shape[-2]} by {A.shape[-1]} matrices"
        )
    return write_result(_power(A, int(n)), out, "linalg.matrix_power")


def _power(A: Tensor, n: int) -> Tensor:
    if n == 0:  # the identity, still connected to A (with a zero gradient) as torch's is
        return zeros_in_graph(A) + identity_like(A).to(A.dtype)
    square = inv(A) if n < 0 else A
    n = abs(n)
    result: Tensor | None = None
    while True:
        if n & 1:
            result = square if result is None else matmul(result, square)
        n >>= 1
        if not n:
            break
        square = matmul(square, square)
    return result.clone() if result is A else result  # A^1 is a copy, as torch's
