"""`antorcha.compile(model)`: run an MLP's forward and backward in cache-sized chunks.

Eager execution streams every (B, hidden) intermediate through memory several
times. For a model whose forward is a chain of Linear layers with optional ReLUs
between them (the lesson's MLP, `nn.Sequential(Linear, ReLU, ...)`), the whole
layer stack can instead run a few hundred rows at a time, into preallocated
buffers that stay in cache:

* forward: per chunk, every layer's matmul, bias add and ReLU; only the output is kept;
* backward: per chunk, recompute the activations (cheaper than storing them), then
  run the layers backwards, accumulating the weight gradients across chunks.

`compile` traces the model once on a small input and reads the chain off the
autograd graph (AddmmBackward0 / ReluBackward0 / TBackward0 nodes). Anything else
(dropout, other activations, 3-D inputs, create_graph) runs eagerly, unchanged.
The fused op is one graph node, so loss.backward() and the optimizer work as usual.

The lesson's own chain, Linear -> ReLU -> Linear with few outputs, takes a faster op
at every batch size (`antorcha/_fused_two_layer.py`); this module's generic op serves
other chains from `_FUSE_MIN_ROWS` rows up, and that op's fallbacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._fused_two_layer import fused_two_layer, is_two_layer_relu
from antorcha._grad_mode import STATE
from antorcha._tensor import Tensor, wrap
from antorcha._threads import rows_per_chunk, run_split
from antorcha.autograd.function import AccumulateGrad, Node, Op

_CHUNK_BYTES = 512 * 1024  # one (rows, widest layer) float buffer stays well inside L2
# Below this many rows the eager ops already work from cache, and the fused op's
# recomputation and thread hand-offs cost more than they save (measured: 1024 and
# 4096 rows ran 1.1-1.4x slower fused; 65536 rows ran 0.6x of eager).
_FUSE_MIN_ROWS = 16384


@dataclass(frozen=True)
class _Layer:
    weight: Tensor
    bias: Tensor | None
    relu: bool  # whether a ReLU follows this layer


def _leaf_of(edge: tuple[Node | None, int], transposed: bool) -> Tensor | None:
    """The parameter behind an edge: directly (a bias) or through weight.t() (a weight)."""
    node = edge[0]
    if transposed:
        if node is None or type(node).__name__ != "TBackward0":
            return None
        node = node.next_functions[0][0]
    return node.variable if isinstance(node, AccumulateGrad) else None


def trace_linear_relu_chain(output: Tensor, source: Tensor) -> list[_Layer] | None:
    """Read `Linear (-> ReLU)` layers off the graph from `output` back to `source`, or None."""
    layers: list[_Layer] = []
    node = output.grad_fn
    relu_pending = False
    while node is not None:
        name = type(node).__name__
        if name == "ReluBackward0" and not relu_pending:
            relu_pending = True
            node = node.next_functions[0][0]
            continue
        if name != "AddmmBackward0":
            return None
        bias_edge, input_edge, weight_edge = node.next_functions
        weight, bias = _leaf_of(weight_edge, transposed=True), _leaf_of(bias_edge, transposed=False)
        if weight is None or bias is None:
            return None
        layers.append(_Layer(weight, bias, relu_pending))
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


class FusedMLP(Op):
    """Linear (+ReLU) layers over cache-sized row chunks; backward recomputes activations."""

    @staticmethod
    def forward(ctx: Any, x: Any, *params_and_plan: Any) -> Any:
        *params, relus, chunk = params_and_plan
        ctx.save_for_backward(x, *params)
        ctx.relus, ctx.chunk = relus, chunk
        weights, biases = params[0::2], params[1::2]
        out = xp_of(x).empty((x.shape[0], weights[-1].shape[0]), dtype=x.dtype)

        def forward_rows(start: int, stop: int) -> None:
            buffers = _Buffers(xp_of(x), x.dtype, chunk, weights)
            for lo in range(start, stop, chunk):
                hi = min(lo + chunk, stop)
                out[lo:hi] = _forward_chunk(x[lo:hi], weights, biases, relus, buffers)[-1]

        run_split(forward_rows, x.shape[0], chunk)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        x, *params = ctx.saved_tensors
        return chain_backward(grad, x, params, ctx.relus, ctx.chunk, ctx.needs_input_grad[0])


def chain_backward(grad: Tensor, x: Tensor, params: list, relus: tuple, chunk: int, need_x: bool) -> tuple:
    """Gradients of a Linear (+ReLU) chain for x and every weight and bias, eager's arithmetic.

    Chunked, recomputing the activations; with create_graph, the chain's eager ops instead.
    """
    if STATE.enabled:  # create_graph: differentiate the same chain with eager ops
        return _eager_backward(grad, x, params, relus)
    arrays = [p._data for p in params]
    grad_x = xp_of(x._data).empty_like(x._data) if need_x else None

    def backward_rows(start: int, stop: int) -> list[Any]:
        return _chunked_backward(grad._data, x._data, arrays, relus, chunk, grad_x, start, stop)

    partials = run_split(backward_rows, x._data.shape[0], chunk)
    totals = [sum(parts[1:], parts[0]) for parts in zip(*partials)]  # each worker's weight grads
    device = grad._device
    return (
        wrap(grad_x, device=device) if grad_x is not None else None,
        *(wrap(t, device=device) for t in totals),
    )


class _Buffers:
    """Preallocated per-layer activation and gradient buffers, one chunk tall."""

    def __init__(self, xp: Any, dtype: Any, chunk: int, weights: list[Any]) -> None:
        self.activations = [xp.empty((chunk, w.shape[0]), dtype=dtype) for w in weights]
        self.grads = [xp.empty((chunk, w.shape[0]), dtype=dtype) for w in weights]


def _forward_chunk(x: Any, weights: list, biases: list, relus: tuple, buffers: _Buffers) -> list[Any]:
    """Every layer's output for one chunk of rows, written into the buffers."""
    xp = xp_of(x)
    rows = x.shape[0]
    current = x
    outs = []
    for weight, bias, relu, buffer in zip(weights, biases, relus, buffers.activations):
        h = buffer[:rows]
        xp.matmul(current, weight.T, out=h)  # (rows, out)
        h += bias
        if relu:
            xp.maximum(h, 0, out=h)
        outs.append(h)
        current = h
    return outs


def _chunked_backward(
    grad: Any, x: Any, params: list, relus: tuple, chunk: int, grad_x: Any, start: int, stop: int
) -> list[Any]:
    """Weight and bias gradients from rows [start, stop); fills grad_x's rows when it is given."""
    xp = xp_of(x)
    weights, biases = params[0::2], params[1::2]
    grad_weights = [xp.zeros_like(w) for w in weights]
    grad_biases = [xp.zeros_like(b) for b in biases]
    scratch = [xp.empty_like(w) for w in weights]
    buffers = _Buffers(xp, x.dtype, chunk, weights)
    for lo in range(start, stop, chunk):
        hi = min(lo + chunk, stop)
        x_chunk = x[lo:hi]
        activations = _forward_chunk(x_chunk, weights, biases, relus, buffers)
        g = grad[lo:hi]  # (rows, out_last)
        for index in range(len(weights) - 1, -1, -1):
            inputs = activations[index - 1] if index else x_chunk
            xp.matmul(g.T, inputs, out=scratch[index])  # (out, in)
            grad_weights[index] += scratch[index]
            grad_biases[index] += g.sum(axis=0)
            if index == 0:
                if grad_x is not None:
                    xp.matmul(g, weights[0], out=grad_x[lo:hi])
                break
            g_prev = buffers.grads[index - 1][: hi - lo]
            if g.shape[1] == 1:  # an outer product: cheaper as a broadcast multiply
                xp.multiply(g, weights[index], out=g_prev)
            else:
                xp.matmul(g, weights[index], out=g_prev)
            if relus[index - 1]:
                g_prev *= inputs > 0  # the ReLU's derivative, from its saved output
            g = g_prev
    results: list[Any] = []
    for gw, gb in zip(grad_weights, grad_biases):
        results += [gw, gb]
    return results


def _eager_backward(grad: Tensor, x: Tensor, params: list, relus: tuple) -> tuple:
    from antorcha import autograd
    from antorcha.ops.linalg import linear

    inputs = [t for t in (x, *params) if t._requires_grad]
    out = x
    for weight, bias, relu in zip(params[0::2], params[1::2], relus):
        out = linear(out, weight, bias)
        if relu:
            out = out.relu()
    found = iter(autograd.grad(out, inputs, grad, create_graph=True, allow_unused=True))
    return tuple(next(found) if t._requires_grad else None for t in (x, *params))


def fused_forward(x: Tensor, layers: list[_Layer]) -> Tensor:
    params: list[Tensor] = []
    for layer in layers:
        params += [layer.weight, layer.bias]
    widest = max(layer.weight.shape[0] for layer in layers)
    relus = tuple(layer.relu for layer in layers)
    return FusedMLP.apply(x, *params, params=(relus, rows_per_chunk(widest, x._data.itemsize, _CHUNK_BYTES)))


def _module_base() -> type:
    from antorcha.nn.module import Module

    return Module


class CompiledModule(_module_base()):  # type: ignore[misc]
    """Wraps a model; runs a Linear/ReLU chain fused and chunked, anything else eagerly.

    Like torch's OptimizedModule it keeps the original as `_orig_mod`, so parameters,
    optimizers and state_dict keys (prefixed `_orig_mod.`) behave as torch's do.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self._orig_mod = model
        self._plan: list[_Layer] | None = None
        self._plan_key: tuple | None = None
        self._two_layer = False  # whether the plan is the lesson's Linear -> ReLU -> Linear

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

    def _trace(self, x: Tensor) -> list[_Layer] | None:
        """Run the model once on two rows and read its layer chain off the graph."""
        probe = x[:2].detach()
        previous = STATE.enabled
        STATE.enabled = True
        try:
            with np.errstate(all="ignore"):  # the probe's values are thrown away
                out = self._orig_mod(probe)
        finally:
            STATE.enabled = previous
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
    if not isinstance(model, _module_base()):
        return model
    return CompiledModule(model)
