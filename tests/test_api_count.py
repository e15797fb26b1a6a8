"""How much of torch's API antorcha has, counted by introspection, with floors that only rise.

Three counts, each `have/total`:
* the torch namespace: the functions `torch.overrides.get_testing_overrides()` lists that are
  attributes of `torch` by name (deduplicated by name), present as `antorcha.<name>`;
* `torch.Tensor`'s public members (`dir()` without underscore names), present on `antorcha.Tensor`;
* `torch.nn.functional`'s public functions, present in `antorcha.nn.functional`.

The counts are printed (`pytest -s`, or the terminal summary of `pytest -rA`). A floor is the
count when it was last raised, less a small margin; raise it when the API grows.
"""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as torch_F
from torch.overrides import get_testing_overrides

import antorcha
import antorcha.nn.functional as F

# at issue #10's start: namespace 120/520, Tensor 177/604, nn.functional 24/133; when the floors
# were last raised (11:15 UTC, 1 Dec 2026): 239/520, 335/604, 24/133, less a small margin
FLOORS = {"namespace": 235, "Tensor": 330, "nn.functional": 24}


def torch_namespace_names() -> set[str]:
    names = set()
    for function in get_testing_overrides():
        name = getattr(function, "__name__", None)
        if name and getattr(torch, name, None) is function:
            names.add(name)
    return names


def torch_tensor_names() -> set[str]:
    return {name for name in dir(torch.Tensor) if not name.startswith("_")}


# what torch.nn.functional imports for itself: no functions of the API
_NOT_FUNCTIONAL_API = {
    "Optional",  # typing
    "boolean_dispatch",
    "handle_torch_function",
    "has_torch_function",
    "has_torch_function_unary",
    "has_torch_function_variadic",
}


def torch_functional_names() -> set[str]:
    """Public callables of torch.nn.functional that are neither classes nor its own imports."""
    names = set()
    for name in dir(torch_F):
        member = getattr(torch_F, name)
        if name.startswith("_") or name in _NOT_FUNCTIONAL_API or isinstance(member, type):
            continue
        if callable(member) and not inspect.ismodule(member):
            names.add(name)
    return names


def _counts() -> dict[str, tuple[int, int, list[str]]]:
    """what -> (have, total, the names antorcha lacks)."""
    tables = {
        "namespace": (torch_namespace_names(), antorcha),
        "Tensor": (torch_tensor_names(), antorcha.Tensor),
        "nn.functional": (torch_functional_names(), F),
    }
    counts = {}
    for what, (names, where) in tables.items():
        missing = sorted(name for name in names if not hasattr(where, name))
        counts[what] = (len(names) - len(missing), len(names), missing)
    return counts


COUNTS = _counts()


@pytest.mark.parametrize("what", list(FLOORS))
def test_api_count_stays_above_its_floor(what: str) -> None:
    have, total, missing = COUNTS[what]
    print(f"\n{what}: {have}/{total}")
    assert have >= FLOORS[what], (
        f"{what}: antorcha has {have} of torch's {total} names, below the floor {FLOORS[what]}; "
        f"missing: {', '.join(missing)}"
    )
