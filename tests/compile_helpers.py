"""The same model in antorcha (compiled) and in torch, for tests/test_compile.py and test_fused_two_layer.py.

torch is the oracle: every model is built once per framework by the same function,
torch's copy gets antorcha's initial weights, and both run forward and backward
on the same numbers with the same random cotangent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import antorcha

TORCH_DTYPES = {antorcha.float32: torch.float32, antorcha.float64: torch.float64}
NUMPY_DTYPES = {antorcha.float32: np.float32, antorcha.float64: np.float64}


def lesson_mlp(lib: Any, inputs: int = 10, hidden: int = 100, outputs: int = 1) -> Any:
    """The lesson's MLP as a learner writes it, `layer2(relu(layer1(x)))`, in antorcha or torch."""
    nn, F = lib.nn, lib.nn.functional

    class TwoLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer1 = nn.Linear(inputs, hidden)
            self.layer2 = nn.Linear(hidden, outputs)

        def forward(self, x: Any) -> Any:
            return self.layer2(F.relu(self.layer1(x)))

    return TwoLayer()


def copy_weights(ours: Any, theirs: Any) -> None:
    """torch's parameters := antorcha's, in the order both modules list them."""
    mine, reference = list(ours.parameters()), list(theirs.parameters())
    assert [tuple(p.shape) for p in mine] == [tuple(p.shape) for p in reference]
    with torch.no_grad():
        for p, q in zip(mine, reference):
            q.copy_(torch.from_numpy(p.detach().numpy().copy()))


def compiled_and_torch(make: Callable[[Any], Any], dtype: Any = antorcha.float32) -> tuple[Any, Any]:
    """`antorcha.compile(make(antorcha))` and `make(torch)` with the same weights, in `dtype`."""
    antorcha.manual_seed(0)
    ours = make(antorcha).to(dtype)
    theirs = make(torch).to(TORCH_DTYPES[dtype])
    copy_weights(ours, theirs)
    return antorcha.compile(ours), theirs


def random_arrays(seed: int, dtype: Any, *shapes: tuple[int, ...]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(NUMPY_DTYPES[dtype]) for shape in shapes]


def forward_backward(model: Any, lib: Any, x: np.ndarray, g: np.ndarray, input_grad: bool = False) -> tuple:
    """model(x) after backward(g): (output, input gradient or None, parameter gradients) as arrays."""
    xs = lib.tensor(x.copy(), requires_grad=input_grad)
    out = model(xs)
    out.backward(lib.tensor(g.copy()))
    return out, _array(xs.grad) if input_grad else None, [_array(p.grad) for p in model.parameters()]


def assert_all_close(
    ours: list, theirs: list, rtol: float, atol: float, scaled: bool = False, **kw: Any
) -> None:
    """Pairwise allclose; `scaled`: atol relative to each reference's largest finite magnitude."""
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs):
        mine, reference = _array(mine), _array(reference)
        scale = float(np.abs(reference[np.isfinite(reference)]).max(initial=0)) if scaled else 1.0
        np.testing.assert_allclose(mine, reference, rtol=rtol, atol=atol * scale, **kw)


def _array(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    return value.detach().numpy().copy()
