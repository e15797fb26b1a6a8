"""antorcha.compile: the generic fused, chunked MLP op must give torch's results."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from compile_helpers import assert_all_close, compiled_and_torch, forward_backward, lesson_mlp, random_arrays

import antorcha
import antorcha.nn as nn
import antorcha.speed.compiler as compiler
import antorcha.speed.fused_two_layer as two_layer
from antorcha.ops.linalg import Addmm
from antorcha.ops.movement import T
from antorcha.ops.unary import Relu
from antorcha.speed.fused_chain import FusedMLP
from antorcha.speed.fused_two_layer import FusedTwoLayerReLU
from antorcha.speed.threads import rows_per_chunk

DEFAULT_MAX_MOMENT_COLUMNS = two_layer.MAX_MOMENT_COLUMNS  # before the fixture below changes it


@pytest.fixture(autouse=True)
def fuse_every_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generic fused op normally starts at 16384 rows; the tests check its maths at small sizes too.

    The lesson's Linear -> ReLU -> Linear normally takes its own op (tests/test_fused_two_layer.py);
    here it is routed to the generic one, whose maths these tests check.
    """
    monkeypatch.setattr(compiler, "_FUSE_MIN_ROWS", 1)
    monkeypatch.setattr(two_layer, "MAX_MOMENT_COLUMNS", 0)


THREE_CHUNKS_AND_A_BIT = 3 * rows_per_chunk(100, 4) + 5


def _deep(lib):
    return lib.nn.Sequential(
        lib.nn.Linear(6, 32), lib.nn.ReLU(), lib.nn.Linear(32, 16), lib.nn.ReLU(), lib.nn.Linear(16, 3)
    )


@pytest.mark.parametrize("dtype", [antorcha.float32, antorcha.float64])
@pytest.mark.parametrize("batch", [1, 7, 64, 1000, THREE_CHUNKS_AND_A_BIT])
def test_fused_forward_and_backward_match_torch(batch: int, dtype) -> None:
    compiled, reference = compiled_and_torch(lesson_mlp, dtype)
    x, g = random_arrays(batch, dtype, (batch, 10), (batch, 1))
    out, _, grads = forward_backward(compiled, antorcha, x, g)
    expected, _, expected_grads = forward_backward(reference, torch, x, g)
    assert isinstance(out.grad_fn, FusedMLP._node_cls)
    # weight gradients are sums over the batch, added up chunk by chunk instead of in one GEMM:
    # rounding then differs by ~sqrt(batch) ulps of the gradient's scale
    eps = 1e-6 if dtype is antorcha.float32 else 1e-14
    assert_all_close([out], [expected], rtol=10 * eps, atol=10 * eps)
    assert_all_close(grads, expected_grads, rtol=0, atol=eps * np.sqrt(batch) * 10, scaled=True)


@pytest.mark.parametrize("dtype", [antorcha.float32, antorcha.float64])
def test_input_gradient_and_deeper_sequential_chain(dtype) -> None:
    compiled, reference = compiled_and_torch(_deep, dtype)
    x, g = random_arrays(3, dtype, (300, 6), (300, 3))
    out, x_grad, grads = forward_backward(compiled, antorcha, x, g, input_grad=True)
    expected, expected_x_grad, expected_grads = forward_backward(reference, torch, x, g, input_grad=True)
    assert compiled._plan is not None and len(compiled._plan) == 3
    assert isinstance(out.grad_fn, FusedMLP._node_cls)
    rtol, atol = (1e-5, 1e-6) if dtype is antorcha.float32 else (1e-12, 1e-13)
    assert_all_close([out, x_grad, *grads], [expected, expected_x_grad, *expected_grads], rtol, atol)


def test_training_follows_torchs_trajectory() -> None:
    compiled, reference = compiled_and_torch(lesson_mlp)
    x, y = random_arrays(4, antorcha.float32, (2048, 10), (2048, 1))
    losses = {}
    for name, model, lib in (("compiled", compiled, antorcha), ("torch", reference, torch)):
        optimizer = lib.optim.Adam(model.parameters(), lr=0.01)
        xs, ys = lib.tensor(x), lib.tensor(y)
        losses[name] = []
        for _ in range(50):
            optimizer.zero_grad()
            loss = lib.nn.MSELoss()(model(xs), ys)
            loss.backward()
            optimizer.step()
            losses[name].append(loss.item())
    assert isinstance(compiled(antorcha.tensor(x)).grad_fn, FusedMLP._node_cls)
    np.testing.assert_allclose(losses["compiled"], losses["torch"], rtol=1e-4)
    assert losses["compiled"][-1] < losses["compiled"][0]


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Linear(8, 1)),
        lambda lib: lib.nn.Sequential(
            lib.nn.Linear(4, 8), lib.nn.Dropout(0.0), lib.nn.ReLU(), lib.nn.Linear(8, 1), lib.nn.Sigmoid()
        ),
        lambda lib: lib.nn.Sequential(lib.nn.Linear(4, 8, bias=False), lib.nn.ReLU(), lib.nn.Linear(8, 1)),
    ],
)
def test_anything_else_runs_eagerly_with_torchs_results(make) -> None:
    compiled, reference = compiled_and_torch(make)
    x, g = random_arrays(5, antorcha.float32, (16, 4), (16, 1))
    out, _, grads = forward_backward(compiled, antorcha, x, g)
    expected, _, expected_grads = forward_backward(reference, torch, x, g)
    assert compiled._plan is None
    assert_all_close([out, *grads], [expected, *expected_grads], rtol=1e-5, atol=1e-6)


def test_three_dim_input_and_no_grad_and_state_dict() -> None:
    compiled, reference = compiled_and_torch(lesson_mlp)
    x3, x2 = random_arrays(6, antorcha.float32, (2, 5, 10), (4, 10))
    out3 = compiled(antorcha.tensor(x3))
    assert not isinstance(out3.grad_fn, FusedMLP._node_cls)
    assert_all_close([out3], [reference(torch.from_numpy(x3))], rtol=1e-5, atol=1e-6)
    with antorcha.no_grad():
        out = compiled(antorcha.tensor(x2))
    assert not out.requires_grad
    assert_all_close([out], [reference(torch.from_numpy(x2))], rtol=1e-5, atol=1e-6)
    expected_keys = [f"_orig_mod.{k}" for k in reference.state_dict()]  # as torch.compile
    assert list(compiled.state_dict()) == expected_keys


def test_second_order_gradients_match_torch() -> None:
    compiled, reference = compiled_and_torch(lesson_mlp, antorcha.float64)
    (x,) = random_arrays(3, antorcha.float64, (5, 10))
    results = []
    for model, lib in ((compiled, antorcha), (reference, torch)):
        xs = lib.tensor(x.copy(), requires_grad=True)
        out = model(xs)
        if lib is antorcha:
            assert isinstance(out.grad_fn, FusedMLP._node_cls)
        (gx,) = lib.autograd.grad(out.pow(2).sum(), xs, create_graph=True)
        (ggx,) = lib.autograd.grad(gx.pow(2).sum(), xs)
        results.append([gx, ggx])
    assert_all_close(results[0], results[1], rtol=1e-10, atol=1e-12)


def test_small_batches_run_eagerly_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiler, "_FUSE_MIN_ROWS", 16384)
    compiled, _ = compiled_and_torch(lesson_mlp)
    assert isinstance(compiled(antorcha.randn(1024, 10)).grad_fn, Addmm._node_cls)
    assert isinstance(compiled(antorcha.randn(16384, 10)).grad_fn, FusedMLP._node_cls)


@pytest.mark.parametrize(
    ("max_moment_columns", "fused"),
    [(0, FusedMLP), (DEFAULT_MAX_MOMENT_COLUMNS, FusedTwoLayerReLU)],
    ids=["generic op", "two-layer op"],
)
def test_the_chain_is_read_by_node_class_not_by_name(
    monkeypatch: pytest.MonkeyPatch, max_moment_columns: int, fused: type
) -> None:
    """Renamed node classes (torch's names may change) must not silently switch fusion off."""
    monkeypatch.setattr(two_layer, "MAX_MOMENT_COLUMNS", max_moment_columns)
    model = nn.Sequential(nn.Linear(10, 100), nn.ReLU(), nn.Linear(100, 1))
    compiled = antorcha.compile(model)
    classes = [op._node_cls for op in (Relu, Addmm, T)]
    names = [cls.__name__ for cls in classes]
    try:
        for cls in classes:
            cls.__name__ = f"Renamed{cls.__name__}"
        out = compiled(antorcha.randn(32, 10))  # traced here
    finally:
        for cls, name in zip(classes, names):
            cls.__name__ = name
    assert isinstance(out.grad_fn, fused._node_cls)
    plan = compiled._plan
    assert plan is not None and [layer.relu for layer in plan] == [True, False]
    for layer, linear in zip(plan, (model[0], model[2]), strict=True):
        assert layer.weight is linear.weight and layer.bias is linear.bias


def test_compile_is_torchs_name_and_keeps_plain_functions() -> None:
    assert antorcha.speed.compile is compiler.compile

    def double(x):
        return 2 * x

    assert antorcha.compile(double) is double
    assert antorcha.compile(mode="max-autotune")(double) is double


def test_any_model_compiles_and_keeps_its_own_methods() -> None:
    """torch.compile(gpt) as nanoGPT does it: the wrapper trains like the model and forwards what it
    lacks (generate, config) to it, as torch's OptimizedModule does; a missing name still raises."""
    from antorcha.gpt import GPT, GPTConfig

    config = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=11)
    antorcha.manual_seed(0)
    eager = GPT(config)
    compiled_model = GPT(config)
    compiled_model.load_state_dict(eager.state_dict())
    compiled = antorcha.compile(compiled_model)
    idx = antorcha.randint(0, 11, (3, 8))
    losses = []
    for model in (eager, compiled):
        optimizer = antorcha.optim.AdamW(model.parameters(), lr=1e-2)
        for _ in range(3):
            _, loss = model(idx, idx)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        losses.append(loss.item())
    assert losses[0] == losses[1]
    assert compiled.config is config
    prompt = antorcha.zeros((1, 1), dtype=antorcha.long)
    greedy = [model.generate(prompt, 4, temperature=0).tolist() for model in (compiled, eager)]
    assert greedy[0] == greedy[1]
    with pytest.raises(AttributeError, match="'GPT' object has no attribute 'nothing'"):
        compiled.nothing  # noqa: B018
