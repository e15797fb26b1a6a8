"""What the DataLoader worker tests share: datasets that report what their worker sees, the loader
of either framework, and the check that no worker outlives its test."""

from __future__ import annotations

import gc
import multiprocessing
import random
import time
from typing import Any

import numpy as np
import pytest
import torch

import antorcha


@pytest.fixture(autouse=True)
def no_worker_left_behind() -> Any:
    """Each test's workers are gone when it ends: none is orphaned by an early break or an error.
    (Children that other tests on this pytest worker started before are not this test's.)"""
    earlier = set(multiprocessing.active_children())

    def started_here() -> set:
        return set(multiprocessing.active_children()) - earlier

    yield
    gc.collect()
    deadline = time.monotonic() + 10
    while started_here() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started_here() == set()


def as_list(batch: list) -> list:
    """A collate_fn that keeps the samples as they are (plain values compare across frameworks)."""
    return batch


class Probe:
    """Sample i: what the worker that loads it sees (its info, and a draw from each seeded stream)."""

    def __init__(self, lib: Any, n: int) -> None:
        self.lib, self.n = lib, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple:
        info = self.lib.utils.data.get_worker_info()
        return (
            i,
            info.id,
            info.num_workers,
            info.seed,
            random.random(),
            int(np.random.randint(1 << 30)),
            self.lib.rand(1).item(),
            self.lib.initial_seed(),
        )


def loader(lib: Any, dataset: Any, **options: Any) -> Any:
    return lib.utils.data.DataLoader(dataset, **options)


def generator(lib: Any, seed: int) -> Any:
    return lib.Generator().manual_seed(seed)


def both(make: Any) -> tuple[Any, Any]:
    return make(antorcha), make(torch)


def values(batch: Any) -> Any:
    """A batch as plain Python values (tensors of either framework become nested lists)."""
    if isinstance(batch, (antorcha.Tensor, torch.Tensor)):
        return batch.tolist()
    if isinstance(batch, dict):
        return {key: values(value) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(values(item) for item in batch)
    return batch


class Slow:
    """Sample 0 takes `delay` seconds; the others are immediate."""

    def __init__(self, n: int, delay: float) -> None:
        self.n, self.delay = n, delay

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        if i == 0:
            time.sleep(self.delay)
        return i
