"""A view whose base changes in place afterwards, against torch: the view's grad_fn is regenerated
from the base's current node (torch's AsStridedBackward0), so gradients through the view see the
change; views of views, sibling views, retain_grad, no_grad changes, detach()/.data views.

Each scenario is written once against the torch API and returns the values, the leaves' gradients
(weighted by random cotangents) and the names of the nodes involved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from autograd_helpers import assert_same_outcome, leaf, random_array


def _name(tensor: Any) -> str | None:
    return _node_name(tensor.grad_fn)


def _node_name(node: Any) -> str | None:
    """The node's class name (torch's name() prefixes some with torch::autograd::)."""
    return None if node is None else type(node).__name__


def _weighted_backward(lib: Any, outputs: list, seed: int) -> None:
    """backward from every output at once, each weighted by its own random cotangent."""
    cotangents = [
        lib.tensor(random_array(tuple(o.shape), str(o.dtype).split(".")[-1], seed + k))
        for k, o in enumerate(outputs)
    ]
    lib.autograd.backward(outputs, cotangents)


# ---- the base changed in place after the view was made --------------------------------------------
# each makes a view of a (3, 4) tensor; the element count, strides and offset differ
VIEWS: dict[str, Callable[[Any], Any]] = {
    "reshape": lambda b: b.reshape(-1),
    "view": lambda b: b.view(4, 3),
    "transpose": lambda b: b.transpose(0, 1),
    "t": lambda b: b.t(),
    "permute": lambda b: b.permute(1, 0),
    "unsqueeze": lambda b: b.unsqueeze(1),
    "expand": lambda b: b.unsqueeze(0).expand(2, 3, 4),
    "select": lambda b: b[1],
    "slice_step": lambda b: b[::2, 1:],
    "column": lambda b: b[:, 2],
    "diagonal": lambda b: b.diagonal(),
    "unfold": lambda b: b.unfold(1, 2, 1),
    "as_strided": lambda b: b.as_strided((2, 2), (1, 4), 1),
    "narrow": lambda b: b.narrow(1, 1, 2),
}

CHANGES: dict[str, Callable[[Any, Any], Any]] = {
    "add_": lambda b, x: b.add_(x),
    "mul_": lambda b, x: b.mul_(x),
    "setitem": lambda b, x: b.__setitem__((0, slice(1, 3)), x[2, :2] * 3),
    "row_of_base": lambda b, x: b[2].mul_(x[0]),  # through another view of the same base
    "twice": lambda b, x: b.mul_(x).add_(x * x),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize("view", list(VIEWS))
def test_view_sees_its_base_changed_in_place(view: str, change: str, dtype: str) -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3, 4), dtype, 0))
        b = x * 2
        v = VIEWS[view](b)
        CHANGES[change](b, x)
        out = v * v  # a use after the change: its edge must be the regenerated node
        _weighted_backward(lib, [out, b], 7)
        return out, b, x.grad, _name(v), _node_name(v.grad_fn.next_functions[0][0])

    assert_same_outcome(scenario)


def test_view_used_before_and_after_the_change() -> None:
    """The node made before the change still serves the earlier use; the later use gets the new one."""

    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3, 4), "float64", 1))
        b = x.exp()
        v = b[1:]
        early = v.sin()
        b.mul_(x)
        late = v.cos()
        _weighted_backward(lib, [early, late], 3)
        return early, late, x.grad

    assert_same_outcome(scenario)


def test_view_of_a_view_reads_the_root_base() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((4, 3), "float64", 2))
        b = x * x
        v = b[1:]
        w = v.t()[1:].unsqueeze(0)  # a view of a view of a view: its base is b
        b.add_(x)
        out = w.exp()
        _weighted_backward(lib, [out], 5)
        return out, x.grad, w._base is b, _name(w), _node_name(w.grad_fn.next_functions[0][0])

    assert_same_outcome(scenario)


def test_sibling_views_see_an_in_place_change_through_one_of_them() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3, 4), "float64", 3))
        b = x + 1
        row, column = b[0], b[:, 1]
        row.mul_(x[1])  # b[0, 1] is in both views
        _weighted_backward(lib, [row * 2, column * 3, b], 11)
        return row, column, x.grad, _name(row), _name(column), _name(b)

    assert_same_outcome(scenario)


def test_grad_fn_reports_the_regenerated_node_and_keeps_it() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((2, 3), "float64", 4))
        b = x * 3
        v = b.reshape(-1)
        before = _name(v)
        b.sub_(x)
        node = v.grad_fn
        return before, _node_name(node), node is v.grad_fn, _node_name(node.next_functions[0][0]), v.is_leaf

    assert_same_outcome(scenario)


def test_an_unchanged_view_keeps_its_own_node() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((2, 3), "float64", 5))
        b = x * 3
        v = b.t()
        node = v.grad_fn
        other = b + 1  # out of place: the base's version stays
        return node is v.grad_fn, _name(v), other

    assert_same_outcome(scenario)


# ---- retain_grad ------------------------------------------------------------------------------
@pytest.mark.parametrize("when", ["before_change", "after_change"])
def test_retain_grad_on_a_view_follows_the_new_node(when: str) -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3, 4), "float64", 6))
        b = x * 2
        v = b[1]
        if when == "before_change":
            v.retain_grad()
        b.mul_(x)
        if when == "after_change":
            v.retain_grad()
        _weighted_backward(lib, [v.exp(), b], 13)
        return v.grad, x.grad, v.retains_grad

    assert_same_outcome(scenario)


def test_a_hook_registered_before_the_change_stays_on_the_old_node() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3,), "float64", 7))
        b = x * 2
        v = b[1:]
        seen = []
        v.register_hook(lambda g: seen.append(g.clone()))
        b.mul_(x)
        _weighted_backward(lib, [v], 17)
        return len(seen), x.grad

    assert_same_outcome(scenario)


# ---- grad mode ------------------------------------------------------------------------------------
def test_base_changed_under_no_grad() -> None:
    """The node is regenerated (torch names it AsStridedBackward0) but the change is not differentiated."""

    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3, 4), "float64", 8))
        b = x * 2
        v = b.reshape(4, 3)
        with lib.no_grad():
            b.add_(1)
            inside = _name(v)
        out = v.pow(2)
        _weighted_backward(lib, [out], 19)
        return inside, _name(v), out, x.grad

    assert_same_outcome(scenario)


def test_leaf_base_changed_under_no_grad() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((5,), "float64", 9))
        v = x[1:4]
        with lib.no_grad():
            x.mul_(2)  # the optimizer's kind of step
        out = v * v
        _weighted_backward(lib, [out], 23)
        return _name(v), _node_name(v.grad_fn.next_functions[0][0]), out, x.grad

    assert_same_outcome(scenario)


def test_view_changed_in_place_under_no_grad_then_used() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((2, 3), "float64", 10))
        b = x.sigmoid()
        v = b[0]
        with lib.no_grad():
            v.fill_(0.25)
        out = (b * x).sum(0)
        _weighted_backward(lib, [out, v * 2], 29)
        return out, x.grad, _name(v)

    assert_same_outcome(scenario)


# ---- detached views: outside the graph, nothing to regenerate -----------------------------------
@pytest.mark.parametrize("detached", ["detach", "data"])
def test_views_of_detached_tensors_stay_outside_the_graph(detached: str) -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3, 4), "float64", 11))
        b = x * 2
        d = b.detach() if detached == "detach" else b.data
        v = d.reshape(-1)
        b.add_(x)  # d, and so v, see the new values
        return v, v.requires_grad, _name(v), v.is_leaf

    assert_same_outcome(scenario)


# ---- autograd.grad and double backward through a regenerated node ---------------------------------
def test_autograd_grad_with_respect_to_a_regenerated_view() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3, 4), "float64", 12))
        b = x * 2
        v = b[:, 1:3]
        b.mul_(x)
        out = (v.exp() * lib.tensor(random_array((3, 2), "float64", 31))).sum()
        (grad_v,) = lib.autograd.grad(out, v, retain_graph=True)
        (grad_x,) = lib.autograd.grad(out, x)
        return grad_v, grad_x

    assert_same_outcome(scenario)


def test_second_derivative_through_a_regenerated_view() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((2, 3), "float64", 13))
        b = x * x
        v = b.t()
        b.mul_(x)  # v = x**3, transposed
        (g,) = lib.autograd.grad(v.sin().sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad((g * lib.tensor(random_array((2, 3), "float64", 37))).sum(), x)
        return g, gg

    assert_same_outcome(scenario)


def test_the_regenerated_node_costs_nothing_when_no_base_changes() -> None:
    """The common case: a view's node stays the one its op made (no AsStrided node is built)."""
    import antorcha

    x = antorcha.tensor(np.arange(6.0), requires_grad=True)
    v = (x * 2).reshape(2, 3)
    node = v.grad_fn
    assert node.name() == "ViewBackward0"
    (v * 1).sum().backward()
    assert v.grad_fn is node


# ---- in-place on any view: the base is rewritten through the view's positions ---------------------
INPLACE_ON_VIEW: dict[str, Callable[[Any, Any], Any]] = {
    "reshape_mul_": lambda b, x: b.reshape(-1).mul_(x.reshape(-1)),
    "t_add_": lambda b, x: b.t().add_(x.t().exp()),
    "view_of_view_sub_": lambda b, x: b[1:].t()[1:].sub_(x[1:, 1:].t()),
    "diagonal_mul_": lambda b, x: b.diagonal().mul_(x[0, :3]),
    "unsqueeze_setitem": lambda b, x: b.unsqueeze(0).__setitem__((0, 1), x[2] * x[0]),
    "expanded_region_setitem": lambda b, x: b[0].expand(2, 4).__setitem__(0, x[1]),
    "zero_": lambda b, x: b[:, 1].zero_(),
    "fill_": lambda b, x: b.t()[2].fill_(0.5),
    "fill_tensor": lambda b, x: b.reshape(4, 3)[1].fill_(x[0, 0]),
    "copy_": lambda b, x: b.t()[1:3].copy_(x[:2].t() * 3),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("change", list(INPLACE_ON_VIEW))
def test_in_place_on_a_view_rewrites_its_base(change: str, dtype: str) -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3, 4), dtype, 14))
        b = x.sin()
        other = b[:, 2:]  # a sibling view made before: sees the change
        INPLACE_ON_VIEW[change](b, x)
        _weighted_backward(lib, [b * b, other.exp()], 41)
        return b, other, x.grad, _name(b), _name(other)

    assert_same_outcome(scenario)


OVERLAPS: dict[str, Callable[[Any], Any]] = {
    "disjoint_rows": lambda b: b[0].add_(b[1]),
    "partial_flat": lambda b: b[0].add_(b.reshape(-1)[2:6]),
    "the_same_memory": lambda b: b.add_(b),
    "base_and_its_row": lambda b: b.mul_(b[0]),
    "strided_columns": lambda b: b[:, 0].add_(b[:, 1]),
    "setitem_partial": lambda b: b.__setitem__(slice(0, 2), b[1:3]),
    "setitem_disjoint": lambda b: b.__setitem__(0, b[1]),
    "setitem_broadcast": lambda b: b.__setitem__(slice(0, 2), b[0]),
    "setitem_advanced_same": lambda b: b.__setitem__([0, 1, 2], b),
    "copy_partial": lambda b: b[:2].copy_(b[1:3]),
    "masked_fill_from_itself": lambda b: b.masked_fill_(b > 3, b[0, 0]),
    "fill_from_itself": lambda b: b.fill_(b[1, 1]),
}


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("case", list(OVERLAPS))
def test_an_operand_overlapping_the_written_memory(case: str, grad: bool) -> None:
    """As torch: a dense operand over part of the written memory is refused; the same memory, disjoint
    or non-dense memory, and a value read whole (masked_fill_, fill_) are not."""

    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3, 4), "float64", 15), requires_grad=grad)
        b = x * 1 if grad else x
        OVERLAPS[case](b)
        return b

    assert_same_outcome(scenario)


def test_in_place_on_an_expanded_view_is_refused() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3,), "float64", 16))
        (x * 2).expand(2, 3).mul_(2)

    assert_same_outcome(scenario)


def test_a_view_of_a_leaf_is_refused_before_anything_is_written() -> None:
    def scenario(lib: Any) -> Any:
        x = leaf(lib, random_array((3, 4), "float64", 17))
        try:
            x.t()[1].zero_()
        except RuntimeError:
            return x.detach(), "raised"
        return x.detach(), "ran"

    assert_same_outcome(scenario)
