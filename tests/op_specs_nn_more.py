"""Op-spec rows for the rest of nn.functional (joined into `op_specs.SPECS`): the activations of
`_activation_more.py`, and the losses and distances of `_loss_more.py` and `_ctc.py` (the shape
and sampling layers are in op_specs_sampling.py). Their modules, reprs, errors and the random
layers' statistics are in tests/test_nn_more.py."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from op_spec import ACCUMULATE, OpSpec
from strategies import (
    Case,
    ShapeConfig,
    away_from,
    broadcastable_shapes,
    custom,
    dim_of,
    elementwise,
    make_case,
    nonzero,
    positive,
    real,
    reduction_kwargs,
    shapes,
    with_kwargs,
)

NOT_OPS: dict[str, str] = {
    "F.gumbel_softmax": "random: tests/test_nn_more.py compares it with torch under one seed",
    "F.rrelu_": "random in training: tests/test_nn_more.py checks the slopes' bounds (eval: the F.rrelu row)",
}

E = elementwise
REDUCTIONS = ("none", "mean", "sum")


def _wide(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Values over (-5, 5), away from hardswish's and hardsigmoid's kinks at -3 and 3."""
    values = rng.uniform(-5, 5, shape)
    for kink in (-3.0, 3.0):
        close = np.abs(values - kink) < 0.1
        values = np.where(close, kink + np.where(values >= kink, 0.1, -0.1), values)
    return values


def _kwargs(*options: dict[str, Any]) -> Any:
    return lambda shape: st.sampled_from(options)


def _activation(name: str, args: Any, **kw: Any) -> OpSpec:
    return OpSpec(f"F.{name}", args, functional=name, **kw)


def _inplace(name: str, call: Any, args: Any) -> OpSpec:
    return OpSpec(f"F.{name}", args, call=call, covers=(f"F.{name}",))


def _prelu_args(draw: Any, cfg: ShapeConfig) -> Case:
    shape = draw(shapes(cfg, 0, 4))
    channels = shape[1] if len(shape) >= 2 else 1
    count = draw(st.sampled_from([1, channels]))
    return make_case(draw, (shape, (count,)), (nonzero, positive))


def _glu_kwargs(shape: tuple) -> st.SearchStrategy[dict[str, Any]]:
    even = [d for d, n in enumerate(shape) if n % 2 == 0]
    dims = even + [d - len(shape) for d in even]
    return st.fixed_dictionaries({"dim": st.sampled_from(dims)}) if dims else st.just({"dim": 0})


def _glu_valid(case: Case) -> bool:
    x = case.arrays[0]
    return x.ndim > 0 and x.shape[case.kwargs["dim"]] % 2 == 0


def _activation_rows() -> list[OpSpec]:
    along = with_kwargs(real, reduction_kwargs(dim="int", keepdim=False, whole=False))
    return [
        _activation("elu", with_kwargs(nonzero, _kwargs({}, {"alpha": 0.5})), second_order=True),
        _inplace("elu_", lambda m, x: m.nn.functional.elu_(x * 1, 0.7), E(nonzero)),
        _activation("selu", E(nonzero), second_order=True),
        _inplace("selu_", lambda m, x: m.nn.functional.selu_(x * 1), E(nonzero)),
        _activation(
            "celu", with_kwargs(nonzero, _kwargs({}, {"alpha": 0.7}, {"alpha": 2.0})), second_order=True
        ),
        _inplace("celu_", lambda m, x: m.nn.functional.celu_(x * 1, 1.5), E(nonzero)),
        _activation("prelu", custom(_prelu_args), second_order=True),
        _activation("rrelu", with_kwargs(nonzero, _kwargs({}, {"lower": 0.2, "upper": 0.4}))),
        _activation(
            "relu6",
            E(
                away_from(0.0)
            ),  # second order: torch returns zeros for d(grad)/dx here, antorcha None (the same zero)
            differentiable=True,
        ),
        _activation(
            "hardtanh",
            with_kwargs(away_from(-1.0, 1.0, -0.5, 0.5), _kwargs({}, {"min_val": -0.5, "max_val": 0.5})),
            # second order: torch returns zeros for d(grad)/dx here, antorcha None (the same zero)
            differentiable=True,
        ),
        _inplace(
            "hardtanh_", lambda m, x: m.nn.functional.hardtanh_(x * 1, -0.5, 0.5), E(away_from(-0.5, 0.5))
        ),
        OpSpec(
            "F.hardtanh_inplace",
            E(away_from(-1.0, 1.0)),
            call=lambda m, x: m.nn.functional.hardtanh(x * 1, inplace=True),
        ),
        _activation("hardswish", E(_wide), second_order=True),
        _activation("hardsigmoid", E(_wide)),  # torch has no second derivative for it
        _activation("mish", second_order=True, args=E(real)),
        _activation("glu", with_kwargs(real, _glu_kwargs, min_dims=1), valid=_glu_valid, second_order=True),
        _activation("softsign", E(nonzero), second_order=True),
        _activation("softmin", along, tol=ACCUMULATE, second_order=True),
        _activation(
            "threshold",
            with_kwargs(away_from(0.3), _kwargs({"threshold": 0.3, "value": -2.0})),
            # second order: torch returns zeros for d(grad)/dx here, antorcha None (the same zero)
            differentiable=True,
        ),
        _inplace("threshold_", lambda m, x: m.nn.functional.threshold_(x * 1, 0.3, 5.0), E(away_from(0.3))),
        _activation("tanhshrink", E(real), second_order=True),
        _activation(
            "softshrink",
            with_kwargs(away_from(-0.5, 0.5, -1.0, 1.0), _kwargs({}, {"lambd": 1.0})),
            # second order: torch returns zeros for d(grad)/dx here, antorcha None (the same zero)
            differentiable=True,
        ),
        _activation("hardshrink", with_kwargs(away_from(-0.5, 0.5, -1.0, 1.0), _kwargs({}, {"lambd": 1.0}))),
    ]


# ---- losses ------------------------------------------------------------------------------------
def _pair_case(draw: Any, cfg: ShapeConfig, samplers: tuple, **kwargs: Any) -> Case:
    shape = draw(shapes(cfg))
    return make_case(draw, (shape,) * len(samplers), samplers, **kwargs)


def _signs(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return rng.choice([-1, 1], shape).astype(np.int64)


def _kl_args(draw: Any, cfg: ShapeConfig) -> Case:
    log_target = draw(st.booleans())
    reduction = draw(st.sampled_from(["none", "sum", "batchmean"]))  # 'mean' warns: test_nn_more.py
    return _pair_case(
        draw, cfg, (real, real if log_target else positive), reduction=reduction, log_target=log_target
    )


def _poisson_args(draw: Any, cfg: ShapeConfig) -> Case:
    log_input = draw(st.booleans())
    return _pair_case(
        draw,
        cfg,
        (real if log_input else positive, positive),
        log_input=log_input,
        full=draw(st.booleans()),
        reduction=draw(st.sampled_from(REDUCTIONS)),
    )


def _gaussian_args(draw: Any, cfg: ShapeConfig) -> Case:
    shape = draw(shapes(cfg, 1))
    var_shape = draw(st.sampled_from([shape, shape[:-1], (*shape[:-1], 1)]))
    return make_case(
        draw,
        (shape, shape, var_shape),
        (real, real, positive),
        full=draw(st.booleans()),
        reduction=draw(st.sampled_from(REDUCTIONS)),
    )


def _with_signs(draw: Any, cfg: ShapeConfig) -> Case:
    return _pair_case(draw, cfg, (nonzero, _signs), reduction=draw(st.sampled_from(REDUCTIONS)))


def _multilabel_soft_args(draw: Any, cfg: ShapeConfig) -> Case:
    shape = draw(shapes(cfg, 1, 2))
    labels = lambda rng, s: (rng.random(s) < 0.5).astype(np.float64)  # noqa: E731
    return make_case(
        draw,
        (shape, shape),
        (real, labels),
        reduction=draw(st.sampled_from(REDUCTIONS)),
        weighted=draw(st.booleans()),
    )


def _ranking_args(draw: Any, cfg: ShapeConfig) -> Case:
    shape = draw(shapes(cfg))
    return make_case(
        draw,
        (shape,) * 3,
        (real, real, _signs),
        margin=draw(st.sampled_from([0.0, 0.3])),
        reduction=draw(st.sampled_from(REDUCTIONS)),
    )


def _hinge_valid(case: Case) -> bool:
    x1, x2, target = case.arrays
    return bool(np.all(np.abs(-target * (x1 - x2) + case.kwargs["margin"]) > 1e-3))


def _rows_and_features(draw: Any, cfg: ShapeConfig) -> tuple[int, ...]:
    side = st.integers(max(cfg.min_side, 1), cfg.max_side)
    return draw(st.sampled_from([(draw(side), draw(side)), (draw(side),)]))


def _cosine_embedding_args(draw: Any, cfg: ShapeConfig) -> Case:
    shape = _rows_and_features(draw, cfg)
    return make_case(
        draw,
        (shape, shape, shape[:-1]),
        (nonzero, nonzero, _signs),
        margin=draw(st.sampled_from([0.0, -0.3, 0.2])),
        reduction=draw(st.sampled_from(REDUCTIONS)),
    )


def _triplet_args(draw: Any, cfg: ShapeConfig) -> Case:
    shape = _rows_and_features(draw, cfg)
    return make_case(
        draw,
        (shape,) * 3,
        (real, real, real),
        p=draw(st.sampled_from([1.0, 2.0, 3.0])),
        swap=draw(st.booleans()),
        margin=draw(st.sampled_from([1.0, 0.5])),
        reduction=draw(st.sampled_from(REDUCTIONS)),
    )


def _distance_args(draw: Any, cfg: ShapeConfig) -> Case:
    a, b = draw(broadcastable_shapes(cfg, 2, min_dims=1))
    return make_case(
        draw,
        (a, b),
        (real, real),
        p=draw(st.sampled_from([1.0, 2.0, 3.0, float("inf")])),
        keepdim=draw(st.booleans()),
    )


def _cosine_args(draw: Any, cfg: ShapeConfig) -> Case:
    a, b = draw(broadcastable_shapes(cfg, 2, min_dims=1))
    ndim = max(len(a), len(b))
    return make_case(draw, (a, b), (nonzero, nonzero), dim=draw(dim_of(ndim)))


def _margin_args(draw: Any, cfg: ShapeConfig) -> Case:
    shape = _rows_and_features(draw, cfg)
    classes = shape[-1]
    labels = lambda rng, s: rng.integers(0, classes, s).astype(np.int64)  # noqa: E731
    return make_case(
        draw,
        (shape, shape[:-1] if len(shape) == 2 else (1,)),
        (real, labels),
        p=draw(st.sampled_from([1, 2])),
        margin=draw(st.sampled_from([1.0, 0.5])),
        weighted=draw(st.booleans()),
        reduction=draw(st.sampled_from(REDUCTIONS)),
    )


def _multilabel_targets(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    classes = shape[-1]
    rows = rng.integers(0, classes, shape).astype(np.int64)
    stops = rng.integers(0, classes + 1, shape[:-1] or (1,))
    for row, stop in zip(rows.reshape(-1, classes), stops.reshape(-1)):
        if stop < classes:
            row[stop] = -1
    return rows


def _multilabel_args(draw: Any, cfg: ShapeConfig) -> Case:
    shape = _rows_and_features(draw, cfg)
    return make_case(
        draw, (shape, shape), (real, _multilabel_targets), reduction=draw(st.sampled_from(REDUCTIONS))
    )


def _margins_off_kinks(case: Case) -> bool:
    """No hinge exactly at 0 (margin - x[y] + x[j] for every j)."""
    x, labels = case.arrays[:2]
    rows = x.reshape(-1, x.shape[-1])
    picked = rows[np.arange(rows.shape[0]), labels.reshape(-1)] if labels.max(initial=-1) >= 0 else 0
    margin = case.kwargs.get("margin", 1.0)
    return bool(np.all(np.abs(margin - np.asarray(picked).reshape(-1, 1) + rows) > 1e-3))


def _multilabel_valid(case: Case) -> bool:
    x = case.arrays[0].reshape(-1, case.arrays[0].shape[-1])
    hinge = 1 - x[:, :, None] + x[:, None, :]
    return bool(np.all(np.abs(hinge) > 1e-3))


def _ctc_args(draw: Any, cfg: ShapeConfig) -> Case:
    steps, batch, classes = draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(st.integers(2, 5))
    max_target = draw(st.integers(0, 3))
    blank = draw(st.integers(0, classes - 1))
    inputs = lambda rng, s: rng.integers(max(steps - 2, 0), steps + 1, s).astype(np.int64)  # noqa: E731
    targets = lambda rng, s: ((rng.integers(1, classes, s) + blank) % classes).astype(np.int64)  # noqa: E731
    lengths = lambda rng, s: rng.integers(0, max_target + 1, s).astype(np.int64)  # noqa: E731
    return make_case(
        draw,
        ((steps, batch, classes), (batch, max_target), (batch,), (batch,)),
        (real, targets, inputs, lengths),
        blank=blank,
        reduction=draw(st.sampled_from(REDUCTIONS)),
        zero_infinity=draw(st.booleans()),
        normalised=draw(st.booleans()),
    )


def _ctc(
    m: Any, x: Any, targets: Any, input_lengths: Any, target_lengths: Any, normalised: bool, **kw: Any
) -> Any:
    log_probs = x.log_softmax(2) if normalised else x  # raw inputs check torch's formula itself
    return m.nn.functional.ctc_loss(log_probs, targets, input_lengths, target_lengths, **kw)


def _loss(name: str, draw_case: Any, call: Any, **kw: Any) -> OpSpec:
    return OpSpec(f"F.{name}", custom(draw_case), call=call, covers=(f"F.{name}",), tol=ACCUMULATE, **kw)


def _weight(m: Any, x: Any, weighted: bool) -> Any:
    return m.linspace(0.5, 1.5, x.shape[-1], dtype=x.dtype) if weighted else None


def _loss_rows() -> list[OpSpec]:
    F = lambda m: m.nn.functional  # noqa: E731
    return [
        _loss("kl_div", _kl_args, lambda m, x, y, **kw: F(m).kl_div(x, y, **kw), second_order=True),
        _loss(
            "poisson_nll_loss",
            _poisson_args,
            lambda m, x, y, **kw: F(m).poisson_nll_loss(x, y, **kw),
            second_order=True,
        ),
        _loss(
            "gaussian_nll_loss",
            _gaussian_args,
            lambda m, x, y, v, **kw: F(m).gaussian_nll_loss(x, y, v, **kw),
            second_order=True,
        ),
        _loss(
            "soft_margin_loss",
            _with_signs,
            lambda m, x, t, **kw: F(m).soft_margin_loss(x, t.to(x.dtype), **kw),
            second_order=True,
        ),
        _loss(
            "multilabel_soft_margin_loss",
            _multilabel_soft_args,
            lambda m, x, t, weighted, **kw: F(m).multilabel_soft_margin_loss(
                x, t, _weight(m, x, weighted), **kw
            ),
        ),
        _loss(
            "hinge_embedding_loss",
            _with_signs,
            lambda m, x, t, **kw: F(m).hinge_embedding_loss(x, t.to(x.dtype), margin=0.5, **kw),
        ),
        _loss(
            "margin_ranking_loss",
            _ranking_args,
            lambda m, a, b, t, **kw: F(m).margin_ranking_loss(a, b, t.to(a.dtype), **kw),
            valid=_hinge_valid,
        ),
        _loss(
            "cosine_embedding_loss",
            _cosine_embedding_args,
            lambda m, a, b, t, **kw: F(m).cosine_embedding_loss(a, b, t, **kw),
            second_order=True,
        ),
        _loss(
            "triplet_margin_loss",
            _triplet_args,
            lambda m, a, pos, neg, **kw: F(m).triplet_margin_loss(a, pos, neg, **kw),
            second_order=True,
        ),
        _loss(
            "triplet_margin_with_distance_loss",
            _triplet_args,
            lambda m, a, pos, neg, p, margin, swap, reduction: F(m).triplet_margin_with_distance_loss(
                a,
                pos,
                neg,
                distance_function=lambda u, v: F(m).pairwise_distance(u, v, p + 0.5),
                margin=margin,
                swap=swap,
                reduction=reduction,
            ),
        ),
        _loss(
            "pairwise_distance",
            _distance_args,
            lambda m, a, b, **kw: F(m).pairwise_distance(a, b, **kw),
            second_order=True,
        ),
        _loss(
            "cosine_similarity",
            _cosine_args,
            lambda m, a, b, **kw: F(m).cosine_similarity(a, b, **kw),
            second_order=True,
        ),
        _loss(
            "multi_margin_loss",
            _margin_args,
            lambda m, x, t, weighted, **kw: F(m).multi_margin_loss(
                x, t, weight=_weight(m, x, weighted), **kw
            ),
            valid=_margins_off_kinks,
        ),
        _loss(
            "multilabel_margin_loss",
            _multilabel_args,
            lambda m, x, t, **kw: F(m).multilabel_margin_loss(x, t, **kw),
            valid=_multilabel_valid,
        ),
        OpSpec(
            "F.ctc_loss",
            custom(_ctc_args),
            call=_ctc,
            covers=("F.ctc_loss",),
            tol=ACCUMULATE,
            edge=False,
            noncontiguous=False,
        ),
    ]


def rows() -> list[OpSpec]:
    return [*_activation_rows(), *_loss_rows()]
