"""Tensor creation: values, dtypes and keywords as torch gives them; random draws reproducible."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import antorcha


def _name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def assert_same(actual: Any, expected: Any, exact: bool = True) -> None:
    assert tuple(actual.shape) == tuple(expected.shape)
    assert _name(actual.dtype) == _name(expected.dtype)
    assert actual.requires_grad == expected.requires_grad
    if exact:
        np.testing.assert_array_equal(np.asarray(actual.detach()), expected.detach().numpy())
    else:  # one float32 ulp: torch vectorizes these computations in its own order
        actual_values, expected_values = np.asarray(actual.detach()), expected.detach().numpy()
        np.testing.assert_allclose(actual_values, expected_values, rtol=2.5e-7, atol=1e-7)


DETERMINISTIC: dict[str, Callable[[Any], Any]] = {
    "tensor_floats": lambda m: m.tensor([[1.5, 2.0], [3.0, 4.25]]),
    "tensor_ints": lambda m: m.tensor([1, 2, 3]),
    "tensor_bools": lambda m: m.tensor([True, False]),
    "tensor_mixed": lambda m: m.tensor([1, 2.5, True]),
    "tensor_scalar": lambda m: m.tensor(3.5),
    "tensor_empty": lambda m: m.tensor([]),
    "tensor_nested_empty": lambda m: m.tensor([[], []]),
    "tensor_dtype": lambda m: m.tensor([1, 2], dtype=m.float64),
    "tensor_dtype_cast": lambda m: m.tensor([1.7, -2.7], dtype=m.int32),
    "tensor_requires_grad": lambda m: m.tensor([1.0, 2.0], requires_grad=True),
    "tensor_of_numpy_float64": lambda m: m.tensor(np.array([1.0, 2.0])),
    "tensor_of_numpy_int32": lambda m: m.tensor(np.array([1, 2], dtype=np.int32)),
    "tensor_of_numpy_scalar": lambda m: m.tensor(np.float64(2.5)),
    "tensor_of_tensor_list": lambda m: m.tensor([m.tensor(1.0), m.tensor(2.0)]),
    "as_tensor_list": lambda m: m.as_tensor([1, 2]),
    "as_tensor_dtype": lambda m: m.as_tensor([1, 2], dtype=m.float32),
    "zeros": lambda m: m.zeros(2, 3),
    "zeros_tuple": lambda m: m.zeros((2, 3)),
    "zeros_int": lambda m: m.zeros(2, dtype=m.int64),
    "zeros_0d": lambda m: m.zeros(()),
    "zeros_empty": lambda m: m.zeros(0, 4),
    "ones": lambda m: m.ones(3),
    "ones_bool": lambda m: m.ones(2, 2, dtype=m.bool),
    "ones_requires_grad": lambda m: m.ones(2, requires_grad=True),
    "full_float": lambda m: m.full((2, 2), 1.5),
    "full_int": lambda m: m.full((2,), 7),
    "full_bool": lambda m: m.full((2,), True),
    "full_dtype": lambda m: m.full((2,), 7, dtype=m.float64),
    "eye": lambda m: m.eye(3),
    "eye_rect": lambda m: m.eye(2, 4),
    "eye_int": lambda m: m.eye(2, dtype=m.int64),
    "arange_int": lambda m: m.arange(10),
    "arange_start_end": lambda m: m.arange(-3, 4),
    "arange_int_step": lambda m: m.arange(1, 10, 3),
    "arange_negative_step": lambda m: m.arange(5, -5, -2),
    "arange_float_end": lambda m: m.arange(5.0),
    "arange_dtype": lambda m: m.arange(4, dtype=m.float64),
    "arange_empty": lambda m: m.arange(0),
    "zeros_like": lambda m: m.zeros_like(m.ones(2, 3, dtype=m.int32)),
    "ones_like": lambda m: m.ones_like(m.ones(2, requires_grad=True)),
    "ones_like_dtype": lambda m: m.ones_like(m.ones(2), dtype=m.float64),
    "full_like": lambda m: m.full_like(m.ones(2, dtype=m.int32), 2.7),
    "full_like_float": lambda m: m.full_like(m.ones(2, 2), -0.5),
    "zeros_like_requires_grad": lambda m: m.zeros_like(m.ones(2), requires_grad=True),
}


@pytest.mark.parametrize("make", DETERMINISTIC.values(), ids=list(DETERMINISTIC))
def test_creation_matches_torch(make: Callable[[Any], Any]) -> None:
    assert_same(make(antorcha), make(torch))


ARANGES = [(0, 1, 0.1), (0.5, 3.7, 0.3), (-1, 1, 0.2), (1, 2.5, 0.5), (0, 1, 1 / 3), (5, 0, -0.7),
           (0, 10, 0.25), (-2.5, 2.5, 0.1), (3, 3.01, 0.001), (0.1, 0.9, 0.05)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("args", ARANGES, ids=[str(a) for a in ARANGES])
def test_arange_with_float_steps(args: tuple, dtype: str) -> None:
    actual = antorcha.arange(*args, dtype=getattr(antorcha, dtype))
    expected = torch.arange(*args, dtype=getattr(torch, dtype))
    assert tuple(actual.shape) == tuple(expected.shape)  # the count is the part that bites
    # Values agree to the last bit but one: torch's SIMD kernel adds k * step to a base rounded to
    # the dtype once per vector (8 or 16 lanes, by CPU), so its rounding depends on the machine
    rtol = 2.5e-7 if dtype == "float32" else 4.5e-16
    atol = rtol * max(abs(args[0]), abs(args[1]))  # near 0: the rounding of start + i * step
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=rtol, atol=atol)


LINSPACES = [(0, 1, 7), (-3, 10, 13), (2, 2, 4), (0, 1, 1), (0, 1, 0), (5, -5, 11), (0.1, 0.7, 50)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("args", LINSPACES, ids=[str(a) for a in LINSPACES])
def test_linspace(args: tuple, dtype: str) -> None:
    actual = antorcha.linspace(*args, dtype=getattr(antorcha, dtype))
    expected = torch.linspace(*args, dtype=getattr(torch, dtype))
    assert_same(actual, expected, exact=False)


def test_from_numpy_shares_memory() -> None:
    array = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = antorcha.from_numpy(array)
    assert _name(t.dtype) == _name(torch.from_numpy(array).dtype) == "float64"
    array[0, 0] = 10.0
    assert t[0, 0].item() == 10.0
    t[1, 1] = -1.0
    assert array[1, 1] == -1.0
    with pytest.raises(TypeError):
        antorcha.from_numpy([1.0, 2.0])


def test_as_tensor_shares_memory_when_it_can() -> None:
    array = np.array([1.0, 2.0], dtype=np.float32)
    shared = antorcha.as_tensor(array)
    array[0] = 5.0
    assert shared[0].item() == 5.0
    copied = antorcha.as_tensor(array, dtype=antorcha.float64)  # a dtype change must copy
    array[1] = 6.0
    assert copied[1].item() == 2.0
    t = antorcha.ones(2)
    assert antorcha.as_tensor(t) is t


def test_tensor_copies_its_data() -> None:
    array = np.array([1.0, 2.0])
    t = antorcha.tensor(array)
    array[0] = 9.0
    assert t[0].item() == 1.0


def test_empty_has_the_shape_and_dtype() -> None:
    for m in (torch, antorcha):
        e = m.empty(2, 3, dtype=m.float64)
        assert tuple(e.shape) == (2, 3) and _name(e.dtype) == "float64"
        assert tuple(m.empty_like(m.ones(4, dtype=m.int32)).shape) == (4,)
        assert _name(m.empty_like(m.ones(4, dtype=m.int32)).dtype) == "int32"


@pytest.mark.parametrize(
    "make",
    [lambda m: m.zeros(2, device="cpu"), lambda m: m.tensor([1.0], device=m.device("cpu")),
     lambda m: m.arange(3, device="cpu"), lambda m: m.randn(2, device="cpu"),
     lambda m: m.eye(2, device="cpu")],
)
def test_device_keyword(make: Callable[[Any], Any]) -> None:
    assert str(make(antorcha).device) == str(make(torch).device) == "cpu"


RANDOM: dict[str, Callable[[Any], Any]] = {
    "rand": lambda m: m.rand(3, 4),
    "rand_tuple": lambda m: m.rand((3, 4)),
    "randn": lambda m: m.randn(2, 5),
    "randn_float64": lambda m: m.randn(2, dtype=m.float64),
    "randn_requires_grad": lambda m: m.randn(3, requires_grad=True),
    "randint": lambda m: m.randint(0, 10, (3, 2)),
    "randint_high_only": lambda m: m.randint(5, (4,)),
    "randint_dtype": lambda m: m.randint(0, 5, (3,), dtype=m.int32),
    "normal": lambda m: m.normal(1.0, 2.0, (3,)),
    "normal_tensor_mean": lambda m: m.normal(m.zeros(4), 1.0),
    "rand_like": lambda m: m.rand_like(m.ones(2, 3, dtype=m.float64)),
    "randn_like": lambda m: m.randn_like(m.ones(2)),
    "randint_like": lambda m: m.randint_like(m.ones(3), 4),
    "randperm": lambda m: m.randperm(6),
    "empty_like_random": lambda m: m.rand(0),
}


@pytest.mark.parametrize("make", RANDOM.values(), ids=list(RANDOM))
def test_random_shape_dtype_and_seed(make: Callable[[Any], Any]) -> None:
    actual, expected = make(antorcha), make(torch)
    assert tuple(actual.shape) == tuple(expected.shape)
    assert _name(actual.dtype) == _name(expected.dtype)
    assert actual.requires_grad == expected.requires_grad
    antorcha.manual_seed(1234)
    first = make(antorcha).tolist()
    antorcha.manual_seed(1234)
    assert make(antorcha).tolist() == first  # same seed, same values (bit-equality with torch not sought)


def test_different_seeds_differ_and_draws_advance() -> None:
    antorcha.manual_seed(1)
    a, b = antorcha.rand(8).tolist(), antorcha.rand(8).tolist()
    antorcha.manual_seed(2)
    assert a != b and antorcha.rand(8).tolist() != a


def test_generator_keyword_is_independent_of_the_global_stream() -> None:
    g = antorcha.Generator().manual_seed(7)
    first = antorcha.randn(4, generator=g).tolist()
    antorcha.randn(10)  # the global stream moves; the generator's does not care
    g.manual_seed(7)
    assert antorcha.randn(4, generator=g).tolist() == first


@pytest.mark.parametrize(
    ("make", "mean", "std"),
    [
        (lambda m: m.rand(20000), 0.5, (1 / 12) ** 0.5),
        (lambda m: m.randn(20000), 0.0, 1.0),
        (lambda m: m.normal(3.0, 2.0, (20000,)), 3.0, 2.0),
        (lambda m: m.randint(0, 10, (20000,)).double(), 4.5, (99 / 12) ** 0.5),
        (lambda m: m.empty(20000).uniform_(-2.0, 4.0), 1.0, 6 / 12**0.5),
        (lambda m: m.empty(20000).normal_(-1.0, 0.5), -1.0, 0.5),
        (lambda m: m.randn(20000, dtype=m.float64) * 3 + 1, 1.0, 3.0),
    ],
    ids=["rand", "randn", "normal", "randint", "uniform_", "normal_", "randn_float64"],
)
def test_distribution_sanity(make: Callable[[Any], Any], mean: float, std: float) -> None:
    antorcha.manual_seed(0)
    values = np.asarray(make(antorcha), dtype=np.float64)
    # 20000 draws: the sample mean is within 5 standard errors, the sample std within 5%
    assert abs(values.mean() - mean) < 5 * std / len(values) ** 0.5
    assert abs(values.std() - std) < 0.05 * std


def test_rand_is_in_the_unit_interval_and_randint_in_range() -> None:
    antorcha.manual_seed(0)
    r = antorcha.rand(10000).numpy()
    assert r.min() >= 0.0 and r.max() < 1.0
    i = antorcha.randint(-3, 4, (10000,)).numpy()
    assert i.min() == -3 and i.max() == 3
    assert sorted(antorcha.randperm(10).tolist()) == list(range(10))


def test_tensor_of_a_tensor_warns_as_torch_and_copies() -> None:
    import warnings

    import torch

    source = antorcha.tensor([1.0, 2.0])
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        copy = antorcha.tensor(source)
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        torch.tensor(torch.tensor([1.0, 2.0]))
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    source[0] = 10
    assert copy[0].item() == 1.0
