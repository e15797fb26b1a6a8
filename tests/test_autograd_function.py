"""Custom autograd.Function subclasses, against torch.autograd.Function.

Each scenario defines its Function inside `scenario(lib)`, subclassing `lib.autograd.Function`,
so the very same class body runs on torch and on antorcha.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from autograd_helpers import assert_raises_like_torch, assert_same_outcome, leaf, random_array


def _scaled_exp(lib: Any, log: list) -> type:
    """exp(x) * scale, saving its output; records what its ctx saw into `log`."""

    class ScaledExp(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, scale: float) -> Any:
            log.append(("forward grad mode", lib.is_grad_enabled()))
            out = x.exp() * scale
            ctx.scale = scale
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple:
            (out,) = ctx.saved_tensors
            log.append(("needs_input_grad", tuple(ctx.needs_input_grad)))
            return grad * out, None

    return ScaledExp


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_function_forward_backward_and_grad_fn_name(dtype: str, device: str) -> None:
    x_data, cotangent = random_array((2, 3), dtype, 0), random_array((2, 3), dtype, 1)

    def scenario(lib: Any) -> tuple:
        log: list = []
        x = leaf(lib, x_data)
        y = _scaled_exp(lib, log).apply(x, 1.5)
        names = (type(y.grad_fn).__name__, y.grad_fn.name(), y.requires_grad, y.is_leaf)
        y.backward(leaf(lib, cotangent, False))
        return names, y, x.grad, log

    assert_same_outcome(scenario, device=device)


def test_function_needs_input_grad_and_none_gradients(device: str) -> None:
    a_data, b_data = random_array((3,), "float64", 2), random_array((3,), "float64", 3)

    def scenario(lib: Any) -> tuple:
        seen: list = []

        class WeightedSum(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, a: Any, weight: float, b: Any) -> Any:
                ctx.save_for_backward(a, b)
                ctx.weight = weight
                return a * weight + b * b

            @staticmethod
            def backward(ctx: Any, grad: Any) -> tuple:
                _, b = ctx.saved_tensors
                seen.append(tuple(ctx.needs_input_grad))
                grad_a = grad * ctx.weight if ctx.needs_input_grad[0] else None
                grad_b = grad * 2 * b if ctx.needs_input_grad[2] else None
                return grad_a, None, grad_b

        a, b = leaf(lib, a_data), leaf(lib, b_data, requires_grad=False)
        WeightedSum.apply(a, 0.5, b).sum().backward()
        b.requires_grad_()
        WeightedSum.apply(a.detach(), 2.0, b).sum().backward()
        return seen, a.grad, b.grad

    assert_same_outcome(scenario, device=device)


def test_function_with_several_outputs(device: str) -> None:
    x_data = random_array((4,), "float64", 4)
    cotangent = random_array((4,), "float64", 5)

    def scenario(lib: Any, use_both: bool) -> tuple:
        received: list = []

        class SinCos(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> tuple:
                ctx.save_for_backward(x)
                return x.sin(), x.cos()

            @staticmethod
            def backward(ctx: Any, grad_sin: Any, grad_cos: Any) -> Any:
                (x,) = ctx.saved_tensors
                received.append((grad_sin, grad_cos))  # unused outputs get zeros
                return grad_sin * x.cos() - grad_cos * x.sin()

        x = leaf(lib, x_data)
        s, c = SinCos.apply(x)
        loss = (s * leaf(lib, cotangent, False)).sum() + (c.sum() if use_both else 0)
        loss.backward()
        return (s.grad_fn is c.grad_fn, s.requires_grad, c.requires_grad), received, x.grad

    assert_same_outcome(lambda lib: scenario(lib, use_both=True), device=device)
    assert_same_outcome(lambda lib: scenario(lib, use_both=False), device=device)


def test_mark_non_differentiable(device: str) -> None:
    x_data = np.array([[3.0, -1.0, 2.0], [0.5, 4.0, -2.0]])
    cotangent = random_array((3,), "float64", 6)

    def scenario(lib: Any) -> tuple:
        class MaxWithIndex(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> tuple:
                values, index = x.max(dim=0)
                ctx.mark_non_differentiable(index)
                ctx.save_for_backward(x, index)
                return values, index

            @staticmethod
            def backward(ctx: Any, grad_values: Any, grad_index: Any) -> Any:
                x, index = ctx.saved_tensors
                grad = lib.zeros_like(x)
                grad[index, lib.arange(x.shape[1])] = grad_values
                return grad

        x = leaf(lib, x_data)
        values, index = MaxWithIndex.apply(x)
        flags = (values.requires_grad, index.requires_grad, index.grad_fn is None)
        values.backward(leaf(lib, cotangent, False))
        return flags, values, index, x.grad

    assert_same_outcome(scenario, device=device)


def test_function_without_grad_records_nothing(device: str) -> None:
    def scenario(lib: Any) -> list:
        x = leaf(lib, np.array([0.5, 1.0]))
        fn = _scaled_exp(lib, [])
        with lib.no_grad():
            under_no_grad = fn.apply(x, 2.0)
        plain = fn.apply(x.detach(), 2.0)
        return [(t.requires_grad, t.grad_fn is None, t) for t in (under_no_grad, plain)]

    assert_same_outcome(scenario, device=device)


def test_function_returning_its_input(device: str) -> None:
    def scenario(lib: Any) -> tuple:
        class Identity(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                return x

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                return grad * 3

        x = leaf(lib, np.array([1.0, 2.0]))
        y = Identity.apply(x)
        (y * y).sum().backward()
        return type(y.grad_fn).__name__, x.is_leaf, x.grad

    assert_same_outcome(scenario, device=device)


def test_function_saved_tensors_are_freed_after_backward() -> None:
    def scenario(lib: Any) -> Any:
        y = _scaled_exp(lib, []).apply(leaf(lib, np.ones(2)), 1.0)
        y.sum().backward()
        y.sum().backward()

    assert_raises_like_torch(scenario, RuntimeError)


def test_function_backward_errors() -> None:
    def too_few_gradients(lib: Any) -> Any:
        class TooFew(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, a: Any, b: Any) -> Any:
                return a * b

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                return grad

        a, b = leaf(lib, np.ones(2)), leaf(lib, np.ones(2))
        TooFew.apply(a, b).sum().backward()

    def wrong_shape(lib: Any) -> Any:
        class WrongShape(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, a: Any) -> Any:
                return a * 2

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                return grad[:2]

        WrongShape.apply(leaf(lib, np.ones(3))).sum().backward()

    def save_non_tensor(lib: Any) -> Any:
        class SavesFloat(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, a: Any) -> Any:
                ctx.save_for_backward(a, 2.0)
                return a * 2

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                return grad

        SavesFloat.apply(leaf(lib, np.ones(3)))

    assert_raises_like_torch(too_few_gradients, RuntimeError)
    assert_raises_like_torch(wrong_shape, RuntimeError)
    assert_raises_like_torch(save_non_tensor, TypeError)


def _cube(lib: Any, once_differentiable: bool = False) -> Any:
    """x ** 3 as a Function with a differentiable backward, or one marked @once_differentiable."""

    def backward(ctx: Any, grad: Any) -> Any:
        (x,) = ctx.saved_tensors
        if once_differentiable:
            assert not lib.is_grad_enabled()  # the marked backward runs without recording
        return grad * 3 * x * x

    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x)
            return x**3

    marked = lib.autograd.function.once_differentiable(backward) if once_differentiable else backward
    Cube.backward = staticmethod(marked)
    return Cube


def test_function_double_backward(device: str) -> None:
    """backward written with differentiable ops gives second derivatives under create_graph."""
    x_data = np.array([-0.7, 0.4, 1.3])

    def scenario(lib: Any) -> tuple:
        x = leaf(lib, x_data)
        (first,) = lib.autograd.grad(_cube(lib).apply(x).sum(), x, create_graph=True)
        (second,) = lib.autograd.grad(first.sum(), x)
        return first, second

    assert_same_outcome(scenario, device=device)


def test_once_differentiable_backward(device: str) -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, np.array([-0.7, 0.4, 1.3]))
        _cube(lib, once_differentiable=True).apply(x).sum().backward()
        return x.grad

    assert_same_outcome(scenario, device=device)


def test_once_differentiable_refuses_a_second_derivative_as_torch(device: str) -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3,), seed=8))
        (g,) = lib.autograd.grad(_cube(lib, once_differentiable=True).apply(x).sum(), x, create_graph=True)
        first = g.detach().clone()
        g.sum().backward()  # torch: RuntimeError, "trying to differentiate twice ..."
        return first

    assert_same_outcome(scenario, device=device)


def test_mark_dirty_moves_the_input_onto_the_function(device: str) -> None:
    def scenario(lib: Any, on_leaf: bool) -> tuple:
        class AddOneInPlace(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                x.add_(1)
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                return grad * 2

        x = leaf(lib, np.array([1.0, 2.0]))
        y = x if on_leaf else x * 1
        z = AddOneInPlace.apply(y)
        flags = (z is y, type(y.grad_fn).__name__)
        (z * z).sum().backward()
        return flags, z, x.grad

    assert_same_outcome(lambda lib: scenario(lib, on_leaf=False), device=device)
    assert_raises_like_torch(lambda lib: scenario(lib, on_leaf=True), RuntimeError, device=device)


def test_function_with_a_non_tensor_output(device: str) -> None:
    def scenario(lib: Any) -> tuple:
        received: list = []

        class WithCount(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> tuple:
                return x * 2, 7

            @staticmethod
            def backward(ctx: Any, grad: Any, grad_count: Any) -> Any:
                received.append(grad_count)
                return grad * 2

        x = leaf(lib, np.array([1.0, 2.0]))
        y, count = WithCount.apply(x)
        y.sum().backward()
        return count, received, x.grad

    assert_same_outcome(scenario, device=device)


def test_function_with_setup_context(device: str) -> None:
    """torch 2's style: forward without ctx, and a separate setup_context."""

    def scenario(lib: Any) -> tuple:
        class Scale(lib.autograd.Function):
            @staticmethod
            def forward(x: Any, factor: float) -> Any:
                return x * factor

            @staticmethod
            def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
                x, ctx.factor = inputs
                ctx.save_for_backward(x)

            @staticmethod
            def backward(ctx: Any, grad: Any) -> tuple:
                (x,) = ctx.saved_tensors
                return grad * ctx.factor + 0 * x, None

        x = leaf(lib, np.array([1.0, 2.0]))
        y = Scale.apply(x, 3.0)
        y.sum().backward()
        return type(y.grad_fn).__name__, y, x.grad

    assert_same_outcome(scenario, device=device)


def test_double_backward_through_saved_outputs_of_a_multi_output_function(device: str) -> None:
    def scenario(lib: Any) -> tuple:
        class SinCos(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> tuple:
                sin, cos = x.sin(), x.cos()
                ctx.save_for_backward(sin, cos)
                return sin, cos

            @staticmethod
            def backward(ctx: Any, grad_sin: Any, grad_cos: Any) -> Any:
                sin, cos = ctx.saved_tensors
                return grad_sin * cos - grad_cos * sin

        x = leaf(lib, np.array([0.3, 1.1, -0.8]))
        sin, cos = SinCos.apply(x)
        (first,) = lib.autograd.grad((sin * 2 + cos * 3).sum(), x, create_graph=True)
        (second,) = lib.autograd.grad(first.sum(), x)
        return first, second

    assert_same_outcome(scenario, device=device)


def test_a_forward_that_records_nothing_keeps_nothing_on_its_ctx() -> None:
    """scatter's forward keeps its index grid on the ctx and reads it back: without recording,
    the ctx is the call's own, so the grid is neither kept alive nor shared with another thread."""
    import gc
    import warnings

    import antorcha
    from antorcha.autograd.function import NullContext

    x = antorcha.zeros(3, 4)
    index = antorcha.tensor([[0, 1, 2, 0]])
    with antorcha.no_grad():
        out = antorcha.scatter(x, 0, index, value=1.0)
    assert out.sum().item() == 4.0
    gc.collect()
    with warnings.catch_warnings():  # isinstance on some of torch's lazy objects warns
        warnings.simplefilter("ignore")
        assert not [o for o in gc.get_objects() if isinstance(o, NullContext)]
