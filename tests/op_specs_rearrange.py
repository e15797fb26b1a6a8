"""Op-spec rows for `ops/rearrange.py` and `ops/strided.py` (joined into `op_specs.SPECS`).

Keyword strategies draw only arguments torch accepts for the drawn shape (valid narrow windows,
distinct diagonal dims, as_strided geometries inside the input's storage), so every row compares
values and gradients; the refusals are checked in `test_rearrange_scatter.py`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import strategies as s
from hypothesis import strategies as st
from op_spec import ACCUMULATE, OpSpec
from op_specs_shape import _inplace
from strategies import Case, ShapeConfig, real

# public names of this area that are not ops, or are compared with torch elsewhere: name -> why
NOT_OPS: dict[str, str] = {}

K = s.with_kwargs
Kwargs = st.SearchStrategy[dict[str, Any]]


# ---- keyword strategies ------------------------------------------------------------------------
def _tile_dims(shape: tuple) -> Kwargs:
    return st.lists(st.integers(1, 3), min_size=0, max_size=len(shape) + 1).map(lambda d: {"dims": tuple(d)})


def _repeat_count(shape: tuple) -> Kwargs:
    # torch refuses a dim for a 0-dim input
    with_dim = s.dim_of(len(shape)).map(lambda d: {"dim": d}) if shape else st.just({})
    return st.tuples(st.integers(0, 3), st.one_of(st.just({}), with_dim)).map(
        lambda p: {"repeats": p[0], **p[1]}
    )


def _starts(start: int, n: int, negative: bool) -> st.SearchStrategy[int]:
    return st.sampled_from([start, start - n] if start < n and negative else [start])


def _narrow_window(shape: tuple, negative: bool = True) -> Kwargs:
    def for_dim(d: int) -> Kwargs:
        n = shape[d]
        return st.integers(0, n).flatmap(
            lambda start: st.tuples(_starts(start, n, negative),
                                    st.integers(0, n - start))
        ).map(lambda p: {"dim": d, "start": p[0], "length": p[1]})

    return st.integers(-len(shape), len(shape) - 1).flatmap(for_dim)


def _select_index(shape: tuple) -> Kwargs:
    dims = [d for d, n in enumerate(shape) if n] or [None]

    def for_dim(d: int | None) -> Kwargs:
        if d is None:  # every dim is empty: nothing to select; draw from dim 0 anyway (torch refuses)
            return st.just({"dim": 0, "index": 0})
        return st.integers(-shape[d], shape[d] - 1).map(lambda i: {"dim": d, "index": i})

    return st.sampled_from(dims).flatmap(for_dim)


def _move_dims(shape: tuple) -> Kwargs:
    ndim = len(shape)
    single = st.tuples(s.dim_of(ndim), s.dim_of(ndim)).map(lambda p: {"source": p[0], "destination": p[1]})
    if ndim == 0:
        return single
    several = st.integers(1, ndim).flatmap(
        lambda k: st.tuples(st.permutations(range(ndim)), st.permutations(range(ndim))).map(
            lambda p: {"source": tuple(p[0][:k]), "destination": tuple(d - ndim for d in p[1][:k])}
        )
    )
    return st.one_of(single, several)


def _roll_shifts(shape: tuple) -> Kwargs:
    flat = st.integers(-5, 5).map(lambda k: {"shifts": k})
    if not shape:
        return flat
    along = s.dims_of(len(shape)).flatmap(
        lambda dims: st.tuples(*[st.integers(-5, 5)] * len(dims)).map(lambda k: {"shifts": k, "dims": dims})
    )
    one = st.tuples(st.integers(-5, 5), s.dim_of(len(shape))).map(lambda p: {"shifts": p[0], "dims": p[1]})
    return st.one_of(flat, along, one)


def _diagonal_dims(ndim: int, first: str, second: str) -> Kwargs:
    pairs = st.permutations(range(ndim)).map(lambda p: (p[0], p[1]))
    return st.tuples(pairs, st.booleans(), st.integers(-3, 3)).map(
        lambda t: {"offset": t[2], first: t[0][0] - (ndim if t[1] else 0), second: t[0][1]}
    )


def _unfold_window(shape: tuple) -> Kwargs:
    def for_dim(d: int) -> Kwargs:
        n = shape[d] if shape else 1
        return st.tuples(st.integers(0, n), st.integers(1, 3)).map(
            lambda p: {"dimension": d, "size": p[0], "step": p[1]}
        )

    return s.dim_of(len(shape)).flatmap(for_dim)


def _rotation(shape: tuple) -> Kwargs:
    ndim = len(shape)
    pairs = st.permutations(range(ndim)).map(lambda p: (p[0], p[1] - ndim))
    return st.tuples(st.integers(-2, 5), pairs).map(lambda t: {"k": t[0], "dims": t[1]})


def _two_axes(first: str, second: str) -> Any:
    return lambda shape: st.tuples(s.dim_of(len(shape)), s.dim_of(len(shape))).map(
        lambda p: {first: p[0], second: p[1]}
    )


# ---- builders with more than one input ------------------------------------------------------------
def _repeats_tensor(draw: Any, cfg: ShapeConfig) -> Case:
    """x, and int64 repeats for each slice along dim (or one count for all)."""
    shape = draw(s.shapes(cfg, min_dims=1))
    dim = draw(st.one_of(st.none(), s.dim_of(len(shape))))
    length = math.prod(shape) if dim is None else shape[dim]
    count = draw(st.sampled_from([length, 1]))
    seed = draw(s.seeds())
    rng = np.random.default_rng(seed)
    repeats = rng.integers(0, 4, (count,)).astype(np.int64)
    kwargs: dict[str, Any] = {} if dim is None else {"dim": dim}
    if draw(st.booleans()):
        kwargs["output_size"] = int(repeats.sum() * (length if count == 1 else 1))
    return Case((real(rng, shape), repeats), kwargs, seed)


def _repeat_counts_only(draw: Any, cfg: ShapeConfig) -> Case:
    seed = draw(s.seeds())
    length = draw(st.integers(cfg.min_side, cfg.max_side))
    return Case((np.random.default_rng(seed).integers(0, 4, (length,)).astype(np.int64),), {}, seed)


def _grid_axes(draw: Any, cfg: ShapeConfig) -> Case:
    """2-3 vectors (or 0-dim scalars) for meshgrid, and an indexing."""
    count = draw(st.integers(1, 3))
    shapes = tuple(draw(st.sampled_from([(), (draw(st.integers(cfg.min_side, cfg.max_side)),)]))
                   for _ in range(count))
    return s.make_case(draw, shapes, (real,) * count, indexing=draw(st.sampled_from(["ij", "xy"])))


def _strided_geometry(draw: Any, cfg: ShapeConfig) -> Case:
    """x, and as_strided sizes and strides whose elements lie inside x's storage."""
    shape = draw(s.shapes(cfg))
    numel = math.prod(shape)
    ndim = draw(st.integers(0, 3))
    size = tuple(draw(st.integers(0 if not numel else 1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(0, 3)) for _ in range(ndim))
    reach = sum((n - 1) * k for n, k in zip(size, stride)) if math.prod(size) else 0
    if math.prod(size) and reach >= numel:  # shrink into the storage
        size = tuple(1 for _ in size)
        reach = 0
    kwargs: dict[str, Any] = {"size": size, "stride": stride}
    if numel and draw(st.booleans()):
        kwargs["storage_offset"] = draw(st.integers(0, numel - 1 - reach)) if math.prod(size) else 0
    return s.make_case(draw, (shape,), (real,), **kwargs)


def _diag_input(draw: Any, cfg: ShapeConfig) -> Case:
    shape = draw(s.shapes(cfg, min_dims=1, max_dims=2))
    kwargs = draw(st.one_of(st.just({}), st.integers(-3, 3).map(lambda k: {"diagonal": k})))
    return s.make_case(draw, (shape,), (real,), **kwargs)


def _split_sizes(shape: tuple) -> Kwargs:
    def for_dim(d: int) -> Kwargs:
        n = shape[d]
        cuts = st.lists(st.integers(0, n), min_size=0, max_size=3).map(sorted)
        return cuts.map(lambda c: {"split_sizes": [b - a for a, b in zip([0, *c], [*c, n])], "dim": d})

    return st.integers(-len(shape), len(shape) - 1).flatmap(for_dim)


def _tensor_split_args(shape: tuple) -> Kwargs:
    def for_dim(d: int) -> Kwargs:
        n = shape[d]
        indices = st.lists(st.integers(-1, n + 1), min_size=0, max_size=3)  # unsorted and past the end too
        return st.tuples(st.one_of(st.integers(1, 4), indices), st.just(d)).map(
            lambda p: {"indices_or_sections": p[0], "dim": p[1]}
        )

    return st.integers(-len(shape), len(shape) - 1).flatmap(for_dim)


def _even_split(d: int) -> Any:
    """hsplit/vsplit/dsplit along `d`: a section count that divides the dim, or indices."""

    def draw(shape: tuple) -> Kwargs:
        n = shape[d if len(shape) > 1 or d == 0 else 0]
        divisors = [k for k in range(1, n + 1) if n % k == 0] or [1]
        indices = st.lists(st.integers(0, n), min_size=1, max_size=3).map(sorted)
        return st.one_of(st.sampled_from(divisors), indices).map(lambda v: {"indices_or_sections": v})

    return draw


def _region_case(kind: str) -> s.Builder:
    """x, and a src of the shape of the region select/slice/diagonal_scatter writes."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        shape = draw(s.shapes(cfg, min_dims=2 if kind == "diagonal" else 1))
        ndim = len(shape)
        if kind == "select":
            d = draw(st.sampled_from([i for i, n in enumerate(shape) if n] or [0]))
            index = draw(st.integers(-shape[d], shape[d] - 1)) if shape[d] else 0  # all empty: refused
            kwargs = {"dim": d - ndim * draw(st.integers(0, 1)), "index": index}
            region = shape[:d] + shape[d + 1 :]
        elif kind == "slice":
            d = draw(st.integers(0, ndim - 1))
            start, end = sorted(draw(st.tuples(st.integers(0, shape[d]), st.integers(0, shape[d]))))
            step = draw(st.integers(1, 3))
            kwargs = {"dim": d, "start": start, "end": end, "step": step}
            region = shape[:d] + (len(range(start, end, step)),) + shape[d + 1 :]
        else:
            kwargs = draw(_diagonal_dims(ndim, "dim1", "dim2"))
            region = np.zeros(shape).diagonal(kwargs["offset"], kwargs["dim1"], kwargs["dim2"]).shape
        return s.make_case(draw, (shape, tuple(region)), (real, real), **kwargs)

    return s.custom(draw_case)


def _split_rows() -> list[OpSpec]:
    """hsplit, vsplit, dsplit, as methods and functions, with the sections passed positionally."""
    rows = []
    for name, d, min_dims in (("hsplit", 1, 1), ("vsplit", 0, 2), ("dsplit", 2, 3)):
        args = K(real, _even_split(d), min_dims=min_dims)
        method = lambda m, x, indices_or_sections, name=name: getattr(x, name)(indices_or_sections)  # noqa: E731
        function = lambda m, x, indices_or_sections, name=name: getattr(m, name)(x, indices_or_sections)  # noqa: E731
        rows += [OpSpec(name, args, call=method, covers=(f"Tensor.{name}",)),
                 OpSpec(f"{name}_function", args, call=function, covers=(f"antorcha.{name}",))]
    return rows


def _stackable(count: int) -> s.Builder:
    return s.same_shape(*(real,) * count)


def _stack(name: str) -> Any:
    return lambda m, *xs: getattr(m, name)(xs)


def _meshgrid(m: Any, *xs: Any, indexing: str) -> Any:
    return m.meshgrid(*xs, indexing=indexing)


def rows() -> list[OpSpec]:
    custom = s.custom
    diagonal_args = K(real, lambda shape: _diagonal_dims(len(shape), "dim1", "dim2"), min_dims=2)
    embed_args = K(real, lambda shape: _diagonal_dims(len(shape) + 1, "dim1", "dim2"), min_dims=1)
    return [
        OpSpec("tile", K(real, _tile_dims), method="tile", function="tile"),
        OpSpec("repeat_interleave", K(real, _repeat_count), method="repeat_interleave",
               function="repeat_interleave", second_order=True),
        OpSpec("repeat_interleave_tensor", custom(_repeats_tensor),
               call=lambda m, x, repeats, **kw: x.repeat_interleave(repeats, **kw)),
        OpSpec("repeat_interleave_counts", custom(_repeat_counts_only),
               call=lambda m, repeats: m.repeat_interleave(repeats), differentiable=False),
        OpSpec("narrow", K(real, _narrow_window, min_dims=1), method="narrow", function="narrow"),
        OpSpec("select", K(real, _select_index, min_dims=1), method="select", function="select"),
        OpSpec("movedim", K(real, _move_dims), method="movedim", function="movedim"),
        OpSpec("moveaxis", K(real, _move_dims), method="moveaxis", function="moveaxis"),
        OpSpec("swapaxes", K(real, _two_axes("axis0", "axis1")), method="swapaxes", function="swapaxes"),
        OpSpec("swapdims", K(real, _two_axes("dim0", "dim1")), method="swapdims", function="swapdims"),
        OpSpec("roll", K(real, _roll_shifts), method="roll", function="roll", second_order=True),
        OpSpec("meshgrid", custom(_grid_axes), call=_meshgrid, covers=("antorcha.meshgrid",)),
        OpSpec("meshgrid_list", custom(_grid_axes),
               call=lambda m, *xs, indexing: m.meshgrid(list(xs), indexing=indexing)),
        OpSpec("diag", custom(_diag_input), method="diag", function="diag", second_order=True),
        OpSpec("diagonal", diagonal_args, method="diagonal", function="diagonal", second_order=True),
        OpSpec("diag_embed", embed_args, method="diag_embed", function="diag_embed", second_order=True),
        OpSpec("trace", s.same_shape(real, min_dims=2, max_dims=2), method="trace", function="trace",
               tol=ACCUMULATE, second_order=True),
        OpSpec("as_strided", custom(_strided_geometry), method="as_strided", function="as_strided",
               second_order=True),
        OpSpec("unfold", K(real, _unfold_window), method="unfold", second_order=True),
        OpSpec("rot90", K(real, _rotation, min_dims=2), method="rot90", function="rot90"),
        OpSpec("fliplr", s.elementwise(real, min_dims=2), method="fliplr", function="fliplr"),
        OpSpec("flipud", s.elementwise(real, min_dims=1), method="flipud", function="flipud"),
        OpSpec("atleast_1d", s.elementwise(real), function="atleast_1d"),
        OpSpec("atleast_2d", s.elementwise(real), function="atleast_2d"),
        OpSpec("atleast_3d", s.elementwise(real), function="atleast_3d"),
        OpSpec("atleast_3d_several", s.elementwise(real, real), function="atleast_3d",
               call=lambda m, x, y: m.atleast_3d([x, y])),
        OpSpec("hstack", _stackable(2), call=_stack("hstack"), covers=("antorcha.hstack",)),
        OpSpec("vstack", _stackable(3), call=_stack("vstack"), covers=("antorcha.vstack",)),
        OpSpec("row_stack", _stackable(2), call=_stack("row_stack")),
        OpSpec("dstack", _stackable(2), call=_stack("dstack"), covers=("antorcha.dstack",)),
        OpSpec("column_stack", _stackable(2), call=_stack("column_stack"), covers=("antorcha.column_stack",)),
        OpSpec("ravel", s.elementwise(real), method="ravel", function="ravel"),
        # torch's narrow_copy backward drops the gradient for a negative start: only starts >= 0 here
        OpSpec("narrow_copy", K(real, lambda shape: _narrow_window(shape, negative=False), min_dims=1),
               method="narrow_copy", function="narrow_copy"),
        OpSpec("split_with_sizes", K(real, _split_sizes, min_dims=1), method="split_with_sizes",
               function="split_with_sizes"),
        # torch names the argument sections=, indices= or tensor_indices_or_sections= by overload
        OpSpec("tensor_split", K(real, _tensor_split_args, min_dims=1), covers=("Tensor.tensor_split",),
               call=lambda m, x, indices_or_sections, dim: x.tensor_split(indices_or_sections, dim=dim)),
        OpSpec("tensor_split_function", K(real, _tensor_split_args, min_dims=1),
               call=lambda m, x, indices_or_sections, dim: m.tensor_split(x, indices_or_sections, dim),
               covers=("antorcha.tensor_split",)),
        *_split_rows(),
        OpSpec("select_scatter", _region_case("select"), method="select_scatter", function="select_scatter",
               second_order=True),
        OpSpec("slice_scatter", _region_case("slice"), method="slice_scatter", function="slice_scatter"),
        OpSpec("diagonal_scatter", _region_case("diagonal"), method="diagonal_scatter",
               function="diagonal_scatter"),
        # in-place views on a non-leaf: self takes the view's shape, and autograd runs through it
        OpSpec("t_", K(real, lambda shape: st.just({}), max_dims=2), call=_inplace("t_"),
               covers=("Tensor.t_",)),
        OpSpec("transpose_", K(real, _two_axes("dim0", "dim1")), call=_inplace("transpose_"),
               covers=("Tensor.transpose_",)),
        OpSpec("swapaxes_", K(real, _two_axes("axis0", "axis1")), call=_inplace("swapaxes_"),
               covers=("Tensor.swapaxes_",)),
        OpSpec("swapdims_", K(real, _two_axes("dim0", "dim1")), call=_inplace("swapdims_"),
               covers=("Tensor.swapdims_",)),
        OpSpec("squeeze_", K(real, s.squeeze_dims), call=_inplace("squeeze_"), covers=("Tensor.squeeze_",)),
        OpSpec("unsqueeze_", K(real, s.unsqueeze_dim), call=_inplace("unsqueeze_"),
               covers=("Tensor.unsqueeze_",)),
        OpSpec("as_strided_", s.custom(_strided_geometry), call=_inplace("as_strided_"),
               covers=("Tensor.as_strided_",)),
        OpSpec("tril_", K(real, s.diagonal, min_dims=2), call=_inplace("tril_"), covers=("Tensor.tril_",)),
        OpSpec("triu_", K(real, s.diagonal, min_dims=2), call=_inplace("triu_"), covers=("Tensor.triu_",)),
    ]

