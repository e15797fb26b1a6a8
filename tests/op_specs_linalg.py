"""Op-spec rows for `antorcha/linalg/` (joined into `op_specs.SPECS`).

The flat spellings (torch.det, Tensor.inverse, torch.svd, ...) and the main `linalg.*` functions,
on well-conditioned batches of matrices: invertible (uniform + n I), symmetric positive-definite
(B Bᵀ + n I), symmetric with eigenvalues 0.8 apart and rectangular with singular values 1, 2, ...
(their vectors' gradients divide by those gaps). Eigen- and singular vectors are compared through
gauge-invariant functions of them only: V ∘ V and V diag(f(λ)) Vᵀ, since their signs are arbitrary.
`test_linalg.py` has the errors, the per-driver lstsq fields and the second-order checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st
from op_spec import OpSpec, Tol, Tolerances
from strategies import Case, ShapeConfig, seeds

# public names of this area that are not ops, or are compared with torch elsewhere: name -> why
NOT_OPS: dict[str, str] = {}

# LAPACK's float32 results (NumPy's OpenBLAS against torch's MKL/OpenBLAS build) differ in the last
# bits, amplified by the condition number: on these inputs at most ~1e-4 relative in float32.
LINALG = Tolerances(Tol(2e-3, 2e-4), Tol(1e-8, 1e-10))

MatrixSampler = Callable[[np.random.Generator, tuple, int, int], np.ndarray]


# ---- samplers: (rng, batch, rows, cols) -> float64 master ---------------------------------------
def invertible(rng: np.random.Generator, batch: tuple, n: int, _: int) -> np.ndarray:
    return rng.uniform(-1, 1, (*batch, n, n)) + n * np.eye(n)


def spd(rng: np.random.Generator, batch: tuple, n: int, _: int) -> np.ndarray:
    b = rng.uniform(-1, 1, (*batch, n, n))
    return b @ b.swapaxes(-1, -2) + n * np.eye(n)


def _orthogonal(rng: np.random.Generator, batch: tuple, n: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((*batch, n, n)))
    return q


def separated_symmetric(rng: np.random.Generator, batch: tuple, n: int, _: int) -> np.ndarray:
    values = np.arange(n) - n / 2 + rng.uniform(-0.1, 0.1, (*batch, n))
    q = _orthogonal(rng, batch, n)
    return (q * values[..., None, :]) @ q.swapaxes(-1, -2)


def separated_rectangular(rng: np.random.Generator, batch: tuple, m: int, n: int) -> np.ndarray:
    k = min(m, n)
    values = np.arange(k, 0, -1) + rng.uniform(-0.1, 0.1, (*batch, k))
    u = _orthogonal(rng, batch, m)[..., :, :k]
    v = _orthogonal(rng, batch, n)[..., :, :k]
    return (u * values[..., None, :]) @ v.swapaxes(-1, -2)


def cholesky_factor(rng: np.random.Generator, batch: tuple, n: int, _: int) -> np.ndarray:
    return np.linalg.cholesky(spd(rng, batch, n, n))


def full_rank(rng: np.random.Generator, batch: tuple, m: int, n: int) -> np.ndarray:
    """Rectangular, the identity's ones added to its diagonal (QR's R well away from singular)."""
    return rng.uniform(-0.5, 0.5, (*batch, m, n)) + 2 * np.eye(m, n)


# ---- builders --------------------------------------------------------------------------------
def matrices(
    sampler: MatrixSampler,
    square: bool = True,
    rhs: int | None = None,
    kwargs: Callable[[int, int], st.SearchStrategy[dict[str, Any]]] | None = None,
) -> Callable[[ShapeConfig], st.SearchStrategy[Case]]:
    """One batch of (rows, cols) matrices (plus a right-hand side of `rhs` columns, 0: a vector)."""

    @st.composite
    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        side = st.integers(max(cfg.min_side, 0), cfg.max_side)
        batch = tuple(draw(st.lists(side, max_size=max(cfg.max_dims - 2, 0))))
        rows = draw(side)
        cols = rows if square else draw(side)
        seed = draw(seeds())
        rng = np.random.default_rng(seed)
        arrays = [sampler(rng, batch, rows, cols)]
        if rhs is not None:
            arrays.append(rng.uniform(-1, 1, (*batch, rows) if rhs == 0 else (*batch, rows, rhs)))
        extra = draw(kwargs(rows, cols)) if kwargs else {}
        return Case(tuple(arrays), extra, seed)

    return lambda cfg: draw_case(cfg)


def _rhs_then_factor(cfg: ShapeConfig) -> st.SearchStrategy[Case]:
    """(B, L) for cholesky_solve: torch's order, the right-hand side first."""
    factor_first = matrices(cholesky_factor, rhs=2)(cfg)
    return factor_first.map(lambda case: Case(case.arrays[::-1], case.kwargs, case.seed))


def _reflectors(cfg: ShapeConfig) -> st.SearchStrategy[Case]:
    """(A, tau) for householder_product: A (m, n) with m >= n, tau (k,) with k <= n."""

    @st.composite
    def draw_case(draw: Any) -> Case:
        side = st.integers(max(cfg.min_side, 0), cfg.max_side)
        batch = tuple(draw(st.lists(side, max_size=max(cfg.max_dims - 2, 0))))
        n = draw(side)
        m, k = n + draw(st.integers(0, 2)), draw(st.integers(min(n, 1), n))  # k = 0: torch gives A no grad
        seed = draw(seeds())
        rng = np.random.default_rng(seed)
        return Case((rng.uniform(-1, 1, (*batch, m, n)), rng.uniform(0.5, 1.5, (*batch, k))), {}, seed)

    return draw_case()


def _choices(**options: list) -> Callable[[int, int], st.SearchStrategy[dict[str, Any]]]:
    return lambda rows, cols: st.fixed_dictionaries({k: st.sampled_from(v) for k, v in options.items()})


# ---- gauge-invariant views of eigen/singular vectors -----------------------------------------------
def eigh_invariants(result: Any) -> tuple:
    values, vectors = result
    return values, vectors * vectors, (vectors * values.exp().unsqueeze(-2)) @ vectors.mT


def svd_invariants(U: Any, S: Any, V: Any) -> tuple:
    """S, U diag(S w) Vᵀ and U ∘ U over the first k vectors (those past k span a null space)."""
    k = S.shape[-1]
    U, V = U[..., :, :k], V[..., :, :k]
    weights = (S * 0 + 1).cumsum(-1)  # 1, 2, ..., k
    return S, (U * (S * weights).unsqueeze(-2)) @ V.mT, U * U


def _linalg(name: str) -> Callable[..., Any]:
    return lambda m, *inputs, **kw: getattr(m.linalg, name)(*inputs, **kw)


def _flat_rows() -> list[OpSpec]:
    square = matrices(invertible)
    powers = matrices(invertible, kwargs=_choices(n=[-2, -1, 0, 1, 2, 3]))
    return [
        OpSpec("det", square, method="det", function="det", tol=LINALG, second_order=True),
        OpSpec("logdet", matrices(spd), method="logdet", function="logdet", tol=LINALG),
        OpSpec("slogdet", square, method="slogdet", function="slogdet", tol=LINALG),
        OpSpec("inverse", square, method="inverse", function="inverse", tol=LINALG, second_order=True),
        OpSpec(
            "cholesky",
            matrices(spd, kwargs=_choices(upper=[False, True])),
            method="cholesky",
            function="cholesky",
            tol=LINALG,
        ),
        OpSpec("qr", matrices(full_rank, square=False), method="qr", function="qr", tol=LINALG),
        OpSpec(
            "svd_function",
            matrices(separated_rectangular, square=False),
            call=lambda m, x, **kw: svd_invariants(*m.svd(x, **kw)),
            covers=("antorcha.svd",),
            tol=LINALG,
        ),
        OpSpec(
            "svd_method",
            matrices(separated_rectangular, square=False, kwargs=_choices(some=[True, False])),
            call=lambda m, x, **kw: svd_invariants(*x.svd(**kw)),
            covers=("Tensor.svd",),
            tol=LINALG,
        ),
        OpSpec(
            "pinverse",
            matrices(separated_rectangular, square=False),
            method="pinverse",
            function="pinverse",
            tol=LINALG,
        ),
        OpSpec(
            "cholesky_solve", _rhs_then_factor, method="cholesky_solve", function="cholesky_solve", tol=LINALG
        ),
        OpSpec(
            "cholesky_inverse",
            matrices(cholesky_factor),
            method="cholesky_inverse",
            function="cholesky_inverse",
            tol=LINALG,
        ),
        OpSpec("orgqr", _reflectors, method="orgqr", function="orgqr", tol=LINALG),
        OpSpec(
            "matrix_exp",
            matrices(full_rank),
            method="matrix_exp",
            function="matrix_exp",
            tol=LINALG,
            second_order=True,
        ),
        OpSpec("matrix_power", powers, method="matrix_power", function="matrix_power", tol=LINALG),
    ]


def _linalg_rows() -> list[OpSpec]:
    rect = matrices(separated_rectangular, square=False)
    return [
        OpSpec("linalg.inv", matrices(invertible), call=_linalg("inv"), tol=LINALG),
        OpSpec(
            "linalg.solve", matrices(invertible, rhs=2), call=_linalg("solve"), tol=LINALG, second_order=True
        ),
        OpSpec("linalg.solve_vector", matrices(invertible, rhs=0), call=_linalg("solve"), tol=LINALG),
        OpSpec(
            "linalg.cholesky",
            matrices(spd, kwargs=_choices(upper=[False, True])),
            call=_linalg("cholesky"),
            tol=LINALG,
            second_order=True,
        ),
        OpSpec("linalg.qr", matrices(full_rank, square=False), call=_linalg("qr"), tol=LINALG),
        OpSpec(
            "linalg.eigh",
            matrices(separated_symmetric, kwargs=_choices(UPLO=["L", "U"])),
            call=lambda m, x, **kw: eigh_invariants(m.linalg.eigh(x, **kw)),
            tol=LINALG,
            second_order=True,
        ),
        OpSpec("linalg.eigvalsh", matrices(separated_symmetric), call=_linalg("eigvalsh"), tol=LINALG),
        OpSpec(
            "linalg.svd",
            matrices(separated_rectangular, False, kwargs=_choices(full_matrices=[True, False])),
            call=lambda m, x, **kw: svd_invariants(*(lambda r: (r.U, r.S, r.Vh.mT))(m.linalg.svd(x, **kw))),
            tol=LINALG,
            second_order=True,
        ),
        OpSpec("linalg.svdvals", rect, call=_linalg("svdvals"), tol=LINALG),
        OpSpec("linalg.pinv", rect, call=_linalg("pinv"), tol=LINALG, second_order=True),
        OpSpec(
            "linalg.pinv_hermitian",
            matrices(separated_symmetric),
            call=lambda m, x: m.linalg.pinv(x + 0.3, hermitian=True),
            tol=LINALG,
        ),
        OpSpec(
            "linalg.lstsq",
            matrices(separated_rectangular, False, rhs=2),
            call=lambda m, a, b: m.linalg.lstsq(a, b, driver="gelsd"),
            tol=LINALG,
        ),
        OpSpec(
            "linalg.matrix_norm",
            matrices(
                separated_rectangular,
                False,
                kwargs=_choices(
                    ord=["fro", "nuc", 2, -2, 1, -1, float("inf"), -float("inf")], keepdim=[False, True]
                ),
            ),
            call=_linalg("matrix_norm"),
            tol=LINALG,
        ),
        OpSpec("linalg.slogdet", matrices(invertible), call=_linalg("slogdet"), tol=LINALG),
        OpSpec(
            "linalg.solve_triangular",
            matrices(invertible, rhs=2, kwargs=_choices(upper=[False, True], unitriangular=[False, True])),
            call=_linalg("solve_triangular"),
            tol=LINALG,
        ),
        OpSpec("linalg.lu_factor", matrices(full_rank, square=False), call=_linalg("lu_factor"), tol=LINALG),
        OpSpec(
            "linalg.lu", matrices(full_rank, square=False), call=_linalg("lu"), tol=LINALG, second_order=True
        ),
        OpSpec("linalg.householder_product", _reflectors, call=_linalg("householder_product"), tol=LINALG),
        OpSpec("linalg.cond", matrices(separated_rectangular, False), call=_linalg("cond"), tol=LINALG),
    ]


def rows() -> list[OpSpec]:
    return [*_flat_rows(), *_linalg_rows()]
