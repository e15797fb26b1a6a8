"""Op-spec rows for `antorcha/ops/sorting.py` and `antorcha/ops/scan.py` (joined into `op_specs.SPECS`).

Rows whose gradient (or index output) depends on which of several equal elements torch picks
reject ties with `valid=`, except where torch defines the pick: stable sorts, cummax/cummin
(the latest extremum), mode (the smallest most frequent value, at its last occurrence), and the
whole-tensor median (the gradient shared evenly). `test_sorting.py` has what the table can't say.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import strategies as s
from hypothesis import strategies as st
from op_spec import ACCUMULATE, OpSpec
from strategies import Case, ShapeConfig, real, small_ints_as_float

# public names of this area that are not ops, or are compared with torch elsewhere: name -> why
NOT_OPS: dict[str, str] = {}

INTERPOLATIONS = ["linear", "lower", "higher", "midpoint", "nearest"]


# ---- domains and validity -------------------------------------------------------------------
def with_nans(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Reals with about a third of them NaN."""
    return np.where(rng.random(shape) < 0.3, np.nan, real(rng, shape))


def with_zeros(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Reals away from 0, with about a third of them exactly 0 (cumprod's other gradient path)."""
    return np.where(rng.random(shape) < 0.3, 0.0, s.nonzero(rng, shape))


def _small_ints_with_nans(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return np.where(rng.random(shape) < 0.3, np.nan, small_ints_as_float(rng, shape))


def no_ties(case: Case) -> bool:
    """All non-NaN values of the first input distinct: torch's pick among equals is unspecified."""
    x = case.arrays[0]
    finite = x[~np.isnan(x)]
    return np.unique(finite).size == finite.size


def _forward_only(name: str, args: s.Builder, call: Any = None, **kw: Any) -> OpSpec:
    return OpSpec(name, args, call=call, differentiable=False, **kw)


R = s.reduction
ALONG = {"dim": "int", "keepdim": False, "whole": False}  # one int dim, required (cumprod, ...)


# ---- builders ------------------------------------------------------------------------------
def _topk_args(draw: Any, cfg: ShapeConfig) -> Case:
    shape = draw(s.shapes(cfg))
    dim = draw(s.dim_of(len(shape)))
    size = shape[dim] if shape else 1
    return s.make_case(draw, (shape,), (real,), k=draw(st.integers(0, size)), dim=dim,
                       largest=draw(st.booleans()))


def _kthvalue_args(draw: Any, cfg: ShapeConfig) -> Case:
    shape = draw(s.shapes(cfg))
    dim = draw(s.dim_of(len(shape)))
    size = shape[dim] if shape else 1
    return s.make_case(draw, (shape,), (real,), k=draw(st.integers(1, max(size, 1))), dim=dim,
                       keepdim=draw(st.booleans()))


def _quantile_args(sampler: s.Sampler) -> s.Builder:
    """x, and q as a float keyword or as a 0-D/1-D tensor input (whose gradient torch computes)."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        shape = draw(s.shapes(cfg))
        kwargs: dict[str, Any] = {"interpolation": draw(st.sampled_from(INTERPOLATIONS)),
                                  "keepdim": draw(st.booleans())}
        dim = draw(st.one_of(st.none(), s.dim_of(len(shape))))
        if dim is not None:
            kwargs["dim"] = dim
        seed = draw(s.seeds())
        rng = np.random.default_rng(seed)
        x = np.asarray(sampler(rng, shape))
        kind = draw(st.sampled_from(["float", "0-d", "1-d"]))
        if kind == "float":
            return Case((x,), {"q": draw(st.sampled_from([0.0, 0.3, 0.5, 0.75, 1.0]))} | kwargs, seed)
        q_shape = () if kind == "0-d" else (draw(st.integers(1, 3)),)
        return Case((x, rng.uniform(0.0, 1.0, q_shape)), kwargs, seed)

    return s.custom(draw_case)


def _unique_kwargs(consecutive: bool) -> Any:
    def draw_kwargs(shape: tuple) -> st.SearchStrategy[dict[str, Any]]:
        dims = st.one_of(st.none(), s.dim_of(len(shape))) if shape else st.none()
        options = {"return_inverse": st.booleans(), "return_counts": st.booleans(), "dim": dims}
        if not consecutive:
            options["sorted"] = st.booleans()
        return st.fixed_dictionaries(options)

    return draw_kwargs


def _small_ints(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Integer-valued floats in a narrow range, so that equal slices occur."""
    return rng.integers(0, 2, shape).astype(np.float64)


def _bincount_args(draw: Any, cfg: ShapeConfig) -> Case:
    length = draw(st.integers(cfg.min_side, 6))
    seed = draw(s.seeds())
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 5, (length,)).astype(np.int64)
    kwargs = {"minlength": draw(st.sampled_from([0, 3, 8]))}
    if draw(st.booleans()):
        return Case((values, real(rng, (length,))), kwargs, seed)
    return Case((values,), kwargs, seed)


def _histc_kwargs(shape: tuple) -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from([{}, {"bins": 4}, {"bins": 3, "min": -1.0, "max": 1.0},
                            {"bins": 5, "min": 0.5, "max": 0.5}, {"bins": 1, "min": -3, "max": 3}])


def _search_args(kind: str) -> s.Builder:
    """Sorted boundaries (1-D, or rows matching the values' leading dims) and values, drawn from
    small integers so that values equal to boundaries (left against right) occur."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        values_shape = draw(s.shapes(cfg))
        rows = kind == "searchsorted" and values_shape and draw(st.booleans())
        size = draw(st.integers(cfg.min_side, 5))
        boundaries_shape = (*values_shape[:-1], size) if rows else (size,)
        seed = draw(s.seeds())
        rng = np.random.default_rng(seed)
        boundaries = np.sort(rng.integers(-3, 4, boundaries_shape), axis=-1).astype(np.float64)
        values = rng.integers(-4, 5, values_shape).astype(np.float64)
        kwargs: dict[str, Any] = {"out_int32": draw(st.booleans()), "right": draw(st.booleans())}
        if kind == "bucketize":
            return Case((values, boundaries), kwargs, seed)
        if draw(st.booleans()):  # torch's side= instead of right=
            kwargs["side"] = "right" if kwargs.pop("right") else "left"
        if draw(st.booleans()):  # the same boundaries, shuffled, with the order that sorts them
            order = np.argsort(rng.random(boundaries_shape), axis=-1)
            shuffled = np.take_along_axis(boundaries, order, axis=-1)
            kwargs["sorter"] = np.argsort(shuffled, axis=-1, kind="stable").astype(np.int64)
            boundaries = shuffled
        return Case((boundaries, values), kwargs, seed)

    return s.custom(draw_case)


# ---- rows --------------------------------------------------------------------------------------
def _sort_rows() -> list[OpSpec]:
    sort_kw = {"descending": [False, True], "stable": [False, True]}
    return [
        OpSpec("sort", R(real, dim="int", keepdim=False, **sort_kw), method="sort", function="sort",
               valid=no_ties, second_order=True),
        OpSpec("sort_ties_stable", R(small_ints_as_float, dim="int", keepdim=False, descending=[False, True],
               stable=[True]), call=lambda m, x, **kw: m.sort(x, **kw)),
        OpSpec("sort_nan", R(with_nans, dim="int", keepdim=False, descending=[False, True], stable=[True]),
               call=lambda m, x, **kw: x.sort(**kw)),
        _forward_only("argsort", R(real, dim="int", keepdim=False, descending=[False, True]),
                      method="argsort", function="argsort", valid=no_ties),
        _forward_only("argsort_ties_stable", R(small_ints_as_float, dim="int", keepdim=False,
                      descending=[False, True], stable=[True]), call=lambda m, x, **kw: x.argsort(**kw)),
        OpSpec("msort", s.elementwise(real), method="msort", function="msort", valid=no_ties),
        OpSpec("topk", s.custom(_topk_args), method="topk", function="topk", valid=no_ties),
        # torch leaves the order of sorted=False open: compare the values sorted
        OpSpec("topk_unsorted", s.custom(_topk_args), valid=no_ties,
               call=lambda m, x, **kw: x.topk(**kw, sorted=False).values.sort(dim=kw["dim"]).values),
        OpSpec("kthvalue", s.custom(_kthvalue_args), method="kthvalue", function="kthvalue", valid=no_ties),
    ]


def _median_rows() -> list[OpSpec]:
    by_dim = {"dim": "int", "whole": False}
    return [
        OpSpec("median", R(real, **by_dim), method="median", function="median", valid=no_ties),
        # the whole-tensor median shares its gradient among equal elements: ties are defined
        OpSpec("median_all_ties", s.elementwise(small_ints_as_float), call=lambda m, x: m.median(x)),
        OpSpec("median_nan", R(with_nans, dim="int"), call=lambda m, x, **kw: x.median(**kw), valid=no_ties),
        OpSpec("nanmedian", R(with_nans, dim="int"), method="nanmedian", function="nanmedian", valid=no_ties),
        OpSpec("nanmedian_all_ties", s.elementwise(_small_ints_with_nans), call=lambda m, x: x.nanmedian()),
        OpSpec("mode", R(small_ints_as_float, **by_dim), method="mode", function="mode"),
        OpSpec("mode_default_dim", s.elementwise(small_ints_as_float), call=lambda m, x: m.mode(x)),
        OpSpec("quantile", _quantile_args(real), method="quantile", function="quantile", valid=no_ties),
        OpSpec("quantile_nan", _quantile_args(with_nans), call=lambda m, x, *q, **kw: m.quantile(x, *q, **kw),
               valid=no_ties),
        OpSpec("nanquantile", _quantile_args(with_nans), method="nanquantile", function="nanquantile",
               valid=no_ties),
    ]


def _counting_rows() -> list[OpSpec]:
    acc = ACCUMULATE
    return [
        OpSpec("nansum", R(with_nans), method="nansum", function="nansum", tol=acc),
        _forward_only("nansum_int", R(s.ints), call=lambda m, x, **kw: x.nansum(**kw)),
        OpSpec("nanmean", R(with_nans), method="nanmean", function="nanmean", tol=acc),
        _forward_only("count_nonzero", R(with_zeros, keepdim=False), method="count_nonzero",
                      function="count_nonzero"),
        _forward_only("unique", s.with_kwargs(_small_ints, _unique_kwargs(False)), method="unique",
                      function="unique"),
        _forward_only("unique_int", s.with_kwargs(lambda rng, shape: rng.integers(0, 3, shape),
                      _unique_kwargs(False)), call=lambda m, x, **kw: m.unique(x, **kw)),
        _forward_only("unique_consecutive", s.with_kwargs(_small_ints, _unique_kwargs(True)),
                      method="unique_consecutive", function="unique_consecutive"),
        _forward_only("bincount", s.custom(_bincount_args), method="bincount", function="bincount"),
        _forward_only("histc", s.with_kwargs(real, _histc_kwargs), method="histc", function="histc"),
        _forward_only("searchsorted", _search_args("searchsorted"), function="searchsorted"),
        _forward_only("bucketize", _search_args("bucketize"), function="bucketize"),
        _forward_only("bucketize_scalar", _search_args("bucketize"),
                      call=lambda m, x, b, **kw: m.bucketize(0.5, b, **kw)),
    ]


def _scan_rows() -> list[OpSpec]:
    acc = ACCUMULATE
    return [
        OpSpec("cumprod", R(s.nonzero, **ALONG), method="cumprod", function="cumprod", tol=acc,
               second_order=True),
        OpSpec("cumprod_with_zeros", R(with_zeros, **ALONG), call=lambda m, x, **kw: x.cumprod(**kw), tol=acc,
               second_order=True),
        _forward_only("cumprod_int", R(s.ints, **ALONG), call=lambda m, x, **kw: m.cumprod(x, **kw)),
        OpSpec("cummax", R(real, **ALONG), method="cummax", function="cummax", valid=no_ties),
        OpSpec("cummin", R(real, **ALONG), method="cummin", function="cummin", valid=no_ties),
        # torch picks the latest of equal extrema, and a NaN stays the extremum once seen
        OpSpec("cummax_ties", R(small_ints_as_float, **ALONG), call=lambda m, x, **kw: x.cummax(**kw)),
        OpSpec("cummin_ties", R(small_ints_as_float, **ALONG), call=lambda m, x, **kw: m.cummin(x, **kw)),
        OpSpec("cummax_nan", R(with_nans, **ALONG), call=lambda m, x, **kw: (x.cummax(**kw), x.cummin(**kw))),
        OpSpec("logcumsumexp", R(real, **ALONG), method="logcumsumexp", function="logcumsumexp", tol=acc,
               second_order=True),
    ]


def rows() -> list[OpSpec]:
    return [*_sort_rows(), *_median_rows(), *_counting_rows(), *_scan_rows()]
