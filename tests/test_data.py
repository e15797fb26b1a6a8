"""antorcha.utils.data against torch.utils.data: batching, shuffling, collation, splits, samplers."""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any

import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import antorcha
import antorcha.utils.data as adata
from antorcha.utils.data import dataloader as dataloader_module

Point = namedtuple("Point", ["x", "y"])


# ---- helpers ---------------------------------------------------------------------


def assert_same_structure(ours: Any, theirs: Any) -> None:
    """Same container types, same tensor dtypes/shapes/values (exactly), same plain values."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, antorcha.Tensor), type(ours)
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_array_equal(np.asarray(ours), theirs.numpy())
        return
    assert type(ours) is type(theirs), (type(ours), type(theirs))
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        for key in theirs:
            assert_same_structure(ours[key], theirs[key])
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same_structure(a, b)
    elif isinstance(theirs, np.ndarray):
        np.testing.assert_array_equal(ours, theirs)
    else:
        assert ours == theirs


def pair_of_datasets(n: int = 10, dtype: str = "float32") -> tuple[adata.TensorDataset, tdata.TensorDataset]:
    rng = np.random.default_rng(0)
    features = rng.standard_normal((n, 3)).astype(dtype)
    labels = np.arange(n, dtype=np.int64)
    ours = adata.TensorDataset(antorcha.from_numpy(features.copy()), antorcha.from_numpy(labels.copy()))
    theirs = tdata.TensorDataset(torch.from_numpy(features.copy()), torch.from_numpy(labels.copy()))
    return ours, theirs


def label_batches(loader: Any) -> list[list[int]]:
    return [np.asarray(labels).tolist() for _, labels in loader]


def seeded(seed: int) -> antorcha.Generator:
    return antorcha.Generator().manual_seed(seed)


class ListDataset(adata.Dataset):
    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]


class TorchListDataset(tdata.Dataset):
    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]


# ---- batching --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("n", "batch_size", "drop_last"), [(10, 3, False), (10, 3, True), (9, 3, True), (4, 8, False)]
)
def test_sequential_batches_match_torch(dtype: str, n: int, batch_size: int, drop_last: bool) -> None:
    ours, theirs = pair_of_datasets(n, dtype)
    our_loader = adata.DataLoader(ours, batch_size=batch_size, drop_last=drop_last)
    their_loader = tdata.DataLoader(theirs, batch_size=batch_size, drop_last=drop_last)
    assert len(our_loader) == len(their_loader)
    our_batches, their_batches = list(our_loader), list(their_loader)
    assert len(our_batches) == len(their_batches)
    for a, b in zip(our_batches, their_batches):
        assert_same_structure(a, b)


def test_last_batch_size_and_drop_last() -> None:
    ours, _ = pair_of_datasets(10)
    assert [len(y) for _, y in adata.DataLoader(ours, batch_size=4)] == [4, 4, 2]
    assert [len(y) for _, y in adata.DataLoader(ours, batch_size=4, drop_last=True)] == [4, 4]
    assert len(adata.DataLoader(ours, batch_size=4, drop_last=True)) == 2


def test_iterator_has_len_and_next() -> None:
    ours, _ = pair_of_datasets(10)
    iterator = iter(adata.DataLoader(ours, batch_size=4))
    assert len(iterator) == 3
    features, labels = next(iterator)
    assert tuple(features.shape) == (4, 3)
    assert labels.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("batch_size", [1, 3])
def test_lengths_match_torch(batch_size: int) -> None:
    for n in (1, 5, 6, 7):
        for drop_last in (False, True):
            ours, theirs = pair_of_datasets(n)
            assert len(adata.DataLoader(ours, batch_size=batch_size, drop_last=drop_last)) == len(
                tdata.DataLoader(theirs, batch_size=batch_size, drop_last=drop_last)
            )


# ---- shuffling -------------------------------------------------------------------


def test_shuffle_reproducible_with_seeded_generator_and_new_each_epoch() -> None:
    ours, _ = pair_of_datasets(20)
    first = adata.DataLoader(ours, batch_size=6, shuffle=True, generator=seeded(7))
    second = adata.DataLoader(ours, batch_size=6, shuffle=True, generator=seeded(7))
    epochs_first = [label_batches(first) for _ in range(3)]
    epochs_second = [label_batches(second) for _ in range(3)]
    assert epochs_first == epochs_second
    orders = [[i for batch in epoch for i in batch] for epoch in epochs_first]
    assert all(sorted(order) == list(range(20)) for order in orders)
    assert orders[0] != orders[1] and orders[1] != orders[2]
    assert orders[0] != list(range(20))
    other_seed = [label_batches(adata.DataLoader(ours, batch_size=6, shuffle=True, generator=seeded(8)))]
    assert other_seed != epochs_first[:1]


def test_shuffle_without_generator_follows_manual_seed() -> None:
    ours, _ = pair_of_datasets(20)
    loader = adata.DataLoader(ours, batch_size=5, shuffle=True)
    antorcha.manual_seed(3)
    first = label_batches(loader)
    antorcha.manual_seed(3)
    assert label_batches(loader) == first


def test_numpy_generator_is_accepted() -> None:
    ours, _ = pair_of_datasets(12)
    orders = [
        label_batches(adata.DataLoader(ours, batch_size=5, shuffle=True, generator=np.random.default_rng(1)))
        for _ in range(2)
    ]
    assert orders[0] == orders[1]


# ---- collation -------------------------------------------------------------------

COLLATE_CASES = {
    "tuples_of_tensor_and_int": lambda t: [(t.tensor([1.0, 2.0]), 3), (t.tensor([4.0, 5.0]), 6)],
    "dicts": lambda t: [{"x": t.tensor([1, 2]), "name": "a"}, {"x": t.tensor([3, 4]), "name": "b"}],
    "ordered_dicts": lambda t: [OrderedDict(a=1.5, b=2), OrderedDict(a=2.5, b=3)],
    "floats": lambda t: [0.5, 1.5, -2.0],
    "ints": lambda t: [1, 2, 3],
    "bools": lambda t: [True, False],
    "strings": lambda t: ["a", "bc"],
    "numpy_arrays": lambda t: [np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32)],
    "numpy_float32_scalars": lambda t: [np.float32(1.5), np.float32(2.5)],
    "numpy_int32_scalars": lambda t: [np.int32(1), np.int32(2)],
    "numpy_float64_scalars": lambda t: [np.float64(1.5), np.float64(2.5)],
    "lists": lambda t: [[1, 2.0], [3, 4.0]],
    "namedtuples": lambda t: [Point(1, 2.0), Point(3, 4.0)],
    "nested": lambda t: [{"pair": (t.tensor([1.0]), [1, 2])}, {"pair": (t.tensor([2.0]), [3, 4])}],
    "float64_tensors": lambda t: [t.tensor([1.0], dtype=t.float64), t.tensor([2.0], dtype=t.float64)],
    "int64_tensors": lambda t: [t.tensor(1), t.tensor(2)],
}


@pytest.mark.parametrize("case", sorted(COLLATE_CASES))
def test_default_collate_matches_torch(case: str) -> None:
    ours = adata.default_collate(COLLATE_CASES[case](antorcha))
    theirs = tdata.default_collate(COLLATE_CASES[case](torch))
    assert_same_structure(ours, theirs)


@pytest.mark.parametrize("case", sorted(COLLATE_CASES))
def test_default_convert_matches_torch(case: str) -> None:
    for our_sample, their_sample in zip(COLLATE_CASES[case](antorcha), COLLATE_CASES[case](torch)):
        assert_same_structure(adata.default_convert(our_sample), tdata.default_convert(their_sample))


def test_collate_errors_match_torch() -> None:
    for bad in ([object(), object()], [np.array(["a"]), np.array(["b"])]):
        with pytest.raises(TypeError) as theirs:
            tdata.default_collate(bad)
        with pytest.raises(TypeError) as ours:
            adata.default_collate(bad)
        assert str(ours.value).split(";")[0] == str(theirs.value).split(";")[0]
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        adata.default_collate([[1, 2], [3]])


def test_loader_over_list_dataset_matches_torch() -> None:
    items = [{"x": np.full(2, i, np.float32), "label": i, "weight": i / 2} for i in range(7)]
    ours = list(adata.DataLoader(ListDataset(items), batch_size=3))
    theirs = list(tdata.DataLoader(TorchListDataset(items), batch_size=3))
    assert_same_structure(ours, theirs)


def test_batch_size_none_converts_samples_like_torch() -> None:
    items = [(np.arange(3), i) for i in range(4)]
    ours = list(adata.DataLoader(ListDataset(items), batch_size=None))
    theirs = list(tdata.DataLoader(TorchListDataset(items), batch_size=None))
    assert_same_structure(ours, theirs)
    assert len(adata.DataLoader(ListDataset(items), batch_size=None)) == 4


def test_custom_collate_fn_and_getitems() -> None:
    class Batched(ListDataset):
        def __getitems__(self, indices: list[int]) -> list:
            return [self.items[i] * 10 for i in indices]

    loader = adata.DataLoader(Batched(list(range(5))), batch_size=2, collate_fn=lambda batch: batch)
    assert list(loader) == [[0, 10], [20, 30], [40]]


# ---- num_workers -----------------------------------------------------------------


@pytest.mark.parametrize("num_workers", [1, 2])
def test_num_workers_gives_the_same_batches(num_workers: int) -> None:
    ours, _ = pair_of_datasets(23)
    items = ListDataset([(np.float64(i), i) for i in range(23)])
    for dataset in (ours, items):
        reference = list(adata.DataLoader(dataset, batch_size=4, shuffle=True, generator=seeded(5)))
        with_workers = list(
            adata.DataLoader(
                dataset, batch_size=4, shuffle=True, generator=seeded(5), num_workers=num_workers
            )
        )
        assert len(reference) == len(with_workers)
        for a, b in zip(reference, with_workers):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert adata.get_worker_info() is None


def test_option_errors_match_torch() -> None:
    ours, theirs = pair_of_datasets(6)
    bad_options = [
        {"shuffle": True, "sampler": [0, 1]},
        {"batch_sampler": [[0, 1]], "batch_size": 2},
        {"batch_sampler": [[0, 1]], "drop_last": True},
        {"batch_size": None, "drop_last": True},
        {"num_workers": -1},
        {"prefetch_factor": 2},
        {"persistent_workers": True},
    ]
    for options in bad_options:
        with pytest.raises(ValueError) as their_error:
            tdata.DataLoader(theirs, **options)
        with pytest.raises(ValueError) as our_error:
            adata.DataLoader(ours, **options)
        assert str(our_error.value) == str(their_error.value)


# ---- datasets --------------------------------------------------------------------


def test_tensor_dataset_size_mismatch() -> None:
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        tdata.TensorDataset(torch.zeros(3), torch.zeros(4))
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        adata.TensorDataset(antorcha.zeros(3), antorcha.zeros(4))


def test_tensor_dataset_items() -> None:
    ours, theirs = pair_of_datasets(5)
    assert len(ours) == len(theirs) == 5
    assert_same_structure(ours[2], theirs[2])
    assert_same_structure(ours[-1], theirs[-1])


def test_concat_dataset_and_add() -> None:
    ours = ListDataset([0, 1, 2]) + ListDataset([3, 4])
    theirs = TorchListDataset([0, 1, 2]) + TorchListDataset([3, 4])
    assert isinstance(ours, adata.ConcatDataset)
    assert len(ours) == len(theirs) == 5
    assert ours.cumulative_sizes == theirs.cumulative_sizes
    assert [ours[i] for i in range(-5, 5)] == [theirs[i] for i in range(-5, 5)]
    with pytest.raises(ValueError, match="absolute value of index"):
        ours[-6]
    three = ours + ListDataset([5])
    assert [three[i] for i in range(len(three))] == list(range(6))


def test_subset() -> None:
    ours, theirs = pair_of_datasets(8)
    our_subset, their_subset = adata.Subset(ours, [5, 1, 7]), tdata.Subset(theirs, [5, 1, 7])
    assert len(our_subset) == 3
    for i in range(3):
        assert_same_structure(our_subset[i], their_subset[i])


@pytest.mark.parametrize(
    ("n", "lengths"), [(10, [3, 7]), (11, [0.3, 0.3, 0.4]), (10, [0.5, 0.5]), (7, [0.25, 0.75]), (5, [1.0])]
)
def test_random_split_sizes_match_torch(n: int, lengths: list) -> None:
    ours = adata.random_split(ListDataset(list(range(n))), lengths, generator=seeded(0))
    theirs = tdata.random_split(
        TorchListDataset(list(range(n))), lengths, generator=torch.Generator().manual_seed(0)
    )
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    items = [[split[i] for i in range(len(split))] for split in ours]
    assert sorted(i for split in items for i in split) == list(range(n))  # disjoint and covering


def test_random_split_reproducible_and_errors() -> None:
    dataset = ListDataset(list(range(30)))
    first = [s.indices for s in adata.random_split(dataset, [10, 20], generator=seeded(4))]
    again = [s.indices for s in adata.random_split(dataset, [10, 20], generator=seeded(4))]
    other = [s.indices for s in adata.random_split(dataset, [10, 20], generator=seeded(5))]
    assert first == again and first != other
    assert not set(first[0]) & set(first[1])
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        adata.random_split(dataset, [10, 10])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        tdata.random_split(TorchListDataset(list(range(30))), [-0.5, 1.5])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        adata.random_split(dataset, [-0.5, 1.5])


# ---- fast path -------------------------------------------------------------------


def slow_collate(batch: list) -> Any:
    return adata.default_collate(batch)  # a different function object: disables the fast path


@pytest.mark.parametrize(
    "dtypes", [("float32", "int64"), ("float64", "bool"), ("float16", "int32"), ("uint8", "int8")]
)
@pytest.mark.parametrize("drop_last", [False, True])
def test_fast_path_equals_slow_path(dtypes: tuple[str, str], drop_last: bool, monkeypatch: Any) -> None:
    rng = np.random.default_rng(1)
    first = antorcha.from_numpy((rng.standard_normal((17, 2, 3)) * 9).astype(dtypes[0]))
    second = antorcha.from_numpy((rng.standard_normal(17) > 0).astype(dtypes[1]))
    dataset = adata.TensorDataset(first, second)
    train, _ = adata.random_split(dataset, [0.8, 0.2], generator=seeded(2))
    gathered = []
    original_gather = dataloader_module._TensorBatchGather.gather

    def spy(self: Any, indices: Any) -> Any:
        gathered.append(len(indices))
        return original_gather(self, indices)

    monkeypatch.setattr(dataloader_module._TensorBatchGather, "gather", spy)
    for source in (dataset, train, adata.Subset(train, [3, 0, 2, 1, 5])):
        options = {"batch_size": 4, "shuffle": True, "drop_last": drop_last}
        fast = list(adata.DataLoader(source, generator=seeded(9), **options))
        slow = list(adata.DataLoader(source, generator=seeded(9), collate_fn=slow_collate, **options))
        assert len(fast) == len(slow) > 0
        for fast_batch, slow_batch in zip(fast, slow):
            assert type(fast_batch) is type(slow_batch) is list
            for a, b in zip(fast_batch, slow_batch):
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert gathered, "the fast path was not taken"


def test_fast_path_with_custom_batch_sampler_and_bad_index() -> None:
    ours, theirs = pair_of_datasets(6)
    batches = [[4, 0], [5, 5, 1]]
    for a, b in zip(
        adata.DataLoader(ours, batch_sampler=batches), tdata.DataLoader(theirs, batch_sampler=batches)
    ):
        assert_same_structure(a, b)
    with pytest.raises(IndexError):
        list(adata.DataLoader(ours, batch_sampler=[[0, 6]]))


@pytest.mark.skipif(not antorcha.cuda.is_available(), reason="needs CUDA")
def test_cuda_fast_path_equals_slow_path() -> None:
    features, labels = antorcha.randn(10, 3).cuda(), antorcha.arange(10).cuda()
    dataset = adata.TensorDataset(features, labels)
    fast = list(adata.DataLoader(dataset, batch_size=4, shuffle=True, generator=seeded(0)))
    slow = list(
        adata.DataLoader(dataset, batch_size=4, shuffle=True, generator=seeded(0), collate_fn=slow_collate)
    )
    for fast_batch, slow_batch in zip(fast, slow):
        for a, b in zip(fast_batch, slow_batch):
            assert a.device == b.device == features.device and a.dtype == b.dtype
            np.testing.assert_array_equal(a.cpu().numpy(), b.cpu().numpy())


def test_tensors_requiring_grad_keep_the_graph() -> None:
    weights = antorcha.ones(4, 2, requires_grad=True)
    batch = next(iter(adata.DataLoader(adata.TensorDataset(weights), batch_size=2)))[0]
    assert batch.requires_grad


# ---- samplers --------------------------------------------------------------------


def test_sequential_and_batch_samplers_match_torch() -> None:
    data = list(range(10))
    assert list(adata.SequentialSampler(data)) == list(tdata.SequentialSampler(data))
    for drop_last in (False, True):
        ours = adata.BatchSampler(adata.SequentialSampler(data), 3, drop_last)
        theirs = tdata.BatchSampler(tdata.SequentialSampler(data), 3, drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
        assert list(adata.BatchSampler(range(7), 2, drop_last)) == list(
            tdata.BatchSampler(range(7), 2, drop_last)
        )
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        adata.BatchSampler(data, 0, False)


def test_random_samplers() -> None:
    data = list(range(10))
    order = list(adata.RandomSampler(data, generator=seeded(0)))
    assert sorted(order) == data and all(type(i) is int for i in order)
    drawn = list(adata.RandomSampler(data, replacement=True, num_samples=25, generator=seeded(0)))
    assert len(drawn) == 25 and set(drawn) <= set(data)
    longer = list(adata.RandomSampler(data, num_samples=23, generator=seeded(0)))
    assert len(longer) == 23 and sorted(longer[:10]) == data
    subset = list(adata.SubsetRandomSampler([2, 4, 6], generator=seeded(0)))
    assert sorted(subset) == [2, 4, 6]
    weighted = list(adata.WeightedRandomSampler([0.0, 1.0, 3.0], 50, generator=seeded(0)))
    assert len(weighted) == 50 and set(weighted) <= {1, 2}
    no_replacement = list(
        adata.WeightedRandomSampler([1.0, 1.0, 1.0, 0.0], 3, replacement=False, generator=seeded(0))
    )
    assert sorted(no_replacement) == [0, 1, 2]
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        adata.RandomSampler(data, num_samples=0)


def test_sampler_and_loader_with_explicit_sampler() -> None:
    ours, theirs = pair_of_datasets(9)
    order = [8, 0, 3, 3, 1]
    our_batches = list(adata.DataLoader(ours, batch_size=2, sampler=order))
    their_batches = list(tdata.DataLoader(theirs, batch_size=2, sampler=order))
    for a, b in zip(our_batches, their_batches):
        assert_same_structure(a, b)
    assert len(adata.DataLoader(ours, batch_size=2, sampler=order)) == 3


def test_iterable_dataset_matches_torch() -> None:
    class Stream(adata.IterableDataset):
        def __iter__(self) -> Any:
            return iter(range(7))

        def __len__(self) -> int:
            return 7

    class TorchStream(tdata.IterableDataset):
        def __iter__(self) -> Any:
            return iter(range(7))

        def __len__(self) -> int:
            return 7

    for drop_last in (False, True):
        ours = adata.DataLoader(Stream(), batch_size=3, drop_last=drop_last)
        theirs = tdata.DataLoader(TorchStream(), batch_size=3, drop_last=drop_last)
        assert len(ours) == len(theirs)
        assert_same_structure(list(ours), list(theirs))
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        adata.DataLoader(Stream(), shuffle=True)
