"""DataLoader with worker processes against torch's: batches, order, seeds, sharding, options, errors.

Every loader here runs the same dataset code under antorcha and under torch (`lib` is the
module), so a difference in what the workers see or send shows up as a difference in values.
"""

from __future__ import annotations

import os
import pickle
import time
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from dataloader_helpers import (  # noqa: F401 - no_worker_left_behind is an autouse fixture
    Probe,
    Slow,
    as_list,
    both,
    generator,
    loader,
    no_worker_left_behind,
    values,
)

import antorcha

pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")


# ---- the same batches, in the same order, with the same seeds ----------------------------


@pytest.mark.parametrize("seeded", [True, False])
def test_workers_see_torchs_seeds_and_give_torchs_batches(seeded: bool) -> None:
    def run(lib: Any) -> list:
        lib.manual_seed(11)
        options = {"generator": generator(lib, 5)} if seeded else {}
        data = loader(
            lib, Probe(lib, 13), batch_size=3, shuffle=True, num_workers=2, collate_fn=as_list, **options
        )
        epochs = [list(data) for _ in range(2)]
        return [epochs, lib.rand(2).tolist()]  # and where the main stream was left

    ours, theirs = both(run)
    assert ours == theirs
    worker_ids = [sample[1] for batch in ours[0][0] for sample in batch]
    assert set(worker_ids) == {0, 1}


def test_default_collate_batches_match_torch_and_num_workers_0() -> None:
    def run(lib: Any, num_workers: int) -> list:
        rng = np.random.default_rng(0)
        features = lib.from_numpy(rng.standard_normal((21, 3, 4)).astype(np.float32))
        labels = lib.arange(21)
        dataset = lib.utils.data.TensorDataset(features, labels)
        data = loader(
            lib, dataset, batch_size=4, shuffle=True, generator=generator(lib, 3), num_workers=num_workers
        )
        return [(str(x.dtype).split(".")[1], tuple(x.shape), values(x), values(y)) for x, y in data]

    reference = run(torch, 0)
    assert run(antorcha, 2) == reference
    assert run(antorcha, 0) == reference
    assert run(torch, 2) == reference


def test_batch_size_none_and_dict_samples_match_torch() -> None:
    class Items:
        def __len__(self) -> int:
            return 5

        def __getitem__(self, i: int) -> dict:
            return {"x": np.full(2, i, np.float32), "label": i, "name": f"n{i}"}

    for options in ({"batch_size": None}, {"batch_size": 2}):
        ours, theirs = both(
            lambda lib, o=options: [values(b) for b in loader(lib, Items(), num_workers=2, **o)]
        )
        assert ours == theirs


# ---- IterableDataset: each worker iterates its own copy ------------------------------------


class Stream:
    """range(start, stop), sharded across workers with get_worker_info() as torch's docs show;
    `shard=False` lets every worker yield the whole range; `uneven` gives worker 0 more items."""

    def __init__(self, lib: Any, stop: int, shard: bool = True, uneven: bool = False) -> None:
        self.lib, self.stop, self.shard, self.uneven = lib, stop, shard, uneven

    def __iter__(self) -> Any:
        info = self.lib.utils.data.get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.stop))
        if self.uneven:
            return iter(range(7) if info.id == 0 else range(100, 102))
        return iter(range(info.id, self.stop, info.num_workers))


def iterable_stream(lib: Any, **kwargs: Any) -> Any:
    return type("Stream", (Stream, lib.utils.data.IterableDataset), {})(lib, **kwargs)


@pytest.mark.parametrize(
    ("stream", "options"),
    [
        ({"stop": 10}, {"batch_size": 3}),
        ({"stop": 10}, {"batch_size": 3, "drop_last": True}),
        ({"stop": 5, "shard": False}, {"batch_size": 2}),
        ({"stop": 0, "uneven": True}, {"batch_size": 2}),
        ({"stop": 0, "uneven": True}, {"batch_size": None}),
    ],
)
def test_iterable_dataset_across_workers_matches_torch(stream: dict, options: dict) -> None:
    def run(lib: Any) -> list:
        return [
            values(batch) for batch in loader(lib, iterable_stream(lib, **stream), num_workers=2, **options)
        ]

    ours, theirs = both(run)
    assert ours == theirs and ours


# ---- options ----------------------------------------------------------------------------


def record_init(worker_id: int) -> None:
    info = antorcha.utils.data.get_worker_info()
    info.dataset.initialised_by = (worker_id, info.id)


class InitProbe(antorcha.utils.data.Dataset):
    initialised_by: tuple | None = None

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> tuple:
        return (i, self.initialised_by, os.getpid())


def test_worker_init_fn_runs_in_each_worker_before_loading() -> None:
    samples = [
        s
        for batch in loader(
            antorcha, InitProbe(), batch_size=1, num_workers=2, worker_init_fn=record_init, collate_fn=as_list
        )
        for s in batch
    ]
    assert [s[0] for s in samples] == [0, 1, 2, 3]
    assert [s[1] for s in samples] == [(0, 0), (1, 1), (0, 0), (1, 1)]
    assert len({s[2] for s in samples}) == 2 and os.getpid() not in {s[2] for s in samples}
    assert antorcha.utils.data.get_worker_info() is None and InitProbe.initialised_by is None


def test_persistent_workers_keep_their_processes_and_seeds_like_torch() -> None:
    def run(lib: Any) -> list:
        lib.manual_seed(3)
        data = loader(
            lib,
            Probe(lib, 6),
            batch_size=2,
            shuffle=True,
            num_workers=2,
            persistent_workers=True,
            collate_fn=as_list,
            generator=generator(lib, 1),
        )
        first = iter(data)
        out = [next(first)]  # a broken-off epoch: the next one starts clean
        out += [list(data) for _ in range(2)]
        return [out, lib.rand(1).tolist()]

    ours, theirs = both(run)
    assert ours == theirs
    data = loader(
        antorcha, InitProbe(), batch_size=2, num_workers=2, persistent_workers=True, collate_fn=as_list
    )
    pids = [{s[2] for b in data for s in b} for _ in range(2)]
    assert pids[0] == pids[1] and len(pids[0]) == 2
    assert all(worker.is_alive() for worker in data._iterator._workers)
    del data


def test_prefetch_factor_bounds_the_tasks_in_flight_like_torch() -> None:
    for options in ({}, {"prefetch_factor": 1}, {"prefetch_factor": 3}):
        in_flight = []
        for lib in (antorcha, torch):
            iterator = iter(
                loader(lib, Probe(lib, 20), batch_size=2, num_workers=2, collate_fn=as_list, **options)
            )
            in_flight.append(iterator._tasks_outstanding)
            del iterator
        assert in_flight[0] == in_flight[1] == 2 * options.get("prefetch_factor", 2)


def test_in_order_false_returns_ready_batches_first() -> None:
    ordered = [b.tolist() for b in loader(antorcha, Slow(6, 1.0), batch_size=1, num_workers=2)]
    assert ordered == [[i] for i in range(6)]
    unordered = [
        b.tolist() for b in loader(antorcha, Slow(6, 1.0), batch_size=1, num_workers=2, in_order=False)
    ]
    assert sorted(unordered) == ordered and unordered != ordered


def test_timeout_raises_torchs_error() -> None:
    for lib in (antorcha, torch):
        with pytest.raises(RuntimeError, match=r"^DataLoader timed out after 0.2 seconds$"):
            list(loader(lib, Slow(2, 1.0), batch_size=1, num_workers=1, timeout=0.2))
    with pytest.raises(AssertionError, match="requires timeout == 0") as ours:
        iter(loader(antorcha, Slow(2, 0), timeout=1))
    with pytest.raises(AssertionError) as theirs:
        iter(loader(torch, Slow(2, 0), timeout=1))
    assert str(ours.value) == str(theirs.value)


def test_pin_memory_on_cpu_warns_as_torch_and_changes_nothing() -> None:
    if antorcha.cuda.is_available():
        pytest.skip("pins for real where a GPU is present")
    messages = []
    for lib in (antorcha, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            batches = [
                values(b) for b in loader(lib, Slow(4, 0), batch_size=2, pin_memory=True, num_workers=1)
            ]
        messages.append([str(w.message) for w in caught if "pin_memory" in str(w.message)])
        assert batches == [[0, 1], [2, 3]]
    assert messages[0] == messages[1] and messages[0]


# ---- errors -------------------------------------------------------------------------------


class Failing:
    """Sample 3 raises `error`."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> int:
        if i == 3:
            raise self.error
        return i


class TwoArgumentError(Exception):
    def __init__(self, first: str, second: str) -> None:
        super().__init__(first, second)


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (ValueError("bad sample 3"), ValueError),
        (KeyError("missing"), KeyError),
        (TwoArgumentError("a", "b"), RuntimeError),
    ],
)
def test_a_failing_worker_raises_its_error_with_its_traceback_like_torch(
    error: Exception, raised: type
) -> None:
    messages = []
    for lib in (antorcha, torch):
        iterator = iter(loader(lib, Failing(error), batch_size=2, num_workers=2))
        with pytest.raises(raised) as caught:
            list(iterator)
        messages.append(str(caught.value))
        # torch's workers would otherwise wait for the garbage collector (and then 5 s each)
        iterator._shutdown_workers()
    for message in messages:
        assert message.startswith(f"Caught {type(error).__name__} in DataLoader worker process 1.\n")
        assert "Original Traceback (most recent call last):" in message and "raise self.error" in message
    assert messages[0].splitlines()[0] == messages[1].splitlines()[0]
    assert messages[0].splitlines()[-1] == messages[1].splitlines()[-1]


class Dies:
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> int:
        os._exit(3)


def test_a_worker_that_dies_is_reported_like_torch() -> None:
    for lib in (antorcha, torch):
        start = time.monotonic()
        with pytest.raises(RuntimeError, match=r"^DataLoader worker \(pid\(s\) \d+\) exited unexpectedly$"):
            list(loader(lib, Dies(), num_workers=1, timeout=30))
        assert time.monotonic() - start < 20  # at once, not after the timeout


def test_a_batch_that_cannot_cross_is_the_workers_error() -> None:
    class GradSamples:
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> Any:
            return antorcha.ones(2, requires_grad=True) * 2  # not a leaf: autograd stays in the worker

    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor"):
        list(loader(antorcha, GradSamples(), batch_size=None, num_workers=1))
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(antorcha.ones(2))  # plain pickle still refuses tensors: antorcha.save is the format


class Unpicklable:
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> Any:
        return (i, lambda: i)  # a lambda cannot be pickled


def test_a_batch_that_cannot_be_pickled_is_the_workers_error_not_a_hang() -> None:
    # the class is pickle's (AttributeError or PicklingError, by Python version)
    with pytest.raises(Exception, match=r"^Caught \w+ in DataLoader worker process 0\.\nOriginal Traceback"):
        list(loader(antorcha, Unpicklable(), batch_size=None, num_workers=1, timeout=10))


class Understated:
    """An IterableDataset whose __len__ says 2 while every worker yields 3 samples."""

    def __iter__(self) -> Any:
        return iter(range(3))

    def __len__(self) -> int:
        return 2


@pytest.mark.parametrize("num_workers", [0, 2])
def test_yielding_past_the_reported_length_warns_as_torch(num_workers: int) -> None:
    messages = []
    for lib in (antorcha, torch):
        dataset = type("Understated", (Understated, lib.utils.data.IterableDataset), {})()
        data = loader(lib, dataset, batch_size=None, num_workers=num_workers)
        assert len(data) == 2
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            batches = [values(b) for b in data]
        assert len(batches) == 3 * max(num_workers, 1)
        messages.append([str(w.message).replace(repr(dataset), "<dataset>") for w in caught])
    assert messages[0] == messages[1] and len(messages[0]) == len(batches) - 2


def failing_init(worker_id: int) -> None:
    if worker_id == 1:
        raise ValueError(f"worker {worker_id} cannot start")


def test_a_failing_worker_init_fn_is_raised_like_torch() -> None:
    first_lines = []
    for lib in (antorcha, torch):
        iterator = iter(loader(lib, Slow(6, 0), batch_size=1, num_workers=2, worker_init_fn=failing_init))
        with pytest.raises(ValueError) as caught:
            list(iterator)
        first_lines.append(str(caught.value).splitlines()[0])
        assert "worker 1 cannot start" in str(caught.value)
        iterator._shutdown_workers()
    assert first_lines[0] == first_lines[1] == "Caught ValueError in DataLoader worker process 1."


def test_more_workers_than_cores_warns_as_torch() -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = cores + 1  # the loader is only built: no process starts
    messages = []
    for lib in (antorcha, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loader(lib, Slow(2, 0), num_workers=workers)
        messages.append([str(w.message) for w in caught])
    assert messages[0] == messages[1] and len(messages[0]) == 1
    assert f"This DataLoader will create {workers} worker processes in total." in messages[0][0]
