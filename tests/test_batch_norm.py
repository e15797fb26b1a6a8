"""Batch normalisation and its relatives against torch: F.batch_norm, nn.BatchNorm1d/2d/3d (running
statistics, momentum None, train/eval, state_dict), F.instance_norm / nn.InstanceNorm*, F.group_norm /
nn.GroupNorm, F.normalize and F.local_response_norm: values, gradients under a random cotangent,
second order, and torch's errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from nn_helpers import (
    DTYPES,
    assert_close,
    compare_with_torch,
    random_inputs,
    to_antorcha,
    to_numpy,
    torch_name,
)

import antorcha

SHAPES = [(8, 5), (4, 3, 6), (3, 4, 2, 5), (2, 3, 2, 3, 2)]
AFFINE = ["weight and bias", "weight", "bias", "none"]


def _affine_arrays(affine: str, channels: int, dtype: Any) -> list[np.ndarray | None]:
    weight, bias = random_inputs([(channels,), (channels,)], dtype, seed=5)
    return [weight if "weight" in affine else None, bias if "bias" in affine else None]


def _running_arrays(channels: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.standard_normal(channels).astype(dtype), rng.uniform(0.5, 2.0, channels).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", AFFINE)
def test_functional_batch_norm_matches_torch(
    dtype: Any, shape: tuple, training: bool, affine: str, device: str
) -> None:
    """Output; input, weight and bias gradients; and the running estimates updated in place."""
    channels = shape[1]
    (x,) = random_inputs([shape], dtype, scale=3.0)
    x += 1.5  # a mean away from zero
    weight, bias = _affine_arrays(affine, channels, dtype)
    given = [a for a in (weight, bias) if a is not None]
    running = {}

    def call(lib: Any) -> Callable:
        make = (lambda a: antorcha.tensor(a, device=device)) if lib is antorcha else torch.tensor
        mean, var = (make(a) for a in _running_arrays(channels, dtype))
        running[lib.__name__] = (mean, var)

        def run(input: Any, *affine_tensors: Any) -> Any:
            found = iter(affine_tensors)
            w = next(found) if weight is not None else None
            b = next(found) if bias is not None else None
            return lib.nn.functional.batch_norm(input, mean, var, w, b, training, 0.3, 1e-3)

        return run

    compare_with_torch(call(antorcha), call(torch), [x, *given], device=device)
    for ours, theirs in zip(running["antorcha"], running["torch"]):
        assert_close(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_statistics_without_running_estimates(dtype: Any) -> None:
    (x,) = random_inputs([(6, 4, 3)], dtype)
    compare_with_torch(
        lambda t: antorcha.nn.functional.batch_norm(t, None, None, training=True),
        lambda t: torch.nn.functional.batch_norm(t, None, None, training=True),
        [x],
    )


def test_training_is_one_graph_node_freed_after_backward() -> None:
    x = antorcha.randn(6, 3, requires_grad=True)
    weight, bias = antorcha.ones(3, requires_grad=True), antorcha.zeros(3, requires_grad=True)
    out = antorcha.nn.functional.batch_norm(x, None, None, weight, bias, training=True)
    assert out.grad_fn.name() == "NativeBatchNormBackward0"
    assert [type(fn).__name__ for fn, _ in out.grad_fn.next_functions] == ["AccumulateGrad"] * 3
    out.sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.sum().backward()


def _module_pair(name: str, dtype: Any, **kwargs: Any) -> tuple[antorcha.nn.Module, torch.nn.Module]:
    theirs = getattr(torch.nn, name)(**kwargs).to(getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():  # weights away from torch's ones and zeros
        for param in theirs.parameters():
            param.copy_(torch.randn(param.shape, generator=torch.Generator().manual_seed(3)))
    ours = getattr(antorcha.nn, name)(**kwargs, dtype=getattr(antorcha, np.dtype(dtype).name))
    ours.load_state_dict({key: to_antorcha(value) for key, value in theirs.state_dict().items()})
    return ours, theirs


def _assert_same_state(ours: antorcha.nn.Module, theirs: torch.nn.Module, dtype: Any) -> None:
    our_state, their_state = ours.state_dict(), theirs.state_dict()
    assert list(our_state) == list(their_state)
    for key, value in their_state.items():
        assert_close(our_state[key], value, dtype)


MODULES = [
    ("BatchNorm1d", (6, 4)),
    ("BatchNorm1d", (5, 4, 3)),
    ("BatchNorm2d", (3, 4, 2, 3)),
    ("BatchNorm3d", (2, 4, 2, 2, 3)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "shape"), MODULES)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_module_running_statistics_over_train_steps(
    name: str, shape: tuple, momentum: Any, dtype: Any
) -> None:
    """Five train steps (outputs and gradients each), then eval outputs from the running estimates."""
    ours, theirs = _module_pair(name, dtype, num_features=shape[1], momentum=momentum)
    params = [(dict(ours.named_parameters())[key], value) for key, value in theirs.named_parameters()]
    for step in range(5):
        (x,) = random_inputs([shape], dtype, seed=step, scale=step + 1.0)
        for mine, reference in params:
            mine.grad, reference.grad = None, None
        compare_with_torch(ours, theirs, [x + step], params=params)
        _assert_same_state(ours, theirs, dtype)
    assert ours.num_batches_tracked.dtype is antorcha.int64 and ours.num_batches_tracked.item() == 5
    ours.eval(), theirs.eval()
    (x,) = random_inputs([shape], dtype, seed=9)
    compare_with_torch(ours, theirs, [x], params=params)
    _assert_same_state(ours, theirs, dtype)  # eval leaves the running estimates alone


@pytest.mark.parametrize("dtype", DTYPES)
def test_without_tracking_eval_uses_batch_statistics(dtype: Any) -> None:
    ours, theirs = _module_pair("BatchNorm1d", dtype, num_features=4, track_running_stats=False)
    assert ours.running_mean is None and ours.num_batches_tracked is None
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    ours.eval(), theirs.eval()
    (x,) = random_inputs([(5, 4)], dtype)
    compare_with_torch(ours, theirs, [x])


@pytest.mark.parametrize("dtype", DTYPES)
def test_without_affine_parameters(dtype: Any) -> None:
    ours, theirs = _module_pair("BatchNorm2d", dtype, num_features=3, affine=False, momentum=None)
    assert ours.weight is None and ours.bias is None and not list(ours.parameters())
    (x,) = random_inputs([(2, 3, 4, 4)], dtype)
    compare_with_torch(ours, theirs, [x])
    _assert_same_state(ours, theirs, dtype)


def test_reprs_buffers_and_resets() -> None:
    for name, kwargs in [
        ("BatchNorm1d", {}),
        ("BatchNorm2d", {"momentum": None, "affine": False}),
        ("BatchNorm3d", {"track_running_stats": False, "bias": False}),
        ("InstanceNorm1d", {}),
        ("InstanceNorm2d", {"affine": True}),
    ]:
        ours, theirs = getattr(antorcha.nn, name)(3, **kwargs), getattr(torch.nn, name)(3, **kwargs)
        assert repr(ours) == repr(theirs)
        assert [key for key, _ in ours.named_buffers()] == [key for key, _ in theirs.named_buffers()]
    assert repr(antorcha.nn.GroupNorm(2, 4, affine=False)) == repr(torch.nn.GroupNorm(2, 4, affine=False))
    assert repr(antorcha.nn.LocalResponseNorm(3)) == repr(torch.nn.LocalResponseNorm(3))
    layer = antorcha.nn.BatchNorm1d(3)
    layer(antorcha.randn(4, 3) * 5 + 2)
    layer.weight.data.fill_(2.0)
    layer.reset_running_stats()
    assert layer.num_batches_tracked.item() == 0 and layer.weight.data.tolist() == [2.0] * 3
    np.testing.assert_array_equal(layer.running_mean.numpy(), np.zeros(3, np.float32))
    np.testing.assert_array_equal(layer.running_var.numpy(), np.ones(3, np.float32))
    layer(antorcha.randn(4, 3) + 2)
    layer.reset_parameters()
    assert layer.num_batches_tracked.item() == 0 and layer.weight.data.tolist() == [1.0] * 3


def test_loading_a_state_dict_without_num_batches_tracked() -> None:
    """A plain dict (no version metadata) loads and keeps the count; a version-2 state_dict missing
    the key is refused with torch's message."""
    results = []
    for lib in (antorcha, torch):
        layer = lib.nn.BatchNorm1d(3)
        layer.num_batches_tracked.fill_(4)
        plain = {key: value for key, value in layer.state_dict().items() if key != "num_batches_tracked"}
        assert repr(layer.load_state_dict(plain)) == "<All keys matched successfully>"
        versioned = layer.state_dict()
        del versioned["num_batches_tracked"]
        with pytest.raises(RuntimeError) as caught:
            layer.load_state_dict(versioned)
        results.append((layer.num_batches_tracked.item(), torch_name(str(caught.value))))
    assert results[0] == results[1] and results[0][0] == 4


def test_makemore_mlp_trains_as_torch() -> None:
    """Embedding -> flatten -> Linear(bias=False) -> BatchNorm1d -> Tanh -> Linear, 50 SGD steps in
    float64 from torch's weights: the same losses, running statistics and eval outputs."""
    rng = np.random.default_rng(0)
    contexts, targets = rng.integers(0, 27, (400, 3)), rng.integers(0, 27, 400)
    batches = [rng.integers(0, 400, 32) for _ in range(50)]

    def build(lib: Any) -> Any:
        nn = lib.nn
        return nn.Sequential(
            nn.Embedding(27, 10),
            nn.Flatten(),
            nn.Linear(30, 100, bias=False),
            nn.BatchNorm1d(100),
            nn.Tanh(),
            nn.Linear(100, 27),
        ).double()

    torch.manual_seed(0)
    theirs = build(torch)
    ours = build(antorcha)
    ours.load_state_dict({key: to_antorcha(value) for key, value in theirs.state_dict().items()})
    losses = {}
    for lib, model in ((antorcha, ours), (torch, theirs)):
        optimizer = lib.optim.SGD(model.parameters(), lr=0.1)
        x_all, y_all = lib.tensor(contexts), lib.tensor(targets)
        losses[lib.__name__] = []
        for batch in batches:
            index = lib.tensor(batch)
            loss = lib.nn.functional.cross_entropy(model(x_all[index]), y_all[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses[lib.__name__].append(loss.item())
    np.testing.assert_allclose(losses["antorcha"], losses["torch"], rtol=1e-10)
    _assert_same_state(ours, theirs, np.float64)
    ours.eval(), theirs.eval()
    assert_close(
        ours(antorcha.tensor(contexts[:50])), theirs(torch.tensor(contexts[:50])).detach(), np.float64
    )


def _second_order(lib: Any, arrays: list[np.ndarray], training: bool, shape_2d: bool) -> list[np.ndarray]:
    x, weight, bias, cotangent, mean, var = (lib.tensor(a, requires_grad=i < 3) for i, a in enumerate(arrays))
    out = lib.nn.functional.batch_norm(x, mean, var, weight, bias, training, 0.1, 1e-5)
    grads = lib.autograd.grad((out * cotangent).sum(), (x, weight, bias), create_graph=True)
    # the bias gradient (Σ cotangent) is constant: only x's and weight's have a graph
    (grads[0].pow(3).sum() + (grads[1] * grads[1]).sum() + (grads[0] * x).sum()).backward()
    return [to_numpy(t.grad) if t.grad is not None else np.zeros(1) for t in (x, weight, bias)]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5)])
def test_second_order_matches_torch(training: bool, shape: tuple) -> None:
    channels = shape[1]
    x, cotangent = random_inputs([shape, shape], np.float64, seed=2)
    weight, bias = random_inputs([(channels,), (channels,)], np.float64, seed=3)
    arrays = [x * 2 + 1, weight, bias, cotangent, *_running_arrays(channels, np.float64)]
    for ours, theirs in zip(
        _second_order(antorcha, arrays, training, False), _second_order(torch, arrays, training, False)
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11)


# ---- instance norm, group norm, normalize, local response norm -------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 2, 4, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_functional_instance_norm_matches_torch(dtype: Any, shape: tuple, affine: bool) -> None:
    channels = shape[1]
    x, weight, bias = random_inputs([shape, (channels,), (channels,)], dtype, scale=2.0)
    running = {}

    def call(lib: Any) -> Callable:
        mean, var = (lib.tensor(a) for a in _running_arrays(channels, dtype))
        running[lib.__name__] = (mean, var)
        if affine:
            return lambda t, w, b: lib.nn.functional.instance_norm(t, mean, var, w, b, True, 0.2)
        return lambda t: lib.nn.functional.instance_norm(t, mean, var, use_input_stats=True, momentum=0.2)

    compare_with_torch(call(antorcha), call(torch), [x + 1, weight, bias] if affine else [x + 1])
    for ours, theirs in zip(running["antorcha"], running["torch"]):
        assert_close(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("name", "shape", "kwargs"),
    [
        ("InstanceNorm1d", (2, 3, 6), {}),
        ("InstanceNorm1d", (3, 6), {"affine": True}),  # no batch dim
        ("InstanceNorm2d", (2, 3, 4, 4), {"affine": True, "track_running_stats": True}),
        ("InstanceNorm3d", (2, 3, 2, 3, 2), {"track_running_stats": True}),
    ],
)
def test_instance_norm_modules(dtype: Any, name: str, shape: tuple, kwargs: dict) -> None:
    ours, theirs = _module_pair(name, dtype, num_features=3, **kwargs)
    params = [(dict(ours.named_parameters())[key], value) for key, value in theirs.named_parameters()]
    (x,) = random_inputs([shape], dtype)
    compare_with_torch(ours, theirs, [x], params=params)
    _assert_same_state(ours, theirs, dtype)
    ours.eval(), theirs.eval()
    compare_with_torch(ours, theirs, [x * 2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("shape", "groups"), [((4, 6), 3), ((2, 6, 5), 2), ((3, 4, 3, 2), 4), ((2, 4, 3, 2), 1)]
)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_matches_torch(dtype: Any, shape: tuple, groups: int, affine: bool) -> None:
    ours, theirs = _module_pair("GroupNorm", dtype, num_groups=groups, num_channels=shape[1], affine=affine)
    params = [(dict(ours.named_parameters())[key], value) for key, value in theirs.named_parameters()]
    (x,) = random_inputs([shape], dtype, scale=2.0)
    compare_with_torch(ours, theirs, [x + 1], params=params)


def test_group_norm_second_order() -> None:
    x, weight, bias = random_inputs([(3, 4, 5), (4,), (4,)], np.float64)
    results = []
    for lib in (antorcha, torch):
        inputs = [lib.tensor(a, requires_grad=True) for a in (x, weight, bias)]
        out = lib.nn.functional.group_norm(inputs[0], 2, inputs[1], inputs[2])
        grad_x, grad_w = lib.autograd.grad((out * out * out).sum(), inputs[:2], create_graph=True)
        (grad_x.pow(2).sum() + grad_w.sum()).backward()
        results.append([to_numpy(t.grad) for t in inputs[:2]])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("shape", "p", "dim"),
    [
        ((4, 5), 2.0, 1),
        ((3, 4, 2), 1.0, -1),
        ((3, 4, 2), 3.0, (0, 2)),
        ((5,), 2.0, 0),
        ((3, 4), float("inf"), 1),
    ],
)
def test_normalize_matches_torch(dtype: Any, shape: tuple, p: float, dim: Any) -> None:
    (x,) = random_inputs([shape], dtype)
    compare_with_torch(
        lambda t: antorcha.nn.functional.normalize(t, p, dim),
        lambda t: torch.nn.functional.normalize(t, p, dim),
        [x],
    )


def test_normalize_zero_rows_and_out() -> None:
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    compare_with_torch(antorcha.nn.functional.normalize, torch.nn.functional.normalize, [x])
    out = antorcha.empty(2, 3, dtype=antorcha.float64)
    result = antorcha.nn.functional.normalize(antorcha.tensor(x), out=out)
    assert result is out
    np.testing.assert_allclose(
        out.numpy(), torch.nn.functional.normalize(torch.tensor(x)).numpy(), rtol=1e-15
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("shape", "size"), [((2, 5, 4), 3), ((2, 6, 3, 2), 2), ((1, 3, 4), 5), ((2, 4, 2, 2, 2), 1)]
)
def test_local_response_norm_matches_torch(dtype: Any, shape: tuple, size: int) -> None:
    (x,) = random_inputs([shape], dtype, scale=3.0)
    compare_with_torch(
        antorcha.nn.LocalResponseNorm(size, 0.1, 0.6, 2.0),
        torch.nn.LocalResponseNorm(size, 0.1, 0.6, 2.0),
        [x],
    )


# ---- torch's errors ---------------------------------------------------------------------------


def _layer(name: str, *args: Any, **kwargs: Any) -> Callable:
    return lambda lib: getattr(lib.nn, name)(*args, **kwargs)


BAD_CALLS = {
    "batch of one in training": lambda lib: lib.nn.BatchNorm1d(3)(lib.ones(1, 3)),
    "one value per channel, 3D": lambda lib: lib.nn.BatchNorm1d(3)(lib.ones(1, 3, 1)),
    "4D input to BatchNorm1d": lambda lib: lib.nn.BatchNorm1d(3)(lib.ones(2, 3, 4, 5)),
    "2D input to BatchNorm2d": lambda lib: lib.nn.BatchNorm2d(3)(lib.ones(2, 3)),
    "4D input to BatchNorm3d": lambda lib: lib.nn.BatchNorm3d(3)(lib.ones(2, 3, 2, 2)),
    "wrong channel count": lambda lib: lib.nn.BatchNorm1d(3)(lib.ones(5, 4)),
    "1D input": lambda lib: lib.nn.functional.batch_norm(lib.ones(4), None, None, training=True),
    "eval without running mean": lambda lib: lib.nn.functional.batch_norm(lib.ones(4, 3), None, None),
    "eval without running var": lambda lib: lib.nn.functional.batch_norm(lib.ones(4, 3), lib.zeros(3), None),
    "one running estimate": lambda lib: lib.nn.functional.batch_norm(
        lib.ones(4, 3), lib.zeros(3), None, training=True
    ),
    "weight size": lambda lib: lib.nn.functional.batch_norm(
        lib.ones(4, 3), None, None, lib.ones(4), training=True
    ),
    "eps zero in training": lambda lib: lib.nn.functional.batch_norm(
        lib.ones(4, 3), None, None, training=True, eps=0.0
    ),
    "momentum None": lambda lib: lib.nn.functional.batch_norm(
        lib.ones(4, 3), None, None, training=True, momentum=None
    ),
    "integer input": lambda lib: lib.nn.functional.batch_norm(
        lib.ones(4, 3, dtype=lib.int64), None, None, training=True
    ),
    "float64 weight": lambda lib: lib.nn.functional.batch_norm(
        lib.ones(4, 3), None, None, lib.ones(3, dtype=lib.float64), training=True
    ),
    "float32 weight": lambda lib: lib.nn.functional.batch_norm(
        lib.ones(4, 3, dtype=lib.float64), None, None, lib.ones(3), training=True
    ),
    "groups not dividing channels (module)": _layer("GroupNorm", 2, 3),
    "groups not dividing channels": lambda lib: lib.nn.functional.group_norm(lib.ones(2, 3, 4), 2),
    "group norm of 1D input": lambda lib: lib.nn.functional.group_norm(lib.ones(3), 1),
    "group norm, one value per group": lambda lib: lib.nn.functional.group_norm(lib.ones(1, 2, 1), 2),
    "group norm weight size": lambda lib: lib.nn.functional.group_norm(lib.ones(2, 4, 5), 2, lib.ones(3)),
    "instance norm of one spatial value": lambda lib: lib.nn.functional.instance_norm(lib.ones(2, 3, 1)),
    "instance norm without spatial dims": lambda lib: lib.nn.functional.instance_norm(lib.ones(2, 3)),
    "instance norm weight size": lambda lib: lib.nn.functional.instance_norm(
        lib.ones(2, 3, 4), weight=lib.ones(4)
    ),
    "InstanceNorm1d affine, wrong channels": lambda lib: lib.nn.InstanceNorm1d(3, affine=True)(
        lib.ones(2, 4, 5)
    ),
    "InstanceNorm2d of 2D input": lambda lib: lib.nn.InstanceNorm2d(3)(lib.ones(2, 3)),
    "normalize over a missing dim": lambda lib: lib.nn.functional.normalize(lib.ones(3, 4), dim=2),
    "local response norm of 2D input": lambda lib: lib.nn.functional.local_response_norm(lib.ones(3, 4), 2),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_input_raises_torchs_error(case: str) -> None:
    with pytest.raises(Exception) as theirs:
        BAD_CALLS[case](torch)
    with pytest.raises(type(theirs.value)) as ours:
        BAD_CALLS[case](antorcha)
    assert torch_name(str(ours.value)) == str(theirs.value)


def test_instance_norm_warns_as_torch_for_unused_num_features() -> None:
    with pytest.warns(UserWarning, match="input's size at dim=1 does not match num_features"):
        antorcha.nn.InstanceNorm1d(3)(antorcha.randn(2, 4, 5))


def test_empty_batch_leaves_running_estimates() -> None:
    for lib in (antorcha, torch):
        mean, var = lib.zeros(3), lib.ones(3)
        out = lib.nn.functional.batch_norm(lib.ones(0, 3), mean, var, training=True)
        assert tuple(out.shape) == (0, 3)
        assert mean.tolist() == [0.0] * 3 and var.tolist() == [1.0] * 3
