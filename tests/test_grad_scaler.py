"""torch.amp.GradScaler against torch: the scale schedule, skipped steps and weights over 60 steps."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch

import antorcha


def _train(module: Any, weights: list[np.ndarray], data: np.ndarray, target: np.ndarray) -> tuple:
    """60 steps of a Linear-Tanh-Linear model under a cpu GradScaler that starts near float32's top,
    so the first steps overflow (skipped, the scale backs off), then grows every 3 clean steps."""
    model = module.nn.Sequential(module.nn.Linear(4, 8), module.nn.Tanh(), module.nn.Linear(8, 1))
    with module.no_grad():
        for param, value in zip(model.parameters(), weights):
            param.copy_(module.tensor(value))
    optimizer = module.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scaler = module.amp.GradScaler("cpu", init_scale=2.0**127, growth_interval=3)
    x, y = module.tensor(data), module.tensor(target)
    scales, losses = [], []
    for _ in range(60):
        optimizer.zero_grad()
        loss = module.nn.functional.mse_loss(model(x), y)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        scaler.step(optimizer)
        scaler.update()
        scales.append(scaler.get_scale())
        losses.append(loss.item())
    params = [p.detach().numpy().copy() for p in model.parameters()]
    return scales, losses, params, scaler.state_dict()


def test_sixty_steps_match_torch() -> None:
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s).astype(np.float32) * 0.5 for s in ((8, 4), (8,), (1, 8), (1,))]
    data = rng.standard_normal((16, 4)).astype(np.float32)
    target = (3 * rng.standard_normal((16, 1))).astype(np.float32)
    ours, theirs = _train(antorcha, weights, data, target), _train(torch, weights, data, target)
    assert ours[0] == theirs[0]  # the scale after every step: back-offs and growths alike
    grew = any(b > a for a, b in zip(theirs[0], theirs[0][1:]))
    assert min(theirs[0]) < 2.0**127 and grew  # the run backed off after overflows, and grew again
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5)
    for a, b in zip(ours[2], theirs[2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert ours[3] == theirs[3]


def test_a_cuda_scaler_without_a_gpu_disables_itself_with_torchs_warnings() -> None:
    if antorcha.cuda.is_available():
        pytest.skip("a GPU is present: the scaler stays enabled")
    for make in (lambda m: m.cuda.amp.GradScaler(), lambda m: m.amp.GradScaler()):
        caught = []
        for module in (antorcha, torch):
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                scaler = make(module)
            caught.append([(w.category, str(w.message)) for w in seen])
            assert not scaler.is_enabled()
        assert caught[0] == caught[1]
    loss = antorcha.ones(()) * 3
    assert scaler.scale(loss) is loss and scaler.state_dict() == {}


def test_unscale_twice_raises_as_torch() -> None:
    for module in (antorcha, torch):
        param = module.nn.Parameter(module.ones(2))
        optimizer = module.optim.SGD([param], lr=0.1)
        scaler = module.amp.GradScaler("cpu")
        scaler.scale((param * 2).sum()).backward()
        scaler.unscale_(optimizer)
        with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called"):
            scaler.unscale_(optimizer)
