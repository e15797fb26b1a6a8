"""Op-spec rows for `antorcha/ops/contraction.py` (joined into `op_specs.SPECS`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import strategies as s
from hypothesis import strategies as st
from op_spec import ACCUMULATE, OpSpec
from strategies import Case, Shape, ShapeConfig, real

# public names of this area that are not ops, or are compared with torch elsewhere: name -> why
NOT_OPS: dict[str, str] = {}

# matmuls, traces, diagonals, sums, outer products, batched and broadcast ellipses, three operands
EINSUM_EQUATIONS = (
    "ij,jk->ik", "bij,bjk->bik", "i,i->", "i,j->ij", "ii->i", "ii", "ij->ji", "ij->", "ij", "ij,jk",
    "...ij,...jk->...ik", "bi,bj->bij", "ijk,jl->ilk", "ij,ij->ij", "ij,jk,kl->il", "i...->...", "ba,ab",
    "iij->j", "ab,b->a", "...i,...i", "bA,aB", " i j , j k -> i k ",
)
CDIST_PS = (2.0, 1.0, 0.0, 0.5, 1.5, 3.0, math.inf)


def _sizes(draw: Any, cfg: ShapeConfig, letters: Any) -> dict[str, int]:
    side = st.integers(cfg.min_side, cfg.max_side)
    return {letter: draw(side) for letter in sorted(letters)}


def _einsum_case(draw: Any, cfg: ShapeConfig) -> Case:
    """An equation, operands of matching shapes, and sometimes a size-1 dim that torch broadcasts."""
    equation = draw(st.sampled_from(EINSUM_EQUATIONS))
    terms = equation.replace(" ", "").split("->")[0].split(",")
    sizes = _sizes(draw, cfg, set("".join(terms)) - {"."})
    with_ellipsis = [t for t in terms if "..." in t]
    batch_cfg = ShapeConfig(0, 2, cfg.min_side, cfg.max_side)
    batches = iter(draw(s.broadcastable_shapes(batch_cfg, len(with_ellipsis))) if with_ellipsis else ())
    shapes = []
    for term in terms:
        shape: list[int] = []
        for letter in term.replace("...", "."):
            shape.extend(next(batches) if letter == "." else (sizes[letter],))
        shapes.append(shape)
    if len(terms) > 1 and draw(st.booleans()):  # a letter of size 1 in one operand broadcasts
        k = draw(st.integers(0, len(terms) - 1))
        singles = [i for i, letter in enumerate(terms[k]) if terms[k].count(letter) == 1 and letter != "."]
        if singles and "..." not in terms[k]:
            shapes[k][draw(st.sampled_from(singles))] = 1
    return s.make_case(draw, tuple(tuple(sh) for sh in shapes), (real,) * len(terms), equation=equation)


def _tensordot_case(draw: Any, cfg: ShapeConfig) -> Case:
    """a and b sharing `count` dims: contracted by dims=count (a's last, b's first) or by two lists."""
    a_shape = draw(s.shapes(cfg, min_dims=1))
    count = draw(st.integers(0, len(a_shape)))
    b_extra = draw(s.shapes(ShapeConfig(0, 2, cfg.min_side, cfg.max_side)))
    shared = a_shape[len(a_shape) - count :]
    if draw(st.booleans()):
        return s.make_case(draw, (a_shape, (*shared, *b_extra)), (real, real), dims=count)
    order = draw(st.permutations(range(count)))  # b holds the shared dims in another order, after its own
    b_shape = (*b_extra, *(shared[i] for i in order))
    dims_a = [len(a_shape) - count + i for i in order]
    dims_b = list(range(len(b_extra), len(b_shape)))
    return s.make_case(draw, (a_shape, b_shape), (real, real), dims=(dims_a, dims_b))


def _inner_case(draw: Any, cfg: ShapeConfig) -> Case:
    k = draw(st.integers(cfg.min_side, cfg.max_side))
    lead = s.shapes(ShapeConfig(0, 2, cfg.min_side, cfg.max_side))
    a_shape, b_shape = (*draw(lead), k), (*draw(lead), k)
    if draw(st.integers(0, 4)) == 0:  # a 0-dim operand scales the other
        a_shape = ()
    return s.make_case(draw, (a_shape, b_shape), (real, real))


def _two_any_shapes(draw: Any, cfg: ShapeConfig) -> Case:
    return s.make_case(draw, (draw(s.shapes(cfg)), draw(s.shapes(cfg))), (real, real))


def _blocks(draw: Any, cfg: ShapeConfig) -> Case:
    count = draw(st.integers(1, 3))
    block_shapes = tuple(draw(s.shapes(cfg, max_dims=2)) for _ in range(count))
    return s.make_case(draw, block_shapes, (real,) * count)


def _vectors(draw: Any, cfg: ShapeConfig) -> Case:
    count = draw(st.integers(1, 3))
    side = st.integers(cfg.min_side, cfg.max_side)
    return s.make_case(draw, tuple((draw(side),) for _ in range(count)), (real,) * count)


def _cross_case(draw: Any, cfg: ShapeConfig) -> Case:
    """Two shapes of one ndim with a dim of size 3; elsewhere one of them may be 1 (broadcast)."""
    shape = list(draw(s.shapes(cfg, min_dims=1)))
    dim = draw(st.integers(0, len(shape) - 1))
    shape[dim] = 3
    other = [n if i == dim or draw(st.booleans()) else 1 for i, n in enumerate(shape)]
    dim_kwarg = draw(st.sampled_from([dim, dim - len(shape)]))
    return s.make_case(draw, (tuple(shape), tuple(other)), (real, real), dim=dim_kwarg)


def _cdist_builder(ps: tuple[float, ...]) -> s.Builder:
    """x1 (B.., P, M), x2 (B.., R, M) with broadcasting batch dims, and a p."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        batch_cfg = ShapeConfig(0, 1, cfg.min_side, cfg.max_side)
        batch_1, batch_2 = draw(s.broadcastable_shapes(batch_cfg, 2))
        p_rows, r_rows, m = (draw(st.integers(cfg.min_side, cfg.max_side)) for _ in range(3))
        shapes = ((*batch_1, p_rows, m), (*batch_2, r_rows, m))
        return s.make_case(draw, shapes, (real, real), p=draw(st.sampled_from(ps)))

    return s.custom(draw_case)


def _well_separated(case: Case) -> bool:
    x1, x2 = case.arrays
    squared = ((x1[..., :, None, :] - x2[..., None, :, :]) ** 2).sum(-1)
    return bool(np.all(squared > 0.09))


def _cdist_zero_case(draw: Any, cfg: ShapeConfig) -> Case:
    side = st.integers(cfg.min_side, cfg.max_side)
    m = draw(side)
    p = draw(st.sampled_from(CDIST_PS))
    return s.make_case(draw, ((draw(side), m), (draw(side), m)), (real, real), p=p)


def _cdist_with_zero_distances(m: Any, x: Any, y: Any, p: float) -> Any:
    """Every row of x is also a row of the second set: distance 0, where torch's gradient is 0."""
    return m.cdist(x, m.cat([y, x], dim=-2), p=p)


def _einsum_rows() -> list[OpSpec]:
    def call(m: Any, *operands: Any, equation: str) -> Any:
        return m.einsum(equation, *operands)

    mm = s.matmul_pair(kinds="mm")
    return [
        OpSpec("einsum", s.custom(_einsum_case), call=call, covers=("antorcha.einsum",), tol=ACCUMULATE,
               second_order=True),
        OpSpec("einsum_list", mm, call=lambda m, x, y: m.einsum("ij,jk", [x, y]), tol=ACCUMULATE),
        OpSpec("einsum_sublist", mm, call=lambda m, x, y: m.einsum(x, [0, 1], y, [1, 2], [0, 2]),
               tol=ACCUMULATE),
        OpSpec("einsum_sublist_ellipsis", s.elementwise(real, min_dims=1),
               call=lambda m, x: m.einsum(x, [Ellipsis, 1], [1])),
        OpSpec("tensordot", s.custom(_tensordot_case),
               call=lambda m, a, b, dims: m.tensordot(a, b, dims=dims),
               covers=("antorcha.tensordot",), tol=ACCUMULATE),
        OpSpec("tensordot_default", s.custom(_tensordot_default_case), function="tensordot", tol=ACCUMULATE),
        OpSpec("inner", s.custom(_inner_case), method="inner", function="inner", tol=ACCUMULATE),
        OpSpec("vdot", s.matmul_pair(kinds="dot"), method="vdot", function="vdot", tol=ACCUMULATE),
    ]


def _tensordot_default_case(draw: Any, cfg: ShapeConfig) -> Case:
    """dims=2 by default: a's last two dims are b's first two."""
    a_shape = draw(s.shapes(cfg, min_dims=2))
    b_extra: Shape = draw(s.shapes(ShapeConfig(0, 1, cfg.min_side, cfg.max_side)))
    return s.make_case(draw, (a_shape, (*a_shape[-2:], *b_extra)), (real, real))


def rows() -> list[OpSpec]:
    return [
        *_einsum_rows(),
        # torch's kron views its result where a reshape is needed: it raises on transposed inputs
        OpSpec("kron", s.custom(_two_any_shapes), method="kron", function="kron", noncontiguous=False),
        OpSpec("block_diag", s.custom(_blocks), call=lambda m, *blocks: m.block_diag(*blocks),
               covers=("antorcha.block_diag",)),
        OpSpec("cartesian_prod", s.custom(_vectors), call=lambda m, *vectors: m.cartesian_prod(*vectors),
               covers=("antorcha.cartesian_prod",)),
        OpSpec("cross", s.custom(_cross_case), method="cross", function="cross", second_order=True),
        OpSpec("cdist", _cdist_builder(CDIST_PS), function="cdist", tol=ACCUMULATE),
        OpSpec("cdist_zero_distances", s.custom(_cdist_zero_case), call=_cdist_with_zero_distances,
               tol=ACCUMULATE),
        # |x1|^2 - 2 x1 x2 + |x2|^2 cancels: in float32 only well-separated rows agree with torch's rounding
        OpSpec("cdist_mm", _cdist_builder((2.0,)), tol=ACCUMULATE, valid=_well_separated,
               call=lambda m, x, y, p: m.cdist(x, y, p, compute_mode="use_mm_for_euclid_dist")),
    ]
