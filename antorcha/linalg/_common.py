"""What every linalg function shares: torch's argument checks and errors, and small matrix helpers."""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha._creation import eye
from antorcha._device import quiet_float_errors, xp_of
from antorcha._tensor import Tensor
from antorcha.autograd.function import Op


class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: a singular or non-positive-definite input (a RuntimeError)."""


def check_matrix(A: Any, name: str, square: bool = True, arg: str = "A") -> None:
    """torch's checks, in its order: a Tensor, at least 2-D, square (when asked), float32/float64."""
    if not isinstance(A, Tensor):
        raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor {arg} must have at least 2 dimensions.")
    if square and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(
            f"{name}: A must be batches of square matrices, "
            f"but they are {A.shape[-2]} by {A.shape[-1]} matrices"
        )
    check_float(A, name)


def check_float(A: Tensor, name: str) -> None:
    kind = A._data.dtype.kind
    if kind != "f":
        raise RuntimeError(
            f"{name}: Expected a floating point or complex tensor as input. Got {A.dtype.scalar_name}"
        )
    if A._data.dtype.itemsize < 4:
        raise RuntimeError(f"{name}: Low precision dtypes not supported. Got {A.dtype.scalar_name}")


def batch_prefix(shape: tuple, flat_index: int) -> str:
    """torch names the failing matrix of a batch by its flat index: '(Batch element 3): '."""
    return f"(Batch element {flat_index}): " if len(shape) > 2 else ""


def first_zero_pivot(matrix: np.ndarray) -> int:
    """LAPACK getrf's `info` for one matrix: the 1-based index of the first exactly zero pivot, or 0.

    Gaussian elimination with partial pivoting, as getrf does; run only to word an error.
    """
    lu = np.array(matrix, dtype=np.float64)
    n = lu.shape[0]
    for k in range(n):
        pivot_row = k + int(np.argmax(np.abs(lu[k:, k])))
        if lu[pivot_row, k] == 0:
            return k + 1
        lu[[k, pivot_row]] = lu[[pivot_row, k]]
        lu[k + 1 :, k:] -= np.outer(lu[k + 1 :, k] / lu[k, k], lu[k, k:])
    return 0


def pivot_infos(a: Any) -> np.ndarray:
    """getrf's `info` for every matrix of a batch (batch shape, int32), computed on the host."""
    host = np.asarray(a.get() if hasattr(a, "get") else a)
    flat = host.reshape(-1, *host.shape[-2:])
    infos = np.array([first_zero_pivot(m) for m in flat], dtype=np.int32)
    return infos.reshape(host.shape[:-2])


def singular_error(shape: tuple, infos: np.ndarray, name: str, what: str) -> LinAlgError:
    flat_index = int(np.flatnonzero(infos.reshape(-1))[0]) if infos.size else 0
    prefix = batch_prefix(shape, flat_index)
    if what == "solve":
        return LinAlgError(f"{name}: {prefix}The solver failed because the input matrix is singular.")
    pivot = int(infos.reshape(-1)[flat_index])
    return LinAlgError(
        f"{name}: {prefix}The diagonal element {pivot} is zero, the inversion could not be completed "
        "because the input matrix is singular."
    )


def all_finite(a: Any) -> bool:
    return bool(xp_of(a).isfinite(a).all())


_NON_FINITE_SVD = "The algorithm failed to converge because the input matrix contained non-finite values."


def guarded_svd(a: Any, compute_uv: bool = True, full_matrices: bool = True) -> Any:
    """xp.linalg.svd that never hangs, with torch's results on non-finite matrices.

    LAPACK's gesdd can loop forever on a matrix holding an infinity, so such matrices never reach
    it: torch raises LinAlgError for a NaN (naming the batch element) and gives NaN factors for
    an infinity, which is what they get here (the SVD runs on zeros in their place).
    """
    xp = xp_of(a)
    finite = xp.isfinite(a).all(axis=(-2, -1))  # (...)
    if bool(finite.all()):
        with quiet_float_errors():  # float32 singular values past float32's max become inf, as torch's
            return xp.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    has_nan = xp.isnan(a).any(axis=(-2, -1)).reshape(-1)
    if bool(has_nan.any()):
        first = int(xp.flatnonzero(has_nan)[0])
        raise LinAlgError(f"linalg.svd: {batch_prefix(a.shape, first)}{_NON_FINITE_SVD}")
    bad = ~finite[..., None, None]  # (..., 1, 1)
    with quiet_float_errors():
        factors = xp.linalg.svd(xp.where(bad, 0, a), full_matrices=full_matrices, compute_uv=compute_uv)
    if not compute_uv:
        return xp.where(bad[..., 0], xp.nan, factors)
    u, s, vh = factors
    return xp.where(bad, xp.nan, u), xp.where(bad[..., 0], xp.nan, s), xp.where(bad, xp.nan, vh)


# ---- Tensor-level helpers used inside backward formulas (compositions: differentiable again) ----
def identity_like(A: Tensor, n: int | None = None) -> Tensor:
    size = A.shape[-1] if n is None else n
    return eye(size, dtype=A.dtype, device=A.device)


class FormallyDependent(Op):
    """A value that requires grad because its input does, while no gradient reaches the input:
    torch's results with an undefined derivative (householder_product with no reflectors)."""

    @staticmethod
    def forward(ctx: Any, a: Any, value: Any) -> Any:
        return value

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> None:
        return None


def zeros_in_graph(A: Tensor) -> Tensor:
    """Zeros of A's shape that still depend on A (a zero gradient, as torch's results that ignore A)."""
    return A.masked_fill(identity_like(A, 1) > 0, 0)


def diag_embed(v: Tensor) -> Tensor:
    """(..., n) -> (..., n, n) with v on the diagonal."""
    return v.unsqueeze(-1) * identity_like(v)


def diagonal_of(X: Tensor) -> Tensor:
    """(..., n, n) -> (..., n): the main diagonal."""
    return (X * identity_like(X)).sum(-1)


def off_diagonal_inverse_gaps(values: Tensor) -> Tensor:
    """F[..., i, j] = 1 / (values_j - values_i) off the diagonal, 0 on it (eigh's and svd's kernel)."""
    gaps = values.unsqueeze(-2) - values.unsqueeze(-1)  # (..., n, n): values_j - values_i
    on_diagonal = identity_like(values) > 0
    safe = gaps.masked_fill(on_diagonal, 1.0)
    return (1.0 / safe).masked_fill(on_diagonal, 0.0)


def write_result(result: Any, out: Any, name: str) -> Any:
    """`out=`: the result copied into the caller's tensor(s), with torch's semantics."""
    if out is None:
        return result
    from antorcha.ops._common import write_out

    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{name}(): argument 'out' must be tuple of {len(result)} Tensors")
        written = [write_out(r, o, name) for r, o in zip(result, out)]
        return type(result)(*written) if hasattr(result, "_fields") else tuple(written)
    return write_out(result, out, name)
