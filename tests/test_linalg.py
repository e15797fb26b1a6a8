"""antorcha.linalg against torch.linalg: values and gradients (random cotangents), float32 and float64,
batched, on well-conditioned inputs (tests/linalg_helpers.py); the errors are in test_linalg_errors.py.

Eigenvectors and singular vectors are defined up to sign, so their gradients are compared only
through gauge-invariant functions of them (V diag(f(λ)) Vᵀ, V ∘ V, U diag(S) Vh, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from linalg_helpers import (
    CASES,
    DTYPES,
    TOLERANCE,
    compare,
    general,
    invertible,
    separated_rectangular,
    separated_symmetric,
    spd,
)

import antorcha

SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


# ---- inverses, determinants, solves --------------------------------------------------------------
@CASES
@pytest.mark.parametrize("n", [1, 3, 4])
def test_inv_det_slogdet(dtype: str, batch: tuple, n: int) -> None:
    rng = np.random.default_rng(n)
    A = invertible(rng, batch, n)
    compare(lambda m, a: m.linalg.inv(a), [A], dtype)
    compare(lambda m, a: m.linalg.det(a), [A], dtype)
    compare(lambda m, a: m.linalg.slogdet(a), [A * np.where(np.arange(n) == 0, -1, 1)], dtype)  # sign -1
    compare(lambda m, a: (m.det(a), a.det(), m.inverse(a), a.inverse(), a.logdet(), m.slogdet(a)), [A], dtype)
    compare(lambda m, a: m.linalg.inv_ex(a), [A], dtype)


@CASES
def test_solve_shapes(dtype: str, batch: tuple) -> None:
    rng = np.random.default_rng(1)
    A = invertible(rng, batch, 3)
    compare(lambda m, a, b: m.linalg.solve(a, b), [A, rng.uniform(-1, 1, (*batch, 3, 2))], dtype)
    compare(lambda m, a, b: m.linalg.solve(a, b), [A, rng.uniform(-1, 1, (3,))], dtype)  # a vector
    compare(lambda m, a, b: m.linalg.solve(a, b), [A, rng.uniform(-1, 1, (*batch, 3))], dtype)  # vectors
    compare(
        lambda m, a, b: m.linalg.solve(a, b), [A, rng.uniform(-1, 1, (4, *batch, 3, 2))], dtype
    )  # B batch
    compare(lambda m, a, b: m.linalg.solve(a, b, left=False), [A, rng.uniform(-1, 1, (*batch, 2, 3))], dtype)
    compare(lambda m, a, b: m.linalg.solve_ex(a, b), [A, rng.uniform(-1, 1, (*batch, 3, 2))], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [-3, -1, 0, 1, 2, 3, 5])
def test_matrix_power(dtype: str, n: int) -> None:
    A = invertible(np.random.default_rng(2), (2,), 3) / 3
    compare(lambda m, a: (m.linalg.matrix_power(a, n), m.matrix_power(a, n), a.matrix_power(n)), [A], dtype)


# ---- factorisations ------------------------------------------------------------------------------
@CASES
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(dtype: str, batch: tuple, upper: bool) -> None:
    A = spd(np.random.default_rng(3), batch, 4)
    compare(lambda m, a: m.linalg.cholesky(a, upper=upper), [A], dtype)
    compare(lambda m, a: (m.cholesky(a, upper), a.cholesky(upper=upper)), [A], dtype)
    compare(lambda m, a: m.linalg.cholesky_ex(a, upper=upper), [A], dtype)


@CASES
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (1, 1)])
def test_qr(dtype: str, batch: tuple, shape: tuple) -> None:
    A = general(np.random.default_rng(4), batch, *shape) + np.eye(*shape)
    compare(lambda m, a: m.linalg.qr(a), [A], dtype)
    compare(lambda m, a: (m.qr(a), a.qr(some=True)), [A], dtype)
    if shape[0] <= shape[1]:
        compare(lambda m, a: m.linalg.qr(a, mode="complete"), [A], dtype)
    with torch.no_grad():
        t_r = torch.linalg.qr(torch.tensor(A), mode="r")
    a_r = antorcha.linalg.qr(antorcha.tensor(A), mode="r")
    assert tuple(a_r.Q.shape) == tuple(t_r.Q.shape) == (0,)
    np.testing.assert_allclose(np.asarray(a_r.R), t_r.R.numpy(), 1e-10, 1e-12)


def test_qr_without_q_refuses_backward_as_torch_does() -> None:
    for mode, shape in (("r", (3, 3)), ("complete", (4, 2))):
        a = antorcha.randn(*shape, dtype=antorcha.float64, requires_grad=True)
        t = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
        with pytest.raises(RuntimeError) as t_error:
            torch.linalg.qr(t, mode=mode).R.sum().backward()
        with pytest.raises(RuntimeError) as a_error:
            antorcha.linalg.qr(a, mode=mode).R.sum().backward()
        assert str(a_error.value) == str(t_error.value)


def _eigh_invariants(m: Any, a: Any, UPLO: str = "L") -> tuple:
    values, vectors = m.linalg.eigh(a, UPLO=UPLO)
    weighted = (vectors * values.exp().unsqueeze(-2)) @ vectors.mT  # V diag(e^λ) Vᵀ
    return values, vectors * vectors, weighted


@CASES
@pytest.mark.parametrize("n", [1, 2, 4])
def test_eigh(dtype: str, batch: tuple, n: int) -> None:
    A = separated_symmetric(np.random.default_rng(5), batch, n)
    compare(_eigh_invariants, [A], dtype)
    compare(lambda m, a: _eigh_invariants(m, a, "U"), [A], dtype)
    compare(lambda m, a: m.linalg.eigvalsh(a), [A], dtype)
    compare(lambda m, a: m.linalg.eigvalsh(a, UPLO="U"), [A], dtype)


def _svd_invariants(m: Any, a: Any, full_matrices: bool) -> tuple:
    U, S, Vh = m.linalg.svd(a, full_matrices=full_matrices)
    k = S.shape[-1]
    U, Vh = U[..., :, :k], Vh[..., :k, :]
    weights = m.arange(1, k + 1, dtype=a.dtype)
    return S, (U * (S * weights).unsqueeze(-2)) @ Vh, U * U, Vh * Vh


@CASES
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
@pytest.mark.parametrize("full_matrices", [False, True])
def test_svd(dtype: str, batch: tuple, shape: tuple, full_matrices: bool) -> None:
    A = separated_rectangular(np.random.default_rng(6), batch, *shape)
    compare(lambda m, a: _svd_invariants(m, a, full_matrices), [A], dtype)
    compare(lambda m, a: m.linalg.svdvals(a), [A], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
def test_flat_svd_returns_v(dtype: str, shape: tuple) -> None:
    A = separated_rectangular(np.random.default_rng(7), (2,), *shape)

    def invariants(m: Any, a: Any) -> tuple:
        U, S, V = m.svd(a)
        _, S2, V2 = a.svd(some=False)
        V2 = V2[..., :, : S2.shape[-1]]  # the columns past k span a null space: no basis of it is torch's
        return S, (U * S.unsqueeze(-2)) @ V.mT, V2 * V2, S2

    compare(invariants, [A], dtype)
    compare(lambda m, a: m.svd(a, compute_uv=False), [A], dtype)


# ---- pinv, lstsq, rank ---------------------------------------------------------------------------
@CASES
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
def test_pinv(dtype: str, batch: tuple, shape: tuple) -> None:
    A = separated_rectangular(np.random.default_rng(8), batch, *shape)
    compare(lambda m, a: (m.linalg.pinv(a), m.pinverse(a), a.pinverse()), [A], dtype)
    symmetric = separated_symmetric(np.random.default_rng(9), batch, 4) + 0.3
    compare(lambda m, a: m.linalg.pinv(a, hermitian=True), [symmetric], dtype)


def test_pinv_drops_small_singular_values_as_torch() -> None:
    A = separated_rectangular(np.random.default_rng(10), (2,), 4, 3)
    u, s, vh = np.linalg.svd(A, full_matrices=False)
    s[..., -1] = 1e-17  # below every cutoff tried here: dropped
    A = (u * s[..., None, :]) @ vh
    for kwargs in ({}, {"rtol": 1e-6}, {"atol": 1e-6}, {"atol": 0.5, "rtol": 0.1}, {"atol": 1.5}):
        compare(lambda m, a, kw=kwargs: m.linalg.pinv(a, **kw), [A], "float64", tol=(1e-7, 1e-9))
    compare(lambda m, a: m.linalg.pinv(a, 1e-6), [A], "float64", tol=(1e-7, 1e-9))
    for kwargs in ({}, {"tol": 1e-6}, {"atol": 1e-12}, {"rtol": 0.4}, {"hermitian": False}):
        a_rank = antorcha.linalg.matrix_rank(antorcha.tensor(A), **kwargs)
        t_rank = torch.linalg.matrix_rank(torch.tensor(A), **kwargs)
        assert a_rank.dtype is antorcha.int64 and a_rank.tolist() == t_rank.tolist(), kwargs


@CASES
@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (3, 5)])
@pytest.mark.parametrize("driver", [None, "gelsy", "gelsd", "gelss", "gels"])
def test_lstsq(dtype: str, batch: tuple, shape: tuple, driver: str | None) -> None:
    if driver == "gels" and shape[0] < shape[1]:
        return  # gels assumes full column rank: torch's underdetermined answer is not min-norm there
    rng = np.random.default_rng(11)
    A = separated_rectangular(rng, batch, *shape)
    B = rng.uniform(-1, 1, (*batch, shape[0], 2))
    compare(lambda m, a, b: m.linalg.lstsq(a, b, driver=driver), [A, B], dtype)
    compare(lambda m, a, b: m.linalg.lstsq(a, b[..., 0], driver=driver), [A, B], dtype)  # a vector b


# ---- norms ------------------------------------------------------------------------------------------
@CASES
@pytest.mark.parametrize("ord", [2, 1, 3, 0.5, 0, float("inf"), -float("inf"), -1.5])
def test_vector_norm(dtype: str, batch: tuple, ord: float) -> None:
    x = general(np.random.default_rng(12), batch, 3, 4) + 0.05  # no exact zeros, no ties
    compare(lambda m, a: m.linalg.vector_norm(a, ord), [x], dtype)
    compare(lambda m, a: m.linalg.vector_norm(a, ord, dim=-1, keepdim=True), [x], dtype)
    compare(lambda m, a: m.linalg.vector_norm(a, ord=ord, dim=(-2, -1)), [x], dtype)


@CASES
@pytest.mark.parametrize("ord", ["fro", "nuc", 1, -1, 2, -2, float("inf"), -float("inf")])
def test_matrix_norm(dtype: str, batch: tuple, ord: Any) -> None:
    A = separated_rectangular(np.random.default_rng(13), batch, 4, 3)
    compare(lambda m, a: m.linalg.matrix_norm(a, ord), [A], dtype)
    compare(lambda m, a: m.linalg.matrix_norm(a, ord, keepdim=True), [A], dtype)
    compare(lambda m, a: m.linalg.norm(a, ord, dim=(-1, -2)), [A], dtype)
    if not batch:
        compare(lambda m, a: m.linalg.norm(a, ord), [A], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_norm_forms(dtype: str) -> None:
    x = general(np.random.default_rng(14), (2,), 3, 4) + 0.05
    compare(lambda m, a: m.linalg.norm(a), [x], dtype)
    compare(lambda m, a: m.linalg.norm(a, dim=1), [x], dtype)
    compare(lambda m, a: m.linalg.norm(a[0, 0], 3), [x], dtype)
    compare(lambda m, a: m.linalg.norm(a, 3, dim=-1, keepdim=True), [x], dtype)
    compare(lambda m, a: m.linalg.matrix_norm(a, "nuc", dim=(0, 2), keepdim=True), [x], dtype)
    compare(lambda m, a: m.linalg.vector_norm(a, dtype=m.float64), [x], dtype)


# ---- products ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_products(dtype: str) -> None:
    rng = np.random.default_rng(15)
    compare(
        lambda m, a, b: m.linalg.cross(a, b),
        [rng.uniform(-1, 1, (2, 4, 3)), rng.uniform(-1, 1, (1, 4, 3))],
        dtype,
    )
    compare(
        lambda m, a, b: m.linalg.cross(a, b, dim=0),
        [rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (3, 2))],
        dtype,
    )
    compare(
        lambda m, a, b: m.linalg.vecdot(a, b),
        [rng.uniform(-1, 1, (2, 1, 3)), rng.uniform(-1, 1, (4, 3))],
        dtype,
    )
    compare(
        lambda m, a, b: m.linalg.vecdot(a, b, dim=0),
        [rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (3, 1))],
        dtype,
    )
    chain = [rng.uniform(-1, 1, s) for s in ((5,), (5, 2), (2, 6), (6, 3), (3,))]
    compare(lambda m, *ts: m.linalg.multi_dot(ts), chain, dtype)
    compare(lambda m, *ts: m.linalg.multi_dot(ts[1:4]), chain, dtype)
    compare(lambda m, a, b: m.linalg.multi_dot([a, b]), chain[:2], dtype)
    compare(lambda m, a, b: m.linalg.matmul(a, b), chain[1:3], dtype)
    x = rng.uniform(-1, 1, (2, 3, 4))
    for kwargs in ({}, {"offset": 1}, {"offset": -2}, {"offset": 5}, {"dim1": 0, "dim2": 2, "offset": -1}):
        compare(lambda m, a, kw=kwargs: m.linalg.diagonal(a, **kw), [x], dtype)


def test_det_of_singular_matrix_and_its_gradient() -> None:
    """The gradient of det at a singular matrix is its cofactor matrix. torch's first-order backward
    returns 0 there (its LU path); its create_graph path gives the cofactors, and so does antorcha."""
    singular = np.stack([SINGULAR, np.diag([2.0, 0.0])])
    grads = []
    for m in (antorcha, torch):
        a = m.tensor(singular, requires_grad=True)
        (grad,) = m.autograd.grad(m.linalg.det(a).sum(), a, create_graph=m is torch)
        grads.append(np.asarray(grad.detach()))
    np.testing.assert_allclose(grads[0], grads[1], 1e-10, 1e-12)
    np.testing.assert_allclose(grads[0][1], np.diag([0.0, 2.0]), 1e-10, 1e-12)
    assert antorcha.linalg.det(antorcha.tensor(SINGULAR)).item() == 0


@pytest.mark.parametrize(
    "call,arrays",
    [
        (lambda m, a: m.linalg.inv(a), [invertible(np.random.default_rng(0), (2,), 3)]),
        (lambda m, a: m.linalg.det(a), [invertible(np.random.default_rng(0), (2,), 3)]),
        (lambda m, a: m.linalg.slogdet(a).logabsdet, [invertible(np.random.default_rng(0), (), 3)]),
        (lambda m, a: m.linalg.cholesky(a), [spd(np.random.default_rng(0), (2,), 3)]),
        (lambda m, a: _eigh_invariants(m, a)[2], [separated_symmetric(np.random.default_rng(0), (), 3)]),
        (
            lambda m, a: _svd_invariants(m, a, False)[1],
            [separated_rectangular(np.random.default_rng(0), (), 4, 3)],
        ),
        (lambda m, a: m.linalg.qr(a).Q, [separated_rectangular(np.random.default_rng(0), (), 4, 3)]),
        (lambda m, a: m.linalg.qr(a).R, [separated_rectangular(np.random.default_rng(0), (), 3, 4)]),
        (lambda m, a: m.linalg.pinv(a), [separated_rectangular(np.random.default_rng(0), (), 4, 3)]),
        (lambda m, a: m.linalg.lu_factor(a).LU, [general(np.random.default_rng(0), (2,), 3, 5)]),
        (lambda m, a: m.linalg.lu(a).L, [general(np.random.default_rng(0), (), 5, 3)]),
        (
            lambda m, a, b: m.linalg.solve(a, b),
            [invertible(np.random.default_rng(0), (2,), 3), np.ones((3, 2))],
        ),
    ],
)
def test_second_order_gradients(call: Callable, arrays: list) -> None:
    """grad(create_graph=True), then the gradient of a weighted sum of those gradients."""
    grads = {}
    for m in (antorcha, torch):
        rng = np.random.default_rng(1)
        leaves = [m.tensor(a, requires_grad=True) for a in arrays]
        out = call(m, *leaves)
        cotangent = m.tensor(rng.standard_normal(tuple(out.shape)))
        first = m.autograd.grad([out], leaves, [cotangent], create_graph=True)
        weights = [m.tensor(rng.standard_normal(tuple(g.shape))) for g in first]
        second = m.autograd.grad(list(first), leaves, weights)
        grads[m] = [np.asarray(g.detach()) for g in (*first, *second)]
    for a, t in zip(grads[antorcha], grads[torch]):
        np.testing.assert_allclose(a, t, 1e-8, 1e-10)


# ---- triangular systems, cond, vander ---------------------------------------------------------
@CASES
@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unitriangular", [False, True])
def test_solve_triangular(dtype: str, batch: tuple, upper: bool, left: bool, unitriangular: bool) -> None:
    rng = np.random.default_rng(16)
    A = invertible(rng, batch, 3)  # its other triangle is not read, and gets no gradient
    B = rng.uniform(-1, 1, (*batch, 3, 2) if left else (*batch, 2, 3))
    kwargs = {"upper": upper, "left": left, "unitriangular": unitriangular}
    compare(lambda m, a, b: m.linalg.solve_triangular(a, b, **kwargs), [A, B], dtype)
    compare(lambda m, a, b: m.linalg.solve_triangular(a, b, **kwargs), [A, B[None].repeat(2, 0)], dtype)


@CASES
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_and_inverse(dtype: str, batch: tuple, upper: bool) -> None:
    rng = np.random.default_rng(17)
    factor = np.linalg.cholesky(spd(rng, batch, 3))
    factor = factor.swapaxes(-1, -2) if upper else factor
    B = rng.uniform(-1, 1, (*batch, 3, 2))
    compare(
        lambda m, b, f: (m.cholesky_solve(b, f, upper), b.cholesky_solve(f, upper=upper)), [B, factor], dtype
    )
    compare(lambda m, f: (m.cholesky_inverse(f, upper), f.cholesky_inverse(upper=upper)), [factor], dtype)


def _torch_cond(m: Any, a: Any, p: Any) -> Any:
    """torch.linalg.cond, except where its own backward fails (the ‖A‖ ‖A⁻¹‖ orders: it modifies
    inv's output in place) its definition, whose gradient is what antorcha's must be."""
    if m is torch and p not in (None, 2, -2):
        return torch.linalg.matrix_norm(a, p) * torch.linalg.matrix_norm(torch.linalg.inv(a), p)
    return m.linalg.cond(a, p)


@CASES
@pytest.mark.parametrize("p", [None, 2, -2, "fro", "nuc", 1, -1, float("inf"), -float("inf")])
def test_cond(dtype: str, batch: tuple, p: Any) -> None:
    A = separated_rectangular(np.random.default_rng(18), batch, 3, 3)
    compare(lambda m, a: _torch_cond(m, a, p), [A], dtype)
    with torch.no_grad():
        expected = torch.linalg.cond(torch.tensor(A.astype(dtype)), p).numpy()
    np.testing.assert_allclose(
        np.asarray(antorcha.linalg.cond(antorcha.tensor(A.astype(dtype)), p)), expected, *TOLERANCE[dtype]
    )
    if p in (None, 2, -2):
        tall = separated_rectangular(np.random.default_rng(19), batch, 4, 2)
        compare(lambda m, a: m.linalg.cond(a, p), [tall], dtype)


def test_cond_of_singular_matrices() -> None:
    for p in (None, 1, "fro"):
        a = antorcha.linalg.cond(antorcha.zeros(3, 3), p)
        t = torch.linalg.cond(torch.zeros(3, 3), p)
        np.testing.assert_array_equal(np.asarray(a), t.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_vander(dtype: str) -> None:
    x = np.array([[0.0, 0.5, -1.5], [2.0, 1.0, -0.3]])
    compare(lambda m, a: m.linalg.vander(a), [x], dtype)
    compare(lambda m, a: m.linalg.vander(a, N=5), [x], dtype)
    compare(lambda m, a: m.linalg.vander(a[0, 1], N=3), [x], dtype)


# ---- matrix functions ---------------------------------------------------------------------------
@CASES
@pytest.mark.parametrize("scale", [0.1, 1.0, 3.0])
def test_matrix_exp(dtype: str, batch: tuple, scale: float) -> None:
    A = general(np.random.default_rng(20), batch, 4) * scale
    compare(lambda m, a: (m.linalg.matrix_exp(a), m.matrix_exp(a), a.matrix_exp()), [A], dtype)


def test_matrix_exp_second_order() -> None:
    A = general(np.random.default_rng(21), (2,), 3)
    grads = {}
    for m in (antorcha, torch):
        a = m.tensor(A, requires_grad=True)
        (first,) = m.autograd.grad(m.linalg.matrix_exp(a).sin().sum(), a, create_graph=True)
        (second,) = m.autograd.grad((first * first).sum(), a)
        grads[m] = (np.asarray(first.detach()), np.asarray(second))
    for a_grad, t_grad in zip(grads[antorcha], grads[torch]):
        np.testing.assert_allclose(a_grad, t_grad, 1e-9, 1e-11)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tensorinv_and_tensorsolve(dtype: str) -> None:
    rng = np.random.default_rng(22)
    A = invertible(rng, (), 6).reshape(2, 3, 6)
    compare(lambda m, a: m.linalg.tensorinv(a, ind=2), [A], dtype)
    compare(lambda m, a: m.linalg.tensorinv(a.reshape(6, 2, 3), ind=1), [A], dtype)
    compare(lambda m, a, b: m.linalg.tensorsolve(a, b), [A, rng.uniform(-1, 1, (2, 3))], dtype)
    moved = np.moveaxis(A, 2, 0)  # (6, 2, 3): dims=(0,) moves its first dim back to the end
    compare(lambda m, a, b: m.linalg.tensorsolve(a, b, dims=(0,)), [moved, rng.uniform(-1, 1, (2, 3))], dtype)


# ---- LU -------------------------------------------------------------------------------------------------
@CASES
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (1, 1)])
def test_lu_factor_and_lu(dtype: str, batch: tuple, shape: tuple) -> None:
    A = general(np.random.default_rng(23), batch, *shape)
    compare(lambda m, a: m.linalg.lu_factor(a), [A], dtype)
    compare(lambda m, a: m.linalg.lu_factor_ex(a), [A], dtype)
    compare(lambda m, a: m.linalg.lu(a), [A], dtype)


@CASES
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_lu_solve(dtype: str, batch: tuple, left: bool, adjoint: bool) -> None:
    rng = np.random.default_rng(24)
    A = invertible(rng, batch, 3)
    B = rng.uniform(-1, 1, (*batch, 3, 2) if left else (*batch, 2, 3))

    def call(m: Any, a: Any, b: Any) -> Any:
        LU, pivots = m.linalg.lu_factor(a)
        return m.linalg.lu_solve(LU, pivots, b, left=left, adjoint=adjoint)

    compare(call, [A, B], dtype)


@CASES
@pytest.mark.parametrize("shape,k", [((4, 3), 2), ((5, 3), 3), ((3, 3), 3), ((3, 2), 0)])
def test_householder_product(dtype: str, batch: tuple, shape: tuple, k: int) -> None:
    rng = np.random.default_rng(25)
    A, tau = general(rng, batch, *shape), rng.uniform(0.5, 1.5, (*batch, k))
    compare(lambda m, a, t: (m.linalg.householder_product(a, t), m.orgqr(a, t), a.orgqr(t)), [A, tau], dtype)
