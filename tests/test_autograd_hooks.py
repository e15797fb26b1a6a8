"""Tensor.register_hook on leaves and non-leaves, against torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from autograd_helpers import assert_raises_like_torch, assert_same_outcome, leaf, random_array

X_DATA = random_array((2, 3), "float64", 0)
COTANGENT = random_array((2, 3), "float64", 1)


def _snapshot(seen: list, tag: str) -> Any:
    """A hook that records (tag, a copy of the gradient) and returns None."""

    def hook(grad: Any) -> None:
        seen.append((tag, grad.detach().clone()))

    return hook


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hooks_on_a_leaf(dtype: str, device: str) -> None:
    x_data, cotangent = X_DATA.astype(dtype), COTANGENT.astype(dtype)

    def scenario(lib: Any) -> tuple:
        seen: list = []
        x = leaf(lib, x_data)
        x.register_hook(_snapshot(seen, "observer"))
        x.register_hook(lambda grad: grad * 2)  # replaces the gradient for later hooks and .grad
        x.register_hook(_snapshot(seen, "after doubling"))
        removed = x.register_hook(lambda grad: grad * 100)
        removed.remove()
        (x.sin() * x).backward(leaf(lib, cotangent, False))
        return seen, x.grad

    assert_same_outcome(scenario, device=device)


def test_hooks_on_non_leaves(device: str) -> None:
    def scenario(lib: Any) -> tuple:
        seen: list = []
        x = leaf(lib, X_DATA)
        y = x * 3
        z = y.exp()
        y.register_hook(lambda grad: grad + 1)
        y.register_hook(_snapshot(seen, "y"))
        handle = z.register_hook(lambda grad: grad * 0)
        handle.remove()
        z.register_hook(_snapshot(seen, "z"))
        z.backward(leaf(lib, COTANGENT, False))
        return seen, x.grad

    assert_same_outcome(scenario, device=device)


@pytest.mark.parametrize("retain_first", [True, False])
def test_hook_and_retain_grad(retain_first: bool, device: str) -> None:
    """retain_grad stores the gradient after every hook, whichever was registered first."""

    def scenario(lib: Any) -> tuple:
        x = leaf(lib, X_DATA)
        y = x.tanh()
        if retain_first:
            y.retain_grad()
        y.register_hook(lambda grad: grad * 5)
        if not retain_first:
            y.retain_grad()
        (y * y).backward(leaf(lib, COTANGENT, False))
        return y.grad, x.grad

    assert_same_outcome(scenario, device=device)


def test_hook_runs_once_on_the_summed_gradient(device: str) -> None:
    def scenario(lib: Any) -> tuple:
        seen: list = []
        x = leaf(lib, X_DATA)
        y = x * 2
        x.register_hook(_snapshot(seen, "x"))
        y.register_hook(_snapshot(seen, "y"))
        (y * y + y.sin() + x).sum().backward()  # y and x each reached by several paths
        return seen, x.grad

    assert_same_outcome(scenario, device=device)


def test_hooks_fire_during_autograd_grad(device: str) -> None:
    def scenario(lib: Any) -> tuple:
        seen: list = []
        x = leaf(lib, X_DATA)
        y = x.exp()
        y.register_hook(_snapshot(seen, "y"))
        y.register_hook(lambda grad: grad * -1)
        (gx,) = lib.autograd.grad((y * 2).sum(), x)
        return seen, gx, x.grad

    assert_same_outcome(scenario, device=device)


def test_hook_errors() -> None:
    assert_raises_like_torch(lambda lib: lib.tensor([1.0]).register_hook(lambda g: g), RuntimeError)

    def bad_shape(lib: Any) -> None:
        x = leaf(lib, np.ones(3))
        x.register_hook(lambda grad: grad[:2])
        (x * 2).sum().backward()

    assert_raises_like_torch(bad_shape, RuntimeError)


def test_grad_fn_post_hook_sees_input_and_output_gradients(device: str) -> None:
    def scenario(lib: Any) -> list:
        seen: list = []
        x = leaf(lib, X_DATA)
        y = x.exp()
        y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: seen.append((grad_inputs, grad_outputs)))
        y.backward(leaf(lib, COTANGENT, False))
        return seen

    assert_same_outcome(scenario, device=device)


def test_retain_grad_survives_in_place_and_repeated_backward(device: str) -> None:
    def scenario(lib: Any) -> tuple:
        x = leaf(lib, X_DATA)
        y = x * 2
        y.retain_grad()
        y.add_(1)  # y gets a new grad_fn; it still retains its grad
        (y * y).sum().backward(retain_graph=True)
        first = y.grad.clone()
        (y * y).sum().backward()
        return first, y.grad, x.grad

    assert_same_outcome(scenario, device=device)


def test_post_accumulate_grad_hooks_and_final_callbacks(device: str) -> None:
    """Post-accumulate hooks see the leaf with its new .grad, in registration order; callbacks
    queued from them run once backward has finished (what DDP's bucket reduction relies on)."""

    def scenario(lib: Any) -> list:
        seen: list = []
        w = leaf(lib, X_DATA)
        b = leaf(lib, X_DATA[0])

        def record(tag: str) -> Any:
            def hook(param: Any) -> None:
                seen.append((tag, param.grad.detach().clone()))
                lib.autograd.Variable._execution_engine.queue_callback(lambda: seen.append(("done", tag)))

            return hook

        w.register_post_accumulate_grad_hook(record("w"))
        removed = w.register_post_accumulate_grad_hook(record("removed"))
        removed.remove()
        b.register_post_accumulate_grad_hook(record("b"))
        ((w.sin() * 2 + b) * leaf(lib, COTANGENT, False)).sum().backward()
        lib.autograd.grad((w * 3).sum(), w)  # no accumulation: no hook
        (w * b).sum().backward(inputs=[w])  # only w accumulates
        return seen

    assert_same_outcome(scenario, device=device)


def test_post_accumulate_grad_hook_errors() -> None:
    assert_raises_like_torch(
        lambda lib: lib.ones(2).register_post_accumulate_grad_hook(lambda p: None), RuntimeError
    )
    assert_raises_like_torch(
        lambda lib: (leaf(lib, X_DATA) * 2).register_post_accumulate_grad_hook(lambda p: None), RuntimeError
    )
    assert_raises_like_torch(
        lambda lib: lib.autograd.Variable._execution_engine.queue_callback(lambda: None), RuntimeError
    )
