"""The engine's knowledge of who holds each gradient, and what a node keeps after backward.

A gradient only the engine holds may be overwritten (accumulated into, handed to a leaf
without a copy, written into by relu's backward); every other one must come through
untouched. After backward without retain_graph, no node keeps an array.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch
from autograd_helpers import arrays_kept, assert_same_outcome, graph_nodes, leaf, random_array

import antorcha
from antorcha.ops import unary


def _layer_losses(lib: Any, x: Any, w: Any) -> dict[str, Any]:
    F = lib.nn.functional
    h = x @ w  # (6, 4)
    target = lib.tensor([0, 3, 1, 2, 3, 0])
    return {
        "mse_loss": F.mse_loss(h, lib.ones(6, 4, dtype=h.dtype)),
        "cross_entropy": F.cross_entropy(h, target, label_smoothing=0.1),
        "nll_loss_weighted": F.nll_loss(F.log_softmax(h, dim=1), target, weight=lib.ones(4, dtype=h.dtype)),
        "binary_cross_entropy": F.binary_cross_entropy(h.sigmoid(), lib.full((6, 4), 0.25, dtype=h.dtype)),
        "bce_with_logits": F.binary_cross_entropy_with_logits(h, lib.full((6, 4), 0.5, dtype=h.dtype)),
        "leaky_relu": F.leaky_relu(h, 0.1).sum(),
        "layer_norm": F.layer_norm(h, (4,)).pow(2).sum(),
        "embedding": F.embedding(target, w.t(), padding_idx=1).sum(),
        "huber_loss": F.huber_loss(h, lib.zeros(6, 4, dtype=h.dtype)),
    }


@pytest.mark.parametrize(
    "name",
    ["mse_loss", "cross_entropy", "nll_loss_weighted", "binary_cross_entropy", "bce_with_logits",
     "leaky_relu", "layer_norm", "embedding", "huber_loss"],
)
def test_losses_and_layers_keep_no_array_after_backward_and_match_torch(name: str) -> None:
    x_values, w_values = random_array((6, 3), seed=1), random_array((3, 4), seed=2)
    results = {}
    for lib in (torch, antorcha):
        x, w = leaf(lib, x_values), leaf(lib, w_values)
        loss = _layer_losses(lib, x, w)[name]
        loss.backward()
        grads = [None if t.grad is None else t.grad.numpy() for t in (x, w)]
        results[lib.__name__] = (loss.detach().numpy(), *grads, loss)
    for ours, theirs in zip(results["antorcha"][:3], results["torch"][:3]):
        assert (ours is None) == (theirs is None)
        if theirs is not None:
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    for node in graph_nodes([results["antorcha"][3].grad_fn]):
        assert not arrays_kept(node), f"{name}: {node.name()} keeps {arrays_kept(node)}"


def test_a_second_backward_through_a_freed_node_raises_as_in_torch() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((5,), seed=3))
        y = lib.nn.functional.leaky_relu(x, 0.2).sum()
        y.backward()
        y.backward()

    assert_same_outcome(scenario)


def test_a_node_without_saved_arrays_runs_backward_twice_as_in_torch() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((2, 3), seed=4))
        y = x.sum(dim=1).sum()
        y.backward()
        y.backward()
        return x.grad

    assert_same_outcome(scenario)


def test_the_root_gradient_is_never_overwritten_or_aliased() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((80, 60), seed=5))  # above the engine's reuse size
        gradient = lib.tensor(random_array((80, 60), seed=6))
        kept = gradient.clone()
        x.relu().backward(gradient)  # relu's incoming gradient is the caller's
        (x * 1).backward(gradient)  # a passed-through gradient reaching a leaf
        x.grad.add_(1)  # must not write into `gradient`
        return gradient, kept, x.grad

    assert_same_outcome(scenario)


def test_gradients_meeting_at_one_tensor_accumulate_without_touching_the_parts() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((80, 60), seed=7))  # above the engine's reuse size
        parts = []
        a, b = x * 2, x.exp()
        a.register_hook(parts.append)  # the hook keeps a's gradient: it must not be accumulated into
        (a * 3 + b * a + (b - 1).relu()).sum().backward()
        return x.grad, parts

    assert_same_outcome(scenario)


def _relu_backward_results(monkeypatch: pytest.MonkeyPatch) -> list:
    """Spy on relu's backward array formula: the arrays it returns, in order."""
    returned = []
    original = unary._zeroed_where_at_most

    def spy(*args: Any) -> Any:
        returned.append(original(*args))
        return returned[-1]

    monkeypatch.setattr(unary, "_zeroed_where_at_most", spy)
    return returned


@pytest.mark.parametrize("hooked", [False, True])
def test_a_leaf_takes_an_engine_owned_gradient_without_a_copy(
    hooked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """relu's result reaches the leaf as its .grad itself, unless a hook was shown it; either way
    the values are torch's."""
    values, weights = random_array((80, 60), seed=10), random_array((80, 60), seed=11)
    returned = _relu_backward_results(monkeypatch)
    grads = []
    for lib in (antorcha, torch):
        x = leaf(lib, values)
        h = x.relu()
        if hooked:
            h.register_hook(lambda g: None)  # a hook on relu's output: its input gradient is shown
            x.register_hook(lambda g: None)
        (h * lib.tensor(weights)).sum().backward()
        grads.append(x.grad)
    assert len(returned) == 1
    assert (grads[0]._data is returned[0]) is not hooked
    np.testing.assert_allclose(grads[0].numpy(), grads[1].numpy(), rtol=1e-12)


def test_small_gradients_are_never_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the reuse size relu writes a new array and the leaf copies: nothing is overwritten."""
    returned = _relu_backward_results(monkeypatch)
    x = antorcha.randn(5, 4, requires_grad=True)
    (x.relu() * 3).sum().backward()
    assert x.grad._data is not returned[0]


def test_grad_mode_is_per_thread() -> None:
    """no_grad in one thread leaves another thread recording, as in torch."""
    x = antorcha.ones(3, requires_grad=True)
    inside_no_grad, other_started, results = threading.Event(), threading.Event(), {}

    def in_no_grad() -> None:
        with antorcha.no_grad():
            inside_no_grad.set()
            other_started.wait(5)
            results["no_grad thread"] = ((x * 2).requires_grad, antorcha.is_grad_enabled())

    def recording() -> None:
        inside_no_grad.wait(5)
        results["other thread"] = ((x * 2).requires_grad, antorcha.is_grad_enabled())
        other_started.set()

    threads = [threading.Thread(target=in_no_grad), threading.Thread(target=recording)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == {"no_grad thread": (False, False), "other thread": (True, True)}
    assert antorcha.is_grad_enabled()  # the main thread was never affected


def test_a_new_thread_starts_with_grad_mode_on_even_inside_no_grad() -> None:
    seen = []
    with antorcha.no_grad():
        thread = threading.Thread(target=lambda: seen.append(antorcha.is_grad_enabled()))
        thread.start()
        thread.join(10)
    assert seen == [torch.is_grad_enabled()]  # torch: True (the default of a fresh thread)


def test_every_lazy_submodule_of_the_namespace_exists() -> None:
    """`antorcha.<name>` for each lazily loaded submodule imports a real module ('backends' did not)."""
    for name in antorcha._LAZY_SUBMODULES:
        assert getattr(antorcha, name).__name__ == f"antorcha.{name}"
    assert not hasattr(antorcha, "no_such_submodule")  # an AttributeError, not a ModuleNotFoundError
