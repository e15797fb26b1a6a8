"""DistributedSampler: each process's share of a data set, with torch's index assignment.

Every rank draws the same order (a permutation from a generator seeded `seed + epoch`, torch's
randperm stream bit for bit), pads it to a multiple of `num_replicas` by repeating its start (or
cuts the tail with `drop_last`), then takes every `num_replicas`-th index from position `rank`.
So the shards are disjoint, equally long, and equal to torch's for the same arguments.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import TypeVar

import numpy as np

from antorcha.utils.data import _random
from antorcha.utils.data.sampler import Sampler

__all__ = ["DistributedSampler"]

T_co = TypeVar("T_co", covariant=True)


def _default_group_value(name: str) -> int:
    """The default process group's world size or rank, as torch reads them when none is given."""
    try:
        import antorcha.distributed as dist
    except ImportError as error:
        raise RuntimeError("Requires distributed package to be available") from error
    return int(getattr(dist, name)())


class DistributedSampler(Sampler[T_co]):
    """Restricts sampling to the `rank`-th of `num_replicas` equal, disjoint shards of `dataset`."""

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None:
            num_replicas = _default_group_value("get_world_size")
        if rank is None:
            rank = _default_group_value("get_rank")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.seed = seed
        length = len(dataset)
        if drop_last and length % num_replicas != 0:
            # the largest multiple of num_replicas below length, as torch computes it
            self.num_samples = math.ceil((length - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(length / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def _order(self) -> np.ndarray:
        """The whole data set's order for this epoch, the same on every rank."""
        length = len(self.dataset)
        if not self.shuffle:
            return np.arange(length, dtype=np.int64)
        from antorcha.random import Generator

        generator = Generator()
        generator.manual_seed(self.seed + self.epoch)
        return _random.permutation(length, generator)

    def _index_pieces(self) -> Iterator[np.ndarray]:
        order = self._order()
        if self.drop_last:
            order = order[: self.total_size]
        elif self.total_size > len(order) > 0:
            # pad by repeating the order from its start, as many times as it takes
            repeats = math.ceil(self.total_size / len(order))
            order = np.tile(order, repeats)[: self.total_size]
        yield order[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[T_co]:
        # drawn now, not at the first next(), as torch's list is
        return iter([index for piece in self._index_pieces() for index in piece.tolist()])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Shuffle differently in the next pass: the order is drawn from `seed + epoch`."""
        self.epoch = epoch
