"""Samplers: which dataset indices to visit, in what order, and how to group them into batches.

The built-in samplers draw an epoch's order as int64 arrays of at most `PIECE` indices each
(`_index_pieces`), drawn as iteration reaches them, and iterate them as Python ints as torch does:
memory stays flat whatever `num_samples` is. `BatchSampler` slices those arrays directly when its
sampler is a built-in one, so a DataLoader epoch costs no per-index Python work.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any, Generic, TypeVar

import numpy as np

from antorcha.utils.data import _random

T_co = TypeVar("T_co", covariant=True)
PIECE = 1 << 16  # indices drawn at a time: torch draws 32 at a time, the same stream in bigger steps


class Sampler(Generic[T_co]):
    """Base class: subclasses implement `__iter__` (and `__len__` when they know it)."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError


class SequentialSampler(Sampler[int]):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def _index_pieces(self) -> Iterator[np.ndarray]:
        n = len(self.data_source)
        for start in range(0, n, PIECE):
            yield np.arange(start, min(start + PIECE, n), dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """A random order of the indices (a new one each epoch), or draws with replacement."""

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: Any = None,
    ) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={self.replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={self.num_samples}"
            )

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _index_pieces(self) -> Iterator[np.ndarray]:
        n = len(self.data_source)
        generator = _random.sampler_generator(self.generator)  # torch: a fresh one per pass if None
        if self.replacement:  # drawn as iteration goes: num_samples may be 10**12
            for start in range(0, self.num_samples, PIECE):
                yield _random.integers(n, min(PIECE, self.num_samples - start), generator)
            return
        # more samples than items: whole permutations back to back, then part of one more (torch
        # draws that last one even when no part of it is taken)
        full, rest = divmod(self.num_samples, n)
        for _ in range(full):
            yield _random.permutation(n, generator)
        yield _random.permutation(n, generator)[:rest]

    def __iter__(self) -> Iterator[int]:
        # a generator, so nothing is drawn until the first index is asked for (as in torch)
        for piece in self._index_pieces():
            yield from piece.tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given indices in a random order (a new one each epoch)."""

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self.generator = generator

    def _index_pieces(self) -> Iterator[np.ndarray]:
        order = _random.permutation(len(self.indices), self.generator)
        yield np.asarray(self.indices, dtype=np.int64).reshape(-1)[order]

    def __iter__(self) -> Iterator[int]:
        for piece in self._index_pieces():
            yield from piece.tolist()

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """`num_samples` indices drawn with probability proportional to `weights`."""

    def __init__(
        self,
        weights: Sequence[float],
        num_samples: int,
        replacement: bool = True,
        generator: Any = None,
    ) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={num_samples}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        weight_array = np.asarray(weights, dtype=np.float64)
        if weight_array.ndim != 1:
            raise ValueError(
                f"weights should be a 1d sequence but given weights have shape {tuple(weight_array.shape)}"
            )
        import antorcha

        self.weights = antorcha.from_numpy(weight_array)
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def _index_pieces(self) -> Iterator[np.ndarray]:
        weights = np.asarray(self.weights._cpu_array(), dtype=np.float64)
        yield _random.weighted_choice(weights, self.num_samples, self.replacement, self.generator)

    def __iter__(self) -> Iterator[int]:
        for piece in self._index_pieces():
            yield from piece.tolist()

    def __len__(self) -> int:
        return self.num_samples


# Samplers whose iteration is exactly `_index_pieces()`; a subclass overriding `__iter__` is
# iterated instead, so custom orders are always honoured.
_ARRAY_ITERATORS = {
    SequentialSampler.__iter__,
    RandomSampler.__iter__,
    SubsetRandomSampler.__iter__,
    WeightedRandomSampler.__iter__,
}


def draws_index_pieces(sampler: Any) -> bool:
    return getattr(type(sampler), "__iter__", None) in _ARRAY_ITERATORS and hasattr(sampler, "_index_pieces")


class BatchSampler(Sampler[list[int]]):
    """Groups the indices of `sampler` into lists of `batch_size` (the last may be shorter)."""

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._index_batches():
            yield batch.tolist() if isinstance(batch, np.ndarray) else batch

    def _index_batches(self) -> Iterator[np.ndarray | list[int]]:
        """The batches as int64 arrays when the sampler can draw its order at once, else lists."""
        if draws_index_pieces(self.sampler):
            yield from self._slice_batches(self.sampler._index_pieces())  # type: ignore[union-attr]
            return
        indices = iter(self.sampler)
        while batch := list(itertools.islice(indices, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch

    def _slice_batches(self, pieces: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """Batches cut from consecutive pieces of the order; a batch may span two pieces."""
        carry = np.empty(0, dtype=np.int64)
        for piece in pieces:
            order = np.concatenate((carry, piece)) if len(carry) else piece
            whole = len(order) - len(order) % self.batch_size
            for start in range(0, whole, self.batch_size):
                yield order[start : start + self.batch_size]
            carry = order[whole:]
        if len(carry) and not self.drop_last:
            yield carry

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size  # type: ignore[arg-type]
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size  # type: ignore[arg-type]
