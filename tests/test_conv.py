"""nn.Conv1d/Conv2d/ConvTranspose1d/ConvTranspose2d and F.conv* against torch: every padding mode,
torch's weights copied in, outputs and gradients of input, weight and bias under a random cotangent;
second order; parameter names, shapes, default initialisation, reprs; torch's errors. (The op-spec
rows in op_specs_conv.py draw the functional forms over random geometries.)"""

from __future__ import annotations

import math

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
    torch_name,
)

import antorcha
import antorcha.nn as nn
import antorcha.nn.functional as F
from antorcha.nn.functional import _conv_grads, _conv_shifted
from antorcha.speed import window_kernels


@pytest.fixture(params=["by size", "shifted grid", "columns", "compiled columns"])
def conv_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which array path stride-1 convolutions take:
    - by size, the rule (these small tests: im2col's columns forward, and with Numba the
      compiled im2col and col2im loops on short rows, else the shifted grid for the input gradient);
    - the shifted grid for everything;
    - im2col's columns and col2im for everything, as NumPy's copies and slice adds;
    - the same with the compiled loops (skipped without Numba)."""
    if request.param != "by size":
        short_rows = window_kernels.short_rows
        compiled = request.param == "compiled columns"
        if compiled and not window_kernels.load():
            pytest.skip("Numba is not installed")
        monkeypatch.setattr(window_kernels, "short_rows", short_rows if compiled else lambda *args: False)
    if request.param == "shifted grid":
        monkeypatch.setattr(_conv_shifted, "_LARGE_COLUMNS", -1)
    elif request.param in ("columns", "compiled columns"):
        monkeypatch.setattr(_conv_grads.shifted, "applies", lambda *args: False)
    return request.param


TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
OUR_DTYPE = {np.float32: antorcha.float32, np.float64: antorcha.float64}
# a sum of C·k·k products per output: float32's rounding grows with it
TOL = {np.float32: {"rtol": 1e-4, "atol": 1e-5}, np.float64: {}}


def _pair(name: str, dtype: type, device: str, *args, **kwargs) -> tuple[nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, **kwargs).to(TORCH_DTYPE[dtype])
    ours = getattr(nn, name)(*args, **kwargs).to(OUR_DTYPE[dtype])
    copy_weights(theirs, ours)
    return ours.to(device), theirs


LAYERS = [
    ("Conv2d", (3, 4, 3), {"padding": 1}, (2, 3, 7, 6)),
    ("Conv2d", (4, 6, (3, 2)), {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2},
     (2, 4, 9, 8)),
    ("Conv2d", (4, 4, 3), {"groups": 4, "stride": 3, "bias": False}, (1, 4, 7, 7)),  # depthwise, stride = k
    ("Conv2d", (3, 2, 3), {"padding": "same", "dilation": 2, "padding_mode": "reflect"}, (2, 3, 6, 7)),
    ("Conv2d", (3, 2, 2), {"padding": "same", "padding_mode": "circular"}, (2, 3, 5, 5)),  # even kernel
    ("Conv2d", (3, 2, 3), {"padding": (2, 1), "padding_mode": "replicate"}, (3, 6, 5)),  # unbatched
    ("Conv2d", (3, 2, 3), {"padding": 1, "padding_mode": "circular", "stride": 2}, (2, 3, 5, 6)),
    ("Conv2d", (2, 3, 1), {"stride": 4}, (2, 2, 9, 9)),  # stride > kernel
    ("Conv2d", (2, 3, 3), {"padding": "valid"}, (2, 2, 5, 5)),
    ("Conv1d", (3, 4, 3), {"padding": 2, "padding_mode": "reflect", "stride": 2}, (2, 3, 9)),
    ("Conv1d", (4, 2, 4), {"padding": "same", "groups": 2}, (4, 8)),
    ("Conv1d", (2, 2, 3), {"padding": 1, "padding_mode": "replicate", "dilation": 3}, (1, 2, 11)),
    ("ConvTranspose2d", (4, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}, (2, 4, 4, 5)),
    ("ConvTranspose2d", (4, 6, (2, 3)), {"stride": (1, 2), "groups": 2, "dilation": 2}, (1, 4, 3, 3)),
    ("ConvTranspose2d", (2, 2, 3), {"bias": False}, (2, 4, 4)),
    ("ConvTranspose1d", (3, 2, 3), {"stride": 3, "padding": 1, "output_padding": 2}, (2, 3, 5)),
    ("ConvTranspose1d", (2, 4, 2), {"groups": 2, "dilation": 2, "output_padding": 1}, (2, 7)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), LAYERS, ids=lambda v: str(v))
def test_layer_matches_torch(
    name: str, args: tuple, kwargs: dict, shape: tuple, dtype: type, device: str, conv_path: str
) -> None:
    ours, theirs = _pair(name, dtype, device, *args, **kwargs)
    (x,) = random_inputs([shape], dtype)
    compare_with_torch(ours, theirs, [x], params=paired_parameters(ours, theirs), device=device, **TOL[dtype])


def test_noncontiguous_input_and_weight(conv_path: str) -> None:
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 9, 8, 3)), rng.standard_normal((3, 5, 2, 4))
    ours = F.conv2d(antorcha.tensor(x).permute(0, 3, 1, 2)[:, :, ::2], antorcha.tensor(w).permute(1, 0, 3, 2),
                    padding=1)
    theirs = torch.nn.functional.conv2d(torch.tensor(x).permute(0, 3, 1, 2)[:, :, ::2],
                                        torch.tensor(w).permute(1, 0, 3, 2), padding=1)
    assert_close(ours, theirs)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("transposed", [False, True])
def test_second_order_through_a_layer(transposed: bool, stride: int, conv_path: str) -> None:
    """A gradient penalty: d/dθ of |d loss / dx|², through ConvolutionBackward0's own backward."""
    name = "ConvTranspose2d" if transposed else "Conv2d"
    dilation = 2 if stride == 1 else 1
    geometry = {"stride": stride, "padding": 1, "dilation": dilation, "groups": 1}
    ours, theirs = _pair(name, np.float64, "cpu", 3, 4, 3, **geometry)
    x = np.random.default_rng(4).standard_normal((2, 3, 5, 6))
    results = []
    for m, layer in ((antorcha, ours), (torch, theirs)):
        inp = m.tensor(x, requires_grad=True)
        out = layer(inp)
        (gx,) = m.autograd.grad((out * out).sum(), inp, create_graph=True)
        penalty = (gx * gx).sum()
        results.append(m.autograd.grad(penalty, [inp, layer.weight, layer.bias]))
    for a, t in zip(*results):
        np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("transposed", [False, True])
def test_infinite_values_give_torch_nans(transposed: bool, conv_path: str) -> None:
    """An inf in the input or weight: the shifted grid's dropped positions must not add 0 · inf
    (NaN) where torch's gradients stay finite or infinite."""
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((3, 4, 3, 3))
    x[0, 1, 0, 0], w[1, 2, 0, 1] = np.inf, -np.inf
    cotangent = rng.standard_normal((2, 4, 6, 5))
    results = []
    for m in (antorcha, torch):
        inputs = [m.tensor(a, requires_grad=True) for a in (x, w)]
        conv = m.nn.functional.conv_transpose2d if transposed else m.nn.functional.conv2d
        out = conv(inputs[0], inputs[1] if transposed else inputs[1].transpose(0, 1), padding=1)
        out.backward(m.tensor(cotangent))
        results.append([out.detach().numpy(), *(t.grad.numpy() for t in inputs)])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_parameters_names_shapes_and_repr() -> None:
    configs = [
        ("Conv2d", (4, 6, (3, 2)), {"stride": 2, "padding": 1, "dilation": 2, "groups": 2, "bias": False,
                                   "padding_mode": "reflect"}),
        ("Conv2d", (3, 8, 3), {}),
        ("Conv1d", (2, 4, 3), {"padding": "same"}),
        ("Conv1d", (2, 4, 3), {"padding": "valid", "padding_mode": "circular"}),
        ("ConvTranspose2d", (4, 6, 3), {"stride": 2, "output_padding": 1, "groups": 2}),
        ("ConvTranspose1d", (4, 6, 3), {"dilation": 2}),
    ]
    for name, args, kwargs in configs:
        ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
        assert repr(ours) == repr(theirs)
        assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
            [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
        for attribute in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                          "transposed", "output_padding", "groups", "padding_mode"):
            assert getattr(ours, attribute) == getattr(theirs, attribute), (name, attribute)
        assert ours._reversed_padding_repeated_twice == type(ours._reversed_padding_repeated_twice)(
            theirs._reversed_padding_repeated_twice)


@pytest.mark.parametrize("transposed", [False, True])
def test_default_initialisation(transposed: bool) -> None:
    """kaiming_uniform_(a=√5): U(±1/√fan_in) for the weight and the bias, fan_in = weight.size(1)·k·k,
    drawn in torch's order from torch's stream, so the same seed gives torch's weights."""
    layers = []
    for module in (antorcha, torch):
        module.manual_seed(11)
        make = module.nn.ConvTranspose2d if transposed else module.nn.Conv2d
        layers.append(make(16, 24, 3, groups=2) if transposed else make(24, 16, 3, groups=2))
    ours, theirs = layers
    bound = 1 / math.sqrt(ours.weight.shape[1] * 9)
    for name in ("weight", "bias"):
        values = getattr(ours, name).detach().numpy()
        np.testing.assert_array_equal(values, getattr(theirs, name).detach().numpy(), err_msg=name)
        assert np.abs(values).max() <= bound


def test_transposed_output_size() -> None:
    ours, theirs = _pair("ConvTranspose2d", np.float64, "cpu", 3, 2, 3, stride=2)
    x = np.random.default_rng(5).standard_normal((1, 3, 5, 5))
    for size in ((12, 12), (11, 12), (1, 2, 12, 11)):
        assert_close(ours(antorcha.tensor(x), output_size=size), theirs(torch.tensor(x), output_size=size))
    _same_error(lambda m, layer: layer(m.tensor(x), output_size=(20, 20)), ours, theirs)


def test_integer_convolution_and_node_name() -> None:
    x, w = np.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5) % 7, np.arange(4 * 3 * 2 * 2).reshape(4, 3, 2, 2) % 5
    ours = F.conv2d(antorcha.tensor(x), antorcha.tensor(w), stride=2)
    theirs = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), stride=2)
    assert ours.dtype == antorcha.int64 and (ours.numpy() == theirs.numpy()).all()
    out = nn.Conv2d(3, 2, 3)(antorcha.randn(1, 3, 5, 5))
    assert type(out.grad_fn).__name__ == "ConvolutionBackward0"
    out = nn.ConvTranspose2d(3, 2, 3)(antorcha.randn(1, 3, 5, 5))
    assert type(out.grad_fn).__name__ == "ConvolutionBackward0"


def test_empty_batch() -> None:
    for m in (antorcha, torch):
        layer = m.nn.Conv2d(3, 4, 3, padding=1)
        x = m.zeros(0, 3, 5, 5, requires_grad=True)
        out = layer(x)
        assert tuple(out.shape) == (0, 4, 5, 5)
        out.sum().backward()
        assert tuple(x.grad.shape) == (0, 3, 5, 5)
        assert not layer.weight.grad.numpy().any()


def _same_error(call, *pair, message: bool = True) -> None:
    """The same exception class and message from antorcha and torch."""
    errors = []
    for m, arg in zip((antorcha, torch), pair or (None, None)):
        with pytest.raises(Exception) as info:
            call(m, arg) if pair else call(m)
        errors.append(info.value)
    ours, theirs = errors
    assert type(ours).__name__ == type(theirs).__name__, (ours, theirs)
    if message:
        assert torch_name(str(ours).split("\n")[0]) == str(theirs).split("\n")[0]


def _conv(name: str, x: tuple, w: tuple, b: tuple | None = None, dtype: str = "float32", wdtype=None, **kw):
    def call(m):
        inputs = m.zeros(x, dtype=getattr(m, dtype)), m.zeros(w, dtype=getattr(m, wdtype or dtype))
        bias = None if b is None else m.zeros(b[0], dtype=getattr(m, b[1]))
        return getattr(m.nn.functional, name)(*inputs, bias, **kw)

    return call


ERRORS = [
    _conv("conv2d", (2, 4, 5, 5), (6, 3, 3, 3)),  # channel mismatch
    _conv("conv2d", (4, 5), (6, 4, 3, 3)),  # wrong input dims
    _conv("conv1d", (1, 4, 5, 5), (6, 4, 3)),
    _conv("conv2d", (1, 4, 2, 2), (6, 4, 3, 3)),  # kernel larger than the padded input
    _conv("conv2d", (1, 4, 4, 4), (6, 4, 3, 3), dilation=2),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), stride=0),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), padding=-1),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), dilation=0),
    _conv("conv2d", (1, 4, 5, 5), (6, 2, 3, 3), groups=4),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), groups=2),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), groups=0),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), padding="same", stride=2),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), padding="foo"),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), (5, "float32")),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), (6, "float64")),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), dtype="float64", wdtype="float32"),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), dtype="float32", wdtype="float64"),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), stride=(1, 1, 1)),
    _conv("conv2d", (1, 4, 5, 5), (6, 4, 3)),
    _conv("conv_transpose2d", (1, 4, 5, 5), (3, 4, 3, 3)),
    _conv("conv_transpose2d", (1, 4, 5, 5), (4, 4, 3, 3), output_padding=1),
    _conv("conv_transpose1d", (1, 4, 5), (4, 4, 3), output_padding=1, stride=1),
    _conv("conv_transpose2d", (1, 4, 5, 5), (4, 4, 3, 3), (3, "float32")),
    _conv("conv_transpose2d", (1, 4, 5, 5), (4, 4, 3, 3), padding="same"),
    _conv("conv_transpose2d", (1, 4, 5, 5), (4, 4, 3, 3), groups=3),
    _conv("conv_transpose2d", (1, 4, 2, 2), (4, 4, 3, 3), padding=3),
]


@pytest.mark.parametrize("call", ERRORS)
def test_errors_match_torch(call) -> None:
    _same_error(call)


def test_non_tensor_input_is_a_type_error() -> None:
    _same_error(lambda m: m.nn.functional.conv2d([1.0], m.zeros(6, 4, 3, 3)), message=False)
    _same_error(lambda m: m.nn.functional.conv2d(m.zeros(1, 4, 5, 5), [1.0]), message=False)


MODULE_ERRORS = [
    lambda m: m.nn.Conv2d(4, 6, 3, padding_mode="foo"),
    lambda m: m.nn.ConvTranspose2d(4, 6, 3, padding_mode="reflect"),
    lambda m: m.nn.Conv2d(4, 6, 3, groups=0),
    lambda m: m.nn.Conv2d(4, 6, 3, groups=3),
    lambda m: m.nn.Conv2d(4, 5, 3, groups=2),
    lambda m: m.nn.Conv2d(4, 6, 3, padding="same", stride=2),
]


@pytest.mark.parametrize("call", MODULE_ERRORS)
def test_module_errors_match_torch(call) -> None:
    errors = []
    for m in (antorcha, torch):
        with pytest.raises(ValueError) as info:
            call(m)
        errors.append(str(info.value))
    if "padding_mode must be one of" in errors[1]:  # torch prints a set, in hash order
        errors = [e.split("{")[0] + e.split("}")[1] for e in errors]
    assert errors[0] == errors[1]
