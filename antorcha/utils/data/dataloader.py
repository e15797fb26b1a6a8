"""DataLoader: iterate a dataset in (shuffled) mini-batches, as `torch.utils.data.DataLoader`.

`num_workers=0` loads in the calling process. `num_workers > 0` starts that many worker processes
with the standard library's `multiprocessing` (`_multiprocessing_iter.py`, `_worker.py`), as
torch's DataLoader does: the same batches in the same order (with `in_order=True`), each worker
seeded as torch seeds it, `get_worker_info()` inside a worker, `prefetch_factor`,
`persistent_workers`, `timeout` and `worker_init_fn`. Batches come back pickled, a tensor as its
NumPy buffer (`_sharing.py`): through the pipe below 1 MiB (a 0.4 MB batch of 32 CIFAR images
costs ~2 ms end to end, as with torch's shared memory), through a /dev/shm file above (measured).

The start method is torch's: `multiprocessing_context`, else multiprocessing's default (fork on
Linux before Python 3.14). Measured, the first batch from two fresh workers comes after ~60 ms with
fork and ~1.9 s with spawn or forkserver (each child imports NumPy and antorcha). A forked worker
drops what a fork copies but cannot use: the fused ops' thread pool (its threads stay in the
parent) and the parent's cuda generators (a CUDA context does not survive fork); it leaves BLAS's
thread count alone (see `_worker._prepare_process`). A dataset that makes cuda tensors in its
workers needs `multiprocessing_context="spawn"`, as with torch.

Fetching (`_fetch.py`) is the same code in both: when the dataset is a `TensorDataset` (possibly
behind `Subset`s) and the default collate is used, a batch is one fancy index per tensor.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from antorcha.utils.data import _random
from antorcha.utils.data._collate import default_collate, default_convert
from antorcha.utils.data._fetch import (  # noqa: F401 - tests patch _TensorBatchGather here
    _TensorBatchGather,
    make_fetcher,
    warn_past_reported_length,
)
from antorcha.utils.data._multiprocessing_iter import MultiProcessingIterator
from antorcha.utils.data._worker import WorkerInfo, get_worker_info  # noqa: F401 - torch's names
from antorcha.utils.data.dataset import Dataset, IterableDataset
from antorcha.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

T_co = TypeVar("T_co", covariant=True)

# attributes that fix what an epoch is: torch refuses to change them once the loader exists
_FROZEN_ATTRIBUTES = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


class DataLoader(Generic[T_co]):
    """Combines a dataset and a sampler, and iterates over the dataset in batches."""

    def __init__(
        self,
        dataset: Dataset[T_co],
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Any = None,
        batch_sampler: Sampler | Any = None,
        num_workers: int = 0,
        collate_fn: Callable[[list], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers)
        if isinstance(dataset, IterableDataset):
            _check_iterable_options(shuffle, sampler, batch_sampler)
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with "
                    "batch_size, shuffle, sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
            )
        if sampler is None and not isinstance(dataset, IterableDataset):
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not isinstance(dataset, IterableDataset):
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor if prefetch_factor is not None or num_workers == 0 else 2
        self.persistent_workers = persistent_workers
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator: MultiProcessingIterator | None = None  # the persistent workers' iterator
        self._reported_length: int | None = None  # len(dataset) once len(loader) was asked (iterable)
        self._initialized = True
        _warn_if_too_many_workers(num_workers)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FROZEN_ATTRIBUTES and self.__dict__.get("_initialized"):
            raise ValueError(f"{name} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(name, value)

    @property
    def multiprocessing_context(self) -> Any:
        return self._multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, context: Any) -> None:
        self._multiprocessing_context = _checked_context(context, self.num_workers)

    @property
    def _is_iterable(self) -> bool:
        return isinstance(self.dataset, IterableDataset)

    @property
    def _auto_collation(self) -> bool:
        if self._is_iterable:
            return self.batch_size is not None
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._is_iterable:
            # remembered: an iterator warns, as torch's, once it yields more batches than this
            length = self._reported_length = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is None:
                return length
            return length // self.batch_size if self.drop_last else math.ceil(length / self.batch_size)
        return len(self._index_sampler)

    def __iter__(self) -> _DataLoaderIterator | MultiProcessingIterator:
        if self.num_workers == 0:
            return _DataLoaderIterator(self)
        _warn_if_too_many_workers(self.num_workers)  # again, as torch does for every new iterator
        if not self.persistent_workers:
            return MultiProcessingIterator(self)
        # persistent workers live as long as the loader: later epochs reuse them (and their seeds)
        if self._iterator is None:
            self._iterator = MultiProcessingIterator(self)
        else:
            self._iterator._reset(self)
        return self._iterator

    # ---- what one epoch asks for -------------------------------------------------------
    def _requests(self) -> Iterator[Any]:
        """One request per batch: its indices (a list or int64 array), one index, or, for an
        IterableDataset, the batch size (None without auto-collation) until the stream ends."""
        if self._is_iterable:
            return itertools.repeat(self.batch_size)
        if not self._auto_collation:
            return iter(self.sampler)
        if type(self.batch_sampler).__iter__ is BatchSampler.__iter__:
            return self.batch_sampler._index_batches()
        return iter(self.batch_sampler)

    def _pins_memory(self) -> bool:
        """Whether batches are pinned; warns as torch does when pin_memory cannot be honoured."""
        if not self.pin_memory:
            return False
        if self.pin_memory_device:
            warnings.warn(
                "pin_memory_device is deprecated, the current accelerator will be used as the device,"
                f"ignore pin_memory_device='{self.pin_memory_device}'.",
                stacklevel=3,
            )
        from antorcha import cuda

        if not cuda.is_available():
            warnings.warn(
                "'pin_memory' argument is set as true but no accelerator is found, "
                "then device pinned memory won't be used.",
                stacklevel=3,
            )
            return False
        return True


class _DataLoaderIterator:
    """What `iter(loader)` returns without workers: the epoch's batches, loaded in this process."""

    def __init__(self, loader: DataLoader) -> None:
        if loader.timeout != 0:
            raise AssertionError("_SingleProcessDataLoaderIter requires timeout == 0")
        self._loader = loader
        self._pin_memory = loader._pins_memory()
        # torch's iterator draws its workers' base seed here, before the sampler's first draw;
        # the draw is taken (and the stream advanced) as in torch, so the order of batches is torch's
        self._base_seed = _random.seed_from(loader.generator)
        self._requests = loader._requests()
        self._fetcher = make_fetcher(
            loader._is_iterable, loader.dataset, loader._auto_collation, loader.collate_fn, loader.drop_last
        )
        self._reported_length = loader._reported_length if loader._is_iterable else None
        self._yielded = 0

    def __iter__(self) -> _DataLoaderIterator:
        return self

    def __next__(self) -> Any:
        data = self._fetcher.fetch(next(self._requests))  # either may raise StopIteration
        self._yielded += 1
        warn_past_reported_length(self._loader.dataset, self._reported_length, self._yielded, 0)
        if self._pin_memory:
            from antorcha.utils.data._pin_memory import pin_memory

            data = pin_memory(data)
        return data

    def __len__(self) -> int:
        return iterator_length(self._loader)


def iterator_length(loader: DataLoader) -> int:
    """len() of a loader's iterator: the loader's, except over an IterableDataset, where torch's
    iterator asks its infinite sampler and fails (the loader itself has a length there)."""
    if loader._is_iterable:
        raise TypeError("object of type '_InfiniteConstantSampler' has no len()")
    return len(loader)


def _checked_context(context: Any, num_workers: int) -> Any:
    """`multiprocessing_context` as a context object, with torch's errors for bad values."""
    if context is None:
        return None
    if num_workers == 0:
        raise ValueError(
            "multiprocessing_context can only be used with multi-process loading "
            f"(num_workers > 0), but got num_workers={num_workers}"
        )
    if isinstance(context, str):
        valid_methods = multiprocessing.get_all_start_methods()
        if context not in valid_methods:
            raise ValueError(
                "multiprocessing_context option "
                f"should specify a valid start method in {valid_methods!r}, but got "
                f"multiprocessing_context={context!r}"
            )
        context = multiprocessing.get_context(context)
    if not isinstance(context, multiprocessing.context.BaseContext):
        raise TypeError(
            "multiprocessing_context option should be a valid context "
            "object or a string specifying the start method, but got "
            f"multiprocessing_context={context}"
        )
    return context


def _warn_if_too_many_workers(num_workers: int) -> None:
    """torch's warning when more workers are asked for than this process may use cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not num_workers or (cores is not None and num_workers <= cores):
        return
    cpuset_note = "" if hasattr(os, "sched_getaffinity") else " (`cpuset` is not taken into account)"
    suggestion = (
        f"Our suggested max number of worker in current system is {cores}{cpuset_note}, which is smaller "
        "than what this DataLoader is going to create."
        if cores is not None
        else "DataLoader is not able to compute a suggested max number of worker in current system."
    )
    warnings.warn(
        f"This DataLoader will create {num_workers} worker processes in total. {suggestion} "
        "Please be aware that excessive worker creation might get DataLoader running slow or even freeze, "
        "lower the worker number to avoid potential slowness/freeze if necessary.",
        stacklevel=3,
    )


def _check_worker_options(
    num_workers: int, timeout: float, prefetch_factor: int | None, persistent_workers: bool
) -> None:
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(
            "num_workers option should be non-negative; use num_workers=0 to disable multiprocessing."
        )
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError(
            "prefetch_factor option could only be specified in multiprocessing."
            "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
        )
    if prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError("prefetch_factor option should be non-negative")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")


def _check_iterable_options(shuffle: Any, sampler: Any, batch_sampler: Any) -> None:
    if isinstance(shuffle, bool) and shuffle:
        raise ValueError(
            f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
        )
    if sampler is not None:
        raise ValueError(
            f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}"
        )
    if batch_sampler is not None:
        raise ValueError(
            "DataLoader with IterableDataset: expected unspecified batch_sampler option, "
            f"but got batch_sampler={batch_sampler}"
        )
