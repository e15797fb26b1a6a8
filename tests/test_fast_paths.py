"""Each speed mechanism is checked against torch where it is taken.

The op-spec table uses small shapes; these cases cross the sizes where relu's mask is
built block by block, and the cases where the engine lets relu's backward overwrite the
gradient it receives (and the ones where it must not), on the lesson's shapes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import antorcha
from antorcha.autograd.engine import REUSE_MIN_ELEMENTS
from antorcha.ops import linalg, unary
from antorcha.speed import kernels


def _both(array: np.ndarray) -> tuple[antorcha.Tensor, torch.Tensor]:
    return antorcha.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


def _take_path(compiled: bool, monkeypatch: pytest.MonkeyPatch, *loops: str, declined: Any = None) -> None:
    """The compiled loops (skipped without Numba), or the named loops of speed/kernels.py each
    declining (returning `declined`), so that the NumPy passes or the Tensor formula run."""
    if compiled:
        pytest.importorskip("numba")
        return
    for name in loops:
        monkeypatch.setattr(kernels, name, lambda *args, value=declined: value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_backward_on_more_than_a_mask_block(dtype: type) -> None:
    rng = np.random.default_rng(0)
    shape = (unary._MASK_BLOCK // 100 + 7, 100)  # more elements than one mask block
    ours, theirs = _both(rng.standard_normal(shape).astype(dtype))
    cotangent = rng.standard_normal(shape).astype(dtype)
    ours.relu().backward(antorcha.tensor(cotangent))
    theirs.relu().backward(torch.tensor(cotangent))
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_on_the_lessons_first_layer_shape(dtype: type) -> None:
    rng = np.random.default_rng(1)
    rows, inner, outer = 1000, 10, 100  # the lesson's 10 -> 100 layer
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((rows, inner), (outer, inner), (outer,)))
    (ax, tx), (aw, tw), (ab, tb) = _both(x), _both(w), _both(b)
    out_a, out_t = linalg.linear(ax, aw, ab), torch.nn.functional.linear(tx, tw, tb)
    assert type(out_a.grad_fn).__name__ == "AddmmBackward0"
    cotangent = rng.standard_normal((rows, outer)).astype(dtype)
    out_a.backward(antorcha.tensor(cotangent))
    out_t.backward(torch.tensor(cotangent))
    # the weight gradient sums 1000 rows: float32 rounding differs from torch's order (op_spec SUM tolerance)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out_a.detach().numpy(), out_t.detach().numpy(), **tol)
    for ours, theirs in ((ax, tx), (aw, tw), (ab, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), **tol)


def test_linear_to_one_output_against_torch() -> None:
    rng = np.random.default_rng(2)
    x, w, b = (rng.standard_normal(s) for s in ((300, 100), (1, 100), (1,)))
    (ax, tx), (aw, tw), (ab, tb) = _both(x), _both(w), _both(b)
    cotangent = rng.standard_normal((300, 1))
    linalg.linear(ax, aw, ab).backward(antorcha.tensor(cotangent))
    torch.nn.functional.linear(tx, tw, tb).backward(torch.tensor(cotangent))
    for ours, theirs in ((ax, tx), (aw, tw), (ab, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_first_order_sum_backward_gives_a_writable_leaf_gradient() -> None:
    ours = antorcha.ones(3, 4, requires_grad=True)
    (ours * 2).sum(dim=1).backward(antorcha.tensor([1.0, 2.0, 3.0]))
    ours.grad.add_(1)  # the broadcast view must not leak into .grad as a read-only array
    np.testing.assert_array_equal(ours.grad.numpy(), np.array([[3.0] * 4, [5.0] * 4, [7.0] * 4]))


@pytest.mark.parametrize("shape", [(3, 5), (80, 60)])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_sum_backward_small_and_large_against_torch(shape: tuple, dim: int | None) -> None:
    rng = np.random.default_rng(3)
    ours, theirs = _both(rng.standard_normal(shape).astype(np.float32))
    out_a = ours.sum() if dim is None else ours.sum(dim=dim)
    out_t = theirs.sum() if dim is None else theirs.sum(dim=dim)
    cotangent = rng.standard_normal(tuple(out_t.shape)).astype(np.float32)
    (out_a * antorcha.tensor(cotangent)).sum().backward()
    (out_t * torch.tensor(cotangent)).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    ours.grad.add_(1)  # writable, whichever way it was built


def test_mul_backward_mixed_dtypes_takes_the_tensor_path_as_torch() -> None:
    rng = np.random.default_rng(4)
    a32, b64 = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 3))
    (oa, ta), (ob, tb) = _both(a32), _both(b64)
    cotangent = rng.standard_normal((4, 3))
    (oa * ob).backward(antorcha.tensor(cotangent))
    (ta * tb).backward(torch.tensor(cotangent))
    assert oa.grad.dtype == antorcha.float32 and ob.grad.dtype == antorcha.float64
    np.testing.assert_allclose(oa.grad.numpy(), ta.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ob.grad.numpy(), tb.grad.numpy(), rtol=1e-12)


def _relu_scenario(lib: Any, name: str, arrays: list[np.ndarray]) -> list:
    """Gradients through relu where its incoming gradient is, or is not, free to overwrite."""
    x = lib.tensor(arrays[0])
    w1, b1, w2, b2 = (lib.tensor(a, requires_grad=True) for a in arrays[1:])
    linear_fn = lib.nn.functional.linear
    pre = linear_fn(x, w1, b1)
    if name == "plain":  # the lesson: relu's gradient comes only from the next layer
        linear_fn(pre.relu(), w2, b2).sum().backward()
        return [w1.grad, b1.grad]
    if name == "captured":  # autograd.grad returns the very gradient relu receives
        h = pre.relu()
        return list(lib.autograd.grad((linear_fn(h, w2, b2) ** 2).sum(), [h, w1]))
    if name == "hooked":  # a hook keeps the gradient
        h, kept = pre.relu(), []
        h.register_hook(kept.append)
        linear_fn(h, w2, b2).sum().backward()
        return [kept[0], w1.grad]
    if name == "retained":
        h = pre.relu()
        h.retain_grad()
        linear_fn(h, w2, b2).sum().backward()
        return [h.grad, w1.grad]
    if name == "shared":  # add's backward sends one gradient object to both relus
        (pre.relu() + (pre * 1).relu()).sum().backward()
        return [w1.grad]
    gradient = lib.ones(*pre.shape)  # "root": the caller still holds the gradient
    pre.relu().backward(gradient)
    return [w1.grad, gradient]


@pytest.mark.parametrize("name", ["plain", "captured", "hooked", "retained", "shared", "root"])
def test_relu_reuses_its_incoming_gradient_only_when_nothing_else_holds_it(name: str) -> None:
    rng = np.random.default_rng(3)
    # 1,000 rows: relu's incoming gradient (1000, 5) is above the engine's reuse size
    arrays = [rng.standard_normal(s) for s in ((1000, 3), (5, 3), (5,), (1, 5), (1,))]
    ours = _relu_scenario(antorcha, name, arrays)
    theirs = _relu_scenario(torch, name, arrays)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_the_lesson_step_takes_the_in_place_relu_path(monkeypatch: pytest.MonkeyPatch) -> None:
    writes_in_place = []
    original = unary._zeroed_where_at_most

    def spy(grad: Any, y: Any, threshold: float, into: Any = None) -> Any:
        writes_in_place.append(into is grad)
        return original(grad, y, threshold, into)

    monkeypatch.setattr(unary, "_zeroed_where_at_most", spy)
    layer1, layer2 = antorcha.nn.Linear(10, 100), antorcha.nn.Linear(100, 1)
    loss = antorcha.nn.MSELoss()(layer2(layer1(antorcha.randn(64, 10)).relu()), antorcha.randn(64, 1))
    loss.backward()
    assert writes_in_place[-1] is True


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("blocked", [False, True])
def test_relu_backward_lets_nan_through_and_zeroes_inf_as_torch(
    blocked: bool, dtype: str, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch zeroes relu's gradient where the output is <= 0 (NaN is not): no 0/1 multiply,
    which would give NaN for an infinite gradient and -0 for a negative one. Both the compiled
    select and NumPy's bit-mask passes."""
    _take_path(compiled, monkeypatch, "zeroed_where_at_most", declined=False)
    rows = unary._MASK_BLOCK // 5 + 3 if blocked else 5
    x = np.tile(np.array([[np.nan, -1.0, 2.0, -np.inf, -3.0]], dtype=dtype), (rows, 1))
    g = np.tile(np.array([[1.5, np.inf, -np.inf, np.nan, -2.0]], dtype=dtype), (rows, 1))
    ours, theirs = _both(x)
    ours.relu().backward(antorcha.tensor(g))  # the caller's gradient: a new array
    theirs.relu().backward(torch.tensor(g))
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    np.testing.assert_array_equal(np.signbit(ours.grad.numpy()), np.signbit(theirs.grad.numpy()))
    if rows * 5 < REUSE_MIN_ELEMENTS:
        return
    ours.grad = theirs.grad = None  # and an intermediate's gradient, which relu overwrites in place
    (ours.relu() * antorcha.tensor(g)).sum().backward()
    (theirs.relu() * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    np.testing.assert_array_equal(np.signbit(ours.grad.numpy()), np.signbit(theirs.grad.numpy()))


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(7,), (12, 64, 33), ()])
def test_gelu_tanh_matches_torch(
    shape: tuple, dtype: str, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gelu(approximate="tanh") forward and backward: the compiled loops and NumPy's passes,
    against torch."""

    _take_path(compiled, monkeypatch, "gelu_tanh", "gelu_tanh_backward")
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    cotangent = rng.standard_normal(shape).astype(dtype)
    ours, theirs = _both(x)
    out = antorcha.nn.functional.gelu(ours, approximate="tanh")
    expected = torch.nn.functional.gelu(theirs, approximate="tanh")
    out.backward(antorcha.tensor(cotangent))
    expected.backward(torch.tensor(cotangent))
    forward_tolerance = {"float32": (1e-6, 1e-6), "float64": (1e-14, 1e-15)}[dtype]
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), *forward_tolerance)
    # float32: gelu' cancels to near 0 around x = -3, where torch's order of operations (and its
    # tanh) differ from NumPy's by a few ulps of the larger terms
    rtol, atol = {"float32": (1e-5, 1e-5), "float64": (1e-12, 1e-13)}[dtype]
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=rtol, atol=atol)


def test_kernels_load_readies_the_backward_loops() -> None:
    pytest.importorskip("numba")
    from antorcha.speed import kernels

    assert kernels.load() is True
    loops = [
        *kernels._compile_threshold_backward(),
        *kernels._compile_gelu_tanh(),
        kernels._compile_layer_norm(),
        kernels._compile_layer_norm_backward(),
        *kernels._compile_attention_softmax(),
    ]
    assert all(loop.signatures for loop in loops)  # each compiled (or loaded) for float32 already
    grad, y = np.array([1.5, -2.0], np.float32), np.array([0.0, 3.0], np.float32)
    out = np.empty_like(grad)
    assert kernels.zeroed_where_at_most(grad, y, 0.0, out) is True
    np.testing.assert_array_equal(out, [0.0, -2.0])


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("shape", "normalized", "affine"),
    [
        ((12, 64, 128), (128,), "both"),
        ((5, 3, 4), (3, 4), "none"),
        ((7, 9), (9,), "bias"),
        ((6,), (6,), "both"),
    ],
)
def test_layer_norm_matches_torch(
    shape: tuple, normalized: tuple, affine: str, dtype: str, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """layer_norm's forward and backward (the compiled rows, and NumPy's passes and Tensor ops),
    against torch."""

    _take_path(compiled, monkeypatch, "layer_norm", "layer_norm_backward")
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    weight = rng.standard_normal(normalized).astype(dtype) if affine == "both" else None
    bias = rng.standard_normal(normalized).astype(dtype) if affine != "none" else None
    cotangent = rng.standard_normal(shape).astype(dtype)
    results = []
    for library in (antorcha, torch):
        inputs = [library.tensor(a, requires_grad=True) if a is not None else None for a in (x, weight, bias)]
        out = library.nn.functional.layer_norm(inputs[0], normalized, inputs[1], inputs[2])
        out.backward(library.tensor(cotangent))
        results.append([out.detach().numpy()] + [t.grad.numpy() for t in inputs if t is not None])
    # float32: the weight and bias gradients sum 768 rows; against float64, torch's own error is
    # 4.1e-5 there and antorcha's 4.3e-5
    rtol, atol = {"float32": (1e-5, 1e-4), "float64": (1e-12, 1e-12)}[dtype]
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("wanted", [("x",), ("weight",), ("bias",), ("weight", "bias")])
def test_layer_norm_backward_gives_only_the_wanted_gradients(
    wanted: tuple, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each subset of (x, weight, bias) that needs a gradient gets torch's, and the rest none."""

    _take_path(compiled, monkeypatch, "layer_norm_backward")
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal(s) for s in ((4, 6, 8), (8,), (8,))]
    cotangent = rng.standard_normal((4, 6, 8))
    grads = []
    for library in (antorcha, torch):
        names = ("x", "weight", "bias")
        inputs = [library.tensor(a, requires_grad=name in wanted) for a, name in zip(arrays, names)]
        out = library.nn.functional.layer_norm(inputs[0], (8,), inputs[1], inputs[2])
        out.backward(library.tensor(cotangent))
        grads.append([t.grad.numpy() if t.grad is not None else None for t in inputs])
    for ours, theirs in zip(*grads):
        assert (ours is None) == (theirs is None)
        if theirs is not None:
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "masking", ["none", "causal", "causal, more keys", "bool", "float", "a row fully masked"]
)
def test_attention_softmax_matches_torch(
    masking: str, dtype: str, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scaled_dot_product_attention's softmax forward and backward (the compiled rows, and NumPy's
    passes and Tensor ops), against torch, over broadcast heads."""

    _take_path(compiled, monkeypatch, "attention_probabilities", "softmax_backward_scaled")
    rng = np.random.default_rng(7)
    keys = 9 if masking == "causal, more keys" else 6
    shapes = {"q": (2, 3, 6, 4), "k": (2, 1, keys, 4), "v": (2, 1, keys, 5)}
    arrays = {name: (rng.standard_normal(shape) * 2).astype(dtype) for name, shape in shapes.items()}
    kwargs: dict = {}
    bool_mask = rng.random((6, keys)) < 0.7
    if masking.startswith("causal"):
        kwargs["is_causal"] = True
    elif masking == "bool":
        kwargs["attn_mask"] = bool_mask
    elif masking == "float":
        kwargs["attn_mask"] = rng.standard_normal((3, 6, keys)).astype(dtype)
    elif masking == "a row fully masked":
        bool_mask[2] = False
        kwargs["attn_mask"] = bool_mask
    cotangent = rng.standard_normal((2, 3, 6, 5)).astype(dtype)
    results = []
    for library in (antorcha, torch):
        inputs = [library.tensor(a, requires_grad=True) for a in arrays.values()]
        options = {k: library.tensor(v) if k == "attn_mask" else v for k, v in kwargs.items()}
        out = library.nn.functional.scaled_dot_product_attention(*inputs, **options)
        out.backward(library.tensor(cotangent))
        results.append([out.detach().numpy()] + [t.grad.numpy() for t in inputs])
    rtol, atol = {"float32": (2e-5, 2e-5), "float64": (1e-12, 1e-12)}[dtype]
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("padding_idx", [None, 3])
def test_embedding_backward_sums_repeated_rows_as_torch(
    padding_idx: int | None, dtype: str, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scatter-add of an embedding's backward (the compiled loop and np.add.at) adds each
    row's terms in torch's order: equal to its bits, with many repeats of each index."""

    _take_path(compiled, monkeypatch, "add_rows_at", declined=False)
    rng = np.random.default_rng(8)
    indices = rng.integers(0, 11, (12, 64))
    weight = rng.standard_normal((11, 32)).astype(dtype)
    cotangent = rng.standard_normal((12, 64, 32)).astype(dtype)
    grads = []
    for library in (antorcha, torch):
        w = library.tensor(weight, requires_grad=True)
        out = library.nn.functional.embedding(library.tensor(indices), w, padding_idx=padding_idx)
        out.backward(library.tensor(cotangent))
        grads.append(w.grad.numpy())
    np.testing.assert_array_equal(*grads)


def test_add_rows_at_leaves_out_of_range_indices_to_numpy() -> None:
    pytest.importorskip("numba")
    from antorcha.speed import kernels

    target = np.zeros((3, 2))
    assert kernels.add_rows_at(target, np.array([0, 3]), np.ones((2, 2))) is False
    assert kernels.add_rows_at(target, np.array([0, -4]), np.ones((2, 2))) is False
    assert not target.any()
    assert kernels.add_rows_at(target, np.array([0, -1, 0]), np.ones((3, 2))) is True
    np.testing.assert_array_equal(target, [[2, 2], [0, 0], [1, 1]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("rows", "inner", "out"), [(1024, 10, 100), (300, 64, 65), (768, 128, 512), (100, 10, 100)]
)
def test_linear_with_the_bias_folded_or_not_matches_torch(
    rows: int, inner: int, out: int, dtype: str
) -> None:
    """F.linear of a widening layer: the bias folded into the product (many rows, few inputs) or
    added after it, forward and backward against torch."""
    rng = np.random.default_rng(10)
    arrays = [rng.standard_normal(s).astype(dtype) for s in ((rows, inner), (out, inner), (out,))]
    cotangent = rng.standard_normal((rows, out)).astype(dtype)
    results = []
    for library in (antorcha, torch):
        inputs = [library.tensor(a, requires_grad=True) for a in arrays]
        y = library.nn.functional.linear(*inputs)
        y.backward(library.tensor(cotangent))
        results.append([y.detach().numpy()] + [t.grad.numpy() for t in inputs])
    rtol, atol = {"float32": (1e-5, 1e-4), "float64": (1e-12, 1e-11)}[dtype]
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)
