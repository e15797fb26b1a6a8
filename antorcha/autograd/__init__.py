"""Reverse-mode automatic differentiation: backward, grad, Function, gradcheck."""

from __future__ import annotations

import sys
from typing import Any

from antorcha import _grad_mode as grad_mode
from antorcha._device import xp_of
from antorcha._grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from antorcha._legacy import Variable, variable
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.anomaly_mode import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_anomaly_enabled,
    set_detect_anomaly,
)
from antorcha.autograd.engine import run_backward
from antorcha.autograd.function import Function, Node, once_differentiable
from antorcha.autograd.gradcheck import gradcheck, gradgradcheck

# torch.autograd.grad_mode is where torch keeps no_grad & co.: the same module here, one object
sys.modules[f"{__name__}.grad_mode"] = grad_mode

__all__ = [
    "Function",
    "Node",
    "Variable",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "grad_mode",
    "gradcheck",
    "gradgradcheck",
    "inference_mode",
    "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "no_grad",
    "once_differentiable",
    "set_anomaly_enabled",
    "set_detect_anomaly",
    "set_grad_enabled",
    "variable",
]


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    if isinstance(value, Tensor):
        return (value,)
    return tuple(value)


def _make_root_grads(outputs: tuple, grad_outputs: tuple, create_graph: bool) -> list[Tensor]:
    for given in grad_outputs:  # torch reports a wrong type before a wrong count
        if given is not None and not isinstance(given, Tensor):
            raise TypeError(f"gradients can be either Tensors or None, but got {type(given).__name__}")
    if grad_outputs and len(grad_outputs) != len(outputs):
        raise RuntimeError(
            f"grad requires one grad_output per output: got {len(grad_outputs)} grad_outputs "
            f"and {len(outputs)} outputs"
        )
    grads = []
    for index, out in enumerate(outputs):
        given = grad_outputs[index] if grad_outputs else None
        if given is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not out.is_floating_point():
                raise RuntimeError(
                    f"grad can be implicitly created only for real scalar outputs but got {out.dtype}"
                )
            data = out._data
            grads.append(wrap(xp_of(data).ones(data.shape, data.dtype), device=out._device))  # a fresh leaf
            continue
        if given.shape != out.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{index}] has a shape of {given.shape} and "
                f"output[{index}] has a shape of {out.shape}."
            )
        elif given.dtype is not out.dtype:
            given = given.to(out.dtype)
        grads.append(given if create_graph else given.detach())
    return grads


def _check_outputs(outputs: tuple) -> None:
    for index, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"outputs must be Tensors, got {type(out).__name__}")
        if not out._requires_grad:
            raise RuntimeError(
                f"element {index} of tensors does not require grad and does not have a grad_fn"
            )


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
) -> None:
    """Accumulate d(tensors)/d(leaf) into every leaf's `.grad` (torch.autograd.backward)."""
    outputs = _as_tuple(tensors)
    _check_outputs(outputs)
    root_grads = _make_root_grads(outputs, _as_tuple(grad_tensors), create_graph)
    keep = create_graph if retain_graph is None else retain_graph
    if inputs is not None:
        targets = _as_tuple(inputs)
        run_backward(outputs, root_grads, keep, create_graph, capture=targets, accumulate_captured=True)
        return
    run_backward(outputs, root_grads, keep, create_graph)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of `outputs` w.r.t. `inputs`, without touching any `.grad`."""
    outs = _as_tuple(outputs)
    ins = _as_tuple(inputs)
    _check_outputs(outs)
    for index, tensor in enumerate(ins):
        if not isinstance(tensor, Tensor) or not tensor._requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors (index {index}) does not require grad")
    root_grads = _make_root_grads(outs, _as_tuple(grad_outputs), create_graph)
    keep = create_graph if retain_graph is None else retain_graph
    captured = run_backward(outs, root_grads, keep, create_graph, capture=ins) or []
    results: list[Tensor | None] = []
    for tensor, g in zip(ins, captured):
        if g is None:
            if materialize_grads:
                from antorcha._creation import zeros_like

                g = zeros_like(tensor)
            elif not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
        elif not create_graph:
            g = g.detach()
        results.append(g)
    return tuple(results)
