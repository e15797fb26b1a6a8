"""Samplers, loaders and random_split draw what torch's draw, from the same generator stream.

antorcha's CPU generator is torch's, so with the same seed a shuffled DataLoader gives torch's
batches, epoch after epoch, and leaves the global stream where torch leaves it.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import antorcha


def _draws(lib: Any, make: str) -> list:
    data = lib.utils.data
    lib.manual_seed(5)
    items = list(range(11))
    if make == "loader, global generator":
        loader = data.DataLoader(items, batch_size=3, shuffle=True)
        out = [[b.tolist() for b in loader] for _ in range(3)]
    elif make == "loader, own generator":
        loader = data.DataLoader(items, batch_size=4, shuffle=True, generator=lib.Generator().manual_seed(7))
        out = [[b.tolist() for b in loader] for _ in range(2)]
    elif make == "sampler with replacement":
        out = list(data.RandomSampler(items, replacement=True, num_samples=70))
    elif make == "sampler, more samples than items":
        out = list(data.RandomSampler(items, num_samples=25, generator=lib.Generator().manual_seed(3)))
    elif make == "weighted sampler":
        out = list(data.WeightedRandomSampler([0.1, 0.5, 0.4, 1.0, 0.0], 30))
    elif make == "weighted sampler without replacement":
        out = list(data.WeightedRandomSampler([0.1, 0.5, 0.4, 1.0], 3, replacement=False))
    elif make == "subset sampler":
        out = [list(data.SubsetRandomSampler([3, 5, 7, 9, 11])) for _ in range(2)]
    else:  # random_split, then a batch of a loader over one part
        parts = data.random_split(items, [0.6, 0.4], generator=lib.Generator().manual_seed(2))
        out = [list(parts[0]), [b.tolist() for b in data.DataLoader(parts[1], batch_size=2, shuffle=True)]]
    return [out, lib.rand(2).tolist()]  # and where the global stream was left


CASES = [
    "loader, global generator",
    "loader, own generator",
    "sampler with replacement",
    "sampler, more samples than items",
    "weighted sampler",
    "weighted sampler without replacement",
    "subset sampler",
    "random_split",
]


@pytest.mark.parametrize("make", CASES)
def test_the_same_seed_gives_torchs_order(make: str) -> None:
    assert _draws(antorcha, make) == _draws(torch, make)
