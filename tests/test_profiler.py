"""antorcha.profiler against torch.profiler: the table's columns, op names, shapes, memory, nesting, trace."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import torch
import torch.profiler

import antorcha
from antorcha.autograd import _instrument
from antorcha.autograd.function import Node, Op
from antorcha.profiler import ProfilerActivity, profile, record_function

A = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
B = np.random.default_rng(1).standard_normal((3, 2)).astype(np.float32)


def _profile(lib, **options):
    a = lib.tensor(A, requires_grad=True)
    b = lib.tensor(B)
    recording = lib.profiler.profile(activities=[lib.profiler.ProfilerActivity.CPU], **options)
    with recording as prof, lib.profiler.record_function("step"):
        (a @ b).relu().sum().backward()
    return prof


def _columns(table: str) -> list[str]:
    return re.split(r"\s{2,}", table.splitlines()[1].strip())


def test_table_has_torch_columns():
    for options, grouped in (({}, False), ({"profile_memory": True}, False), ({"record_shapes": True}, True)):
        ours = _profile(antorcha, **options).key_averages(group_by_input_shape=grouped)
        theirs = _profile(torch, **options).key_averages(group_by_input_shape=grouped)
        table = ours.table(sort_by="self_cpu_time_total", row_limit=10)
        assert _columns(table) == _columns(theirs.table(sort_by="self_cpu_time_total", row_limit=10))
        assert table.splitlines()[-1].startswith("Self CPU time total: ")
        assert len(table.splitlines()) <= 10 + 5


def test_names_are_torchs_aten_and_engine_names():
    ours = {event.name for event in _profile(antorcha).events()}
    theirs = {event.name for event in _profile(torch).events()}
    forward = {"aten::mm", "aten::relu", "aten::sum"}
    assert forward <= ours and forward <= theirs
    backward = {n for n in ours if n.startswith("autograd::engine::evaluate_function: ")}
    assert backward == {
        f"autograd::engine::evaluate_function: {name}"
        for name in ("MmBackward0", "ReluBackward0", "SumBackward0")
    }
    assert backward <= theirs  # torch also times AccumulateGrad, which antorcha does not


def test_input_shapes_and_output_bytes_match_torch():
    def first_mm(lib):
        prof = _profile(lib, record_shapes=True, profile_memory=True)
        return next(event for event in prof.events() if event.name == "aten::mm")

    ours, theirs = first_mm(antorcha), first_mm(torch)
    assert ours.input_shapes == theirs.input_shapes == [[4, 3], [3, 2]]
    assert ours.cpu_memory_usage == theirs.cpu_memory_usage == 4 * 2 * 4  # its (4, 2) float32 output


def test_record_function_contains_the_ops_inside():
    prof = _profile(antorcha, profile_memory=True)
    events = prof.events()
    step = next(event for event in events if event.name == "step")
    assert step.cpu_parent is None
    assert all(event.cpu_parent is not None for event in events if event is not step)
    assert {child.name for child in step.cpu_children} >= {"aten::mm", "aten::relu", "aten::sum"}
    children_time = sum(child.cpu_time_total for child in step.cpu_children)
    assert step.cpu_time_total >= children_time
    assert abs(step.self_cpu_time_total - (step.cpu_time_total - children_time)) < 1e-6
    assert step.self_cpu_memory_usage == 0 and step.cpu_memory_usage > 0
    averages = {row.key: row for row in prof.key_averages()}
    assert averages["step"].count == 1 and averages["aten::relu"].count == 1
    total = sum(row.self_cpu_time_total for row in averages.values())
    assert abs(total - step.cpu_time_total) < 1e-3  # every µs inside is some event's self time


def test_record_function_decorator_and_outside_a_profile():
    @record_function("helper")
    def helper(x):
        return x * 2

    helper(antorcha.ones(2))  # no profile: nothing recorded, nothing fails
    with profile() as prof:
        helper(antorcha.ones(2))
    names = [event.name for event in prof.events()]
    assert names == ["helper", "aten::mul"]


def test_export_chrome_trace(tmp_path):
    prof = _profile(antorcha, record_shapes=True)
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())["traceEvents"]
    assert len(trace) == len(prof.events())
    assert all(e["ph"] == "X" and e["dur"] >= 0 and isinstance(e["ts"], float) for e in trace)
    mm = next(e for e in trace if e["name"] == "aten::mm")
    assert mm["args"]["Input Dims"] == [[4, 3], [3, 2]]
    step = next(e for e in trace if e["name"] == "step")
    assert step["ts"] <= mm["ts"] and mm["ts"] + mm["dur"] <= step["ts"] + step["dur"]


def _opcodes_of_op_path(run) -> int:
    """How many bytecodes run inside antorcha/autograd/ while `run()` runs."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if "antorcha/autograd/" not in frame.f_code.co_filename:
            return None
        frame.f_trace_opcodes = True
        if event == "opcode":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        run()
    finally:
        sys.settrace(None)
    return count


def test_off_costs_nothing_on_the_op_path():
    """Off, the op path is exactly function.py's code: not even a flag is tested."""
    a, b = antorcha.randn(8, requires_grad=True), antorcha.randn(8)

    def step():
        (a * b).sum().backward()

    step()  # warm: first-call work (imports, caches) is not the op path
    before = _opcodes_of_op_path(step)
    with profile():
        assert not _instrument.is_plain()
        on = _opcodes_of_op_path(step)
    assert _instrument.is_plain()
    assert Op.apply.__func__.__code__.co_filename.endswith("autograd/function.py")
    assert Node._run.__code__.co_filename.endswith("autograd/function.py")
    after = _opcodes_of_op_path(step)
    assert after == before  # the same bytecodes as before any profile, none added
    assert on > before


def test_profiler_activity_and_defaults():
    assert ProfilerActivity.CPU is not ProfilerActivity.CUDA
    prof = profile()
    assert not prof.record_shapes and not prof.profile_memory and not prof.with_stack
    assert _instrument.is_plain()


def test_with_stack_records_the_callers_line():
    x = antorcha.ones(3)
    with profile(with_stack=True) as prof:
        x.exp()  # this line
    (event,) = prof.events()
    assert event.name == "aten::exp"
    assert event.stack[0].startswith(f"{__file__}(") and event.stack[0].endswith(
        ": test_with_stack_records_the_callers_line"
    )
