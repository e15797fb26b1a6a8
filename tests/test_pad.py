"""F.pad and the padding layers against torch: every mode, torch's last-dim-first order, negative
amounts (crops), values, gradients, double backward through the cotangent, reprs and errors. The
op-spec row F.pad (op_specs_conv.py) draws random shapes and amounts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nn_helpers import assert_close, torch_name

import antorcha

CASES = [
    ((2, 3, 4, 5), (1, 2, 3, 1)),
    ((2, 3, 4, 5), (-1, 2, 3, -2)),
    ((2, 3, 4, 5), (-3, 2, 1, 1)),
    ((2, 3, 4, 5), (4, 4, 3, 3)),
    ((3, 5), (2, 3)),
    ((2, 3, 5), (0, -4)),
    ((2, 3, 5), (0, 0)),
    ((1, 3, 4, 5, 6), (1, 2, 1, 1, 2, 1)),
]
MODES = ["constant", "reflect", "replicate", "circular"]


def _pad(m, x: np.ndarray, pad: tuple, **kwargs):
    inp = m.tensor(x, requires_grad=True)
    out = m.nn.functional.pad(inp, pad, **kwargs)
    out.backward(m.tensor(np.random.default_rng(1).standard_normal(tuple(out.shape))))
    return out, inp.grad


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("shape", "pad"), CASES, ids=str)
def test_pad_matches_torch(shape: tuple, pad: tuple, mode: str) -> None:
    if mode == "reflect" and any(p >= n for p, n in zip(pad[::2] + pad[1::2], shape[::-1] * 2)):
        pytest.skip("reflect needs amounts below the dim's size")
    pairs = zip(pad[::2], pad[1::2], shape[::-1])
    if mode == "circular" and any(max(a, b) > n + min(a, 0) + min(b, 0) for a, b, n in pairs):
        pytest.skip("torch's circular padding past the cropped size reads memory it did not set")
    x = np.random.default_rng(0).standard_normal(shape)
    for ours, theirs in zip(_pad(antorcha, x, pad, mode=mode), _pad(torch, x, pad, mode=mode)):
        assert_close(ours, theirs)


@pytest.mark.parametrize("value", [2.5, -1.0])
def test_constant_value_and_integer_input(value: float) -> None:
    x = np.random.default_rng(2).standard_normal((2, 3, 4))
    for ours, theirs in zip(_pad(antorcha, x, (1, 2, 0, 1, 2, 0), value=value),
                            _pad(torch, x, (1, 2, 0, 1, 2, 0), value=value)):
        assert_close(ours, theirs)
    ours = antorcha.nn.functional.pad(antorcha.arange(5), (1, 1), value=value)
    theirs = torch.nn.functional.pad(torch.arange(5), (1, 1), value=value)
    assert ours.dtype == antorcha.int64 and ours.tolist() == theirs.tolist()


@pytest.mark.parametrize("mode", MODES)
def test_double_backward_with_respect_to_the_cotangent(mode: str) -> None:
    x = np.random.default_rng(3).standard_normal((2, 2, 4, 5))
    results = []
    for m in (antorcha, torch):
        inp = m.tensor(x, requires_grad=True)
        out = m.nn.functional.pad(inp, (2, -1, 1, 3), mode=mode)
        cotangent = m.tensor(np.random.default_rng(4).standard_normal(tuple(out.shape)), requires_grad=True)
        (gx,) = m.autograd.grad(out, inp, cotangent, create_graph=True)
        weight = m.tensor(np.arange(gx.numel()).reshape(gx.shape) * 0.1)
        (gg,) = m.autograd.grad((gx * weight).sum(), cotangent)
        results.append((gx, gg))
    for a, t in zip(*results):
        assert_close(a, t)


LAYERS = [
    ("ZeroPad2d", (2,)), ("ZeroPad2d", ((1, 2, 0, 3),)), ("ZeroPad1d", ((1, 2),)),
    ("ConstantPad1d", (2, 3.5)), ("ConstantPad2d", ((1, 2, 3, 0), -1.0)),
    ("ReflectionPad1d", (2,)), ("ReflectionPad2d", ((1, 2, 0, 1),)),
    ("ReplicationPad1d", ((3, 1),)), ("ReplicationPad2d", (2,)),
    ("CircularPad1d", (1,)), ("CircularPad2d", ((1, 2, 2, 0),)),
]


@pytest.mark.parametrize(("name", "args"), LAYERS, ids=str)
def test_layers_match_torch(name: str, args: tuple) -> None:
    ours, theirs = getattr(antorcha.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    assert ours.padding == theirs.padding
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 5) if name.endswith("2d") else (2, 3, 5))
    assert_close(ours(antorcha.tensor(x)), theirs(torch.tensor(x)))


def _same_error(call) -> None:
    errors = []
    for m in (antorcha, torch):
        with pytest.raises(Exception) as info:
            call(m)
        errors.append(info.value)
    ours, theirs = errors
    assert type(ours).__name__ == type(theirs).__name__, (ours, theirs)
    assert torch_name(str(ours).split("\n")[0]) == str(theirs).split("\n")[0]


def _p(shape: tuple, pad: tuple, **kwargs):
    return lambda m: m.nn.functional.pad(m.zeros(shape), pad, **kwargs)


ERRORS = [
    _p((2, 3, 4, 5), (1, 2, 3)),
    _p((2, 3, 4, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)),
    _p((2, 3, 4, 5), (-3, -3)),
    _p((2, 3, 4, 5), (-6, 0)),
    _p((2, 3, 4, 5), (1, 1), mode="reflect"),
    _p((2, 3, 4, 5), (1, 1, 1, 1, 1, 1, 1, 1), mode="replicate"),
    _p((5,), (1, 1), mode="circular"),
    _p((2, 3, 4, 5), (5, 1, 1, 1), mode="reflect"),
    _p((2, 3, 4, 5), (1, 1, 4, 1), mode="reflect"),
    _p((2, 3, 0, 5), (1, 1, 1, 1), mode="reflect"),
    _p((2, 0, 4, 5), (1, 1, 1, 1), mode="replicate"),
    _p((2, 3, 4, 5), (6, 1, 1, 1), mode="circular"),
    _p((2, 3, 4, 5), (-3, -3, 1, 1), mode="circular"),
    _p((2, 3, 4, 5), (1, 1), mode="foo"),
    _p((2, 3, 4, 5), (1, 1, 1, 1), mode="reflect", value=2.0),
    _p((2, 3), (1.5, 1)),
]


@pytest.mark.parametrize("call", ERRORS)
def test_errors_match_torch(call) -> None:
    _same_error(call)
