"""In-place ops and autograd, against torch: version counters catch a saved value changed
before backward; leaves that require grad refuse in-place changes outside no_grad."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from autograd_helpers import assert_raises_like_torch, assert_same_outcome, leaf, random_array

X_DATA = random_array((3,), "float64", 0, positive=True)
COTANGENT = random_array((3,), "float64", 1)


def _backward(lib: Any, out: Any, x: Any) -> Any:
    out.backward(leaf(lib, COTANGENT, False) if out.ndim else None)
    return x.grad


# ---- a saved value changed in place: backward fails -------------------------------------


def _exp_then_add(lib: Any, x: Any) -> Any:
    y = x.exp()  # saves its output
    y.add_(1)
    return y.sum()


def _square_then_scale(lib: Any, x: Any) -> Any:
    a = x * 2
    b = a * a  # saves a
    a.mul_(3)
    return b


def _sigmoid_then_scale(lib: Any, x: Any) -> Any:
    y = x.sigmoid()
    y.mul_(2)
    return y


def _saved_input_through_detach(lib: Any, x: Any) -> Any:
    y = x * 2
    z = y.sin()  # saves y
    y.detach().add_(1)  # same memory, same version counter
    return z


def _saved_input_zeroed(lib: Any, x: Any) -> Any:
    y = x * 1
    z = y * y
    y.zero_()
    return z


def _leaf_stepped_before_backward(lib: Any, x: Any) -> Any:
    w = leaf(lib, X_DATA * 2)
    out = w * x  # saves w
    with lib.no_grad():
        w.sub_(0.1)  # optimizer.step() before loss.backward()
    return out


STALE_SAVED_VALUE: dict[str, Callable[[Any, Any], Any]] = {
    "exp then add_": _exp_then_add,
    "a*a then a.mul_": _square_then_scale,
    "sigmoid then mul_": _sigmoid_then_scale,
    "sin input changed via detach": _saved_input_through_detach,
    "mul input zero_": _saved_input_zeroed,
    "leaf changed under no_grad": _leaf_stepped_before_backward,
}


@pytest.mark.parametrize("name", list(STALE_SAVED_VALUE))
def test_backward_through_a_modified_saved_value_raises(name: str) -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, X_DATA)
        return _backward(lib, STALE_SAVED_VALUE[name](lib, x), x)

    raised = assert_raises_like_torch(scenario, RuntimeError)
    assert "modified by an inplace operation" in raised.message


# ---- in-place on leaves -------------------------------------------------------------------

LEAF_IN_PLACE: dict[str, Callable[[Any], Any]] = {
    "add_": lambda x: x.add_(1),
    "+=": lambda x: x.__iadd__(1),
    "mul_": lambda x: x.mul_(2),
    "zero_": lambda x: x.zero_(),
    "fill_": lambda x: x.fill_(3.0),
    "setitem": lambda x: x.__setitem__(0, 5.0),
    "clamp_": lambda x: x.clamp_(0, 1),
    "copy_": lambda x: x.copy_(x.detach() * 2),
}


@pytest.mark.parametrize("name", list(LEAF_IN_PLACE))
def test_in_place_on_a_leaf_that_requires_grad_raises_at_once(name: str) -> None:
    assert_raises_like_torch(lambda lib: LEAF_IN_PLACE[name](leaf(lib, X_DATA)), RuntimeError)


@pytest.mark.parametrize("name", list(LEAF_IN_PLACE))
def test_in_place_on_a_leaf_inside_no_grad_is_allowed(name: str, device: str) -> None:
    def scenario(lib: Any) -> tuple:
        x = leaf(lib, X_DATA)
        with lib.no_grad():
            LEAF_IN_PLACE[name](x)
        flags = (x.requires_grad, x.is_leaf, x.grad_fn is None)
        return flags, x, _backward(lib, x.exp() * x, x)

    assert_same_outcome(scenario, device=device)


# ---- in-place on non-leaves whose old value is not needed ------------------------------------


def _add_then_square(lib: Any, x: Any) -> Any:
    y = x * 2
    y.add_(1)
    return y * y


def _scale_by_constant(lib: Any, x: Any) -> Any:
    y = x * 2
    y.add_(1)
    y.mul_(3)
    y.div_(2)
    y.sub_(0.5)
    return y.exp()


def _exp_in_place(lib: Any, x: Any) -> Any:
    y = x * 1.5
    y.exp_()  # exp saves its result, which is the new y
    return y * 2


def _relu_in_place(lib: Any, x: Any) -> Any:
    y = x - 0.8
    y.relu_()
    return y


def _setitem_on_non_leaf(lib: Any, x: Any) -> Any:
    y = x * 2
    y[0] = 0.0
    y[y > 1.5] = y[y > 1.5] * 3  # the graph goes through the new values
    return y.sin()


def _accumulate_into_a_constant(lib: Any, x: Any) -> Any:
    total = lib.zeros(3, dtype=lib.float64)
    total.add_(x * x)
    total.add_(x.exp(), alpha=2)
    return total


def _pow_then_clamp(lib: Any, x: Any) -> Any:
    y = x + 0
    y.pow_(2)
    y.clamp_(min=0.5)
    return y


def _iadd_other_requiring_grad(lib: Any, x: Any) -> Any:
    y = x.detach() * 3
    y += x.sin()
    y *= x
    return y


WORKING_IN_PLACE: dict[str, Callable[[Any, Any], Any]] = {
    "add_ then square": _add_then_square,
    "chain of scalar ops": _scale_by_constant,
    "exp_": _exp_in_place,
    "relu_": _relu_in_place,
    "setitem": _setitem_on_non_leaf,
    "add_ into a constant": _accumulate_into_a_constant,
    "pow_ then clamp_": _pow_then_clamp,
    "+= and *=": _iadd_other_requiring_grad,
    "mul_ by own detach": lambda lib, x: _mul_by_own_detach(x),
}


def _mul_by_own_detach(x: Any) -> Any:
    y = x * 2
    y.add_(1)
    y.mul_(y.detach())  # torch raises: the saved operand shares y's version counter
    return y


@pytest.mark.parametrize("name", list(WORKING_IN_PLACE))
def test_in_place_on_non_leaves_matches_torch(name: str, device: str) -> None:
    def scenario(lib: Any) -> tuple:
        x = leaf(lib, X_DATA)
        out = WORKING_IN_PLACE[name](lib, x)
        return out, type(out.grad_fn).__name__, _backward(lib, out, x)

    assert_same_outcome(scenario, device=device)


def test_in_place_after_backward_is_fine(device: str) -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, X_DATA)
        y = x.exp()
        y.sum().backward()
        y.add_(1)  # the graph is done: nothing needs the old value any more
        with lib.no_grad():
            x.sub_(0.1 * x.grad)  # the SGD step
        return y, x, x.grad

    assert_same_outcome(scenario, device=device)


@pytest.mark.parametrize("name", ["y[0] += 1", "y[:, 0].mul_(2)", "y[1, 1] *= w", "v = y[0]; v.exp_()"])
def test_in_place_on_a_view_of_a_non_leaf(name: str, device: str) -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((2, 2), "float64", 2))
        w = leaf(lib, random_array((), "float64", 3))
        y = x * 1
        if name == "y[0] += 1":
            y[0] += 1
        elif name == "y[:, 0].mul_(2)":
            y[:, 0].mul_(2)
        elif name == "y[1, 1] *= w":
            y[1, 1] *= w
        else:
            v = y[0]
            v.exp_()
        return y, _backward(lib, (y * y).sum(), x)

    assert_same_outcome(scenario, device=device)


def test_in_place_on_a_view_of_a_leaf_raises_like_torch() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((2, 2), "float64", 2))
        x[0].mul_(2)

    assert_same_outcome(scenario)
