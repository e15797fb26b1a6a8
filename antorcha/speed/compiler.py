"""`antorcha.compile(model)`: run an MLP's Linear/ReLU chain as one fused op.

`compile` wraps the model in a `CompiledModule`. On the first call for an input
shape it traces the model once on two rows and reads the chain off the autograd
graph (Addmm / Relu / T nodes, recognised by their node classes). Anything else
(dropout, other activations, 3-D inputs, create_graph) runs eagerly, unchanged.
The fused op is one graph node, so loss.backward() and the optimizer work as usual.

The lesson's own chain, Linear -> ReLU -> Linear with few outputs, takes its own op
at every batch size (`fused_two_layer.py`); other chains take the generic chunked op
(`fused_chain.py`) from `_FUSE_MIN_ROWS` rows up.
"""

from __future__ import annotations

from typing import Any

from antorcha import enable_grad
from antorcha._device import quiet_float_errors
from antorcha._tensor import Tensor
from antorcha.autograd.function import AccumulateGrad, Node
from antorcha.nn.module import Module
from antorcha.ops.linalg import Addmm
from antorcha.ops.movement import T
from antorcha.ops.unary import Relu
from antorcha.speed.fused_chain import Layer, fused_forward
from antorcha.speed.fused_two_layer import fused_two_layer, is_two_layer_relu

# Below this many rows the eager ops already work from cache, and the fused op's
# recomputation and thread hand-offs cost more than they save.
_FUSE_MIN_ROWS = 16384


def _leaf_of(edge: tuple[Node | None, int], transposed: bool) -> Tensor | None:
    """The parameter behind an edge: directly (a bias) or through weight.t() (a weight)."""
    node = edge[0]
    if transposed:
        if not isinstance(node, T._node_cls):
            return None
        node = node.next_functions[0][0]
    return node.variable if isinstance(node, AccumulateGrad) else None


def trace_linear_relu_chain(output: Tensor, source: Tensor) -> list[Layer] | None:
    """Read `Linear (-> ReLU)` layers off the graph from `output` back to `source`, or None."""
    layers: list[Layer] = []
    node = output.grad_fn
    relu_pending = False
    while node is not None:
        if isinstance(node, Relu._node_cls) and not relu_pending:
            relu_pending = True
            node = node.next_functions[0][0]
            continue
        if not isinstance(node, Addmm._node_cls):
            return None
        bias_edge, input_edge, weight_edge = node.next_functions
        weight, bias = _leaf_of(weight_edge, transposed=True), _leaf_of(bias_edge, transposed=False)
        if weight is None or bias is None:
            return None
        layers.append(Layer(weight, bias, relu_pending))
        relu_pending = False
        node = input_edge[0]
        if node is None or isinstance(node, AccumulateGrad):
            if relu_pending:
                return None
            break
    if not layers:
        return None
    if source.grad_fn is not None:  # the chain must start at the input itself
        return None
    return list(reversed(layers))


class CompiledModule(Module):
    """Wraps a model; runs a Linear/ReLU chain fused and chunked, anything else eagerly.

    Like torch's OptimizedModule it keeps the original as `_orig_mod`, so parameters,
    optimizers and state_dict keys (prefixed `_orig_mod.`) behave as torch's do.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self._orig_mod = model
        self._plan: list[Layer] | None = None
        self._plan_key: tuple | None = None
        self._two_layer = False  # whether the plan is the lesson's Linear -> ReLU -> Linear

    def __getattr__(self, name: str) -> Any:
        """What the wrapper lacks comes from the model, as torch's OptimizedModule does it, so
        `compiled.generate(...)` or `compiled.config` keep working."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "_orig_mod":
                raise
            return getattr(self._orig_mod, name)

    def forward(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or not self._fusable_input(x):
            return self._orig_mod(x, *args, **kwargs)
        key = (self._orig_mod.training, x._data.shape[1], x._data.dtype, x._device)
        if key != self._plan_key:
            self._plan, self._plan_key = self._trace(x), key
            self._two_layer = self._plan is not None and is_two_layer_relu(self._plan)
        if self._plan is None:
            return self._orig_mod(x)
        if self._two_layer and not x._requires_grad:
            return fused_two_layer(x, self._plan)
        if x.shape[0] < _FUSE_MIN_ROWS:
            return self._orig_mod(x)
        return fused_forward(x, self._plan)

    @staticmethod
    def _fusable_input(x: Any) -> bool:
        return isinstance(x, Tensor) and x.ndim == 2 and x._device.type == "cpu" and x._data.dtype.kind == "f"

    def _trace(self, x: Tensor) -> list[Layer] | None:
        """Run the model once on two rows and read its layer chain off the graph."""
        probe = x[:2].detach()
        with enable_grad(), quiet_float_errors():  # the probe's values are thrown away
            out = self._orig_mod(probe)
        if not isinstance(out, Tensor) or out.grad_fn is None:
            return None
        return trace_linear_relu_chain(out, probe)


def compile(model: Any = None, **options: Any) -> Any:  # noqa: A001 - torch's name
    """`model = antorcha.compile(model)`: fuse an MLP's layers into one chunked op.

    Accepts (and ignores) torch.compile's keyword options, so PyTorch code that
    calls `torch.compile(model, mode=...)` runs unchanged. Used as a decorator on
    a plain function it returns the function unchanged.
    """
    if model is None:
        return lambda fn: compile(fn, **options)
    if not isinstance(model, Module):
        return model
    return CompiledModule(model)
