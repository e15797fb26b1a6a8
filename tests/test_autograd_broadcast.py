"""Gradients of broadcast binary ops are summed back to each input's shape, in the input's
dtype, as torch does (float32 input with a float64 partner gets a float32 gradient)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from autograd_helpers import FLOAT_DTYPES, assert_same_outcome, leaf, random_array

BROADCAST_PATTERNS = [
    ((3, 4), (4,)),
    ((3, 4), (1, 4)),
    ((3, 1), (1, 4)),
    ((3, 4), ()),
    ((), (2, 3)),
    ((2, 1, 4), (3, 1)),
    ((1,), (3, 4)),
    ((2, 3, 4), (2, 1, 1)),
]

BINARY_OPS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "add": lambda lib, a, b: a + b,
    "sub": lambda lib, a, b: a - b,
    "mul": lambda lib, a, b: a * b,
    "div": lambda lib, a, b: a / b,
    "pow": lambda lib, a, b: a**b,
    "maximum": lambda lib, a, b: lib.maximum(a, b),
    "where": lambda lib, a, b: lib.where(a > 0.6, a, b),
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("op", list(BINARY_OPS))
@pytest.mark.parametrize("shapes", BROADCAST_PATTERNS, ids=str)
def test_broadcast_gradients_sum_to_each_input_shape(shapes: tuple, op: str, dtype: str, device: str) -> None:
    a_shape, b_shape = shapes
    a_data = random_array(a_shape, dtype, 1, positive=True)  # positive: pow and div are smooth
    b_data = random_array(b_shape, dtype, 2, positive=True)
    out_shape = np.broadcast_shapes(a_shape, b_shape)
    cotangent = random_array(out_shape, dtype, 3)

    def gradients(lib: Any) -> tuple:
        a, b = leaf(lib, a_data), leaf(lib, b_data)
        out = BINARY_OPS[op](lib, a, b)
        out.backward(leaf(lib, cotangent, False))
        return out, a.grad, b.grad

    assert_same_outcome(gradients, device=device)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize(
    "expression",
    ["a * 2.5", "2.5 * a", "a + 1", "1 - a", "a / 3", "3 / a", "a ** 2", "2 ** a", "-a", "a ** 0.5"],
)
def test_gradients_with_python_scalars(expression: str, dtype: str, device: str) -> None:
    a_data = random_array((2, 3), dtype, 4, positive=True)
    cotangent = random_array((2, 3), dtype, 5)

    def gradients(lib: Any) -> tuple:
        a = leaf(lib, a_data)
        out = eval(expression, {"a": a})
        out.backward(leaf(lib, cotangent, False))
        return out, a.grad

    assert_same_outcome(gradients, device=device)


MIXED_DTYPE_CASES = [
    # (a dtype, a shape, b dtype, b shape, b requires grad)
    ("float32", (3,), "float64", (3,), True),
    ("float64", (2, 3), "float32", (3,), True),
    ("float32", (3,), "float64", (), True),  # 0-dim partner does not promote: result float32
    ("float32", (2, 3), "int64", (3,), False),
    ("float64", (3,), "int32", (), False),
    ("float32", (3,), "bool", (3,), False),
]


@pytest.mark.parametrize("op", ["add", "mul", "div", "sub"])
@pytest.mark.parametrize("case", MIXED_DTYPE_CASES, ids=str)
def test_gradient_dtype_follows_each_input(case: tuple, op: str, device: str) -> None:
    a_dtype, a_shape, b_dtype, b_shape, b_requires_grad = case
    a_data = random_array(a_shape, a_dtype, 6, positive=True)
    if b_dtype == "bool":
        b_data = np.array([True, False, True])
    else:
        b_data = (random_array(b_shape, "float64", 7, positive=True) * 3).astype(b_dtype) + 1
    out_shape = np.broadcast_shapes(a_shape, b_shape)

    def gradients(lib: Any) -> tuple:
        a, b = leaf(lib, a_data), leaf(lib, b_data, b_requires_grad)
        out = BINARY_OPS[op](lib, a, b)
        cotangent = leaf(lib, random_array(out_shape, "float64", 8), False).to(out.dtype)
        out.backward(cotangent)
        return out, a.grad, b.grad

    assert_same_outcome(gradients, rtol=1e-5, atol=1e-6, device=device)
