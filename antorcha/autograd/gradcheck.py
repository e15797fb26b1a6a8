"""Finite-difference checks of analytical gradients, in float64."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _inputs_tuple(inputs: Any) -> tuple:
    from antorcha._tensor import Tensor

    return (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)


def _outputs_tuple(outputs: Any) -> tuple:
    from antorcha._tensor import Tensor

    return (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)


def _numerical_jacobian(
    fn: Callable, inputs: tuple, index: int, output_sizes: list[int], eps: float
) -> list[np.ndarray]:
    """d(outputs)/d(inputs[index]) by central differences, one column per input element."""
    from antorcha._grad_mode import no_grad

    target = inputs[index]
    flat = target._data.reshape(-1)  # a view: perturbing it perturbs the input
    jacobians = [np.zeros((size, flat.size)) for size in output_sizes]
    with no_grad():
        for j in range(flat.size):
            original = flat[j].item()
            flat[j] = original + eps
            plus = [o._cpu_array().reshape(-1).astype(np.float64) for o in _outputs_tuple(fn(*inputs))]
            flat[j] = original - eps
            minus = [o._cpu_array().reshape(-1).astype(np.float64) for o in _outputs_tuple(fn(*inputs))]
            flat[j] = original
            for k, (p, m) in enumerate(zip(plus, minus)):
                jacobians[k][:, j] = (p - m) / (2 * eps)
    return jacobians


def _analytical_jacobian(fn: Callable, inputs: tuple, index: int) -> list[np.ndarray]:
    from antorcha import autograd
    from antorcha._creation import zeros_like

    outputs = _outputs_tuple(fn(*inputs))
    target = inputs[index]
    jacobians = []
    for out in outputs:
        rows = np.zeros((out.numel(), target.numel()))
        # an output outside the graph has a zero Jacobian, as in torch
        for i in range(out.numel() if out.requires_grad else 0):
            seed = zeros_like(out)
            seed._data.reshape(-1)[i] = 1
            (g,) = autograd.grad(out, target, seed, retain_graph=True, allow_unused=True)
            if g is not None:
                rows[i] = g._cpu_array().reshape(-1)
        jacobians.append(rows)
    return jacobians


def gradcheck(
    fn: Callable,
    inputs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    **_: Any,
) -> bool:
    """Compare autograd's Jacobians with central differences for every input requiring grad.

    Inputs should be float64, as in torch: float32 differences are too coarse to check.
    """
    args = _inputs_tuple(inputs)
    for t in args:
        if getattr(t, "requires_grad", False) and t.dtype.name != "float64":
            import warnings

            warnings.warn(
                f"Input #{args.index(t)} requires gradient and is not a double precision floating point. "
                "gradcheck is reliable only in float64.",
                stacklevel=2,
            )
    sizes = [o.numel() for o in _outputs_tuple(fn(*args))]
    for index, t in enumerate(args):
        if not getattr(t, "requires_grad", False):
            continue
        numerical = _numerical_jacobian(fn, args, index, sizes, eps)
        analytical = _analytical_jacobian(fn, args, index)
        for k, (num, ana) in enumerate(zip(numerical, analytical)):
            if not np.allclose(ana, num, rtol=rtol, atol=atol):
                if raise_exception:
                    raise GradcheckError(
                        f"Jacobian mismatch for output {k} with respect to input {index},\n"
                        f"numerical:{num}\nanalytical:{ana}\n"
                    )
                return False
    return True


def gradgradcheck(fn: Callable, inputs: Any, grad_outputs: Any = None, **kwargs: Any) -> bool:
    """gradcheck of the gradient itself (second derivatives), with a fixed random cotangent."""
    from antorcha import autograd
    from antorcha._creation import randn_like
    from antorcha._grad_mode import enable_grad

    args = _inputs_tuple(inputs)
    outputs = _outputs_tuple(fn(*args))
    if grad_outputs is not None:
        cotangents = _inputs_tuple(grad_outputs)
    else:
        cotangents = tuple(randn_like(o) for o in outputs)

    def first_derivative(*xs: Any) -> tuple:
        # the finite differences run under no_grad; this function needs a graph regardless
        with enable_grad():
            outs = _outputs_tuple(fn(*xs))
            wrt = [x for x in xs if getattr(x, "requires_grad", False)]
            return autograd.grad(outs, wrt, cotangents, create_graph=True, materialize_grads=True)

    return gradcheck(first_derivative, args, **kwargs)


class GradcheckError(RuntimeError):
    """Raised by gradcheck when the analytical and numerical Jacobians disagree."""
