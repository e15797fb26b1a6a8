"""Module.load_state_dict: the same errors, messages and return value as torch, case by case.

Each case builds the same module in torch and antorcha, hands each the same (mis)matching state
dict, and compares the outcomes: the exception class and message, or the returned
_IncompatibleKeys (its repr, fields and type). antorcha spells the library's own name
`antorcha` where torch writes `torch` (torch.Size, torch.Tensor); that is the only difference.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import pytest
import torch

import antorcha
from antorcha.serialization import load


def outcome(module: Any, state_dict: Any, **kwargs: Any) -> tuple:
    try:
        result = module.load_state_dict(state_dict, **kwargs)
    except Exception as error:
        return type(error).__name__, str(error).replace("antorcha", "torch")
    return (
        "returned",
        type(result).__name__,
        repr(result),
        list(result.missing_keys),
        list(result.unexpected_keys),
    )


def linear(lib: Any) -> Any:
    return lib.nn.Linear(2, 3)


def nested(lib: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.LayerNorm(3), nn.Linear(3, 1)))


def with_buffers(lib: Any) -> Any:
    class WithBuffers(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = lib.nn.Embedding(4, 2)
            self.register_buffer("running", lib.zeros(2))
            self.register_buffer("scratch", lib.zeros(2), persistent=False)

    return WithBuffers()


def without(state_dict: dict, *keys: str) -> dict:
    return {k: v for k, v in state_dict.items() if k not in keys}


# (module, state dict from (lib, module), load_state_dict kwargs)
CASES: dict[str, tuple[Callable, Callable, dict]] = {
    "all keys match": (linear, lambda lib, m: m.state_dict(), {}),
    "missing key": (linear, lambda lib, m: without(m.state_dict(), "bias"), {}),
    "missing keys": (nested, lambda lib, m: without(m.state_dict(), "0.bias", "2.1.weight"), {}),
    "unexpected keys": (
        linear,
        lambda lib, m: {**m.state_dict(), "extra": lib.ones(1), "sub.w": lib.ones(1)},
        {},
    ),
    "missing and unexpected": (linear, lambda lib, m: {"weight": lib.ones(3, 2), "extra": lib.ones(1)}, {}),
    "unexpected under a child": (
        nested,
        lambda lib, m: {
            **m.state_dict(),
            "2.0.extra": lib.ones(1),
            "2.5.weight": lib.ones(1),
            "9.x": lib.ones(1),
        },
        {},
    ),
    "size mismatch": (linear, lambda lib, m: {"weight": lib.ones(4, 2), "bias": lib.ones(3)}, {}),
    "size mismatches": (
        nested,
        lambda lib, m: {**m.state_dict(), "0.bias": lib.ones(5), "2.0.weight": lib.ones(1)},
        {},
    ),
    "size mismatch and missing": (linear, lambda lib, m: {"weight": lib.ones(4, 2)}, {}),
    "non-strict missing and unexpected": (
        nested,
        lambda lib, m: {**without(m.state_dict(), "2.1.bias"), "2.1.extra": lib.ones(1)},
        {"strict": False},
    ),
    "non-strict all match": (linear, lambda lib, m: m.state_dict(), {"strict": False}),
    "non-strict size mismatch still raises": (
        linear,
        lambda lib, m: {"weight": lib.ones(4, 2)},
        {"strict": False},
    ),
    "buffers": (with_buffers, lambda lib, m: m.state_dict(), {}),
    "non-persistent buffer is unexpected": (
        with_buffers,
        lambda lib, m: {**m.state_dict(), "scratch": lib.ones(2)},
        {},
    ),
    "missing buffer": (with_buffers, lambda lib, m: without(m.state_dict(), "running"), {}),
    "not a tensor": (linear, lambda lib, m: {"weight": [[1.0, 2.0]] * 3, "bias": lib.ones(3)}, {}),
    "not a mapping": (linear, lambda lib, m: [("weight", lib.ones(3, 2))], {}),
    "assign": (linear, lambda lib, m: {"weight": lib.ones(3, 2), "bias": lib.ones(3)}, {"assign": True}),
    "values of another dtype": (
        linear,
        lambda lib, m: {"weight": lib.ones(3, 2).double(), "bias": lib.ones(3)},
        {},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_load_state_dict_like_torch(case: str) -> None:
    build, make_state_dict, kwargs = CASES[case]
    theirs, ours = build(torch), build(antorcha)
    expected = outcome(theirs, make_state_dict(torch, theirs), **kwargs)
    got = outcome(ours, make_state_dict(antorcha, ours), **kwargs)
    assert got == expected


def test_message_format_exactly() -> None:
    """The shape of the message itself, written out once (the comparison above covers the rest)."""
    with pytest.raises(RuntimeError) as error:
        antorcha.nn.Linear(2, 3).load_state_dict({"weight": antorcha.ones(3, 2), "extra": antorcha.ones(1)})
    assert str(error.value) == (
        "Error(s) in loading state_dict for Linear:\n"
        '\tMissing key(s) in state_dict: "bias". \n'
        '\tUnexpected key(s) in state_dict: "extra". '
    )


def test_a_torch_checkpoint_loads_with_its_metadata(tmp_path: pathlib.Path) -> None:
    """A state dict torch.save wrote (an OrderedDict with _metadata) loads like a fresh one."""
    torch.save(nested(torch).state_dict(), tmp_path / "model.pt")
    state_dict = load(tmp_path / "model.pt")
    assert outcome(nested(antorcha), state_dict) == outcome(
        nested(torch), torch.load(tmp_path / "model.pt", weights_only=True)
    )
    del state_dict["2.1.bias"]
    theirs = torch.load(tmp_path / "model.pt", weights_only=True)
    del theirs["2.1.bias"]
    assert outcome(nested(antorcha), state_dict, strict=False) == outcome(nested(torch), theirs, strict=False)
