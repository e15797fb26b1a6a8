"""The backward pass: walk the graph in dependency order, without recursion.

`run_backward` counts, for every node reachable from the roots, how many edges
lead into it; a node runs once all of its consumers have sent their gradients
(Kahn's algorithm), so a chain of 100,000 ops needs no deep Python stack.
"""

from __future__ import annotations

from collections.abc import Sequence

from antorcha._device import xp_of as _xp
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import AccumulateGrad, Node, edge_of
from antorcha.autograd.grad_mode import STATE


def _count_dependencies(roots: list[Node]) -> dict[Node, int]:
    dependencies: dict[Node, int] = {}
    seen = set(roots)
    stack = list(roots)
    while stack:
        node = stack.pop()
        for child, _ in node.next_functions:
            if child is None:
                continue
            dependencies[child] = dependencies.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return dependencies


def _prune_to_targets(
    roots: list[Node], target_nodes: set[Node]
) -> tuple[set[Node], set[Node], dict[Node, int]]:
    """For autograd.grad: only nodes with a target below them run, as in torch.

    Returns (nodes to run, nodes that receive gradients, dependency counts among them).
    """
    parents: dict[Node, list[Node]] = {}
    seen = set(roots)
    stack = list(roots)
    while stack:
        node = stack.pop()
        for child, _ in node.next_functions:
            if child is None:
                continue
            parents.setdefault(child, []).append(node)
            if child not in seen:
                seen.add(child)
                stack.append(child)
    runnable: set[Node] = set()
    stack = [node for node in target_nodes if node in seen]
    while stack:
        for parent in parents.get(stack.pop(), ()):
            if parent not in runnable:
                runnable.add(parent)
                stack.append(parent)
    relevant = runnable | (target_nodes & seen)
    dependencies: dict[Node, int] = {}
    for node in runnable:
        for child, _ in node.next_functions:
            if child in relevant:
                dependencies[child] = dependencies.get(child, 0) + 1
    return runnable, relevant, dependencies


def _apply_pre_hooks(node: Node, grads: list) -> None:
    for nr, hooks in node._pre_hooks.items():
        if nr < len(grads) and grads[nr] is not None:
            for hook in list(hooks):
                replaced = hook(grads[nr])
                if replaced is not None:
                    _check_hook_result(hook, grads[nr], replaced)
                    grads[nr] = replaced


def _check_hook_result(hook: object, grad: Tensor, replaced: object) -> None:
    name = getattr(hook, "__name__", type(hook).__name__)
    if not isinstance(replaced, Tensor):
        raise TypeError(f"hook '{name}' returned {type(replaced).__name__}; expected a Tensor or None")
    if replaced._data.shape != grad._data.shape:
        raise RuntimeError(
            f"hook '{name}' has changed the size of value (was {list(grad.shape)}, "
            f"got {list(replaced.shape)})"
        )
    if replaced._data.dtype != grad._data.dtype:
        raise RuntimeError(
            f"hook '{name}' has changed the type of value (was {grad.dtype} got {replaced.dtype})"
        )


def _accumulate_into_leaf(node: AccumulateGrad, grad: Tensor, create_graph: bool) -> None:
    variable = node.variable
    if variable is None:
        return
    if variable._grad is None:
        # copy: the same gradient array may reach several leaves (e.g. from an add);
        # ascontiguousarray also turns a transposed gradient into a plain C-order array
        variable._grad = (
            grad if create_graph else wrap(_xp(grad._data).array(grad._data, order="C"), device=grad._device)
        )
    elif create_graph:
        variable._grad = variable._grad + grad
    else:
        variable._grad._data += grad._data


def run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[Tensor],
    retain_graph: bool,
    create_graph: bool,
    capture: Sequence[Tensor] | None = None,
) -> list[Tensor | None] | None:
    """Backpropagate `root_grads` from `roots`.

    Without `capture`, gradients accumulate into the leaves' `.grad` (Tensor.backward).
    With `capture`, nothing accumulates and the gradients reaching those tensors are
    returned instead (autograd.grad).
    """
    buffers: dict[Node, list] = {}
    root_nodes: list[Node] = []
    for tensor, grad in zip(roots, root_grads):
        node, nr = edge_of(tensor)
        if node is None:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        buffer = buffers.setdefault(node, [None] * node._n_outputs)
        buffer[nr] = grad if buffer[nr] is None else buffer[nr] + grad
        if node not in root_nodes:
            root_nodes.append(node)

    targets: dict[tuple[Node, int], list[int]] = {}
    captured: list[Tensor | None] = []
    if capture is not None:
        for index, tensor in enumerate(capture):
            node, nr = edge_of(tensor)
            if node is not None:
                targets.setdefault((node, nr), []).append(index)
        captured = [None] * len(capture)

    runnable: set[Node] | None = None
    relevant: set[Node] = set()
    if capture is None:
        dependencies = _count_dependencies(root_nodes)
    else:
        runnable, relevant, dependencies = _prune_to_targets(root_nodes, {node for node, _ in targets})
        root_nodes = [n for n in root_nodes if n in relevant]
    ready = [n for n in root_nodes if dependencies.get(n, 0) == 0]
    previous_mode = STATE.enabled
    STATE.enabled = create_graph  # backward formulas build a graph only for create_graph
    try:
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None) or [None] * node._n_outputs
            if node._pre_hooks:
                _apply_pre_hooks(node, grads)
            if targets:
                for nr, grad in enumerate(grads):
                    for index in targets.get((node, nr), ()):
                        captured[index] = grad
            if runnable is not None and node not in runnable:
                continue  # a target with no other target below it
            if isinstance(node, AccumulateGrad):
                if capture is None and grads[0] is not None:
                    _accumulate_into_leaf(node, grads[0], create_graph)
                continue
            results = node._run(grads)
            if node._hooks:
                for hook in node._hooks:
                    hook(results, tuple(grads))
            if not retain_graph:
                node._release()
            for (child, nr), grad in zip(node.next_functions, results):
                if child is None or (runnable is not None and child not in relevant):
                    continue
                if grad is not None:
                    buffer = buffers.get(child)
                    if buffer is None:
                        buffer = buffers[child] = [None] * child._n_outputs
                    buffer[nr] = grad if buffer[nr] is None else buffer[nr] + grad
                remaining = dependencies[child] - 1
                dependencies[child] = remaining
                if remaining == 0:
                    ready.append(child)
            # drop this step's references now: a gradient held only by the buffers is one
            # a later backward formula may reuse in place (see ops/unary.py, Relu)
            results = grads = grad = buffer = None
    finally:
        STATE.enabled = previous_mode
    return captured if capture is not None else None
