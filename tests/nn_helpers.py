"""Helpers for the nn tests: move values between torch (the oracle, always on the cpu) and
antorcha (on the device under test), and compare forward values and gradients under a random
cotangent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

import antorcha

DTYPES = [np.float32, np.float64]
TOLERANCE = {np.float32: {"rtol": 2e-5, "atol": 2e-6}, np.float64: {"rtol": 1e-10, "atol": 1e-12}}


def tolerance(dtype: Any) -> dict:
    return dict(TOLERANCE.get(np.dtype(dtype).type, {"rtol": 0, "atol": 0}))


def to_antorcha(value: torch.Tensor, requires_grad: bool = False, device: str = "cpu") -> antorcha.Tensor:
    """A copy of torch's (cpu) tensor as an antorcha leaf on `device`."""
    out = antorcha.from_numpy(value.detach().numpy().copy()).to(device)
    return out.requires_grad_() if requires_grad else out


def on_device_of(like: antorcha.Tensor, array: np.ndarray) -> antorcha.Tensor:
    """A copy of `array` as an antorcha tensor on `like`'s device (a loss's weight, say)."""
    return antorcha.from_numpy(array.copy()).to(like.device)


def to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return np.asarray(value.detach().cpu().numpy())


def assert_close(
    ours: antorcha.Tensor, theirs: torch.Tensor, dtype: Any = None, device: str | None = None, **tol: Any
) -> None:
    """Same shape, same dtype name, values equal within the dtype's tolerance (and antorcha's
    tensor on `device`, when given)."""
    assert tuple(ours.shape) == tuple(theirs.shape), f"shape {tuple(ours.shape)} != {tuple(theirs.shape)}"
    if device is not None:
        assert ours.device.type == device, f"on {ours.device}, expected {device}"
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1], (ours.dtype, theirs.dtype)
    limits = tolerance(dtype or to_numpy(theirs).dtype)
    limits.update(tol)
    np.testing.assert_allclose(to_numpy(ours), to_numpy(theirs), **limits)


def copy_weights(source: torch.nn.Module, target: antorcha.nn.Module) -> None:
    """Load torch's parameters and buffers into the antorcha module (keys must match)."""
    state = {key: to_antorcha(value) for key, value in source.state_dict().items()}
    target.load_state_dict(state)


def random_inputs(shapes: Sequence[tuple], dtype: Any, seed: int = 0, scale: float = 1.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * scale).astype(dtype) for shape in shapes]


def compare_with_torch(
    ours: Callable[..., antorcha.Tensor],
    theirs: Callable[..., torch.Tensor],
    arrays: Sequence[np.ndarray],
    differentiable: Sequence[bool] | None = None,
    params: Sequence[tuple[antorcha.Tensor, torch.Tensor]] = (),
    seed: int = 1,
    device: str = "cpu",
    **tol: Any,
) -> tuple[antorcha.Tensor, torch.Tensor]:
    """Run both functions on the same inputs (antorcha's on `device`, torch's on the cpu); compare
    outputs, then gradients of the inputs and of `params` for the cotangent-weighted output
    (out.backward(g) with a random g)."""
    differentiable = differentiable or [True] * len(arrays)
    torch_inputs = [
        torch.tensor(a, requires_grad=bool(d and a.dtype.kind == "f")) for a, d in zip(arrays, differentiable)
    ]
    our_inputs = [to_antorcha(t, requires_grad=t.requires_grad, device=device) for t in torch_inputs]
    expected = theirs(*torch_inputs)
    result = ours(*our_inputs)
    dtype = arrays[0].dtype
    assert_close(result, expected, dtype, device, **tol)
    if not expected.requires_grad:
        return result, expected
    cotangent = (
        np.random.default_rng(seed).standard_normal(tuple(expected.shape)).astype(to_numpy(expected).dtype)
    )
    expected.backward(torch.from_numpy(cotangent))
    result.backward(antorcha.from_numpy(cotangent.copy()).to(device))
    for mine, reference in zip(our_inputs, torch_inputs):
        if reference.requires_grad:
            _compare_grads(mine, reference, dtype, device, tol)
    for mine, reference in params:
        _compare_grads(mine, reference, dtype, device, tol)
    return result, expected


def _compare_grads(
    mine: antorcha.Tensor, reference: torch.Tensor, dtype: Any, device: str, tol: dict
) -> None:
    if reference.grad is None:
        assert mine.grad is None or not np.any(to_numpy(mine.grad)), "antorcha has a gradient torch lacks"
        return
    assert mine.grad is not None, "antorcha has no gradient where torch has one"
    assert_close(mine.grad, reference.grad, dtype, device, **tol)


def paired_parameters(ours: antorcha.nn.Module, theirs: torch.nn.Module) -> list[tuple[Any, Any]]:
    mine = dict(ours.named_parameters())
    return [(mine[name], param) for name, param in theirs.named_parameters()]


def torch_name(text: str) -> str:
    """antorcha's message or repr, as torch would print it."""
    return text.replace("antorcha", "torch")
