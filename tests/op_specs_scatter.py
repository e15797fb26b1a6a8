"""Op-spec rows for `ops/scatter.py` and `ops/index_write.py` (joined into `op_specs.SPECS`).

Index tensors are drawn in range. Where torch's result would depend on which of two writes to one
position lands last (scatter, index_copy, index_put without accumulate), each position is written at
most once; the accumulating ops (scatter_add, scatter_reduce, index_add, take's gradient) draw
repeated indices on purpose. amax/amin draw integer-valued floats so that ties happen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import strategies as s
from hypothesis import strategies as st
from op_spec import ACCUMULATE, OpSpec
from op_specs_shape import _inplace
from strategies import Case, ShapeConfig, real

# public names of this area that are not ops, or are compared with torch elsewhere: name -> why
NOT_OPS: dict[str, str] = {}

Sampler = s.Sampler


# ---- index builders ------------------------------------------------------------------------------
def _distinct_along(rng: np.random.Generator, shape: tuple, dim: int, size: int) -> np.ndarray:
    """An int64 index of `shape` whose fibers along `dim` hold distinct values in [0, size)."""
    full = list(shape)
    full[dim] = size
    order = np.argsort(rng.random(full), axis=dim)
    return np.take(order, np.arange(shape[dim]), axis=dim).astype(np.int64)


def scatter_case(unique: bool, src: Sampler | None = real, x: Sampler = real) -> s.Builder:
    """x, an index no larger than x off `dim`, and src of the index's shape (or no src: value=)."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        shape = draw(s.shapes(cfg, min_dims=1))
        dim = draw(s.dim_of(len(shape)))
        d = dim % len(shape)
        index_shape = [draw(st.integers(min(cfg.min_side, n), n)) for n in shape]
        high = shape[d] if unique else 3
        index_shape[d] = draw(st.integers(min(cfg.min_side, high), high)) if shape[d] else 0
        seed = draw(s.seeds())
        rng = np.random.default_rng(seed)
        if unique:
            index = _distinct_along(rng, tuple(index_shape), d, shape[d])
        else:
            index = rng.integers(0, max(shape[d], 1), tuple(index_shape)).astype(np.int64)
        arrays = (x(rng, shape), index) + (() if src is None else (src(rng, tuple(index_shape)),))
        return Case(arrays, {"dim": dim}, seed)

    return s.custom(draw_case)


def index_along_case(unique: bool, source: bool = True, negative: bool = False,
                     values: Sampler = real) -> s.Builder:
    """x, a 1-D index into dim (distinct when `unique`, some negative when `negative`), and a source
    with len(index) slices."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        shape = draw(s.shapes(cfg, min_dims=1))
        dim = draw(s.dim_of(len(shape)))
        d = dim % len(shape)
        n = shape[d]
        count = draw(st.integers(0, n if unique else 4)) if n else 0
        seed = draw(s.seeds())
        rng = np.random.default_rng(seed)
        low = -n if negative else 0
        index = rng.permutation(n)[:count] if unique else rng.integers(low, max(n, 1), count)
        source_shape = tuple(count if i == d else m for i, m in enumerate(shape))
        sources = (values(rng, source_shape),) if source else ()
        arrays = (values(rng, shape), index.astype(np.int64), *sources)
        return Case(arrays, {"dim": dim}, seed)

    return s.custom(draw_case)


def _index_put_case(accumulate: bool) -> s.Builder:
    """x, one or two int index tensors (distinct positions unless accumulating), values for them."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        shape = draw(s.shapes(cfg, min_dims=1))
        keys = draw(st.integers(1, min(2, len(shape))))
        seed = draw(s.seeds())
        rng = np.random.default_rng(seed)
        cells = int(np.prod(shape[:keys]))
        count = draw(st.integers(0, cells if not accumulate else 4)) if cells else 0
        flat = rng.permutation(cells)[:count] if not accumulate else rng.integers(0, max(cells, 1), count)
        empty = [np.zeros(0, np.int64)] * keys
        index = np.unravel_index(flat.astype(np.int64), shape[:keys]) if cells else empty
        target = (count, *shape[keys:])
        values_shape = target[draw(st.integers(0, len(target))) :]  # broadcasts to the target
        key = tuple(np.asarray(i, dtype=np.int64) for i in index)
        kwargs = {"indices": key, "accumulate": accumulate}
        return Case((real(rng, shape), real(rng, values_shape)), kwargs, seed)

    return s.custom(draw_case)


def _masked_scatter_case(draw: Any, cfg: ShapeConfig) -> Case:
    """x, a bool mask that broadcasts into x, and a source with at least as many elements as x."""
    shape = draw(s.shapes(cfg))
    suffix = shape[draw(st.integers(0, len(shape))) :]
    mask_shape = tuple(1 if draw(st.booleans()) else n for n in suffix)
    extra = draw(st.integers(0, 2))
    seed = draw(s.seeds())
    rng = np.random.default_rng(seed)
    source = real(rng, (int(np.prod(shape)) + extra,))
    return Case((real(rng, shape), rng.random(mask_shape) < 0.5, source), {}, seed)


def _put_case(accumulate: bool) -> s.Builder:
    """x, a flat index of any shape (distinct positions unless accumulating), and as many values."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        shape = draw(s.shapes(cfg))
        n = int(np.prod(shape))
        count = draw(st.integers(0, n if not accumulate else 4)) if n else 0
        seed = draw(s.seeds())
        rng = np.random.default_rng(seed)
        flat = rng.permutation(n)[:count] if not accumulate else rng.integers(0, max(n, 1), count)
        flat = flat - n * rng.integers(0, 2, count)  # some counted from the end
        index = flat.astype(np.int64).reshape(draw(st.sampled_from([(count,), (1, count)])))
        return Case((real(rng, shape), index, real(rng, (count,))), {"accumulate": accumulate}, seed)

    return s.custom(draw_case)


def _take_case(draw: Any, cfg: ShapeConfig) -> Case:
    shape = draw(s.shapes(cfg))
    n = int(np.prod(shape))
    index_shape = draw(s.shapes(cfg)) if n else (0,)
    seed = draw(s.seeds())
    rng = np.random.default_rng(seed)
    index = rng.integers(-n, max(n, 1), index_shape).astype(np.int64)  # negatives count from the end
    return Case((real(rng, shape), index), {}, seed)


def _take_along_case(flat: bool) -> s.Builder:
    """x and indices for take_along_dim: broadcastable off dim, or any shape when flattened."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        shape = draw(s.shapes(cfg, min_dims=1))
        seed = draw(s.seeds())
        rng = np.random.default_rng(seed)
        if flat:
            n = int(np.prod(shape))
            index = rng.integers(0, max(n, 1), draw(s.shapes(cfg, min_dims=1)) if n else (0,))
            return Case((real(rng, shape), index.astype(np.int64)), {}, seed)
        dim = draw(s.dim_of(len(shape)))
        d = dim % len(shape)
        index_shape = tuple(draw(st.sampled_from([1, m])) for m in shape)
        index_shape = tuple(draw(st.integers(1, 3)) if i == d else m for i, m in enumerate(index_shape))
        if not shape[d]:  # nothing to take along an empty dim
            index_shape = tuple(0 if i == d else m for i, m in enumerate(index_shape))
        index = rng.integers(-shape[d], max(shape[d], 1), index_shape).astype(np.int64)
        return Case((real(rng, shape), index), {"dim": dim}, seed)

    return s.custom(draw_case)


# ---- calls: torch's argument order (dim, index, src, ...) from the drawn (x, index, src, ..., dim=) ----
def _reduce(reduce: str, include_self: bool) -> Any:
    return lambda m, x, index, src, dim: x.scatter_reduce(dim, index, src, reduce, include_self=include_self)


def _reduce_rows() -> list[OpSpec]:
    rows = []
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            values = s.small_ints_as_float if reduce in ("amax", "amin") else real
            values = s.with_zeros if reduce == "prod" else values
            name = f"scatter_reduce_{reduce}" + ("" if include_self else "_exclude_self")
            rows.append(OpSpec(name, scatter_case(False, values, values), call=_reduce(reduce, include_self),
                               tol=ACCUMULATE, second_order=reduce in ("sum", "mean", "amax")))
    rows[0] = OpSpec("scatter_reduce", scatter_case(False), tol=ACCUMULATE,
                     call=lambda m, x, index, src, dim: m.scatter_reduce(x, dim, index, src, "sum"),
                     covers=("antorcha.scatter_reduce", "Tensor.scatter_reduce"))
    return rows


def _method(name: str, *extra: Any, **kwargs: Any) -> Any:
    """`x.<name>(dim, index, *rest, *extra, **kwargs)` from the drawn (x, index, *rest, dim=)."""
    return lambda m, x, index, *rest, dim: getattr(x, name)(dim, index, *rest, *extra, **kwargs)


def _function(name: str, *extra: Any, **kwargs: Any) -> Any:
    return lambda m, x, index, *rest, dim: getattr(m, name)(x, dim, index, *rest, *extra, **kwargs)


def _in_place(name: str, *extra: Any, **kwargs: Any) -> Any:
    """The in-place method on a non-leaf `x * 1`, so that autograd runs through the write."""
    return lambda m, x, index, *rest, dim: _inplace(name)(m, x, dim, index, *rest, *extra, **kwargs)


def _index_reduce_rows() -> list[OpSpec]:
    rows = []
    for reduce in ("prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            name = f"index_reduce_{reduce}" + ("" if include_self else "_exclude_self")
            call = _method("index_reduce", reduce, include_self=include_self)
            rows.append(OpSpec(name, index_along_case(False, values=_REDUCE_VALUES[reduce]), call=call,
                               tol=ACCUMULATE))
    rows[0] = OpSpec("index_reduce", rows[0].args, call=_function("index_reduce", "prod"), tol=ACCUMULATE,
                     covers=("antorcha.index_reduce", "Tensor.index_reduce"))
    return rows


_REDUCE_VALUES = {"prod": s.with_zeros, "mean": real, "amax": s.small_ints_as_float,
                  "amin": s.small_ints_as_float}


def rows() -> list[OpSpec]:
    unique, repeated = scatter_case(True), scatter_case(False)
    no_src = scatter_case(True, None)
    fill = index_along_case(False, source=False, negative=True)
    fill_forward = index_along_case(False, source=False)  # torch's backward refuses negative indices
    add, copy = index_along_case(False), index_along_case(True)
    ties = scatter_case(False, s.small_ints_as_float, s.small_ints_as_float)
    masked = s.custom(_masked_scatter_case)
    put, put_accumulate = _index_put_case(False), _index_put_case(True)
    return [
        OpSpec("scatter", unique, call=_method("scatter"), covers=("Tensor.scatter",), second_order=True),
        OpSpec("scatter_function", unique, call=_function("scatter"), covers=("antorcha.scatter",)),
        OpSpec("scatter_value", no_src, call=_method("scatter", value=1.5)),
        OpSpec("scatter_value_positional", no_src, call=_method("scatter", -0.5)),
        OpSpec("scatter_reduce_legacy_add", repeated, call=_method("scatter", reduce="add"),
               differentiable=False),
        OpSpec("scatter_reduce_legacy_multiply", unique, call=_method("scatter", reduce="multiply"),
               differentiable=False),
        OpSpec("scatter_add", repeated, call=_method("scatter_add"), covers=("Tensor.scatter_add",),
               second_order=True),
        OpSpec("scatter_add_function", repeated, call=_function("scatter_add"),
               covers=("antorcha.scatter_add",)),
        *_reduce_rows(),
        OpSpec("index_fill", fill, call=_method("index_fill", 2.5), covers=("Tensor.index_fill",)),
        OpSpec("index_fill_function", fill, call=_function("index_fill", -1.0),
               covers=("antorcha.index_fill",)),
        OpSpec("index_fill_tensor_value", fill_forward,
               call=lambda m, x, index, dim: x.index_fill(dim, index, x.sum() * 0 + 3.0)),
        OpSpec("index_add", add, call=_method("index_add"), covers=("Tensor.index_add",), second_order=True),
        OpSpec("index_add_alpha", add, call=_function("index_add", alpha=-2.0),
               covers=("antorcha.index_add",)),
        OpSpec("index_copy", copy, call=_method("index_copy"), covers=("Tensor.index_copy",),
               second_order=True),
        OpSpec("index_copy_function", copy, call=_function("index_copy"), covers=("antorcha.index_copy",)),
        OpSpec("index_put", put, covers=("Tensor.index_put",),
               call=lambda m, x, v, indices, accumulate: x.index_put(indices, v, accumulate)),
        OpSpec("index_put_accumulate", put_accumulate, covers=("antorcha.index_put",),
               call=lambda m, x, v, indices, accumulate: m.index_put(x, indices, v, accumulate=accumulate)),
        OpSpec("masked_scatter", masked, method="masked_scatter", function="masked_scatter"),
        OpSpec("take", s.custom(_take_case), method="take", function="take", second_order=True),
        OpSpec("take_along_dim", _take_along_case(False), method="take_along_dim", function="take_along_dim"),
        # torch flattens with view(-1), so it refuses a non-contiguous input; antorcha takes it
        OpSpec("take_along_dim_flat", _take_along_case(True), noncontiguous=False,
               call=lambda m, x, index: m.take_along_dim(x, index)),
        OpSpec("masked_select", s.into(real, s.booleans), method="masked_select", function="masked_select",
               second_order=True),
        OpSpec("put", _put_case(False), covers=("Tensor.put",),
               call=lambda m, x, index, source, accumulate: x.put(index, source, accumulate)),
        OpSpec("put_accumulate", _put_case(True), covers=("antorcha.put",),
               call=lambda m, x, index, source, accumulate: m.put(x, index, source, accumulate=accumulate)),
        *_index_reduce_rows(),
        # the in-place forms, on a non-leaf
        OpSpec("put_", _put_case(True), covers=("Tensor.put_",),
               call=lambda m, x, index, source, accumulate: _inplace("put_")(m, x, index, source,
                                                                               accumulate)),
        OpSpec("index_reduce_", index_along_case(False, values=s.small_ints_as_float),
               call=_in_place("index_reduce_", "amin", include_self=False), covers=("Tensor.index_reduce_",)),
        OpSpec("scatter_", unique, call=_in_place("scatter_"), covers=("Tensor.scatter_",)),
        OpSpec("scatter_value_", no_src, call=_in_place("scatter_", value=2.0)),
        OpSpec("scatter_add_", repeated, call=_in_place("scatter_add_"), covers=("Tensor.scatter_add_",)),
        OpSpec("scatter_reduce_", ties, call=_in_place("scatter_reduce_", "amax"),
               covers=("Tensor.scatter_reduce_",)),
        OpSpec("index_fill_", fill, call=_in_place("index_fill_", 0.5), covers=("Tensor.index_fill_",)),
        OpSpec("index_add_", add, call=_in_place("index_add_", alpha=3), covers=("Tensor.index_add_",)),
        OpSpec("index_copy_", copy, call=_in_place("index_copy_"), covers=("Tensor.index_copy_",)),
        OpSpec("index_put_", put_accumulate, covers=("Tensor.index_put_",),
               call=lambda m, x, v, indices, accumulate: _inplace("index_put_")(m, x, indices, v,
                                                                                   accumulate)),
        OpSpec("index_put__function", put, covers=("antorcha.index_put_",),
               call=lambda m, x, v, indices, accumulate: m.index_put_(x * 1, indices, v, accumulate)),
        OpSpec("masked_scatter_", masked, covers=("Tensor.masked_scatter_",),
               call=lambda m, x, mask, source: _inplace("masked_scatter_")(m, x, mask, source)),
    ]
