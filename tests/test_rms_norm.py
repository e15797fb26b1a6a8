"""F.rms_norm and nn.RMSNorm against torch: values, gradients (first and second order), defaults."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import antorcha

TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
CASES = {
    "last dim, weight": ((3, 5), (5,), True, None),
    "two dims, eps": ((2, 3, 4), (3, 4), True, 1e-3),
    "no weight, default eps": ((4, 6), (6,), False, None),
}


def _run(module: Any, case: tuple, dtype: str) -> list[np.ndarray]:
    shape, normalized, with_weight, eps = case
    rng = np.random.default_rng(0)
    as_dtype = getattr(module, dtype)
    x = module.tensor(rng.standard_normal(shape), dtype=as_dtype, requires_grad=True)
    weight = module.tensor(rng.standard_normal(normalized), dtype=as_dtype, requires_grad=True)
    out = module.nn.functional.rms_norm(x, normalized, weight if with_weight else None, eps)
    out.backward(module.tensor(rng.standard_normal(shape), dtype=as_dtype))
    grads = [x.grad.numpy()] + ([weight.grad.numpy()] if with_weight else [])
    return [out.detach().numpy(), *grads]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
def test_rms_norm_matches_torch(case: str, dtype: str) -> None:
    for ours, theirs in zip(_run(antorcha, CASES[case], dtype), _run(torch, CASES[case], dtype)):
        np.testing.assert_allclose(ours, theirs, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_second_order_matches_torch() -> None:
    rng = np.random.default_rng(1)
    data, cotangent = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    results = []
    for module in (antorcha, torch):
        x = module.tensor(data, requires_grad=True)
        out = module.nn.functional.rms_norm(x, (4,))
        (grad,) = module.autograd.grad((out * module.tensor(cotangent)).sum(), x, create_graph=True)
        (grad * grad).sum().backward()
        results.append(x.grad.numpy())
    np.testing.assert_allclose(*results, rtol=1e-10, atol=1e-12)


def test_the_module_has_torchs_defaults_repr_and_state_dict() -> None:
    ours, theirs = antorcha.nn.RMSNorm([2, 3], eps=1e-3), torch.nn.RMSNorm([2, 3], eps=1e-3)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    np.testing.assert_array_equal(ours.weight.detach().numpy(), theirs.weight.detach().numpy())
    assert repr(antorcha.nn.RMSNorm(4, elementwise_affine=False)) == repr(
        torch.nn.RMSNorm(4, elementwise_affine=False)
    )
    x = np.random.default_rng(2).standard_normal((5, 2, 3)).astype(np.float32)
    expected = theirs(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours(antorcha.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_wrong_shape_gets_torchs_error() -> None:
    for normalized in ((4,), (4, 5)):
        with pytest.raises(RuntimeError) as theirs:
            torch.nn.functional.rms_norm(torch.ones(2, 3), normalized)
        with pytest.raises(RuntimeError) as ours:
            antorcha.nn.functional.rms_norm(antorcha.ones(2, 3), normalized)
        assert str(ours.value) == str(theirs.value)
