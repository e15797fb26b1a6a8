"""torch.linalg: norms, inverses, decompositions and solvers, with gradients.

Every function works on batches of matrices (the leading dims) in float32 and float64, checks its
input as torch does (a singular or non-positive-definite matrix raises `LinAlgError`, a
RuntimeError), and is differentiable wherever torch's is: the factorisations (cholesky, qr, eigh,
svd), inv, det, slogdet, solve and pinv each have one backward formula (their Op); everything
else (norms, lstsq, matrix_power, multi_dot, cross, ...) is composed from ops. torch's flat
spellings (torch.det, Tensor.inverse, torch.svd, ...) are declared in `_flat.py`.
"""

from __future__ import annotations

from antorcha.linalg import _flat  # noqa: F401 - declares torch.det, Tensor.inverse, torch.svd, ...
from antorcha.linalg._common import LinAlgError
from antorcha.linalg._decompositions import cholesky, cholesky_ex, eigh, eigvalsh, qr, svd, svdvals
from antorcha.linalg._inverse import det, inv, inv_ex, matrix_power, slogdet, solve, solve_ex
from antorcha.linalg._least_squares import lstsq, matrix_rank, pinv
from antorcha.linalg._lu import lu, lu_factor, lu_factor_ex, lu_solve
from antorcha.linalg._matrix_functions import matrix_exp, tensorinv, tensorsolve
from antorcha.linalg._norms import cond, matrix_norm, norm, vector_norm
from antorcha.linalg._products import cross, diagonal, matmul, multi_dot, vander, vecdot
from antorcha.linalg._triangular import householder_product, solve_triangular

__all__ = [
    "LinAlgError",
    "cholesky",
    "cholesky_ex",
    "cond",
    "cross",
    "det",
    "diagonal",
    "eigh",
    "eigvalsh",
    "householder_product",
    "inv",
    "inv_ex",
    "lstsq",
    "lu",
    "lu_factor",
    "lu_factor_ex",
    "lu_solve",
    "matmul",
    "matrix_exp",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "solve_ex",
    "solve_triangular",
    "svd",
    "svdvals",
    "tensorinv",
    "tensorsolve",
    "vander",
    "vecdot",
    "vector_norm",
]
