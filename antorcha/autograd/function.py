"""Graph nodes and the two ways to define a differentiable op.

* `Op` (internal): `forward(ctx, *arrays, *params)` works on raw `xp` arrays, so the
  no-grad path costs one Python call and one array op. `backward(ctx, grad)` works
  on Tensors with antorcha ops, so the same formula gives higher-order gradients
  when run with `create_graph=True`. A forward may return a tuple of arrays: the
  op then has several outputs, and backward gets one gradient per output.
* `Function` (public, torch's `autograd.Function`): `forward(ctx, *args)` receives
  Tensors, `backward(ctx, *grads)` returns Tensors.

Either way, calling the op with grad enabled creates a `Node` (torch's `grad_fn`),
named as torch names it (`MulBackward0`), which is also the `ctx` that forward
and backward see. Broadcasting is undone centrally in `Node._run`: a backward
returns gradients in the output's shape and `_run` sums them down to each
input's shape and casts them to its dtype.
"""

from __future__ import annotations

import functools
import operator
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._device import enter_quiet, leave_quiet
from antorcha._grad_mode import STATE, no_grad
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.views import current_view_node

_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)

# Markers in a node's saved list: which input it was, or that it was the output.
_OUTPUT = -1
_NO_EDGE = (None, 0)  # the edge of an input that needs no gradient
# What Op.apply reads of each input, in C (a comprehension is a Python frame per op)
_ARRAY = operator.attrgetter("_data")
_REQUIRES_GRAD = operator.attrgetter("_requires_grad")


class Node:
    """A recorded operation: torch's `grad_fn`, and the `ctx` of its forward/backward."""

    _fn: Any = None  # the Op or Function class whose backward this node runs
    _pre_hooks: dict[int, list[Callable]] | None = None
    _hooks: list[Callable] | None = None
    _saved: list | None = None
    _saved_versions: tuple = ()
    _freed = False
    _n_outputs = 1
    _materialize_grads = True
    _builtin_op = False  # an Op's node: antorcha's own backward, whose results are fresh arrays
    _forward_attributes: tuple[str, ...] = ()  # the attributes an Op's forward set on its ctx
    _overwritable: tuple[bool, ...] = ()  # set by the engine while this node's backward runs
    _view_version: int | None = None  # a view's node: the version its base had when it was made

    next_functions: tuple[tuple[Node | None, int], ...] = ()
    needs_input_grad: tuple[bool, ...] = ()
    _input_meta: tuple = ()

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"

    # ---- saving for backward -------------------------------------------------
    def save_for_backward(self, *items: Any) -> None:
        self._to_save = items

    @property
    def saved_tensors(self) -> tuple[Tensor | None, ...]:
        if self._freed:
            raise RuntimeError(_SECOND_BACKWARD)
        saved = self._saved
        if saved is None:
            return ()
        for counter, version, source, role in self._saved_versions:
            if counter[0] != version:
                raise self._modified_error(counter[0], version, source, role)
        # a saved input is handed back as it is, without a call: the usual entry
        return tuple([entry[1] if entry[0] == "tensor" else self._unpack(entry) for entry in saved])

    def _modified_error(self, current: int, version: int, source: Any, role: str) -> RuntimeError:
        # built only on failure: recording stays cheap
        array = source._data if isinstance(source, Tensor) else source
        which = {"input": f"an input of {self.name()}", "output": f"output 0 of {self.name()}"}
        which = which.get(role, role)
        return RuntimeError(
            "one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: [{_dtypes._FROM_NUMPY[array.dtype].legacy_name} {list(array.shape)}], "
            "which is "
            f"{which}, is at version {current}; expected version {version} instead."
        )

    def _unpack(self, entry: Any) -> Any:
        kind, value = entry
        if kind == "tensor":
            return value
        if kind == "output":
            # Re-create the output as torch's SavedVariable does: a fresh Tensor over the
            # same array, linked to this node only while a graph is being built.
            if STATE.enabled:
                return wrap(value, True, self)
            return wrap(value)
        if kind == "output_nr":  # output `nr` of a Function with several outputs
            array, nr = value
            if not STATE.enabled:
                return wrap(array)
            out = wrap(array, True, self)
            out._output_nr = nr
            return out
        return value if value is None else wrap(value)

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        self._non_differentiable = {id(t) for t in tensors}

    def mark_dirty(self, *tensors: Tensor) -> None:
        self._dirty = tensors

    def set_materialize_grads(self, value: bool) -> None:
        self._materialize_grads = value

    def may_overwrite_grad(self, output_nr: int = 0) -> bool:
        """Whether backward may write its result into the incoming gradient's memory.

        The engine says so only for a gradient that nothing else holds: no hook saw it,
        autograd.grad does not return it, no other node received the same tensor, it is
        not the caller's, and no graph is being built from it (create_graph).
        """
        flags = self._overwritable
        return output_nr < len(flags) and flags[output_nr]

    # ---- hooks ---------------------------------------------------------------
    def register_hook(self, hook: Callable) -> _RemovableHandle:
        """hook(grad_inputs, grad_outputs), called after this node's backward."""
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return _RemovableHandle(self._hooks, hook)

    def register_prehook(self, hook: Callable, output_nr: int = 0) -> _RemovableHandle:
        """hook(grad) -> grad or None, called on the gradient of output `output_nr`."""
        if self._pre_hooks is None:
            self._pre_hooks = {}
        hooks = self._pre_hooks.setdefault(output_nr, [])
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    # ---- running backward ----------------------------------------------------
    def _release(self) -> None:
        """Free what forward kept for backward: the saved tensors, and arrays kept as attributes."""
        freed = self._saved is not None
        if self._forward_attributes:
            attributes = self.__dict__
            kept = [name for name in self._forward_attributes if _holds_array(attributes[name])]
            for name in kept:
                del attributes[name]
            freed = freed or bool(kept)
        if freed:
            self._saved = None
            self._saved_versions = ()  # they hold the saved tensors too
            self._freed = True

    def _run(self, grads: list[Tensor | None]) -> list[Tensor | None] | tuple[None, ...]:
        if self._freed:
            raise RuntimeError(_SECOND_BACKWARD)
        for g in grads:
            if g is not None:
                break
        else:  # no gradient reached this node
            return (None,) * len(self.next_functions)
        if self._n_outputs > 1 and self._materialize_grads:
            grads = [
                g if g is not None or meta is None else _zeros_for(meta)  # None: a non-tensor output
                for g, meta in zip(grads, self._output_meta)
            ]
        result = self._fn.backward(self, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        n_inputs = len(self.next_functions)
        if len(result) < n_inputs:
            raise RuntimeError(
                f"function {self.name()} returned an incorrect number of gradients "
                f"(expected {n_inputs}, got {len(result)})"
            )
        needs, metas = self.needs_input_grad, self._input_meta
        grads_in = list(result[:n_inputs])
        for i, g in enumerate(grads_in):
            if g is None:
                continue
            if not needs[i]:
                grads_in[i] = None
            elif type(g) is not Tensor or (g._data.shape, g._data.dtype) != metas[i]:
                grads_in[i] = self._conform(i, g)  # a broadcast input, another dtype, or not a Tensor
        return grads_in

    def _conform(self, index: int, grad: Any) -> Tensor:
        """Sum a gradient down to its input's shape and cast it to the input's dtype."""
        if not isinstance(grad, Tensor):
            raise TypeError(
                f"function {self.name()} returned a gradient of type {type(grad).__name__} at "
                f"index {index}; expected a Tensor or None"
            )
        shape, np_dtype = self._input_meta[index]
        if grad._data.shape != shape:
            from antorcha.ops.reduce import sum_to_shape

            grad = sum_to_shape(grad, shape, f"{self.name()} at index {index}")
        if grad._data.dtype != np_dtype:
            grad = grad.to(_dtypes._FROM_NUMPY[np_dtype])
        return grad


def _holds_array(value: Any) -> bool:
    """An array or Tensor, or a tuple/list holding one (an index key)."""
    kind = type(value)
    if kind in _PLAIN:
        return False
    if kind is tuple or kind is list:
        for item in value:  # noqa: SIM110 - a loop, not a generator: this runs on every release
            if type(item) not in _PLAIN and _holds_array(item):
                return True
        return False
    if kind is np.ndarray or isinstance(value, Tensor):
        return True
    return hasattr(value, "__cuda_array_interface__")


_PLAIN = frozenset((int, float, bool, str, type(None)))  # values that are never arrays: skipped fast


def _zeros_for(meta: tuple) -> Tensor:
    from antorcha._creation import zeros

    shape, dtype, device = meta
    return zeros(shape, dtype=dtype, device=device)


class _RemovableHandle:
    def __init__(self, container: list, item: Any) -> None:
        self._container = container
        self._item = item

    def remove(self) -> None:
        if self._item in self._container:
            self._container.remove(self._item)


class AccumulateGrad(Node):
    """The node behind a leaf tensor: adds incoming gradients into `variable.grad`."""

    def __init__(self, variable: Tensor) -> None:
        # weak: the tensor owns this node, not the reverse (no reference cycle)
        self._variable_ref = weakref.ref(variable)
        self._post_accumulate_hooks: list[Callable] = []

    def register_post_accumulate_hook(self, hook: Callable) -> _RemovableHandle:
        """hook(variable), called after backward has accumulated into `variable.grad`."""
        self._post_accumulate_hooks.append(hook)
        return _RemovableHandle(self._post_accumulate_hooks, hook)

    @property
    def variable(self) -> Tensor | None:
        return self._variable_ref()


def edge_of(tensor: Tensor) -> tuple[Node | None, int]:
    """Where a gradient for `tensor` must flow: its grad_fn, or its leaf accumulator."""
    fn = tensor._grad_fn
    if fn is not None:
        if tensor._base is not None and fn._view_version != tensor._vc[0]:
            fn = current_view_node(tensor)  # its base changed in place since the node was made
        return (fn, tensor._output_nr)
    if tensor._requires_grad:
        return (tensor._grad_accumulator(), 0)
    return (None, 0)


class NullContext:
    """The ctx handed to forward when nothing is recorded: saving is a no-op.

    A new one per call: what a forward keeps on it (`ctx.key = ...`, read back later in the same
    forward) is then neither kept alive after the call nor seen by another thread's call.
    """

    needs_input_grad = (False,) * 8

    def save_for_backward(self, *items: Any) -> None:
        pass

    def mark_non_differentiable(self, *tensors: Any) -> None:
        pass

    def mark_dirty(self, *tensors: Any) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        pass


def _resolve_saved(node: Node, inputs: tuple[Tensor, ...], out_array: Any) -> bool:
    """Turn what forward saved (arrays) into entries that remember where they came from.

    Returns whether the output itself was saved (its version must be watched too).
    """
    items = node.__dict__.pop("_to_save", None)
    if not items:
        return False
    saved, versions = [], []
    output_saved = False
    for item in items:
        entry = ("const", item)
        if item is out_array:
            entry = ("output", item)
            output_saved = True
        else:
            for t in inputs:
                if item is t._data:
                    entry = ("tensor", t)
                    counter = t._counter()
                    versions.append((counter, counter[0], t, "input"))
                    break
        saved.append(entry)
    node._saved = saved
    node._saved_versions = tuple(versions)
    return output_saved


class Op:
    """An internal differentiable op; subclasses define forward on arrays, backward on Tensors."""

    _node_cls: type[Node]
    differentiable = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("backward_name", f"{cls.__name__}Backward0")
        cls._node_cls = type(name, (Node,), {"_fn": cls, "__module__": cls.__module__, "_builtin_op": True})

    @staticmethod
    def forward(ctx: Any, *args: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Tensor, params: tuple = ()) -> Any:
        """Run forward on the inputs' arrays; record a node when a gradient may be needed.

        A forward that returns a tuple of arrays (some may be None) gives a tuple of Tensors,
        each its own output of the node; backward then receives one gradient per output
        (None for an output that got none).
        """
        if STATE.enabled:
            for t in inputs:
                if t._requires_grad:
                    return cls._record(inputs, params)
        quiet = enter_quiet()  # torch never warns about inf or NaN results: neither does NumPy here
        try:
            out = cls.forward(NullContext(), *map(_ARRAY, inputs), *params)
        finally:
            leave_quiet(quiet)
        device = inputs[0]._device
        if type(out) is tuple:
            return tuple([None if o is None else wrap(o, False, None, device) for o in out])
        return wrap(out, False, None, device)

    @classmethod
    def _record(cls, inputs: tuple[Tensor, ...], params: tuple) -> Any:
        node = cls._node_cls()
        node.needs_input_grad = tuple(map(_REQUIRES_GRAD, inputs))
        edges, metas = [], []
        for t in inputs:  # one loop, not a comprehension per field: this runs for every op
            if t._requires_grad:
                array = t._data
                edges.append(edge_of(t))
                metas.append((array.shape, array.dtype))  # raw shape/dtype: no Size/dtype objects per op
            else:
                edges.append(_NO_EDGE)
                metas.append(None)
        quiet = enter_quiet()
        try:
            out = cls.forward(node, *map(_ARRAY, inputs), *params)
        finally:
            leave_quiet(quiet)
        attributes = node.__dict__
        if len(attributes) > 1 + ("_to_save" in attributes):  # forward kept attributes on the ctx
            node._forward_attributes = tuple(
                [name for name in attributes if name != "needs_input_grad" and name != "_to_save"]
            )
        node.next_functions = tuple(edges)
        node._input_meta = tuple(metas)
        device = inputs[0]._device
        if type(out) is tuple:
            return _several_outputs(node, inputs, out, device)
        result = wrap(out, True, node, device)
        if _resolve_saved(node, inputs, out):
            counter = result._counter()
            node._saved_versions += ((counter, counter[0], out, "output"),)
        return result


def _several_outputs(node: Node, inputs: tuple[Tensor, ...], outs: tuple, device: Any) -> tuple:
    node._n_outputs = len(outs)
    node._materialize_grads = False  # the op's backward takes None for an output without a gradient
    results = []
    for nr, out in enumerate(outs):
        if out is None:
            results.append(None)
            continue
        result = wrap(out, True, node, device)
        result._output_nr = nr
        results.append(result)
    _resolve_saved(node, inputs, None)  # saving its own outputs is not supported: only inputs
    return tuple(results)


class _FunctionMeta(type):
    def __init__(cls, name: str, bases: tuple, namespace: dict) -> None:
        super().__init__(name, bases, namespace)
        cls._node_cls = type(f"{name}Backward", (Node,), {"_fn": cls})
        # torch 2's style: forward(*args) without ctx, plus setup_context(ctx, inputs, output)
        cls._separate_setup = "setup_context" in namespace or any(
            getattr(base, "_separate_setup", False) for base in bases
        )


class Function(metaclass=_FunctionMeta):
    """torch.autograd.Function: subclass with static forward(ctx, ...) and backward(ctx, ...)."""

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom Function.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement the backward function for custom Function.")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        needs = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        record = STATE.enabled and any(needs)
        node = cls._node_cls()
        node.needs_input_grad = needs
        previous = STATE.enabled
        STATE.enabled = False
        try:
            if cls._separate_setup:
                outputs = cls.forward(*args, **kwargs)
                cls.setup_context(node, args, outputs)  # type: ignore[attr-defined]
            else:
                outputs = cls.forward(node, *args, **kwargs)
        finally:
            STATE.enabled = previous
        if not record:
            return outputs
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        # edges first: an input marked dirty is moved onto this node below
        # every positional arg gets an edge, so backward returns one gradient per arg
        node.next_functions = tuple(edge_of(a) if isinstance(a, Tensor) else (None, 0) for a in args)
        node._input_meta = tuple(
            (a._data.shape, a._data.dtype) if isinstance(a, Tensor) and a._requires_grad else None
            for a in args
        )
        results = _attach_outputs(node, args, outs)
        node._n_outputs = len(outs)
        node._output_meta = tuple(
            (o.shape, o.dtype, o.device) if isinstance(o, Tensor) else None for o in results
        )
        _resolve_user_saved(node, args, results)
        return results[0] if single else tuple(results)


def _attach_outputs(node: Node, args: tuple, outs: tuple) -> list:
    """Make the differentiable outputs of a Function come out of `node`."""
    non_diff = node.__dict__.get("_non_differentiable", set())
    dirty = node.__dict__.get("_dirty", ())
    results = []
    for nr, out in enumerate(outs):
        if isinstance(out, Tensor) and id(out) not in non_diff:
            if any(out is d for d in dirty):  # changed in place: the input itself moves on
                if out.grad_fn is None and out._requires_grad:
                    raise RuntimeError(
                        "a leaf Variable that requires grad has been used in an in-place operation."
                    )
            elif any(out is a for a in args):  # forward returned an input: give back an alias
                out = wrap(out._data, device=out._device)
            out._requires_grad, out.grad_fn, out._output_nr = True, node, nr
        results.append(out)
    return results


def _resolve_user_saved(node: Node, args: tuple, outputs: list) -> None:
    items = node.__dict__.pop("_to_save", None)
    if not items:
        return
    saved, versions = [], []
    for item in items:
        if item is None:
            saved.append(("const", None))
            continue
        if not isinstance(item, Tensor):
            raise TypeError(
                f"save_for_backward can only save tensors, but argument is of type {type(item).__name__}"
            )
        # a differentiable output is saved as its array, re-linked to this node on unpacking
        nr = next((k for k, o in enumerate(outputs) if item is o and o._requires_grad), None)
        if nr == 0:
            saved.append(("output", item._data))
        elif nr is not None:
            saved.append(("output_nr", (item._data, nr)))
        else:
            saved.append(("tensor", item))
        counter = item._counter()
        versions.append((counter, counter[0], item, "saved"))
    node._saved = saved
    node._saved_versions = tuple(versions)


def once_differentiable(backward: Callable) -> Callable:
    """Mark a Function's backward as not differentiable itself, as torch's decorator does.

    The backward runs without recording. Under `create_graph=True`, the gradients it
    returns are linked to its inputs through a node that raises if anything
    differentiates through them, instead of silently giving a zero second derivative.
    """

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        with no_grad():
            results = backward(ctx, *grads)
        recording_inputs = [g for g in grads if isinstance(g, Tensor) and g._requires_grad]
        if not STATE.enabled or not recording_inputs:
            return results
        single = not isinstance(results, tuple)
        marked = tuple(
            _OnceDifferentiable.apply(r, *recording_inputs) if isinstance(r, Tensor) else r
            for r in ((results,) if single else results)
        )
        return marked[0] if single else marked

    return wrapper


class _OnceDifferentiable(Op):
    """Stands for a backward marked @once_differentiable in a graph built by create_graph."""

    backward_name = "DelayedError"

    @staticmethod
    def forward(ctx: Any, result: Any, *grads: Any) -> Any:
        return result

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        raise RuntimeError(
            "trying to differentiate twice a function that was marked with @once_differentiable"
        )
