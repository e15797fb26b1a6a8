"""make_dot: torchviz's picture of the autograd graph, as a `graphviz.Digraph`.

Colours follow torchviz: backward nodes grey (Graphviz's default fill), leaf tensors
lightblue, the output darkolivegreen1 (the base of a view output darkolivegreen3), saved
tensors orange. The `graphviz` package only writes DOT text; drawing it needs Graphviz's
`dot` program, so a missing program gets an error that says what to install.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from antorcha._tensor import Tensor
from antorcha.viz._graph import Graph, GraphNode, dtype_name, walk

_COLOURS = {"param": "lightblue", "output": "darkolivegreen1", "base": "darkolivegreen3", "saved": "orange"}

DOT_MISSING = (
    "Graphviz's `dot` program was not found on PATH, so the graph cannot be drawn. "
    "Install Graphviz (Debian/Ubuntu: `apt-get install graphviz`; macOS: `brew install graphviz`). "
    "The DOT text is still available as `.source`."
)


def _graphviz() -> Any:
    try:
        import graphviz
    except ImportError as error:
        raise ImportError(
            "antorcha.viz.make_dot needs the `graphviz` package: pip install 'antorcha[viz]'"
        ) from error
    return graphviz


@functools.cache
def _dot_missing_error() -> type[RuntimeError]:
    """A subclass of graphviz's ExecutableNotFound (a RuntimeError) with our message."""
    graphviz = _graphviz()

    class DotNotFoundError(graphviz.ExecutableNotFound):
        def __init__(self) -> None:
            RuntimeError.__init__(self, DOT_MISSING)

    return DotNotFoundError


def _with_dot_check(method: Any) -> Any:
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        graphviz = _graphviz()
        try:
            return method(self, *args, **kwargs)
        except graphviz.ExecutableNotFound as error:
            raise _dot_missing_error()() from error

    wrapped.__name__, wrapped.__doc__ = method.__name__, method.__doc__
    return wrapped


@functools.cache
def _digraph_class() -> type:
    """graphviz.Digraph whose render/pipe/view say plainly when `dot` is missing."""
    digraph = _graphviz().Digraph
    methods = {name: _with_dot_check(getattr(digraph, name)) for name in ("render", "pipe", "view")}
    return type("AutogradDigraph", (digraph,), methods)


def _size_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def tensor_label(name: str, shape: tuple[int, ...], dtype: str | None = None) -> str:
    """torchviz's `name\\n (3, 4)`; a saved tensor also shows its dtype."""
    text = f"{name}\n {_size_text(shape)}"
    return f"{text} {dtype}" if dtype else text


def backward_label(node: GraphNode, show_attrs: bool, max_attr_chars: int) -> str:
    """The node's name; with show_attrs, a two-column table of its attributes below a rule."""
    attrs = dict(node.attrs)
    for label, _ in node.saved:
        attrs[label] = "[saved tensor]"
    if not show_attrs or not attrs:
        return node.name
    width = max(max_attr_chars, 3)
    values = {k: (v if len(v) <= width else v[: width - 3] + "...") for k, v in attrs.items()}
    key_width = max(len(k) for k in values)
    value_width = max(len(v) for v in values.values())
    rule = "-" * max(key_width + value_width + 2, len(node.name))
    rows = [f"{k:<{key_width}}: {v:>{value_width}}" for k, v in values.items()]
    return "\n".join([node.name, rule, *rows])


def make_dot(
    var: Tensor | tuple[Tensor, ...],
    params: dict[str, Tensor] | None = None,
    show_attrs: bool = False,
    show_saved: bool = False,
    max_attr_chars: int = 50,
) -> Any:
    """The autograd graph behind `var` as a graphviz.Digraph, drawn as torchviz draws it.

    params: name -> tensor (e.g. `dict(model.named_parameters())`) names the leaf nodes.
    show_attrs: list each backward node's attributes under its name.
    show_saved: add an orange node (name, shape, dtype) per tensor saved for backward.
    """
    _graphviz()  # the install hint before any work
    graph = walk(var, params)
    node_attr = dict(
        style="filled", shape="box", align="left", fontsize="10", ranksep="0.1", height="0.2",
        fontname="monospace",
    )
    dot = _digraph_class()(node_attr=node_attr, graph_attr=dict(size="12,12"))
    for node in graph.nodes.values():
        if node.kind == "backward":
            dot.node(node.key, backward_label(node, show_attrs, max_attr_chars))
        else:
            dot.node(node.key, tensor_label(node.name, node.shape or ()), fillcolor=_COLOURS[node.kind])
    for tail, head, kind in graph.edges:
        dot.edge(tail, head, **({"style": "dotted"} if kind == "view" else {}))
    if show_saved:
        _add_saved(dot, graph)
    _resize(dot)
    return dot


def _add_saved(dot: Any, graph: Graph) -> None:
    """One orange node per saved array (two nodes saving the same array share it)."""
    keys: dict[int, str] = {}
    for node in list(graph.nodes.values()):
        for label, tensor in node.saved:
            array_id = id(tensor._data)
            if array_id not in keys:
                keys[array_id] = f"s{len(keys)}"
                text = tensor_label(label, tuple(tensor.shape), dtype_name(tensor))
                dot.node(keys[array_id], text, fillcolor=_COLOURS["saved"])
            dot.edge(node.key, keys[array_id], dir="none")


def _resize(dot: Any, inches_per_line: float = 0.15, least: float = 12.0) -> None:
    """Grow the drawing with its content, as torchviz does, so big graphs stay legible."""
    size = max(least, len(dot.body) * inches_per_line)
    dot.graph_attr.update(size=f"{size},{size}")


def render(dot: Any, path: str | os.PathLike, format: str = "svg") -> str:
    """Draw `dot` into `path` (an .svg or .png) and return the path written.

    Raises RuntimeError, saying how to install Graphviz, where its `dot` program is missing.
    """
    if format not in ("svg", "png"):
        raise ValueError(f"render: format must be 'svg' or 'png', got {format!r}")
    graphviz = _graphviz()
    try:
        data = graphviz.Digraph.pipe(dot, format=format)
    except graphviz.ExecutableNotFound as error:
        raise _dot_missing_error()() from error
    with open(path, "wb") as file:
        file.write(data)
    return os.fspath(path)
