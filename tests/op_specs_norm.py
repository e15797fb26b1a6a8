"""Op-spec rows for `antorcha/nn/functional/_batch_norm.py` (joined into `op_specs.SPECS`): batch,
instance and group normalisation, normalize and local_response_norm. The modules, the running
estimates, momentum and the errors are compared in tests/test_batch_norm.py."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from op_spec import ACCUMULATE, OpSpec
from strategies import Case, ShapeConfig, custom, dim_of, make_case, real, shapes, with_kwargs

# public names of this area that are not ops, or are compared with torch elsewhere: name -> why
NOT_OPS: dict[str, str] = {}


def _channels_first(draw: Any, cfg: ShapeConfig, min_dims: int = 2, channels: Any = None) -> tuple[int, ...]:
    """(N, C, *): at least `min_dims` dims, C drawn from `channels` when given."""
    shape = draw(shapes(cfg, min_dims, max(cfg.max_dims, min_dims) + 1))
    if channels is not None:
        shape = (shape[0], draw(channels), *shape[2:])
    return shape


def _with_affine(draw: Any, shape: tuple[int, ...], channels: int, **kwargs: Any) -> Case:
    return make_case(draw, (shape, (channels,), (channels,)), (real, real, real), **kwargs)


def _batch_norm_args(draw: Any, cfg: ShapeConfig) -> Case:
    shape = _channels_first(draw, cfg)
    return _with_affine(draw, shape, shape[1], training=draw(st.booleans()))


def _instance_norm_args(draw: Any, cfg: ShapeConfig) -> Case:
    shape = _channels_first(draw, cfg, min_dims=3)
    return _with_affine(draw, shape, shape[1])


def _group_norm_args(draw: Any, cfg: ShapeConfig) -> Case:
    groups = draw(st.integers(1, 3))
    per_group = st.integers(max(cfg.min_side, 1), 2).map(lambda n: n * groups)
    shape = _channels_first(draw, cfg, channels=per_group)
    return _with_affine(draw, shape, shape[1], num_groups=groups)


def _normalize_kwargs(shape: tuple[int, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"dim": dim_of(len(shape)), "p": st.sampled_from([1.0, 2.0, 3.0])})


def _lrn_kwargs(shape: tuple[int, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"size": st.integers(1, 4), "alpha": st.just(0.5), "k": st.just(1.5)})


def _batch_norm(m: Any, x: Any, weight: Any, bias: Any, training: bool) -> Any:
    """Batch statistics in training, constant running estimates (C,) otherwise."""
    channels = x.shape[1]
    steps = m.arange(channels, dtype=x.dtype, device=x.device)
    mean, var = steps * 0.5 - 1.0, steps * 0.25 + 0.5
    return m.nn.functional.batch_norm(x, mean, var, weight, bias, training, 0.1, 1e-3)


def _sets(case: Case) -> np.ndarray:
    """The values normalised together, one set per row: (channels, values) for batch norm,
    (instances · channels, values) for instance norm, (instances · groups, values) for group norm."""
    x = case.arrays[0]
    if "training" in case.kwargs:
        x = np.moveaxis(x, 1, 0)
        sets = x.shape[0]
    else:
        sets = x.shape[0] * case.kwargs.get("num_groups", x.shape[1])
    return x.reshape(sets, x.size // sets) if sets else x.reshape(0, 0)


def _well_posed(case: Case) -> bool:
    """Sets of more than one value, spread enough that float32 rounding does not dominate the
    gradient (two near-equal values have a variance near eps: both libraries' float32 gradients are
    then off by 1e-4). torch refuses single-value sets in training (batch and instance norm), and
    also some empty inputs antorcha normalises to an empty result: an eval batch_norm of 0
    channels with a weight (IndexError in select()) and an instance_norm of 0 instances under
    autograd ("a view of a leaf Variable ... in-place")."""
    x = case.arrays[0]
    if case.kwargs.get("training") is False:
        return x.shape[1] > 0
    sets = _sets(case)
    if sets.shape[0] == 0 or sets.shape[1] < 2:
        return False
    return bool(np.all(sets.std(axis=1) > 0.2))


def _instance_norm(m: Any, x: Any, weight: Any, bias: Any) -> Any:
    return m.nn.functional.instance_norm(x, weight=weight, bias=bias)


def _group_norm(m: Any, x: Any, weight: Any, bias: Any, num_groups: int) -> Any:
    return m.nn.functional.group_norm(x, num_groups, weight, bias)


def rows() -> list[OpSpec]:
    return [
        OpSpec(
            "F.batch_norm",
            custom(_batch_norm_args),
            call=_batch_norm,
            covers=("F.batch_norm",),
            tol=ACCUMULATE,
            valid=_well_posed,
            second_order=True,
        ),
        OpSpec(
            "F.instance_norm",
            custom(_instance_norm_args),
            call=_instance_norm,
            covers=("F.instance_norm",),
            tol=ACCUMULATE,
            valid=_well_posed,
        ),
        OpSpec(
            "F.group_norm",
            custom(_group_norm_args),
            call=_group_norm,
            covers=("F.group_norm",),
            tol=ACCUMULATE,
            valid=_well_posed,
            second_order=True,
        ),
        OpSpec(
            "F.normalize",
            with_kwargs(real, _normalize_kwargs, min_dims=1),
            functional="normalize",
            tol=ACCUMULATE,
        ),
        OpSpec(
            "F.local_response_norm",
            with_kwargs(real, _lrn_kwargs, min_dims=3),
            functional="local_response_norm",
            tol=ACCUMULATE,
        ),
    ]
