"""CyclicLR and CosineAnnealingWarmRestarts against torch: the same lr and momentum sequences,
state_dicts and errors."""

from __future__ import annotations

import copy
import inspect
import warnings
from typing import Any

import pytest
import torch
from test_lr_scheduler import Builder, _optimizers, _trace

import antorcha
import antorcha.optim as optim
from antorcha.optim import lr_scheduler as our_schedulers

torch_schedulers = torch.optim.lr_scheduler


class _Halving:
    """A callable scale_fn object: its __dict__ goes into the state_dict (a function's does not)."""

    def __init__(self) -> None:
        self.factor = 0.5

    def __call__(self, x: float) -> float:
        return self.factor ** (x / 10)


CASES: dict[str, tuple[Builder, int, str]] = {
    "Cyclic-triangular": (lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=7), 120, "SGD"),
    "Cyclic-triangular-down": (
        lambda m, o: m.CyclicLR(o, 0.001, [0.1, 0.05], step_size_up=5, step_size_down=12),
        120,
        "SGD",
    ),
    "Cyclic-triangular2": (
        lambda m, o: m.CyclicLR(o, [0.01, 0.02], 0.2, step_size_up=6, mode="triangular2"),
        120,
        "SGD",
    ),
    "Cyclic-exp_range": (
        lambda m, o: m.CyclicLR(o, 0.01, 0.3, step_size_up=4, step_size_down=9, mode="exp_range", gamma=0.97),
        150,
        "SGD",
    ),
    "Cyclic-exp_range-Adam-betas": (
        lambda m, o: m.CyclicLR(
            o, 0.001, 0.01, step_size_up=5, mode="exp_range", gamma=0.99, base_momentum=0.7, max_momentum=0.95
        ),
        120,
        "Adam",
    ),
    "Cyclic-scale_fn-iterations": (
        lambda m, o: m.CyclicLR(
            o, 0.01, 0.1, step_size_up=3, scale_fn=lambda x: 1 / (1 + 0.05 * x), scale_mode="iterations"
        ),
        120,
        "SGD",
    ),
    "Cyclic-scale_fn-cycle-object": (
        lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=4, scale_fn=_Halving()),
        120,
        "SGD",
    ),
    "Cyclic-no-momentum-cycling": (
        lambda m, o: m.CyclicLR(o, 0.02, 0.2, step_size_up=10, cycle_momentum=False),
        120,
        "SGD",
    ),
    "Cyclic-per-group-momentum": (
        lambda m, o: m.CyclicLR(
            o, 0.02, 0.2, step_size_up=3, base_momentum=[0.5, 0.6], max_momentum=[0.9, 0.99]
        ),
        120,
        "SGD",
    ),
    "WarmRestarts": (lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10), 120, "SGD"),
    "WarmRestarts-T_mult": (
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001),
        150,
        "SGD",
    ),
    "WarmRestarts-T_mult-3-Adam": (
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3, eta_min=1e-4),
        130,
        "Adam",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lr_and_momentum_sequences_match_torch(case: str) -> None:
    build, steps, kind = CASES[case]
    ours, theirs = _optimizers(kind)
    our_scheduler, their_scheduler = build(our_schedulers, ours), build(torch_schedulers, theirs)
    assert _trace(ours, our_scheduler, steps) == _trace(theirs, their_scheduler, steps)
    for key in ("initial_lr", "max_momentum", "base_momentum"):
        assert [g.get(key) for g in ours.param_groups] == [g.get(key) for g in theirs.param_groups], key
    assert our_scheduler.last_epoch == their_scheduler.last_epoch


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
    scheduler.load_state_dict(saved_scheduler)
    resumed.load_state_dict(saved_optimizer)
    second = _trace(resumed, scheduler, steps - half)
    assert first + second[1:] == expected


def test_cyclic_state_dict_keeps_a_callable_objects_attributes() -> None:
    ours, theirs = _optimizers()
    our_fn, their_fn = _Halving(), _Halving()
    our_fn.factor = their_fn.factor = 0.25
    mine = our_schedulers.CyclicLR(ours, 0.01, 0.1, scale_fn=our_fn).state_dict()
    reference = torch_schedulers.CyclicLR(theirs, 0.01, 0.1, scale_fn=their_fn).state_dict()
    assert mine["_scale_fn_custom"] == reference["_scale_fn_custom"] == {"factor": 0.25}
    assert "_scale_fn_ref" not in mine
    fresh_fn = _Halving()
    restored = our_schedulers.CyclicLR(_optimizers()[0], 0.01, 0.1, scale_fn=fresh_fn)
    restored.load_state_dict(copy.deepcopy(mine))
    assert fresh_fn.factor == 0.25 and restored._scale_fn_custom is fresh_fn
    assert (
        our_schedulers.CyclicLR(ours, 0.01, 0.1, scale_fn=lambda x: 1.0).state_dict()["_scale_fn_custom"]
        is None
    )


def _epochs() -> list[float]:
    """Fractional epochs as in per-batch stepping (epoch + batch / batches), then some jumps."""
    per_batch = [epoch + batch / 7 for epoch in range(20) for batch in range(7)]
    return [*per_batch, 3.5, 0, 41.25, 100, 2.999, 10]


@pytest.mark.parametrize(
    "options", [{"T_0": 5}, {"T_0": 3, "T_mult": 2, "eta_min": 0.01}, {"T_0": 4, "T_mult": 3}], ids=str
)
def test_warm_restarts_step_with_a_float_epoch(options: dict[str, Any]) -> None:
    traces = []
    for module, optimizer in zip((our_schedulers, torch_schedulers), _optimizers()):
        scheduler = module.CosineAnnealingWarmRestarts(optimizer, **options)
        trace = []
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch's version warns about neither the order nor the epoch
            for epoch in _epochs():
                optimizer.step()
                scheduler.step(epoch)
                trace.append(
                    (
                        scheduler.get_last_lr(),
                        scheduler.last_epoch,
                        scheduler.T_cur,
                        scheduler.T_i,
                        scheduler._step_count,
                    )
                )
        traces.append(trace)
    assert traces[0] == traces[1]


def test_cyclic_lr_sets_the_group_lr_to_base_lr_and_momentum_to_max() -> None:
    for module, optimizer in zip((our_schedulers, torch_schedulers), _optimizers()):
        module.CyclicLR(optimizer, base_lr=[0.003, 0.004], max_lr=0.1)
        assert [g["lr"] for g in optimizer.param_groups] == [0.003, 0.004]
        assert [g["momentum"] for g in optimizer.param_groups] == [0.9, 0.9]


def test_cyclic_lr_warns_about_the_call_order_like_torch() -> None:
    for module, optimizer in zip((our_schedulers, torch_schedulers), _optimizers()):
        scheduler = module.CyclicLR(optimizer, 0.01, 0.1)
        with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
            scheduler.step()
        with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
            scheduler.get_lr()


def _error(build: Any) -> tuple[type, str]:
    with pytest.raises(Exception) as error:  # the class is compared by the caller
        build()
    return type(error.value), str(error.value)


ERRORS: dict[str, Any] = {
    "T_0-zero": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=0),
    "T_0-float": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2.5),
    "T_mult-zero": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0),
    "T_mult-float": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=1.5),
    "eta_min-str": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="0"),
    "negative-epoch": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2).step(-1),
    "resume-without-initial_lr": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, last_epoch=4),
    "cyclic-mode": lambda m, o: m.CyclicLR(o, 0.01, 0.1, mode="cosine"),
    "cyclic-base_lr-length": lambda m, o: m.CyclicLR(o, [0.01, 0.02, 0.03], 0.1),
    "cyclic-max_momentum-length": lambda m, o: m.CyclicLR(o, 0.01, 0.1, max_momentum=[0.9]),
    "cyclic-not-an-optimizer": lambda m, o: m.CyclicLR(object(), 0.01, 0.1),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_match_torch(case: str) -> None:
    ours, theirs = _optimizers()
    build = ERRORS[case]
    assert _error(lambda: build(our_schedulers, ours)) == _error(lambda: build(torch_schedulers, theirs))


def test_cyclic_momentum_needs_an_optimizer_with_momentum() -> None:
    errors = []
    for lib in (antorcha, torch):
        optimizer = lib.optim.Adagrad([lib.zeros(2, requires_grad=True)])
        errors.append(_error(lambda o=optimizer, lib=lib: lib.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1)))
        lib.optim.lr_scheduler.CyclicLR(optimizer, 0.01, 0.1, cycle_momentum=False)  # fine without
    assert errors[0] == errors[1]
    assert errors[0][0] is ValueError and "cycle_momentum" in errors[0][1]


@pytest.mark.parametrize("name", ["CyclicLR", "CosineAnnealingWarmRestarts"])
def test_exported_with_torchs_signature(name: str) -> None:
    assert name in our_schedulers.__all__ and getattr(optim.lr_scheduler, name) is getattr(
        our_schedulers, name
    )
    mine = inspect.signature(getattr(our_schedulers, name)).parameters.values()
    theirs = inspect.signature(getattr(torch_schedulers, name)).parameters.values()
    assert [(p.name, p.default, p.kind) for p in mine] == [(p.name, p.default, p.kind) for p in theirs]
