"""Profiler and anomaly-mode hooks on the op path, installed only while one of them is on.

Nothing here runs while both are off: `refresh()` then puts the plain `Op.apply`,
`Function.apply` and `Node._run` back on their classes, so the op path has no flag to
test and no extra call. While either is on, the traced versions below replace them:
they time each forward op and backward node for the active profiler, remember each
new node's forward stack, and check a backward node's results for NaN (anomaly mode).
"""

from __future__ import annotations

import re
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

from antorcha._tensor import Tensor
from antorcha.autograd.function import Function, Node, Op

_PLAIN_OP_APPLY = Op.__dict__["apply"]
_PLAIN_FUNCTION_APPLY = Function.__dict__["apply"]
_PLAIN_RUN = Node.__dict__["_run"]

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)  # antorcha/


class _State:
    """What is on: the profilers recording (innermost last) and anomaly mode's two flags."""

    profilers: list = []
    anomaly = False
    check_nan = True


STATE = _State()


def refresh() -> None:
    """Install the traced op path if a profiler or anomaly mode is on, else the plain one."""
    on = STATE.anomaly or bool(STATE.profilers)
    Op.apply = classmethod(_traced_op_apply) if on else _PLAIN_OP_APPLY  # type: ignore[method-assign]
    Function.apply = classmethod(_traced_function_apply) if on else _PLAIN_FUNCTION_APPLY  # type: ignore[method-assign]
    Node._run = _traced_run if on else _PLAIN_RUN  # type: ignore[method-assign]


def is_plain() -> bool:
    """Whether the op path is the plain one (nothing installed)."""
    return (
        Op.__dict__["apply"] is _PLAIN_OP_APPLY
        and Function.__dict__["apply"] is _PLAIN_FUNCTION_APPLY
        and Node.__dict__["_run"] is _PLAIN_RUN
    )


def aten_name(op: type) -> str:
    """torch's profiler name for an Op class: Mm -> aten::mm, LogSoftmax -> aten::log_softmax."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", op.__name__.lstrip("_")).lower()
    return f"aten::{snake}"


def forward_stack() -> traceback.StackSummary:
    """The caller's stack without antorcha's own frames, outermost first.

    Source lines are read only if the stack is printed (lookup_lines=False): reading them for
    every op (or even stat-ing their files, as StackSummary.extract does) would make anomaly mode
    several times slower still.
    """
    kept = []
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if not code.co_filename.startswith(_PACKAGE_DIR):
            kept.append((code.co_filename, frame.f_lineno, code.co_name, None))
        frame = frame.f_back
    kept.reverse()
    return traceback.StackSummary.from_list(kept)


def _remember_stack(out: Any) -> None:
    """Give the node that made `out` (if any: not under no_grad) the stack of this forward call."""
    first = out[0] if type(out) is tuple and out else out
    node = first.grad_fn if isinstance(first, Tensor) else None
    if node is not None and "_forward_stack" not in node.__dict__:
        node._forward_stack = forward_stack()


def _traced_op_apply(cls: type, *inputs: Tensor, params: tuple = ()) -> Any:
    return _traced_call(_PLAIN_OP_APPLY.__func__, cls, aten_name(cls), inputs, {"params": params})


def _traced_function_apply(cls: type, *args: Any, **kwargs: Any) -> Any:
    return _traced_call(_PLAIN_FUNCTION_APPLY.__func__, cls, cls.__name__, args, kwargs)


def _traced_call(plain: Any, cls: type, name: str, args: tuple, kwargs: dict) -> Any:
    profiler = STATE.profilers[-1] if STATE.profilers else None
    if profiler is None:
        out = plain(cls, *args, **kwargs)
    else:
        event = profiler._begin(name, args)
        try:
            out = plain(cls, *args, **kwargs)
        finally:
            profiler._end(event)
        event.self_cpu_memory_usage += _output_bytes(out)
    if STATE.anomaly:
        _remember_stack(out)
    return out


def _output_bytes(out: Any) -> int:
    outs = out if type(out) is tuple else (out,)
    return sum(o._data.nbytes for o in outs if isinstance(o, Tensor))


def _traced_run(node: Node, grads: list) -> tuple:
    profiler = STATE.profilers[-1] if STATE.profilers else None
    event = None
    if profiler is not None:
        event = profiler._begin(f"autograd::engine::evaluate_function: {node.name()}", ())
    try:
        results = _PLAIN_RUN(node, grads)
        if STATE.anomaly and STATE.check_nan:
            _check_nan(node, results)
    except Exception:
        if STATE.anomaly:
            _warn_forward_stack(node)
        raise
    finally:
        if event is not None:
            profiler._end(event)
    return results  # its memory is its children's: a backward formula is made of ops


def _check_nan(node: Node, results: tuple) -> None:
    for index, grad in enumerate(results):
        if grad is not None and bool(grad.isnan().any()):
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {index}th output.")


def _warn_forward_stack(node: Node) -> None:
    stack = node.__dict__.get("_forward_stack")
    if stack is None:
        warnings.warn(
            f"Error detected in {node.name()}. No forward pass information available. Enable detect "
            "anomaly during forward pass for more information.",
            stacklevel=2,
        )
        return
    warnings.warn(
        f"Error detected in {node.name()}. Traceback of forward call that caused the error:\n"
        + "".join(stack.format()),
        stacklevel=2,
    )
