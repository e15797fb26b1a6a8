"""antorcha.nn.init against torch.nn.init: exact gains and fans, statistical checks of the
random initialisers, and the default initialisation of the layers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import antorcha
import antorcha.nn as nn
from antorcha.nn import init

SHAPE = (300, 200)  # 60,000 draws: the sample std is within ~1% of the truth


def _sample(fn, *args, shape=SHAPE, dtype=antorcha.float32, **kwargs) -> np.ndarray:
    antorcha.manual_seed(0)
    tensor = antorcha.empty(shape, dtype=dtype)
    assert fn(tensor, *args, **kwargs) is tensor
    assert tensor.dtype is dtype
    return tensor.numpy().astype(np.float64)


@pytest.mark.parametrize(
    ("nonlinearity", "param"),
    [
        ("linear", None),
        ("conv2d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", 3),
        ("leaky_relu", math.sqrt(5)),
        ("selu", None),
    ],
)
def test_calculate_gain_is_torchs(nonlinearity: str, param) -> None:
    assert init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("foo",), "Unsupported nonlinearity foo"),
        (("leaky_relu", "x"), "negative_slope x not a valid number"),
        (("leaky_relu", True), "negative_slope True not a valid number"),
    ],
)
def test_calculate_gain_errors(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        init.calculate_gain(*args)


@pytest.mark.parametrize("shape", [(3, 4), (5, 2, 3), (4, 3, 2, 5)])
def test_fan_in_and_fan_out_are_torchs(shape: tuple) -> None:
    ours = init._calculate_fan_in_and_fan_out(antorcha.empty(shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    with pytest.raises(
        ValueError, match="Fan in and fan out can not be computed for tensor with fewer than 2"
    ):
        init.xavier_uniform_(antorcha.empty(3))


def test_uniform_and_normal() -> None:
    values = _sample(init.uniform_, -2.0, 3.0)
    assert values.min() >= -2.0 and values.max() < 3.0
    assert abs(values.mean() - 0.5) < 0.03 and abs(values.std() - 5 / math.sqrt(12)) < 0.02
    values = _sample(init.normal_, 1.5, 0.5, dtype=antorcha.float64)
    assert abs(values.mean() - 1.5) < 0.01 and abs(values.std() - 0.5) < 0.01


def test_constants_and_eye() -> None:
    assert not _sample(init.zeros_).any()
    assert (_sample(init.ones_) == 1).all()
    assert (_sample(init.constant_, 0.25) == 0.25).all()
    np.testing.assert_array_equal(_sample(init.eye_, shape=(3, 4)), np.eye(3, 4))


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier(gain: float) -> None:
    fan_in, fan_out = SHAPE[1], SHAPE[0]
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    values = _sample(init.xavier_uniform_, gain)
    assert np.abs(values).max() <= math.sqrt(3.0) * std and abs(values.std() / std - 1) < 0.02
    values = _sample(init.xavier_normal_, gain)
    assert abs(values.std() / std - 1) < 0.02 and abs(values.mean()) < 0.01 * std * 10


@pytest.mark.parametrize(
    ("a", "mode", "nonlinearity"),
    [
        (0, "fan_in", "leaky_relu"),
        (math.sqrt(5), "fan_in", "leaky_relu"),
        (0, "fan_out", "relu"),
        (0, "fan_in", "tanh"),
    ],
)
def test_kaiming(a: float, mode: str, nonlinearity: str) -> None:
    fan = SHAPE[1] if mode == "fan_in" else SHAPE[0]
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    values = _sample(init.kaiming_uniform_, a, mode, nonlinearity)
    assert np.abs(values).max() <= math.sqrt(3.0) * std * (1 + 1e-6) and abs(values.std() / std - 1) < 0.02
    values = _sample(init.kaiming_normal_, a=a, mode=mode, nonlinearity=nonlinearity)
    assert abs(values.std() / std - 1) < 0.02


def test_kaiming_errors_and_empty_tensors() -> None:
    with pytest.raises(
        ValueError, match=r"Mode fan_x not supported, please use one of \['fan_in', 'fan_out'\]"
    ):
        init.kaiming_uniform_(antorcha.empty(3, 4), mode="fan_x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        empty = antorcha.empty(0, 4)
        assert init.kaiming_normal_(empty) is empty
    assert str(caught[0].message) == "Initializing zero-element tensors is a no-op"


def _truncated_normal_std(mean: float, std: float, a: float, b: float) -> float:
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = [math.exp(-z * z / 2) / math.sqrt(2 * math.pi) for z in (alpha, beta)]
    mass = (math.erf(beta / math.sqrt(2)) - math.erf(alpha / math.sqrt(2))) / 2
    variance = 1 + (alpha * pdf[0] - beta * pdf[1]) / mass - ((pdf[0] - pdf[1]) / mass) ** 2
    return std * math.sqrt(variance)


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"), [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.04, 0.04), (1.0, 1.0, 1.2, 1.5)]
)
def test_trunc_normal(mean: float, std: float, a: float, b: float) -> None:
    values = _sample(init.trunc_normal_, mean, std, a, b)
    assert values.min() >= a and values.max() <= b
    expected = _truncated_normal_std(mean, std, a, b)
    assert abs(values.std() / expected - 1) < 0.03


def test_orthogonal() -> None:
    for shape in ((4, 6), (6, 4)):
        values = _sample(init.orthogonal_, shape=shape)
        product = values @ values.T if shape[0] < shape[1] else values.T @ values
        np.testing.assert_allclose(product, np.eye(min(shape)), atol=1e-5)


def test_init_runs_without_autograd_and_is_reproducible() -> None:
    param = nn.Parameter(antorcha.empty(3, 4))
    version = param._version
    init.normal_(param)
    assert param.is_leaf and param.grad_fn is None and param.requires_grad and param._version > version
    generator = antorcha.Generator().manual_seed(7)
    first = init.uniform_(antorcha.empty(5), generator=generator).numpy().copy()
    generator.manual_seed(7)
    np.testing.assert_array_equal(init.uniform_(antorcha.empty(5), generator=generator).numpy(), first)


# ---- default initialisation of the layers --------------------------------------------------------
@pytest.mark.parametrize(("fan_in", "fan_out"), [(10, 100), (100, 1), (400, 300)])
def test_linear_default_init(fan_in: int, fan_out: int) -> None:
    antorcha.manual_seed(0)
    layer = nn.Linear(fan_in, fan_out)
    bound = 1 / math.sqrt(fan_in)
    weight, bias = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert np.abs(weight).max() <= bound and np.abs(bias).max() <= bound
    if weight.size > 10_000:
        assert abs(weight.std() / (bound / math.sqrt(3)) - 1) < 0.02
        assert abs(weight.mean()) < 0.01 * bound


def test_other_layers_default_init() -> None:
    antorcha.manual_seed(0)
    weight = nn.Embedding(300, 100).weight.detach().numpy()
    assert abs(weight.std() - 1) < 0.02 and abs(weight.mean()) < 0.02
    norm = nn.LayerNorm((3, 4))
    assert (norm.weight.detach().numpy() == 1).all() and not norm.bias.detach().numpy().any()
