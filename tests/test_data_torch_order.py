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


def test_a_huge_sampler_draws_lazily_with_flat_memory() -> None:
    """minGPT's trainer: RandomSampler(replacement=True, num_samples=int(1e10)) and draws batches from
    it. Indices are drawn as iteration reaches them; 10,000 batches leave memory flat, and the
    indices are torch's for the same generator."""
    import resource

    def peak_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    data = antorcha.utils.data
    sampler = data.RandomSampler(range(1000), replacement=True, num_samples=10**12,
                                 generator=antorcha.Generator().manual_seed(3))
    loader = data.DataLoader(range(1000), batch_size=32, sampler=sampler)
    start = peak_mib()
    batches = iter(loader)
    first = [next(batches).tolist() for _ in range(3)]
    for _ in range(10_000):
        next(batches)
    assert peak_mib() - start < 50
    theirs = torch.utils.data.DataLoader(
        range(1000), batch_size=32,
        sampler=torch.utils.data.RandomSampler(range(1000), replacement=True, num_samples=10**12,
                                               generator=torch.Generator().manual_seed(3)),
    )
    their_batches = iter(theirs)
    assert first == [next(their_batches).tolist() for _ in range(3)]


@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_spanning_two_drawn_pieces_keep_the_order(drop_last: bool) -> None:
    from antorcha.utils.data.sampler import PIECE

    count = 2 * PIECE + 7  # pieces of PIECE indices, batches of 3 cross their edges
    ours = antorcha.utils.data.BatchSampler(
        antorcha.utils.data.RandomSampler(range(50), replacement=True, num_samples=count,
                                          generator=antorcha.Generator().manual_seed(1)),
        3, drop_last)
    theirs = torch.utils.data.BatchSampler(
        torch.utils.data.RandomSampler(range(50), replacement=True, num_samples=count,
                                       generator=torch.Generator().manual_seed(1)),
        3, drop_last)
    assert list(ours) == list(theirs)
