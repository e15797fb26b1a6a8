"""autograd.grad, create_graph and higher-order derivatives, gradcheck: against torch, in float64."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from autograd_helpers import (
    AntorchaOn,
    assert_raises_like_torch,
    assert_same_outcome,
    leaf,
    linear,
    random_array,
)

import antorcha

# ---- autograd.grad -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grad_returns_gradients_without_touching_dot_grad(dtype: str, device: str) -> None:
    x_data, w_data = random_array((3, 2), dtype, 0), random_array((2, 4), dtype, 1)
    cotangent = random_array((3, 4), dtype, 2)

    def gradients(lib: Any) -> tuple:
        x, w = leaf(lib, x_data), leaf(lib, w_data)
        out = (x @ w).tanh()
        grads = lib.autograd.grad(out, (x, w), grad_outputs=leaf(lib, cotangent, False))
        scalar_grad = lib.autograd.grad((x * x).sum(), x)  # a single tensor input: a 1-tuple
        return type(grads).__name__, grads, scalar_grad, x.grad, w.grad, grads[0].requires_grad

    assert_same_outcome(gradients, device=device)


def test_grad_with_respect_to_intermediate_tensors(device: str) -> None:
    x_data = random_array((3,), "float64", 6)

    def intermediate(lib: Any) -> tuple:
        x = leaf(lib, x_data)
        y = x * 3
        z = (y * y).sin().sum()
        return lib.autograd.grad(z, [y, x], retain_graph=True), lib.autograd.grad(z, z)

    def create_graph_then_backward(lib: Any) -> tuple:
        x = leaf(lib, x_data)
        y = (x**3).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)  # keeps the graph by default
        y.backward()
        return g, x.grad

    assert_same_outcome(intermediate, device=device)
    assert_same_outcome(create_graph_then_backward, device=device)


def test_grad_runs_only_the_part_of_the_graph_it_needs(device: str) -> None:
    """Below the requested inputs nothing runs: no hooks fire, no stale saved value is read."""

    def scenario(lib: Any) -> tuple:
        seen: list = []
        x = leaf(lib, np.array([1.0, 2.0]))
        x.register_hook(lambda grad: seen.append("x"))
        a = x.exp()
        y = a * 2
        y.register_hook(lambda grad: seen.append("y"))
        a.add_(1)  # ExpBackward's saved output is stale, but it lies below y
        grads = lib.autograd.grad((y * y).sum(), y)
        return seen, grads, x.grad

    assert_same_outcome(scenario, device=device)


def test_grad_of_several_outputs_sums_their_contributions(device: str) -> None:
    x_data = random_array((4,), "float64", 3)
    cotangents = random_array((4,), "float64", 4), random_array((), "float64", 5)

    def gradients(lib: Any) -> Any:
        x = leaf(lib, x_data)
        outputs = [x.sin(), (x * x).sum()]
        seeds = [leaf(lib, c, False) for c in cotangents]
        return lib.autograd.grad(outputs, [x], grad_outputs=seeds)

    assert_same_outcome(gradients, device=device)


def test_grad_frees_the_graph_unless_retained(device: str) -> None:
    def twice(lib: Any, retain: bool | None) -> Any:
        x = leaf(lib, np.array([0.3, 0.7]))
        y = (x.exp() * x).sum()
        first = lib.autograd.grad(y, x, retain_graph=retain)
        return first, lib.autograd.grad(y, x)

    assert_raises_like_torch(lambda lib: twice(lib, None), RuntimeError, device=device)
    assert_raises_like_torch(lambda lib: twice(lib, False), RuntimeError, device=device)
    assert_same_outcome(lambda lib: twice(lib, True), device=device)


def test_grad_allow_unused_and_materialize(device: str) -> None:
    def unused(lib: Any, **options: Any) -> Any:
        x, z = leaf(lib, np.array([1.0, 2.0])), leaf(lib, np.array([3.0]))
        return lib.autograd.grad((x * x).sum(), (x, z), **options)

    raised = assert_raises_like_torch(unused, RuntimeError, device=device)
    assert "allow_unused" in raised.message
    assert_same_outcome(lambda lib: unused(lib, allow_unused=True), device=device)  # (grad, None)
    assert_same_outcome(lambda lib: unused(lib, allow_unused=True, materialize_grads=True), device=device)
    assert_same_outcome(lambda lib: unused(lib, materialize_grads=True), device=device)


def test_grad_argument_errors() -> None:
    def input_without_grad(lib: Any) -> Any:
        x, c = leaf(lib, np.ones(2)), leaf(lib, np.ones(2), requires_grad=False)
        return lib.autograd.grad((x * c).sum(), c)

    def output_without_grad(lib: Any) -> Any:
        x = leaf(lib, np.ones(2))
        return lib.autograd.grad(x.detach().sum(), x)

    def non_scalar_without_grad_outputs(lib: Any) -> Any:
        x = leaf(lib, np.ones(2))
        return lib.autograd.grad(x * 2, x)

    def grad_outputs_of_wrong_shape(lib: Any) -> Any:
        x = leaf(lib, np.ones(2))
        return lib.autograd.grad(x * 2, x, grad_outputs=lib.ones(3, dtype=lib.float64))

    for scenario in (input_without_grad, output_without_grad, non_scalar_without_grad_outputs,
                     grad_outputs_of_wrong_shape):
        assert_raises_like_torch(scenario, RuntimeError)


# ---- create_graph: higher-order derivatives ----------------------------------------------

SCALAR_FUNCTIONS: dict[str, Callable[[Any, Any], Any]] = {
    "x**4": lambda lib, x: x**4,
    "sin": lambda lib, x: x.sin(),
    "exp(sin(x))": lambda lib, x: x.sin().exp(),
    "sin(x)*exp(x)": lambda lib, x: x.sin() * x.exp(),
    "tanh(x**2)": lambda lib, x: (x * x).tanh(),
    "sigmoid(x)/x": lambda lib, x: x.sigmoid() / x,
    "log(x**2+1)": lambda lib, x: (x * x + 1).log(),
    "sqrt(x**2+1)": lambda lib, x: (x * x + 1).sqrt(),
}


@pytest.mark.parametrize("name", list(SCALAR_FUNCTIONS))
def test_first_second_third_derivatives(name: str, device: str) -> None:
    x_data = np.array([-1.3, -0.4, 0.6, 1.7])

    def derivatives(lib: Any) -> list:
        x = leaf(lib, x_data)
        current = SCALAR_FUNCTIONS[name](lib, x)
        found = []
        for _ in range(3):
            (current,) = lib.autograd.grad(current.sum(), x, create_graph=True)
            found.append(current)
        return found + [found[-1].requires_grad]

    assert_same_outcome(derivatives, device=device)


def test_mixed_partial_derivatives(device: str) -> None:
    x_data, y_data = np.array([0.5, -1.2]), np.array([1.5, 0.3])

    def partials(lib: Any) -> tuple:
        x, y = leaf(lib, x_data), leaf(lib, y_data)
        f = (x * x * y**3 + (x * y).sin()).sum()
        dx, dy = lib.autograd.grad(f, (x, y), create_graph=True)
        (dxdy,) = lib.autograd.grad(dx.sum(), y, retain_graph=True)
        (dydx,) = lib.autograd.grad(dy.sum(), x, retain_graph=True)
        dxdx, dxdy_again = lib.autograd.grad(dx.sum(), (x, y))
        return dx, dy, dxdy, dydx, dxdx, dxdy_again

    assert_same_outcome(partials, device=device)


def _mlp_loss(lib: Any, params: list, inputs: Any, targets: Any) -> Any:
    w1, b1, w2, b2 = params
    hidden = linear(lib)(inputs, w1, b1).tanh()
    hidden = hidden * hidden.sigmoid()
    logits = linear(lib)(hidden, w2, b2)
    return ((logits - targets) ** 2).mean() + (logits.exp().sum(dim=1) + 1).log().mean()


def test_hessian_vector_product_on_a_small_mlp(device: str) -> None:
    shapes = [(5, 3), (5,), (2, 5), (2,)]
    param_data = [random_array(s, "float64", 10 + i) * 0.7 for i, s in enumerate(shapes)]
    vector_data = [random_array(s, "float64", 20 + i) for i, s in enumerate(shapes)]
    inputs_data, targets_data = random_array((6, 3), "float64", 30), random_array((6, 2), "float64", 31)

    def hvp(lib: Any) -> tuple:
        params = [leaf(lib, p) for p in param_data]
        inputs, targets = leaf(lib, inputs_data, False), leaf(lib, targets_data, False)
        loss = _mlp_loss(lib, params, inputs, targets)
        grads = lib.autograd.grad(loss, params, create_graph=True)
        dot = sum((g * leaf(lib, v, False)).sum() for g, v in zip(grads, vector_data))
        return loss, grads, lib.autograd.grad(dot, params)

    assert_same_outcome(hvp, device=device)


def test_backward_with_create_graph_gives_differentiable_grads(device: str) -> None:
    x_data = np.array([0.2, -0.9, 1.4])

    def double_backward(lib: Any) -> tuple:
        x = leaf(lib, x_data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about the x <-> x.grad reference cycle
            (x.sin() * x**3).sum().backward(create_graph=True)
        first = x.grad
        flags = (first.requires_grad, first.grad_fn is not None)
        (second,) = lib.autograd.grad(first.sum(), x)
        return flags, first, second

    assert_same_outcome(double_backward, device=device)


def test_grad_through_a_grad_used_as_a_penalty(device: str) -> None:
    """A gradient penalty: the gradient is part of the loss that is then backpropagated."""
    w_data, x_data = random_array((3, 3), "float64", 40), random_array((4, 3), "float64", 41)

    def penalty(lib: Any) -> Any:
        w, x = leaf(lib, w_data), leaf(lib, x_data)
        out = (x @ w).tanh().sum()
        (dx,) = lib.autograd.grad(out, x, create_graph=True)
        ((dx**2).sum() + out).backward()
        return w.grad, x.grad

    assert_same_outcome(penalty, device=device)


# ---- gradcheck ------------------------------------------------------------------------------


class _WrongSquare:
    """Builds, per library, a custom Function whose backward is off by a factor of 2."""

    @staticmethod
    def make(lib: Any) -> type:
        class WrongSquare(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                (x,) = ctx.saved_tensors
                return grad * x  # should be 2 * grad * x

        return WrongSquare


def test_gradcheck_passes_for_correct_functions(device: str) -> None:
    x_data, y_data = random_array((2, 3), "float64", 50), random_array((3,), "float64", 51)

    def checks(lib: Any) -> tuple:
        x, y = leaf(lib, x_data), leaf(lib, y_data)
        return (
            lib.autograd.gradcheck(lambda a, b: (a.sin() * b).exp(), (x, y)),
            lib.autograd.gradcheck(lambda a: (a @ a.T).tanh().sum(dim=0), (x,)),
            lib.autograd.gradcheck(lambda a, b: (a / (b * b + 1), a.sum() * b), (x, y)),
            lib.autograd.gradgradcheck(lambda a, b: (a * b).sigmoid(), (x, y)),
        )

    assert_same_outcome(checks, device=device)


def test_gradcheck_catches_a_wrong_backward(device: str) -> None:
    x_data = random_array((3,), "float64", 52)

    def raising(lib: Any) -> Any:
        return lib.autograd.gradcheck(_WrongSquare.make(lib).apply, (leaf(lib, x_data),))

    def quiet(lib: Any) -> Any:
        x = leaf(lib, x_data)
        return lib.autograd.gradcheck(_WrongSquare.make(lib).apply, (x,), raise_exception=False)

    assert_raises_like_torch(raising, RuntimeError, device=device)
    assert_same_outcome(quiet, device=device)
    assert quiet(AntorchaOn(device)) is False


def test_gradgradcheck_catches_a_non_differentiable_backward(device: str) -> None:
    """A backward whose value is right but that detaches: first order passes, second fails."""
    x_data = random_array((3,), "float64", 53)

    def checks(lib: Any) -> tuple:
        class DetachedSquare(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                (x,) = ctx.saved_tensors
                return grad * 2 * x.detach()

        x = leaf(lib, x_data)
        return (
            lib.autograd.gradcheck(DetachedSquare.apply, (x,)),
            lib.autograd.gradgradcheck(DetachedSquare.apply, (x,), raise_exception=False),
        )

    assert_same_outcome(checks, device=device)


def test_gradcheck_warns_on_single_precision() -> None:
    for lib in (torch, antorcha):
        x = lib.tensor([0.5, 1.5], requires_grad=True)
        with pytest.warns(UserWarning):
            lib.autograd.gradcheck(lambda a: a * 2, (x,), eps=1e-3, atol=1e-2, raise_exception=False)
