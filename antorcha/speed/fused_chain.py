"""A chain of Linear layers with optional ReLUs between them, as one op over row chunks.

Eager execution streams every (B, hidden) intermediate through memory several
times. The whole layer stack can instead run a few hundred rows at a time, into
preallocated buffers that stay in cache:

* forward: per chunk, every layer's matmul, bias add and ReLU; only the output is kept;
* backward: per chunk, recompute the activations (cheaper than storing them), then
  run the layers backwards, accumulating the weight gradients across chunks.

`chain_backward` is also the exact fallback of the two-layer op (`fused_two_layer.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from antorcha import autograd
from antorcha._device import xp_of
from antorcha._grad_mode import is_grad_enabled
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops.linalg import linear
from antorcha.speed.threads import rows_per_chunk, run_split


@dataclass(frozen=True)
class Layer:
    """One traced layer of a chain: its parameters, and whether a ReLU follows it."""

    weight: Tensor
    bias: Tensor | None
    relu: bool


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


def fused_forward(x: Tensor, layers: list[Layer]) -> Tensor:
    """The chain's output through one FusedMLP node."""
    params: list[Tensor] = []
    for layer in layers:
        params += [layer.weight, layer.bias]
    widest = max(layer.weight.shape[0] for layer in layers)
    relus = tuple(layer.relu for layer in layers)
    return FusedMLP.apply(x, *params, params=(relus, rows_per_chunk(widest, x._data.itemsize)))


def chain_backward(grad: Tensor, x: Tensor, params: list, relus: tuple, chunk: int, need_x: bool) -> tuple:
    """Gradients of a Linear (+ReLU) chain for x and every weight and bias, with torch's arithmetic.

    Chunked, recomputing the activations; with create_graph, the chain's eager ops instead.
    """
    if is_grad_enabled():  # create_graph: differentiate the same chain with eager ops
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
            if relus[index - 1]:  # the ReLU's derivative, from its output, as torch's threshold_backward:
                xp.copyto(g_prev, 0, where=inputs <= 0)  # zero where relu gave 0 (not where it gave NaN)
            g = g_prev
    results: list[Any] = []
    for gw, gb in zip(grad_weights, grad_biases):
        results += [gw, gb]
    return results


def _eager_backward(grad: Tensor, x: Tensor, params: list, relus: tuple) -> tuple:
    inputs = [t for t in (x, *params) if t._requires_grad]
    out = x
    for weight, bias, relu in zip(params[0::2], params[1::2], relus):
        out = linear(out, weight, bias)
        if relu:
            out = out.relu()
    found = iter(autograd.grad(out, inputs, grad, create_graph=True, allow_unused=True))
    return tuple(next(found) if t._requires_grad else None for t in (x, *params))
