"""Pooling against torch: max pooling's ties (the first maximum wins, and gets the whole gradient),
returned indices, the layers and their reprs, double backward (with respect to the cotangent: the
ops are linear in it), max_unpool, and torch's errors. The op-spec rows in op_specs_conv.py draw the
functional forms over random geometries."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nn_helpers import assert_close, torch_name

import antorcha
from antorcha.speed import window_kernels


@pytest.fixture(params=["numba", "numpy"])
def pool_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Max pooling's compiled loops (where Numba is installed), or NumPy's passes."""
    if request.param == "numba":
        pytest.importorskip("numba")
    else:
        monkeypatch.setattr(window_kernels, "max_pool", lambda *args: None)
        monkeypatch.setattr(window_kernels, "scatter", lambda *args: None)
    return request.param


def _run(m, name: str, x: np.ndarray, *args, **kwargs):
    """(output, indices or None, input gradient) of m.nn.functional.<name> under a fixed cotangent."""
    inp = m.tensor(x, requires_grad=True)
    result = getattr(m.nn.functional, name)(inp, *args, **kwargs)
    out, indices = result if isinstance(result, tuple) else (result, None)
    cotangent = np.random.default_rng(1).standard_normal(tuple(out.shape))
    out.backward(m.tensor(cotangent))
    return out, indices, inp.grad


TIES = [
    ("max_pool2d", (2, 3, 8, 6), (2,), {"return_indices": True}),  # 2x2: a loop of its own
    ("max_pool2d", (1, 2, 7, 7), (2,), {"stride": 1, "dilation": 2, "return_indices": True}),
    ("max_pool2d", (2, 3, 7, 6), (3,), {"stride": 2, "padding": 1, "return_indices": True}),
    ("max_pool2d", (1, 2, 6, 6), (2,),
     {"stride": 1, "dilation": 2, "ceil_mode": True, "return_indices": True}),
    ("max_pool2d", (3, 5, 5), ((2, 3),), {"stride": (1, 2), "padding": (1, 1), "return_indices": True}),
    ("max_pool1d", (2, 3, 9), (3,), {"stride": 1, "padding": 1, "return_indices": True}),
    ("max_pool1d", (3, 10), (4,), {"stride": 3, "ceil_mode": True, "return_indices": True}),
    ("adaptive_max_pool2d", (2, 2, 7, 5), ((3, 4),), {"return_indices": True}),
    ("adaptive_max_pool1d", (2, 2, 9), (4,), {"return_indices": True}),
]


@pytest.mark.parametrize(("name", "shape", "args", "kwargs"), TIES, ids=lambda v: str(v))
def test_max_pooling_ties_go_to_the_first_maximum(
    name: str, shape: tuple, args: tuple, kwargs: dict, pool_path: str
) -> None:
    x = np.random.default_rng(0).integers(0, 3, shape).astype(np.float64)  # many equal values
    ours, theirs = _run(antorcha, name, x, *args, **kwargs), _run(torch, name, x, *args, **kwargs)
    assert_close(ours[0], theirs[0])
    assert ours[1].dtype == antorcha.int64
    np.testing.assert_array_equal(ours[1].numpy(), theirs[1].numpy())
    assert_close(ours[2], theirs[2])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pooling_of_a_training_sized_batch(dtype: str, pool_path: str) -> None:
    x = np.random.default_rng(2).standard_normal((8, 4, 16, 16)).astype(dtype)
    for name, args in (("max_pool2d", (2,)), ("avg_pool2d", (3, 2, 1)), ("adaptive_avg_pool2d", ((5, 3),)),
                       ("adaptive_avg_pool2d", (1,)), ("adaptive_max_pool2d", (3,))):  # 1: global average
        ours, theirs = _run(antorcha, name, x, *args), _run(torch, name, x, *args)
        tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {}
        assert_close(ours[0], theirs[0], **tol)
        assert_close(ours[2], theirs[2], **tol)


DOUBLE = [
    ("max_pool2d", (3,), {"stride": 2, "padding": 1}),
    ("avg_pool2d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False, "ceil_mode": True}),
    ("avg_pool1d", (2,), {}),
    ("adaptive_avg_pool2d", ((3, 2),), {}),
    ("adaptive_avg_pool2d", (1,), {}),  # global average pooling: a sum over the positions
    ("adaptive_max_pool2d", ((3, 2),), {}),
    ("max_pool1d", (2,), {"stride": 1}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), DOUBLE, ids=lambda v: str(v))
def test_double_backward_with_respect_to_the_cotangent(
    name: str, args: tuple, kwargs: dict, pool_path: str
) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 7, 6) if name.endswith("2d") else (2, 2, 7))
    results = []
    for m in (antorcha, torch):
        inp = m.tensor(x, requires_grad=True)
        out = getattr(m.nn.functional, name)(inp, *args, **kwargs)
        cotangent = m.tensor(np.random.default_rng(4).standard_normal(tuple(out.shape)), requires_grad=True)
        (gx,) = m.autograd.grad(out, inp, cotangent, create_graph=True)
        weight = m.tensor(np.random.default_rng(5).standard_normal(tuple(gx.shape)))
        (gg,) = m.autograd.grad((gx * weight).sum(), cotangent)
        results.append((gx, gg))
    for a, t in zip(*results):
        assert_close(a, t)


def test_max_unpool_layers_and_output_size() -> None:
    x = np.random.default_rng(6).standard_normal((2, 3, 7, 6))
    results = []
    for m in (antorcha, torch):
        pool, unpool = m.nn.MaxPool2d(2, return_indices=True), m.nn.MaxUnpool2d(2)
        values, indices = pool(m.tensor(x))
        values.requires_grad_()
        out = unpool(values, indices, output_size=(7, 6))
        out.backward(m.tensor(np.random.default_rng(7).standard_normal(tuple(out.shape))))
        values_1d, indices_1d = m.nn.functional.max_pool1d(m.tensor(x[0, :, 0]), 3, return_indices=True)
        results.append((out, values.grad, m.nn.MaxUnpool1d(3)(values_1d, indices_1d, output_size=(7,))))
    for a, t in zip(*results):
        assert_close(a, t)


def test_layers_and_reprs() -> None:
    x = np.random.default_rng(8).standard_normal((2, 3, 9, 8))
    layers = [
        ("MaxPool2d", (2,), {}), ("MaxPool2d", (3, 2, 1), {"dilation": 1, "ceil_mode": True}),
        ("MaxPool1d", (3, 2, 1), {}), ("AvgPool2d", (3, 1, 1), {"divisor_override": 2}),
        ("AvgPool2d", (2,), {"ceil_mode": True, "count_include_pad": False}), ("AvgPool1d", (3,), {}),
        ("AdaptiveAvgPool2d", ((2, None),), {}), ("AdaptiveAvgPool1d", (3,), {}),
        ("AdaptiveMaxPool2d", (2,), {}), ("AdaptiveMaxPool1d", (4,), {}),
    ]
    for name, args, kwargs in layers:
        ours, theirs = getattr(antorcha.nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
        assert repr(ours) == repr(theirs)
        inputs = x[:, :, 0] if name.endswith("1d") else x
        assert_close(ours(antorcha.tensor(inputs)), theirs(torch.tensor(inputs)))
    assert repr(antorcha.nn.MaxUnpool2d(2, 1)) == repr(torch.nn.MaxUnpool2d(2, 1))
    assert repr(antorcha.nn.AdaptiveMaxPool2d(2, True)) == repr(torch.nn.AdaptiveMaxPool2d(2, True))


def test_global_average_pool_and_empty_batch() -> None:
    for m in (antorcha, torch):
        out = m.nn.functional.adaptive_avg_pool2d(m.zeros(0, 3, 4, 4), 1)
        assert tuple(out.shape) == (0, 3, 1, 1)
        assert tuple(m.nn.functional.max_pool2d(m.zeros(0, 3, 4, 4), 2).shape) == (0, 3, 2, 2)


def _same_error(call) -> None:
    errors = []
    for m in (antorcha, torch):
        with pytest.raises(Exception) as info:
            call(m)
        errors.append(info.value)
    ours, theirs = errors
    assert type(ours).__name__ == type(theirs).__name__, (ours, theirs)
    assert torch_name(str(ours).split("\n")[0]) == str(theirs).split("\n")[0]


def _f(name: str, shape: tuple, *args, dtype: str = "float32", **kwargs):
    return lambda m: getattr(m.nn.functional, name)(m.zeros(shape, dtype=getattr(m, dtype)), *args, **kwargs)


ERRORS = [
    _f("max_pool2d", (2, 3, 5, 5), 3, padding=2),
    _f("max_pool2d", (2, 3, 5, 5), 3, dilation=2, padding=2),
    _f("max_pool2d", (2, 3, 5, 5), 0),
    _f("max_pool2d", (2, 3, 5, 5), 2, stride=0),
    _f("max_pool2d", (2, 3, 5, 5), 2, dilation=0),
    _f("max_pool2d", (2, 3, 5, 5), 6),
    _f("max_pool2d", (2, 3, 5, 5), (2, 2, 2)),
    _f("max_pool2d", (2, 3, 0, 5), 2),
    _f("max_pool2d", (2, 3, 5, 5), 2, padding=-1),
    _f("max_pool1d", (2, 3, 5, 5), 2),
    _f("max_pool1d", (2, 3, 5), 3, padding=2),
    _f("max_pool1d", (2, 3, 5), 0),
    _f("max_pool1d", (2, 3, 5), 2, stride=0),
    _f("max_pool1d", (2, 3, 5), 2, padding=-1),
    _f("max_pool1d", (2, 3, 5), 2, dilation=0),
    _f("max_pool1d", (2, 3, 5), 6),
    _f("avg_pool2d", (2, 3, 5, 5), 3, padding=2),
    _f("avg_pool2d", (2, 3, 5, 5), 6),
    _f("avg_pool2d", (2, 3, 5, 5), 2, stride=0),
    _f("avg_pool2d", (2, 3, 5, 5), 2, divisor_override=0),
    _f("avg_pool1d", (3, 5), 6),
    _f("avg_pool1d", (3, 5), 2, padding=2),
    _f("avg_pool1d", (1, 2, 3, 5), 2),
    _f("adaptive_avg_pool2d", (2, 3, 5, 5), (2,)),
    _f("adaptive_avg_pool2d", (5, 5), 2),
    _f("adaptive_avg_pool2d", (5, 5), (2, 2)),
    _f("adaptive_max_pool2d", (5,), (2, 2)),
    _f("adaptive_avg_pool1d", (2, 3, 5, 5), 2),
    _f("adaptive_avg_pool2d", (2, 3, 5, 5), 2, dtype="int64"),
    _f("adaptive_avg_pool2d", (2, 3, 5, 5), 1, dtype="int64"),  # the global case: torch's mean error
    _f("adaptive_avg_pool1d", (2, 3, 5), 1, dtype="int32"),
    _f("adaptive_max_pool2d", (2, 3, 5, 5), 2, dtype="int64"),
]


@pytest.mark.parametrize("call", ERRORS)
def test_errors_match_torch(call) -> None:
    _same_error(call)


def _unpool(indices_of, **kwargs):
    def call(m):
        values, indices = m.nn.functional.max_pool2d(m.zeros(2, 3, 5, 5), 2, return_indices=True)
        return m.nn.functional.max_unpool2d(values, indices_of(indices), 2, **kwargs)

    return call


@pytest.mark.parametrize("call", [
    _unpool(lambda i: i * 0 + 17),
    _unpool(lambda i: i, output_size=(7, 5)),
    _unpool(lambda i: i.int()),
    _unpool(lambda i: i[0]),
])
def test_max_unpool_errors_match_torch(call) -> None:
    _same_error(call)


def test_nan_and_infinity_follow_torch(pool_path: str) -> None:
    """A NaN is the maximum of its window (torch keeps the last NaN's index), -inf loses to anything."""
    x = np.random.default_rng(9).integers(0, 3, (1, 2, 6, 6)).astype(np.float64)
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = x[0, 1, 2, 2] = np.nan
    x[0, 1, 4, 4] = -np.inf
    for kwargs in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1}):
        ours = antorcha.nn.functional.max_pool2d(antorcha.tensor(x), return_indices=True, **kwargs)
        theirs = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **kwargs)
        np.testing.assert_array_equal(ours[0].numpy(), theirs[0].numpy())
        np.testing.assert_array_equal(ours[1].numpy(), theirs[1].numpy())
