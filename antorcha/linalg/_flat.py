"""torch's flat spellings of linalg (torch.det, Tensor.inverse, torch.svd, ...), declared in the registry.

Each is the linalg function under torch's older names and conventions: torch.svd returns V (not
Vh) and takes some=; torch.qr takes some=; torch.logdet is NaN for a negative determinant.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from antorcha._creation import zeros
from antorcha._registry import register
from antorcha._tensor import Tensor
from antorcha.linalg._common import check_matrix, write_result
from antorcha.linalg._decompositions import LinalgQr, LinalgSvd, _cholesky, svdvals
from antorcha.linalg._inverse import det as linalg_det
from antorcha.linalg._inverse import inv, matrix_power
from antorcha.linalg._inverse import slogdet as linalg_slogdet
from antorcha.linalg._least_squares import pinv
from antorcha.linalg._matrix_functions import matrix_exp as linalg_matrix_exp
from antorcha.linalg._triangular import cholesky_inverse, cholesky_solve, householder_product
from antorcha.ops.elementwise import where

register()(matrix_power)
register()(cholesky_solve)
register()(cholesky_inverse)


class SvdResult(NamedTuple):
    U: Tensor
    S: Tensor
    V: Tensor


class QrResult(NamedTuple):
    Q: Tensor
    R: Tensor


@register()
def det(input: Tensor) -> Tensor:
    return linalg_det(input)


@register()
def slogdet(input: Tensor) -> Any:
    return linalg_slogdet(input)


@register()
def logdet(input: Tensor) -> Tensor:
    """log det(A): NaN where the determinant is negative, -inf where it is 0."""
    sign, logabsdet = linalg_slogdet(input)
    return where(sign < 0, float("nan"), logabsdet)


@register()
def inverse(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    return inv(input, out=out)


@register()
def cholesky(input: Tensor, upper: bool = False, *, out: Tensor | None = None) -> Tensor:
    return write_result(_cholesky(input, upper, "cholesky", True), out, "cholesky")


@register()
def qr(input: Tensor, some: bool = True, *, out: Any = None) -> QrResult:
    check_matrix(input, "linalg.qr", square=False)
    result = QrResult(*LinalgQr.apply(input, params=("reduced" if some else "complete",)))
    return write_result(result, out, "qr")


@register()
def svd(input: Tensor, some: bool = True, compute_uv: bool = True, *, out: Any = None) -> SvdResult:
    """(U, S, V) with A = U diag(S) Vᵀ; without compute_uv, U and V are zero (m, m) and (n, n) matrices."""
    check_matrix(input, "linalg.svd", square=False)
    if not compute_uv:
        m, n = input.shape[-2:]
        batch = tuple(input.shape[:-2])
        U = zeros((*batch, m, m), dtype=input.dtype, device=input.device)
        V = zeros((*batch, n, n), dtype=input.dtype, device=input.device)
        return write_result(SvdResult(U, svdvals(input), V), out, "svd")
    U, S, Vh = LinalgSvd.apply(input, params=(not some,))
    return write_result(SvdResult(U, S, Vh.mT), out, "svd")


@register()
def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    return pinv(input, rcond)


@register()
def matrix_exp(input: Tensor) -> Tensor:
    return linalg_matrix_exp(input)


@register()
def orgqr(input: Tensor, input2: Tensor) -> Tensor:
    """torch.orgqr: householder_product under LAPACK's name."""
    return householder_product(input, input2)
