"""autograd.detect_anomaly against torch: the same errors, warnings and forward stacks."""

from __future__ import annotations

import warnings

import pytest
import torch

import antorcha
from antorcha.autograd import _instrument

CASES = {
    "log_of_zero": lambda t, x: (x.log() * 0).sum(),  # 0 * inf in LogBackward0
    "sqrt_at_zero": lambda t, x: (x.sqrt() * 0).sum(),  # 0 * inf in SqrtBackward0
    "zero_over_zero": lambda t, x: (x / x).sum(),  # DivBackward0's 1th output is -0/0
}

CASES_SOURCE = {
    "log_of_zero": '"log_of_zero": lambda t, x: (x.log() * 0).sum(),  # 0 * inf in LogBackward0',
    "sqrt_at_zero": '"sqrt_at_zero": lambda t, x: (x.sqrt() * 0).sum(),  # 0 * inf in SqrtBackward0',
    "zero_over_zero": '"zero_over_zero": lambda t, x: (x / x).sum(),  # DivBackward0\'s 1th output is -0/0',
}


def _run(lib, case, check_nan=True):
    """(the error message or None, the warnings' texts, x.grad) under lib's detect_anomaly."""
    x = lib.zeros(3, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with lib.autograd.detect_anomaly(check_nan=check_nan):
                CASES[case](lib, x).backward()
            error = None
        except RuntimeError as err:
            error = str(err)
    return error, [str(w.message) for w in caught], x.grad


@pytest.mark.parametrize("case", sorted(CASES))
def test_nan_raises_like_torch(case):
    error, messages, _ = _run(antorcha, case)
    torch_error, torch_messages, _ = _run(torch, case)
    assert error == torch_error and error is not None
    assert messages[0] == torch_messages[0]  # the "has been enabled" warning
    node = error.split("'")[1]
    ours = messages[1]
    assert ours.startswith(f"Error detected in {node}. Traceback of forward call that caused the error:\n")
    stack = ours.split("\n", 1)[1]
    assert stack.rstrip().endswith(CASES_SOURCE[case])  # innermost: the lambda's forward call
    assert "antorcha/" not in stack and "torch/" not in stack  # antorcha's own frames trimmed
    assert _instrument.is_plain()  # switched off again after the error


def test_inf_is_not_an_anomaly():
    def run(lib):
        x = lib.zeros(3, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with lib.autograd.detect_anomaly():
                x.sqrt().sum().backward()
        return x.grad

    assert antorcha.isinf(run(antorcha)).all() and torch.isinf(run(torch)).all()


def test_check_nan_false_lets_nan_through():
    error, _, grad = _run(antorcha, "log_of_zero", check_nan=False)
    torch_error, _, torch_grad = _run(torch, "log_of_zero", check_nan=False)
    assert error is None and torch_error is None
    assert antorcha.isnan(grad).all() and torch.isnan(torch_grad).all()


def test_no_nan_runs_and_gives_torch_gradient():
    values = [0.5, 1.5, 2.0]
    grads = []
    for lib in (antorcha, torch):
        x = lib.tensor(values, requires_grad=True)
        enabled = pytest.warns(UserWarning, match="Anomaly Detection has been enabled")
        with enabled, lib.autograd.detect_anomaly():
            (x.log() * x.sqrt()).sum().backward()
        grads.append(x.grad.tolist())
    assert grads[0] == pytest.approx(grads[1], rel=1e-6)


@pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled")
def test_decorator_form_and_flags():
    @antorcha.autograd.detect_anomaly()
    def step(x):
        assert antorcha.autograd.is_anomaly_enabled()
        (x.log() * 0).sum().backward()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(
            RuntimeError, match=r"^Function 'LogBackward0' returned nan values in its 0th output\.$"
        ):
            step(antorcha.zeros(2, requires_grad=True))
    assert not antorcha.autograd.is_anomaly_enabled()
    assert antorcha.autograd.is_anomaly_check_nan_enabled()


def test_set_detect_anomaly_sets_now_and_restores():
    with antorcha.autograd.set_detect_anomaly(True, check_nan=False):
        assert antorcha.autograd.is_anomaly_enabled() and not antorcha.autograd.is_anomaly_check_nan_enabled()
        assert not _instrument.is_plain()
    assert not antorcha.autograd.is_anomaly_enabled() and antorcha.autograd.is_anomaly_check_nan_enabled()
    assert _instrument.is_plain()


def test_error_in_backward_warns_with_forward_stack():
    class Broken(antorcha.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            raise ValueError("broken backward")

    x = antorcha.ones(2, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with antorcha.autograd.detect_anomaly():
            y = Broken.apply(x).sum()  # the line the warning must show
            with pytest.raises(ValueError, match="broken backward"):
                y.backward()
    texts = [str(w.message) for w in caught]
    assert any(t.startswith("Error detected in BrokenBackward.") and "Broken.apply(x)" in t for t in texts)
