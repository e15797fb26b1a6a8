"""Norms: vector_norm (reduce.py's LinalgVectorNorm op), matrix_norm and norm, built from other ops.

matrix_norm has no backward of its own: 'fro' is a vector norm over two dims, 1/-1/inf/-inf are
abs-sum-amax compositions, 2/-2/'nuc' reduce the singular values (svdvals' gradient), as in torch.
"""

from __future__ import annotations

import math
from typing import Any

from antorcha import _dtypes
from antorcha._creation import zeros
from antorcha._tensor import Tensor
from antorcha.linalg._common import check_float, write_result
from antorcha.linalg._decompositions import svdvals
from antorcha.ops._common import normalize_dim, normalize_dims
from antorcha.ops.norms import LinalgVectorNorm
from antorcha.ops.reduce import _dims_arg

_MATRIX_ORDERS = ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)


def _with_dtype(x: Tensor, dtype: Any, name: str) -> Tensor:
    """torch's dtype=: the input converted first, never to a narrower float."""
    if dtype is None:
        return x
    target = _dtypes.as_dtype(dtype)
    if target.np.kind == "f" and x._data.dtype.kind == "f" and target.np.itemsize < x._data.dtype.itemsize:
        raise RuntimeError(
            f"{name}: the dtype of the input ({x.dtype.scalar_name}) should be convertible without "
            f"narrowing to the specified dtype ({target.scalar_name})"
        )
    return x.to(target)


def vector_norm(
    x: Tensor,
    ord: float = 2,
    dim: Any = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
    out: Tensor | None = None,
) -> Tensor:
    check_float(x, "linalg.vector_norm")
    if isinstance(ord, (str, bool)) or not isinstance(ord, (int, float)):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' must be Number, not {type(ord).__name__}")
    x = _with_dtype(x, dtype, "linalg.vector_norm")
    result = LinalgVectorNorm.apply(x, params=(float(ord), _dims_arg(x, dim), keepdim))
    return write_result(result, out, "linalg.vector_norm")


def _matrix_dims(A: Tensor, dim: Any) -> tuple[int, int]:
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if len(dims) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(str(d) for d in dims)}")
    first, second = (
        normalize_dims(dims, A.ndim) if dims[0] != dims[1] else (normalize_dim(dims[0], A.ndim),) * 2
    )
    if first == second:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dims[0]}, {dims[1]})")
    return first, second


def _singular_values_along(A: Tensor, rows: int, cols: int) -> Tensor:
    """svdvals of the matrices spanned by dims (rows, cols): (...others, k)."""
    others = [d for d in range(A.ndim) if d not in (rows, cols)]
    return svdvals(A.permute(*others, rows, cols))


def _largest(values: Tensor, dim: int, keepdim: bool = False) -> Tensor:
    """amax, except that over an empty dim a norm's largest value is 0 (torch's, outside the graph as
    torch's is; its amin raises)."""
    if values.shape[dim] == 0:
        return values.sum(dim, keepdim=keepdim).detach()
    return values.amax(dim, keepdim=keepdim)


def _restore(result: Tensor, dims: tuple[int, int], keepdim: bool) -> Tensor:
    if keepdim:
        for d in sorted(dims):
            result = result.unsqueeze(d)
    return result


def matrix_norm(
    A: Tensor,
    ord: Any = "fro",
    dim: Any = (-2, -1),
    keepdim: bool = False,
    *,
    dtype: Any = None,
    out: Tensor | None = None,
) -> Tensor:
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    check_float(A, "linalg.matrix_norm")
    if ord not in _MATRIX_ORDERS or isinstance(ord, bool):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    rows, cols = _matrix_dims(A, dim)
    A = _with_dtype(A, dtype, "linalg.matrix_norm")
    if ord == "fro":
        result = LinalgVectorNorm.apply(A, params=(2.0, (rows, cols), keepdim))
    elif ord in ("nuc", 2, -2):
        values = _singular_values_along(A, rows, cols)
        reduced = values.sum(-1) if ord == "nuc" else (_largest(values, -1) if ord == 2 else values.amin(-1))
        result = _restore(reduced, (rows, cols), keepdim)
    else:  # 1 / -1: the largest / smallest column sum; inf / -inf: row sum
        summed, extreme = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = A.abs().sum(summed, keepdim=True)
        result = _largest(sums, extreme, keepdim=True) if ord > 0 else sums.amin(extreme, keepdim=True)
        if not keepdim:
            result = result.squeeze((rows, cols))
    return write_result(result, out, "linalg.matrix_norm")


def norm(
    input: Tensor,
    ord: Any = None,
    dim: Any = None,
    keepdim: bool = False,
    *,
    out: Tensor | None = None,
    dtype: Any = None,
) -> Tensor:
    """A vector norm over one dim (or all, without ord), a matrix norm over two."""
    A = input
    if dim is not None:
        dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        if len(dims) == 1:
            result = vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
        elif len(dims) == 2:
            result = matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        else:
            raise RuntimeError(
                f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dims)}"
            )
    elif ord is None:
        result = vector_norm(A, 2, None, keepdim, dtype=dtype)
    elif A.ndim == 2:
        result = matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    elif A.ndim == 1 and not isinstance(ord, str):
        result = vector_norm(A, ord, None, keepdim, dtype=dtype)
    elif A.ndim == 1:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    else:
        raise RuntimeError(
            f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {A.ndim}D."
        )
    return write_result(result, out, "linalg.norm")


_COND_INVERSE_ORDERS = ("fro", "nuc", math.inf, -math.inf, 1, -1)


def _cond_square_error(A: Tensor, p: Any) -> RuntimeError:
    return RuntimeError(
        f"linalg.cond(ord={p}): A must be batches of square matrices, "
        f"but they are {A.shape[-2]} by {A.shape[-1]} matrices"
    )


def cond(A: Tensor, p: Any = None, *, out: Tensor | None = None) -> Tensor:
    """κ(A): σ₁/σₙ (p None or 2; -2 its inverse), else ‖A‖_p ‖A⁻¹‖_p (inf for a singular A)."""
    if A.ndim < 2:
        raise RuntimeError("linalg.cond: The input tensor A must have at least 2 dimensions.")
    check_float(A, "linalg.cond")
    if p in ("fro", "nuc") and A.shape[-1] != A.shape[-2]:
        raise _cond_square_error(A, p)
    if A.numel() == 0:  # torch: 0 for empty matrices, outside the graph
        return write_result(zeros(A.shape[:-2], dtype=A.dtype, device=A.device), out, "linalg.cond")
    if p is None or p in (2, -2):
        values = svdvals(A)
        largest, smallest = values[..., 0], values[..., -1]
        result = smallest / largest if p == -2 else largest / smallest
    elif p in _COND_INVERSE_ORDERS and not isinstance(p, bool):
        if A.shape[-1] != A.shape[-2]:
            raise _cond_square_error(A, p)
        from antorcha.linalg._inverse import inv_ex

        inverse, info = inv_ex(A)
        product = matrix_norm(A, p) * matrix_norm(inverse, p)
        result = product.masked_fill(info != 0, math.inf)
    else:
        raise RuntimeError(f"linalg.cond got an invalid norm type: {p}")
    return write_result(result, out, "linalg.cond")
