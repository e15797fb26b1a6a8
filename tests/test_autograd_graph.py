"""grad_fn names and the next_functions structure of the graph, against torch's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from autograd_helpers import assert_same_outcome, leaf, linear, random_array

# expressions on x (2, 3), y (2, 3) and m (3, 2), all requiring grad
GRAD_FN_EXPRESSIONS: dict[str, Callable[[Any, Any, Any, Any], Any]] = {
    "x * y": lambda lib, x, y, m: x * y,
    "x * 2": lambda lib, x, y, m: x * 2,
    "x + y": lambda lib, x, y, m: x + y,
    "x + 1": lambda lib, x, y, m: x + 1,
    "x - y": lambda lib, x, y, m: x - y,
    "x / y": lambda lib, x, y, m: x / y,
    "-x": lambda lib, x, y, m: -x,
    "x ** 2": lambda lib, x, y, m: x**2,
    "x ** y": lambda lib, x, y, m: x.abs() ** y,
    "x @ m": lambda lib, x, y, m: x @ m,
    "x.exp()": lambda lib, x, y, m: x.exp(),
    "x.log()": lambda lib, x, y, m: x.abs().log(),
    "x.sin()": lambda lib, x, y, m: x.sin(),
    "x.tanh()": lambda lib, x, y, m: x.tanh(),
    "x.sigmoid()": lambda lib, x, y, m: x.sigmoid(),
    "x.relu()": lambda lib, x, y, m: x.relu(),
    "x.abs()": lambda lib, x, y, m: x.abs(),
    "x.sqrt()": lambda lib, x, y, m: x.abs().sqrt(),
    "x.sum()": lambda lib, x, y, m: x.sum(),
    "x.sum(0)": lambda lib, x, y, m: x.sum(0),
    "x.mean()": lambda lib, x, y, m: x.mean(),
    "x.mean(1)": lambda lib, x, y, m: x.mean(1),
    "x.view(-1)": lambda lib, x, y, m: x.view(-1),
    "x.reshape(3, 2)": lambda lib, x, y, m: x.reshape(3, 2),
    "x.t()": lambda lib, x, y, m: x.t(),
    "x.T": lambda lib, x, y, m: x.T,
    "x.transpose(0, 1)": lambda lib, x, y, m: x.transpose(0, 1),
    "x.permute(1, 0)": lambda lib, x, y, m: x.permute(1, 0),
    "x.unsqueeze(0)": lambda lib, x, y, m: x.unsqueeze(0),
    "x[0]": lambda lib, x, y, m: x[0],
    "x[:, 1:]": lambda lib, x, y, m: x[:, 1:],
    "x.max()": lambda lib, x, y, m: x.max(),
    "x.clamp(0, 1)": lambda lib, x, y, m: x.clamp(0, 1),
    "x.double()": lambda lib, x, y, m: x.double(),
    "x.clone()": lambda lib, x, y, m: x.clone(),
    "lib.cat": lambda lib, x, y, m: lib.cat([x, y]),
    "lib.stack": lambda lib, x, y, m: lib.stack([x, y]),
    "lib.where": lambda lib, x, y, m: lib.where(x > 0, x, y),
    "softmax": lambda lib, x, y, m: x.softmax(dim=1),
    "log_softmax": lambda lib, x, y, m: x.log_softmax(dim=1),
    "linear with bias": lambda lib, x, y, m: linear(lib)(x, m.t(), m[0]),
    "linear without bias": lambda lib, x, y, m: linear(lib)(x, m.t()),
}


def _inputs(lib: Any) -> tuple:
    return tuple(leaf(lib, random_array(s, "float32", i)) for i, s in enumerate([(2, 3), (2, 3), (3, 2)]))


@pytest.mark.parametrize("expression", list(GRAD_FN_EXPRESSIONS))
def test_grad_fn_names(expression: str, device: str) -> None:
    def names(lib: Any) -> tuple:
        out = GRAD_FN_EXPRESSIONS[expression](lib, *_inputs(lib))
        return type(out.grad_fn).__name__, out.grad_fn.name()

    assert_same_outcome(names, device=device)


def graph_signature(node: Any, leaves: list, depth: int = 0) -> Any:
    """The graph below `node` as nested (type name, children); leaves by their position."""
    if node is None:
        return None
    name = type(node).__name__
    if name == "AccumulateGrad":
        variable = node.variable
        return name, next(i for i, t in enumerate(leaves) if t is variable)
    assert depth < 50, "graph too deep for this test"
    return name, tuple((graph_signature(child, leaves, depth + 1), nr) for child, nr in node.next_functions)


def _mlp(lib: Any) -> tuple[Any, list]:
    x = leaf(lib, random_array((4, 3), "float32", 0), requires_grad=False)
    w1, b1 = leaf(lib, random_array((5, 3), "float32", 1)), leaf(lib, random_array((5,), "float32", 2))
    w2, b2 = leaf(lib, random_array((2, 5), "float32", 3)), leaf(lib, random_array((2,), "float32", 4))
    hidden = linear(lib)(x, w1, b1).relu()
    logits = linear(lib)(hidden, w2, b2)
    loss = ((logits - 1.0) ** 2).mean() + 0.1 * (w1 * w1).sum()
    return loss, [w1, b1, w2, b2]


def test_mlp_graph_structure(device: str) -> None:
    def signature(lib: Any) -> Any:
        loss, leaves = _mlp(lib)
        return graph_signature(loss.grad_fn, leaves)

    assert_same_outcome(signature, device=device)


def test_next_functions_share_nodes_and_point_at_leaves(device: str) -> None:
    def structure(lib: Any) -> tuple:
        x, y = leaf(lib, np.ones(2)), leaf(lib, np.ones(2), requires_grad=False)
        square = x * x
        (a, a_nr), (b, b_nr) = square.grad_fn.next_functions
        mixed = (x * y).grad_fn.next_functions
        chained = (square + 1).grad_fn.next_functions
        return (
            a is b,
            (a_nr, b_nr),
            a.variable is x,
            type(mixed[0][0]).__name__,
            mixed[1],
            chained[0][0] is square.grad_fn,
            type(chained[1][0]).__name__ if chained[1:] else "no edge",
            x.grad_fn,
            y.grad_fn,
        )

    assert_same_outcome(structure, device=device)
