"""Grad mode (no_grad, enable_grad, set_grad_enabled, inference_mode) and detach, against torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from autograd_helpers import assert_raises_like_torch, assert_same_outcome, leaf, random_array

import antorcha


def _probe(lib: Any, x: Any) -> tuple[bool, bool]:
    """(grad mode, whether an op on a requires-grad tensor is recorded), right here."""
    return lib.is_grad_enabled(), (x * 2).requires_grad


def test_context_managers_and_nesting(device: str) -> None:
    def nesting(lib: Any) -> list:
        x = leaf(lib, np.ones(2))
        seen = [_probe(lib, x)]
        with lib.no_grad():
            seen.append(_probe(lib, x))
            with lib.enable_grad():
                seen.append(_probe(lib, x))
                with lib.set_grad_enabled(False):
                    seen.append(_probe(lib, x))
                seen.append(_probe(lib, x))
            seen.append(_probe(lib, x))
            with lib.set_grad_enabled(True):
                seen.append(_probe(lib, x))
            with lib.no_grad(), lib.no_grad():
                seen.append(_probe(lib, x))
            seen.append(_probe(lib, x))
        seen.append(_probe(lib, x))
        return seen

    assert_same_outcome(nesting, device=device)


def test_modes_are_restored_after_an_exception() -> None:
    def raising(lib: Any) -> list:
        seen = []
        for manager in (lib.no_grad, lambda: lib.set_grad_enabled(False), lib.enable_grad):
            try:
                with manager():
                    raise ValueError
            except ValueError:
                seen.append(lib.is_grad_enabled())
        with lib.no_grad():
            try:
                with lib.enable_grad():
                    raise ValueError
            except ValueError:
                seen.append(lib.is_grad_enabled())
        return seen

    assert_same_outcome(raising)


def test_set_grad_enabled_as_a_plain_call(device: str) -> None:
    def plain_call(lib: Any) -> list:
        x = leaf(lib, np.ones(2))
        lib.set_grad_enabled(False)
        try:
            off = _probe(lib, x)
        finally:
            lib.set_grad_enabled(True)
        return [off, _probe(lib, x)]

    assert_same_outcome(plain_call, device=device)


def test_decorators(device: str) -> None:
    def decorated(lib: Any) -> list:
        x = leaf(lib, np.ones(2))

        @lib.no_grad()
        def under_no_grad_call() -> tuple:
            return _probe(lib, x)

        @lib.no_grad
        def under_bare_no_grad() -> tuple:
            return _probe(lib, x)

        @lib.enable_grad()
        def under_enable_grad() -> tuple:
            return _probe(lib, x)

        @lib.enable_grad
        def under_bare_enable_grad() -> tuple:
            return _probe(lib, x)

        @lib.set_grad_enabled(False)
        def under_set_false() -> tuple:
            return _probe(lib, x)

        @lib.no_grad()
        def nested() -> tuple:
            return under_enable_grad() + _probe(lib, x)

        seen = [_probe(lib, x)]  # defining the decorators changed nothing
        for fn in (under_no_grad_call, under_bare_no_grad, under_set_false, nested):
            seen.append(fn())
            seen.append(_probe(lib, x))
        with lib.no_grad():
            seen.append(under_enable_grad())
            seen.append(under_bare_enable_grad())
            seen.append(_probe(lib, x))
        return seen

    assert_same_outcome(decorated, device=device)


def test_decorated_function_keeps_its_name_and_restores_on_error() -> None:
    for lib in (torch, antorcha):

        @lib.no_grad()
        def documented() -> None:
            """Doc."""
            raise KeyError

        assert documented.__name__ == "documented" and documented.__doc__ == "Doc."
        with pytest.raises(KeyError):
            documented()
        assert lib.is_grad_enabled()


def test_autograd_namespace_exports_the_same_managers() -> None:
    for name in ("no_grad", "enable_grad", "set_grad_enabled", "inference_mode"):
        assert getattr(antorcha.autograd, name) is getattr(antorcha, name), name
    assert antorcha.autograd.grad_mode.no_grad is antorcha.no_grad


def test_inference_mode(device: str) -> None:
    def inference(lib: Any) -> list:
        x = leaf(lib, np.ones(2))
        with lib.inference_mode():
            inside = _probe(lib, x)
        with lib.inference_mode(False):
            disabled = _probe(lib, x)
        return [inside, disabled, _probe(lib, x)]

    assert_same_outcome(inference, device=device)


def test_ops_under_no_grad_give_plain_leaves(device: str) -> None:
    x_data = random_array((2, 3), "float32", 0)

    def under_no_grad(lib: Any) -> tuple:
        x = leaf(lib, x_data)
        with lib.no_grad():
            y = (x * 2).exp().sum(dim=0)
        z = y * x  # y is a constant here: gradient flows to x only
        z.sum().backward()
        return y, y.requires_grad, y.is_leaf, y.grad_fn is None, z.requires_grad, x.grad

    assert_same_outcome(under_no_grad, device=device)


# ---- detach ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_detach_shares_memory_and_leaves_the_graph(dtype: str, device: str) -> None:
    x_data = random_array((2, 3), dtype, 1)

    def detached(lib: Any) -> tuple:
        x = leaf(lib, x_data)
        y = x * 3
        d = y.detach()
        flags = (d.requires_grad, d.is_leaf, d.grad_fn is None, d.dtype == y.dtype)
        d[0, 0] = 100.0  # shared memory: y sees it
        (d * x).sum().backward()  # d is a constant: x.grad == d
        return flags, y.detach().clone(), x.grad

    assert_same_outcome(detached, device=device)


def test_changing_a_detached_tensor_is_seen_by_backward() -> None:
    def modified_saved_output(lib: Any) -> None:
        x = leaf(lib, np.ones(3))
        y = x.exp()  # exp saves its output
        y.detach().zero_()
        y.sum().backward()

    assert_raises_like_torch(modified_saved_output, RuntimeError)


def test_dot_data_is_not_tracked(device: str) -> None:
    """`.data` is detach() without the version counter: torch does not see changes through it."""

    def through_data(lib: Any) -> tuple:
        x = leaf(lib, np.full(3, 0.5))
        y = x.exp()
        y.data.mul_(2)
        y.sum().backward()  # uses the changed y, silently, as torch does
        x.data.add_(1)  # the optimizer idiom on a leaf that requires grad
        return y.data.requires_grad, x.grad, x

    assert_same_outcome(through_data, device=device)


def test_detach_in_place(device: str) -> None:
    def detach_(lib: Any) -> tuple:
        x = leaf(lib, np.ones(2))
        y = x * 2
        y.detach_()
        return y.requires_grad, y.is_leaf, y.grad_fn is None

    assert_same_outcome(detach_, device=device)
