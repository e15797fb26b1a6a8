"""antorcha.optim against torch.optim: 100 steps of a small MLP from identical weights and data,
with antorcha's parameters on every device (`device` fixture; torch stays on the cpu)."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from optim_helpers import SHAPES, compare_runs, make_models, train

import antorcha
import antorcha.optim as optim
from antorcha.optim import _flat as flat

DTYPES = [np.float32, np.float64]

CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.0005, "momentum": 0.5, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.001, "betas": (0.3, 0.9), "eps": 1e-6, "maximize": True, "weight_decay": 0.02}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.001, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("Adamax", {"lr": 0.01, "weight_decay": 0.05, "betas": (0.4, 0.99)}),
    ("Adamax", {"maximize": True}),
    ("RMSprop", {"lr": 0.001}),
    ("RMSprop", {"lr": 0.001, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.001, "centered": True, "momentum": 0.5, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.0005, "maximize": True, "alpha": 0.9}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("Adagrad", {"lr": 0.01, "maximize": True}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.05}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.05, "decoupled_weight_decay": True, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.001, "maximize": True}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.05}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.05, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.001, "maximize": True}),
]
CLASSES = sorted({name for name, _ in CONFIGS})


def _config_id(config: tuple[str, dict[str, Any]]) -> str:
    name, options = config
    return name + "".join(f"-{k}={v}" for k, v in options.items())


def _run_both(
    name: str, options: dict[str, Any], dtype: Any, steps: int, device: str, **kwargs: Any
) -> tuple[float, float]:
    ours, theirs = make_models(dtype, device=device)
    our_opt = getattr(optim, name)(ours.params, **options)
    their_opt = getattr(torch.optim, name)(theirs.params, **options)
    mine = train(ours, our_opt, steps, **kwargs)
    reference = train(theirs, their_opt, steps, **kwargs)
    return compare_runs(ours, theirs, mine, reference, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("config", CONFIGS, ids=[_config_id(c) for c in CONFIGS])
def test_matches_torch_over_100_steps(config: tuple[str, dict[str, Any]], dtype: Any, device: str) -> None:
    name, options = config
    _run_both(name, options, dtype, steps=100, device=device)


@pytest.mark.parametrize("name", CLASSES)
def test_closure_matches_torch_and_returns_loss(name: str, device: str) -> None:
    _run_both(name, {"lr": 0.005}, np.float64, steps=30, device=device, use_closure=True)
    ours, _ = make_models(np.float32, device=device)
    optimizer = getattr(optim, name)(ours.params, lr=0.01)
    loss = optimizer.step(ours.closure_for(optimizer))
    assert isinstance(loss, antorcha.Tensor)
    assert loss.requires_grad  # the closure ran with gradients enabled
    with antorcha.no_grad():
        assert optimizer.step(ours.closure_for(optimizer)).requires_grad
    assert optimizer.step() is None


GROUP_OPTIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "SGD": ({"lr": 0.05, "momentum": 0.9}, {"lr": 0.01, "nesterov": True, "momentum": 0.5}),
    "Adam": ({"lr": 0.01}, {"lr": 0.003, "amsgrad": True, "weight_decay": 0.1}),
    "AdamW": ({"lr": 0.01, "weight_decay": 0.2}, {"lr": 0.002}),
    "Adamax": ({"lr": 0.01}, {"betas": (0.8, 0.99)}),
    "RMSprop": ({"lr": 0.001, "centered": True}, {"lr": 0.002, "momentum": 0.9}),
    "Adagrad": ({"lr": 0.05}, {"lr": 0.01, "lr_decay": 0.1}),
    "NAdam": ({"lr": 0.01}, {"lr": 0.002, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    "RAdam": ({"lr": 0.01}, {"lr": 0.003, "weight_decay": 0.1}),
}


def _grouped(params: list[Any], name: str) -> list[dict[str, Any]]:
    first, second = GROUP_OPTIONS[name]
    return [{"params": params[:2], **first}, {"params": params[2:], **second}]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", CLASSES)
def test_two_param_groups(name: str, dtype: Any, device: str) -> None:
    ours, theirs = make_models(dtype, device=device)
    our_opt = getattr(optim, name)(_grouped(ours.params, name), lr=0.005)
    their_opt = getattr(torch.optim, name)(_grouped(theirs.params, name), lr=0.005)
    assert [sorted(g) for g in our_opt.param_groups] == [sorted(g) for g in their_opt.param_groups]
    for ours_group, their_group in zip(our_opt.param_groups, their_opt.param_groups):
        assert {k: v for k, v in ours_group.items() if k != "params"} == {
            k: v for k, v in their_group.items() if k != "params"
        }
    compare_runs(ours, theirs, train(ours, our_opt, 40), train(theirs, their_opt, 40), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", CLASSES)
def test_state_dict_resume_continues_the_same_trajectory(name: str, dtype: Any, device: str) -> None:
    ours, theirs = make_models(dtype, device=device)
    our_opt = getattr(optim, name)(_grouped(ours.params, name))
    their_opt = getattr(torch.optim, name)(_grouped(theirs.params, name))
    first = train(ours, our_opt, 25), train(theirs, their_opt, 25)
    saved, their_saved = copy.deepcopy(our_opt.state_dict()), copy.deepcopy(their_opt.state_dict())
    _assert_same_layout(saved, their_saved)

    # a fresh optimizer on the same parameters, as after reloading a checkpoint
    our_opt = getattr(optim, name)(_grouped(ours.params, name), lr=123.0)
    their_opt = getattr(torch.optim, name)(_grouped(theirs.params, name), lr=123.0)
    our_opt.load_state_dict(saved)
    their_opt.load_state_dict(their_saved)
    assert our_opt.param_groups[0]["lr"] == their_opt.param_groups[0]["lr"] != 123.0
    second = train(ours, our_opt, 25), train(theirs, their_opt, 25)
    compare_runs(ours, theirs, first[0] + second[0], first[1] + second[1], dtype)

    # and the resumed run is the uninterrupted one
    uninterrupted, _ = make_models(dtype, device=device)
    whole = train(uninterrupted, getattr(optim, name)(_grouped(uninterrupted.params, name)), 50)
    np.testing.assert_allclose(uninterrupted.losses, ours.losses, rtol=1e-12, atol=0)
    for mine, reference in zip(whole[-1], second[0][-1]):
        np.testing.assert_allclose(mine, reference, rtol=1e-12, atol=0)


def _assert_same_layout(saved: dict[str, Any], their_saved: dict[str, Any]) -> None:
    """Same indices, same keys, same values (as arrays) and the same 'step' dtype as torch."""
    assert set(saved) >= {"state", "param_groups"}
    assert [g["params"] for g in saved["param_groups"]] == [g["params"] for g in their_saved["param_groups"]]
    assert [sorted(g) for g in saved["param_groups"]] == [sorted(g) for g in their_saved["param_groups"]]
    assert sorted(saved["state"]) == sorted(their_saved["state"])
    for index, state in saved["state"].items():
        their_state = their_saved["state"][index]
        assert sorted(state) == sorted(their_state)
        for key, value in state.items():
            assert isinstance(value, antorcha.Tensor)
            expected = their_state[key].numpy()
            assert value.cpu().numpy().dtype == expected.dtype, key
            np.testing.assert_allclose(value.cpu().numpy(), expected, rtol=1e-4, atol=1e-6, err_msg=key)


def test_state_is_keyed_by_parameter_with_torch_keys(device: str) -> None:
    ours, theirs = make_models(np.float32, device=device)
    our_opt, their_opt = optim.Adam(ours.params, amsgrad=True), torch.optim.Adam(theirs.params, amsgrad=True)
    assert len(our_opt.state) == 0  # created lazily
    train(ours, our_opt, 2)
    train(theirs, their_opt, 2)
    for p, tp in zip(ours.params, theirs.params):
        state = our_opt.state[p]
        assert sorted(state) == sorted(their_opt.state[tp])
        assert state["step"].shape == () and state["step"].dtype == antorcha.float32
        assert state["step"].item() == 2.0
        assert state["exp_avg"].shape == p.shape and state["exp_avg"].device == p.device


def test_sgd_without_momentum_keeps_no_state() -> None:
    ours, theirs = make_models(np.float32)
    our_opt, their_opt = optim.SGD(ours.params, lr=0.1), torch.optim.SGD(theirs.params, lr=0.1)
    train(ours, our_opt, 2)
    train(theirs, their_opt, 2)
    assert our_opt.state_dict()["state"] == their_opt.state_dict()["state"] == {}


def test_adagrad_state_is_created_eagerly(device: str) -> None:
    ours, _ = make_models(np.float32, device=device)
    optimizer = optim.Adagrad(ours.params, initial_accumulator_value=0.5)
    assert len(optimizer.state) == 4
    assert np.all(optimizer.state[ours.params[0]]["sum"].cpu().numpy() == 0.5)


def test_parameters_without_grad_are_skipped(device: str) -> None:
    ours, theirs = make_models(np.float64, device=device)
    our_opt, their_opt = optim.Adam(ours.params, lr=0.1), torch.optim.Adam(theirs.params, lr=0.1)
    for model, opt in ((ours, our_opt), (theirs, their_opt)):
        model.params[3].requires_grad_(False)
        train(model, opt, 5)
    np.testing.assert_array_equal(ours.params[3].cpu().numpy(), theirs.params[3].detach().numpy())
    assert ours.params[3] not in our_opt.state
    compare_runs(ours, theirs, [ours.snapshot()], [theirs.snapshot()], np.float64)


def test_zero_grad(device: str) -> None:
    ours, _ = make_models(np.float32, device=device)
    optimizer = optim.SGD(ours.params)
    ours.loss().backward()
    grad = ours.params[0].grad
    optimizer.zero_grad(set_to_none=False)
    assert ours.params[0].grad is grad
    assert np.all(grad.cpu().numpy() == 0)
    optimizer.zero_grad()
    assert all(p.grad is None for p in ours.params)


def test_step_modifies_the_parameter_in_place_and_records_nothing(device: str) -> None:
    ours, _ = make_models(np.float32, device=device)
    w1 = ours.params[0]
    array = w1._data
    optimizer = optim.Adam(ours.params, lr=0.1)
    ours.loss().backward()
    optimizer.step()
    assert w1._data is array and w1.is_leaf and w1.grad_fn is None and w1.requires_grad


def test_add_param_group_and_defaults(device: str) -> None:
    ours, theirs = make_models(np.float32, device=device)
    our_opt = optim.SGD(ours.params[:2], lr=0.1, momentum=0.9)
    their_opt = torch.optim.SGD(theirs.params[:2], lr=0.1, momentum=0.9)
    our_opt.add_param_group({"params": ours.params[2:], "lr": 0.01})
    their_opt.add_param_group({"params": theirs.params[2:], "lr": 0.01})
    assert our_opt.param_groups[1]["lr"] == 0.01 and our_opt.param_groups[1]["momentum"] == 0.9
    compare_runs(ours, theirs, train(ours, our_opt, 20), train(theirs, their_opt, 20), np.float32)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        our_opt.add_param_group({"params": [ours.params[0]]})


def test_single_tensor_and_generator_params() -> None:
    ours, _ = make_models(np.float32)
    assert len(optim.Adam([{"params": ours.params[0]}]).param_groups[0]["params"]) == 1
    assert len(optim.Adam(p for p in ours.params).param_groups[0]["params"]) == 4
    named = optim.Adam([(n, p) for n, p in zip(SHAPES, ours.params)])
    assert named.param_groups[0]["param_names"] == list(SHAPES)


@pytest.mark.parametrize("name", CLASSES)
def test_invalid_learning_rate(name: str) -> None:
    ours, theirs = make_models(np.float32)
    with pytest.raises(ValueError) as theirs_error:
        getattr(torch.optim, name)(theirs.params, lr=-1)
    with pytest.raises(ValueError) as our_error:
        getattr(optim, name)(ours.params, lr=-1)
    assert str(our_error.value) == str(theirs_error.value) == "Invalid learning rate: -1"


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("SGD", {"momentum": -0.1}),
        ("SGD", {"nesterov": True}),
        ("Adam", {"betas": (1.0, 0.999)}),
        ("Adam", {"betas": (0.9, -0.1)}),
        ("Adam", {"eps": -1.0}),
        ("AdamW", {"weight_decay": -1.0}),
        ("RMSprop", {"alpha": -1.0}),
        ("Adagrad", {"lr_decay": -1.0}),
        ("NAdam", {"momentum_decay": -1.0}),
    ],
)
def test_invalid_options_raise_torchs_errors(name: str, options: dict[str, Any]) -> None:
    ours, theirs = make_models(np.float32)
    with pytest.raises(ValueError) as theirs_error:
        getattr(torch.optim, name)(theirs.params, **options)
    with pytest.raises(ValueError) as our_error:
        getattr(optim, name)(ours.params, **options)
    assert str(our_error.value) == str(theirs_error.value)


def test_bad_params_raise_torchs_errors() -> None:
    ours, _ = make_models(np.float32)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        optim.Adam(ours.params[0])
    with pytest.raises(TypeError, match="not iterable"):
        optim.SGD(5)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        optim.SGD([ours.params[0], 1.0])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([ours.params[0] * 2])
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {ours.params[0]}}])
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD(ours.params).load_state_dict(optim.SGD(_grouped(ours.params, "SGD")).state_dict())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optim.SGD([ours.params[0], ours.params[0]])
    assert any("duplicate parameters" in str(w.message) for w in caught)


def test_repr_lists_the_groups() -> None:
    ours, _ = make_models(np.float32)
    text = repr(optim.SGD(ours.params, lr=0.5))
    assert text.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.5\n" in text


@pytest.mark.parametrize("name", ["SGD", "Adam"])  # the per-parameter and the flattened paths
def test_step_bumps_the_version_of_saved_parameters(name: str, device: str) -> None:
    """As in torch: backward through a graph that saved a parameter the step modified raises."""
    errors = []
    for model, module in zip(make_models(np.float32, device=device), (optim, torch.optim)):
        optimizer = getattr(module, name)(model.params, lr=0.1)
        loss = model.loss()
        loss.backward(retain_graph=True)
        before = model.params[0]._version
        optimizer.step()
        assert model.params[0]._version == before + 1
        with pytest.raises(RuntimeError, match="modified by an inplace operation") as error:
            loss.backward()
        errors.append(error)
    assert len(errors) == 2


@pytest.mark.parametrize("config", CONFIGS, ids=[_config_id(c) for c in CONFIGS])
def test_flattened_group_path_is_bit_identical_to_the_per_parameter_path(
    config: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, device: str
) -> None:
    """Small groups are updated as one flat array (_flat.py); the result must not change by a bit."""
    name, options = config
    limit_name = "FLAT_MAX_NUMEL_CUDA" if device == "cuda" else "FLAT_MAX_NUMEL"  # each device's own
    runs = []
    for limit in (getattr(flat, limit_name), -1):  # -1: no group is ever flattened
        monkeypatch.setattr(flat, limit_name, limit)
        ours, _ = make_models(np.float32, device=device)
        optimizer = getattr(optim, name)(ours.params, **options)
        history = train(ours, optimizer, 30)
        flattened = any(plan is not None for plan in optimizer._flat.values())
        assert flattened == (limit > 0 and (name != "SGD" or options.get("momentum", 0) != 0))
        state = {k: v.cpu().numpy().copy() for s in optimizer.state.values() for k, v in s.items()}
        runs.append((history, state))
    (flat_history, flat_state), (plain_history, plain_state) = runs
    for mine, reference in zip(flat_history, plain_history):
        for a, b in zip(mine, reference):
            np.testing.assert_array_equal(a, b)
    assert flat_state.keys() == plain_state.keys()
    for key in flat_state:
        np.testing.assert_array_equal(flat_state[key], plain_state[key])


@pytest.mark.parametrize("name", ["Adam", "NAdam", "SGD", "Adagrad"])
def test_a_parameter_missing_its_grad_for_a_while(name: str, device: str) -> None:
    """Steps then differ between parameters: the flattened path must step aside, as torch does."""
    ours, theirs = make_models(np.float64, device=device)
    options = {"lr": 0.01, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    histories = []
    for model, opt in (
        (ours, getattr(optim, name)(ours.params, **options)),
        (theirs, getattr(torch.optim, name)(theirs.params, **options)),
    ):
        history = []
        for step in range(30):
            opt.zero_grad()
            loss = model.loss()
            loss.backward()
            if 10 <= step < 15:
                model.params[1].grad = None
            opt.step()
            model.losses.append(float(loss.item()))
            history.append(model.snapshot())
        histories.append(history)
        if name != "SGD":
            assert opt.state[model.params[1]]["step"].item() == 25
    compare_runs(ours, theirs, histories[0], histories[1], np.float64)


def test_step_state_follows_a_float64_default_dtype(device: str) -> None:
    ours, theirs = make_models(np.float64, device=device)
    previous, torch_previous = antorcha.get_default_dtype(), torch.get_default_dtype()
    antorcha.set_default_dtype(antorcha.float64)
    torch.set_default_dtype(torch.float64)
    try:
        our_opt, their_opt = optim.NAdam(ours.params), torch.optim.NAdam(theirs.params)
        compare_runs(ours, theirs, train(ours, our_opt, 5), train(theirs, their_opt, 5), np.float64)
        for key in ("step", "mu_product"):
            assert our_opt.state[ours.params[0]][key].cpu().numpy().dtype == np.float64
            assert their_opt.state[theirs.params[0]][key].dtype == torch.float64
    finally:
        antorcha.set_default_dtype(previous)
        torch.set_default_dtype(torch_previous)
