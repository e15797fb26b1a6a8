"""A small CNN trained from torch's weights follows torch step for step: the losses, BatchNorm's
running statistics and the eval-mode outputs; and examples/digits_cnn.py's model, trained on real
digits batches, gives torch's losses (the example's own source, run once with torch's imports)."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from nn_helpers import copy_weights, to_numpy
from sklearn.datasets import load_digits

import antorcha

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits_cnn.py"
LOSS_RTOL = {np.float32: 1e-4, np.float64: 1e-10}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
ANTORCHA_DTYPE = {np.float32: antorcha.float32, np.float64: antorcha.float64}


def small_cnn(library: Any) -> Any:
    """conv -> BatchNorm2d -> ReLU -> MaxPool2d -> conv -> pool -> Linear, from torch's or antorcha's nn."""
    nn = library.nn
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),  # (B, 6, 12, 12)
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (B, 6, 6, 6)
        nn.Conv2d(6, 8, 3),  # (B, 8, 4, 4)
        nn.AvgPool2d(2),  # (B, 8, 2, 2)
        nn.Flatten(),
        nn.Linear(8 * 2 * 2, 5),
    )


def _twins(build: Any, dtype: Any) -> tuple[Any, Any]:
    """torch's freshly initialized model and an antorcha model holding the same weights."""
    torch.manual_seed(0)
    theirs = build(torch).to(TORCH_DTYPE[dtype])
    ours = build(antorcha).to(ANTORCHA_DTYPE[dtype])
    copy_weights(theirs, ours)
    return ours, theirs


def _train(library: Any, model: Any, optimizer: Any, batches: list) -> list[float]:
    criterion = library.nn.CrossEntropyLoss()
    losses = []
    model.train()
    for images, labels in batches:
        optimizer.zero_grad()
        loss = criterion(model(library.from_numpy(images)), library.from_numpy(labels))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _random_batches(dtype: Any, steps: int, batch: int = 8, distinct: int = 5) -> list:
    rng = np.random.default_rng(0)
    images = rng.standard_normal((distinct, batch, 3, 12, 12)).astype(dtype)
    labels = rng.integers(0, 5, size=(distinct, batch))
    return [(images[k % distinct], labels[k % distinct]) for k in range(steps)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_small_cnn_trained_with_sgd_momentum_follows_torch(dtype: Any) -> None:
    ours, theirs = _twins(small_cnn, dtype)
    batches = _random_batches(dtype, steps=25)
    our_losses = _train(antorcha, ours, antorcha.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9), batches)
    their_losses = _train(torch, theirs, torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9), batches)
    np.testing.assert_allclose(our_losses, their_losses, rtol=LOSS_RTOL[dtype])
    assert their_losses[-1] < 0.5 * their_losses[0]  # it learned something: the comparison is not of noise

    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-12}
    our_norm, their_norm = ours[1], theirs[1]
    assert int(our_norm.num_batches_tracked.item()) == int(their_norm.num_batches_tracked.item()) == 25
    np.testing.assert_allclose(to_numpy(our_norm.running_mean), to_numpy(their_norm.running_mean), **tol)
    np.testing.assert_allclose(to_numpy(our_norm.running_var), to_numpy(their_norm.running_var), **tol)
    for (name, ours_p), (_, theirs_p) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(to_numpy(ours_p), to_numpy(theirs_p), **tol, err_msg=name)

    held_out = np.random.default_rng(1).standard_normal((6, 3, 12, 12)).astype(dtype)
    ours.eval()
    theirs.eval()
    with antorcha.no_grad(), torch.no_grad():
        our_out, their_out = ours(antorcha.from_numpy(held_out)), theirs(torch.from_numpy(held_out))
    np.testing.assert_allclose(to_numpy(our_out), to_numpy(their_out), **tol)


def _load_example(library: str) -> types.ModuleType:
    """examples/digits_cnn.py as a module; for torch, the same source with its imports swapped."""
    source = EXAMPLE.read_text()
    if library == "torch":
        source = re.sub(r"^import antorcha as torch$", "import torch", source, flags=re.M)
        source = re.sub(r"^from antorcha([. ])", r"from torch\1", source, flags=re.M)
        imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
        assert not any("antorcha" in line for line in imports), imports
    module = types.ModuleType(f"digits_cnn_{library}")
    module.__file__ = str(EXAMPLE)
    exec(compile(source, str(EXAMPLE), "exec"), module.__dict__)
    return module


def _digits_batches(dtype: Any, steps: int, batch: int = 32) -> list:
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))[: steps * batch].reshape(steps, batch)
    images = (digits.images[:, None] / 16.0).astype(dtype)  # (N, 1, 8, 8) in [0, 1], as the example
    return [(images[rows], digits.target[rows].astype(np.int64)) for rows in order]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_digits_example_model_follows_torch_on_real_batches(dtype: Any) -> None:
    ours, theirs = _twins(lambda library: _load_example(library.__name__).DigitsCNN(), dtype)
    batches = _digits_batches(dtype, steps=20)
    # the example's optimizer: Adam at its default --lr
    our_losses = _train(antorcha, ours, antorcha.optim.Adam(ours.parameters(), lr=0.005), batches)
    their_losses = _train(torch, theirs, torch.optim.Adam(theirs.parameters(), lr=0.005), batches)
    np.testing.assert_allclose(our_losses, their_losses, rtol=LOSS_RTOL[dtype])
    assert their_losses[-1] < 0.5 * their_losses[0]
