"""The backward engine against torch: requires_grad propagation, backward's entry rules,
accumulation into .grad, retain_grad, freeing the graph, long chains, .grad assignment."""

from __future__ import annotations

import contextlib
import gc
import sys
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from autograd_helpers import (
    FLOAT_DTYPES,
    assert_raises_like_torch,
    assert_same_outcome,
    leaf,
    random_array,
)

import antorcha

# ---- requires_grad propagation ---------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_requires_grad_propagates_through_ops(dtype: str, device: str) -> None:
    x_data, c_data = random_array((2, 3), dtype, 0), random_array((2, 3), dtype, 1)

    def flags(lib: Any) -> dict:
        x, c = leaf(lib, x_data), leaf(lib, c_data, requires_grad=False)
        results = {
            "x*c": x * c,
            "c*c": c * c,
            "c+x": c + x,
            "x.exp()": x.exp(),
            "c.exp()": c.exp(),
            "x.sum()": x.sum(),
            "x@c.T": x @ c.T,
            "c.view(-1)": c.view(-1),
            "x[0]": x[0],
            "x>0": x > 0,
            "x.argmax()": x.argmax(),
            "x.long()": x.long(),
            "x.double()": x.double(),
            "(x*c).sum()*2": (x * c).sum() * 2,
        }
        return {
            name: (t.requires_grad, t.is_leaf, t.grad_fn is None) for name, t in results.items()
        } | {"x": (x.requires_grad, x.is_leaf, x.grad_fn is None)}

    assert_same_outcome(flags, device=device)


def test_requires_grad_flag_rules(device: str) -> None:
    assert_raises_like_torch(lambda lib: lib.tensor([1, 2]).requires_grad_(), RuntimeError, device=device)
    assert_raises_like_torch(lambda lib: lib.tensor([1.0], requires_grad=True).mul(2).requires_grad_(False),
                             RuntimeError, device=device)

    def toggles(lib: Any) -> tuple:
        x = lib.tensor([1.0, 2.0])
        x.requires_grad_()
        first = x.requires_grad
        x.requires_grad = False
        y = (x * 2).requires_grad_()  # a leaf made from a no-grad computation
        return first, x.requires_grad, y.requires_grad, y.is_leaf

    assert_same_outcome(toggles, device=device)


# ---- backward's entry rules -------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_backward_on_scalar_and_with_gradient(dtype: str, device: str) -> None:
    x_data, g_data = random_array((3, 4), dtype, 2), random_array((3, 4), dtype, 3)

    def scalar(lib: Any) -> Any:
        x = leaf(lib, x_data)
        (x.exp() * x).sum().backward()
        return x.grad

    def with_gradient(lib: Any) -> Any:
        x = leaf(lib, x_data)
        (x.sin() * x).backward(leaf(lib, g_data, False))
        return x.grad

    def one_element(lib: Any) -> Any:
        x = leaf(lib, x_data)
        (x * x).sum(dim=(0, 1), keepdim=True).backward()  # shape (1, 1): implicit grad allowed
        return x.grad

    for scenario in (scalar, with_gradient, one_element):
        assert_same_outcome(scenario, device=device)


def test_backward_roots_and_inputs(device: str) -> None:
    x_data, w_data = random_array((3,), "float64", 9), random_array((3,), "float64", 10)
    g_data = random_array((3,), "float64", 11)

    def several_roots(lib: Any) -> tuple:
        x, w = leaf(lib, x_data), leaf(lib, w_data)
        shared = x * w
        lib.autograd.backward([shared.exp(), shared.sum()], [leaf(lib, g_data, False), None])
        return x.grad, w.grad

    def only_some_inputs(lib: Any) -> tuple:
        x, w = leaf(lib, x_data), leaf(lib, w_data)
        (x * w).sin().sum().backward(inputs=[w])
        return x.grad, w.grad

    def leaf_as_root(lib: Any) -> Any:
        x = leaf(lib, x_data)
        x.backward(leaf(lib, g_data, False))
        return x.grad

    for scenario in (several_roots, only_some_inputs, leaf_as_root):
        assert_same_outcome(scenario, device=device)


def test_backward_on_non_scalar_needs_gradient() -> None:
    raised = assert_raises_like_torch(lambda lib: (leaf(lib, np.ones(3)) * 2).backward(), RuntimeError)
    assert "grad can be implicitly created only for scalar outputs" in raised.message


def test_backward_entry_errors() -> None:
    def no_grad_output(lib: Any) -> None:
        (lib.tensor([1.0, 2.0]) * 2).sum().backward()

    def wrong_gradient_shape(lib: Any) -> None:
        (leaf(lib, np.ones(3)) * 2).backward(lib.ones(4, dtype=lib.float64))

    def gradient_not_a_tensor(lib: Any) -> None:
        (leaf(lib, np.ones(3)) * 2).backward([1.0, 1.0, 1.0])

    assert_raises_like_torch(no_grad_output, RuntimeError)
    assert_raises_like_torch(wrong_gradient_shape, RuntimeError)
    assert_raises_like_torch(gradient_not_a_tensor, TypeError)


# ---- accumulation, retain_grad ------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_gradients_accumulate_in_leaves(dtype: str, device: str) -> None:
    x_data, w_data = random_array((4,), dtype, 4), random_array((4,), dtype, 5)

    def accumulate(lib: Any) -> tuple:
        x, w = leaf(lib, x_data), leaf(lib, w_data)
        (x * w).sum().backward()
        first = x.grad.clone()
        (x.exp() * x + w * x).sum().backward()  # x reached by several paths
        second = x.grad.clone()
        x.grad.zero_()
        (x * x).sum().backward()
        after_zero = x.grad.clone()
        x.grad = None
        (x * 3).sum().backward()
        return first, second, after_zero, x.grad, w.grad

    assert_same_outcome(accumulate, device=device)


def test_non_leaf_grad_is_none_and_warns() -> None:
    for lib in (torch, antorcha):
        x = leaf(lib, np.ones(3))
        y = x * 2
        y.sum().backward()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert y.grad is None
            assert x.grad is not None
        categories = [w.category for w in caught]
        assert categories == [UserWarning], f"{lib.__name__}: {categories}"


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_retain_grad_on_non_leaf(dtype: str, device: str) -> None:
    x_data, g_data = random_array((2, 3), dtype, 6), random_array((2, 3), dtype, 7)

    def retained(lib: Any) -> tuple:
        x = leaf(lib, x_data)
        y = x.tanh()
        y.retain_grad()
        z = y * y * 3
        z.retain_grad()
        z.backward(leaf(lib, g_data, False))
        first = y.grad.clone()
        (y * 2).sum().backward()  # a new graph on top of y: y.grad accumulates
        return y.retains_grad, first, y.grad, z.grad, x.grad

    assert_same_outcome(retained, device=device)
    assert_raises_like_torch(lambda lib: lib.tensor([1.0]).retain_grad(), RuntimeError, device=device)


# ---- the graph is freed after backward ---------------------------------------------


@pytest.mark.parametrize("make", ["exp", "mul", "sigmoid", "matmul"])
def test_second_backward_needs_retain_graph(make: str, device: str) -> None:
    x_data = random_array((3, 3), "float64", 8)

    def build(lib: Any) -> tuple[Any, Any]:
        x = leaf(lib, x_data)
        y = {"exp": lambda: x.exp(), "mul": lambda: x * x, "sigmoid": lambda: x.sigmoid(),
             "matmul": lambda: x @ x}[make]()
        return x, y.sum()

    def twice(lib: Any) -> None:
        _, loss = build(lib)
        loss.backward()
        loss.backward()

    def twice_retained(lib: Any) -> Any:
        x, loss = build(lib)
        loss.backward(retain_graph=True)
        loss.backward(retain_graph=True)
        loss.backward()
        return x.grad

    raised = assert_raises_like_torch(twice, RuntimeError, device=device)
    assert "second time" in raised.message
    assert_same_outcome(twice_retained, device=device)


def test_saved_tensors_are_released_after_backward(device: str) -> None:
    """Not a torch comparison: the memory a graph holds must go once backward is done."""
    for retain in (False, True):
        x = antorcha.randn(3, requires_grad=True, device=device)
        a = x * 2
        b = a * a  # saves `a`
        watcher = weakref.ref(a)
        del a
        gc.collect()
        assert watcher() is not None
        b.sum().backward(retain_graph=retain)
        gc.collect()
        assert (watcher() is not None) == retain


# ---- long chains: no recursion -------------------------------------------------------

CHAIN_LENGTH = 100_000


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Keeps the test fast: the cyclic collector would rescan the growing live graph again and
    again. Plain reference counting must free the graph anyway, which these tests check."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def test_backward_through_a_100k_chain(device: str) -> None:
    x_data = np.array([1.0, -2.0, 0.5])
    limit = sys.getrecursionlimit()

    def chain(lib: Any) -> Any:
        x = leaf(lib, x_data)
        y = x
        for _ in range(CHAIN_LENGTH // 2):  # a node that saves a tensor, then one that saves none
            y = y * 1.00001
            y = y + 0.0
        (y * y).sum().backward()
        return y, x.grad

    with cyclic_gc_paused():
        assert_same_outcome(chain, rtol=1e-9, device=device)
    assert sys.getrecursionlimit() == limit


def test_a_100k_chain_is_freed_with_its_last_tensor(device: str) -> None:
    """Not a torch comparison (torch nodes take no weakrefs): no cycles keep a graph alive."""
    with cyclic_gc_paused():
        x = antorcha.ones(2, requires_grad=True, device=device)
        y = x
        for _ in range(CHAIN_LENGTH // 2):
            y = y * 1.0
            y = y + 1.0
        watchers = [weakref.ref(y.grad_fn), weakref.ref(y.grad_fn.next_functions[0][0])]
        del y
        assert [w() for w in watchers] == [None, None]


# ---- assigning .grad -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["int", "float", "ndarray", "list"])
def test_assigning_a_non_tensor_grad_raises_type_error(value: str) -> None:
    def assign(lib: Any) -> None:
        x = leaf(lib, np.ones(3))
        x.grad = {"int": 3, "float": 1.5, "ndarray": np.ones(3), "list": [1.0, 1.0, 1.0]}[value]

    assert_raises_like_torch(assign, TypeError)


def test_assigning_grad(device: str) -> None:
    def wrong_shape(lib: Any) -> None:
        leaf(lib, np.ones(3)).grad = lib.zeros(2, dtype=lib.float64)

    def wrong_dtype(lib: Any) -> None:
        leaf(lib, np.ones(3)).grad = lib.zeros(3, dtype=lib.float32)

    def valid(lib: Any) -> tuple:
        x = leaf(lib, np.ones(3))
        x.grad = lib.full((3,), 2.0, dtype=lib.float64)
        (x * x).sum().backward()  # accumulates onto the assigned grad
        accumulated = x.grad.clone()
        x.grad = None
        return accumulated, x.grad

    assert_raises_like_torch(wrong_shape, RuntimeError, device=device)
    assert_raises_like_torch(wrong_dtype, RuntimeError, device=device)
    assert_same_outcome(valid, device=device)
