"""DataLoader: iterate a dataset in (shuffled) mini-batches, as `torch.utils.data.DataLoader`.

Loading always happens in the calling process. `num_workers` (and the other worker options)
are accepted so PyTorch code runs unchanged, and the batches are exactly those, in the order,
that `num_workers=0` gives. Worker processes are not used because antorcha tensors are never
pickled (the only way to send them between processes), CuPy state does not survive `fork`, and
for the usual in-memory NumPy datasets the vectorised fast path below is quicker than any
inter-process copy. `get_worker_info()` therefore always returns None, and `worker_init_fn` is
never called (torch does not call it with `num_workers=0` either).

Fast path: when the dataset is a `TensorDataset` (possibly behind `Subset`s, as `random_split`
gives) and the default collate is used, a batch is gathered with one fancy index per tensor
instead of indexing and stacking sample by sample. The result is identical to the slow path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import numpy as np

from antorcha._device import move_array
from antorcha._tensor import Tensor, wrap
from antorcha.utils.data import _random
from antorcha.utils.data._collate import default_collate, default_convert
from antorcha.utils.data.dataset import Dataset, IterableDataset, Subset, TensorDataset
from antorcha.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

T_co = TypeVar("T_co", covariant=True)


def get_worker_info() -> None:
    """Always None: antorcha loads data in the main process (see the module docstring)."""
    return None


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
        self.pin_memory = pin_memory  # accepted; host memory is used as it is
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_collation(self) -> bool:
        if isinstance(self.dataset, IterableDataset):
            return self.batch_size is not None
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            length = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is None:
                return length
            return length // self.batch_size if self.drop_last else math.ceil(length / self.batch_size)
        return len(self._index_sampler)

    def __iter__(self) -> _DataLoaderIterator:
        return _DataLoaderIterator(self)

    # ---- the batches of one epoch ------------------------------------------------
    def _epoch(self) -> Iterator[Any]:
        if isinstance(self.dataset, IterableDataset):
            yield from self._iterable_epoch()
        elif not self._auto_collation:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])
        else:
            fast_path = _TensorBatchGather.plan(self.dataset) if self.collate_fn is default_collate else None
            for indices in self._index_batches():
                batch = fast_path.gather(indices) if fast_path is not None else None
                yield batch if batch is not None else self._fetch(indices)

    def _index_batches(self) -> Iterator[np.ndarray | list]:
        if type(self.batch_sampler).__iter__ is BatchSampler.__iter__:
            return self.batch_sampler._index_batches()
        return iter(self.batch_sampler)

    def _fetch(self, indices: np.ndarray | list) -> Any:
        if isinstance(indices, np.ndarray):
            indices = indices.tolist()  # datasets see Python ints, as with torch
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(indices) if callable(getitems) else [self.dataset[i] for i in indices]
        return self.collate_fn(samples)

    def _iterable_epoch(self) -> Iterator[Any]:
        if not self._auto_collation:
            for sample in self.dataset:  # type: ignore[attr-defined]
                yield self.collate_fn(sample)
            return
        batch: list = []
        for sample in self.dataset:  # type: ignore[attr-defined]
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)


class _DataLoaderIterator:
    """What `iter(loader)` returns: the epoch's batches, with `len()` like torch's iterator."""

    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        self._batches = loader._epoch()
        # torch's iterator draws its workers' base seed here, before the sampler's first draw;
        # the draw is taken (and the stream advanced) as in torch, so the order of batches is torch's
        self._base_seed = _random.seed_from(loader.generator)

    def __iter__(self) -> _DataLoaderIterator:
        return self

    def __next__(self) -> Any:
        return next(self._batches)

    def __len__(self) -> int:
        return len(self._loader)


class _TensorBatchGather:
    """Gathers a batch of a TensorDataset with one fancy index per tensor.

    `index_maps` holds the indices of the `Subset`s in front of the TensorDataset, outermost
    first; a batch's rows are mapped through each in turn to rows of the tensors.
    """

    def __init__(self, tensors: tuple[Tensor, ...], index_maps: list[np.ndarray], length: int) -> None:
        self.tensors = tensors
        self.index_maps = index_maps
        self.length = length  # the loader's dataset length, for bounds checks

    @staticmethod
    def plan(dataset: Any) -> _TensorBatchGather | None:
        """The gatherer for `dataset`, or None when only the per-sample path is exact."""
        length = len(dataset)
        index_maps: list[np.ndarray] = []  # outermost Subset first
        while isinstance(dataset, Subset) and _has_plain_subset_indexing(type(dataset)):
            indices = np.asarray(dataset.indices)
            if indices.dtype.kind not in "iu" or indices.ndim != 1:
                return None
            index_maps.append(indices.astype(np.int64, copy=False))
            dataset = dataset.dataset
        if not isinstance(dataset, TensorDataset) or not _has_plain_tensor_indexing(type(dataset)):
            return None
        # tensors that require grad would give a batch with a grad_fn through stack: keep that path
        if not dataset.tensors or any(tensor.requires_grad for tensor in dataset.tensors):
            return None
        return _TensorBatchGather(dataset.tensors, index_maps, length)

    def gather(self, indices: np.ndarray | list) -> list[Tensor] | None:
        """The collated batch, or None when the indices are not plain integers (slow path then)."""
        rows = np.asarray(indices)
        if rows.ndim != 1 or rows.dtype.kind not in "iu" or rows.size == 0:
            return None
        rows = _within_bounds(rows.astype(np.int64, copy=False), self.length)
        # each level is checked batch by batch, so a bad Subset index only raises once it is used
        inner_lengths = [len(index_map) for index_map in self.index_maps[1:]] + [self.tensors[0].shape[0]]
        for index_map, inner_length in zip(self.index_maps, inner_lengths):
            rows = _within_bounds(index_map[rows], inner_length)
        return [self._take(tensor, rows) for tensor in self.tensors]

    @staticmethod
    def _take(tensor: Tensor, rows: np.ndarray) -> Tensor:
        if tensor._device.type != "cpu":  # index a device array with indices on that device
            rows = move_array(rows, tensor._device)
        return wrap(tensor._data[rows], device=tensor._device)


def _has_plain_subset_indexing(subset_type: type) -> bool:
    return subset_type.__getitem__ is Subset.__getitem__ and subset_type.__getitems__ is Subset.__getitems__


def _has_plain_tensor_indexing(dataset_type: type) -> bool:
    return dataset_type.__getitem__ is TensorDataset.__getitem__ and not hasattr(dataset_type, "__getitems__")


def _within_bounds(indices: np.ndarray, size: int) -> np.ndarray:
    """`indices` with negatives wrapped, or the IndexError tensor indexing would raise."""
    low, high = int(indices.min()), int(indices.max())
    if high >= size or low < -size:
        bad = high if high >= size else low
        raise IndexError(f"index {bad} is out of bounds for dimension 0 with size {size}")
    return np.where(indices < 0, indices + size, indices) if low < 0 else indices


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
