"""Fetchers: how one request of the loader (a batch of indices, one index, or "the next batch" of a
stream) becomes one batch. The same code runs in the main process and in worker processes.

Fast path: when the dataset is a `TensorDataset` (possibly behind `Subset`s, as `random_split`
gives) and the default collate is used, a batch is gathered with one fancy index per tensor
instead of indexing and stacking sample by sample. The result is identical to the slow path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from antorcha._device import move_array
from antorcha._tensor import Tensor, wrap
from antorcha.utils.data._collate import default_collate
from antorcha.utils.data.dataset import Subset, TensorDataset


class MapFetcher:
    """Fetches from a map-style dataset: `dataset[i]` per index (or `__getitems__`), then collates."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        use_fast_path = auto_collation and collate_fn is default_collate
        self.fast_path = _TensorBatchGather.plan(dataset) if use_fast_path else None

    def fetch(self, index: Any) -> Any:
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        batch = self.fast_path.gather(index) if self.fast_path is not None else None
        if batch is not None:
            return batch
        if isinstance(index, np.ndarray):
            index = index.tolist()  # datasets see Python ints, as with torch
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(index) if callable(getitems) else [self.dataset[i] for i in index]
        return self.collate_fn(samples)


class IterableFetcher:
    """Fetches from an `IterableDataset`'s own iterator; raises StopIteration once it is exhausted.

    A request is the batch size (auto-collation) or None (one sample); a short last batch is
    dropped when `drop_last` is set, as torch's `_IterableDatasetFetcher` does.
    """

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool) -> None:
        self.samples: Iterator[Any] = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, batch_size: int | None) -> Any:
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.samples))
        batch = []
        for _ in range(batch_size or 0):
            try:
                batch.append(next(self.samples))
            except StopIteration:
                self.ended = True
                break
        if not batch or (self.drop_last and len(batch) < (batch_size or 0)):
            raise StopIteration
        return self.collate_fn(batch)


def warn_past_reported_length(dataset: Any, reported: int | None, yielded: int, num_workers: int) -> None:
    """torch's warning when an IterableDataset yields more batches than `len(loader)` said."""
    if reported is None or yielded <= reported:
        return
    message = (
        f"Length of IterableDataset {dataset} was reported to be {reported}"
        f"(when accessing len(dataloader)), but {yielded} samples have been fetched. "
    )
    if num_workers > 0:
        message += (
            "For multiprocessing data-loading, this could be caused by not properly configuring the "
            "IterableDataset replica at each worker. Please see "
            "https://pytorch.org/docs/stable/data.html#torch.utils.data.IterableDataset for examples."
        )
    warnings.warn(message, stacklevel=3)


def make_fetcher(
    iterable: bool, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool
) -> MapFetcher | IterableFetcher:
    fetcher_type = IterableFetcher if iterable else MapFetcher
    return fetcher_type(dataset, auto_collation, collate_fn, drop_last)


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
        index_maps: list[np.ndarray] = []  # outermost Subset first
        outer = dataset
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
        return _TensorBatchGather(dataset.tensors, index_maps, len(outer))

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
