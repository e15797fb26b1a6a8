"""What runs inside a DataLoader worker process, and what it sends back (torch's `_utils/worker.py`).

A worker receives `(task index, request)` pairs on its own index queue, fetches the batch and
puts `(task index, batch)` on the result queue shared by all workers. `None` on the index queue
ends it; a `_ResumeIteration` starts a new epoch of a persistent worker. A worker seeds itself as
torch's does: `base_seed + worker_id` for Python's `random` and antorcha's default generator,
and NumPy's global RandomState from torch's SeedSequence-like mix of the two numbers.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.queues
import os
import queue
import random
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

# how often a blocked worker (or the main process) looks whether the other side is still alive
MP_STATUS_CHECK_INTERVAL = 5.0
# how often an idle worker looks whether the main process has asked every worker to stop
_IDLE_CHECK_INTERVAL = 0.5


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """Information about the current DataLoader worker process (torch's fields and defaults)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any
    rng: Any = None
    worker_method: str | None = "multiprocessing"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker: its id, the number of workers, its seed and its copy of the dataset.
    In the main process: None."""
    return _worker_info


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    """A worker's notice that its copy of an IterableDataset is exhausted."""

    worker_id: int


@dataclass(frozen=True)
class _ResumeIteration:
    """Starts a new epoch in a persistent worker (echoed back as the acknowledgement)."""

    seed: int | None = None


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker of one iterator needs to fetch batches."""

    iterable: bool
    dataset: Any
    auto_collation: bool
    collate_fn: Any
    drop_last: bool
    worker_init_fn: Any
    num_workers: int
    base_seed: int
    token: str  # names this iterator's shared-memory files


class KeyErrorMessage(str):
    """A KeyError's message that prints as it is: KeyError would show the repr of a long message."""

    def __repr__(self) -> str:
        return self


class ExceptionWrapper:
    """An exception caught in a worker, with its traceback as text, to raise again in the main process."""

    def __init__(self, where: str) -> None:
        exc_type, exc_value, exc_traceback = sys.exc_info()
        self.exc_type = exc_type
        self.exc_msg = "".join(traceback.format_exception(exc_type, exc_value, exc_traceback))
        self.where = where

    def reraise(self) -> None:
        """Raise the same exception class, naming the worker and carrying its traceback (torch's text)."""
        assert self.exc_type is not None
        message = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            message = KeyErrorMessage(message)
        elif getattr(self.exc_type, "message", None):
            raise self.exc_type(message=message)
        try:
            exception = self.exc_type(message)
        except Exception:  # the class takes other arguments: torch falls back to RuntimeError too
            raise RuntimeError(message) from None
        try:
            raise exception
        finally:
            # this frame would hold the exception that holds this frame: a cycle that only the
            # garbage collector breaks, and it closes the index queues before the workers hear "stop"
            del exception


# ---- seeding -----------------------------------------------------------------------------


def numpy_seed_words(base_seed: int, worker_id: int) -> list[int]:
    """The four uint32 words torch seeds a worker's NumPy global RandomState with.

    torch's `_generate_state`: NumPy's SeedSequence hashing of (worker_id, the base seed's low and
    high 32-bit halves, 0), so NumPy's stream differs from the one seeded with `base_seed + id`.
    """
    mask = 0xFFFFFFFF
    hash_multiplier = 0x43B0D7E5
    entropy = [worker_id, base_seed & mask, base_seed >> 32, 0]

    def hashed(value: int) -> int:
        nonlocal hash_multiplier
        value = (value ^ hash_multiplier) & mask
        hash_multiplier = (hash_multiplier * 0x931E8875) & mask
        value = (value * hash_multiplier) & mask
        return (value ^ (value >> 16)) & mask

    def mixed(x: int, y: int) -> int:
        result = ((0xCA01F9DD * x) & mask) - ((0x4973F715 * y) & mask)
        result &= mask
        return (result ^ (result >> 16)) & mask

    pool = [hashed(value) for value in entropy]
    for source in range(4):
        for target in range(4):
            if source != target:
                pool[target] = mixed(pool[target], hashed(pool[source]))
    words, multiplier = [], 0x8B51F9DD
    for value in pool:
        value = (value ^ multiplier) & mask
        multiplier = (multiplier * 0x58F38DED) & mask
        value = (value * multiplier) & mask
        words.append((value ^ (value >> 16)) & mask)
    return words


def _prepare_process(base_seed: int, worker_id: int) -> int:
    """Seed the worker and reset what a fork copies but cannot use; returns the worker's seed."""
    import antorcha
    from antorcha import random as antorcha_random

    # a forked child has the parent's thread pool object but not its threads, and the parent's
    # cuda generators belong to a CUDA context the child cannot use
    threads = sys.modules.get("antorcha.speed.threads")
    if threads is not None:
        threads._pool = None
    antorcha_random._cuda_generators.clear()
    # BLAS is left alone, unlike torch's set_num_threads(1) for its own pools: setting OpenBLAS's
    # thread count in a forked child restarts its pool, whose spinning threads slowed the first
    # batches by ~50 ms per worker (measured, 2 cores); torch leaves NumPy's BLAS alone too.
    # A dataset that multiplies matrices can call antorcha.set_num_threads(1) in worker_init_fn.
    seed = base_seed + worker_id
    random.seed(seed)
    antorcha.manual_seed(seed)
    np.random.seed(numpy_seed_words(base_seed, worker_id))
    return seed


# ---- the worker's loop -------------------------------------------------------------------


class _ParentWatchdog:
    """Tells whether the process that started this worker still runs.

    multiprocessing's parent sentinel (a pipe that closes when the parent dies) works for every
    start method and from the first instant; a parent pid read in the worker would already be
    init's if the main process died before this worker got that far.
    """

    def __init__(self) -> None:
        self.parent = multiprocessing.parent_process()

    def is_alive(self) -> bool:
        return self.parent is None or self.parent.is_alive()


class ResultQueue(multiprocessing.queues.Queue):
    """The queue every worker answers on. Its feeder thread pickles a batch while the worker fetches
    the next; a batch that cannot be pickled becomes the worker's error, sent in its place (plain
    multiprocessing would only print it, and the main process would wait for that batch forever)."""

    def __init__(self, *, ctx: Any) -> None:
        super().__init__(ctx=ctx)

    def _on_queue_feeder_error(self, error: Exception, message: Any) -> None:
        if not (isinstance(message, tuple) and len(message) == 2 and _worker_info is not None):
            super()._on_queue_feeder_error(error, message)
            return
        task, _ = message
        self.put((task, ExceptionWrapper(f"in DataLoader worker process {_worker_info.id}")))


def worker_loop(
    spec: WorkerSpec, worker_id: int, index_queue: Any, result_queue: Any, done_event: Any
) -> None:
    """The body of a worker process (see the module docstring for the protocol)."""
    from antorcha.utils.data._sharing import remove_shared_files

    with contextlib.suppress(KeyboardInterrupt):  # the main process gets it too and shuts us down
        _serve(spec, worker_id, index_queue, result_queue, done_event)
    # what nobody will read (the main process stopped listening, or died): all that is left of ours
    remove_shared_files(spec.token, os.getpid())
    if done_event.is_set():
        # exit without waiting to flush results nobody will read
        result_queue.cancel_join_thread()
        result_queue.close()


def _serve(spec: WorkerSpec, worker_id: int, index_queue: Any, result_queue: Any, done_event: Any) -> None:
    """Answer requests until told to stop, the main process shuts down, or it dies."""
    global _worker_info
    from antorcha.utils.data._sharing import register_reducers, share_big_arrays

    register_reducers()
    share_big_arrays(spec.token)
    seed = _prepare_process(spec.base_seed, worker_id)
    _worker_info = WorkerInfo(id=worker_id, num_workers=spec.num_workers, seed=seed, dataset=spec.dataset)
    where = f"in DataLoader worker process {worker_id}"
    fetcher, init_error = None, None
    try:
        if spec.worker_init_fn is not None:
            spec.worker_init_fn(worker_id)
        fetcher = _new_fetcher(spec)
    except Exception:
        init_error = ExceptionWrapper(where)  # reported as the answer to the first request
    iteration_end = False  # set once this worker's copy of an IterableDataset is exhausted
    watchdog = _ParentWatchdog()
    while watchdog.is_alive():
        try:
            request = index_queue.get(timeout=_IDLE_CHECK_INTERVAL)
        except queue.Empty:
            if done_event.is_set():
                return  # the main process is shutting down: "stop" may never come (queue closed)
            continue
        if isinstance(request, _ResumeIteration):
            result_queue.put((request, None))
            fetcher, iteration_end = _new_fetcher(spec), False
            continue
        if request is None:
            return
        if done_event.is_set() or iteration_end:
            continue  # shutting down (or nothing left): skip the work, wait for None
        task, index = request
        if init_error is not None:
            data, init_error = init_error, None
        else:
            data = _fetched(fetcher, index, spec.iterable, worker_id)
            iteration_end = isinstance(data, _IterableDatasetStopIteration)
        result_queue.put((task, data))
        del data, index, request  # a batch should not stay alive while the next one is fetched


def _new_fetcher(spec: WorkerSpec) -> Any:
    from antorcha.utils.data._fetch import make_fetcher

    return make_fetcher(spec.iterable, spec.dataset, spec.auto_collation, spec.collate_fn, spec.drop_last)


def _fetched(fetcher: Any, index: Any, iterable: bool, worker_id: int) -> Any:
    """The batch for `index`, the notice that the stream ended, or the error, wrapped to travel."""
    try:
        return fetcher.fetch(index)
    except StopIteration:
        if iterable:
            return _IterableDatasetStopIteration(worker_id)
        return ExceptionWrapper(f"in DataLoader worker process {worker_id}")
    except Exception:
        return ExceptionWrapper(f"in DataLoader worker process {worker_id}")
