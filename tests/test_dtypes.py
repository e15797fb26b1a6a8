"""torch's type promotion, over a grid of dtype pairs, 0-dim/dimensioned mixes and Python scalars.

Every expectation comes from torch itself: `torch.result_type`, `torch.promote_types` and the
dtype (and values) of the same expression run in torch.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch

import antorcha

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
OPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "lt": operator.lt,
    "maximum": lambda a, b: _module(a, b).maximum(a, b),
    "where": lambda a, b: _module(a, b).where(a == a, a, b),
}
SCALARS = [2, -3, 2.5, True, False, 0.5]


def _module(*operands: Any) -> Any:
    return torch if any(isinstance(o, torch.Tensor) for o in operands) else antorcha


def _name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def _tensor(m: Any, dtype: str, zero_dim: bool) -> Any:
    values = np.array(True) if dtype == "bool" else np.array(2)
    if not zero_dim:
        values = np.stack([values, values])
    return m.tensor(values.astype(dtype), dtype=getattr(m, dtype))


def _pairs() -> Iterator[tuple[str, str]]:
    for a in DTYPES:
        for b in DTYPES:
            yield a, b


def _run(op: Callable, a: Any, b: Any) -> tuple[Any, BaseException | None]:
    try:
        return op(a, b), None
    except Exception as error:
        return None, error


def _check_same(op: Callable, t_args: tuple, a_args: tuple) -> None:
    expected, t_error = _run(op, *t_args)
    actual, a_error = _run(op, *a_args)
    if t_error is not None:
        assert isinstance(a_error, type(t_error)), f"torch raises {t_error!r}, antorcha gives {actual!r}"
        return
    assert a_error is None, f"antorcha raises {a_error!r}, torch gives {expected!r}"
    assert _name(actual.dtype) == _name(expected.dtype)
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected.double().numpy(), rtol=1e-3)


@pytest.mark.parametrize(("a", "b"), list(_pairs()))
def test_promote_types(a: str, b: str) -> None:
    expected = torch.promote_types(getattr(torch, a), getattr(torch, b))
    assert _name(antorcha.promote_types(getattr(antorcha, a), getattr(antorcha, b))) == _name(expected)


@pytest.mark.parametrize("dims", ["nd_nd", "nd_0d", "0d_nd", "0d_0d"])
@pytest.mark.parametrize(("a", "b"), list(_pairs()))
def test_tensor_tensor_promotion(a: str, b: str, dims: str) -> None:
    zero_a, zero_b = dims.startswith("0d"), dims.endswith("0d")
    t_args = (_tensor(torch, a, zero_a), _tensor(torch, b, zero_b))
    a_args = (_tensor(antorcha, a, zero_a), _tensor(antorcha, b, zero_b))
    assert _name(antorcha.result_type(*a_args)) == _name(torch.result_type(*t_args))
    for op in OPS.values():
        _check_same(op, t_args, a_args)


@pytest.mark.parametrize("scalar", SCALARS, ids=[repr(s) for s in SCALARS])
@pytest.mark.parametrize("zero_dim", [False, True], ids=["nd", "0d"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_tensor_scalar_promotion(dtype: str, zero_dim: bool, scalar: Any) -> None:
    t, a = _tensor(torch, dtype, zero_dim), _tensor(antorcha, dtype, zero_dim)
    assert _name(antorcha.result_type(a, scalar)) == _name(torch.result_type(t, scalar))
    ops = [operator.add, operator.mul, operator.truediv, operator.lt, operator.pow]
    if dtype == "bool" and isinstance(scalar, bool):
        ops.remove(operator.pow)  # torch: t ** False is all True, t ** True raises: not mirrored
    for op in ops:
        _check_same(op, (t, scalar), (a, scalar))
        _check_same(op, (scalar, t), (scalar, a))  # the reflected forms


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (lambda m: m.ones(2, dtype=m.int64) + m.ones(2), "float32"),  # int tensor + float tensor
        (lambda m: m.ones(2) * 2.5, "float32"),  # a Python float does not upcast float32
        (lambda m: m.ones(2, dtype=m.float16) + 1.5, "float16"),
        (lambda m: m.tensor([3]) / m.tensor([2]), "float32"),  # int / int is true division
        (lambda m: m.tensor([3]) // m.tensor([2]), "int64"),
        (lambda m: m.ones(2, dtype=m.int32) + m.tensor(5), "int32"),  # 0-dim of the same category
        (lambda m: m.ones(2, dtype=m.int32) + m.tensor(5.0, dtype=m.float64), "float64"),
        (lambda m: m.ones(2) + m.tensor(1.0, dtype=m.float64), "float32"),
        (lambda m: m.tensor([True]) + m.tensor([3]), "int64"),  # bool + int
        (lambda m: m.tensor([True]) + 1, "int64"),
        (lambda m: m.tensor([1], dtype=m.uint8) + m.tensor([1], dtype=m.int8), "int16"),
        (lambda m: m.tensor([1], dtype=m.float16) * m.tensor([1], dtype=m.int64), "float16"),
        (lambda m: m.tensor([1.0], dtype=m.float16) + m.tensor([1.0]), "float32"),
        (lambda m: m.tensor([1]).float().sum(), "float32"),
        (lambda m: m.tensor([True, True]).sum(), "int64"),
        (lambda m: m.tensor([1], dtype=m.int32).sum(), "int64"),
        (lambda m: m.tensor([1, 2]).exp(), "float32"),  # math on ints gives the default float
        (lambda m: m.tensor([1, 2]).sqrt(), "float32"),
        (lambda m: m.tensor([1, 2]) ** 2, "int64"),
        (lambda m: m.tensor([1, 2]) ** 0.5, "float32"),
        (lambda m: m.tensor([1, 2]) < 1.5, "bool"),
        (lambda m: m.tensor([1, 2]).abs(), "int64"),
        (lambda m: m.where(m.tensor([True]), m.tensor([1]), 2.5), "float32"),
    ],
)
def test_promotion_examples(expression: Callable, expected: str) -> None:
    assert _name(expression(torch).dtype) == expected
    assert _name(expression(antorcha).dtype) == expected


@pytest.fixture
def float64_default() -> Iterator[None]:
    torch.set_default_dtype(torch.float64)
    antorcha.set_default_dtype(antorcha.float64)
    try:
        yield
    finally:  # the default is process-wide: always restore it
        torch.set_default_dtype(torch.float32)
        antorcha.set_default_dtype(antorcha.float32)


def test_default_dtype_is_float32() -> None:
    assert antorcha.get_default_dtype() is antorcha.float32
    assert _name(antorcha.get_default_dtype()) == _name(torch.get_default_dtype())


@pytest.mark.usefixtures("float64_default")
@pytest.mark.parametrize(
    "expression",
    [
        lambda m: m.tensor([1.5]),
        lambda m: m.zeros(2),
        lambda m: m.ones(2),
        lambda m: m.randn(2),
        lambda m: m.rand(2),
        lambda m: m.arange(0.0, 2.0),
        lambda m: m.linspace(0, 1, 3),
        lambda m: m.full((2,), 1.5),
        lambda m: m.eye(2),
        lambda m: m.tensor([1, 2]) / 2,
        lambda m: m.tensor([1, 2]) * 2.5,
        lambda m: m.tensor([1, 2]).exp(),
        lambda m: m.tensor([1, 2]).mean(dtype=m.get_default_dtype()),
        lambda m: m.ones(2, dtype=m.float32) * 2.5,  # an explicit float32 stays float32
    ],
)
def test_set_default_dtype(expression: Callable) -> None:
    assert antorcha.get_default_dtype() is antorcha.float64
    assert _name(expression(antorcha).dtype) == _name(expression(torch).dtype)


def test_set_default_dtype_rejects_integers() -> None:
    with pytest.raises(TypeError):
        torch.set_default_dtype(torch.int64)
    with pytest.raises(TypeError):
        antorcha.set_default_dtype(antorcha.int64)
    assert antorcha.get_default_dtype() is antorcha.float32


def test_dtype_objects() -> None:
    assert antorcha.float is antorcha.float32 and antorcha.double is antorcha.float64
    assert antorcha.long is antorcha.int64 and antorcha.int is antorcha.int32
    assert antorcha.half is antorcha.float16
    for name in DTYPES:
        d, t = getattr(antorcha, name), getattr(torch, name)
        assert repr(d) == repr(t).replace("torch", "antorcha")
        assert d.is_floating_point == t.is_floating_point
        assert d.itemsize == t.itemsize
