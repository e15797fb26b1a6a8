"""The modules of the rest of torch.nn (activations, losses, distances, sampling and shape layers,
channel-wise and alpha dropout) against torch: reprs, parameters and their init, the forward of
every module, reduction modes, in-place forms, the random layers' statistics, and the exception
class and message for bad arguments. The functional forms go through the op-spec table
(tests/op_specs_nn_more.py and op_specs_sampling.py)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import antorcha

RNG = np.random.default_rng(0)

# ---- reprs ---------------------------------------------------------------------------------------
CONSTRUCTORS: list[str] = [
    "ELU()",
    "ELU(0.5, True)",
    "SELU()",
    "SELU(True)",
    "CELU(2.0)",
    "CELU(inplace=True)",
    "PReLU()",
    "PReLU(3, 0.1)",
    "ReLU6()",
    "ReLU6(True)",
    "Hardtanh()",
    "Hardtanh(-2.0, 2.0, True)",
    "Hardswish()",
    "Hardswish(True)",
    "Hardsigmoid(True)",
    "Mish()",
    "Mish(True)",
    "GLU()",
    "GLU(1)",
    "Softsign()",
    "Softmin(1)",
    "Softmin()",
    "Softmax2d()",
    "Threshold(0.1, 20.0)",
    "Threshold(0.1, 20, True)",
    "Tanhshrink()",
    "Softshrink()",
    "Softshrink(1.5)",
    "Hardshrink(0.2)",
    "RReLU()",
    "RReLU(0.1, 0.3, True)",
    "KLDivLoss()",
    "KLDivLoss(reduction='batchmean', log_target=True)",
    "CosineEmbeddingLoss(0.5)",
    "MarginRankingLoss()",
    "TripletMarginLoss()",
    "TripletMarginLoss(0.5, 1.0, swap=True)",
    "TripletMarginWithDistanceLoss()",
    "PoissonNLLLoss()",
    "GaussianNLLLoss()",
    "MultiLabelSoftMarginLoss()",
    "SoftMarginLoss()",
    "HingeEmbeddingLoss()",
    "MultiMarginLoss()",
    "MultiLabelMarginLoss()",
    "CTCLoss()",
    "CosineSimilarity()",
    "CosineSimilarity(0, 1e-3)",
    "PairwiseDistance()",
    "PairwiseDistance(1.0, keepdim=True)",
    "Upsample(scale_factor=2)",
    "Upsample(size=(3, 4), mode='bilinear')",
    "Upsample(size=5)",
    "Upsample(scale_factor=(2, 3), mode='bilinear', align_corners=True)",
    "UpsamplingNearest2d(scale_factor=2)",
    "UpsamplingBilinear2d(size=5)",
    "Unfold(2)",
    "Unfold((2, 3), 2, 1, 2)",
    "Fold(4, 2)",
    "Fold((4, 5), (2, 2), stride=2)",
    "Bilinear(2, 3, 4)",
    "Bilinear(2, 3, 4, bias=False)",
    "PixelShuffle(2)",
    "PixelUnshuffle(3)",
    "ChannelShuffle(2)",
    "Dropout1d()",
    "Dropout2d(0.3, True)",
    "Dropout3d()",
    "AlphaDropout(0.2)",
    "FeatureAlphaDropout()",
]


@pytest.mark.parametrize("constructor", CONSTRUCTORS)
def test_repr_is_torchs(constructor: str) -> None:
    ours = eval(f"antorcha.nn.{constructor}")
    theirs = eval(f"torch.nn.{constructor}")
    assert repr(ours) == repr(theirs)


# ---- parameters ----------------------------------------------------------------------------------
@pytest.mark.parametrize("count, init", [(1, 0.25), (3, -0.1)])
def test_prelu_parameter_init_and_gradients(count: int, init: float) -> None:
    ours, theirs = antorcha.nn.PReLU(count, init), torch.nn.PReLU(count, init)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    np.testing.assert_array_equal(ours.weight.detach().numpy(), theirs.weight.detach().numpy())
    x = RNG.standard_normal((2, 3, 4))
    a, t = antorcha.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(a).sum().backward()
    theirs(t.to(torch.float32)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_init_forward_and_backward_are_torchs(bias: bool) -> None:
    antorcha.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = antorcha.nn.Bilinear(3, 2, 4, bias=bias), torch.nn.Bilinear(3, 2, 4, bias=bias)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[name].numpy(), value.numpy())
    (a1, a2), (t1, t2) = _pair((5, 3), (5, 2))
    for x in (a1, a2, t1, t2):
        x.requires_grad_(True)
    a_out, t_out = ours(a1.float(), a2.float()), theirs(t1.float(), t2.float())
    _same(a_out, t_out, 1e-6)
    a_out.sum().backward()
    t_out.sum().backward()
    _same(a1.grad, t1.grad, 1e-6)
    _same(ours.weight.grad, theirs.weight.grad, 1e-6)


def test_prelu_dtype_and_device_arguments() -> None:
    layer = antorcha.nn.PReLU(2, dtype=antorcha.float64)
    assert layer.weight.dtype == antorcha.float64 and tuple(layer.weight.shape) == (2,)


# ---- every module's forward ----------------------------------------------------------------------
def _pair(shape: tuple, *more: tuple, kind: str = "real") -> tuple[list, list]:
    arrays = [RNG.standard_normal(s) if kind == "real" else RNG.uniform(0.2, 2, s) for s in (shape, *more)]
    return [antorcha.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays]


def _signs(shape: tuple) -> np.ndarray:
    return RNG.choice([-1.0, 1.0], shape)


def _same(ours: Any, theirs: Any, tol: float = 1e-12) -> None:
    np.testing.assert_allclose(np.asarray(ours.detach()), theirs.detach().numpy(), rtol=tol, atol=tol)


MODULE_CASES: list[tuple[str, Callable[[], tuple[list, list]]]] = [
    (name, lambda: _pair((2, 4, 3)))
    for name in (
        "ELU()",
        "SELU()",
        "CELU(0.7)",
        "PReLU()",
        "ReLU6()",
        "Hardtanh(-0.5, 0.5)",
        "Hardswish()",
        "Hardsigmoid()",
        "Mish()",
        "GLU(1)",
        "Softsign()",
        "Softmin(1)",
        "Threshold(0.1, 2.0)",
        "Tanhshrink()",
        "Softshrink()",
        "Hardshrink()",
        "RReLU().eval()",
        "Upsample(scale_factor=2)",
        "Upsample(size=5, mode='linear')",
        "ChannelShuffle(2)",
        "Dropout1d().eval()",
        "AlphaDropout().eval()",
    )
] + [
    ("UpsamplingNearest2d(scale_factor=2)", lambda: _pair((1, 2, 3, 4))),
    ("UpsamplingBilinear2d(size=(5, 3))", lambda: _pair((1, 2, 3, 4))),
    ("Upsample(scale_factor=1.5, mode='bilinear')", lambda: _pair((1, 2, 3, 4))),
    ("Upsample(size=(5, 2), mode='bicubic', align_corners=True)", lambda: _pair((1, 2, 3, 4))),
    ("Unfold((2, 3), padding=1)", lambda: _pair((2, 3, 4, 5))),
    ("Fold((4, 5), 2)", lambda: _pair((2, 8, 12))),
    ("PixelShuffle(2)", lambda: _pair((2, 8, 3, 3))),
    ("PixelUnshuffle(2)", lambda: _pair((2, 2, 4, 6))),
    ("Dropout2d().eval()", lambda: _pair((2, 2, 4, 6))),
    ("Dropout3d().eval()", lambda: _pair((2, 2, 4, 6, 1))),
    ("CosineSimilarity()", lambda: _pair((3, 4), (3, 4))),
    ("Softmax2d()", lambda: _pair((2, 3, 4, 5))),
    ("Softmax2d()", lambda: _pair((3, 4, 5))),
    ("PairwiseDistance(3.0)", lambda: _pair((3, 4), (3, 4))),
]


@pytest.mark.parametrize("constructor, inputs", MODULE_CASES, ids=[c for c, _ in MODULE_CASES])
def test_module_forward_and_backward_is_torchs(constructor: str, inputs: Callable) -> None:
    ours, theirs = eval(f"antorcha.nn.{constructor}"), eval(f"torch.nn.{constructor}")
    if isinstance(theirs, torch.nn.PReLU):
        theirs = theirs.double()
        ours.weight = antorcha.nn.Parameter(antorcha.tensor(theirs.weight.detach().numpy()))
    a_inputs, t_inputs = inputs()
    for x in (*a_inputs, *t_inputs):
        x.requires_grad_(True)
    a_out, t_out = ours(*a_inputs), theirs(*t_inputs)
    _same(a_out, t_out)
    cotangent = RNG.standard_normal(tuple(t_out.shape))
    a_out.backward(antorcha.tensor(cotangent))
    t_out.backward(torch.tensor(cotangent))
    for a, t in zip(a_inputs, t_inputs):
        _same(a.grad, t.grad)


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((2, 3, 7), {"size": 3}),
        ((2, 3, 7, 5), {"size": (3, 2)}),
        ((1, 2, 5, 5), {"size": 7}),
        ((1, 2, 6, 5), {"scale_factor": 0.5}),
    ],
)
def test_interpolate_area_is_adaptive_average_pooling_as_torch(shape: tuple, kwargs: dict) -> None:
    a_inputs, t_inputs = _pair(shape)
    a, t = a_inputs[0].requires_grad_(True), t_inputs[0].requires_grad_(True)
    a_out = antorcha.nn.functional.interpolate(a, mode="area", **kwargs)
    t_out = torch.nn.functional.interpolate(t, mode="area", **kwargs)
    _same(a_out, t_out)
    a_out.sum().backward()
    t_out.sum().backward()
    _same(a.grad, t.grad)


def _loss_inputs(name: str) -> tuple[list, list]:
    x, y, z = (RNG.standard_normal((4, 5)) for _ in range(3))
    positive = RNG.uniform(0.2, 2.0, (4, 5))
    labels = RNG.integers(0, 5, (4,))
    multilabel = np.array([[3, 0, -1, 1, 2], [1, 2, 4, 3, 0], [-1, 0, 0, 0, 0], [2, 2, -1, 0, 0]])
    arrays = {
        "KLDivLoss": (x, positive),
        "PoissonNLLLoss": (x, positive * 3),
        "GaussianNLLLoss": (x, y, positive),
        "SoftMarginLoss": (x, _signs((4, 5))),
        "MultiLabelSoftMarginLoss": (x, (y > 0).astype(float)),
        "MultiLabelMarginLoss": (x, multilabel),
        "HingeEmbeddingLoss": (x, _signs((4, 5))),
        "MarginRankingLoss": (x[:, 0], y[:, 0], _signs((4,))),
        "CosineEmbeddingLoss": (x, y, _signs((4,))),
        "MultiMarginLoss": (x, labels),
        "TripletMarginLoss": (x, y, z),
        "TripletMarginWithDistanceLoss": (x, y, z),
    }[name]
    differentiable = [
        (a.dtype == np.float64 and name not in ("SoftMarginLoss",)) or i == 0 for i, a in enumerate(arrays)
    ]
    ours = [antorcha.tensor(a, requires_grad=d) for a, d in zip(arrays, differentiable)]
    theirs = [torch.tensor(a, requires_grad=d) for a, d in zip(arrays, differentiable)]
    return ours, theirs


LOSSES = [
    "KLDivLoss",
    "PoissonNLLLoss",
    "GaussianNLLLoss",
    "SoftMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiLabelMarginLoss",
    "HingeEmbeddingLoss",
    "MarginRankingLoss",
    "CosineEmbeddingLoss",
    "MultiMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", LOSSES)
def test_loss_module_reductions_are_torchs(name: str, reduction: str) -> None:
    ours, theirs = (
        getattr(antorcha.nn, name)(reduction=reduction),
        getattr(torch.nn, name)(reduction=reduction),
    )
    a_inputs, t_inputs = _loss_inputs(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KLDivLoss's note on 'mean'
        a_out, t_out = ours(*a_inputs), theirs(*t_inputs)
    _same(a_out, t_out)
    cotangent = RNG.standard_normal(tuple(t_out.shape))
    a_out.backward(antorcha.tensor(cotangent))
    t_out.backward(torch.tensor(cotangent))
    for a, t in zip(a_inputs, t_inputs):
        if t.grad is None:
            assert a.grad is None
        else:
            _same(a.grad, t.grad)


def test_loss_options_are_torchs() -> None:
    x, y = RNG.standard_normal((3, 4)), RNG.uniform(0.5, 2, (3, 4))
    cases = [
        ("KLDivLoss(reduction='batchmean')", (x, y)),
        ("KLDivLoss(reduction='sum', log_target=True)", (x, np.log(y))),
        ("PoissonNLLLoss(log_input=False, full=True)", (y, y * 2)),
        ("GaussianNLLLoss(full=True, eps=0.7)", (x, x * 0.5, y)),
        (
            "MultiMarginLoss(p=2, margin=0.5, weight=m.tensor([1.0, 2.0, 0.5, 1.5], dtype=m.float64))",
            (x, np.array([0, 3, 1])),
        ),
        ("TripletMarginLoss(margin=0.5, p=1.0, swap=True)", (x, y, x * y)),
        ("HingeEmbeddingLoss(margin=2.0)", (x, _signs((3, 4)))),
    ]
    for constructor, arrays in cases:
        results = []
        for m in (antorcha, torch):
            loss = eval(f"m.nn.{constructor}")
            results.append(loss(*(m.tensor(a) for a in arrays)))
        _same(*results)


def test_legacy_size_average_and_reduce_warn_as_torch() -> None:
    x, y = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    results = []
    for m in (antorcha, torch):
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            loss = m.nn.SoftMarginLoss(size_average=False)
        results.append(loss(m.tensor(x), m.tensor(np.sign(y))))
    _same(*results)


def test_kl_div_mean_warns_as_torch() -> None:
    x, y = antorcha.randn(3, 4), antorcha.rand(3, 4)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        antorcha.nn.functional.kl_div(x, y)


def test_ctc_loss_module_on_concatenated_targets() -> None:
    log_probs = RNG.standard_normal((7, 3, 5))
    targets = np.array([1, 2, 2, 4, 3, 1])
    input_lengths, target_lengths = (7, 6, 5), (3, 1, 2)
    results = []
    for m in (antorcha, torch):
        x = m.tensor(log_probs, requires_grad=True)
        loss = m.nn.CTCLoss(blank=0)(x.log_softmax(2), m.tensor(targets), input_lengths, target_lengths)
        loss.backward()
        results.append((loss, x.grad))
    _same(results[0][0], results[1][0])
    _same(results[0][1], results[1][1])


def test_ctc_loss_has_no_second_derivative_as_torch() -> None:
    x = antorcha.randn(4, 1, 3, dtype=antorcha.float64, requires_grad=True)
    loss = antorcha.nn.functional.ctc_loss(x.log_softmax(2), antorcha.tensor([[1, 2]]), [4], [2])
    (grad,) = antorcha.autograd.grad(loss, x, create_graph=True)
    with pytest.raises(RuntimeError, match="_ctc_loss_backward is not implemented"):
        grad.sum().backward()


def test_triplet_with_distance_takes_a_custom_distance() -> None:
    a, p, n = (RNG.standard_normal((3, 4)) for _ in range(3))
    results = []
    for m in (antorcha, torch):

        def distance(u: Any, v: Any, m: Any = m) -> Any:
            return 1 - m.nn.functional.cosine_similarity(u, v)

        loss = m.nn.TripletMarginWithDistanceLoss(distance_function=distance, margin=0.3, swap=True)
        results.append(loss(*(m.tensor(v) for v in (a, p, n))))
    _same(*results)


# ---- in place ----------------------------------------------------------------------------------
INPLACE = [
    "ELU(inplace=True)",
    "SELU(True)",
    "CELU(inplace=True)",
    "ReLU6(True)",
    "Hardtanh(inplace=True)",
    "Hardswish(True)",
    "Hardsigmoid(True)",
    "Mish(True)",
    "Threshold(0.2, -1.0, True)",
    "RReLU(inplace=True).eval()",
]


@pytest.mark.parametrize("constructor", INPLACE)
def test_inplace_modules_write_into_their_input(constructor: str) -> None:
    x = RNG.standard_normal((3, 4))
    a_leaf, t_leaf = antorcha.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    a_in, t_in = a_leaf * 1, t_leaf * 1
    a_out = eval(f"antorcha.nn.{constructor}")(a_in)
    t_out = eval(f"torch.nn.{constructor}")(t_in)
    assert a_out is a_in and t_out is t_in
    _same(a_in, t_in)
    a_out.sum().backward()
    t_out.sum().backward()
    _same(a_leaf.grad, t_leaf.grad)


def test_inplace_on_a_leaf_that_requires_grad_raises_as_torch() -> None:
    for m in (antorcha, torch):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            m.nn.functional.elu(m.randn(3, requires_grad=True), inplace=True)


# ---- random layers -------------------------------------------------------------------------------
def test_rrelu_training_slopes_lie_in_their_bounds() -> None:
    antorcha.manual_seed(0)
    x = antorcha.tensor(-np.abs(RNG.standard_normal(4000)) - 0.1, requires_grad=True)
    out = antorcha.nn.functional.rrelu(x, 0.1, 0.3, training=True)
    slopes = (out / x).detach().numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.04
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), slopes)
    positive = antorcha.tensor(np.abs(RNG.standard_normal(10)) + 0.1)
    _same(antorcha.nn.functional.rrelu(positive, training=True), torch.tensor(positive.numpy()))


@pytest.mark.parametrize(
    "name, shape",
    [
        ("dropout1d", (4, 50, 7)),
        ("dropout2d", (4, 50, 3, 3)),
        ("dropout3d", (4, 50, 2, 2, 2)),
        ("dropout1d", (50, 7)),
    ],
)
def test_channel_dropout_drops_whole_channels(name: str, shape: tuple) -> None:
    antorcha.manual_seed(1)
    x = antorcha.ones(*shape, requires_grad=True)
    out = getattr(antorcha.nn.functional, name)(x, 0.4)
    values = out.detach().numpy()
    channels = shape[:1] if len(shape) == 2 else shape[:2]  # an unbatched (C, L) or a batched (N, C, ...)
    per_channel = values.reshape(int(np.prod(channels)), -1)
    assert np.all(np.isclose(values, 0) | np.isclose(values, 1 / 0.6))
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # one decision per channel
    assert 0.25 < (values == 0).mean() < 0.55
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)


def test_alpha_dropout_keeps_mean_and_variance() -> None:
    antorcha.manual_seed(2)
    x = antorcha.randn(200000, dtype=antorcha.float64)
    out = antorcha.nn.functional.alpha_dropout(x, 0.3, training=True).numpy()
    assert abs(out.mean()) < 0.01 and abs(out.std() - 1) < 0.01
    alpha, p = 1.7580993408473766, 0.3
    a = 1 / np.sqrt((alpha**2 * p + 1) * (1 - p))
    dropped = np.isclose(out, -alpha * a + alpha * a * p)
    assert 0.27 < dropped.mean() < 0.33
    kept = ~dropped
    np.testing.assert_allclose(out[kept], x.numpy()[kept] * a + alpha * a * p)


def test_feature_alpha_dropout_drops_whole_channels() -> None:
    antorcha.manual_seed(3)
    out = antorcha.nn.FeatureAlphaDropout(0.5).train()(antorcha.zeros(8, 30, 4)).numpy()
    assert np.all(out.min(-1) == out.max(-1)) and len(np.unique(out.round(6))) == 2


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gumbel_softmax_draws_torchs_sample_and_gradient(hard: bool, dtype: str) -> None:
    """antorcha's generator follows torch's CPU stream, so one seed gives torch's Gumbel noise."""
    x, weights = RNG.standard_normal((4, 6)).astype(dtype), RNG.standard_normal((4, 6)).astype(dtype)
    results = []
    for m in (antorcha, torch):
        m.manual_seed(3)
        logits = m.tensor(x, requires_grad=True)
        sample = m.nn.functional.gumbel_softmax(logits, tau=0.5, hard=hard, dim=-1)
        (sample * m.tensor(weights)).sum().backward()
        results.append((sample, logits.grad))
    tol = 1e-6 if dtype == "float32" else 1e-12
    _same(results[0][0], results[1][0], tol)
    _same(results[0][1], results[1][1], tol)


def test_dropout_of_p_one_gives_zeros_and_eval_gives_the_input() -> None:
    x = antorcha.randn(2, 3, 4)
    assert not antorcha.nn.functional.dropout2d(x[None], 1.0).numpy().any()
    assert not antorcha.nn.functional.alpha_dropout(x, 1.0, training=True).numpy().any()
    assert antorcha.nn.Dropout1d(0.5).eval()(x) is x


# ---- errors --------------------------------------------------------------------------------------
ERRORS: list[str] = [
    "F.glu(m.randn(2, 3), 1)",
    "F.glu(m.tensor(1.0))",
    "F.prelu(m.randn(2, 3), m.ones(2))",
    "F.prelu(m.randn(3), m.ones(3))",
    "F.softshrink(m.randn(3), -1.0)",
    "F.celu(m.randn(3), 0.0)",
    "F.hardtanh(m.randn(3), 2.0, 1.0)",
    "m.nn.Hardtanh(1.0, 1.0)",
    "F.rrelu(m.randn(3), 0.5, 0.1, True)",
    "F.triplet_margin_loss(m.randn(2, 3), m.randn(2, 3), m.randn(2, 3), margin=0.0)",
    "F.triplet_margin_loss(m.randn(2, 3), m.randn(2, 3), m.randn(3))",
    "m.nn.TripletMarginLoss(margin=-1.0)",
    "m.nn.TripletMarginWithDistanceLoss(margin=0.0)",
    "m.nn.MultiMarginLoss(p=3)",
    "F.multi_margin_loss(m.randn(2, 3), m.tensor([0, 5]))",
    "F.gaussian_nll_loss(m.randn(2, 3), m.randn(2, 3), -m.ones(2, 3))",
    "F.gaussian_nll_loss(m.randn(2, 3), m.randn(2, 3), m.ones(3, 3))",
    "F.gaussian_nll_loss(m.randn(2, 3), m.randn(2, 3), m.ones(2, 3), reduction='mine')",
    "F.poisson_nll_loss(m.randn(2, 3), m.randn(2, 3), reduction='mine')",
    "F.cosine_embedding_loss(m.randn(2, 3), m.randn(2, 3), m.ones(2, 1))",
    "F.cosine_embedding_loss(m.randn(3), m.randn(3), m.ones(2))",
    "F.margin_ranking_loss(m.randn(2, 3), m.randn(2, 3), m.ones(3))",
    "F.soft_margin_loss(m.randn(3), m.ones(3, requires_grad=True))",
    "F.kl_div(m.randn(3), m.rand(3), reduction='mine')",
    "F.unfold(m.randn(1, 2, 3, 4), 5)",
    "F.unfold(m.randn(1, 2, 3, 4), 0)",
    "F.unfold(m.randn(1, 2, 3, 4), 2, padding=-1)",
    "F.unfold(m.randn(3, 4), 2)",
    "F.fold(m.randn(7, 9), 4, 2)",
    "F.fold(m.randn(8, 8), 4, 2)",
    "F.fold(m.randn(8), 4, 2)",
    "F.pixel_shuffle(m.randn(2, 5, 3, 3), 2)",
    "F.pixel_shuffle(m.randn(5, 3), 2)",
    "F.pixel_shuffle(m.randn(2, 8, 3, 3), 0)",
    "F.pixel_unshuffle(m.randn(2, 5, 3, 3), 2)",
    "F.pixel_unshuffle(m.randn(2, 5, 4, 3), 2)",
    "F.channel_shuffle(m.randn(2, 8, 3, 3), 3)",
    "F.channel_shuffle(m.randn(2, 8), 2)",
    "F.interpolate(m.randn(1, 2, 4), size=3, scale_factor=2)",
    "F.interpolate(m.randn(1, 2, 4))",
    "F.interpolate(m.randn(1, 2, 4), size=3, align_corners=True)",
    "F.interpolate(m.randn(1, 2, 4, 4), size=3, mode='linear')",
    "F.interpolate(m.randn(1, 2, 4), size=3, mode='bilinear')",
    "F.interpolate(m.randn(2, 4), size=3)",
    "F.interpolate(m.randn(1, 2, 4), size=3, mode='bicubic')",
    "F.interpolate(m.randn(1, 2, 4, 4), size=(3,))",
    "F.interpolate(m.randn(1, 2, 4, 4), scale_factor=(2.0, 2.0, 2.0))",
    "F.interpolate(m.randn(1, 2, 4), scale_factor=0.1)",
    "F.interpolate(m.randn(1, 2, 4), size=3, recompute_scale_factor=True)",
    "F.interpolate(m.randn(1, 2, 4), size=3, antialias=True)",
    "F.dropout1d(m.randn(2, 3, 4, 5))",
    "F.dropout2d(m.randn(2, 3, 4, 5), 1.5)",
    "m.nn.Dropout2d(-0.1)",
    "m.nn.Softmax2d()(m.randn(2, 3))",
    "F.bilinear(m.randn(2, 3), m.randn(3, 4), m.randn(5, 3, 4))",
    "F.bilinear(m.randn(2, 3), m.randn(2, 4), m.randn(5, 3, 3))",
    "F.bilinear(m.randn(2, 3), m.randn(2, 4), m.randn(5, 3, 4), m.randn(4))",
    "F.bilinear(m.randn(2, 3), m.randn(2, 1, 4), m.randn(5, 3, 4))",
    "F.ctc_loss(m.randn(4, 1, 3).log_softmax(2), m.tensor([[1, 2]]), [5], [2])",
    "F.ctc_loss(m.randn(4, 1, 3).log_softmax(2), m.tensor([[1, 2]]), [4], [3])",
    "F.ctc_loss(m.randn(4, 1, 3).log_softmax(2), m.tensor([[1, 2]]), [4], [2], reduction='mine')",
]


@pytest.mark.parametrize("expression", ERRORS)
def test_errors_are_torchs(expression: str) -> None:
    raised = []
    for m in (torch, antorcha):
        F = m.nn.functional  # noqa: F841 - used by the expression
        with pytest.raises(Exception) as info:  # the class is torch's, compared below
            eval(expression)
        raised.append(info.value)
    theirs, ours = raised
    assert type(ours) is type(theirs), (
        f"{expression}: {type(ours).__name__}({ours}) vs {type(theirs).__name__}"
    )
    message = str(ours).replace("antorcha.Size", "torch.Size")  # sizes print as their library's Size
    assert message == str(theirs), f"{expression}: {ours!r} != torch's {theirs!r}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rrelu_training_draws_torchs_slopes_for_the_same_seed(dtype: str) -> None:
    """One float64 uniform per element <= 0, in order, from the default generator, as torch's kernel."""
    results = []
    for module in (antorcha, torch):
        module.manual_seed(1)
        x = module.randn(3, 4, 5, dtype=getattr(module, dtype), requires_grad=True)
        y = module.nn.functional.rrelu(x, training=True)
        y.backward(module.ones_like(y))
        results.append((y.detach().numpy(), x.grad.numpy(), module.rand(2).tolist()))
    tolerance = 1e-6 if dtype == "float32" else 0  # float32: r rounds after torch's double FMA
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=tolerance)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=tolerance)
    assert results[0][2] == results[1][2]  # and the stream is left where torch leaves it
