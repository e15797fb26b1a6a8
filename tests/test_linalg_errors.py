"""antorcha.linalg's errors against torch's: singular and non-positive-definite inputs raise
LinAlgError (a RuntimeError) with torch's message, naming the batch element; bad shapes, dtypes
and arguments get torch's exception class and message; the _ex variants report failures in info.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from linalg_helpers import same_error

import antorcha

SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])
BATCH_SINGULAR = np.stack([np.eye(2), SINGULAR])
NOT_PD = np.array([[1.0, 2.0], [2.0, 1.0]])


@pytest.mark.parametrize(
    "call,arrays",
    [
        (lambda m, a: m.linalg.inv(a), [SINGULAR]),
        (lambda m, a: m.linalg.inv(a), [BATCH_SINGULAR]),
        (lambda m, a: m.inverse(a), [SINGULAR]),
        (lambda m, a: m.linalg.inv_ex(a, check_errors=True), [BATCH_SINGULAR]),
        (lambda m, a: m.linalg.matrix_power(a, -1), [SINGULAR]),
        (lambda m, a: m.linalg.solve(a, m.ones(2, dtype=m.float64)), [SINGULAR]),
        (lambda m, a: m.linalg.solve(a, m.ones(2, dtype=m.float64)), [BATCH_SINGULAR]),
        (lambda m, a: m.linalg.cholesky(a), [NOT_PD]),
        (lambda m, a: m.linalg.cholesky(a), [-np.eye(3)]),
        (lambda m, a: m.linalg.cholesky(a), [np.stack([np.eye(2), NOT_PD])]),
        (lambda m, a: m.cholesky(a), [NOT_PD]),
    ],
)
def test_singular_and_indefinite_inputs_raise_linalg_error(call: Callable, arrays: list) -> None:
    same_error(call, arrays)


RECT = np.ones((2, 3))


@pytest.mark.parametrize(
    "call,arrays",
    [
        (lambda m, a: m.linalg.inv(a), [RECT]),
        (lambda m, a: m.linalg.det(a), [RECT]),
        (lambda m, a: m.linalg.slogdet(a), [RECT]),
        (lambda m, a: m.linalg.cholesky(a), [RECT]),
        (lambda m, a: m.linalg.eigh(a), [RECT]),
        (lambda m, a: m.linalg.matrix_power(a, 2), [np.ones((3, 2))]),
        (lambda m, a: m.linalg.solve(a, a), [RECT]),
        (lambda m, a: m.linalg.inv(a), [np.ones(3)]),
        (lambda m, a: m.linalg.svd(a), [np.ones(3)]),
        (lambda m, a: m.linalg.qr(a), [np.ones(3)]),
        (lambda m, a: m.linalg.inv(a.long()), [np.eye(2)]),
        (lambda m, a: m.linalg.svd(a.long()), [np.eye(2)]),
        (lambda m, a: m.linalg.vector_norm(a.long()), [np.eye(2)]),
        (lambda m, a: m.linalg.inv(a.half()), [np.eye(2)]),
        (lambda m, a: m.linalg.solve(a, m.ones(2)), [np.eye(3)]),
        (lambda m, a: m.linalg.solve(a, m.ones(2, 4, dtype=m.float64)), [np.eye(3)]),
        (lambda m, a: m.linalg.solve(a, m.ones(3, dtype=m.float32)), [np.eye(3)]),
        (lambda m, a: m.linalg.solve(a, m.ones(3, dtype=m.float64), left=False), [np.eye(3)]),
        (lambda m, a: m.linalg.solve(a, m.ones(4, 3, 1, dtype=m.float64)), [np.ones((2, 3, 3))]),
        (lambda m, a: m.linalg.eigh(a, UPLO="X"), [np.eye(2)]),
        (lambda m, a: m.linalg.qr(a, mode="x"), [np.eye(2)]),
        (lambda m, a: m.linalg.matrix_norm(a, ord=3), [np.eye(2)]),
        (lambda m, a: m.linalg.matrix_norm(a, ord="abc"), [np.eye(2)]),
        (lambda m, a: m.linalg.matrix_norm(a), [np.ones(3)]),
        (lambda m, a: m.linalg.matrix_norm(a, dim=(0,)), [np.ones((3, 3, 3))]),
        (lambda m, a: m.linalg.matrix_norm(a, dim=(0, 0)), [np.ones((3, 3, 3))]),
        (lambda m, a: m.linalg.norm(a, ord=2), [np.ones((2, 3, 3))]),
        (lambda m, a: m.linalg.norm(a, dim=(0, 1, 2)), [np.ones((2, 3, 3))]),
        (lambda m, a: m.linalg.vector_norm(a, dtype=m.float32), [np.ones(3)]),
        (lambda m, a: m.linalg.lstsq(a, a[:2]), [np.ones((3, 3))]),
        (lambda m, a: m.linalg.lstsq(a, a[0, :2]), [np.ones((3, 3))]),
        (lambda m, a: m.linalg.lstsq(a, a, driver="bogus"), [np.ones((3, 3))]),
        (lambda m, a: m.linalg.lstsq(a[0], a[0]), [np.ones((3, 3))]),
        (lambda m, a: m.linalg.lstsq(a, a.float()), [np.ones((3, 3))]),
        (lambda m, a: m.linalg.pinv(a.long()), [np.ones((3, 3))]),
        (lambda m, a: m.linalg.matrix_rank(a.long()), [np.ones((3, 3))]),
        (lambda m, a: m.linalg.multi_dot([a]), [np.eye(3)]),
        (lambda m, a: m.linalg.multi_dot([a, a[0, :2]]), [np.eye(3)]),
        (lambda m, a: m.linalg.multi_dot([a, a[0], a]), [np.eye(3)]),
        (lambda m, a: m.linalg.multi_dot([a, a.float()]), [np.eye(3)]),
        (lambda m, a: m.linalg.cross(a, a), [np.ones((2, 4))]),
        (lambda m, a: m.linalg.cross(a, a[0]), [np.ones((2, 3))]),
        (lambda m, a: m.linalg.vecdot(a, a.float()), [np.ones(3)]),
        (lambda m, a: m.linalg.vecdot(a.long(), a.long()), [np.ones(3)]),
        (lambda m, a: m.linalg.vecdot(a, a[:2]), [np.ones(3)]),
        (lambda m, a: m.linalg.diagonal(a, dim1=0, dim2=0), [np.ones((3, 3))]),
        (lambda m, a: m.linalg.matrix_power(a, 2.0), [np.eye(3)]),
    ],
)
def test_bad_input_gets_torchs_error(call: Callable, arrays: list) -> None:
    same_error(call, arrays)


def test_linalg_error_is_a_runtime_error() -> None:
    assert issubclass(antorcha.linalg.LinAlgError, RuntimeError)


def test_ex_variants_report_failures_in_info() -> None:
    for m in (torch, antorcha):
        inverse, info = m.linalg.inv_ex(m.tensor(BATCH_SINGULAR))
        assert info.tolist() == [0, 2] and str(info.dtype).endswith("int32")
        np.testing.assert_allclose(np.asarray(inverse[0]), np.eye(2))
        _, info = m.linalg.cholesky_ex(m.tensor(np.stack([np.eye(2), NOT_PD])))
        assert info.tolist() == [0, 2]


def test_solve_ex_reports_singular_systems_in_info() -> None:
    for m in (torch, antorcha):
        result, info = m.linalg.solve_ex(m.tensor(BATCH_SINGULAR), m.ones(3, 1, 2, 1, dtype=m.float64))
        assert info.tolist() == [0, 2] and tuple(result.shape) == (3, 2, 2, 1)
        np.testing.assert_allclose(np.asarray(result[:, 0]), np.ones((3, 2, 1)))


@pytest.mark.parametrize(
    "call,arrays",
    [
        (lambda m, a: m.linalg.solve_triangular(a, a[0], upper=True), [np.eye(3)]),
        (lambda m, a: m.linalg.solve_triangular(a, a[:2], upper=True), [np.eye(3)]),
        (lambda m, a: m.linalg.solve_triangular(a, a[:2].mT, upper=True, left=False), [np.eye(3)]),
        (lambda m, a: m.linalg.solve_triangular(a[:2], a, upper=True), [np.eye(3)]),
        (lambda m, a: m.cholesky_solve(a[0], a), [np.eye(3)]),
        (lambda m, a: m.cholesky_solve(a, a.float()), [np.eye(3)]),
        (lambda m, a: m.cholesky_solve(a[:, :2].mT, a), [np.eye(3)]),
        (lambda m, a: m.cholesky_inverse(a[:2]), [np.eye(3)]),
        (lambda m, a: m.linalg.cond(a, 3), [np.eye(3)]),
        (lambda m, a: m.linalg.cond(a[:2], "fro"), [np.eye(3)]),
        (lambda m, a: m.linalg.vander(a, N=1), [np.ones(3)]),
    ],
)
def test_triangular_and_cond_errors(call: Callable, arrays: list) -> None:
    same_error(call, arrays)


@pytest.mark.parametrize(
    "call,arrays",
    [
        (lambda m, a: m.linalg.matrix_exp(a), [np.ones((2, 3))]),
        (lambda m, a: m.linalg.matrix_exp(a.long()), [np.ones((3, 3))]),
        (lambda m, a: m.linalg.tensorinv(a, ind=1), [np.ones((2, 3, 4))]),
        (lambda m, a: m.linalg.tensorinv(a, ind=0), [np.ones((2, 2))]),
        (lambda m, a: m.linalg.tensorsolve(a, a[0, 0]), [np.ones((2, 3, 6))]),
    ],
)
def test_matrix_function_errors(call: Callable, arrays: list) -> None:
    same_error(call, arrays)


@pytest.mark.parametrize(
    "call,arrays",
    [
        (lambda m, a: m.linalg.lu_factor(a), [SINGULAR]),
        (lambda m, a: m.linalg.lu_factor_ex(a, check_errors=True), [SINGULAR]),
        (lambda m, a: m.linalg.lu_factor(a, pivot=False), [np.eye(2)]),
        (lambda m, a: m.linalg.lu(a, pivot=False), [np.eye(2)]),
        (lambda m, a: m.linalg.lu_factor(a), [np.ones(3)]),
        (lambda m, a: m.linalg.lu_factor(a.long()), [np.eye(2)]),
        (lambda m, a: m.linalg.lu_solve(*m.linalg.lu_factor(a), a[0]), [np.eye(3)]),
        (lambda m, a: m.linalg.lu_solve(*m.linalg.lu_factor(a), a[:2, :2]), [np.eye(3)]),
        (lambda m, a: m.linalg.lu_solve(*m.linalg.lu_factor(a[:, :2]), a), [np.eye(3)]),
    ],
)
def test_lu_errors(call: Callable, arrays: list) -> None:
    same_error(call, arrays)


def test_lu_of_singular_matrices_reports_info() -> None:
    for m in (torch, antorcha):
        _, pivots, info = m.linalg.lu_factor_ex(m.tensor(BATCH_SINGULAR))
        assert info.tolist() == [0, 2] and pivots.tolist() == [[1, 2], [2, 2]]
        P, L, U = m.linalg.lu(m.tensor(SINGULAR))
        np.testing.assert_allclose(np.asarray(P @ L @ U), SINGULAR)


@pytest.mark.parametrize(
    "call,arrays",
    [
        (lambda m, a: m.linalg.householder_product(a.mT, a[0, :2]), [np.ones((4, 3))]),
        (lambda m, a: m.linalg.householder_product(a, a[:, 0]), [np.ones((4, 3))]),
        (lambda m, a: m.linalg.householder_product(a[None].expand(2, 4, 3), a[:, :2]), [np.ones((4, 3))]),
        (lambda m, a: m.linalg.householder_product(a, a[0, :2].float()), [np.ones((4, 3))]),
        (lambda m, a: m.linalg.householder_product(a.long(), a[0, :2].long()), [np.ones((4, 3))]),
        (lambda m, a: m.linalg.householder_product(a[0], a[0, :2]), [np.ones((4, 3))]),
    ],
)
def test_householder_product_errors(call: Callable, arrays: list) -> None:
    same_error(call, arrays)
