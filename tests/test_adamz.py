"""antorcha.optim.AdamZ against the authors' package `adamz` (adamz.AdamZ on torch, on the cpu),
with antorcha's parameters on every device (`device` fixture)."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import adamz
import numpy as np
import pytest
import torch
from optim_helpers import Model, compare_runs, make_models

import antorcha
import antorcha.optim as optim

RULES = {"patience": 20, "stagnation_period": 5}


def _scripted_loss(step: int) -> float:
    """A loss history that makes both rules fire, independently of the model's dynamics.

    Plateaus after drops make the last 5 losses much flatter than the last 20 (stagnation);
    spikes above everything in the history trigger the overshoot rule.
    """
    if step in (90, 170, 250):
        return 5.0
    return 2.0 / (1 + step // 40) + 1e-4 * math.sin(step)


def _run(
    model: Model, optimizer: Any, steps: int, loss_of: Callable[[int, Any], Any], explicit: bool = False
) -> tuple[list[list[np.ndarray]], list[float]]:
    """Steps with a closure (or with `step(loss=...)` when `explicit`), recording params and lr."""
    history, lrs = [], []
    for step in range(steps):

        def closure(step: int = step) -> Any:
            optimizer.zero_grad()
            loss = model.loss()
            loss.backward()
            model.losses.append(float(loss.item()))
            return loss_of(step, loss)

        if explicit:
            optimizer.step(loss=closure())
        else:
            optimizer.step(closure)
        history.append(model.snapshot())
        lrs.append(optimizer.param_groups[0]["lr"])
    return history, lrs


def _model_loss(step: int, loss: Any) -> Any:
    return loss


def _scripted(lib: Any) -> Callable[[int, Any], Any]:
    """The scripted loss of each step, as a tensor on the model loss's device."""
    return lambda step, loss: lib.tensor(_scripted_loss(step), device=loss.device)


def _assert_both_rules_fired(lrs: list[float], initial: float, options: dict[str, Any]) -> None:
    ratios = np.array(lrs) / np.array([initial, *lrs[:-1]])
    clamped = np.isclose(lrs, options.get("max_lr", 1.0)) | np.isclose(lrs, options.get("min_lr", 1e-7))
    fired = set(np.round(ratios[~clamped], 12)) - {1.0}
    assert 0.5 in fired, f"overshoot never fired: {sorted(fired)}"
    assert 1.2 in fired, f"stagnation never fired: {sorted(fired)}"


def test_matches_adamz_over_300_steps_with_the_models_loss(device: str) -> None:
    """float64: the rules fire on the real training loss and the runs agree to 1e-10."""
    options = {"lr": 0.1, **RULES}
    ours, theirs = make_models(np.float64, device=device)
    our_opt, their_opt = optim.AdamZ(ours.params, **options), adamz.AdamZ(theirs.params, **options)
    mine, our_lrs = _run(ours, our_opt, 300, _model_loss)
    reference, their_lrs = _run(theirs, their_opt, 300, _model_loss)
    assert our_lrs == their_lrs
    _assert_both_rules_fired(their_lrs, options["lr"], options)
    compare_runs(ours, theirs, mine, reference, np.float64)


@pytest.mark.parametrize(
    ("dtype", "explicit"),
    [(np.float32, False), (np.float64, False), (np.float32, True)],
    ids=["float32-closure", "float64-closure", "float32-step(loss=...)"],
)
def test_matches_adamz_with_a_scripted_loss_history(dtype: Any, explicit: bool, device: str) -> None:
    """The lr rules fire on a scripted loss, in float32 too; `step(loss=...)` is the same as a closure."""
    options = {"lr": 0.01, "max_lr": 0.02, "min_lr": 1e-4, "weight_decay": 0.01, **RULES}
    ours, theirs = make_models(dtype, device=device)
    our_opt, their_opt = optim.AdamZ(ours.params, **options), adamz.AdamZ(theirs.params, **options)
    mine, our_lrs = _run(ours, our_opt, 300, _scripted(antorcha), explicit=explicit)
    reference, their_lrs = _run(theirs, their_opt, 300, _scripted(torch))
    assert our_lrs == their_lrs
    _assert_both_rules_fired(their_lrs, options["lr"], options)
    compare_runs(ours, theirs, mine, reference, dtype)


def test_loss_history_semantics() -> None:
    """History lengths, np.std (population), both rules on one step, then the clamp."""
    options = {"lr": 0.5, "patience": 4, "stagnation_period": 2, "max_lr": 0.55}
    ours, theirs = make_models(np.float64)
    optimizer, reference = optim.AdamZ(ours.params, **options), adamz.AdamZ(theirs.params, **options)
    for value in (1.0, 3.0, 3.0, 3.0, 2.9, 2.9, 2.9):
        optimizer.adjust_learning_rate(value)
        reference.adjust_learning_rate(value)
        assert optimizer.param_groups[0]["lr"] == reference.param_groups[0]["lr"]
        if len(optimizer.loss_history) == 3:
            assert optimizer.param_groups[0]["lr"] == 0.5  # nothing fires before the history is full
        if len(optimizer.loss_history) == 4 and value == 3.0:
            # 3 >= every loss: overshoot; std [3, 3] = 0 < 0.2 * std [1, 3, 3, 3]: stagnation
            assert optimizer.param_groups[0]["lr"] == 0.5 * 0.5 * 1.2
    assert list(optimizer.loss_history) == [3.0, 2.9, 2.9, 2.9]
    assert list(optimizer.stagnation_history) == [2.9, 2.9]


def test_warns_once_without_a_loss_and_is_then_adam(device: str) -> None:
    ours, theirs = make_models(np.float32, device=device)
    our_opt = optim.AdamZ(ours.params, lr=0.01, patience=2, stagnation_period=1)
    their_opt = torch.optim.Adam(theirs.params, lr=0.01)
    histories: list[list[list[np.ndarray]]] = [[], []]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for model, opt, history in ((ours, our_opt, histories[0]), (theirs, their_opt, histories[1])):
            for _ in range(20):
                opt.zero_grad()
                loss = model.loss()
                loss.backward()
                assert opt.step() is None
                model.losses.append(float(loss.item()))
                history.append(model.snapshot())
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert sum("AdamZ" in m and "plain Adam" in m for m in messages) == 1
    compare_runs(ours, theirs, histories[0], histories[1], np.float32)
    assert our_opt.param_groups[0]["lr"] == 0.01


def test_no_warning_once_a_loss_was_given() -> None:
    ours, _ = make_models(np.float32)
    optimizer = optim.AdamZ(ours.params)
    closure = ours.closure_for(optimizer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = optimizer.step(closure)
        optimizer.step(loss=loss)
        optimizer.step(loss=1.5)
        optimizer.step()  # a loss reached it before: AdamZ is not plain Adam, no warning
    assert list(optimizer.loss_history) == [loss.item(), loss.item(), 1.5]


def test_state_dict_resume_keeps_the_loss_history(device: str) -> None:
    options = {"lr": 0.01, "max_lr": 0.02, "min_lr": 1e-4, **RULES}
    uninterrupted, _ = make_models(np.float64, device=device)
    whole, whole_lrs = _run(
        uninterrupted, optim.AdamZ(uninterrupted.params, **options), 120, _scripted(antorcha)
    )

    ours, _ = make_models(np.float64, device=device)
    optimizer = optim.AdamZ(ours.params, **options)
    _, first_lrs = _run(ours, optimizer, 60, _scripted(antorcha))
    saved = copy.deepcopy(optimizer.state_dict())
    assert len(saved["loss_history"]) == options["patience"]
    assert sorted(saved["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    optimizer = optim.AdamZ(ours.params, **options)
    optimizer.load_state_dict(saved)
    second, second_lrs = _run(
        ours, optimizer, 60, lambda step, loss: antorcha.tensor(_scripted_loss(step + 60), device=loss.device)
    )
    assert first_lrs + second_lrs == whole_lrs
    for mine, reference in zip(second[-1], whole[-1]):
        np.testing.assert_array_equal(mine, reference)


def test_param_groups_match_adamz() -> None:
    ours, theirs = make_models(np.float32)
    our_opt, their_opt = optim.AdamZ(ours.params), adamz.AdamZ(theirs.params)
    ours_group = {k: v for k, v in our_opt.param_groups[0].items() if k != "params"}
    their_group = {k: v for k, v in their_opt.param_groups[0].items() if k != "params"}
    assert ours_group == their_group


@pytest.mark.parametrize(
    "options",
    [
        {"lr": -1.0},
        {"overshoot_factor": 1.5},
        {"stagnation_factor": 0.9},
        {"stagnation_threshold": -0.1},
        {"patience": 0},
        {"stagnation_period": 0},
        {"min_lr": 0.1, "max_lr": 0.01},
    ],
)
def test_invalid_options_raise_adamzs_errors(options: dict[str, Any]) -> None:
    ours, theirs = make_models(np.float32)
    with pytest.raises(ValueError) as their_error:
        adamz.AdamZ(theirs.params, **options)
    with pytest.raises(ValueError) as our_error:
        optim.AdamZ(ours.params, **options)
    assert str(our_error.value) == str(their_error.value)
