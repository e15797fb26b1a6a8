"""Layers and activations of antorcha.nn against torch.nn: forward values and gradients of inputs
and weights under a random cotangent, in float32 and float64, on every device (`device` fixture;
torch stays on the cpu as the oracle)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import torch
from nn_helpers import (
    DTYPES,
    assert_close,
    compare_with_torch,
    copy_weights,
    paired_parameters,
    random_inputs,
    to_antorcha,
    to_numpy,
)

import antorcha
import antorcha.nn as nn
import antorcha.nn.functional as F

TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
OUR_DTYPE = {np.float32: antorcha.float32, np.float64: antorcha.float64}


def _module_pair(name: str, dtype: type, device: str, *args, **kwargs) -> tuple[nn.Module, torch.nn.Module]:
    """torch's module and antorcha's with the same weights; antorcha's moved to `device`."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, **kwargs).to(TORCH_DTYPE[dtype])
    ours = getattr(nn, name)(*args, **kwargs).to(OUR_DTYPE[dtype])
    copy_weights(theirs, ours)
    return ours.to(device), theirs


# ---- Linear --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("input_shape", "bias"), [((5, 4), True), ((2, 3, 4), True), ((5, 4), False), ((4,), True)]
)
def test_linear_matches_torch(dtype: type, input_shape: tuple, bias: bool, device: str) -> None:
    ours, theirs = _module_pair("Linear", dtype, device, 4, 3, bias=bias)
    (x,) = random_inputs([input_shape], dtype)
    compare_with_torch(ours, theirs, [x], params=paired_parameters(ours, theirs), device=device)


def test_linear_options_and_graph() -> None:
    layer = nn.Linear(3, 2, bias=False, dtype=antorcha.float64)
    assert layer.bias is None and layer.weight.dtype is antorcha.float64
    assert list(dict(layer.named_parameters())) == ["weight"]
    out = nn.Linear(3, 2)(antorcha.randn(4, 3))
    assert type(out.grad_fn).__name__ == "AddmmBackward0"
    assert F.linear(antorcha.randn(4, 3), antorcha.randn(2, 3)).shape == (4, 2)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(4x3 and 5x2\)"):
        nn.Linear(5, 2)(antorcha.randn(4, 3))


@pytest.mark.parametrize(("input_shape", "weight_shape"), [((), (3, 1)), ((3,), ()), ((2, 3), (4, 2))])
def test_linear_shape_errors_match_torch(input_shape: tuple, weight_shape: tuple) -> None:
    def message(lib: Any) -> str:
        with pytest.raises(RuntimeError) as raised:
            lib.nn.functional.linear(lib.ones(input_shape), lib.ones(weight_shape))
        return str(raised.value)

    assert message(antorcha) == message(torch)


def test_identity_flatten_unflatten(device: str) -> None:
    x = antorcha.randn(2, 3, 4, device=device)
    assert nn.Identity(1, key="ignored")(x) is x
    for ours, theirs in [
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.Flatten(0, 1), torch.nn.Flatten(0, 1)),
        (nn.Unflatten(2, (2, 2)), torch.nn.Unflatten(2, (2, 2))),
    ]:
        compare_with_torch(ours, theirs, random_inputs([(2, 3, 4)], np.float64), device=device)
        assert repr(ours) == repr(theirs)
    with pytest.raises(TypeError):
        nn.Unflatten(1, 4)


# ---- activations ---------------------------------------------------------------------------------
ACTIVATIONS = [
    ("ReLU", (), "ReluBackward0"),
    ("LeakyReLU", (0.2,), "LeakyReluBackward0"),
    ("GELU", (), "GeluBackward0"),
    ("GELU", ("tanh",), "GeluBackward0"),
    ("SiLU", (), "SiluBackward0"),
    ("Sigmoid", (), "SigmoidBackward0"),
    ("Tanh", (), "TanhBackward0"),
    ("Softmax", (1,), "SoftmaxBackward0"),
    ("LogSoftmax", (1,), "LogSoftmaxBackward0"),
    ("Softplus", (2.0, 5.0), "SoftplusBackward0"),
    ("LogSigmoid", (), "LogSigmoidBackward0"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "args", "node"), ACTIVATIONS)
def test_activation_matches_torch(dtype: type, name: str, args: tuple, node: str, device: str) -> None:
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    x = random_inputs([(4, 6)], dtype, scale=3.0)[0]
    x[0, :3] = [40.0, -40.0, 0.0]  # saturated and kink values
    result, _ = compare_with_torch(ours, theirs, [x], device=device)
    assert type(result.grad_fn).__name__ == node
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda x: F.relu(x), lambda x: torch.nn.functional.relu(x)),
        (lambda x: F.leaky_relu(x, 0.3), lambda x: torch.nn.functional.leaky_relu(x, 0.3)),
        (lambda x: F.gelu(x), lambda x: torch.nn.functional.gelu(x)),
        (lambda x: F.gelu(x, approximate="tanh"), lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
        (lambda x: F.silu(x), lambda x: torch.nn.functional.silu(x)),
        (lambda x: F.sigmoid(x), lambda x: torch.nn.functional.sigmoid(x)),
        (lambda x: F.tanh(x), lambda x: torch.nn.functional.tanh(x)),
        (lambda x: F.softmax(x, dim=0), lambda x: torch.nn.functional.softmax(x, dim=0)),
        (lambda x: F.log_softmax(x, dim=-1), lambda x: torch.nn.functional.log_softmax(x, dim=-1)),
        (lambda x: F.softplus(x), lambda x: torch.nn.functional.softplus(x)),
        (lambda x: F.logsigmoid(x), lambda x: torch.nn.functional.logsigmoid(x)),
    ],
)
def test_functional_activation_matches_torch(dtype: type, ours, theirs, device: str) -> None:
    compare_with_torch(ours, theirs, random_inputs([(3, 5)], dtype, scale=2.0), device=device)


def test_activation_edge_cases() -> None:
    with pytest.raises(RuntimeError, match=re.escape("approximate argument must be either none or tanh.")):
        F.gelu(antorcha.randn(3), approximate="foo")
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        F.softmax(antorcha.randn(3, 4))
    assert repr(nn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True))
    assert repr(nn.LeakyReLU(0.1, inplace=True)) == repr(torch.nn.LeakyReLU(0.1, inplace=True))
    x = antorcha.randn(5)
    y = x.clone()
    F.relu(y, inplace=True)
    np.testing.assert_array_equal(y.numpy(), np.maximum(x.numpy(), 0))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (F.gelu, torch.nn.functional.gelu),
        (lambda x: F.gelu(x, approximate="tanh"), lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
        (F.silu, torch.nn.functional.silu),
        (F.logsigmoid, torch.nn.functional.logsigmoid),
        (F.softplus, torch.nn.functional.softplus),
        (lambda x: F.leaky_relu(x * x, 0.2), lambda x: torch.nn.functional.leaky_relu(x * x, 0.2)),
        (lambda x: F.layer_norm(x, (4,)), lambda x: torch.nn.functional.layer_norm(x, (4,))),
    ],
)
def test_second_derivatives_match_torch(ours, theirs, device: str) -> None:
    (x_np, v_np) = random_inputs([(3, 4), (3, 4)], np.float64, seed=3)
    x_t = torch.tensor(x_np, requires_grad=True)
    (g_t,) = torch.autograd.grad(theirs(x_t), x_t, torch.tensor(v_np), create_graph=True)
    (gg_t,) = torch.autograd.grad((g_t * g_t).sum(), x_t)
    x_a = antorcha.tensor(x_np, requires_grad=True, device=device)
    (g_a,) = antorcha.autograd.grad(ours(x_a), x_a, antorcha.tensor(v_np, device=device), create_graph=True)
    (gg_a,) = antorcha.autograd.grad((g_a * g_a).sum(), x_a)
    assert_close(g_a, g_t, device=device)
    assert_close(gg_a, gg_t, device=device, rtol=1e-8, atol=1e-10)


# ---- LayerNorm -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [
        (4, {}),
        ((3, 4), {}),
        (4, {"elementwise_affine": False}),
        (4, {"bias": False}),
        (4, {"eps": 1e-3}),
    ],
)
def test_layer_norm_matches_torch(dtype: type, shape, kwargs: dict, device: str) -> None:
    ours, theirs = _module_pair("LayerNorm", dtype, device, shape, **kwargs)
    with torch.no_grad():  # non-trivial affine parameters
        for param in theirs.parameters():
            param.normal_()
    copy_weights(theirs, ours)  # into the parameters on `device`, as torch's load_state_dict does
    (x,) = random_inputs([(2, 3, 4)], dtype, scale=2.0)
    result, _ = compare_with_torch(
        ours, theirs, [x], params=paired_parameters(ours, theirs), device=device, atol=1e-5
    )
    assert type(result.grad_fn).__name__ == "NativeLayerNormBackward0"
    assert repr(ours) == repr(theirs)


def test_layer_norm_errors_and_functional(device: str) -> None:
    with pytest.raises(RuntimeError) as ours:
        F.layer_norm(antorcha.randn(3, 4), (3,))
    with pytest.raises(RuntimeError) as theirs:
        torch.nn.functional.layer_norm(torch.randn(3, 4), (3,))
    assert str(ours.value) == str(theirs.value)
    x, w, b = random_inputs([(2, 5), (5,), (5,)], np.float64)
    compare_with_torch(
        lambda x, w, b: F.layer_norm(x, (5,), w, b, 1e-6),
        lambda x, w, b: torch.nn.functional.layer_norm(x, (5,), w, b, 1e-6),
        [x, w, b],
        device=device,
    )


# ---- Embedding -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kwargs", [{}, {"padding_idx": 1}, {"padding_idx": -1}, {"scale_grad_by_freq": True}, {"max_norm": 1.0}]
)
def test_embedding_matches_torch(dtype: type, kwargs: dict, device: str) -> None:
    ours, theirs = _module_pair("Embedding", dtype, device, 6, 3, **kwargs)
    indices = np.array([[1, 2, 1], [5, 0, 1]], dtype=np.int64)
    result = ours(antorcha.from_numpy(indices).to(device))
    expected = theirs(torch.from_numpy(indices))
    assert_close(result, expected, device=device)
    cotangent = np.random.default_rng(0).standard_normal(result.shape).astype(dtype)
    result.backward(antorcha.from_numpy(cotangent).to(device))
    expected.backward(torch.from_numpy(cotangent))
    assert_close(ours.weight.grad, theirs.weight.grad, device=device)
    assert_close(ours.weight, theirs.weight, device=device)  # max_norm renormalises in place
    assert type(result.grad_fn).__name__ == "EmbeddingBackward0"
    assert repr(ours) == repr(theirs)


def test_embedding_padding_row_and_errors() -> None:
    layer = nn.Embedding(4, 3, padding_idx=2)
    assert layer.padding_idx == 2
    np.testing.assert_array_equal(layer.weight.detach().numpy()[2], 0)
    assert nn.Embedding(4, 3, padding_idx=-1).padding_idx == 3
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(3, 4, padding_idx=5)
    with pytest.raises(IndexError, match="index out of range in self"):
        layer(antorcha.tensor([0, 4]))
    with pytest.raises(RuntimeError, match="'indices' to have one of the following scalar types: Long, Int"):
        layer(antorcha.tensor([0.0, 1.0]))
    pretrained = nn.Embedding.from_pretrained(antorcha.randn(5, 2))
    assert not pretrained.weight.requires_grad and pretrained.weight.shape == (5, 2)


# ---- Dropout -------------------------------------------------------------------------------------
def test_dropout_training_and_eval(device: str) -> None:
    antorcha.manual_seed(0)
    layer = nn.Dropout(0.25)
    x = antorcha.ones(200, 50, requires_grad=True, device=device)
    y = layer(x)
    assert y.device == x.device
    values = y.detach().cpu().numpy()
    assert set(np.unique(values)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((values == 0).mean() - 0.25) < 0.02
    y.backward(antorcha.ones(200, 50, device=device))
    np.testing.assert_array_equal(x.grad.cpu().numpy(), values)
    layer.eval()
    assert layer(x) is x
    assert repr(layer) == repr(torch.nn.Dropout(0.25))
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x.detach(), 1.0).cpu().numpy(), 0)
    assert F.dropout(x.detach(), 0.5).cpu().numpy().min() == 0  # training=True is the functional default
    with pytest.raises(
        ValueError, match=re.escape("dropout probability has to be between 0 and 1, but got 1.5")
    ):
        nn.Dropout(1.5)
    with pytest.raises(
        ValueError, match=re.escape("dropout probability has to be between 0 and 1, but got -0.1")
    ):
        F.dropout(x, -0.1)


# ---- one_hot -------------------------------------------------------------------------------------
def test_one_hot_matches_torch(device: str) -> None:
    labels = np.array([[0, 3], [2, 1]], dtype=np.int64)
    for classes in (-1, 5):
        ours = F.one_hot(antorcha.from_numpy(labels).to(device), classes)
        theirs = torch.nn.functional.one_hot(torch.from_numpy(labels), classes)
        assert_close(ours, theirs, device=device)
    for bad, kwargs in [(antorcha.tensor([1, 2]), {"num_classes": 2}), (antorcha.tensor([-1, 2]), {})]:
        with pytest.raises(RuntimeError) as ours_error:
            F.one_hot(bad, **kwargs)
        with pytest.raises(RuntimeError) as torch_error:
            torch.nn.functional.one_hot(torch.from_numpy(bad.numpy()), **kwargs)
        assert str(ours_error.value) == str(torch_error.value)
    with pytest.raises(
        RuntimeError, match=re.escape("one_hot is only applicable to index tensor of type LongTensor.")
    ):
        F.one_hot(antorcha.tensor([1.0]))


def test_mlp_of_the_lesson_matches_torch(device: str) -> None:
    """The lesson's MLP: Linear(10,100) -> relu -> Linear(100,1), MSE loss, one backward."""

    class OurMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer1 = nn.Linear(10, 100)
            self.layer2 = nn.Linear(100, 1)

        def forward(self, x):
            return self.layer2(F.relu(self.layer1(x)))

    class TorchMLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer1 = torch.nn.Linear(10, 100)
            self.layer2 = torch.nn.Linear(100, 1)

        def forward(self, x):
            return self.layer2(torch.nn.functional.relu(self.layer1(x)))

    theirs, ours = TorchMLP(), OurMLP()
    copy_weights(theirs, ours)
    ours.to(device)
    x, y = random_inputs([(32, 10), (32, 1)], np.float32)
    loss_t = torch.nn.MSELoss()(theirs(torch.from_numpy(x)), torch.from_numpy(y))
    loss_a = nn.MSELoss()(ours(antorcha.from_numpy(x).to(device)), antorcha.from_numpy(y).to(device))
    assert_close(loss_a, loss_t, device=device)
    loss_t.backward()
    loss_a.backward()
    for mine, reference in paired_parameters(ours, theirs):
        assert_close(mine.grad, reference.grad, device=device)
    assert to_numpy(to_antorcha(loss_t, device=device)).shape == ()


@pytest.mark.parametrize("name", ["leaky_relu", "silu", "elu", "hardtanh"])
def test_in_place_activation_on_a_graph_tensor_backpropagates_as_torch(name: str) -> None:
    """inplace=True on an intermediate: the op must not save the memory it then overwrites."""
    grads = []
    for module in (antorcha, torch):
        leaf = module.tensor([-1.5, 0.5, 2.0, -0.25], dtype=module.float64, requires_grad=True)
        out = getattr(module.nn.functional, name)(leaf * 2, inplace=True)
        out.backward(module.tensor([1.0, -2.0, 0.5, 3.0], dtype=module.float64))
        grads.append(leaf.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)
