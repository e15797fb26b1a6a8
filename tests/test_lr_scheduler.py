"""antorcha.optim.lr_scheduler against torch.optim.lr_scheduler: the same lr (and momentum) sequences."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import antorcha
import antorcha.optim as optim
from antorcha.optim import lr_scheduler as our_schedulers

torch_schedulers = torch.optim.lr_scheduler
Builder = Callable[[Any, Any], Any]  # (scheduler module, optimizer) -> scheduler


def _optimizers(kind: str = "SGD") -> tuple[Any, Any]:
    """The same two-group optimizer in both libraries (the parameters never get a gradient)."""

    def groups(lib: Any) -> list[dict[str, Any]]:
        return [
            {"params": [lib.zeros(3, requires_grad=True)]},
            {"params": [lib.zeros(2, requires_grad=True)], "lr": 0.05},
        ]

    if kind == "Adam":
        return optim.Adam(groups(antorcha), lr=0.1), torch.optim.Adam(groups(torch), lr=0.1)
    return (
        optim.SGD(groups(antorcha), lr=0.1, momentum=0.9),
        torch.optim.SGD(groups(torch), lr=0.1, momentum=0.9),
    )


def _group_values(optimizer: Any) -> list[tuple[Any, ...]]:
    return [(g["lr"], g.get("momentum"), g.get("betas")) for g in optimizer.param_groups]


def _trace(optimizer: Any, scheduler: Any, steps: int, metrics: list[float] | None = None) -> list[Any]:
    """Per step: optimizer.step(), scheduler.step(), then the last lrs and the groups' lr/momentum."""
    trace = [(list(scheduler.get_last_lr()), _group_values(optimizer))]
    for step in range(steps):
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[step])
        trace.append((list(scheduler.get_last_lr()), _group_values(optimizer)))
    return trace


CASES: dict[str, tuple[Builder, int, str]] = {
    "StepLR": (lambda m, o: m.StepLR(o, step_size=7, gamma=0.5), 60, "SGD"),
    "MultiStepLR": (lambda m, o: m.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3), 40, "SGD"),
    "ExponentialLR": (lambda m, o: m.ExponentialLR(o, gamma=0.95), 80, "SGD"),
    "CosineAnnealingLR": (lambda m, o: m.CosineAnnealingLR(o, T_max=20, eta_min=0.001), 100, "SGD"),
    "LambdaLR": (lambda m, o: m.LambdaLR(o, lambda epoch: 1 / (1 + 0.3 * epoch)), 50, "SGD"),
    "LambdaLR-per-group": (
        lambda m, o: m.LambdaLR(o, [lambda e: 0.9**e, lambda e: 1 + math.sin(e)]),
        50,
        "SGD",
    ),
    "LinearLR": (lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=10), 30, "SGD"),
    "MultiplicativeLR": (lambda m, o: m.MultiplicativeLR(o, lambda epoch: 0.97), 40, "SGD"),
    "ConstantLR": (lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=4), 20, "SGD"),
    "PolynomialLR": (lambda m, o: m.PolynomialLR(o, total_iters=30, power=2.0), 40, "SGD"),
    "OneCycleLR": (lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=100), 100, "SGD"),
    "OneCycleLR-three-phase-linear-Adam": (
        lambda m, o: m.OneCycleLR(
            o, max_lr=0.3, epochs=5, steps_per_epoch=20, anneal_strategy="linear", three_phase=True
        ),
        100,
        "Adam",
    ),
    "SequentialLR-warmup-cosine": (
        lambda m, o: m.SequentialLR(
            o,
            [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=30)],
            milestones=[5],
        ),
        60,
        "SGD",
    ),
    "SequentialLR-three": (
        lambda m, o: m.SequentialLR(
            o,
            [m.ConstantLR(o, factor=0.2, total_iters=5), m.ExponentialLR(o, 0.9), m.StepLR(o, 4)],
            milestones=[3, 10],
        ),
        30,
        "SGD",
    ),
    "ChainedScheduler": (
        lambda m, o: m.ChainedScheduler(
            [m.ConstantLR(o, factor=0.5, total_iters=6), m.ExponentialLR(o, 0.9)]
        ),
        30,
        "SGD",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lr_sequence_matches_torch(case: str) -> None:
    build, steps, kind = CASES[case]
    ours, theirs = _optimizers(kind)
    our_trace = _trace(ours, build(our_schedulers, ours), steps)
    their_trace = _trace(theirs, build(torch_schedulers, theirs), steps)
    assert our_trace == their_trace
    assert [g["initial_lr"] for g in ours.param_groups] == [g["initial_lr"] for g in theirs.param_groups]


@pytest.mark.parametrize("case", list(CASES))
def test_state_dict_round_trip(case: str) -> None:
    build, steps, kind = CASES[case]
    half = steps // 2
    ours, theirs = _optimizers(kind)
    our_scheduler, their_scheduler = build(our_schedulers, ours), build(torch_schedulers, theirs)
    expected = _trace(theirs, their_scheduler, steps)
    first = _trace(ours, our_scheduler, half)
    saved_scheduler = copy.deepcopy(our_scheduler.state_dict())
    saved_optimizer = copy.deepcopy(ours.state_dict())
    assert sorted(saved_scheduler) == sorted(their_scheduler.state_dict())

    resumed, _ = _optimizers(kind)
    scheduler = build(our_schedulers, resumed)
    scheduler.load_state_dict(saved_scheduler)  # torch's order: scheduler first, then optimizer
    resumed.load_state_dict(saved_optimizer)
    second = _trace(resumed, scheduler, steps - half)
    assert first + second[1:] == expected


MODES = [
    {},
    {"mode": "max", "factor": 0.5, "patience": 2},
    {"threshold_mode": "abs", "threshold": 0.05, "cooldown": 3, "patience": 1},
    {"mode": "max", "threshold_mode": "abs", "min_lr": [0.02, 0.001], "factor": 0.3, "patience": 0},
    {"min_lr": 0.01, "eps": 0.02, "patience": 2, "cooldown": 1},
]


@pytest.mark.parametrize("options", MODES, ids=[str(i) for i in range(len(MODES))])
def test_reduce_lr_on_plateau(options: dict[str, Any]) -> None:
    rng = np.random.default_rng(3)
    # a loss that drops, then wanders on plateaus
    metrics = list(np.concatenate([np.linspace(2, 1, 10), 1 + 0.02 * rng.standard_normal(90).cumsum()]))
    ours, theirs = _optimizers()
    our_scheduler = our_schedulers.ReduceLROnPlateau(ours, **options)
    their_scheduler = torch_schedulers.ReduceLROnPlateau(theirs, **options)
    tensors = [antorcha.tensor(m) for m in metrics]  # a 0-dim loss tensor is accepted too
    assert _trace(ours, our_scheduler, 100, tensors) == _trace(theirs, their_scheduler, 100, metrics)
    assert ours.param_groups[0]["lr"] < 0.1  # it did reduce

    saved = copy.deepcopy(our_scheduler.state_dict())
    assert sorted(saved) == sorted(their_scheduler.state_dict())
    restored = our_schedulers.ReduceLROnPlateau(ours, **options)
    restored.load_state_dict(saved)
    assert (restored.best, restored.num_bad_epochs, restored.last_epoch) == (
        their_scheduler.best,
        their_scheduler.num_bad_epochs,
        their_scheduler.last_epoch,
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
        lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.5),
        lambda m, o: m.ExponentialLR(o, gamma=0.9),
        lambda m, o: m.CosineAnnealingLR(o, T_max=8),
        lambda m, o: m.LinearLR(o, total_iters=6),
        lambda m, o: m.PolynomialLR(o, total_iters=6),
    ],
    ids=["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "PolynomialLR"],
)
def test_step_with_epoch_uses_the_closed_form(build: Builder) -> None:
    epochs = [1, 2, 5, 9, 4, 4, 12, 0]
    lrs = []
    for module, optimizer in zip((our_schedulers, torch_schedulers), _optimizers()):
        scheduler = build(module, optimizer)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for epoch in epochs:
                optimizer.step()
                scheduler.step(epoch)
        assert any("epoch parameter" in str(w.message) for w in caught)
        lrs.append([list(scheduler.get_last_lr()), _group_values(optimizer)])
    assert lrs[0] == lrs[1]


def test_warnings_match_torch() -> None:
    for module, optimizer in zip((our_schedulers, torch_schedulers), _optimizers()):
        scheduler = module.StepLR(optimizer, step_size=2)
        with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
            scheduler.step()
        with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
            scheduler.get_lr()


def test_optimizer_step_still_works_through_the_scheduler_wrapper() -> None:
    ours, _ = _optimizers()
    param = ours.param_groups[0]["params"][0]
    param.grad = antorcha.ones(3)
    our_schedulers.StepLR(ours, step_size=1, gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours.step()
    assert ours._opt_called
    np.testing.assert_allclose(param.detach().numpy(), -0.1 * np.ones(3), rtol=1e-6)


def test_errors_match_torch() -> None:
    ours, theirs = _optimizers()
    for module, optimizer in ((our_schedulers, ours), (torch_schedulers, theirs)):
        with pytest.raises(TypeError, match="is not an Optimizer"):
            module.StepLR(object(), step_size=1)
        with pytest.raises(KeyError, match="initial_lr"):
            module.StepLR(optimizer, step_size=1, last_epoch=3)
        with pytest.raises(ValueError, match="Starting multiplicative factor"):
            module.LinearLR(optimizer, start_factor=0)
        with pytest.raises(ValueError, match=r"Factor should be < 1\.0"):
            module.ReduceLROnPlateau(optimizer, factor=1.0)
        with pytest.raises(ValueError, match="total_steps OR"):
            module.OneCycleLR(optimizer, max_lr=1.0)
        with pytest.raises(ValueError, match="Tried to step 4 times"):
            scheduler = module.OneCycleLR(optimizer, max_lr=1.0, total_steps=3)
            for _ in range(4):
                optimizer.step()
                scheduler.step()
        with pytest.raises(ValueError, match="number of milestone points"):
            module.SequentialLR(optimizer, [module.ExponentialLR(optimizer, 0.9)], milestones=[3])
