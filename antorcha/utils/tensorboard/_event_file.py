"""One event file, written synchronously. tensorboardX supplies the record format (protobuf `Event`s,
CRC-framed records); its own FileWriter queues events for a background thread whose `flush()` does not
wait for the queue, so a file read right after `flush()` can miss the last events. Writing in the
caller's thread makes `flush()` mean what torch's does: everything added so far is on disk."""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

_file_numbers = itertools.count()  # two files opened in one second in one folder must not share a name


class EventFile:
    """Appends summaries to log_dir/events.out.tfevents.<time>.<host>.<pid>.<n><suffix>, torch's name
    (tensorboardX's own lacks <pid>.<n>, so a file reopened within the second overwrote the last);
    flushes every `max_queue` events or `flush_secs` seconds, and on flush()/close()."""

    def __init__(self, log_dir: str, max_queue: int, flush_secs: float, filename_suffix: str) -> None:
        from tensorboardX.event_file_writer import EventsWriter

        os.makedirs(log_dir, exist_ok=True)
        self.log_dir = log_dir
        self._max_queue = max_queue
        self._flush_secs = flush_secs
        unique_suffix = f".{os.getpid()}.{next(_file_numbers)}{filename_suffix}"
        self._events = EventsWriter(os.path.join(log_dir, "events"), unique_suffix)
        self._pending = 0
        self._last_flush = time.time()
        self._closed = False

    def add_event(self, event: Any, step: int | None = None, walltime: float | None = None) -> None:
        if self._closed:
            raise RuntimeError(f"the event file in {self.log_dir} is closed")
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            event.step = int(step)
        self._events.write_event(event)
        self._pending += 1
        if self._pending >= self._max_queue or time.time() - self._last_flush >= self._flush_secs:
            self.flush()

    def add_summary(self, summary: Any, step: int | None = None, walltime: float | None = None) -> None:
        from tensorboardX.proto.event_pb2 import Event

        self.add_event(Event(summary=summary), step, walltime)

    def mark_purge(self, purge_step: int) -> None:
        """TensorBoard drops this run's earlier events with step >= purge_step (a restarted run)."""
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        self.add_event(Event(file_version="brain.Event:2"), purge_step)
        self.add_event(Event(session_log=SessionLog(status=SessionLog.START)), purge_step)

    def flush(self) -> None:
        if not self._closed:
            self._events.flush()
            self._pending = 0
            self._last_flush = time.time()

    def close(self) -> None:
        if not self._closed:
            self._events.close()
            self._closed = True
