"""antorcha.compile's Linear -> ReLU -> Linear op: checked against torch.

Every path of the op is forced at small sizes: the kept mask and the recomputed one,
one worker and several, the moment identity and the generic fallbacks (input gradient,
non-finite values, create_graph).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import torch
from compile_helpers import (
    assert_all_close,
    compiled_and_torch,
    copy_weights,
    forward_backward,
    lesson_mlp,
    random_arrays,
)

import antorcha
import antorcha.speed.fused_two_layer as two_layer
import antorcha.speed.kernels as kernels
import antorcha.speed.threads as threads
from antorcha.speed.fused_two_layer import FusedTwoLayerReLU

FUSED = FusedTwoLayerReLU._node_cls
DTYPES = [antorcha.float32, antorcha.float64]


def _tolerances(dtype) -> tuple[float, float]:
    """Sums over the batch and hidden units, in another order than torch's GEMMs."""
    return (1e-5, 1e-5) if dtype is antorcha.float32 else (1e-12, 1e-12)


@pytest.fixture(params=["kept mask", "recomputed mask"])
def mask_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "recomputed mask":
        monkeypatch.setattr(two_layer, "_KEEP_MASK_BYTES", 0)
    return request.param


@pytest.fixture(params=["numba", "numpy"])
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The forward's relu/mask/output loop: compiled by Numba, or as NumPy passes."""
    if request.param == "numba":
        pytest.importorskip("numba")
        monkeypatch.setattr(kernels, "_implementation", kernels._compile_with_numba())
    else:
        monkeypatch.setattr(kernels, "_implementation", kernels.relu_mask_and_output_numpy)
    return request.param


@pytest.fixture
def small_chunks_two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many chunks of 64 rows, split over two workers, at test sizes."""
    monkeypatch.setattr(threads, "CHUNK_BYTES", 64 * 100 * 4)
    monkeypatch.setattr(two_layer, "_MIN_ROWS_PER_WORKER", 1)
    monkeypatch.setattr(threads, "_WORKERS", 2)


def _silently(run, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch is silent about infinities and NaNs; so is the fused op
        return run(*args, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [1, 7, 64, 1000])
def test_matches_torch_forward_and_backward(batch: int, dtype, mask_path: str, kernel: str) -> None:
    compiled, reference = compiled_and_torch(lesson_mlp, dtype)
    x, g = random_arrays(batch, dtype, (batch, 10), (batch, 1))
    out, _, grads = forward_backward(compiled, antorcha, x, g)
    expected, _, expected_grads = forward_backward(reference, torch, x, g)
    assert isinstance(out.grad_fn, FUSED)
    rtol, atol = _tolerances(dtype)
    assert_all_close([out], [expected], rtol, atol)
    assert_all_close(grads, expected_grads, rtol, atol, scaled=True)


@pytest.mark.usefixtures("small_chunks_two_workers")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("widths", [{}, {"inputs": 5, "hidden": 16, "outputs": 3}])
def test_many_chunks_two_workers_and_several_outputs_match_torch(
    widths: dict, dtype, mask_path: str, kernel: str
) -> None:
    compiled, reference = compiled_and_torch(functools.partial(lesson_mlp, **widths), dtype)
    inputs, outputs = widths.get("inputs", 10), widths.get("outputs", 1)
    x, g = random_arrays(1, dtype, (1000, inputs), (1000, outputs))
    out, _, grads = _silently(forward_backward, compiled, antorcha, x, g)
    expected, _, expected_grads = forward_backward(reference, torch, x, g)
    assert isinstance(out.grad_fn, FUSED)
    if dtype is antorcha.float64:
        assert_all_close([out], [expected], rtol=1e-12, atol=1e-13)
        assert_all_close(grads, expected_grads, rtol=1e-10, atol=1e-12)
    else:
        rtol, atol = _tolerances(dtype)
        assert_all_close([out], [expected], rtol, atol)
        assert_all_close(grads, expected_grads, rtol, atol, scaled=True)


@pytest.mark.parametrize("bad", ["inf input", "-inf pre-activation", "nan input", "inf weight", "nan grad"])
def test_infinities_and_nans_give_torchs_values(bad: str, mask_path: str, kernel: str) -> None:
    compiled, reference = compiled_and_torch(lesson_mlp, antorcha.float64)
    x, g = random_arrays(2, antorcha.float64, (50, 10), (50, 1))
    model = compiled._orig_mod
    if bad == "inf input":
        x[3, 2] = np.inf
    elif bad == "-inf pre-activation":  # relu(-inf) is 0: the output stays finite
        with antorcha.no_grad():
            model.layer1.weight[:, 0] = -1.0
        x[3, 0] = np.inf
    elif bad == "nan input":
        x[5, 1] = np.nan
    elif bad == "inf weight":
        with antorcha.no_grad():
            model.layer2.weight[0, 7] = float("inf")
    elif bad == "nan grad":
        g[4, 0] = np.nan
    copy_weights(model, reference)
    out, _, grads = _silently(forward_backward, compiled, antorcha, x, g)
    expected, _, expected_grads = forward_backward(reference, torch, x, g)
    assert isinstance(out.grad_fn, FUSED)
    assert_all_close([out], [expected], rtol=1e-12, atol=0, equal_nan=True)
    if bad == "-inf pre-activation":
        assert np.isfinite(out.detach().numpy()).all()
    assert_all_close(grads, expected_grads, rtol=1e-10, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("implementation", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("outputs", [1, 3])
def test_relu_mask_and_output_kernels_follow_their_definition(
    implementation: str, dtype: type, outputs: int
) -> None:
    if implementation == "numba":
        pytest.importorskip("numba")
        kernel = kernels._compile_with_numba()
    else:
        kernel = kernels.relu_mask_and_output_numpy
    rng = np.random.default_rng(outputs)
    pre = rng.standard_normal((300, 40)).astype(dtype)
    pre[0, :4] = [np.nan, np.inf, 0.0, -0.0]  # relu(NaN) is NaN; 0 is not > 0
    pre[1, 5] = -np.inf  # -inf * 0 is NaN: the fused op sees it and takes its exact path
    w2 = rng.standard_normal((outputs, 40)).astype(dtype)
    mask, out = np.empty_like(pre), np.empty((300, outputs), dtype=dtype)
    with np.errstate(invalid="ignore"):
        kernel(pre.copy(), w2, mask, out)
    np.testing.assert_array_equal(mask, (pre > 0).astype(dtype))
    assert np.isnan(out[:2]).all()
    expected = np.maximum(pre[2:].astype(np.float64), 0) @ w2.T.astype(np.float64)  # in float64
    tolerance = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out[2:], expected, rtol=tolerance, atol=tolerance)


def test_input_gradient_through_compile_matches_torch() -> None:
    compiled, reference = compiled_and_torch(lesson_mlp, antorcha.float64)
    x, g = random_arrays(3, antorcha.float64, (300, 10), (300, 1))
    out, x_grad, grads = forward_backward(compiled, antorcha, x, g, input_grad=True)
    expected, expected_x_grad, expected_grads = forward_backward(reference, torch, x, g, input_grad=True)
    assert not isinstance(out.grad_fn, FUSED)  # an input that needs a gradient skips the op
    assert_all_close([out, x_grad, *grads], [expected, expected_x_grad, *expected_grads], 1e-12, 1e-13)


def test_the_op_itself_gives_an_input_gradient_through_its_generic_path() -> None:
    compiled, reference = compiled_and_torch(lesson_mlp, antorcha.float64)
    model = compiled._orig_mod
    params = (model.layer1.weight, model.layer1.bias, model.layer2.weight, model.layer2.bias)
    x, g = random_arrays(4, antorcha.float64, (50, 10), (50, 1))
    xs = antorcha.tensor(x, requires_grad=True)
    out = FusedTwoLayerReLU.apply(xs, *params, params=(16,))  # four chunks of 16 rows
    assert isinstance(out.grad_fn, FUSED)
    out.backward(antorcha.tensor(g))
    expected, expected_x_grad, expected_grads = forward_backward(reference, torch, x, g, input_grad=True)
    assert_all_close(
        [out, xs.grad, *(p.grad for p in params)], [expected, expected_x_grad, *expected_grads], 1e-12, 1e-13
    )


def test_retain_graph_backward_twice_accumulates_like_torch(mask_path: str) -> None:
    compiled, reference = compiled_and_torch(lesson_mlp, antorcha.float64)
    x, g = random_arrays(5, antorcha.float64, (40, 10), (40, 1))
    for model, lib in ((compiled, antorcha), (reference, torch)):
        out = model(lib.tensor(x))
        out.backward(lib.tensor(g), retain_graph=True)
        out.backward(lib.tensor(g))
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            out.backward(lib.tensor(g))
        if lib is antorcha:
            assert isinstance(out.grad_fn, FUSED)
    assert_all_close(
        [p.grad for p in compiled.parameters()], [p.grad for p in reference.parameters()], 1e-12, 1e-13
    )


def test_weight_changed_in_place_before_backward_raises_as_torch() -> None:
    compiled, reference = compiled_and_torch(lesson_mlp)
    for model, lib in ((compiled._orig_mod, antorcha), (reference, torch)):
        out = (compiled if lib is antorcha else reference)(lib.randn(8, 10))
        with lib.no_grad():
            model.layer2.weight.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.sum().backward()


def test_no_grad_keeps_nothing_and_gives_torchs_output() -> None:
    compiled, reference = compiled_and_torch(lesson_mlp)
    (x,) = random_arrays(6, antorcha.float32, (64, 10))
    with antorcha.no_grad():
        out = compiled(antorcha.tensor(x))
    assert out.grad_fn is None and not out.requires_grad
    with torch.no_grad():
        expected = reference(torch.from_numpy(x))
    assert_all_close([out], [expected], rtol=1e-5, atol=1e-6)


def test_second_order_gradients_match_torch() -> None:
    compiled, reference = compiled_and_torch(lesson_mlp, antorcha.float64)
    (x,) = random_arrays(2, antorcha.float64, (6, 10))
    results = []
    for model, lib in ((compiled, antorcha), (reference, torch)):
        out = model(lib.tensor(x))
        if lib is antorcha:
            assert isinstance(out.grad_fn, FUSED)
        params = list(model.parameters())
        grads = lib.autograd.grad(out.pow(2).sum(), params, create_graph=True)
        second = lib.autograd.grad(sum(gr.pow(2).sum() for gr in grads), params)
        results.append([*grads, *second])
    assert_all_close(results[0], results[1], rtol=1e-10, atol=1e-12)


def test_wide_outputs_or_other_chains_do_not_take_this_op() -> None:
    wide, _ = compiled_and_torch(functools.partial(lesson_mlp, hidden=32, outputs=8))  # G: 8 * 11 columns
    assert not isinstance(wide(antorcha.randn(16, 10)).grad_fn, FUSED)
    deep = antorcha.compile(
        antorcha.nn.Sequential(
            antorcha.nn.Linear(4, 8),
            antorcha.nn.ReLU(),
            antorcha.nn.Linear(8, 8),
            antorcha.nn.ReLU(),
            antorcha.nn.Linear(8, 1),
        )
    )
    assert not isinstance(deep(antorcha.randn(16, 4)).grad_fn, FUSED)


def _fifty_adam_steps(dtype: antorcha.dtype) -> tuple[dict, dict, list]:
    """The lesson's loop (MSE, Adam) fused, eager and in torch: losses per step, final parameters."""
    compiled, reference = compiled_and_torch(lesson_mlp, dtype)
    eager = lesson_mlp(antorcha).to(dtype)
    eager.load_state_dict(compiled._orig_mod.state_dict())
    initial = [p.detach().numpy().copy() for p in compiled.parameters()]
    rng, np_dtype = np.random.default_rng(5), np.float32 if dtype is antorcha.float32 else np.float64
    x, y = rng.standard_normal((3000, 10), dtype=np_dtype), rng.standard_normal((3000, 1), dtype=np_dtype)
    losses: dict[str, list[float]] = {}
    params: dict[str, list[np.ndarray]] = {}
    for name, model, lib in (
        ("fused", compiled, antorcha),
        ("eager", eager, antorcha),
        ("torch", reference, torch),
    ):
        optimizer = lib.optim.Adam(model.parameters(), lr=0.01)
        xs, ys = lib.tensor(x), lib.tensor(y)
        losses[name] = []
        for _ in range(50):
            optimizer.zero_grad()
            loss = lib.nn.MSELoss()(model(xs), ys)
            loss.backward()
            optimizer.step()
            losses[name].append(loss.item())
        params[name] = [p.detach().numpy().copy() for p in model.parameters()]
    assert isinstance(compiled(antorcha.tensor(x)).grad_fn, FUSED)
    return losses, params, initial


def test_lesson_training_follows_torch_for_fifty_steps_in_float64() -> None:
    """In float64 rounding cannot hide a wrong step: fused, eager and torch agree to 1e-9."""
    losses, params, initial = _fifty_adam_steps(antorcha.float64)
    np.testing.assert_allclose(losses["fused"], losses["torch"], rtol=1e-10)
    np.testing.assert_allclose(losses["eager"], losses["torch"], rtol=1e-10)
    for name in ("fused", "eager"):
        for ours, theirs, start in zip(params[name], params["torch"], initial):
            assert np.linalg.norm(ours - theirs) < 1e-9 * np.linalg.norm(theirs - start), name


def test_lesson_training_follows_torch_for_fifty_steps_in_float32() -> None:
    """float32 sums in other orders, amplified by Adam over 50 steps: the losses stay within 1e-4.

    Adam moves a weight by about lr whatever its gradient's size, so a weight whose gradient
    hovers near zero wanders with the last bit of each sum (torch's own order depends on its
    thread count): float32 parameters are judged by the float64 test above, not here.
    """
    losses, _, _ = _fifty_adam_steps(antorcha.float32)
    np.testing.assert_allclose(losses["fused"], losses["eager"], rtol=1e-4)
    np.testing.assert_allclose(losses["fused"], losses["torch"], rtol=1e-4)
