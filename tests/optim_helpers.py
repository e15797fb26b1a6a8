"""A small MLP (10 -> 16 -> 1, batch 32) trained side by side in antorcha and in torch.

The model is built from raw leaf tensors so that the optimizer tests do not depend on nn:
`relu(x @ W1.T + b1) @ W2.T + b2`, loss `((pred - y) ** 2).mean()`. Both libraries start
from the same NumPy weights and see the same data; antorcha's copy lives on the device under
test, torch's on the cpu (the oracle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import antorcha

torch.set_num_threads(1)  # these tensors are tiny: threads only add contention

SHAPES = {"W1": (16, 10), "b1": (16,), "W2": (1, 16), "b2": (1,)}
TOLERANCES = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-10, "atol": 1e-12}}


def make_problem(dtype: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """Initial weights and one fixed batch (x, y), as NumPy arrays of `dtype`."""
    rng = np.random.default_rng(seed)
    arrays = {name: rng.uniform(-0.5, 0.5, shape) for name, shape in SHAPES.items()}
    arrays["x"] = rng.standard_normal((32, 10))
    arrays["y"] = rng.standard_normal((32, 1))
    return {name: array.astype(dtype) for name, array in arrays.items()}


@dataclass
class Model:
    """One library's copy of the MLP: its module (antorcha or torch), parameters and data."""

    lib: Any
    params: list[Any]
    x: Any
    y: Any
    losses: list[float] = field(default_factory=list)

    def loss(self) -> Any:
        w1, b1, w2, b2 = self.params
        hidden = self.lib.relu(self.x @ w1.T + b1)
        pred = hidden @ w2.T + b2
        return ((pred - self.y) ** 2).mean()

    def closure_for(self, optimizer: Any) -> Callable[[], Any]:
        def closure() -> Any:
            optimizer.zero_grad()
            loss = self.loss()
            loss.backward()
            return loss

        return closure

    def snapshot(self) -> list[np.ndarray]:
        return [np.array(p.detach().cpu().numpy(), copy=True) for p in self.params]


def make_models(dtype: Any, seed: int = 0, device: str = "cpu") -> tuple[Model, Model]:
    """(antorcha's model on `device`, torch's model on the cpu)."""
    arrays = make_problem(dtype, seed)
    names = list(SHAPES)
    ours = Model(
        antorcha,
        [antorcha.tensor(arrays[n].copy(), requires_grad=True, device=device) for n in names],
        antorcha.from_numpy(arrays["x"].copy()).to(device),
        antorcha.from_numpy(arrays["y"].copy()).to(device),
    )
    theirs = Model(
        torch,
        [torch.tensor(arrays[n].copy(), requires_grad=True) for n in names],
        torch.from_numpy(arrays["x"].copy()),
        torch.from_numpy(arrays["y"].copy()),
    )
    return ours, theirs


def train(model: Model, optimizer: Any, steps: int, use_closure: bool = False) -> list[list[np.ndarray]]:
    """`steps` optimizer steps; records the loss of each step and the parameters after it."""
    history = []
    for _ in range(steps):
        if use_closure:
            loss = optimizer.step(model.closure_for(optimizer))
        else:
            optimizer.zero_grad()
            loss = model.loss()
            loss.backward()
            optimizer.step()
        model.losses.append(float(loss.item()))
        history.append(model.snapshot())
    return history


def relative_deviation(actual: Any, expected: Any) -> float:
    """max |actual - expected| / max |expected|: the deviation relative to the values' scale."""
    expected = np.asarray(expected, np.float64)
    scale = float(np.max(np.abs(expected))) or 1.0
    return float(np.max(np.abs(np.asarray(actual, np.float64) - expected))) / scale


def compare_runs(
    ours: Model, theirs: Model, our_history: list, their_history: list, dtype: Any
) -> tuple[float, float]:
    """Assert losses and parameters agree at every step.

    Returns the largest relative deviations: of a loss (elementwise) and of the parameters
    (all of them together, relative to their largest magnitude), over the whole run.
    """
    tolerance = TOLERANCES[dtype]
    assert all(p.device == ours.x.device for p in ours.params), "a step moved a parameter off its device"
    np.testing.assert_allclose(ours.losses, theirs.losses, **tolerance)
    losses = np.asarray(theirs.losses, np.float64)
    loss_deviation = float(np.max(np.abs(np.asarray(ours.losses) - losses) / np.abs(losses)))
    param_deviation = 0.0
    for step, (mine, reference) in enumerate(zip(our_history, their_history)):
        for name, a, b in zip(SHAPES, mine, reference):
            np.testing.assert_allclose(a, b, err_msg=f"{name} after step {step + 1}", **tolerance)
        flat_mine = np.concatenate([a.ravel() for a in mine])
        flat_reference = np.concatenate([b.ravel() for b in reference])
        param_deviation = max(param_deviation, relative_deviation(flat_mine, flat_reference))
    return loss_deviation, param_deviation
