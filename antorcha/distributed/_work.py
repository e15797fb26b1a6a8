"""Work: the handle of a collective or point-to-point operation in flight.

Every operation, blocking or not, starts MPI's nonblocking form (Iallreduce, Ibcast, Isend, ...)
and waits through Work.wait, which polls Testall with a deadline instead of blocking in MPI_Wait:
a rank that never arrives makes the others raise a RuntimeError naming the operation, the rank and
the timeout, never hang. Open MPI advances a nonblocking collective whenever the process calls
into MPI, so `is_completed()` (one Testall) is also how a caller drives it during compute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

_SPIN_FOR = 1e-4  # seconds of back-to-back Testall: small messages finish within it
_YIELD_FOR = 2e-3  # then Testall + sched_yield, so a core shared with a peer stays usable; then sleeps
_MAX_SLEEP = 1e-3  # then the sleep doubles from 50 microseconds up to this


class Work:
    """torch.distributed.Work: wait(timeout=None), is_completed(), is_success(), exception()."""

    def __init__(
        self,
        requests: list[Any],
        op_name: str,
        rank: int,
        timeout: float,
        finish: Callable[[], Any] | None = None,
        statuses: list[Any] | None = None,
        outputs: list[Any] | None = None,
    ) -> None:
        self._requests = requests
        self._outputs = outputs or []  # the tensors the operation writes: result()
        self._statuses = statuses  # filled in by Testall: recv reads its sender and byte count
        self._op_name = op_name
        self._rank = rank
        self._timeout = timeout
        self._finish = finish
        self._done = False
        self._result: Any = None
        self._error: BaseException | None = None

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            finish, self._finish = self._finish, None
            try:
                self._result = finish()
            except Exception as error:  # e.g. recv's size check: wait() raises it again
                self._error = error
                raise

    def is_completed(self) -> bool:
        if self._done:
            return True
        from mpi4py import MPI

        try:
            done = MPI.Request.Testall(self._requests, self._statuses)
        except MPI.Exception as error:
            self._error = RuntimeError(
                f"antorcha.distributed: {self._op_name} on rank {self._rank} failed in MPI: {error} (do the "
                "ranks pass tensors of the same shape and dtype? TORCH_DISTRIBUTED_DEBUG=DETAIL checks)"
            )
            raise self._error from None
        if done:
            self._complete()
        return self._done

    def wait(self, timeout: Any = None) -> bool:
        """Block until done; RuntimeError after `timeout` (a timedelta; default: the group's)."""
        _in_flight.discard(self)
        if self._error is not None:
            raise self._error
        seconds = self._timeout if timeout is None else _seconds(timeout)
        started = time.monotonic()
        deadline, sleep = started + seconds, 5e-5
        while not self.is_completed():
            now = time.monotonic()
            if now > deadline:
                self._error = RuntimeError(
                    f"antorcha.distributed: {self._op_name} on rank {self._rank} did not complete within "
                    f"the timeout of {seconds:g} s: another rank failed, was killed, or did not call "
                    f"{self._op_name} (set it with init_process_group(timeout=...))"
                )
                raise self._error
            if now - started < _SPIN_FOR:
                continue
            if now - started < _YIELD_FOR:
                time.sleep(0)
            else:
                time.sleep(sleep)
                sleep = min(2 * sleep, _MAX_SLEEP)
        return True

    def is_success(self) -> bool:
        return self._done and self._error is None

    def exception(self) -> BaseException | None:
        return self._error

    def result(self) -> list[Any]:
        """The output tensors, as torch's Work.result() (after waiting)."""
        self.wait()
        return list(self._outputs)

    def synchronize(self) -> None:
        self.wait()

    def source_rank(self) -> int:
        """The sender's global rank, for a completed receive (torch's Work.source_rank)."""
        if self._op_name != "recv":
            raise RuntimeError(f"source_rank is only available for recv, not {self._op_name}")
        self.wait()
        return self._result

    _source_rank = source_rank

    def __repr__(self) -> str:
        state = "completed" if self._done else "pending"
        return f"Work({self._op_name}, rank {self._rank}, {state})"


_in_flight: set[Work] = set()


def track(work: Work) -> None:
    """Note an async Work, so later operations advance it (Open MPI progresses only inside MPI calls)."""
    _in_flight.add(work)


def progress_in_flight() -> None:
    """One Testall per async Work still in flight: starting bucket k of DDP advances buckets < k."""
    for work in list(_in_flight):
        try:
            done = work.is_completed()
        except Exception:  # kept in the Work; its wait() raises it
            done = True
        if done:
            _in_flight.discard(work)


def _seconds(timeout: Any) -> float:
    if hasattr(timeout, "total_seconds"):
        return float(timeout.total_seconds())
    return float(timeout)
