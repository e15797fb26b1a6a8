"""A small CNN on 8x8 digit images, trained for 50 steps from torch's weights, gives torch's losses
and final weights: Conv2d → ReLU → MaxPool2d → Conv2d → ReLU → AdaptiveAvgPool2d → Flatten → Linear,
with SGD (momentum) and Adam, in float64 (1e-10 relative) and float32 (1e-4).

The images are scikit-learn's bundled `load_digits` when scikit-learn is installed, and otherwise a
synthetic set of the same form (1,797 8x8 images, pixel values 0..16, 10 classes): a stripe texture
per class (its own angle and period), shifted by up to a pixel, with noise."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import antorcha

STEPS = 50
BATCH = 64


def _synthetic_digits(count: int = 1797) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:8, 0:8]
    angles, periods = np.arange(10) * np.pi / 5, 2.0 + np.arange(10) % 3  # a texture per class
    waves = np.cos(2 * np.pi * (np.cos(angles)[:, None, None] * cols + np.sin(angles)[:, None, None] * rows)
                   / periods[:, None, None])
    templates = (waves > 0.3) * 16.0
    labels = rng.integers(0, 10, count)
    images = np.empty((count, 8, 8))
    for i, label in enumerate(labels):
        shifted = np.roll(templates[label], tuple(rng.integers(-1, 2, 2)), axis=(0, 1))
        images[i] = np.clip(shifted + rng.normal(0, 2.0, (8, 8)), 0, 16)
    return images, labels


def _digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return _synthetic_digits()
    data = load_digits()
    return data.images, data.target


def _model(m: Any) -> Any:
    nn = m.nn
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, 10),
    )


def _train(m: Any, weights: dict, optimizer: str, dtype: str, images: np.ndarray, labels: np.ndarray):
    model = _model(m).to(getattr(m, dtype))
    model.load_state_dict({k: m.tensor(v.astype(dtype)) for k, v in weights.items()})
    if optimizer == "SGD":
        opt = m.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    else:
        opt = m.optim.Adam(model.parameters(), lr=0.03)
    loss_fn = m.nn.CrossEntropyLoss()
    losses = []
    for step in range(STEPS):
        rows = slice((step * BATCH) % (len(labels) - BATCH), (step * BATCH) % (len(labels) - BATCH) + BATCH)
        x = m.tensor((images[rows] / 16.0).astype(dtype)[:, None])
        y = m.tensor(labels[rows])
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses), {k: v.detach().numpy() for k, v in model.state_dict().items()}


@pytest.fixture
def one_thread():
    """Both libraries on one thread: these products are tiny, and threads only contend for the cores."""
    before = torch.get_num_threads(), antorcha.get_num_threads()
    torch.set_num_threads(1)
    antorcha.set_num_threads(1)
    yield
    torch.set_num_threads(before[0])
    antorcha.set_num_threads(before[1])


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_training_follows_torch(optimizer: str, dtype: str) -> None:
    images, labels = _digits()
    torch.manual_seed(0)
    weights = {k: v.numpy().copy() for k, v in _model(torch).state_dict().items()}
    theirs, their_weights = _train(torch, weights, optimizer, dtype, images, labels)
    ours, our_weights = _train(antorcha, weights, optimizer, dtype, images, labels)
    rtol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(ours, theirs, rtol=rtol)
    if optimizer == "Adam":  # it learns (SGD, at one learning rate for both data sets, barely in 50 steps)
        assert theirs[-10:].mean() < 0.9 * theirs[0]
    for name, value in their_weights.items():
        np.testing.assert_allclose(our_weights[name], value, rtol=rtol * 10, atol=rtol)
