"""antorcha's functions and methods take torch's parameter names and defaults.

torch's own description of each signature is `torch.overrides.get_testing_overrides()`: a lambda
per function and method, with torch's parameter names. Those lambdas are hand-written and
sometimes name a parameter torch does not accept (`torch.where(x=...)`, `torch.relu(inplace=...)`,
`torch.squeeze(out=...)`), so a name counts only when torch's real signature has it too: the
aten schemas of a built-in (where `self` is called `input`), or `inspect.signature` of a torch
function written in Python. Every antorcha name that torch also has is checked, whatever module
declares it, so ops added later are covered as they appear.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as torch_F
from torch.overrides import get_testing_overrides

import antorcha
import antorcha.nn.functional as F

# parameters antorcha has no counterpart for, whatever the function
UNSUPPORTED_PARAMETERS: dict[str, str] = {
    "memory_format": "antorcha has one memory layout (row-major strided): no memory_format objects",
    "layout": "antorcha has one layout (torch.strided): no layout objects",
    "pin_memory": "there is no pinned host memory on NumPy",
    "sparse_grad": "antorcha has no sparse tensors",
    "names": "antorcha has no named tensors",
}

# "<where>.<name>": reason, for a signature that cannot take torch's names
EXCEPTIONS: dict[str, str] = {
    "Tensor.mm": "out_dtype belongs to torch.mm's function-only overload; Tensor.mm rejects it too",
    "Tensor.bmm": "out_dtype belongs to torch.bmm's function-only overload; Tensor.bmm rejects it too",
    "antorcha.bmm": "out_dtype exists for CUDA half inputs only: torch's cpu build has no kernel for it",
    "antorcha.full_like": "its aten schema has an out overload, but torch.full_like(out=) is a TypeError",
    "antorcha.diag_embed": "its aten schema has an out overload, but torch.diag_embed(out=) is a TypeError",
}

# defaults that mean the same thing in two spellings: "every dim" is None in the override
# lambdas and [] in torch's schemas (amax, amin)
ALL_DIMS = (None, (), [])


def _torch_objects() -> Iterator[tuple[str, Any, Callable, Any]]:
    """(where, name, torch object, its override lambda) for every named function and method."""
    seen: set[tuple[str, str]] = set()
    for torch_object, signature_lambda in get_testing_overrides().items():
        name = getattr(torch_object, "__name__", None)
        if not name or name.startswith("__"):  # operators are not called with keywords
            continue
        for where, namespace in (("antorcha", torch), ("F", torch_F), ("Tensor", torch.Tensor)):
            if getattr(namespace, name, None) is torch_object and (where, name) not in seen:
                seen.add((where, name))
                yield where, name, torch_object, signature_lambda


def _antorcha_namespace(where: str) -> Any:
    return {"antorcha": antorcha, "F": F, "Tensor": antorcha.Tensor}[where]


def _real_torch_parameters(torch_object: Any, name: str) -> dict[str, list] | None:
    """The names torch really accepts, each with its defaults: from a Python signature, else
    the aten schemas (where `self` is the Python binding's `input`)."""
    try:
        parameters = inspect.signature(torch_object).parameters.values()
    except (TypeError, ValueError):
        parameters = None
    if parameters is not None:
        if any(p.kind is p.VAR_KEYWORD for p in parameters):
            return None  # takes anything by keyword: trust the lambda
        return {p.name: [p.default] for p in parameters}
    schemas = torch._C._jit_get_schemas_for_operator(f"aten::{name}")
    if not schemas:
        return None
    names: dict[str, list] = {}
    for schema in schemas:
        for argument in schema.arguments:
            names.setdefault("input" if argument.name == "self" else argument.name, []).append(
                argument.default_value
            )
    return names


def _same_default(torch_default: Any, antorcha_default: Any) -> bool:
    if torch_default in ALL_DIMS and antorcha_default in ALL_DIMS:
        return True
    try:
        return bool(torch_default == antorcha_default)
    except Exception:  # objects that do not compare (dtypes of two libraries)
        return False


def _mismatches(where: str, name: str, torch_object: Any, signature_lambda: Callable) -> list[str]:
    """What antorcha's signature lacks, or gives another default, against torch's."""
    antorcha_object = getattr(_antorcha_namespace(where), name, None)
    if antorcha_object is None or not callable(antorcha_object) or isinstance(antorcha_object, type):
        return []
    expected = list(inspect.signature(signature_lambda).parameters.values())
    if where == "Tensor":
        expected = [p for p in expected[1:] if p.name != "out"]  # self; methods never take out=
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in expected):
        return []  # torch's lambda does not say which names it means
    real = _real_torch_parameters(torch_object, name)
    try:
        ours = inspect.signature(antorcha_object).parameters
    except (TypeError, ValueError):
        return [f"{where}.{name}: no signature"]
    if any(p.kind is p.VAR_KEYWORD for p in ours.values()):
        return []
    problems = []
    for parameter in expected:
        if parameter.name in UNSUPPORTED_PARAMETERS or (real is not None and parameter.name not in real):
            continue
        if parameter.name not in ours or ours[parameter.name].kind is inspect.Parameter.VAR_POSITIONAL:
            problems.append(f"{where}.{name}: no parameter {parameter.name!r}")
            continue
        ours_default = ours[parameter.name].default
        if parameter.default is not parameter.empty and ours_default is not parameter.empty:
            # the lambda's default, or one of the schemas' (the lambdas are hand-written)
            defaults = [parameter.default, *(real or {}).get(parameter.name, [])]
            if not any(_same_default(default, ours_default) for default in defaults):
                problems.append(
                    f"{where}.{name}: {parameter.name}={ours_default!r}, "
                    f"torch's default is {parameter.default!r}"
                )
    return problems


def test_every_shared_name_takes_torchs_parameter_names_and_defaults() -> None:
    problems = []
    for where, name, torch_object, signature_lambda in _torch_objects():
        if f"{where}.{name}" in EXCEPTIONS:
            continue
        problems += _mismatches(where, name, torch_object, signature_lambda)
    assert not problems, f"{len(problems)} signature(s) differ from torch's:\n" + "\n".join(problems)


def test_exceptions_are_still_needed() -> None:
    """An exception that no longer hides a mismatch is dead weight: remove it."""
    objects = {(where, name): (obj, lam) for where, name, obj, lam in _torch_objects()}
    for key in EXCEPTIONS:
        where, name = key.split(".", 1)
        assert (where, name) in objects, f"{key} is not a torch name"
        assert _mismatches(where, name, *objects[(where, name)]), (
            f"{key} now matches torch: drop the exception"
        )


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.matmul(input=t.ones(2, 3), other=t.ones(3, 4)),
        lambda t: t.add(input=t.ones(2), other=t.ones(2), alpha=2),
        lambda t: t.sum(input=t.ones(2, 3), dim=1, keepdim=True),
        lambda t: t.ones(2, 3).sum(dim=0, keepdim=True, dtype=t.float64),
        lambda t: t.ones(2, 3).reshape(shape=(3, 2)),
        lambda t: t.ones(2, 3).view(size=(3, 2)),
        lambda t: t.ones(2, 3).permute(dims=(1, 0)),
        lambda t: t.ones(2, 3).expand(size=(2, 2, 3)),
        lambda t: t.ones(2, 3).repeat(repeats=(2, 1)),
        lambda t: t.softmax(input=t.ones(2, 3), dim=-1),
        lambda t: t.cat(tensors=[t.ones(2), t.ones(3)], dim=0),
        lambda t: t.nn.functional.relu(input=t.ones(2) - 2.0, inplace=False),
        lambda t: t.zeros_like(input=t.ones(2, 3)),
    ],
)
def test_keyword_calls_give_torchs_values(call: Callable[[Any], Any]) -> None:
    expected = call(torch)
    got = call(antorcha)
    assert tuple(got.shape) == tuple(expected.shape)
    assert got.dtype.scalar_name == {torch.float32: "Float", torch.float64: "Double"}[expected.dtype]
    assert (got.numpy() == expected.numpy()).all()


# ---- out= ----------------------------------------------------------------------
def _pair(values: list[float], requires_grad: bool = False) -> tuple[torch.Tensor, antorcha.Tensor]:
    pair = (
        torch.tensor(values, requires_grad=requires_grad),
        antorcha.tensor(values, requires_grad=requires_grad),
    )
    return pair


@pytest.mark.parametrize(
    "name, args",
    [
        ("add", ([1.0, 2.0], [3.0, 4.0])),
        ("mul", ([1.0, 2.0], [3.0, 4.0])),
        ("exp", ([1.0, 2.0],)),
        ("eq", ([1.0, 2.0], [1.0, 4.0])),
        ("matmul", ([[1.0, 2.0], [0.5, -1.0]], [3.0, 4.0])),
        ("clamp", ([-1.0, 2.0],)),
    ],
)
@pytest.mark.parametrize("out_shape", [(2,), (0,), (5,)])
def test_out_writes_torchs_result_with_torchs_resize(name: str, args: tuple, out_shape: tuple) -> None:
    torch_args = [torch.tensor(a) for a in args]
    ours_args = [antorcha.tensor(a) for a in args]
    extra = {"min": 0.0} if name == "clamp" else {}
    torch_out = torch.full(out_shape, 7.0)
    ours_out = antorcha.full(out_shape, 7.0)
    with pytest.warns(UserWarning, match="resized") if out_shape == (5,) else _no_warnings():
        ours = getattr(antorcha, name)(*ours_args, **extra, out=ours_out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's resize warning, checked on antorcha above
        expected = getattr(torch, name)(*torch_args, **extra, out=torch_out)
    assert ours is ours_out and expected is torch_out
    assert ours_out.dtype.scalar_name == "Float"
    np.testing.assert_allclose(ours_out.numpy(), torch_out.numpy(), rtol=1e-6)


@contextlib.contextmanager
def _no_warnings() -> Iterator[None]:
    """Fail on any warning: resizing an empty out, or writing one of the right shape, is silent."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_out_casts_like_torch() -> None:
    ours_out = antorcha.zeros(2, dtype=antorcha.float64)
    antorcha.add(antorcha.ones(2), antorcha.ones(2), out=ours_out)
    assert ours_out.dtype is antorcha.float64 and ours_out.tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        antorcha.add(antorcha.ones(2), antorcha.ones(2), out=antorcha.zeros(2, dtype=antorcha.long))


def test_out_counts_as_a_write_for_autograd() -> None:
    """A tensor saved for backward, then overwritten through out=, makes backward raise as in torch."""
    for m in (torch, antorcha):
        weight = m.ones(2, requires_grad=True)
        saved = m.zeros(2)
        loss = (weight * saved).sum()  # mul saves `saved`
        with m.no_grad():
            m.mul(m.ones(2), 3.0, out=saved)
        assert saved.tolist() == [3.0, 3.0]
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


def test_out_with_an_input_that_requires_grad_raises_like_torch() -> None:
    torch_a, ours_a = _pair([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError) as torch_error:
        torch.add(torch_a, 1.0, out=torch.empty(2))
    with pytest.raises(RuntimeError) as ours_error:
        antorcha.add(ours_a, 1.0, out=antorcha.empty(2))
    assert str(ours_error.value) == str(torch_error.value)
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        antorcha.add(antorcha.ones(2), 1.0, out=antorcha.empty(2, requires_grad=True))
    with antorcha.no_grad():
        out = antorcha.empty(2)
        antorcha.add(ours_a, 1.0, out=out)
    assert out.tolist() == [2.0, 3.0]


def test_out_of_a_reduction_with_indices_takes_a_pair() -> None:
    values, indices = antorcha.empty(0), antorcha.empty(0, dtype=antorcha.long)
    x = [[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]
    antorcha.max(antorcha.tensor(x), 1, out=(values, indices))
    expected = torch.max(torch.tensor(x), 1)
    assert values.tolist() == expected.values.tolist()
    assert indices.tolist() == expected.indices.tolist()
