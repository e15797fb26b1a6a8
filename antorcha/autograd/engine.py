"""The backward pass: walk the graph in dependency order, without recursion.

`run_backward` first prepares a `_Plan`: for every node reachable from the roots, how
many edges lead into it (for `autograd.grad`, only the nodes with a requested tensor
below them). Then one loop runs each node once all of its consumers have sent their
gradients (Kahn's algorithm), so a chain of 100,000 ops needs no deep Python stack.

The engine also knows who holds each gradient. A gradient that only the engine holds
(the `owned` flags of `_Pending`) may be overwritten: the next gradient for the same tensor is added
into it, a leaf takes it as its `.grad` without a copy, and the node that receives it
is told (`Node.may_overwrite_grad`) so that its backward may write its result there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from antorcha._device import quiet_float_errors, xp_of
from antorcha._grad_mode import STATE
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import AccumulateGrad, Node, edge_of


class _Plan:
    """What one backward call will run."""

    __slots__ = ("dependencies", "ready", "receives", "runs", "targets")

    def __init__(
        self,
        dependencies: dict[Node, int],
        ready: list[Node],
        runs: set[Node] | None = None,
        receives: set[Node] | None = None,
        targets: dict[tuple[Node, int], list[int]] | None = None,
    ) -> None:
        self.dependencies = dependencies  # how many consumers each node still waits for
        self.ready = ready  # nodes whose consumers are all done
        self.runs = runs  # autograd.grad: the nodes with a requested tensor below them
        self.receives = receives  # autograd.grad: the nodes that get gradients at all
        self.targets = targets or {}  # autograd.grad: (node, output nr) -> indices of the capture


# The gradients that have reached one node, per output, and whether only the engine holds each:
# (grads, owned). A pair of lists, not an object: one is made for nearly every node of every backward.
_Pending = tuple[list, list]


def _pending_for(node: Node) -> _Pending:
    n = node._n_outputs
    return [None] * n, [False] * n


def _walk(roots: list[Node]) -> dict[Node, list[Node]]:
    """Every node reachable from the roots -> the nodes it feeds gradients into (with repeats)."""
    children: dict[Node, list[Node]] = {}
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in children:
            continue
        children[node] = [child for child, _ in node.next_functions if child is not None]
        stack.extend(children[node])
    return children


def _plan_backward(roots: list[Node]) -> _Plan:
    """Every node reachable from the roots, with how many edges lead into it (one walk)."""
    dependencies: dict[Node, int] = {}
    seen = set(roots)
    stack = list(roots)
    while stack:
        for child, _ in stack.pop().next_functions:
            if child is None:
                continue
            dependencies[child] = dependencies.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return _Plan(dependencies, [n for n in roots if dependencies.get(n, 0) == 0])


def _plan_grad(roots: list[Node], targets: dict[tuple[Node, int], list[int]]) -> _Plan:
    """For autograd.grad: only nodes with a target below them run, as in torch."""
    children = _walk(roots)
    parents: dict[Node, list[Node]] = {}
    for node, kids in children.items():
        for child in kids:
            parents.setdefault(child, []).append(node)
    target_nodes = {node for node, _ in targets if node in children}
    runs: set[Node] = set()
    stack = list(target_nodes)
    while stack:
        for parent in parents.get(stack.pop(), ()):
            if parent not in runs:
                runs.add(parent)
                stack.append(parent)
    receives = runs | target_nodes
    dependencies: dict[Node, int] = {}
    for node in runs:
        for child in children[node]:
            if child in receives:
                dependencies[child] = dependencies.get(child, 0) + 1
    ready = [n for n in roots if n in receives and dependencies.get(n, 0) == 0]
    return _Plan(dependencies, ready, runs, receives, targets)


def _apply_pre_hooks(node: Node, pending: _Pending) -> None:
    grads, owned = pending
    for nr, hooks in node._pre_hooks.items():
        if nr < len(grads) and grads[nr] is not None:
            owned[nr] = False  # a hook may keep the tensor it was shown
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


class _FinalCallbacks(threading.local):
    """The callbacks queued during the backward call running on this thread, one list per call
    (a hook may itself call backward)."""

    def __init__(self) -> None:
        self.stack: list[list[Callable[[], None]]] = []


_FINAL_CALLBACKS = _FinalCallbacks()


def queue_callback(callback: Callable[[], None]) -> None:
    """Run `callback()` once the backward call now running has finished (torch's
    `Variable._execution_engine.queue_callback`: DDP waits for its last all-reduce there)."""
    if not _FINAL_CALLBACKS.stack:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    _FINAL_CALLBACKS.stack[-1].append(callback)


def _run_final_callbacks(callbacks: list[Callable[[], None]]) -> None:
    index = 0
    while index < len(callbacks):  # a callback may queue another
        callbacks[index]()
        index += 1


def _accumulate_into_leaf(node: AccumulateGrad, grad: Tensor, owned: bool, create_graph: bool) -> None:
    variable = node.variable
    if variable is None:
        return
    _add_to_grad(variable, grad, owned, create_graph)
    if node._post_accumulate_hooks:
        _run_post_accumulate_hooks(node, variable)


def _run_post_accumulate_hooks(node: AccumulateGrad, variable: Tensor) -> None:
    for hook in node._post_accumulate_hooks:
        if hook(variable) is not None:
            raise TypeError(f"post accumulate grad hook {hook!r} must return None")


def _add_to_grad(variable: Tensor, grad: Tensor, owned: bool, create_graph: bool) -> None:
    if variable._grad is None:
        if create_graph:
            variable._grad = grad
        elif owned and grad._data.flags.c_contiguous:
            variable._grad = grad  # nothing else holds it: no copy
        else:  # a copy: the caller, a hook or another leaf may hold the same array; C order
            variable._grad = wrap(xp_of(grad._data).array(grad._data, order="C"), device=grad._device)
    elif create_graph:
        variable._grad = variable._grad + grad
    else:
        variable._grad._data += grad._data


# Reusing a gradient's memory saves an allocation and a pass over it, which only pays for
# large arrays: smaller gradients are never marked as the engine's, so tiny graphs skip the checks.
REUSE_MIN_ELEMENTS = 4096


def _owned(index: int, results: tuple, pending: _Pending) -> bool:
    """Whether only the engine holds result `index` (not None, of at least REUSE_MIN_ELEMENTS:
    the caller checks) of a built-in op's backward: an array of its own (not a view), sent to no
    other input (add's backward sends one to both), and, if it is an incoming gradient passed
    on, one that was the engine's alone."""
    array = results[index]._data
    if array.base is not None:
        return False
    for other_index, other in enumerate(results):
        if other_index != index and other is not None and other._data is array:
            return False
    for incoming, owned in zip(*pending):
        if incoming is not None and incoming._data is array:
            return owned
    return True


def _send(pending: dict[Node, _Pending], child: Node, nr: int, grad: Tensor, owned: bool) -> None:
    entry = pending.get(child)
    if entry is None:
        entry = pending[child] = _pending_for(child)
    grads, flags = entry
    current = grads[nr]
    if current is None:
        grads[nr], flags[nr] = grad, owned
    elif flags[nr] and not STATE.enabled and current._data.shape == grad._data.shape:
        current._data += grad._data  # only the engine holds it: add in place
    else:
        grads[nr], flags[nr] = current + grad, not STATE.enabled


def run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[Tensor],
    retain_graph: bool,
    create_graph: bool,
    capture: Sequence[Tensor] | None = None,
    accumulate_captured: bool = False,
) -> list[Tensor | None] | None:
    """Backpropagate `root_grads` from `roots`.

    Without `capture`, gradients accumulate into the leaves' `.grad` (Tensor.backward).
    With `capture`, nothing accumulates and the gradients reaching those tensors are
    returned instead (autograd.grad), or, with `accumulate_captured`, accumulated into
    those tensors' `.grad` alone (backward(inputs=...)).
    """
    pending: dict[Node, _Pending] = {}
    root_nodes: list[Node] = []
    for tensor, grad in zip(roots, root_grads):
        node, nr = edge_of(tensor)
        if node is None:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        _send(pending, node, nr, grad, owned=False)  # the caller holds the root gradient
        if node not in root_nodes:
            root_nodes.append(node)

    captured: list[Tensor | None] = [None] * len(capture) if capture is not None else []
    if capture is None:
        plan = _plan_backward(root_nodes)
    else:
        targets: dict[tuple[Node, int], list[int]] = {}
        for index, tensor in enumerate(capture):
            node, nr = edge_of(tensor)
            if node is not None:
                targets.setdefault((node, nr), []).append(index)
        plan = _plan_grad(root_nodes, targets)

    previous_mode = STATE.enabled
    STATE.enabled = create_graph  # backward formulas build a graph only for create_graph
    callbacks: list[Callable[[], None]] = []
    _FINAL_CALLBACKS.stack.append(callbacks)
    try:
        with quiet_float_errors():  # torch's backward never warns about inf or NaN either
            _run_plan(plan, pending, captured, retain_graph, create_graph, accumulate=capture is None)
        if accumulate_captured:
            _accumulate_into_inputs(capture, captured)  # type: ignore[arg-type]
        _run_final_callbacks(callbacks)
    finally:
        _FINAL_CALLBACKS.stack.pop()
        STATE.enabled = previous_mode
    return captured if capture is not None else None


def _accumulate_into_inputs(inputs: Sequence[Tensor], grads: list[Tensor | None]) -> None:
    for tensor, grad in zip(inputs, grads):
        if grad is None:
            continue
        tensor._grad = grad.detach().clone() if tensor._grad is None else tensor._grad + grad
        if tensor._grad_fn is None and tensor._extra and "accumulator" in tensor._extra:
            _run_post_accumulate_hooks(tensor._extra["accumulator"], tensor)


def _run_plan(
    plan: _Plan,
    pending: dict[Node, _Pending],
    captured: list,
    retain_graph: bool,
    create_graph: bool,
    accumulate: bool,  # leaves take their gradients (backward), or not (autograd.grad)
) -> None:
    """The loop: run each ready node's backward and send its gradients on (one function, with
    locals, because it runs once per node)."""
    ready, dependencies, receives, targets = plan.ready, plan.dependencies, plan.receives, plan.targets
    may_reuse = not create_graph  # a graph built from a gradient keeps it: never overwritten then
    direct_leaves = accumulate and not targets  # a captured leaf's gradient goes through `ready`
    leaves_ready: list[Node] = []
    while ready:
        node = ready.pop()
        entry = pending.pop(node, None) or _pending_for(node)
        grads, owned = entry
        if node._pre_hooks:
            _apply_pre_hooks(node, entry)
        if targets:
            _capture(plan, node, entry, captured)
            if node not in plan.runs:  # type: ignore[operator]
                continue  # a target with no other target below it
        if type(node) is AccumulateGrad:
            if accumulate and grads[0] is not None:
                _accumulate_into_leaf(node, grads[0], owned[0], create_graph)
            continue
        hooks = node._hooks
        if may_reuse and not hooks and True in owned:
            node._overwritable = tuple(owned)  # the backward may write into these gradients
            try:
                results = node._run(grads)
            finally:
                node._overwritable = ()
        else:
            results = node._run(grads)
        if hooks:
            for hook in hooks:
                hook(tuple(results), tuple(grads))
        if not retain_graph and (node._saved is not None or node._forward_attributes):
            node._release()
        # never the engine's alone if a graph is built from them, a hook saw them, or user code made them
        may_own = may_reuse and not hooks and node._builtin_op
        index = -1
        for child, nr in node.next_functions:
            index += 1
            if child is None or (receives is not None and child not in receives):
                continue
            remaining = dependencies[child] - 1
            dependencies[child] = remaining
            grad = results[index]
            if grad is not None:
                # the size test first: most gradients of a small graph stop there, without a call
                is_owned = may_own and grad._data.size >= REUSE_MIN_ELEMENTS and _owned(index, results, entry)
                if remaining == 0 and direct_leaves and type(child) is AccumulateGrad and not (
                    child._pre_hooks or child in pending
                ):  # a leaf whose one gradient this is (the usual case): accumulated now, the
                    # soonest it can be, as torch's leaf priority wants (DDP's hooks start buckets)
                    _accumulate_into_leaf(child, grad, is_owned, create_graph)
                    continue
                if child._n_outputs == 1 and child not in pending:  # the usual case: its one gradient
                    pending[child] = [grad], [is_owned]
                else:
                    _send(pending, child, nr, grad, is_owned)
            if remaining == 0:
                if type(child) is AccumulateGrad:
                    leaves_ready.append(child)
                else:
                    ready.append(child)
        if leaves_ready:  # on top, so a leaf accumulates as soon as its gradient is complete (as
            ready.extend(leaves_ready)  # in torch): DDP's hooks then launch buckets mid-backward
            leaves_ready.clear()


def _capture(plan: _Plan, node: Node, entry: _Pending, captured: list) -> None:
    grads, owned = entry
    for nr, grad in enumerate(grads):
        for index in plan.targets.get((node, nr), ()):
            captured[index] = grad
            owned[nr] = False  # returned to the caller
