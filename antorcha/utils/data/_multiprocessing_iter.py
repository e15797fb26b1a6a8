"""The DataLoader's iterator with worker processes (torch's `_MultiProcessingDataLoaderIter`).

Each worker has its own index queue; all of them answer on one result queue. At most
`prefetch_factor * num_workers` tasks are out at once, handed to the workers in turn. With
`in_order=True` a batch that arrives early waits in `_task_info` until those before it have
been returned; with `in_order=False` it is returned at once. Results travel pickled (see
`_sharing`): a tensor is a NumPy buffer on the way, pickled by the worker queue's feeder thread.

Shutdown (the epoch ends, the loop breaks, the iterator is collected, the interpreter exits):
set the done event, send each worker `None`, join them, and terminate any still running after
`MP_STATUS_CHECK_INTERVAL` seconds. Workers are daemonic and watch their parent, so none
outlives the main process.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import os
import queue
import secrets
import time
import weakref
from typing import Any

from antorcha.utils.data import _random
from antorcha.utils.data._fetch import warn_past_reported_length
from antorcha.utils.data._sharing import register_reducers, remove_shared_files
from antorcha.utils.data._worker import (
    MP_STATUS_CHECK_INTERVAL,
    ExceptionWrapper,
    ResultQueue,
    WorkerSpec,
    _IterableDatasetStopIteration,
    _ResumeIteration,
    worker_loop,
)

# how often a wait for results looks whether a worker died (torch's SIGCHLD handler is immediate)
_LIVENESS_CHECK_INTERVAL = 0.1
_python_exiting = False  # set at exit: module globals may already be gone when __del__ runs
_live_iterators: weakref.WeakSet = weakref.WeakSet()  # those whose workers may still run


def _stop_at_exit() -> None:
    """At exit, stop the workers still running (persistent ones) and remove their unread files.

    This runs before multiprocessing's own exit handler would terminate them: a worker must be gone
    before its files are removed, or it could write another one.
    """
    global _python_exiting
    _python_exiting = True
    for iterator in list(_live_iterators):
        iterator._terminate_workers()
        iterator._shutdown = True


atexit.register(_stop_at_exit)


class MultiProcessingIterator:
    """Iterates the loader's batches, fetched by `loader.num_workers` worker processes."""

    def __init__(self, loader: Any) -> None:
        self._shutdown = True  # until the workers exist, __del__ has nothing to stop
        # a process forked later (another loader's worker) inherits a copy of this iterator: only
        # the process that started the workers may stop them
        self._owner_pid = os.getpid()
        # no strong reference back: a persistent loader holds its iterator, and a cycle between them
        # would leave the workers' shutdown to the garbage collector
        self._loader = weakref.ref(loader)
        self._dataset = loader.dataset
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._prefetch_factor = loader.prefetch_factor
        self._in_order = loader.in_order
        self._timeout = loader.timeout
        self._persistent_workers = loader.persistent_workers
        self._iterable = loader._is_iterable
        self._pin_memory = loader._pins_memory()
        # torch draws the workers' base seed here, before the sampler's first draw
        self._base_seed = _random.seed_from(loader.generator)
        self._token = secrets.token_hex(6)
        register_reducers()
        self._start_workers(loader, loader.multiprocessing_context or multiprocessing.get_context())
        self._reset(loader, first_iter=True)

    def _start_workers(self, loader: Any, context: Any) -> None:
        spec = WorkerSpec(
            iterable=self._iterable,
            dataset=loader.dataset,
            auto_collation=loader._auto_collation,
            collate_fn=loader.collate_fn,
            drop_last=loader.drop_last,
            worker_init_fn=loader.worker_init_fn,
            num_workers=self._num_workers,
            base_seed=self._base_seed,
            token=self._token,
        )
        self._result_queue = ResultQueue(ctx=context)
        self._done_event = context.Event()
        self._index_queues: list[Any] = []
        self._workers: list[Any] = []
        self._workers_status = [True] * self._num_workers
        self._shutdown = False
        _live_iterators.add(self)
        for worker_id in range(self._num_workers):
            index_queue = context.Queue()
            index_queue.cancel_join_thread()  # a worker's unread requests must not block our exit
            worker = context.Process(
                target=worker_loop,
                args=(spec, worker_id, index_queue, self._result_queue, self._done_event),
                daemon=True,
            )
            worker.start()
            self._index_queues.append(index_queue)
            self._workers.append(worker)

    def _reset(self, loader: Any, first_iter: bool = False) -> None:
        """Start an epoch: a fresh pass of the sampler, and the first tasks handed out."""
        self._requests = loader._requests()
        self._reported_length = loader._reported_length if self._iterable else None
        self._yielded = 0
        self._send_idx = 0  # the next task to hand out
        self._rcvd_idx = 0  # the next task to return
        self._task_info: dict[int, tuple] = {}  # task -> (worker,) while out, (worker, data) once back
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._workers_num_tasks = [0] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            for index_queue in self._index_queues:
                index_queue.put(_ResumeIteration())
            acknowledged = 0
            while acknowledged < self._num_workers:  # what the last epoch left in flight is dropped
                task, _ = self._get_data()
                acknowledged += isinstance(task, _ResumeIteration)
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def __iter__(self) -> MultiProcessingIterator:
        return self

    def __len__(self) -> int:
        loader = self._loader()
        if loader is None:
            return len(self._index_sampler)
        from antorcha.utils.data.dataloader import iterator_length

        return iterator_length(loader)

    def __next__(self) -> Any:
        data = self._next_data()
        self._yielded += 1
        warn_past_reported_length(self._dataset, self._reported_length, self._yielded, self._num_workers)
        if self._pin_memory:
            from antorcha.utils.data._pin_memory import pin_memory

            data = pin_memory(data)
        return data

    # ---- receiving ---------------------------------------------------------------------------
    def _next_data(self) -> Any:
        while True:
            # skip tasks whose worker ended (an exhausted IterableDataset copy) without answering
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info:
                    if len(info) == 2 or self._workers_status[info[0]]:
                        break
                    del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:  # it arrived earlier, out of turn
                worker_id, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)
            task, data = self._get_data()
            self._tasks_outstanding -= 1
            if isinstance(data, _IterableDatasetStopIteration):
                if self._persistent_workers:
                    self._workers_status[data.worker_id] = False
                else:
                    self._mark_worker_as_unavailable(data.worker_id)
                self._try_put_index()
                continue
            if task != self._rcvd_idx:
                if not self._in_order:
                    return self._process_data(data, self._task_info.pop(task)[0])
                self._task_info[task] += (data,)
            else:
                worker_id = self._task_info.pop(task)[0]
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)

    def _get_data(self) -> tuple[Any, Any]:
        """The next (task, data) from any worker; raises when the timeout passes or a worker died."""
        if self._timeout > 0:
            found, payload = self._try_get_data(self._timeout)
            if not found:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
            return payload
        while True:
            found, payload = self._try_get_data(MP_STATUS_CHECK_INTERVAL)
            if found:
                return payload

    def _try_get_data(self, timeout: float) -> tuple[bool, Any]:
        """(True, the next message), or (False, None) once `timeout` seconds passed without one.

        The wait is cut in slices, each followed by a look at the workers: one that died is
        reported within a slice rather than after the whole timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            wait = max(0.0, min(remaining, _LIVENESS_CHECK_INTERVAL))
            try:
                return True, self._result_queue.get(timeout=wait)
            except queue.Empty as empty:
                self._raise_if_a_worker_died(empty)
            if remaining <= _LIVENESS_CHECK_INTERVAL:
                return False, None

    def _raise_if_a_worker_died(self, cause: BaseException) -> None:
        dead = [
            worker_id
            for worker_id, worker in enumerate(self._workers)
            if self._workers_status[worker_id] and not worker.is_alive()
        ]
        if dead:
            for worker_id in dead:
                self._mark_worker_as_unavailable(worker_id)
            pids = ", ".join(str(self._workers[worker_id].pid) for worker_id in dead)
            raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly") from cause

    def _process_data(self, data: Any, worker_id: int) -> Any:
        self._workers_num_tasks[worker_id] -= 1
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return data

    # ---- sending -----------------------------------------------------------------------------
    def _try_put_index(self) -> None:
        """Hand the next request to the next active worker (with room, when out of order is allowed)."""
        max_tasks = self._prefetch_factor * self._num_workers
        try:
            request = next(self._requests)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            worker_id = next(self._worker_cycle)
            if self._workers_status[worker_id] and (
                self._in_order or self._workers_num_tasks[worker_id] < max_tasks // sum(self._workers_status)
            ):
                break
        else:
            return  # no worker is left to take it
        self._index_queues[worker_id].put((self._send_idx, request))
        self._task_info[self._send_idx] = (worker_id,)
        self._workers_num_tasks[worker_id] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    # ---- shutting down -----------------------------------------------------------------------
    def _mark_worker_as_unavailable(self, worker_id: int) -> None:
        self._index_queues[worker_id].put(None)  # the worker ends once it reads this
        self._workers_status[worker_id] = False

    def _shutdown_workers(self) -> None:
        # at exit, module globals may already be None (then so is _python_exiting): nothing to do
        if _python_exiting is not False or self._shutdown or os.getpid() != self._owner_pid:
            return
        self._shutdown = True
        try:
            self._done_event.set()
            for worker_id in range(len(self._workers)):  # fewer when a start failed
                if self._persistent_workers or self._workers_status[worker_id]:
                    self._mark_worker_as_unavailable(worker_id)
            for worker in self._workers:
                worker.join(timeout=MP_STATUS_CHECK_INTERVAL)
            for index_queue in self._index_queues:
                index_queue.cancel_join_thread()
                index_queue.close()
        finally:
            self._terminate_workers()

    def _terminate_workers(self) -> None:
        """Terminate the workers still running, then remove the files they left unread."""
        for worker in self._workers:
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=MP_STATUS_CHECK_INTERVAL)
        remove_shared_files(self._token)
        _live_iterators.discard(self)

    def __del__(self) -> None:
        self._shutdown_workers()
