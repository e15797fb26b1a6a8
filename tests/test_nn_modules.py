"""The Module API against torch.nn.Module: registration, traversal, state_dict, repr, modes,
conversion, hooks, containers, Parameter and nn.utils."""

from __future__ import annotations

import copy
import math
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch
from nn_helpers import assert_close, copy_weights, to_antorcha, torch_name

import antorcha
import antorcha.nn as nn
import antorcha.nn.functional as F


def _mlp_classes(lib):
    """The lesson's MLP, written once for either library."""

    class MLP(lib.nn.Module):
        def __init__(self, input_dim: int = 10, hidden_dim: int = 100, output_dim: int = 1) -> None:
            super().__init__()
            self.layer1 = lib.nn.Linear(input_dim, hidden_dim)
            self.layer2 = lib.nn.Linear(hidden_dim, output_dim)

        def forward(self, x):
            return self.layer2(lib.nn.functional.relu(self.layer1(x)))

    return MLP


OurMLP, TorchMLP = _mlp_classes(antorcha), _mlp_classes(torch)


def _nested(lib):
    """A structure with every container, a shared layer, a buffer and a non-persistent buffer."""
    nn_ = lib.nn
    shared = nn_.Linear(3, 3)
    model = nn_.Sequential(
        OrderedDict(
            [
                ("embed", nn_.Embedding(5, 3, padding_idx=0)),
                ("blocks", nn_.ModuleList([nn_.Linear(3, 3), nn_.Linear(3, 3), shared, shared])),
                ("heads", nn_.ModuleDict({"a": nn_.LayerNorm(3), "b": nn_.Dropout(0.1)})),
                ("act", nn_.GELU(approximate="tanh")),
                ("out", nn_.Sequential(nn_.Flatten(), nn_.Linear(3, 2, bias=False), nn_.LogSoftmax(dim=1))),
            ]
        )
    )
    model.register_buffer("steps", lib.zeros(2))
    model.register_buffer("scratch", lib.ones(1), persistent=False)
    return model


# ---- registration and traversal ------------------------------------------------------------------
def test_registration_matches_torch() -> None:
    ours, theirs = _nested(antorcha), _nested(torch)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_parameters(remove_duplicate=False)] == [
        n for n, _ in theirs.named_parameters(remove_duplicate=False)
    ]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert len(list(ours.modules())) == len(list(theirs.modules()))
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))  # the shared layer once
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters(recurse=False)] == []
    assert ours.get_submodule("blocks.2") is ours.blocks[3]
    assert ours.get_parameter("out.1.weight") is ours.out[1].weight
    assert ours.get_buffer("steps") is ours.steps


def test_setattr_getattr_delattr() -> None:
    model = nn.Module()
    model.weight = nn.Parameter(antorcha.randn(2))
    model.child = nn.Linear(2, 2)
    model.register_buffer("running", antorcha.zeros(2))
    model.plain = 3
    assert list(model._parameters) == ["weight"] and list(model._modules) == ["child"]
    assert "weight" in dir(model) and "child" in dir(model) and "running" in dir(model)
    with pytest.raises(
        TypeError, match=re.escape("cannot assign 'torch.FloatTensor' as parameter 'weight'")
    ):
        model.weight = antorcha.randn(2)
    model.weight = None
    assert model.weight is None and "weight" in model._parameters
    model.running = antorcha.ones(3)  # re-assigning a buffer name keeps it a buffer
    assert model._buffers["running"].shape == (3,)
    model.buf2 = nn.Buffer(antorcha.ones(1), persistent=False)
    assert "buf2" in model._buffers and "buf2" not in model.state_dict()
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'missing'"):
        _ = model.missing
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        model.register_parameter("plain", None)
    with pytest.raises(KeyError, match=re.escape('contain "."')):
        model.register_parameter("a.b", None)
    with pytest.raises(TypeError, match="cannot assign 'int' object to buffer 'x'"):
        model.register_buffer("x", 3)
    with pytest.raises(ValueError, match="Cannot assign non-leaf Tensor to parameter 'p'"):
        leaf = antorcha.randn(2, requires_grad=True)
        model.register_parameter("p", _non_leaf_parameter(leaf))
    del model.child, model.running, model.weight
    assert not model._modules and "running" not in model._buffers and not model._parameters
    with pytest.raises(AttributeError, match=re.escape("cannot assign parameters before Module.__init__")):

        class Broken(nn.Module):
            def __init__(self) -> None:
                self.w = nn.Parameter(antorcha.randn(1))

        Broken()
    with pytest.raises(NotImplementedError, match='Module \\[Module\\] is missing the required "forward"'):
        nn.Module()(1)


def _non_leaf_parameter(leaf: antorcha.Tensor) -> nn.Parameter:
    param = nn.Parameter(antorcha.randn(2))
    param.grad_fn = (leaf * 2).grad_fn  # what a Parameter built inside a graph would look like
    return param


# ---- state_dict ----------------------------------------------------------------------------------
def test_state_dict_round_trip_and_values() -> None:
    theirs, ours = TorchMLP(), OurMLP()
    copy_weights(theirs, ours)
    state = ours.state_dict()
    assert isinstance(state, OrderedDict) and list(state) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert_close(state[key], value)
        assert not state[key].requires_grad
    clone = OurMLP()
    result = clone.load_state_dict(state)
    assert repr(result) == "<All keys matched successfully>" and result.missing_keys == []
    x = antorcha.randn(4, 10)
    np.testing.assert_array_equal(clone(x).detach().numpy(), ours(x).detach().numpy())
    state["layer1.bias"]._data[0] = 123.0  # state_dict tensors share memory with the parameters
    assert ours.layer1.bias.detach().numpy()[0] == 123.0


@pytest.mark.parametrize(
    "change",
    ["missing", "unexpected", "shape", "all"],
)
def test_load_state_dict_errors_match_torch(change: str) -> None:
    def edit(state, lib_tensor):
        state = dict(state)
        if change in ("missing", "all"):
            del state["layer1.bias"]
        if change in ("unexpected", "all"):
            state["layer3.weight"] = lib_tensor
            state["extra"] = lib_tensor
        if change in ("shape", "all"):
            state["layer2.weight"] = lib_tensor
        return state

    ours, theirs = OurMLP(), TorchMLP()
    with pytest.raises(RuntimeError) as torch_error:
        theirs.load_state_dict(edit(theirs.state_dict(), torch.zeros(3)))
    with pytest.raises(RuntimeError) as our_error:
        ours.load_state_dict(edit(ours.state_dict(), antorcha.zeros(3)))
    assert torch_name(str(our_error.value)) == str(torch_error.value)
    if change != "shape":
        result = ours.load_state_dict(
            edit(ours.state_dict(), antorcha.zeros(3)) if change != "all" else {}, strict=False
        )
        expected = theirs.load_state_dict(
            edit(theirs.state_dict(), torch.zeros(3)) if change != "all" else {}, strict=False
        )
        assert result == tuple(expected)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        ours.load_state_dict([1, 2])


def test_load_state_dict_casts_and_assign() -> None:
    model = OurMLP()
    state = {k: v.double() for k, v in model.state_dict().items()}
    weight = model.layer1.weight
    model.load_state_dict(state)
    assert model.layer1.weight is weight and weight.dtype is antorcha.float32
    model.load_state_dict(state, assign=True)
    assert model.layer1.weight is not weight and model.layer1.weight.dtype is antorcha.float64
    assert isinstance(model.layer1.weight, nn.Parameter) and model.layer1.weight.requires_grad


# ---- repr ----------------------------------------------------------------------------------------
def test_repr_matches_torch() -> None:
    assert repr(OurMLP()) == repr(TorchMLP())
    assert repr(_nested(antorcha)) == repr(_nested(torch))
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())
    assert repr(nn.Sequential()) == repr(torch.nn.Sequential())
    for name in ("MSELoss", "CrossEntropyLoss", "Identity", "Tanh", "Sigmoid", "SiLU"):
        assert repr(getattr(nn, name)()) == repr(getattr(torch.nn, name)())
    ours = nn.ParameterList([nn.Parameter(antorcha.randn(2, 3)), antorcha.randn(4)])
    theirs = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(2, 3)), torch.randn(4)])
    assert torch_name(repr(ours)) == repr(theirs)


# ---- modes, gradients and conversion -------------------------------------------------------------
def test_train_eval_zero_grad_requires_grad_apply() -> None:
    model = _nested(antorcha)
    assert model.training and model.heads["b"].training
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        model.train("yes")
    mlp = OurMLP()
    mlp(antorcha.randn(3, 10)).sum().backward()
    mlp.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in mlp.parameters())
    mlp.zero_grad()
    assert all(p.grad is None for p in mlp.parameters())
    mlp.requires_grad_(False)
    assert not any(p.requires_grad for p in mlp.parameters())
    seen = []
    assert mlp.apply(lambda m: seen.append(type(m).__name__)) is mlp
    assert seen == ["Linear", "Linear", "MLP"]


def test_to_dtype_converts_in_place() -> None:
    model = OurMLP()
    model(antorcha.randn(2, 10)).sum().backward()
    weight, optimizer = model.layer1.weight, antorcha.optim.SGD(model.parameters(), lr=0.1)
    before = weight.detach().numpy().astype(np.float64)
    assert model.to(antorcha.float64) is model
    assert model.layer1.weight is weight and weight.dtype is antorcha.float64
    assert weight.grad.dtype is antorcha.float64
    np.testing.assert_array_equal(weight.detach().numpy(), before)
    optimizer.step()  # the optimizer still holds the converted parameter
    assert not np.array_equal(weight.detach().numpy(), before)
    assert model(antorcha.randn(2, 10, dtype=antorcha.float64)).dtype is antorcha.float64
    model.float()
    assert weight.dtype is antorcha.float32
    model.double()
    assert weight.dtype is antorcha.float64
    assert model.to("cpu", dtype=antorcha.float32).layer2.bias.dtype is antorcha.float32
    embedding = nn.Embedding(3, 2)
    embedding.register_buffer("ids", antorcha.tensor([1, 2]))
    embedding.double()
    assert embedding.ids.dtype is antorcha.int64  # only floating point tensors change dtype
    with pytest.raises(TypeError) as ours:
        model.to(antorcha.int64)
    with pytest.raises(TypeError) as theirs:
        TorchMLP().to(torch.int64)
    assert torch_name(str(ours.value)) == str(theirs.value)


def test_deepcopy_is_independent() -> None:
    model = OurMLP()
    twin = copy.deepcopy(model)
    assert isinstance(twin.layer1.weight, nn.Parameter)
    twin.layer1.weight._data[...] = 0
    assert model.layer1.weight.detach().numpy().any()


# ---- hooks ---------------------------------------------------------------------------------------
def test_forward_hooks() -> None:
    layer = nn.Linear(2, 2)
    calls = []
    pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = layer.register_forward_hook(lambda m, args, out: out + 1)
    layer.register_forward_hook(lambda m, args, out: calls.append("first"), prepend=True)
    x = antorcha.randn(3, 2)
    expected = np.broadcast_to(layer.bias.detach().numpy() + 1, (3, 2))
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-6)
    assert calls == ["first"]
    pre.remove()
    post.remove()
    np.testing.assert_allclose(layer(x).detach().numpy(), layer.forward(x).detach().numpy())
    with layer.register_forward_pre_hook(lambda m, args, kwargs: ((args[0] * 2,), kwargs), with_kwargs=True):
        np.testing.assert_allclose(
            layer(x).detach().numpy(), layer.forward(x * 2).detach().numpy(), rtol=1e-6
        )
    seen = []
    layer.register_forward_hook(lambda m, args, kwargs, out: seen.append(sorted(kwargs)), with_kwargs=True)
    layer(input=x)
    assert seen == [["input"]]
    failing = nn.Linear(2, 2)
    failing.register_forward_hook(lambda m, args, out: calls.append("always"), always_call=True)
    with pytest.raises(RuntimeError):
        failing(antorcha.randn(3, 5))
    assert calls[-1] == "always"
    bad = nn.Identity()
    bad.register_forward_pre_hook(lambda m, args, kwargs: 1, with_kwargs=True)
    with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple of"):
        bad(x)


# ---- containers ----------------------------------------------------------------------------------
def test_sequential_api() -> None:
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Linear)
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and list(seq._modules) == ["0", "1", "2", "3"]
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"] and isinstance(seq[1], nn.Linear)
    seq.insert(1, nn.Tanh())
    assert isinstance(seq[1], nn.Tanh) and len(seq) == 4
    seq[1] = nn.ReLU()
    assert isinstance(seq[1], nn.ReLU)
    with pytest.raises(IndexError, match="index 9 is out of range"):
        seq[9]
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(1, 2)), ("act", nn.ReLU())]))
    assert named.fc is named[0] and list(dict(named.named_parameters())) == ["fc.weight", "fc.bias"]
    out = (seq + named)(antorcha.randn(4, 2))
    assert out.shape == (4, 2)


def test_module_list_and_dict() -> None:
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers += [nn.Sigmoid()]
    assert len(layers) == 5 and isinstance(layers[-1], nn.Sigmoid)
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    assert len(list(layers.parameters())) == 4
    del layers[0]
    assert list(layers._modules) == ["0", "1", "2", "3"]
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and len(layers) == 5
    with pytest.raises(TypeError, match=re.escape("ModuleList.extend should be called with an iterable")):
        layers.extend(3)
    heads = nn.ModuleDict({"a": nn.Linear(2, 2)})
    heads["b"] = nn.ReLU()
    heads.update([("c", nn.Tanh())])
    assert list(heads) == ["a", "b", "c"] and "b" in heads and len(heads) == 3
    assert list(heads.keys()) == ["a", "b", "c"] and isinstance(heads.pop("c"), nn.Tanh)
    assert list(dict(heads.named_parameters())) == ["a.weight", "a.bias"]
    params = nn.ParameterDict({"w": antorcha.randn(2)})
    assert isinstance(params["w"], nn.Parameter) and list(dict(params.named_parameters())) == ["w"]
    plist = nn.ParameterList([antorcha.randn(2)])
    plist.append(nn.Parameter(antorcha.randn(3)))
    assert len(plist) == 2 and [p.shape for p in plist] == [(2,), (3,)]


# ---- Parameter -----------------------------------------------------------------------------------
def test_parameter_semantics() -> None:
    data = antorcha.tensor([1.0, 2.0])
    param = nn.Parameter(data)
    assert isinstance(param, antorcha.Tensor) and isinstance(param, nn.Parameter)
    assert param.requires_grad and param.is_leaf
    param.data[0] = 5.0
    assert data[0].item() == 5.0  # shares memory
    assert torch_name(repr(nn.Parameter(antorcha.tensor([1.0, 2.0])))) == repr(
        torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    )
    frozen = nn.Parameter(antorcha.tensor([1.0]), requires_grad=False)
    assert torch_name(repr(frozen)) == repr(torch.nn.Parameter(torch.tensor([1.0]), requires_grad=False))
    assert nn.Parameter().shape == (0,)
    assert type(param * 2) is antorcha.Tensor and type(param.detach()) is antorcha.Tensor
    with pytest.raises(RuntimeError):
        nn.Parameter(antorcha.tensor([1, 2]))
    assert nn.Parameter(antorcha.tensor([1, 2]), requires_grad=False).dtype is antorcha.int64


# ---- nn.utils ------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type: float, max_norm: float) -> None:
    theirs, ours = TorchMLP(4, 5, 2), OurMLP(4, 5, 2)
    copy_weights(theirs, ours)
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    theirs(torch.from_numpy(x)).pow(2).sum().backward()
    ours(antorcha.from_numpy(x)).pow(2).sum().backward()
    expected = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type=norm_type)
    result = nn.utils.clip_grad_norm_(ours.parameters(), max_norm, norm_type=norm_type)
    assert isinstance(result, antorcha.Tensor)
    assert_close(result, expected, rtol=1e-5)
    for mine, reference in zip(ours.parameters(), theirs.parameters()):
        assert_close(mine.grad, reference.grad, rtol=1e-5)


def test_clip_utilities() -> None:
    param = nn.Parameter(antorcha.tensor([1.0, 2.0]))
    param.grad = antorcha.tensor([float("inf"), 1.0])
    with pytest.raises(
        RuntimeError,
        match=re.escape("The total norm of order 2.0 for gradients from `parameters` is non-finite"),
    ):
        nn.utils.clip_grad_norm_(param, 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
    param.grad = antorcha.tensor([-3.0, 0.5])
    nn.utils.clip_grad_value_([param], 1.0)
    np.testing.assert_array_equal(param.grad.numpy(), [-1.0, 0.5])
    model = OurMLP(3, 4, 2)
    vector = nn.utils.parameters_to_vector(model.parameters())
    assert vector.shape == (sum(p.numel() for p in model.parameters()),)
    reference = torch.nn.utils.parameters_to_vector(
        [torch.from_numpy(p.detach().numpy().copy()) for p in model.parameters()]
    )
    assert_close(vector.detach(), reference)
    nn.utils.vector_to_parameters(antorcha.arange(vector.numel(), dtype=antorcha.float32), model.parameters())
    assert (
        model.layer1.weight.detach().numpy()[0, 1] == 1.0
        and model.layer2.bias.detach().numpy()[-1] == vector.numel() - 1
    )


def test_functional_relu_and_module_in_training_loop() -> None:
    """The lesson's loop for a few steps: the loss decreases and parameters stay Parameters."""
    antorcha.manual_seed(0)
    model = OurMLP()
    optimizer = antorcha.optim.Adam(model.parameters(), lr=0.01)
    criterion = nn.MSELoss()
    x, y = antorcha.randn(64, 10), antorcha.randn(64, 1)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(isinstance(p, nn.Parameter) for p in model.parameters())
    assert F.relu(to_antorcha(torch.tensor([-1.0, 2.0]))).tolist() == [0.0, 2.0]
