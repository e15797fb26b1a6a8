"""Shared by the linalg tests: well-conditioned inputs, and comparing antorcha with torch.

`compare` runs one expression on both libraries: outputs, then gradients under random cotangents.
`same_error` checks that antorcha raises torch's exception class (LinAlgError where torch's is one)
with torch's message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import antorcha

TOLERANCE = {"float32": (2e-3, 2e-4), "float64": (1e-8, 1e-10)}


# ---- well-conditioned inputs (float64 masters) ------------------------------------------------------
def general(rng: np.random.Generator, batch: tuple, n: int, m: int | None = None) -> np.ndarray:
    return rng.uniform(-1, 1, (*batch, n, n if m is None else m))


def invertible(rng: np.random.Generator, batch: tuple, n: int) -> np.ndarray:
    return general(rng, batch, n) + n * np.eye(n)


def spd(rng: np.random.Generator, batch: tuple, n: int) -> np.ndarray:
    b = general(rng, batch, n)
    return b @ b.swapaxes(-1, -2) + n * np.eye(n)


def _orthogonal(rng: np.random.Generator, batch: tuple, n: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((*batch, n, n)))
    return q


def separated_symmetric(rng: np.random.Generator, batch: tuple, n: int) -> np.ndarray:
    """Symmetric, eigenvalues at least 0.8 apart (eigh's gradient divides by their gaps)."""
    values = np.arange(n) - n / 2 + rng.uniform(-0.1, 0.1, (*batch, n))
    q = _orthogonal(rng, batch, n)
    return (q * values[..., None, :]) @ q.swapaxes(-1, -2)


def separated_rectangular(rng: np.random.Generator, batch: tuple, m: int, n: int) -> np.ndarray:
    """(m, n) with singular values 1, 2, ... (+ jitter): distinct and away from 0."""
    k = min(m, n)
    values = np.arange(k, 0, -1) + rng.uniform(-0.1, 0.1, (*batch, k))
    u = _orthogonal(rng, batch, m)[..., :, :k]
    v = _orthogonal(rng, batch, n)[..., :, :k]
    return (u * values[..., None, :]) @ v.swapaxes(-1, -2)


# ---- comparing ----------------------------------------------------------------------------------
def _flat(out: Any) -> list:
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in _flat(item)]
    return [out]


def compare(
    call: Callable[..., Any],
    arrays: list[np.ndarray],
    dtype: str,
    seed: int = 0,
    tol: tuple[float, float] | None = None,
) -> None:
    """call(module, *tensors) on antorcha and torch: outputs, then gradients under random cotangents."""
    rtol, atol = tol or TOLERANCE[dtype]
    results = {}
    for m in (antorcha, torch):
        leaves = [m.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
        results[m] = (leaves, _flat(call(m, *leaves)))
    (a_leaves, a_outs), (t_leaves, t_outs) = results[antorcha], results[torch]
    assert len(a_outs) == len(t_outs)
    rng = np.random.default_rng(seed)
    a_diff, t_diff, a_cots, t_cots = [], [], [], []
    for i, (a, t) in enumerate(zip(a_outs, t_outs)):
        assert tuple(a.shape) == tuple(t.shape), f"output {i}: {tuple(a.shape)} != torch's {tuple(t.shape)}"
        assert str(a.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], f"output {i}: {a.dtype}"
        np.testing.assert_allclose(
            np.asarray(a.detach()), t.detach().numpy(), rtol, atol, err_msg=f"output {i}"
        )
        assert a.requires_grad == t.requires_grad, f"output {i}: requires_grad {a.requires_grad}"
        if t.requires_grad:
            cotangent = rng.standard_normal(tuple(t.shape)).astype(dtype)
            a_diff.append(a), t_diff.append(t)
            a_cots.append(antorcha.tensor(cotangent)), t_cots.append(torch.tensor(cotangent))
    if not t_diff:
        return
    torch.autograd.backward(t_diff, t_cots)
    antorcha.autograd.backward(a_diff, a_cots)
    for i, (a, t) in enumerate(zip(a_leaves, t_leaves)):
        if t.grad is None:
            assert a.grad is None or not np.asarray(a.grad).any(), f"grad {i}: torch has none"
            continue
        assert a.grad is not None, f"grad {i}: antorcha has none"
        np.testing.assert_allclose(
            np.asarray(a.grad), t.grad.numpy(), rtol, atol, err_msg=f"grad of input {i}"
        )


DTYPES = ["float32", "float64"]
BATCHES = [(), (2,), (2, 3)]


def _cases() -> list:
    return [(dtype, batch) for dtype in DTYPES for batch in BATCHES]


CASES = pytest.mark.parametrize("dtype,batch", _cases())


def same_error(call: Callable[[Any], Any], arrays: list[np.ndarray]) -> None:
    with pytest.raises(Exception) as t_error:
        call(torch, *[torch.tensor(a) for a in arrays])
    with pytest.raises(Exception) as a_error:
        call(antorcha, *[antorcha.tensor(a) for a in arrays])
    t_value, a_value = t_error.value, a_error.value
    if isinstance(t_value, torch.linalg.LinAlgError):
        assert isinstance(a_value, antorcha.linalg.LinAlgError), repr(a_value)
    assert isinstance(
        a_value, type(t_value).__mro__[1] if type(t_value).__module__ == "torch._C" else type(t_value)
    )
    assert str(a_value) == str(t_value)
