"""What the profiler recorded: events, their averages per name, and torch's table of them."""

from __future__ import annotations

from typing import Any

_NAME_WIDTH_MAX = 55  # torch's cap on the Name column
_COLUMN_WIDTH = 12
_SHAPES_WIDTH = 28


class FunctionEvent:
    """One timed op, backward node or record_function block (times in µs, as torch gives them)."""

    def __init__(self, name: str, start_us: float, thread: int, input_shapes: list, parent: Any) -> None:
        self.name = name
        self.key = name
        self.start_us = start_us
        self.end_us = start_us
        self.thread = thread
        self.input_shapes = input_shapes
        self.cpu_parent = parent
        self.cpu_children: list[FunctionEvent] = []
        self.self_cpu_memory_usage = 0  # bytes of the outputs this event itself made
        self.stack: list[str] = []  # with_stack: where it was called, innermost first

    count = 1

    @property
    def cpu_time_total(self) -> float:
        return self.end_us - self.start_us

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total

    @property
    def self_cpu_time_total(self) -> float:
        return self.cpu_time_total - sum(child.cpu_time_total for child in self.cpu_children)

    @property
    def cpu_memory_usage(self) -> int:
        """Bytes made by this event and everything inside it."""
        return self.self_cpu_memory_usage + sum(child.cpu_memory_usage for child in self.cpu_children)

    def __repr__(self) -> str:
        return (
            f"<FunctionEvent name={self.name} cpu_time_total={self.cpu_time_total:.3f}us "
            f"input_shapes={self.input_shapes} cpu_memory_usage={self.cpu_memory_usage}>"
        )


class FunctionEventAvg:
    """The events of one name (and input shapes, when grouped by them), summed."""

    def __init__(self, key: str, input_shapes: list) -> None:
        self.key = key
        self.input_shapes = input_shapes
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = 0
        self.self_cpu_memory_usage = 0

    def add(self, event: FunctionEvent) -> None:
        self.count += 1
        self.cpu_time_total += event.cpu_time_total
        self.self_cpu_time_total += event.self_cpu_time_total
        self.cpu_memory_usage += event.cpu_memory_usage
        self.self_cpu_memory_usage += event.self_cpu_memory_usage

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total / max(self.count, 1)

    def __repr__(self) -> str:
        return (
            f"<FunctionEventAvg key={self.key} count={self.count} cpu_time_total={self.cpu_time_total:.3f}us>"
        )


class EventList(list):
    """A list of events (or averages) that prints as torch's profiler table."""

    def __init__(self, items: Any = (), profile_memory: bool = False, with_shapes: bool = False) -> None:
        super().__init__(items)
        self._profile_memory = profile_memory
        self._with_shapes = with_shapes

    @property
    def self_cpu_time_total(self) -> float:
        return sum(event.self_cpu_time_total for event in self)

    def key_averages(self, group_by_input_shape: bool = False) -> EventList:
        groups: dict[tuple, FunctionEventAvg] = {}
        for event in self:
            shapes = str(event.input_shapes) if group_by_input_shape else ""
            key = (event.key, shapes)
            if key not in groups:
                groups[key] = FunctionEventAvg(event.key, event.input_shapes if group_by_input_shape else [])
            groups[key].add(event)
        return EventList(groups.values(), self._profile_memory, with_shapes=group_by_input_shape)

    def table(self, sort_by: str | None = None, row_limit: int = 100, **_: Any) -> str:
        return _table(self, sort_by, row_limit, self._profile_memory, self._with_shapes)

    def __str__(self) -> str:
        return self.table()


def format_time(time_us: float) -> str:
    if time_us >= 1e6:
        return f"{time_us / 1e6:.3f}s"
    if time_us >= 1e3:
        return f"{time_us / 1e3:.3f}ms"
    return f"{time_us:.3f}us"


def format_memory(nbytes: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if abs(nbytes) >= size:
            return f"{nbytes / size:.2f} {unit}"
    return f"{nbytes} B"


def _table(rows: EventList, sort_by: str | None, row_limit: int, memory: bool, shapes: bool) -> str:
    if not rows:
        return ""
    total = rows.self_cpu_time_total or 1.0  # every µs is some event's self time
    name_width = min(max(len(row.key) for row in rows) + 4, _NAME_WIDTH_MAX)
    headers = ["Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
    if memory:
        headers += ["CPU Mem", "Self CPU Mem"]
    headers.append("# of Calls")
    widths = [name_width] + [_COLUMN_WIDTH] * len(headers) + ([_SHAPES_WIDTH] if shapes else [])
    headers = ["Name", *headers] + (["Input Shapes"] if shapes else [])
    ordered = sorted(rows, key=lambda row: getattr(row, sort_by), reverse=True) if sort_by else list(rows)
    if row_limit > 0:
        ordered = ordered[:row_limit]
    rule = "  ".join("-" * w for w in widths) + "  "
    lines = [rule, _line(headers, widths), rule]
    for row in ordered:
        cells = [
            _clip(row.key, name_width),
            f"{100 * row.self_cpu_time_total / total:.2f}%",
            format_time(row.self_cpu_time_total),
            f"{100 * row.cpu_time_total / total:.2f}%",
            format_time(row.cpu_time_total),
            format_time(row.cpu_time),
        ]
        if memory:
            cells += [format_memory(row.cpu_memory_usage), format_memory(row.self_cpu_memory_usage)]
        cells.append(str(row.count))
        if shapes:
            cells.append(_clip(str(row.input_shapes), _SHAPES_WIDTH))
        lines.append(_line(cells, widths))
    lines += [rule, f"Self CPU time total: {format_time(rows.self_cpu_time_total)}", ""]
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _line(cells: list[str], widths: list[int]) -> str:
    return "".join(cell.rjust(width) + "  " for cell, width in zip(cells, widths))
