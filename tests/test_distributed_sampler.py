"""DistributedSampler against torch's: the same shard for every rank, size, seed, epoch and flag."""

from __future__ import annotations

import itertools

import pytest
import torch

import antorcha
from antorcha.utils.data import DataLoader, TensorDataset
from antorcha.utils.data.distributed import DistributedSampler


class _Sized:
    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length


@pytest.mark.parametrize(
    ("length", "replicas"),
    [(0, 1), (0, 3), (1, 1), (1, 3), (2, 7), (10, 2), (10, 3), (11, 4), (100, 8), (257, 5)],
)
@pytest.mark.parametrize(("shuffle", "drop_last"), list(itertools.product([True, False], repeat=2)))
def test_shards_equal_torch(length: int, replicas: int, shuffle: bool, drop_last: bool) -> None:
    for seed, epoch in [(0, 0), (7, 3), (2**40, 1)]:
        expected = [
            list(sampler)
            for sampler in _torch_samplers(
                length, replicas, shuffle=shuffle, seed=seed, drop_last=drop_last, epoch=epoch
            )
        ]
        ours = []
        for rank in range(replicas):
            sampler = DistributedSampler(
                _Sized(length),
                num_replicas=replicas,
                rank=rank,
                shuffle=shuffle,
                seed=seed,
                drop_last=drop_last,
            )
            sampler.set_epoch(epoch)
            assert len(sampler) == len(expected[rank])
            assert (sampler.num_samples, sampler.total_size) == _torch_sizes(length, replicas, drop_last)
            ours.append(list(sampler))
        assert ours == expected


def _torch_samplers(length: int, replicas: int, epoch: int, **kwargs: object) -> list:
    samplers = []
    for rank in range(replicas):
        sampler = torch.utils.data.distributed.DistributedSampler(
            _Sized(length), num_replicas=replicas, rank=rank, **kwargs
        )
        sampler.set_epoch(epoch)
        samplers.append(sampler)
    return samplers


def _torch_sizes(length: int, replicas: int, drop_last: bool) -> tuple[int, int]:
    sampler = torch.utils.data.distributed.DistributedSampler(
        _Sized(length), num_replicas=replicas, rank=0, drop_last=drop_last
    )
    return sampler.num_samples, sampler.total_size


def test_epochs_change_the_order_and_replay() -> None:
    sampler = DistributedSampler(_Sized(50), num_replicas=2, rank=1, seed=3)
    first = list(sampler)
    assert list(sampler) == first  # the same epoch: the same order
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    torch_sampler = torch.utils.data.distributed.DistributedSampler(
        _Sized(50), num_replicas=2, rank=1, seed=3
    )
    torch_sampler.set_epoch(1)
    assert second == list(torch_sampler)


def test_the_default_generator_is_untouched() -> None:
    antorcha.manual_seed(5)
    list(DistributedSampler(_Sized(20), num_replicas=2, rank=0))
    after = antorcha.rand(3)
    antorcha.manual_seed(5)
    assert antorcha.equal(after, antorcha.rand(3))


def test_exported_where_torch_exports_it() -> None:
    assert antorcha.utils.data.DistributedSampler is DistributedSampler
    assert antorcha.utils.data.distributed.__all__ == torch.utils.data.distributed.__all__


@pytest.mark.parametrize("rank", [-1, 2, 5])
def test_bad_rank_is_torch_error(rank: int) -> None:
    with pytest.raises(ValueError) as expected:
        torch.utils.data.distributed.DistributedSampler(_Sized(4), num_replicas=2, rank=rank)
    with pytest.raises(ValueError) as ours:
        DistributedSampler(_Sized(4), num_replicas=2, rank=rank)
    assert str(ours.value) == str(expected.value)


def test_without_a_process_group_the_default_group_error() -> None:
    pytest.importorskip("antorcha.distributed")
    with pytest.raises(Exception) as expected:
        torch.utils.data.distributed.DistributedSampler(_Sized(4))
    with pytest.raises(type(expected.value)):
        DistributedSampler(_Sized(4))


def test_data_loader_batches_a_shard() -> None:
    data = TensorDataset(antorcha.arange(23))
    torch_data = torch.utils.data.TensorDataset(torch.arange(23))
    for rank in range(3):
        ours = DataLoader(
            data, batch_size=4, sampler=DistributedSampler(data, num_replicas=3, rank=rank, seed=1)
        )
        theirs = torch.utils.data.DataLoader(
            torch_data,
            batch_size=4,
            sampler=torch.utils.data.distributed.DistributedSampler(
                torch_data, num_replicas=3, rank=rank, seed=1
            ),
        )
        assert [batch.tolist() for (batch,) in ours] == [batch.tolist() for (batch,) in theirs]
