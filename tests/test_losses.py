"""Losses of antorcha.nn against torch.nn: every reduction, both float dtypes, gradients of the
input and the target under a random cotangent, torch's options, errors and stability. The
comparisons run on every device (`device` fixture; torch stays on the cpu as the oracle); the
extra tensors a loss takes (weights, targets) are made on the input's device."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from nn_helpers import (
    DTYPES,
    assert_close,
    compare_with_torch,
    on_device_of,
    random_inputs,
    to_antorcha,
    torch_name,
)

import antorcha
import antorcha.nn as nn
import antorcha.nn.functional as F

TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


# ---- regression losses ---------------------------------------------------------------------------
REGRESSION = [
    ("mse_loss", {}, "MseLossBackward0"),
    ("l1_loss", {}, None),
    ("smooth_l1_loss", {"beta": 0.5}, "SmoothL1LossBackward0"),
    ("smooth_l1_loss", {"beta": 0.0}, None),
    ("huber_loss", {"delta": 0.7}, "HuberLossBackward0"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "kwargs", "node"), REGRESSION)
def test_regression_losses_match_torch(
    dtype: type, reduction: str, name: str, kwargs: dict, node, device: str
) -> None:
    x, y = random_inputs([(4, 3), (4, 3)], dtype)
    x[0, 0] = y[0, 0]  # a zero difference: the kink of l1 and the centre of the quadratic pieces
    result, _ = compare_with_torch(
        lambda a, b: getattr(F, name)(a, b, reduction=reduction, **kwargs),
        lambda a, b: getattr(TF, name)(a, b, reduction=reduction, **kwargs),
        [x, y],
        device=device,
    )
    if node is not None:
        assert type(result.grad_fn).__name__ == node


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_with_weight(name: str, reduction: str, device: str) -> None:
    x, y, w = random_inputs([(4, 3), (4, 3), (4, 3)], np.float64)
    compare_with_torch(
        lambda a, b, c: getattr(F, name)(a, b, reduction=reduction, weight=c.abs()),
        lambda a, b, c: getattr(TF, name)(a, b, reduction=reduction, weight=c.abs()),
        [x, y, w],
        differentiable=[True, True, False],
        device=device,
    )


def test_regression_broadcast_warning_and_dtypes(device: str) -> None:
    x, y = random_inputs([(3, 1), (3,)], np.float32)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        result = F.mse_loss(antorcha.from_numpy(x).to(device), antorcha.from_numpy(y).to(device))
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        expected = TF.mse_loss(torch.from_numpy(x), torch.from_numpy(y))
    assert torch_name(str(ours[0].message)) == str(theirs[0].message)
    assert ours[0].category is UserWarning
    assert_close(result, expected, device=device)
    # float32 input with a float64 or int64 target: torch's type promotion, gradient in float32
    for target in (y.reshape(3, 1).astype(np.float64), np.array([[1], [2], [3]], dtype=np.int64)):
        compare_with_torch(F.mse_loss, TF.mse_loss, [x, target], differentiable=[True, False], device=device)
    with (
        pytest.raises(
            RuntimeError, match=r"The size of tensor a \(3\) must match the size of tensor b \(4\)"
        ),
        pytest.warns(UserWarning, match="Using a target size"),
    ):
        F.mse_loss(antorcha.randn(3), antorcha.randn(4))


# ---- cross entropy and nll -----------------------------------------------------------------------
CE_SHAPES = [((5, 4), (5,)), ((3, 4, 2), (3, 2)), ((2, 4, 2, 3), (2, 2, 3)), ((4,), ())]


def _targets(shape: tuple, classes: int, ignore: int | None = None, seed: int = 0) -> np.ndarray:
    targets = np.random.default_rng(seed).integers(0, classes, size=shape).astype(np.int64)
    if ignore is not None and targets.size > 1:
        targets.reshape(-1)[1] = ignore
    return targets


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("input_shape", "target_shape"), CE_SHAPES)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight": True},
        {"ignore_index": 1},
        {"label_smoothing": 0.2},
        {"weight": True, "ignore_index": 2, "label_smoothing": 0.1},
    ],
)
def test_cross_entropy_with_class_indices(
    dtype, reduction, input_shape, target_shape, options, device
) -> None:
    (logits,) = random_inputs([input_shape], dtype, scale=2.0)
    classes = input_shape[0] if len(input_shape) == 1 else input_shape[1]
    kwargs = {k: v for k, v in options.items() if k != "weight"}
    targets = _targets(target_shape, classes, kwargs.get("ignore_index"))
    weight = np.linspace(0.5, 2.0, classes).astype(dtype) if options.get("weight") else None

    def ours(x, t):
        w = None if weight is None else on_device_of(x, weight)
        return F.cross_entropy(x, t, weight=w, reduction=reduction, **kwargs)

    def theirs(x, t):
        w = None if weight is None else torch.from_numpy(weight)
        return TF.cross_entropy(x, t, weight=w, reduction=reduction, **kwargs)

    result, _ = compare_with_torch(ours, theirs, [logits, targets], device=device)
    if not kwargs.get("label_smoothing"):
        assert type(result.grad_fn).__name__ == "NllLossBackward0"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2), (4,)])
@pytest.mark.parametrize("options", [{}, {"weight": True}, {"label_smoothing": 0.3}])
def test_cross_entropy_with_class_probabilities(dtype, reduction, shape, options, device) -> None:
    logits, raw = random_inputs([shape, shape], dtype, scale=2.0)
    class_dim = 0 if len(shape) == 1 else 1
    probabilities = np.exp(raw) / np.exp(raw).sum(axis=class_dim, keepdims=True)
    weight = np.linspace(0.5, 2.0, shape[class_dim]).astype(dtype) if options.get("weight") else None
    smoothing = options.get("label_smoothing", 0.0)
    compare_with_torch(
        lambda x, p: F.cross_entropy(
            x,
            p,
            None if weight is None else on_device_of(x, weight),
            reduction=reduction,
            label_smoothing=smoothing,
        ),
        lambda x, p: TF.cross_entropy(
            x,
            p,
            None if weight is None else torch.from_numpy(weight),
            reduction=reduction,
            label_smoothing=smoothing,
        ),
        [logits, probabilities.astype(dtype)],
        device=device,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options", [{}, {"weight": True}, {"ignore_index": 0}, {"weight": True, "ignore_index": 3}]
)
def test_nll_loss_matches_torch(dtype, reduction, options, device) -> None:
    (log_probs,) = random_inputs([(6, 4)], dtype)
    targets = _targets((6,), 4, options.get("ignore_index"), seed=2)
    weight = np.array([0.2, 1.0, 3.0, 0.7], dtype=dtype) if options.get("weight") else None
    ignore = options.get("ignore_index", -100)
    compare_with_torch(
        lambda x, t: F.nll_loss(
            x,
            t,
            None if weight is None else on_device_of(x, weight),
            ignore_index=ignore,
            reduction=reduction,
        ),
        lambda x, t: TF.nll_loss(
            x,
            t,
            None if weight is None else torch.from_numpy(weight),
            ignore_index=ignore,
            reduction=reduction,
        ),
        [log_probs, targets],
        device=device,
    )


def test_all_targets_ignored_gives_nan_like_torch(device: str) -> None:
    logits = np.zeros((2, 3), dtype=np.float32)
    targets = np.array([-100, -100], dtype=np.int64)
    compare_with_torch(F.cross_entropy, TF.cross_entropy, [logits, targets], device=device, equal_nan=True)


# ---- binary cross entropy ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_weight", [False, True])
def test_binary_cross_entropy_matches_torch(dtype, reduction, with_weight, device) -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(0.05, 0.95, size=(4, 3)).astype(dtype)
    probabilities[0, :2] = [0.0, 1.0]  # log clamped at -100, as torch does
    targets = rng.uniform(size=(4, 3)).astype(dtype)
    weight = rng.uniform(0.5, 2, size=(3,)).astype(dtype) if with_weight else None
    result, _ = compare_with_torch(
        lambda x, y: F.binary_cross_entropy(
            x, y, None if weight is None else on_device_of(x, weight), reduction=reduction
        ),
        lambda x, y: TF.binary_cross_entropy(
            x, y, None if weight is None else torch.from_numpy(weight), reduction=reduction
        ),
        [probabilities, targets],
        device=device,
    )
    assert type(result.grad_fn).__name__ == "BinaryCrossEntropyBackward0"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", [(), ("weight",), ("pos_weight",), ("weight", "pos_weight")])
def test_bce_with_logits_matches_torch(dtype, reduction, weights, device) -> None:
    logits, targets = random_inputs([(4, 3), (4, 3)], dtype, scale=3.0)
    logits[0, :2] = [1000.0, -1000.0]
    targets = 1 / (1 + np.exp(-targets))
    rng = np.random.default_rng(5)
    extra = {name: rng.uniform(0.5, 2, size=(3,)).astype(dtype) for name in weights}
    result, _ = compare_with_torch(
        lambda x, y: F.binary_cross_entropy_with_logits(
            x, y, reduction=reduction, **{k: on_device_of(x, v) for k, v in extra.items()}
        ),
        lambda x, y: TF.binary_cross_entropy_with_logits(
            x, y, reduction=reduction, **{k: torch.from_numpy(v) for k, v in extra.items()}
        ),
        [logits, targets.astype(dtype)],
        device=device,
    )
    assert type(result.grad_fn).__name__ == "BinaryCrossEntropyWithLogitsBackward0"


# ---- stability -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_large_logits_stay_finite(dtype, device) -> None:
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype=dtype)
    targets = np.array([1, 1], dtype=np.int64)
    result, _ = compare_with_torch(F.cross_entropy, TF.cross_entropy, [logits, targets], device=device)
    assert np.isfinite(result.item())
    compare_with_torch(
        lambda x: F.cross_entropy(x, antorcha.tensor([0, 2], device=x.device), label_smoothing=0.1),
        lambda x: TF.cross_entropy(x, torch.tensor([0, 2]), label_smoothing=0.1),
        [logits],
        device=device,
    )
    flat = logits.reshape(-1)
    compare_with_torch(
        lambda x: F.binary_cross_entropy_with_logits(
            x, antorcha.ones(6, dtype=x.dtype, device=x.device) * 0.5
        ),
        lambda x: TF.binary_cross_entropy_with_logits(x, torch.ones(6, dtype=x.dtype) * 0.5),
        [flat],
        device=device,
    )


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda x: F.mse_loss(x, x.detach() * 0.5 + 1), lambda x: TF.mse_loss(x, x.detach() * 0.5 + 1)),
        (
            lambda x: F.cross_entropy(x, antorcha.tensor([0, 2, 1], device=x.device)),
            lambda x: TF.cross_entropy(x, torch.tensor([0, 2, 1])),
        ),
        (
            lambda x: F.binary_cross_entropy_with_logits(
                x, x.detach().sigmoid(), pos_weight=antorcha.ones(3, device=x.device) * 2
            ),
            lambda x: TF.binary_cross_entropy_with_logits(
                x, x.detach().sigmoid(), pos_weight=torch.ones(3) * 2
            ),
        ),
        (
            lambda x: F.binary_cross_entropy(x.sigmoid(), x.detach().sigmoid() * 0.5),
            lambda x: TF.binary_cross_entropy(x.sigmoid(), x.detach().sigmoid() * 0.5),
        ),
        (lambda x: F.huber_loss(x * x, x.detach()), lambda x: TF.huber_loss(x * x, x.detach())),
    ],
)
def test_loss_second_derivatives_match_torch(ours, theirs, device: str) -> None:
    (x_np,) = random_inputs([(3, 3)], np.float64, seed=4)
    x_t = torch.tensor(x_np, requires_grad=True)
    (g_t,) = torch.autograd.grad(theirs(x_t), x_t, create_graph=True)
    (gg_t,) = torch.autograd.grad((g_t * g_t).sum(), x_t)
    x_a = antorcha.tensor(x_np, requires_grad=True, device=device)
    (g_a,) = antorcha.autograd.grad(ours(x_a), x_a, create_graph=True)
    (gg_a,) = antorcha.autograd.grad((g_a * g_a).sum(), x_a)
    assert_close(g_a, g_t, device=device)
    assert_close(gg_a, gg_t, device=device, rtol=1e-8, atol=1e-12)


# ---- modules -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kwargs", "make_target"),
    [
        ("MSELoss", {}, lambda s: np.random.default_rng(1).standard_normal(s)),
        ("L1Loss", {"reduction": "sum"}, lambda s: np.random.default_rng(1).standard_normal(s)),
        ("SmoothL1Loss", {"beta": 0.3}, lambda s: np.random.default_rng(1).standard_normal(s)),
        (
            "HuberLoss",
            {"delta": 0.4, "reduction": "none"},
            lambda s: np.random.default_rng(1).standard_normal(s),
        ),
        ("CrossEntropyLoss", {"label_smoothing": 0.1, "ignore_index": 0}, lambda s: _targets((s[0],), s[1])),
        ("NLLLoss", {"reduction": "sum"}, lambda s: _targets((s[0],), s[1])),
        ("BCELoss", {}, lambda s: np.random.default_rng(1).uniform(size=s)),
        ("BCEWithLogitsLoss", {}, lambda s: np.random.default_rng(1).uniform(size=s)),
    ],
)
def test_loss_modules_match_torch(name, kwargs, make_target, device) -> None:
    shape = (4, 3)
    x = np.random.default_rng(0).uniform(0.1, 0.9, size=shape)
    target = make_target(shape)
    target = target if target.dtype == np.int64 else target.astype(np.float64)
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    compare_with_torch(ours, theirs, [x, target], device=device)
    assert repr(ours) == repr(theirs)


def test_weighted_loss_modules_keep_weight_as_buffer() -> None:
    weight = antorcha.tensor([1.0, 2.0, 3.0])
    loss = nn.CrossEntropyLoss(weight=weight)
    assert loss.weight is weight and "weight" in dict(loss.named_buffers())
    bce = nn.BCEWithLogitsLoss(pos_weight=weight)
    assert list(bce.state_dict()) == list(torch.nn.BCEWithLogitsLoss(pos_weight=torch.ones(3)).state_dict())
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert nn.MSELoss(size_average=False).reduction == "sum"


# ---- errors --------------------------------------------------------------------------------------
ERROR_CASES = [
    ("cross_entropy", ((3, 5), "float", (3,)), {}),
    ("cross_entropy", ((3, 5), "long", (2,)), {}),
    ("cross_entropy", ((3, 5), "long7", (3,)), {}),
    ("cross_entropy", ((3, 5, 4), "long", (3,)), {}),
    ("cross_entropy", ((3, 5, 4, 2), "long", (3, 4)), {}),
    ("cross_entropy", ((3, 5), "int", (3,)), {}),
    ("cross_entropy", ((3, 5), "long", (3, 5)), {}),
    ("cross_entropy", ((3, 5), "float", (3, 5)), {"ignore_index": 1}),
    ("cross_entropy", ((3, 5), "long", (3,)), {"label_smoothing": 1.5}),
    ("cross_entropy", ((3, 5), "long", (3,)), {"weight": 4}),
    ("cross_entropy", ((3, 5), "float", (3, 5)), {"weight": 4}),
    ("nll_loss", ((), "long", ()), {}),
    ("nll_loss", ((3, 5, 2, 2, 2), "long", (3,)), {}),
    ("nll_loss", ((3, 5), "long", (3,)), {"weight": "double"}),
    ("binary_cross_entropy", ((3,), "float", (4,)), {}),
    ("binary_cross_entropy", ((3,), "long", (3,)), {}),
    ("binary_cross_entropy", ((3,), "double", (3,)), {}),
    ("binary_cross_entropy", ((3,), "float", (3,)), {"input_scale": 2.0}),
    ("binary_cross_entropy_with_logits", ((3,), "float", (4,)), {}),
    ("binary_cross_entropy_with_logits", ((3,), "long", (3,)), {}),
    ("smooth_l1_loss", ((3,), "float", (3,)), {"beta": -1.0}),
    ("huber_loss", ((3,), "float", (3,)), {"delta": 0.0}),
    ("mse_loss", ((3,), "float", (3,)), {"reduction": "foo"}),
]


def _make_target(kind: str, shape: tuple):
    rng = np.random.default_rng(0)
    if kind.startswith("long"):
        high = int(kind[4:] or 0) + 3
        array = rng.integers(high - 3, high, size=shape).astype(np.int64)
    elif kind == "int":
        array = rng.integers(0, 3, size=shape).astype(np.int32)
    else:
        array = rng.uniform(size=shape).astype(np.float64 if kind == "double" else np.float32)
    array = np.asarray(array)
    return to_antorcha(torch.from_numpy(array)), torch.from_numpy(array)


@pytest.mark.parametrize(("name", "spec", "kwargs"), ERROR_CASES)
def test_errors_match_torch(name: str, spec: tuple, kwargs: dict) -> None:
    input_shape, kind, target_shape = spec
    kwargs = dict(kwargs)
    scale = kwargs.pop("input_scale", 1.0)
    x = np.asarray(np.random.default_rng(1).uniform(size=input_shape) * scale, dtype=np.float32)
    ours_target, torch_target = _make_target(kind, target_shape)
    ours_kwargs, torch_kwargs = dict(kwargs), dict(kwargs)
    if "weight" in kwargs:
        weight_kind = kwargs["weight"]
        array = np.ones(5 if weight_kind == "double" else weight_kind)
        array = array.astype(np.float64 if weight_kind == "double" else np.float32)
        ours_kwargs["weight"], torch_kwargs["weight"] = (
            antorcha.from_numpy(array.copy()),
            torch.from_numpy(array),
        )
    with pytest.raises(Exception) as theirs:
        getattr(TF, name)(torch.from_numpy(x), torch_target, **torch_kwargs)
    with pytest.raises(theirs.type) as ours:
        getattr(F, name)(antorcha.from_numpy(x.copy()), ours_target, **ours_kwargs)
    assert torch_name(str(ours.value)) == str(theirs.value)


@pytest.mark.parametrize(
    ("name", "keyword"),
    [
        ("binary_cross_entropy", "weight"),
        ("binary_cross_entropy_with_logits", "weight"),
        ("binary_cross_entropy_with_logits", "pos_weight"),
        ("nll_loss", "weight"),
    ],
)
def test_weights_requiring_grad_are_refused_like_torch(name: str, keyword: str) -> None:
    x = np.random.default_rng(0).uniform(0.1, 0.9, size=(2, 3)).astype(np.float32)
    target = np.array([0, 2]) if name == "nll_loss" else np.full((2, 3), 0.5, dtype=np.float32)
    with pytest.raises(RuntimeError) as theirs:
        getattr(TF, name)(
            torch.from_numpy(x), torch.from_numpy(target), **{keyword: torch.ones(3, requires_grad=True)}
        )
    with pytest.raises(RuntimeError) as ours:
        getattr(F, name)(
            antorcha.from_numpy(x),
            antorcha.from_numpy(target),
            **{keyword: antorcha.ones(3, requires_grad=True)},
        )
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_second_derivatives_in_both_inputs_and_the_cotangent_match_torch(reduction: str) -> None:
    """MseLossGrads (mse's backward as an op) differentiated w.r.t. input, target and cotangent."""
    x_np, y_np = random_inputs([(4, 3), (4, 3)], np.float64, seed=7)
    rng = np.random.default_rng(8)
    results = []
    for lib in (torch, antorcha):
        x, y = lib.tensor(x_np, requires_grad=True), lib.tensor(y_np, requires_grad=True)
        loss = lib.nn.functional.mse_loss(x * x, y.exp(), reduction=reduction)
        cotangent = lib.tensor(rng.standard_normal(tuple(loss.shape)), requires_grad=True)
        gx, gy = lib.autograd.grad(loss, (x, y), cotangent, create_graph=True)
        weights = lib.tensor(np.random.default_rng(9).standard_normal((2, 4, 3)))
        second = lib.autograd.grad((gx * weights[0]).sum() + (gy * weights[1]).sum(), (x, y, cotangent))
        results.append([t.detach().numpy() for t in (gx, gy, *second)])
        rng = np.random.default_rng(8)
    for ours, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
