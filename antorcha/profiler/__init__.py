"""torch.profiler on the CPU: time every op and backward node, print torch's table, export a trace.

Forward ops are named as torch's aten ops, from the Op class (Mm -> aten::mm, SumDim ->
aten::sum_dim); a custom autograd.Function by its class name; backward nodes as torch's
engine names them (autograd::engine::evaluate_function: MmBackward0). The hooks live in
antorcha/autograd/_instrument.py and are installed only while a profile is recording.
"""

from __future__ import annotations

import enum
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from antorcha._tensor import Tensor
from antorcha.autograd import _instrument
from antorcha.profiler._events import EventList, FunctionEvent, FunctionEventAvg

__all__ = ["EventList", "FunctionEvent", "FunctionEventAvg", "ProfilerActivity", "profile", "record_function"]


class ProfilerActivity(enum.Enum):
    CPU = 0
    CUDA = 1


def _now_us() -> float:
    return time.perf_counter_ns() / 1000.0


class profile:  # noqa: N801 - torch's name
    """Record every op inside the block; then `key_averages().table()`, `events()`, `export_chrome_trace`."""

    def __init__(
        self,
        *,
        activities: Iterable[ProfilerActivity] | None = None,
        record_shapes: bool = False,
        profile_memory: bool = False,
        with_stack: bool = False,
        **_ignored: Any,  # schedule, with_flops, ...: accepted, not used
    ) -> None:
        self.activities = set(activities) if activities is not None else {ProfilerActivity.CPU}
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self._events: list[FunctionEvent] = []
        self._open: list[FunctionEvent] = []  # the events now running, innermost last

    def __enter__(self) -> profile:
        self.start()
        return self

    def __exit__(self, *args: object) -> None:
        self.stop()

    def start(self) -> None:
        _instrument.STATE.profilers.append(self)
        _instrument.refresh()

    def stop(self) -> None:
        if self in _instrument.STATE.profilers:
            _instrument.STATE.profilers.remove(self)
        _instrument.refresh()

    def step(self) -> None:
        """torch's schedule step: nothing to do without a schedule."""

    # ---- recording (called by the hooks) ------------------------------------
    def _begin(self, name: str, args: tuple) -> FunctionEvent:
        shapes = [list(a.shape) if isinstance(a, Tensor) else [] for a in args] if self.record_shapes else []
        parent = self._open[-1] if self._open else None
        event = FunctionEvent(name, _now_us(), threading.get_ident(), shapes, parent)
        if self.with_stack:  # torch's form, innermost first: "train.py(12): step"
            event.stack = [
                f"{f.filename}({f.lineno}): {f.name}" for f in reversed(_instrument.forward_stack())
            ]
        if parent is not None:
            parent.cpu_children.append(event)
        self._events.append(event)
        self._open.append(event)
        return event

    def _end(self, event: FunctionEvent) -> None:
        event.end_us = _now_us()
        if self._open and self._open[-1] is event:
            self._open.pop()

    # ---- results ------------------------------------------------------------
    def events(self) -> EventList:
        return EventList(self._events, self.profile_memory, with_shapes=self.record_shapes)

    def key_averages(self, group_by_input_shape: bool = False, **_: Any) -> EventList:
        return self.events().key_averages(group_by_input_shape)

    def export_chrome_trace(self, path: str) -> None:
        """Chrome trace JSON (chrome://tracing, ui.perfetto.dev): one complete ("X") event per record."""
        pid = os.getpid()
        trace = [
            {
                "ph": "X",
                "cat": "cpu_op",
                "name": event.name,
                "pid": pid,
                "tid": event.thread,
                "ts": event.start_us,
                "dur": event.cpu_time_total,
                "args": {
                    "Input Dims": event.input_shapes,
                    "Self CPU Mem": event.self_cpu_memory_usage,
                    **({"Call stack": ";".join(event.stack)} if event.stack else {}),
                },
            }
            for event in self._events
        ]
        with open(path, "w") as f:
            json.dump({"traceEvents": trace, "displayTimeUnit": "ms"}, f)


class record_function:  # noqa: N801 - torch's name
    """A named block in the profile (context manager or decorator); the ops inside are its children."""

    def __init__(self, name: str, args: str | None = None) -> None:
        self.name = name
        self.args = args
        self._event: FunctionEvent | None = None
        self._profiler: profile | None = None

    def __enter__(self) -> record_function:
        profilers = _instrument.STATE.profilers
        if profilers:
            self._profiler = profilers[-1]
            self._event = self._profiler._begin(self.name, ())
        return self

    def __exit__(self, *args: object) -> None:
        if self._event is not None and self._profiler is not None:
            self._profiler._end(self._event)
        self._event = self._profiler = None

    def __call__(self, func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with record_function(self.name, self.args):
                return func(*args, **kwargs)

        return wrapper
