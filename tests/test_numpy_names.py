"""NumPy's keyword spellings that torch's argument parser also takes (`axis=`, `keepdims=`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import antorcha

CALLS = [
    ("sum", lambda m, x: m.sum(x, axis=0, keepdims=True)),
    ("Tensor.sum", lambda m, x: x.sum(1, keepdims=True)),
    ("Tensor.mean", lambda m, x: x.mean(axis=1)),
    ("amax", lambda m, x: m.amax(x, axis=-1, keepdims=True)),
    ("Tensor.max", lambda m, x: x.max(axis=0).values),
    ("argmax", lambda m, x: m.argmax(x, axis=1)),
    ("Tensor.std", lambda m, x: x.std(axis=0)),
    ("cat", lambda m, x: m.cat([x, x], axis=0)),
    ("softmax", lambda m, x: m.softmax(x, axis=1)),
    ("Tensor.squeeze", lambda m, x: x[:1].squeeze(axis=0)),
    ("cumsum", lambda m, x: m.cumsum(x, axis=1)),
    ("sum with x=", lambda m, x: m.sum(x=x, axis=1)),
]


@pytest.mark.parametrize("call", [c for _, c in CALLS], ids=[name for name, _ in CALLS])
def test_numpy_spellings_give_torchs_results(call) -> None:
    data = np.random.default_rng(0).standard_normal((3, 4))
    ours = call(antorcha, antorcha.tensor(data))
    theirs = call(torch, torch.tensor(data))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_an_unknown_keyword_still_fails_as_in_torch() -> None:
    x = antorcha.ones(2)
    with pytest.raises(TypeError, match="axes"):
        x.sum(axes=0)
