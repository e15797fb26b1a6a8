"""to_html: one self-contained page to explore the autograd graph, and watch() to feed it.

backward() frees what the nodes saved and passes gradients on without keeping them, so a
page made afterwards can only show the leaves' `.grad`. `watch(loss)` before
`loss.backward()` registers a pre-hook on every node that records the statistics of the
gradient reaching it, and snapshots the saved tensors' statistics while they still exist.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import weakref
from typing import Any

from antorcha._tensor import Tensor
from antorcha.viz._graph import Graph, GraphNode, dtype_name, walk
from antorcha.viz._layout import layered_svg
from antorcha.viz._page import PAGE

# node -> statistics; weak, so watching never keeps a graph alive
_GRADS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SAVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

_NO_GRAD_NOTE = (
    "No gradient recorded: run backward() first; for the nodes inside the graph, call "
    "antorcha.viz.watch(output) before backward()."
)


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)  # JSON has no NaN/inf: keep them readable


def tensor_stats(tensor: Tensor) -> dict[str, Any]:
    """shape, dtype, and min/max/mean/norm of the values (float64 so half precision cannot overflow)."""
    stats: dict[str, Any] = {"shape": list(tensor.shape), "dtype": dtype_name(tensor)}
    array = tensor.detach()._data
    if array.size and (array.dtype.kind in "biuf" or array.dtype.name == "bfloat16"):
        values = array.astype("float64")
        stats.update(
            min=_number(float(values.min())),
            max=_number(float(values.max())),
            mean=_number(float(values.mean())),
            norm=_number(float((values * values).sum() ** 0.5)),
        )
    return stats


class Watch:
    """What watch() registered; `remove()` takes the hooks off again."""

    def __init__(self, handles: list[Any]) -> None:
        self.handles = handles

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


def watch(output: Tensor | tuple[Tensor, ...]) -> Watch:
    """Record, during the next backward(), the gradient reaching each node of output's graph."""
    handles = []
    for node in walk(output).nodes.values():
        if node.kind != "backward":
            continue
        fn = node.ref
        _SAVED[fn] = ([{"label": label, **tensor_stats(t)} for label, t in node.saved], node.saved_error)
        for nr in range(fn._n_outputs):
            handles.append(fn.register_prehook(_recorder(fn, nr), nr))
    return Watch(handles)


def _recorder(fn: Any, nr: int) -> Any:
    ref = weakref.ref(fn)

    def record(grad: Tensor) -> None:
        node = ref()
        if node is not None:
            _GRADS.setdefault(node, {})[nr] = tensor_stats(grad)

    return record


def _grad_of(node: GraphNode) -> tuple[dict | None, str]:
    ref = node.ref
    if node.kind == "param" and ref.grad is not None:
        return tensor_stats(ref.grad), ".grad"
    if node.kind == "backward":
        recorded = _GRADS.get(ref)
        if recorded:
            nr = min(recorded)
            return recorded[nr], f"into output {nr}" if len(recorded) > 1 else "incoming"
        variable = getattr(ref, "variable", None)
        if variable is not None and variable.grad is not None:
            return tensor_stats(variable.grad), "leaf .grad"
    return None, ""


def _node_data(node: GraphNode) -> dict[str, Any]:
    saved = [{"label": label, **tensor_stats(t)} for label, t in node.saved]
    note = node.saved_error
    if node.kind == "backward" and note and node.ref in _SAVED:  # freed since watch() saw them
        saved, note = _SAVED[node.ref]
    grad, grad_label = _grad_of(node)
    return {
        "key": node.key, "kind": node.kind, "name": node.name, "shape": node.shape, "dtype": node.dtype,
        "inputs": node.inputs, "attrs": node.attrs, "saved": saved, "saved_note": note,
        "grad": grad, "grad_label": grad_label,
    }


def _labels(graph: Graph) -> dict[str, str]:
    from antorcha.viz.dot import tensor_label

    return {
        key: node.name if node.kind == "backward" else tensor_label(node.name, node.shape or ())
        for key, node in graph.nodes.items()
    }


def _graphviz_svg(output: Any, params: dict | None) -> str | None:
    """Graphviz's drawing of make_dot's graph, or None where graphviz or `dot` is missing."""
    if shutil.which("dot") is None:
        return None
    from antorcha.viz.dot import make_dot

    try:
        svg = make_dot(output, params).pipe(format="svg").decode("utf-8")
    except ImportError:  # the graphviz package is an optional extra: the page is drawn here then
        return None
    return svg[svg.index("<svg") :]  # inline: no XML prolog or doctype


def to_html(output: Tensor | tuple[Tensor, ...], path: str | os.PathLike, params: dict | None = None) -> str:
    """Write one HTML page (no network needed) showing output's autograd graph; returns the path.

    Clicking a node shows its inputs, saved tensors (shape, dtype, min/max/mean) and the
    gradient that reached it: the leaves' `.grad` after backward(), and every node's when
    `watch(output)` was called before backward(). The SVG comes from Graphviz's `dot`
    where it is installed, else from a plain layered layout drawn here.
    """
    graph = walk(output, params)
    svg = _graphviz_svg(output, params) or layered_svg(graph, _labels(graph))
    data = {
        "nodes": [_node_data(node) for node in graph.nodes.values()],
        "edges": [[t, h, kind] for t, h, kind in graph.edges],
        "grad_note": _NO_GRAD_NOTE,
    }
    text = json.dumps(data).replace("</", "<\\/")  # a "</script>" inside a name cannot end the block
    page = PAGE.replace("__TITLE__", "antorcha autograd graph").replace("__SVG__", svg)
    page = page.replace("__DATA__", text)
    with open(path, "w", encoding="utf-8") as file:
        file.write(page)
    return os.fspath(path)

