"""special.py beyond the op-spec table: bad input and `out=`, compared with torch.

Each error case runs one expression on torch and on antorcha: torch must raise (so the case
really is an error), antorcha must raise the same class with torch's message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import antorcha

ERRORS: dict[str, Callable[[Any], Any]] = {
    "addcdiv_integers": lambda m: m.addcdiv(m.ones(2), m.arange(2), m.arange(1, 3)),
    "addcmul_shapes": lambda m: m.addcmul(m.ones(2), m.ones(3), m.ones(2)),
    "atan2_shapes": lambda m: m.atan2(m.ones(2, 3), m.ones(4)),
    "atan2_scalar_other": lambda m: m.atan2(m.ones(2), 2.0),
    "hypot_scalar_other": lambda m: m.hypot(m.ones(2), 2.0),
    "hypot_integers": lambda m: m.hypot(m.arange(3), m.arange(3)),
    "logaddexp_integers": lambda m: m.logaddexp(m.arange(3), m.arange(3)),
    "logaddexp2_integers": lambda m: m.logaddexp2(m.arange(3), m.arange(3)),
    "nextafter_integers": lambda m: m.nextafter(m.arange(3), m.arange(3)),
    "frac_integers": lambda m: m.frac(m.arange(3)),
    "polygamma_negative_n": lambda m: m.polygamma(-1, m.ones(2)),
    "polygamma_float_n": lambda m: m.polygamma(1.5, m.ones(2)),
    "heaviside_dtypes": lambda m: m.heaviside(m.ones(2), m.ones(2, dtype=m.float64)),
    "heaviside_scalar_values": lambda m: m.heaviside(m.ones(2), 0.5),
    "heaviside_backward": lambda m: m.heaviside(m.ones(2, requires_grad=True), m.ones(1)).sum().backward(),
    "float_power__float32": lambda m: m.ones(2).float_power_(2),
    "out_with_grad": lambda m: m.atan2(m.ones(2, requires_grad=True), m.ones(2), out=m.empty(2)),
    "out_float_into_long": lambda m: m.hypot(m.ones(2), m.ones(2), out=m.empty(2, dtype=m.int64)),
    "addcmul_inplace_leaf": lambda m: m.ones(2, requires_grad=True).addcmul_(m.ones(2), m.ones(2)),
}


@pytest.mark.parametrize("name", ERRORS)
def test_bad_input_raises_as_torch_does(name: str) -> None:
    call = ERRORS[name]
    with pytest.raises(Exception) as expected:
        call(torch)
    with pytest.raises(Exception) as actual:
        call(antorcha)
    assert isinstance(actual.value, type(expected.value)), f"{type(actual.value)} != {type(expected.value)}"
    assert str(actual.value) == str(expected.value)


RESULTS: dict[str, Callable[[Any, Any], Any]] = {
    "atan2": lambda m, out: m.atan2(m.tensor([0.5, -1.0]), m.tensor([2.0, 0.25]), out=out),
    "erfinv": lambda m, out: m.erfinv(m.tensor([0.5, -0.25]), out=out),
    "polygamma": lambda m, out: m.polygamma(2, m.tensor([0.5, 3.0]), out=out),
    "addcmul": lambda m, out: m.addcmul(m.ones(2), m.tensor([2.0, 3.0]), m.tensor([0.5, 4.0]), value=0.5,
                                        out=out),
    "xlogy_scalar": lambda m, out: m.xlogy(2.0, m.tensor([0.5, 3.0]), out=out),
}


@pytest.mark.parametrize("name", RESULTS)
def test_out_receives_the_result(name: str) -> None:
    """out= of another shape is resized, written and returned, as in torch."""
    expected_out = torch.empty(0)
    expected = RESULTS[name](torch, expected_out)
    actual_out = antorcha.empty(0)
    actual = RESULTS[name](antorcha, actual_out)
    assert actual is actual_out and expected is expected_out
    np.testing.assert_allclose(np.asarray(actual_out), expected_out.numpy(), rtol=1e-6)


def test_special_values_match_torch() -> None:
    """Poles, infinities and NaN, where the kernels take their own branches."""
    nan, inf = float("nan"), float("inf")
    x = [0.0, -0.0, -1.0, -2.5, inf, -inf, nan, 1e30, 1e-30, 0.5]
    for name in ("lgamma", "digamma", "erfc", "sinc", "i0"):
        for dtype in ("float32", "float64"):
            expected = getattr(torch, name)(torch.tensor(x, dtype=getattr(torch, dtype))).numpy()
            actual = np.asarray(getattr(antorcha, name)(antorcha.tensor(x, dtype=getattr(antorcha, dtype))))
            np.testing.assert_allclose(actual, expected, rtol=1e-6, equal_nan=True, err_msg=f"{name} {dtype}")
    y = [-1.0, 1.0, 1.5, 0.0, -0.0, nan, 1 - 1e-7, -(1 - 1e-7)]
    np.testing.assert_allclose(np.asarray(antorcha.erfinv(antorcha.tensor(y, dtype=antorcha.float64))),
                               torch.erfinv(torch.tensor(y, dtype=torch.float64)).numpy(), rtol=1e-12)
    for n in (1, 2, 3):
        # torch's trigamma reflects through sin(pi x), which is not exactly 0 at -1: 1.3e15, not inf
        poles = [0.0, -2.5, 1.0, nan] if n == 1 else [0.0, -1.0, -2.5, 1.0, nan]
        np.testing.assert_allclose(np.asarray(antorcha.polygamma(n, antorcha.tensor(poles))),
                                   torch.polygamma(n, torch.tensor(poles)).numpy(), rtol=1e-6, equal_nan=True)


def test_special_functions_over_wide_ranges() -> None:
    """Accuracy against torch away from the poles, over ranges the op-spec table does not draw from."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-30, 30, 2000), rng.uniform(0, 3, 2000), rng.uniform(30, 1e6, 200)])
    x = x[np.abs(x - np.round(x)) > 1e-2]
    for name in ("lgamma", "digamma"):
        expected = getattr(torch, name)(torch.tensor(x)).numpy()
        actual = np.asarray(getattr(antorcha, name)(antorcha.tensor(x)))
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12, err_msg=name)
    for n in (2, 3, 5):
        expected = torch.polygamma(n, torch.tensor(x)).numpy()
        np.testing.assert_allclose(np.asarray(antorcha.polygamma(n, antorcha.tensor(x))), expected, rtol=1e-9)
    y = np.concatenate([rng.uniform(-1, 1, 2000), 1 - 10.0 ** -rng.uniform(1, 15, 200)])
    expected = torch.erfinv(torch.tensor(y)).numpy()
    np.testing.assert_allclose(np.asarray(antorcha.erfinv(antorcha.tensor(y))), expected, rtol=1e-13)
