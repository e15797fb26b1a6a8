"""antorcha.compile: the fused, chunked MLP path must give the plain eager path's results."""

from __future__ import annotations

import numpy as np
import pytest

import antorcha
import antorcha._compile as compile_module
import antorcha._fused_two_layer as two_layer
import antorcha.nn as nn
import antorcha.nn.functional as F
from antorcha._compile import FusedMLP
from antorcha._threads import rows_per_chunk


@pytest.fixture(autouse=True)
def fuse_every_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generic fused op normally starts at 16384 rows; the tests check its maths at small sizes too.

    The lesson's Linear -> ReLU -> Linear normally takes its own op (tests/test_fused_two_layer.py);
    here it is routed to the generic one, whose maths these tests check.
    """
    monkeypatch.setattr(compile_module, "_FUSE_MIN_ROWS", 1)
    monkeypatch.setattr(two_layer, "MAX_MOMENT_COLUMNS", 0)


THREE_CHUNKS_AND_A_BIT = 3 * rows_per_chunk(100, 4, compile_module._CHUNK_BYTES) + 5


class LessonMLP(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (10, 100, 1)) -> None:
        super().__init__()
        self.layer1 = nn.Linear(widths[0], widths[1])
        self.layer2 = nn.Linear(widths[1], widths[2])

    def forward(self, x: antorcha.Tensor) -> antorcha.Tensor:
        return self.layer2(F.relu(self.layer1(x)))


def _pair(model_fn, dtype=antorcha.float32):
    antorcha.manual_seed(0)
    eager = model_fn().to(dtype)
    twin = model_fn().to(dtype)
    twin.load_state_dict(eager.state_dict())
    return eager, antorcha.compile(twin)


def _grads(model) -> list[np.ndarray]:
    return [p.grad.numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("dtype", [antorcha.float32, antorcha.float64])
@pytest.mark.parametrize("batch", [1, 7, 64, 1000, THREE_CHUNKS_AND_A_BIT])
def test_fused_forward_and_backward_match_eager(batch: int, dtype) -> None:
    eager, compiled = _pair(LessonMLP, dtype)
    x = antorcha.randn(batch, 10, dtype=dtype)
    g = antorcha.randn(batch, 1, dtype=dtype)
    outs = []
    for model in (eager, compiled):
        out = model(x)
        out.backward(g)
        outs.append(out.detach().numpy())
    assert isinstance(compiled(x).grad_fn, FusedMLP._node_cls)
    # weight gradients are sums over the batch, added up chunk by chunk instead of in one GEMM:
    # float32 rounding then differs by ~sqrt(batch) ulps of the gradient's scale
    eps = 1e-6 if dtype is antorcha.float32 else 1e-14
    np.testing.assert_allclose(outs[1], outs[0], rtol=10 * eps, atol=10 * eps)
    for ours, theirs in zip(_grads(compiled), _grads(eager)):
        scale = np.abs(theirs).max()
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=eps * np.sqrt(batch) * 10 * scale)


def test_input_gradient_and_deeper_sequential_chain() -> None:
    def make():
        return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 3))

    eager, compiled = _pair(make)
    base = antorcha.randn(300, 6)
    g = antorcha.randn(300, 3)
    grads = []
    for model in (eager, compiled):
        x = base.clone().requires_grad_()
        model(x).backward(g)
        grads.append((x.grad.numpy(), _grads(model)))
    assert compiled._plan is not None and len(compiled._plan) == 3
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(grads[1][1], grads[0][1]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_training_follows_the_eager_trajectory() -> None:
    eager, compiled = _pair(LessonMLP)
    x, y = antorcha.randn(2048, 10), antorcha.randn(2048, 1)
    losses = {}
    for name, model in (("eager", eager), ("compiled", compiled)):
        optimizer = antorcha.optim.Adam(model.parameters(), lr=0.01)
        losses[name] = []
        for _ in range(50):
            optimizer.zero_grad()
            loss = nn.MSELoss()(model(x), y)
            loss.backward()
            optimizer.step()
            losses[name].append(loss.item())
    np.testing.assert_allclose(losses["compiled"], losses["eager"], rtol=1e-4)
    assert losses["compiled"][-1] < losses["compiled"][0]


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)),
        lambda: nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.0), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid()),
        lambda: nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU(), nn.Linear(8, 1)),
    ],
)
def test_anything_else_runs_eagerly_with_the_same_results(make) -> None:
    eager, compiled = _pair(make)
    x = antorcha.randn(16, 4)
    np.testing.assert_allclose(compiled(x).detach().numpy(), eager(x).detach().numpy(), rtol=1e-6)
    assert compiled._plan is None


def test_three_dim_input_and_no_grad_and_state_dict() -> None:
    eager, compiled = _pair(LessonMLP)
    x3 = antorcha.randn(2, 5, 10)
    np.testing.assert_allclose(compiled(x3).detach().numpy(), eager(x3).detach().numpy(), rtol=1e-6)
    with antorcha.no_grad():
        out = compiled(antorcha.randn(4, 10))
    assert not out.requires_grad
    assert list(compiled.state_dict()) == [f"_orig_mod.{k}" for k in eager.state_dict()]  # as torch.compile


def test_second_order_gradients_fall_back_to_eager_formulas() -> None:
    eager, compiled = _pair(LessonMLP, antorcha.float64)
    results = []
    for model in (eager, compiled):
        x = antorcha.randn(
            5, 10, dtype=antorcha.float64, generator=antorcha.Generator().manual_seed(3)
        ).requires_grad_()
        (gx,) = antorcha.autograd.grad(model(x).pow(2).sum(), x, create_graph=True)
        (ggx,) = antorcha.autograd.grad(gx.pow(2).sum(), x)
        results.append(ggx.numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-10)


def test_small_batches_run_eagerly_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compile_module, "_FUSE_MIN_ROWS", 16384)
    _, compiled = _pair(LessonMLP)
    assert type(compiled(antorcha.randn(1024, 10)).grad_fn).__name__ == "AddmmBackward0"
    assert isinstance(compiled(antorcha.randn(16384, 10)).grad_fn, FusedMLP._node_cls)
