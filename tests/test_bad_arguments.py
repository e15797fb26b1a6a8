"""Bad arguments to nn, optim and data raise what torch raises: the same class and message.

Each scenario is written once against the torch API and run with `lib=torch` and with
`lib=antorcha`; the messages are compared after torch's own names in them ("torch.Size",
"torch.FloatTensor") are read as antorcha's.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

import antorcha
from tests.autograd_helpers import Raised, outcome


def _data(lib: Any) -> Any:
    return importlib.import_module(f"{lib.__name__}.utils.data")


def _params(lib: Any) -> list:
    return [lib.nn.Parameter(lib.zeros(2))]


def _dataset(lib: Any) -> Any:
    return _data(lib).TensorDataset(lib.zeros(4))


OPTIMIZER_CASES: dict[str, Callable[[Any], Any]] = {
    "adam_empty": lambda lib: lib.optim.Adam([]),
    "sgd_empty": lambda lib: lib.optim.SGD([], lr=0.1),
    "params_a_tensor": lambda lib: lib.optim.SGD(lib.zeros(2, requires_grad=True), lr=0.1),
    "adam_negative_lr": lambda lib: lib.optim.Adam(_params(lib), lr=-1),
    "sgd_negative_lr": lambda lib: lib.optim.SGD(_params(lib), lr=-0.5),
    "adamw_negative_lr": lambda lib: lib.optim.AdamW(_params(lib), lr=-1e-3),
    "adam_negative_beta1": lambda lib: lib.optim.Adam(_params(lib), betas=(-0.1, 0.9)),
    "adam_beta2_above_one": lambda lib: lib.optim.Adam(_params(lib), betas=(0.9, 1.5)),
    "adamw_negative_beta": lambda lib: lib.optim.AdamW(_params(lib), betas=(-0.1, 0.9)),
    "adam_negative_eps": lambda lib: lib.optim.Adam(_params(lib), eps=-1),
    "adamw_negative_eps": lambda lib: lib.optim.AdamW(_params(lib), eps=-1e-3),
    "adam_negative_weight_decay": lambda lib: lib.optim.Adam(_params(lib), weight_decay=-1),
    "adamw_negative_weight_decay": lambda lib: lib.optim.AdamW(_params(lib), weight_decay=-1),
    "sgd_negative_momentum": lambda lib: lib.optim.SGD(_params(lib), lr=0.1, momentum=-1),
    "sgd_negative_weight_decay": lambda lib: lib.optim.SGD(_params(lib), lr=0.1, weight_decay=-1),
    "sgd_nesterov_without_momentum": lambda lib: lib.optim.SGD(_params(lib), lr=0.1, nesterov=True),
    "lr_not_a_number": lambda lib: lib.optim.Adam(_params(lib), lr="0.1"),
    "rmsprop_negative_alpha": lambda lib: lib.optim.RMSprop(_params(lib), alpha=-1),
    "adagrad_negative_lr_decay": lambda lib: lib.optim.Adagrad(_params(lib), lr_decay=-1),
    "non_leaf_parameter": lambda lib: lib.optim.SGD([lib.zeros(2, requires_grad=True) * 2], lr=0.1),
}

DATA_CASES: dict[str, Callable[[Any], Any]] = {
    "batch_size_zero": lambda lib: _data(lib).DataLoader(_dataset(lib), batch_size=0),
    "batch_size_negative": lambda lib: _data(lib).DataLoader(_dataset(lib), batch_size=-1),
    "num_workers_negative": lambda lib: _data(lib).DataLoader(_dataset(lib), num_workers=-1),
    "shuffle_with_sampler": lambda lib: _data(lib).DataLoader(
        _dataset(lib), shuffle=True, sampler=_data(lib).SequentialSampler(_dataset(lib))
    ),
    "batch_sampler_size_zero": lambda lib: _data(lib).BatchSampler(
        _data(lib).SequentialSampler(_dataset(lib)), 0, False
    ),
    "random_split_lengths": lambda lib: _data(lib).random_split(_dataset(lib), [2, 3]),
}

LAYER_CASES: dict[str, Callable[[Any], Any]] = {
    "linear_negative_in": lambda lib: lib.nn.Linear(-1, 3),
    "linear_negative_out": lambda lib: lib.nn.Linear(3, -2),
    "embedding_negative_count": lambda lib: lib.nn.Embedding(-1, 3),
    "embedding_negative_dim": lambda lib: lib.nn.Embedding(3, -1),
    "dropout_negative_p": lambda lib: lib.nn.Dropout(-0.1),
    "dropout_p_above_one": lambda lib: lib.nn.Dropout(1.5),
    "functional_dropout_negative_p": lambda lib: lib.nn.functional.dropout(lib.zeros(2), -0.1),
    "sequential_of_an_int": lambda lib: lib.nn.Sequential(lib.nn.Linear(2, 2), 3),
    "sequential_of_a_function": lambda lib: lib.nn.Sequential(abs),
}

FORWARD_CASES: dict[str, Callable[[Any], Any]] = {
    # a non-tensor reaching a layer
    "linear_list": lambda lib: lib.nn.Linear(2, 3)([1.0, 2.0]),
    "linear_none": lambda lib: lib.nn.Linear(2, 3)(None),
    "sequential_list": lambda lib: lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.ReLU())([1.0, 2.0]),
    "relu_list": lambda lib: lib.nn.ReLU()([1.0]),
    "relu_inplace_list": lambda lib: lib.nn.ReLU(inplace=True)([1.0]),
    "leaky_relu_inplace_list": lambda lib: lib.nn.LeakyReLU(0.1, inplace=True)([1.0]),
    "dropout_inplace_list": lambda lib: lib.nn.Dropout(0.1, inplace=True)([1.0]),
    "leaky_relu_list": lambda lib: lib.nn.LeakyReLU()([1.0]),
    "gelu_list": lambda lib: lib.nn.GELU()([1.0]),
    "silu_list": lambda lib: lib.nn.SiLU()([1.0]),
    "sigmoid_list": lambda lib: lib.nn.Sigmoid()([1.0]),
    "tanh_list": lambda lib: lib.nn.Tanh()([1.0]),
    "softplus_list": lambda lib: lib.nn.Softplus()([1.0]),
    "logsigmoid_list": lambda lib: lib.nn.LogSigmoid()([1.0]),
    "dropout_int": lambda lib: lib.nn.Dropout(0.0)(3),
    "layer_norm_tuple": lambda lib: lib.nn.LayerNorm(2)((1.0, 2.0)),
    "embedding_list": lambda lib: lib.nn.Embedding(3, 2)([0, 1]),
    "cross_entropy_list_input": lambda lib: lib.nn.CrossEntropyLoss()([1.0], lib.zeros(1)),
    "cross_entropy_list_target": lambda lib: lib.nn.CrossEntropyLoss()(lib.zeros(1, 2), [1]),
    "nll_list_input": lambda lib: lib.nn.NLLLoss()([1.0], lib.zeros(1)),
    "nll_list_target": lambda lib: lib.nn.NLLLoss()(lib.zeros(1, 2), [1]),
    # a wrong size or rank for Linear
    "linear_wrong_features": lambda lib: lib.nn.Linear(3, 5)(lib.zeros(2, 4)),
    "linear_wrong_features_1d": lambda lib: lib.nn.Linear(3, 5)(lib.zeros(4)),
    "linear_wrong_features_3d": lambda lib: lib.nn.Linear(3, 5)(lib.zeros(2, 6, 4)),
    "linear_scalar": lambda lib: lib.nn.Linear(3, 5)(lib.zeros(())),
    "layer_norm_wrong_shape": lambda lib: lib.nn.LayerNorm(4)(lib.zeros(2, 3)),
    # indices and targets out of range
    "embedding_index_too_big": lambda lib: lib.nn.Embedding(4, 3)(lib.tensor([1, 4])),
    "embedding_index_negative": lambda lib: lib.nn.Embedding(4, 3)(lib.tensor([1, -1])),
    "embedding_float_indices": lambda lib: lib.nn.Embedding(4, 3)(lib.tensor([1.0])),
    "cross_entropy_target_too_big": lambda lib: lib.nn.functional.cross_entropy(
        lib.zeros(2, 3), lib.tensor([0, 5])
    ),
    "cross_entropy_target_negative": lambda lib: lib.nn.functional.cross_entropy(
        lib.zeros(2, 3), lib.tensor([0, -2])
    ),
    "cross_entropy_target_too_big_3d": lambda lib: lib.nn.functional.cross_entropy(
        lib.zeros(2, 3, 4), lib.tensor([[0, 5, 1, 1], [0, 0, 0, 0]])
    ),
    "cross_entropy_module_target_too_big": lambda lib: lib.nn.CrossEntropyLoss()(
        lib.zeros(2, 3), lib.tensor([3, 0])
    ),
    "nll_target_too_big": lambda lib: lib.nn.functional.nll_loss(lib.zeros(2, 3), lib.tensor([0, 3])),
    "mse_shapes_do_not_broadcast": lambda lib: lib.nn.MSELoss()(lib.zeros(3, 2), lib.zeros(4)),
}

CASES = {**OPTIMIZER_CASES, **DATA_CASES, **LAYER_CASES, **FORWARD_CASES}


def _as_antorcha(message: str) -> str:
    """A message with torch's names in it read as antorcha's (antorcha prints either: its type()
    strings are torch's, 'torch.FloatTensor', while its Size is 'antorcha.Size')."""
    return message.replace("torch.", "antorcha.")


@pytest.mark.parametrize("name", list(CASES))
def test_same_error_as_torch(name: str) -> None:
    scenario = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the MSE broadcast warning: tested below
        theirs = outcome(scenario, torch)
        ours = outcome(scenario, antorcha)
    assert isinstance(theirs, Raised), f"torch accepted {name}; the case is wrong"
    assert isinstance(ours, Raised), f"antorcha accepted what torch rejects: {theirs}"
    assert ours.cls is theirs.cls, f"torch raised {theirs}, antorcha raised {ours}"
    assert _as_antorcha(ours.message) == _as_antorcha(theirs.message)


def _warnings_of(scenario: Callable[[Any], Any], lib: Any) -> list[tuple[type, str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome(scenario, lib)
    return [(w.category, str(w.message)) for w in caught]


@pytest.mark.parametrize(
    "scenario",
    [
        lambda lib: lib.nn.MSELoss()(lib.zeros(3, 1), lib.zeros(3)),
        lambda lib: lib.nn.functional.mse_loss(lib.zeros(3), lib.zeros(3, 1)),
        lambda lib: lib.nn.L1Loss()(lib.zeros(3, 1), lib.zeros(3)),
        lambda lib: lib.nn.MSELoss()(lib.zeros(3, 2), lib.zeros(4)),  # warns, then raises
    ],
    ids=["mse_module", "mse_functional", "l1_module", "mse_then_raises"],
)
def test_broadcasting_loss_warns_like_torch(scenario: Callable[[Any], Any]) -> None:
    theirs = _warnings_of(scenario, torch)
    assert theirs and theirs[0][0] is UserWarning  # the case really warns in torch
    ours = _warnings_of(scenario, antorcha)
    assert [(c, _as_antorcha(m)) for c, m in ours] == [(c, _as_antorcha(m)) for c, m in theirs]


def test_matching_shapes_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        antorcha.nn.MSELoss()(antorcha.zeros(3, 1), antorcha.zeros(3, 1))


NON_TENSOR_INPUTS = {
    "exp": lambda m: m.exp(1.0),
    "relu": lambda m: m.relu([1.0]),
    "sum": lambda m: m.sum([1.0, 2.0]),
    "matmul": lambda m: m.matmul([[1.0]], m.ones(1, 1)),
    "maximum": lambda m: m.maximum(1.0, m.ones(2)),
    "F.linear": lambda m: m.nn.functional.linear([1.0, 2.0], m.ones(3, 2)),
    "F.relu": lambda m: m.nn.functional.relu([1.0]),
    "sum(input=)": lambda m: m.sum(input=[1.0]),
}


@pytest.mark.parametrize("name", list(NON_TENSOR_INPUTS))
def test_a_non_tensor_input_gets_torchs_type_error(name: str) -> None:
    """Every public function whose first parameter is `input`: torch's TypeError, not an AttributeError."""
    call = NON_TENSOR_INPUTS[name]
    with pytest.raises(TypeError) as theirs:
        call(torch)
    with pytest.raises(TypeError) as ours:
        call(antorcha)
    assert str(ours.value) == str(theirs.value)
