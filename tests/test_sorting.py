"""Sorting, selection, scans and counts against torch where the op-spec table can't say it:
return types, stability over many ties, node names, errors, out=, extreme values.

The table rows (forward and backward over drawn shapes) are in `op_specs_sorting.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import antorcha


def both(fn: Callable[[Any], Any]) -> tuple[Any, Any]:
    return fn(antorcha), fn(torch)


def as_array(t: Any) -> np.ndarray:
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.detach())


def assert_same(a: Any, t: Any, exact: bool = False) -> None:
    if t is None:  # torch proved a gradient zero; antorcha may have computed the zeros
        assert a is None or not as_array(a).any()
        return
    if isinstance(t, tuple):
        assert isinstance(a, tuple) and len(a) == len(t)
        for a_item, t_item in zip(a, t):
            assert_same(a_item, t_item, exact)
        return
    assert tuple(a.shape) == tuple(t.shape)
    assert str(a.dtype).rsplit(".", 1)[-1] == str(t.dtype).rsplit(".", 1)[-1]
    if exact or t.dtype in (torch.int64, torch.int32, torch.bool):
        np.testing.assert_array_equal(as_array(a), as_array(t))
    else:
        np.testing.assert_allclose(as_array(a), as_array(t), rtol=1e-6, atol=1e-7, equal_nan=True)


# ---- return types ----------------------------------------------------------------------------
PICKING = {
    "sort": lambda m, x: m.sort(x, dim=1),
    "topk": lambda m, x: x.topk(2),
    "kthvalue": lambda m, x: x.kthvalue(2, dim=0),
    "median": lambda m, x: x.median(dim=1),
    "nanmedian": lambda m, x: m.nanmedian(x, 0, keepdim=True),
    "mode": lambda m, x: x.mode(),
    "cummax": lambda m, x: m.cummax(x, 1),
    "cummin": lambda m, x: x.cummin(dim=0),
}


@pytest.mark.parametrize("name", list(PICKING))
def test_picking_ops_return_torchs_named_tuple(name: str) -> None:
    values = np.array([[3.0, 1.0, 2.0], [0.5, 5.0, 4.0]])
    a, t = both(lambda m: PICKING[name](m, m.tensor(values)))
    assert type(a).__name__ == type(t).__name__ == name
    assert isinstance(a, tuple) and len(a) == 2
    got_values, got_indices = a  # unpackable
    assert got_values is a.values is a[0] and got_indices is a.indices is a[1]
    assert_same(a.values, t.values)
    assert_same(a.indices, t.indices)
    assert repr(a).startswith(f"antorcha.return_types.{name}(\nvalues=")


def test_whole_tensor_median_returns_a_tensor_not_a_tuple() -> None:
    a, t = both(lambda m: m.tensor([[4.0, 1.0], [3.0, 2.0]]).median())
    assert isinstance(a, antorcha.Tensor) and a.ndim == 0
    assert_same(a, t)  # the lower median of an even count, as torch


def test_unique_returns_only_the_extras_asked_for() -> None:
    values = [3, 1, 2, 1, 3, 3]
    for kwargs in ({}, {"return_inverse": True}, {"return_counts": True},
                   {"return_inverse": True, "return_counts": True}):
        a, t = both(lambda m, kw=kwargs: m.unique(m.tensor(values), **kw))
        assert_same(a, t)


NAMES = {
    "sort": lambda m, x: m.sort(x, 0).values,
    "topk": lambda m, x: x.topk(2, 0).values,
    "kthvalue": lambda m, x: x.kthvalue(1, 0).values,
    "median_dim": lambda m, x: x.median(0).values,
    "median": lambda m, x: x.median(),
    "nanmedian": lambda m, x: x.nanmedian(),
    "mode": lambda m, x: x.mode(0).values,
    "cummax": lambda m, x: x.cummax(0).values,
    "cummin": lambda m, x: x.cummin(0).values,
    "cumprod": lambda m, x: x.cumprod(0),
    "logcumsumexp": lambda m, x: x.logcumsumexp(0),
    "nansum": lambda m, x: x.nansum(),
}


@pytest.mark.parametrize("name", list(NAMES))
def test_node_names_are_torchs(name: str) -> None:
    a, t = both(lambda m: NAMES[name](m, m.tensor([[2.0, 1.0], [4.0, 3.0]], requires_grad=True)))
    assert a.grad_fn.name() == type(t.grad_fn).__name__


@pytest.mark.parametrize("largest", [True, False])
def test_topk_of_few_among_many(largest: bool) -> None:
    """k much smaller than the dim: antorcha partitions first; NaN counts as the largest."""
    rng = np.random.default_rng(3)
    values = rng.standard_normal((4, 300))
    values[1, ::60] = np.nan  # 5 NaNs: all among the 7 largest, in an order torch leaves open

    def run(m: Any) -> tuple:
        x = m.tensor(values, requires_grad=True)
        top = x.topk(7, dim=1, largest=largest)
        top.values[[0, 2, 3]].backward(m.tensor(np.arange(21.0).reshape(3, 7)))
        return top.values, top.indices[[0, 2, 3]], top.indices[1].sort().values, x.grad

    assert_same(*both(run))


# ---- ties and stability -------------------------------------------------------------------------
@pytest.mark.parametrize("descending", [False, True])
def test_stable_sort_keeps_equal_elements_in_order_over_many_ties(descending: bool) -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 4, (3, 500)).astype(np.float32)
    values[0, ::7] = np.nan  # NaN sorts as the largest value, its own ties kept in order too
    a, t = both(lambda m: m.tensor(values).sort(dim=1, descending=descending, stable=True))
    assert_same(a, tuple(t), exact=True)
    a, t = both(lambda m: m.tensor(values).argsort(dim=1, descending=descending, stable=True))
    assert_same(a, t, exact=True)


def test_stable_sort_of_integers_and_bools() -> None:
    rng = np.random.default_rng(1)
    for values in (rng.integers(-3, 3, 200), rng.random(50) < 0.5):
        for descending in (False, True):
            a, t = both(lambda m, v=values, d=descending: m.sort(m.tensor(v), descending=d, stable=True))
            assert_same(a, tuple(t))


def test_stable_sort_gradient_follows_the_stable_order() -> None:
    values = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    weights = np.arange(5.0)

    def grad(m: Any) -> Any:
        x = m.tensor(values, requires_grad=True)
        (x.sort(descending=True, stable=True).values * m.tensor(weights)).sum().backward()
        return x.grad

    assert_same(*both(grad))


def test_cummax_and_mode_pick_torchs_index_among_ties() -> None:
    values = np.array([[2.0, 0.0, 2.0, 0.0, 1.0, 2.0, 0.0], [1.0, 1.0, 3.0, 3.0, 1.0, 3.0, 1.0]])
    for fn in (lambda m, x: x.cummax(1), lambda m, x: x.cummin(1), lambda m, x: x.mode(1)):
        a, t = both(lambda m, f=fn: f(m, m.tensor(values)))
        assert_same(a, tuple(t))


def test_median_gradient_is_shared_among_equal_elements() -> None:
    def grad(m: Any) -> Any:
        x = m.tensor([3.0, 1.0, 2.0, 2.0, 5.0, 2.0], requires_grad=True)
        x.median().backward()
        return x.grad

    assert_same(*both(grad))


# ---- gradients with zeros and extreme values ------------------------------------------------------
@pytest.mark.parametrize("values", [[2.0, 0.0, 3.0, 0.0, 5.0], [0.0, 0.0, 1.5], [1.5, -2.0, 0.0], [0.0]])
def test_cumprod_gradient_with_zeros(values: list[float]) -> None:
    def grads(m: Any) -> tuple:
        x = m.tensor(values, dtype=m.float64, requires_grad=True)
        g = m.tensor(np.linspace(0.5, 1.5, len(values)), requires_grad=True)
        (first,) = m.autograd.grad(x.cumprod(0), x, g, create_graph=True)
        weights = m.tensor(np.arange(1.0, len(values) + 1))
        second = m.autograd.grad((first * weights).sum(), (x, g), allow_unused=True)
        return first, *second

    assert_same(*both(grads))


def test_logcumsumexp_is_stable_at_large_magnitudes() -> None:
    def run(m: Any) -> tuple:
        x = m.tensor([-1000.0, 0.0, 1000.0, -50.0, 999.0], requires_grad=True)
        out = x.logcumsumexp(0)
        out.backward(m.tensor([1.0, -2.0, 0.5, 3.0, -1.0]))
        return out, x.grad

    assert_same(*both(run))


def test_quantile_gradient_reaches_a_tensor_q() -> None:
    def grads(m: Any) -> tuple:
        x = m.tensor([[0.3, -1.2, 2.5, 0.9], [1.1, 0.2, -0.4, 3.0]], requires_grad=True)
        q = m.tensor([0.1, 0.5, 0.8], requires_grad=True)
        out = m.quantile(x, q, dim=1, keepdim=True)
        out.backward(m.ones_like(out))
        return out, x.grad, q.grad

    assert_same(*both(grads))


# ---- histc, searchsorted, bucketize details --------------------------------------------------------
def test_histc_edges_in_float32() -> None:
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.uniform(-1, 1, 2000), np.linspace(-1, 1, 101)]).astype(np.float32)
    with_outside = np.concatenate([values, [np.nan, 3.0]]).astype(np.float32)  # left out of a given range
    for data, kwargs in ((with_outside, {"bins": 7, "min": -1, "max": 1}),
                         (with_outside, {"bins": 100, "min": -0.3, "max": 0.7}), (values, {"bins": 13})):
        assert_same(*both(lambda m, v=data, kw=kwargs: m.histc(m.tensor(v), **kw)))


def test_searchsorted_scalar_and_int32() -> None:
    def run(m: Any) -> tuple:
        boundaries = m.tensor([1.0, 2.0, 2.0, 3.0])
        return (m.searchsorted(boundaries, 2.0), m.searchsorted(boundaries, 2.0, right=True),
                m.searchsorted(boundaries, m.tensor([[0, 2], [3, 9]]), out_int32=True),
                m.bucketize(m.tensor([2.0, 2.5]), boundaries, right=True))

    assert_same(*both(run))


def test_bincount_weight_dtypes() -> None:
    for dtype in ("float32", "float64", "int32"):
        weights = lambda m, d=dtype: m.ones(3, dtype=getattr(m, d))  # noqa: E731
        assert_same(*both(lambda m, w=weights: m.bincount(m.tensor([0, 3, 3]), weights=w(m))))


# ---- out= ---------------------------------------------------------------------------------------------
def test_out_arguments() -> None:
    def run(m: Any) -> tuple:
        x = m.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
        values, indices = m.empty(0), m.empty(0, dtype=m.int64)
        returned = m.sort(x, dim=1, out=(values, indices))
        q = m.empty(2)
        m.quantile(x, 0.25, dim=1, out=q)
        c = m.empty(0)
        m.cumprod(x, 1, out=c)
        return returned.values, values, indices, q, c

    assert_same(*both(run))


# ---- errors: torch's exception class, and a message naming what is wrong --------------------------------
X = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
ERRORS = {
    "topk k too large": (lambda m: m.tensor(X).topk(4), "k"),
    "topk k negative": (lambda m: m.tensor(X).topk(-1), "k"),
    "topk dim": (lambda m: m.tensor(X).topk(1, dim=2), "range"),
    "sort dim": (lambda m: m.sort(m.tensor(X), dim=-3), "range"),
    "argsort dim": (lambda m: m.tensor(X).argsort(dim=5), "range"),
    "kthvalue k zero": (lambda m: m.tensor(X).kthvalue(0), "k"),
    "kthvalue k too large": (lambda m: m.tensor(X).kthvalue(4), "k"),
    "kthvalue empty dim": (lambda m: m.zeros(0, 3).kthvalue(1, dim=0), "dim 0"),
    "median empty dim": (lambda m: m.zeros(0, 3).median(dim=0), "dim 0"),
    "mode empty dim": (lambda m: m.zeros(0, 3).mode(dim=0), "dim 0"),
    "cumprod dim": (lambda m: m.tensor(X).cumprod(dim=3), "range"),
    "cummax dim": (lambda m: m.tensor(X).cummax(dim=-3), "range"),
    "bincount negative": (lambda m: m.bincount(m.tensor([-1, 2])), "non-negative"),
    "bincount float": (lambda m: m.bincount(m.tensor([1.0, 2.0])), "Float"),
    "bincount 2-d": (lambda m: m.bincount(m.tensor([[1, 2]])), "1-d"),
    "bincount minlength": (lambda m: m.bincount(m.tensor([1, 2]), minlength=-1), "minlength"),
    "bincount weights": (lambda m: m.bincount(m.tensor([1, 2]), weights=m.ones(3)), "weights"),
    "quantile q above 1": (lambda m: m.tensor(X).quantile(1.5), "1.5"),
    "quantile q below 0": (lambda m: m.quantile(m.tensor(X), -0.1), "[0, 1]"),
    "quantile tensor q": (lambda m: m.tensor(X).quantile(m.tensor([0.2, 1.5])), "[0, 1]"),
    "quantile 2-d q": (lambda m: m.tensor(X).quantile(m.tensor([[0.2]])), "1D"),
    "quantile q dtype": (lambda m: m.tensor(X).quantile(m.tensor([0.2], dtype=m.float64)), "dtype"),
    "quantile interpolation": (lambda m: m.tensor(X).quantile(0.5, interpolation="cubic"), "cubic"),
    "quantile int input": (lambda m: m.tensor([1, 2]).quantile(0.5), "float"),
    "quantile empty": (lambda m: m.tensor([]).nanquantile(0.5), "non-empty"),
    "quantile dim": (lambda m: m.tensor(X).quantile(0.5, dim=2), "range"),
    "histc bins": (lambda m: m.histc(m.tensor(X), bins=0), "bins"),
    "histc range": (lambda m: m.histc(m.tensor(X), bins=3, min=3, max=1), "max"),
    "histc int": (lambda m: m.histc(m.tensor([1, 2])), "Long"),
    "histc infinite": (lambda m: m.histc(m.tensor([1.0, float("inf")]), bins=4), "finite"),
    "searchsorted side": (lambda m: m.searchsorted(m.tensor([1.0]), m.tensor([1.0]), side="left", right=True),
                          "side"),
    "searchsorted shapes": (lambda m: m.searchsorted(m.tensor([[1.0, 2.0]]), m.tensor([1.0, 3.0])), "[1, 2]"),
    "searchsorted sorter": (lambda m: m.searchsorted(m.tensor([1.0, 2.0]), m.tensor([1.0]),
                                                     sorter=m.tensor([0, 1, 2])), "sorter"),
    "bucketize boundaries": (lambda m: m.bucketize(m.tensor([1.0]), m.tensor([[1.0, 2.0]])), "dim(2)"),
    "logcumsumexp int": (lambda m: m.tensor([1, 2]).logcumsumexp(0), "Long"),
    "nanmean int": (lambda m: m.tensor([1, 2]).nanmean(), "Long"),
    "nanmean int to float": (lambda m: m.nanmean(m.tensor([1, 2]), dtype=m.float32), "Long"),
    "count_nonzero dims": (lambda m: m.tensor(X).count_nonzero(dim=(0, 0)), "multiple"),
    "unique zero-size dims": (lambda m: m.zeros(2, 0).unique(dim=0), "0 sized"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_arguments_raise_torchs_exception(case: str) -> None:
    call, mentioned = ERRORS[case]
    with pytest.raises(Exception) as torch_error:
        call(torch)
    with pytest.raises(type(torch_error.value)) as error:
        call(antorcha)
    assert type(error.value) is type(torch_error.value)
    assert mentioned in str(error.value)


# ---- the scan other array modules fall back to ------------------------------------------------------------
@pytest.mark.parametrize("ufunc", ["maximum", "minimum", "logaddexp"])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_scan_in_steps_matches_numpys_accumulate(ufunc: str, axis: int) -> None:
    """What cummax/cummin/logcumsumexp run on where ufunc.accumulate is missing (CuPy), run here
    on NumPy arrays against NumPy's own accumulate."""
    from antorcha.ops.scan import scan_in_steps

    rng = np.random.default_rng(4)
    values = rng.standard_normal((5, 9, 17)) * 30
    values[rng.random(values.shape) < 0.05] = np.nan
    binary = getattr(np, ufunc)
    with np.errstate(invalid="ignore"):  # logaddexp of NaN
        steps, expected = scan_in_steps(binary, values, axis), binary.accumulate(values, axis=axis)
    np.testing.assert_allclose(steps, expected, rtol=1e-12, equal_nan=True)
