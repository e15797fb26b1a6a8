"""Hypothesis strategies for op inputs: shapes that broadcast, dims, and value domains.

An op's inputs are drawn as a `Case`: NumPy arrays (float64 masters for the float
inputs, which the tests cast to the dtype under test, plus bool masks and int64
indices) and keyword arguments. Both antorcha and torch are then fed the very
same values, so any difference in the results is the op's, not the data's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

Shape = tuple[int, ...]
Sampler = Callable[[np.random.Generator, Shape], np.ndarray]


@dataclass(frozen=True)
class ShapeConfig:
    """How large drawn shapes may be."""

    min_dims: int = 0
    max_dims: int = 3
    min_side: int = 1
    max_side: int = 4


NORMAL = ShapeConfig()
# empty dims (side 0), size-1 dims and 0-dim scalars
EDGE = ShapeConfig(min_dims=0, max_dims=3, min_side=0, max_side=2)


@dataclass(frozen=True)
class Case:
    """The inputs of one op call: positional arrays and keyword arguments."""

    arrays: tuple[np.ndarray, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def __repr__(self) -> str:
        inputs = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"Case({inputs}; {self.kwargs})"


Builder = Callable[[ShapeConfig], st.SearchStrategy[Case]]


# ---- value domains (float64 masters) -----------------------------------------------
def real(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return rng.uniform(-2.0, 2.0, shape)


def positive(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """For log, sqrt, rsqrt, pow bases: well away from 0."""
    return rng.uniform(0.5, 2.5, shape)


def nonzero(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Away from 0: divisors, and the kinks of abs/relu/sign/norm."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.0, shape)


def unit(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Inside (-1, 1): tan stays away from its poles."""
    return rng.uniform(-0.9, 0.9, shape)


def away_from(*points: float, margin: float = 0.1) -> Sampler:
    """Real values pushed at least `margin` away from kinks (clamp bounds, ...)."""

    def sample(rng: np.random.Generator, shape: Shape) -> np.ndarray:
        values = real(rng, shape)
        for p in points:
            close = np.abs(values - p) < margin
            values = np.where(close, p + np.where(values >= p, margin, -margin), values)
        return values

    return sample


def small_ints_as_float(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Integer-valued floats, so that comparisons find equal elements."""
    return rng.integers(-2, 3, shape).astype(np.float64)


def with_zeros(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Some exact zeros (prod's gradient takes another path then)."""
    return np.where(rng.random(shape) < 0.3, 0.0, nonzero(rng, shape))


def specials(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Reals mixed with nan, inf and -inf."""
    pick = rng.integers(0, 5, shape)
    return np.choose(pick, [real(rng, shape), real(rng, shape), np.nan, np.inf, -np.inf])


def booleans(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return rng.random(shape) < 0.5


def ints(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return rng.integers(-5, 6, shape).astype(np.int64)


def nonzero_ints(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return rng.choice([-3, -2, -1, 1, 2, 3], shape).astype(np.int64)


# ---- shapes ---------------------------------------------------------------------------
def shapes(cfg: ShapeConfig, min_dims: int = 0, max_dims: int | None = None) -> st.SearchStrategy[Shape]:
    low = max(cfg.min_dims, min_dims)
    high = max(low, cfg.max_dims if max_dims is None else max_dims)
    side = st.integers(cfg.min_side, cfg.max_side)
    return st.integers(low, high).flatmap(lambda n: st.tuples(*[side] * n))


def broadcastable_shapes(cfg: ShapeConfig, count: int,
    min_dims: int = 0) -> st.SearchStrategy[tuple[Shape, ...]]:
    """`count` shapes that broadcast together (any of them may be the largest)."""
    return mutually_broadcastable_shapes(
        num_shapes=count,
        min_dims=max(cfg.min_dims, min_dims),
        max_dims=max(cfg.max_dims, min_dims),
        min_side=cfg.min_side,
        max_side=cfg.max_side,
    ).map(lambda b: b.input_shapes)


def dim_of(ndim: int) -> st.SearchStrategy[int]:
    """A valid dim, negative forms included (0-dim tensors accept -1 and 0)."""
    bound = max(ndim, 1)
    return st.integers(-bound, bound - 1)


def dims_of(ndim: int) -> st.SearchStrategy[tuple[int, ...]]:
    """A tuple of distinct dims, each possibly negative."""
    if ndim == 0:
        return st.just(())
    return st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).flatmap(
        lambda ds: st.tuples(*[st.sampled_from([d, d - ndim]) for d in ds])
    )


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**32 - 1)


# ---- builders: shapes + domains -> Case ------------------------------------------------------
def _arrays(seed: int, shapes_: tuple[Shape, ...], samplers: tuple[Sampler, ...]) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    # np.asarray: a sampler given the shape () may return a NumPy scalar
    return tuple(np.asarray(sample(rng, shape)) for sample, shape in zip(samplers, shapes_))


def elementwise(*samplers: Sampler, min_dims: int = 0) -> Builder:
    """`len(samplers)` inputs with mutually broadcastable shapes."""

    def build(cfg: ShapeConfig) -> st.SearchStrategy[Case]:
        if len(samplers) == 1:
            shape_sets = shapes(cfg, min_dims).map(lambda s: (s,))
        else:
            shape_sets = broadcastable_shapes(cfg, len(samplers), min_dims)
        return st.builds(lambda ss, seed: Case(_arrays(seed, ss, samplers), {}, seed), shape_sets, seeds())

    return build


def same_shape(*samplers: Sampler, min_dims: int = 0, max_dims: int | None = None) -> Builder:
    """Inputs that all have one shape (equal, outer, a mask of x's shape, ...)."""

    def build(cfg: ShapeConfig) -> st.SearchStrategy[Case]:
        return st.builds(
            lambda s, seed: Case(_arrays(seed, (s,) * len(samplers), samplers), {}, seed),
            shapes(cfg, min_dims, max_dims),
            seeds(),
        )

    return build


def into(target: Sampler, *others: Sampler) -> Builder:
    """A target and operands that broadcast into the target's shape (in-place ops, masks)."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        shape = draw(shapes(cfg))
        other_shapes = []
        for _ in others:
            suffix = shape[draw(st.integers(0, len(shape))) :]
            other_shapes.append(tuple(1 if draw(st.booleans()) else n for n in suffix))
        return make_case(draw, (shape, *other_shapes), (target, *others))

    return custom(draw_case)


def with_kwargs(
    sampler: Sampler,
    kwargs: Callable[[Shape], st.SearchStrategy[dict[str, Any]]],
    min_dims: int = 0,
    max_dims: int | None = None,
) -> Builder:
    """One input, plus keyword arguments drawn from its shape (dims, sizes, ...)."""

    @st.composite
    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        shape = draw(shapes(cfg, min_dims, max_dims))
        seed = draw(seeds())
        return Case(_arrays(seed, (shape,), (sampler,)), draw(kwargs(shape)), seed)

    return draw_case


def reduction_kwargs(
    dim: str = "int|tuple", keepdim: bool = True, whole: bool = True, extra: dict[str, list] | None = None
) -> Callable[[Shape], st.SearchStrategy[dict[str, Any]]]:
    """dim= as allowed by `dim` ('int', 'int|tuple'), keepdim= variants, and the whole-tensor form."""

    def draw_kwargs(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
        ndim = len(shape)
        options = [dim_of(ndim)]
        if "tuple" in dim:
            options.append(dims_of(ndim))
        with_dim = st.fixed_dictionaries({"dim": st.one_of(*options)})
        if keepdim:
            with_dim = st.fixed_dictionaries({"dim": st.one_of(*options), "keepdim": st.booleans()})
        forms = [with_dim, st.just({})] if whole else [with_dim]
        base = st.one_of(*forms)
        if not extra:
            return base
        extras = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in extra.items()})
        return st.tuples(base, extras).map(lambda pair: {**pair[0], **pair[1]})

    return draw_kwargs


def reduction(
    sampler: Sampler, dim: str = "int|tuple", keepdim: bool = True, whole: bool = True, **extra: list
) -> Builder:
    """One input with reduction keywords; `extra` adds keyword choices (correction=[0, 1], p=[...])."""
    return with_kwargs(sampler, reduction_kwargs(dim, keepdim, whole, extra or None))


@st.composite
def _matmul_shapes(draw: Any, cfg: ShapeConfig) -> tuple[Shape, Shape]:
    side = st.integers(max(cfg.min_side, 0), cfg.max_side)
    n, k, m = draw(side), draw(side), draw(side)
    kind = draw(st.sampled_from(["1x1", "2x1", "1x2", "2x2", "batched", "broadcast", "1xN", "Nx1"]))
    if kind == "1x1":
        return (k,), (k,)
    if kind == "2x1":
        return (n, k), (k,)
    if kind == "1x2":
        return (k,), (k, m)
    if kind == "2x2":
        return (n, k), (k, m)
    batch_cfg = ShapeConfig(1, 2, cfg.min_side, cfg.max_side)
    batch_a, batch_b = draw(broadcastable_shapes(batch_cfg, 2, min_dims=1))
    if kind == "batched":
        batch_b = batch_a
    if kind == "1xN":
        return (k,), (*batch_b, k, m)
    if kind == "Nx1":
        return (*batch_a, n, k), (k,)
    return (*batch_a, n, k), (*batch_b, k, m)


def matmul_pair(sampler: Sampler = real, kinds: str = "any") -> Builder:
    """Two matmul-compatible inputs: 1-D, 2-D, batched, broadcast batched; `kinds` narrows to mm/bmm."""

    def build(cfg: ShapeConfig) -> st.SearchStrategy[Case]:
        side = st.integers(cfg.min_side, cfg.max_side)
        if kinds == "mm":
            pair = st.tuples(side, side, side).map(lambda s: ((s[0], s[1]), (s[1], s[2])))
        elif kinds == "bmm":
            pair = st.tuples(side, side, side, side).map(lambda s: ((s[0], s[1], s[2]), (s[0], s[2], s[3])))
        elif kinds == "dot":
            pair = side.map(lambda k: ((k,), (k,)))
        elif kinds == "mv":
            pair = st.tuples(side, side).map(lambda s: ((s[0], s[1]), (s[1],)))
        else:
            pair = _matmul_shapes(cfg)
        return st.builds(lambda ss, seed: Case(_arrays(seed, ss, (sampler, sampler)), {}, seed), pair,
            seeds())

    return build


def custom(draw_case: Callable[[Any, ShapeConfig], Case]) -> Builder:
    """A builder from a function `draw_case(draw, cfg) -> Case` (for index ops and the like)."""
    composite = st.composite(draw_case)
    return lambda cfg: composite(cfg)


def make_case(draw: Any, shape_list: tuple[Shape, ...], samplers: tuple[Sampler, ...], **kwargs: Any) -> Case:
    seed = draw(seeds())
    return Case(_arrays(seed, shape_list, samplers), kwargs, seed)


# ---- keyword strategies for shape ops ------------------------------------------------------
def reshape_targets(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    """Target shapes with the same number of elements, -1 included."""
    numel = int(np.prod(shape, dtype=np.int64))
    targets: list[tuple[int, ...]] = [(numel,), tuple(reversed(shape)), (1, *shape), (*shape, 1)]
    if numel:
        targets += [(-1,), (-1, *shape[1:]) if shape else (-1,)]
    if len(shape) >= 2:
        targets.append((shape[0] * shape[1], *shape[2:]))
    return st.sampled_from(targets).map(lambda t: {"shape": t})


def flatten_dims(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    ndim = max(len(shape), 1)
    return st.integers(0, ndim - 1).flatmap(
        lambda start: st.integers(start, ndim - 1).flatmap(
            lambda end: st.fixed_dictionaries(
                {"start_dim": st.sampled_from([start, start - ndim]),
                    "end_dim": st.sampled_from([end, end - ndim])}
            )
        )
    )


def unflatten_sizes(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    def for_dim(d: int) -> st.SearchStrategy[dict[str, Any]]:
        n = shape[d]
        options = [(n, 1), (1, n), (-1, 1), (n,)]
        if n and n % 2 == 0:
            options.append((2, -1))
        return st.sampled_from(options).map(lambda sizes: {"dim": d, "sizes": sizes})

    return st.integers(-len(shape), len(shape) - 1).flatmap(for_dim)


def two_dims(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"dim0": dim_of(len(shape)), "dim1": dim_of(len(shape))})


def permutation(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    ndim = len(shape)
    return st.permutations(list(range(ndim))).flatmap(
        lambda p: st.tuples(*[st.sampled_from([d, d - ndim]) for d in p]).map(lambda dims: {"dims": dims})
    )


def squeeze_dims(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), dim_of(len(shape)).map(lambda d: {"dim": d}),
        dims_of(len(shape)).map(lambda d: {"dim": d}))


def unsqueeze_dim(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    return st.integers(-len(shape) - 1, len(shape)).map(lambda d: {"dim": d})


def expand_sizes(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    """Grow size-1 dims, keep (or say -1 for) the others, maybe add leading dims."""
    per_dim = [st.integers(0, 3) if s == 1 else st.sampled_from([s, -1]) for s in shape]
    lead = st.lists(st.integers(1, 3), min_size=0 if shape else 1, max_size=2)
    return st.tuples(lead, st.tuples(*per_dim)).map(lambda p: {"sizes": (*p[0], *p[1])})


def repeat_counts(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    extra = st.integers(0 if shape else 1, 2)
    return extra.flatmap(
        lambda k: st.tuples(*[st.integers(1, 3)] * (len(shape) + k)).map(lambda r: {"repeats": r})
    )


def split_sizes(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    def for_dim(d: int) -> st.SearchStrategy[dict[str, Any]]:
        n = shape[d]
        sections = st.lists(st.integers(0, n), min_size=1, max_size=3).map(
            lambda cuts: [b - a for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), n])]
        )
        size = st.integers(1, max(n, 1))
        return st.one_of(size, sections).map(lambda s: {"split_size": s, "dim": d})

    return st.integers(-len(shape), len(shape) - 1).flatmap(for_dim)


def chunk_counts(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"chunks": st.integers(1, 4), "dim": dim_of(len(shape))})


def diagonal(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), st.integers(-2, 2).map(lambda k: {"diagonal": k}))


def flip_dims(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    return dims_of(len(shape)).map(lambda d: {"dims": d})


# ---- builders for ops with several inputs of related shapes --------------------------------
def joinable(sampler: Sampler, stack: bool = False) -> Builder:
    """2-3 tensors for cat (equal except along `dim`) or stack (all equal)."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        shape = draw(shapes(cfg, min_dims=0 if stack else 1))
        count = draw(st.integers(1, 3))
        if stack:
            dim = draw(st.integers(-len(shape) - 1, len(shape)))
            return make_case(draw, (shape,) * count, (sampler,) * count, dim=dim)
        dim = draw(dim_of(len(shape)))
        lengths = draw(st.lists(st.integers(cfg.min_side, cfg.max_side), min_size=count, max_size=count))
        along = dim % len(shape)
        shape_list = tuple(tuple(n if i == along else s for i, s in enumerate(shape)) for n in lengths)
        return make_case(draw, shape_list, (sampler,) * count, dim=dim)

    return custom(draw_case)


def index_along_dim(kind: str) -> Builder:
    """x plus an int64 index for gather (same ndim, no larger off `dim`) or index_select (1-D)."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        shape = draw(shapes(cfg, min_dims=1))
        dim = draw(dim_of(len(shape)))
        d = dim % len(shape)
        if kind == "gather":
            index_shape = [draw(st.integers(min(cfg.min_side, s), s)) for s in shape]
            index_shape[d] = draw(st.integers(cfg.min_side, 3)) if shape[d] else 0
        else:
            index_shape = [draw(st.integers(0, 4)) if shape[d] else 0]
        seed = draw(seeds())
        rng = np.random.default_rng(seed)
        index = rng.integers(0, max(shape[d], 1), tuple(index_shape)).astype(np.int64)
        return Case((real(rng, shape), index), {"dim": dim}, seed)

    return custom(draw_case)


@st.composite
def basic_key(draw: Any, shape: Shape) -> Any:
    """ints (negative too), slices with steps, None and Ellipsis, valid for `shape`."""
    n_indexed = draw(st.integers(0, len(shape)))
    ellipsis = draw(st.sampled_from(["none", "start", "end"]))
    indexed = shape[len(shape) - n_indexed :] if ellipsis == "start" else shape[:n_indexed]
    key: list[Any] = []
    for size in indexed:
        if draw(st.integers(0, 4)) == 0:
            key.append(None)
        kinds = ["slice", "full"] + (["int"] if size else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "int":
            key.append(draw(st.integers(-size, size - 1)))
        elif kind == "full":
            key.append(slice(None))
        else:
            bound = st.one_of(st.none(), st.integers(-size - 1, size + 1))
            key.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, 3]))))
    if ellipsis == "start":
        key.insert(0, Ellipsis)
    elif ellipsis == "end":
        key.append(Ellipsis)
    if len(key) == 1 and draw(st.booleans()):
        return key[0]
    return tuple(key)


@st.composite
def advanced_key(draw: Any, shape: Shape, rng: np.random.Generator, unique: bool = False) -> Any:
    """Int-tensor, list and bool-mask keys, alone or mixed with slices."""
    kinds = ["int_tensor", "list", "mask", "first_dim_mask", "int_then_slice", "slice_then_int", "two_ints"]
    kinds += ["range", "range_then_ints"]
    kind = draw(st.sampled_from(kinds))
    size = shape[0]
    if kind == "range":  # a Python range is a sequence of ints to torch
        start = draw(st.integers(0, size))
        return range(start, draw(st.integers(start, size)), draw(st.sampled_from([1, 2])))
    if kind == "range_then_ints" and len(shape) > 1 and shape[1]:  # lecture code's probs[range(n), ys]
        return (range(size), rng.integers(0, shape[1], size).astype(np.int64))
    if kind == "mask":
        return rng.random(shape) < 0.5
    if kind == "first_dim_mask":
        return (rng.random((size,)) < 0.5, Ellipsis)

    def indices(n: int, count_shape: tuple[int, ...]) -> np.ndarray:
        if unique:
            count = min(int(np.prod(count_shape)), n)
            return rng.permutation(n)[:count] - (n if draw(st.booleans()) else 0)
        return rng.integers(-n, n, count_shape) if n else np.zeros((0,), np.int64)

    count = (draw(st.integers(1, 3)),) if draw(st.booleans()) or unique else (2, 2)
    if kind == "list":
        return indices(size, (draw(st.integers(1, 3)),)).tolist()
    if kind == "int_tensor":
        return indices(size, count).astype(np.int64)
    if kind == "int_then_slice" and len(shape) > 1:
        return (indices(size, count).astype(np.int64), slice(None, None, 2))
    if kind == "slice_then_int" and len(shape) > 1:
        return (slice(None), indices(shape[1], count).astype(np.int64))
    if len(shape) > 1 and not unique:
        return (indices(size, count).astype(np.int64), indices(shape[1], count).astype(np.int64))
    return indices(size, count).astype(np.int64)


def index_builder(advanced: bool, setitem: bool = False, scalar_value: bool = False) -> Builder:
    """x plus a key (and for setitem a value of the indexed result's shape)."""

    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        shape = draw(shapes(cfg, min_dims=1 if advanced else 0))
        seed = draw(seeds())
        rng = np.random.default_rng(seed)
        key = draw(advanced_key(shape, rng, unique=setitem)) if advanced else draw(basic_key(shape))
        x = real(rng, shape)
        if not setitem:
            return Case((x,), {"key": key}, seed)
        if scalar_value:
            return Case((x,), {"key": key, "value": 0.5}, seed)
        target = np.empty(shape)[key].shape
        value_shape = target[draw(st.integers(0, len(target))) :]  # a broadcastable suffix
        return Case((x, real(rng, value_shape)), {"key": key}, seed)

    return custom(draw_case)
