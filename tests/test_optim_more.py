"""Adadelta, Rprop, ASGD, LBFGS and SparseAdam against torch.optim: trajectories from the same
weights and data, state_dicts (their layout, and torch's own loaded into antorcha), errors."""

from __future__ import annotations

import copy
import inspect
import pathlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from optim_helpers import SHAPES, compare_runs, make_models, train

import antorcha
import antorcha.optim as optim
from antorcha.optim import _flat as flat
from antorcha.optim import lbfgs as lbfgs_module

DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["float32", "float64"]

CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "weight_decay": 0.05}),
    ("Adadelta", {"lr": 0.1, "maximize": True}),
    ("Adadelta", {"lr": 0.1, "rho": 0.5, "eps": 1e-4, "weight_decay": 0.01, "maximize": True}),
    ("Rprop", {}),
    ("Rprop", {"lr": 0.02, "etas": (0.4, 1.1)}),
    ("Rprop", {"lr": 0.001, "etas": (0.3, 1.5), "step_sizes": (1e-4, 0.1), "maximize": True}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "lambd": 1e-2, "t0": 10, "weight_decay": 0.01}),
    ("ASGD", {"lr": 0.001, "alpha": 0.5, "t0": 5, "maximize": True}),
    ("ASGD", {"lr": 0.001, "t0": 5, "maximize": True, "weight_decay": 0.1}),
]
CLASSES = ["ASGD", "Adadelta", "Rprop"]


def _config_id(config: tuple[str, dict[str, Any]]) -> str:
    name, options = config
    return name + "".join(f"-{k}={v}" for k, v in options.items())


def _steps(name: str, options: dict[str, Any], dtype: Any) -> int:
    """100 steps, fewer where float32 rounding alone makes the two runs part."""
    if dtype == np.float64:
        return 100
    if name == "Rprop":
        # Rprop follows the gradient's sign only: after ~50 steps an entry whose gradient is
        # within rounding of zero (the libraries' matmuls round differently) takes the other
        # sign. (In float64 the runs stay bit-identical for 100 steps.)
        return 50
    # maximizing, the weights grow and the loss surface steepens: rounding grows with them
    return 60 if options.get("maximize") else 100


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("config", CONFIGS, ids=[_config_id(c) for c in CONFIGS])
def test_matches_torch_over_many_steps(config: tuple[str, dict[str, Any]], dtype: Any, device: str) -> None:
    name, options = config
    ours, theirs = make_models(dtype, device=device)
    our_opt = getattr(optim, name)(ours.params, **options)
    their_opt = getattr(torch.optim, name)(theirs.params, **options)
    steps = _steps(name, options, dtype)
    compare_runs(ours, theirs, train(ours, our_opt, steps), train(theirs, their_opt, steps), dtype)


@pytest.mark.parametrize("config", CONFIGS, ids=[_config_id(c) for c in CONFIGS])
def test_same_gradients_give_the_same_updates(config: tuple[str, dict[str, Any]]) -> None:
    """torch's gradient fed to both for 100 float32 steps: only the update arithmetic differs."""
    name, options = config
    ours, theirs = make_models(np.float32)
    our_opt = getattr(optim, name)(ours.params, **options)
    their_opt = getattr(torch.optim, name)(theirs.params, **options)
    for step in range(100):
        their_opt.zero_grad()
        theirs.loss().backward()
        for p, tp in zip(ours.params, theirs.params):
            p.grad = antorcha.from_numpy(tp.grad.numpy().copy())
        our_opt.step()
        their_opt.step()
        for label, p, tp in zip(SHAPES, ours.params, theirs.params):
            np.testing.assert_allclose(
                p.detach().numpy(), tp.detach().numpy(), rtol=2e-6, atol=1e-7, err_msg=f"{label} {step}"
            )
        with torch.no_grad():  # keep the two on exactly the same weights
            for p, tp in zip(ours.params, theirs.params):
                tp.copy_(torch.from_numpy(p.detach().numpy()))


@pytest.mark.parametrize("name", CLASSES)
def test_closure_is_run_and_its_loss_returned(name: str, device: str) -> None:
    ours, theirs = make_models(np.float64, device=device)
    our_opt, their_opt = getattr(optim, name)(ours.params), getattr(torch.optim, name)(theirs.params)
    mine = train(ours, our_opt, 20, use_closure=True)
    compare_runs(ours, theirs, mine, train(theirs, their_opt, 20, use_closure=True), np.float64)
    loss = our_opt.step(ours.closure_for(our_opt))
    assert isinstance(loss, antorcha.Tensor) and loss.requires_grad
    assert our_opt.step() is None


GROUP_OPTIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "Adadelta": ({"lr": 0.5, "rho": 0.8}, {"weight_decay": 0.1}),
    "Rprop": ({"lr": 0.02}, {"etas": (0.4, 1.3), "step_sizes": (1e-3, 1.0)}),
    "ASGD": ({"lr": 0.05, "t0": 3}, {"lambd": 1e-3, "alpha": 0.6, "t0": 8}),
}


def _grouped(params: list[Any], name: str) -> list[dict[str, Any]]:
    first, second = GROUP_OPTIONS[name]
    return [{"params": params[:2], **first}, {"params": params[2:], **second}]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", CLASSES)
def test_two_param_groups(name: str, dtype: Any, device: str) -> None:
    ours, theirs = make_models(dtype, device=device)
    our_opt = getattr(optim, name)(_grouped(ours.params, name), lr=0.01)
    their_opt = getattr(torch.optim, name)(_grouped(theirs.params, name), lr=0.01)
    for our_group, their_group in zip(our_opt.param_groups, their_opt.param_groups):
        assert {k: v for k, v in our_group.items() if k != "params"} == {
            k: v for k, v in their_group.items() if k != "params"
        }
    compare_runs(ours, theirs, train(ours, our_opt, 40), train(theirs, their_opt, 40), dtype)


def _assert_same_layout(saved: dict[str, Any], their_saved: dict[str, Any]) -> None:
    """Same groups, state indices, keys, value types and dtypes, and (nearly) the same values."""
    assert [sorted(g) for g in saved["param_groups"]] == [sorted(g) for g in their_saved["param_groups"]]
    assert [g["params"] for g in saved["param_groups"]] == [g["params"] for g in their_saved["param_groups"]]
    assert sorted(saved["state"]) == sorted(their_saved["state"])
    for index, state in saved["state"].items():
        their_state = their_saved["state"][index]
        assert list(state) == list(their_state)  # torch's key order too
        for key, value in state.items():
            _assert_same_value(value, their_state[key], key)


def _assert_same_value(value: Any, theirs: Any, key: str) -> None:
    if isinstance(theirs, torch.Tensor):
        assert isinstance(value, antorcha.Tensor), key
        assert value.shape == tuple(theirs.shape), key
        assert value.cpu().numpy().dtype == theirs.numpy().dtype, key
        np.testing.assert_allclose(value.cpu().numpy(), theirs.numpy(), rtol=1e-4, atol=1e-6, err_msg=key)
    elif isinstance(theirs, list):
        assert isinstance(value, list) and len(value) == len(theirs), key
        for mine, reference in zip(value, theirs):
            _assert_same_value(mine, reference, key)
    else:
        assert type(value) is type(theirs), key
        if theirs is not None:
            assert value == pytest.approx(theirs, rel=1e-4), key


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", CLASSES)
def test_state_dict_layout_and_resume(name: str, dtype: Any, device: str) -> None:
    ours, theirs = make_models(dtype, device=device)
    our_opt = getattr(optim, name)(_grouped(ours.params, name))
    their_opt = getattr(torch.optim, name)(_grouped(theirs.params, name))
    first = train(ours, our_opt, 25), train(theirs, their_opt, 25)
    saved, their_saved = copy.deepcopy(our_opt.state_dict()), copy.deepcopy(their_opt.state_dict())
    _assert_same_layout(saved, their_saved)

    # fresh optimizers on the same parameters, as after reloading a checkpoint
    our_opt = getattr(optim, name)(_grouped(ours.params, name), lr=123.0)
    their_opt = getattr(torch.optim, name)(_grouped(theirs.params, name), lr=123.0)
    our_opt.load_state_dict(saved)
    their_opt.load_state_dict(their_saved)
    assert our_opt.param_groups[0]["lr"] == their_opt.param_groups[0]["lr"] != 123.0
    second = train(ours, our_opt, 25), train(theirs, their_opt, 25)
    compare_runs(ours, theirs, first[0] + second[0], first[1] + second[1], dtype)
    _assert_same_layout(our_opt.state_dict(), their_opt.state_dict())

    uninterrupted, _ = make_models(dtype, device=device)
    whole = train(uninterrupted, getattr(optim, name)(_grouped(uninterrupted.params, name)), 50)
    for mine, reference in zip(whole[-1], second[0][-1]):
        np.testing.assert_array_equal(mine, reference)


@pytest.mark.parametrize("name", CLASSES)
def test_loads_torchs_own_state_dict(name: str, tmp_path: pathlib.Path) -> None:
    """A torch checkpoint of the optimizer (torch.save) resumes in antorcha as it does in torch."""
    ours, theirs = make_models(np.float64)
    their_opt = getattr(torch.optim, name)(_grouped(theirs.params, name))
    train(theirs, their_opt, 20)
    torch.save(their_opt.state_dict(), tmp_path / "optimizer.pt")
    with antorcha.no_grad():
        for p, tp in zip(ours.params, theirs.params):
            p.copy_(antorcha.from_numpy(tp.detach().numpy().copy()))
    our_opt = getattr(optim, name)(_grouped(ours.params, name), lr=5.0)
    our_opt.load_state_dict(antorcha.load(tmp_path / "optimizer.pt"))
    their_opt = getattr(torch.optim, name)(_grouped(theirs.params, name), lr=5.0)
    their_opt.load_state_dict(torch.load(tmp_path / "optimizer.pt"))
    _assert_same_layout(our_opt.state_dict(), their_opt.state_dict())
    theirs.losses.clear()
    compare_runs(ours, theirs, train(ours, our_opt, 20), train(theirs, their_opt, 20), np.float64)


@pytest.mark.parametrize("config", CONFIGS, ids=[_config_id(c) for c in CONFIGS])
def test_flattened_group_path_is_bit_identical(
    config: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, options = config
    runs = []
    for limit in (flat.FLAT_MAX_NUMEL, -1):  # -1: never flattened
        monkeypatch.setattr(flat, "FLAT_MAX_NUMEL", limit)
        ours, _ = make_models(np.float32)
        optimizer = getattr(optim, name)(ours.params, **options)
        history = train(ours, optimizer, 30)
        assert any(plan is not None for plan in optimizer._flat.values()) == (limit > 0)
        state = {
            (i, k): v.numpy().copy() for i, s in optimizer.state_dict()["state"].items() for k, v in s.items()
        }
        runs.append((history, state))
    (flat_history, flat_state), (plain_history, plain_state) = runs
    for mine, reference in zip(flat_history, plain_history):
        for a, b in zip(mine, reference):
            np.testing.assert_array_equal(a, b)
    assert flat_state.keys() == plain_state.keys()
    for key in flat_state:
        np.testing.assert_array_equal(flat_state[key], plain_state[key], err_msg=str(key))


def test_asgd_scalar_state_follows_the_step() -> None:
    ours, theirs = make_models(np.float32)
    our_opt = optim.ASGD(ours.params, lr=0.05, t0=3)
    their_opt = torch.optim.ASGD(theirs.params, lr=0.05, t0=3)
    train(ours, our_opt, 7)
    train(theirs, their_opt, 7)
    for p, tp in zip(ours.params, theirs.params):
        for key in ("step", "eta", "mu"):
            mine, reference = our_opt.state[p][key], their_opt.state[tp][key]
            assert mine.shape == () and mine.dtype == antorcha.float32
            assert mine.item() == reference.item(), key  # the same float32 rounding
        np.testing.assert_allclose(
            our_opt.state[p]["ax"].numpy(), their_opt.state[tp]["ax"].numpy(), rtol=1e-6
        )


def test_signatures_are_torchs() -> None:
    for name in (*CLASSES, "LBFGS", "SparseAdam"):
        mine = inspect.signature(getattr(optim, name)).parameters
        theirs = inspect.signature(getattr(torch.optim, name)).parameters
        assert [(p.name, p.default, p.kind) for p in mine.values()] == [
            (p.name, p.default, p.kind) for p in theirs.values()
        ], name


BAD_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("Adadelta", {"lr": -1.0}),
    ("Adadelta", {"rho": 1.5}),
    ("Adadelta", {"eps": -1.0}),
    ("Adadelta", {"weight_decay": -0.1}),
    ("Rprop", {"lr": -0.1}),
    ("Rprop", {"etas": (1.5, 1.2)}),
    ("Rprop", {"etas": (0.5, 0.9)}),
    ("ASGD", {"lr": -1}),
    ("ASGD", {"weight_decay": -1}),
    ("LBFGS", {"lr": -1}),
    ("SparseAdam", {"lr": 0.0}),
    ("SparseAdam", {"eps": 0.0}),
    ("SparseAdam", {"betas": (1.0, 0.9)}),
    ("SparseAdam", {"betas": (0.9, -0.1)}),
]


@pytest.mark.parametrize(("name", "options"), BAD_OPTIONS, ids=[_config_id(c) for c in BAD_OPTIONS])
def test_invalid_options_raise_torchs_errors(name: str, options: dict[str, Any]) -> None:
    ours, theirs = make_models(np.float32)
    with pytest.raises(ValueError) as their_error:
        getattr(torch.optim, name)(theirs.params, **options)
    with pytest.raises(ValueError) as our_error:
        getattr(optim, name)(ours.params, **options)
    assert str(our_error.value) == str(their_error.value)


def test_differentiable_is_refused_clearly() -> None:
    ours, _ = make_models(np.float32)
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        optim.Adadelta(ours.params, differentiable=True)


# ---- SparseAdam -------------------------------------------------------------------------------
def test_sparse_adam_raises_torchs_error_for_dense_gradients() -> None:
    errors = []
    for model, module in zip(make_models(np.float32), (optim, torch.optim)):
        optimizer = module.SparseAdam(model.params, lr=0.01)
        assert optimizer.step() is None  # no gradient yet: nothing to do
        model.loss().backward()
        with pytest.raises(RuntimeError) as error:
            optimizer.step()
        errors.append(str(error.value))
        assert sorted(optimizer.param_groups[0]) == ["betas", "eps", "lr", "maximize", "params"]
    assert (
        errors[0] == errors[1] == "SparseAdam does not support dense gradients, please consider Adam instead"
    )


# ---- LBFGS ------------------------------------------------------------------------------------
def _rosenbrock(x: Any) -> Any:
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def _lbfgs_run(
    lib: Any, dtype: Any, options: dict[str, Any], steps: int, start: tuple[float, float]
) -> tuple[list[np.ndarray], list[int], list[float], Any]:
    """`steps` calls of step(closure) on Rosenbrock: x after each, the closure count, the losses."""
    x = lib.tensor(np.array(start, dtype), requires_grad=True)
    optimizer = lib.optim.LBFGS([x], **options)
    evaluations = [0]

    def closure() -> Any:
        evaluations[0] += 1
        optimizer.zero_grad()
        loss = _rosenbrock(x)
        loss.backward()
        return loss

    xs, counts, losses = [], [], []
    for _ in range(steps):
        losses.append(float(optimizer.step(closure).detach()))
        xs.append(x.detach().numpy().copy())
        counts.append(evaluations[0])
    return xs, counts, losses, optimizer


LBFGS_OPTIONS = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"lr": 0.5, "max_iter": 5, "history_size": 3},
    {"lr": 0.5, "max_iter": 5, "history_size": 3, "line_search_fn": "strong_wolfe"},
    {"max_iter": 7, "max_eval": 9, "line_search_fn": "strong_wolfe", "tolerance_change": 1e-6},
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("options", LBFGS_OPTIONS, ids=[str(i) for i in range(len(LBFGS_OPTIONS))])
@pytest.mark.parametrize("start", [(-1.5, 2.0), (1.2, -0.7)], ids=["a", "b"])
def test_lbfgs_reaches_torchs_iterates_on_rosenbrock(
    options: dict[str, Any], dtype: Any, start: tuple[float, float]
) -> None:
    """torch's arithmetic (its fused add, its 2-element dot) is followed, so the iterates agree
    to the last bit on this ill-conditioned function, where a one-ulp difference grows ~1000x
    per iteration."""
    mine = _lbfgs_run(antorcha, dtype, options, 12, start)
    reference = _lbfgs_run(torch, dtype, options, 12, start)
    assert mine[1] == reference[1]  # closure evaluations after every step
    tolerance = {"rtol": 1e-12, "atol": 1e-14} if dtype == np.float64 else {"rtol": 1e-6, "atol": 1e-7}
    for step, (a, b) in enumerate(zip(mine[0], reference[0])):
        np.testing.assert_allclose(a, b, err_msg=f"x after step {step + 1}", **tolerance)
    np.testing.assert_allclose(mine[2], reference[2], **tolerance)
    if "line_search_fn" in options:
        assert np.allclose(reference[0][-1], 1.0, atol=1e-2)  # torch itself reached the minimum
    our_state, their_state = mine[3].state_dict(), reference[3].state_dict()
    _assert_same_layout(our_state, their_state)


def test_lbfgs_on_an_mlp_follows_torch(device: str) -> None:
    """Several parameters in one flat vector (BLAS dots of many elements round differently)."""
    ours, theirs = make_models(np.float64, device=device)
    options = {"lr": 0.5, "max_iter": 4, "history_size": 5, "line_search_fn": "strong_wolfe"}
    our_opt, their_opt = optim.LBFGS(ours.params, **options), torch.optim.LBFGS(theirs.params, **options)
    mine = train(ours, our_opt, 5, use_closure=True)
    reference = train(theirs, their_opt, 5, use_closure=True)
    compare_runs(ours, theirs, mine, reference, np.float64)
    assert ours.losses[-1] < 0.5 * ours.losses[0]
    assert our_opt.state[ours.params[0]]["func_evals"] == their_opt.state[theirs.params[0]]["func_evals"]


def test_lbfgs_resumes_from_torchs_state_dict(tmp_path: pathlib.Path) -> None:
    options = {"max_iter": 3, "history_size": 4, "line_search_fn": "strong_wolfe"}
    x_theirs = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    their_opt = torch.optim.LBFGS([x_theirs], **options)
    closure = _closure(torch, x_theirs, their_opt)
    for _ in range(3):
        their_opt.step(closure)
    torch.save(their_opt.state_dict(), tmp_path / "lbfgs.pt")
    x_ours = antorcha.tensor(x_theirs.detach().numpy().copy(), requires_grad=True)
    our_opt = optim.LBFGS([x_ours], **options)
    our_opt.load_state_dict(antorcha.load(tmp_path / "lbfgs.pt"))
    our_closure = _closure(antorcha, x_ours, our_opt)
    for step in range(4):
        their_opt.step(closure)
        our_opt.step(our_closure)
        np.testing.assert_allclose(
            x_ours.detach().numpy(), x_theirs.detach().numpy(), rtol=1e-12, err_msg=step
        )
    assert our_opt.state[x_ours]["n_iter"] == their_opt.state[x_theirs]["n_iter"]


def _closure(lib: Any, x: Any, optimizer: Any) -> Callable[[], Any]:
    def closure() -> Any:
        optimizer.zero_grad()
        loss = _rosenbrock(x)
        loss.backward()
        return loss

    return closure


def test_lbfgs_stops_at_once_when_the_gradient_is_tiny() -> None:
    for lib in (antorcha, torch):
        x = lib.tensor([1.0, 1.0], dtype=lib.float64, requires_grad=True)  # the minimum
        optimizer = lib.optim.LBFGS([x])
        loss = optimizer.step(_closure(lib, x, optimizer))
        assert float(loss.detach()) == 0.0
        assert optimizer.state[x]["func_evals"] == 1 and optimizer.state[x]["n_iter"] == 0
        assert sorted(optimizer.state[x]) == ["func_evals", "n_iter"]


def test_lbfgs_errors_match_torch() -> None:
    for lib in (antorcha, torch):
        a, b = lib.zeros(2, requires_grad=True), lib.zeros(1, requires_grad=True)
        with pytest.raises(
            ValueError, match=r"LBFGS doesn't support per-parameter options \(parameter groups\)"
        ):
            lib.optim.LBFGS([{"params": [a]}, {"params": [b]}])
        optimizer = lib.optim.LBFGS([a], line_search_fn="backtracking")
        with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
            optimizer.step(_closure(lib, a, optimizer))
        with pytest.raises(TypeError):
            optimizer.step()  # the closure is required
        assert lib.optim.LBFGS([a], max_iter=8).param_groups[0]["max_eval"] == 10


def test_lbfgs_step_records_no_graph_and_bumps_versions() -> None:
    x = antorcha.tensor([-1.0, 1.5], dtype=antorcha.float64, requires_grad=True)
    optimizer = optim.LBFGS([x], max_iter=2)
    before = x._version
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer.step(_closure(antorcha, x, optimizer))
    assert x.is_leaf and x.grad_fn is None and x._version > before


def test_lbfgs_on_a_large_least_squares_problem_follows_torch() -> None:
    """Above EXACT_MAX_NUMEL elements the plain (BLAS) forms are used: torch's path within rounding."""
    rng = np.random.default_rng(5)
    weights, inputs, targets = (
        rng.standard_normal((40, 130)),
        rng.standard_normal((50, 130)),
        rng.standard_normal((50, 40)),
    )
    assert weights.size > lbfgs_module.EXACT_MAX_NUMEL
    results = []
    for lib in (antorcha, torch):
        w = lib.tensor(weights.copy(), requires_grad=True)
        x, y = lib.from_numpy(inputs.copy()), lib.from_numpy(targets.copy())
        optimizer = lib.optim.LBFGS([w], history_size=10, max_iter=10, line_search_fn="strong_wolfe")

        def closure(w: Any = w, x: Any = x, y: Any = y, optimizer: Any = optimizer) -> Any:
            optimizer.zero_grad()
            loss = ((x @ w.T - y) ** 2).mean()
            loss.backward()
            return loss

        losses = [float(optimizer.step(closure).detach()) for _ in range(3)]
        results.append((losses, w.detach().numpy().copy(), optimizer.state[w]["func_evals"]))
    (our_losses, our_w, our_evals), (their_losses, their_w, their_evals) = results
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-9)
    np.testing.assert_allclose(our_w, their_w, rtol=1e-7, atol=1e-9)
    assert our_evals == their_evals
    assert our_losses[-1] < 0.5 * our_losses[0]


_WITH_SETSTATE_DEFAULTS = ["SGD", "Adam", "AdamW", "Adamax", "Adagrad", "Adadelta", "ASGD", "NAdam", "RAdam",
                           "RMSprop", "Rprop"]  # fmt: skip


@pytest.mark.parametrize("name", _WITH_SETSTATE_DEFAULTS)
def test_an_older_state_dict_gets_torchs_group_defaults(name: str) -> None:
    """A state_dict saved before some options existed loads with the defaults torch's __setstate__
    fills in (and AdamW keeps decoupled weight decay on)."""

    def loaded_groups(lib: Any) -> list[dict]:
        params = [lib.nn.Parameter(lib.ones(2))]
        optimizer = getattr(lib.optim, name)(params, lr=0.1)
        saved = optimizer.state_dict()
        for group in saved["param_groups"]:
            for key in ("foreach", "maximize", "differentiable", "capturable", "fused", "amsgrad",
                        "nesterov", "momentum", "centered", "decoupled_weight_decay"):  # fmt: skip
                group.pop(key, None)
        optimizer.load_state_dict(saved)
        return [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]

    assert loaded_groups(antorcha) == loaded_groups(torch)
