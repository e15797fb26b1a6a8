"""One walk of the autograd graph into plain data, shared by make_dot and to_html.

The walk follows torchviz's picture: the output tensor (and the base of a view), every
backward node reached through `next_functions`, and for each AccumulateGrad the leaf
tensor it fills. Edges point the way the forward pass went: from an input to the node
that used it, and from the last node to the output tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from antorcha._grad_mode import no_grad
from antorcha._tensor import Tensor
from antorcha.autograd.function import AccumulateGrad, Node


@dataclass
class GraphNode:
    key: str  # the DOT node name and the key in to_html's JSON
    kind: str  # "backward", "param" (a leaf tensor), "output", "base" (of a view output), "saved"
    name: str  # AddmmBackward0, a parameter's name, or "" for an unnamed tensor
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    inputs: list[str] = field(default_factory=list)  # keys of the nodes feeding this one
    attrs: dict[str, str] = field(default_factory=dict)
    saved: list[tuple[str, Tensor]] = field(default_factory=list)  # (label, tensor) of a backward node
    saved_error: str | None = None  # why the saved tensors cannot be read (freed by backward, ...)
    ref: Any = None  # the Node or Tensor itself


@dataclass
class Graph:
    nodes: dict[str, GraphNode]
    edges: list[tuple[str, str, str]]  # (tail, head, kind): kind "" | "saved" | "view"


def dtype_name(tensor: Tensor) -> str:
    return str(tensor.dtype).rsplit(".", 1)[-1]  # antorcha.float32 -> float32


def walk(output: Tensor | tuple[Tensor, ...], params: dict[str, Tensor] | None = None) -> Graph:
    """The graph behind `output` (a tensor or a tuple of tensors), in discovery order."""
    param_names = {id(t): name for name, t in (params or {}).items()}
    walker = _Walker(param_names)
    for tensor in output if isinstance(output, tuple) else (output,):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"expected an antorcha Tensor or a tuple of Tensors, got {type(tensor).__name__}")
        walker.add_output(tensor, "output")
    return Graph(walker.nodes, walker.edges)


class _Walker:
    def __init__(self, param_names: dict[int, str]) -> None:
        self.param_names = param_names
        self.nodes: dict[str, GraphNode] = {}
        self.edges: list[tuple[str, str, str]] = []
        self.key_of: dict[int, str] = {}  # id of a Node or Tensor -> its key

    def _new(self, obj: Any, kind: str, name: str, tensor: Tensor | None = None) -> GraphNode:
        key = f"n{len(self.nodes)}"
        node = GraphNode(key, kind, name, ref=obj)
        if tensor is not None:
            node.shape, node.dtype = tuple(tensor.shape), dtype_name(tensor)
        self.nodes[key] = node
        self.key_of[id(obj)] = key
        return node

    def _edge(self, tail: str, head: str, kind: str = "") -> None:
        self.edges.append((tail, head, kind))
        if kind != "saved":
            self.nodes[head].inputs.append(tail)

    def add_output(self, tensor: Tensor, kind: str) -> str:
        if id(tensor) in self.key_of:
            return self.key_of[id(tensor)]
        node = self._new(tensor, kind, self.param_names.get(id(tensor), ""), tensor)
        if tensor.grad_fn is not None:
            self._edge(self.add_backward(tensor.grad_fn), node.key)
        if tensor._base is not None:
            self._edge(self.add_output(tensor._base, "base"), node.key, "view")
        return node.key

    def add_backward(self, root: Node) -> str:
        """Every node reachable from `root`; iterative, so a long graph (an RNN) cannot overflow."""
        stack = [root]
        self._add_one(root)
        while stack:
            fn = stack.pop()
            for nxt, _ in fn.next_functions:
                if nxt is None:
                    continue
                if id(nxt) not in self.key_of:
                    self._add_one(nxt)
                    stack.append(nxt)
                self._edge(self.key_of[id(nxt)], self.key_of[id(fn)])
        return self.key_of[id(root)]

    def _add_one(self, fn: Node) -> None:
        node = self._new(fn, "backward", fn.name())
        node.attrs = node_attributes(fn)
        node.saved, node.saved_error = saved_of(fn)
        if isinstance(fn, AccumulateGrad) and fn.variable is not None:
            var = fn.variable
            leaf = self._new(var, "param", self.param_names.get(id(var), ""), var)
            self._edge(leaf.key, node.key)


def saved_of(fn: Node) -> tuple[list[tuple[str, Tensor]], str | None]:
    """A node's saved tensors, each with a label that says where it came from."""
    entries = fn._saved or []
    try:
        with no_grad():  # unpacking the saved output must not record a new graph edge
            tensors = fn.saved_tensors
    except RuntimeError as error:  # freed by backward, or modified in place since
        return [], str(error)
    labelled = []
    for i, (entry, tensor) in enumerate(zip(entries, tensors)):
        if isinstance(tensor, Tensor):
            labelled.append((_saved_label(fn, i, entry), tensor))
    return labelled, None


def _saved_label(fn: Node, i: int, entry: tuple) -> str:
    """`result` for the node's output, `input[k]` for its k-th input, else `saved[i]`."""
    kind, value = entry
    if kind == "output":
        return "result"
    if kind == "tensor":
        for k, (nxt, nr) in enumerate(fn.next_functions):
            is_leaf = isinstance(nxt, AccumulateGrad) and nxt.variable is value
            if is_leaf or (nxt is not None and nxt is value._grad_fn and nr == value._output_nr):
                return f"input[{k}]"
    return f"saved[{i}]"


_NOT_ATTRIBUTES = {"next_functions", "needs_input_grad"}


def node_attributes(fn: Node) -> dict[str, str]:
    """The non-tensor values forward kept on the node (torch shows its `_saved_*` ones)."""
    names = fn._forward_attributes
    if not names and not fn._builtin_op:  # a custom Function: what its forward set on ctx
        names = tuple(k for k in vars(fn) if not k.startswith("_") and k not in _NOT_ATTRIBUTES)
    attrs = {}
    for name in names:
        value = getattr(fn, name, None)
        if isinstance(value, Tensor):
            attrs[name] = "[saved tensor]"
        elif hasattr(value, "shape") and hasattr(value, "dtype"):  # a NumPy/CuPy array
            attrs[name] = f"[array {tuple(value.shape)} {value.dtype}]"
        else:
            attrs[name] = str(value)
    return attrs
