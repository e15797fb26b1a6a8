"""Every public op has a row in the op-spec table.

The op names are found by introspection: the public methods and operator dunders of
`antorcha.Tensor`, and the functions of `antorcha._functional` (what `antorcha.<fn>`
exports). Names bound to the very same function object (aliases such as `clip` for
`clamp`) are covered together. Attributes and methods that are not ops are listed in
`NOT_OPS`, each with the reason.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from typing import Any

from op_specs import SPECS

import antorcha
import antorcha._functional as functional
from antorcha._tensor_methods import TensorMethods

NOT_OPS: dict[str, str] = {
    # tensor state and metadata (test_tensor_api.py)
    "Tensor.shape": "attribute",
    "Tensor.dtype": "attribute",
    "Tensor.device": "attribute",
    "Tensor.ndim": "attribute",
    "Tensor.is_cuda": "attribute",
    "Tensor.itemsize": "attribute",
    "Tensor.nbytes": "attribute",
    "Tensor.data": "attribute: a detached alias",
    "Tensor.size": "metadata",
    "Tensor.dim": "metadata",
    "Tensor.ndimension": "metadata",
    "Tensor.numel": "metadata",
    "Tensor.nelement": "metadata",
    "Tensor.element_size": "metadata",
    "Tensor.stride": "metadata",
    "Tensor.is_contiguous": "predicate on the layout",
    "Tensor.is_floating_point": "predicate on the dtype",
    "Tensor.__hash__": "identity hash, as torch",
    # autograd state and entry points (test_tensor_api.py, the autograd tests)
    "Tensor.requires_grad": "autograd flag",
    "Tensor.requires_grad_": "autograd flag",
    "Tensor.grad": "autograd state",
    "Tensor.grad_fn": "autograd state",
    "Tensor.is_leaf": "autograd state",
    "Tensor.retains_grad": "autograd state",
    "Tensor.retain_grad": "autograd state",
    "Tensor.register_hook": "autograd hook",
    "Tensor.backward": "runs autograd",
    "Tensor.detach": "leaves the graph",
    "Tensor.detach_": "leaves the graph",
    # conversions out of antorcha (test_tensor_api.py)
    "Tensor.item": "to a Python number",
    "Tensor.tolist": "to Python lists",
    "Tensor.numpy": "to NumPy",
    # device moves (test_cuda.py; identity on a cpu-only machine)
    "Tensor.cpu": "device move",
    "Tensor.cuda": "device move",
    # functions that are not ops
    "antorcha.is_tensor": "type predicate",
    "antorcha.is_floating_point": "dtype predicate",
    "antorcha.numel": "metadata",
    "antorcha.result_type": "dtype promotion (test_dtypes.py)",
}


def _tensor_members() -> dict[str, Any]:
    """Public Tensor attributes and the operator dunders, by qualified name -> the object behind it."""
    members = {}
    for name in dir(antorcha.Tensor):
        if name.startswith("_") and not (name.startswith("__") and name in TensorMethods.__dict__):
            continue
        if name in ("__doc__", "__module__", "__slots__"):
            continue
        members[f"Tensor.{name}"] = inspect.getattr_static(antorcha.Tensor, name)
    return members


def _functions() -> dict[str, Any]:
    members = {}
    for name, value in vars(functional).items():
        if name.startswith("_") or inspect.isclass(value) or inspect.ismodule(value) or not callable(value):
            continue
        if not getattr(value, "__module__", "").startswith("antorcha"):
            continue  # imported helpers such as typing.Any
        members[f"antorcha.{name}"] = value
    return members


def public_ops() -> dict[str, Any]:
    return {**_tensor_members(), **_functions()}


def _aliases(members: dict[str, Any]) -> dict[str, set[str]]:
    """Each name -> every name bound to the same object (itself included)."""
    by_object: dict[int, set[str]] = defaultdict(set)
    for name, obj in members.items():
        by_object[id(obj)].add(name)
    return {name: by_object[id(obj)] for name, obj in members.items()}


def covered_names() -> set[str]:
    names: set[str] = set()
    for spec in SPECS:
        names |= spec.covered()
    return names


def test_every_public_op_has_a_spec_row() -> None:
    members = public_ops()
    aliases = _aliases(members)
    covered = covered_names()
    missing = sorted(
        name for name in members if name not in NOT_OPS and not (aliases[name] & covered)
    )
    assert not missing, f"ops without a row in tests/op_specs.py (or an entry in NOT_OPS): {missing}"


def test_the_table_names_only_real_ops() -> None:
    members = public_ops()
    stale = sorted(name for name in covered_names() if name not in members)
    assert not stale, f"rows claim to cover names antorcha does not have: {stale}"


def test_exclusions_are_real_and_not_covered() -> None:
    members = public_ops()
    stale = sorted(name for name in NOT_OPS if name not in members)
    assert not stale, f"NOT_OPS lists names antorcha does not have: {stale}"
    both = sorted(set(NOT_OPS) & covered_names())
    assert not both, f"names both excluded and covered: {both}"


def test_every_spec_form_exists_in_torch_too() -> None:
    """A method or function row must name something torch has (the oracle is called the same way)."""
    import torch

    for spec in SPECS:
        if spec.method:
            assert hasattr(torch.Tensor, spec.method), f"{spec.name}: torch.Tensor has no {spec.method}"
        if spec.function:
            assert hasattr(torch, spec.function), f"{spec.name}: torch has no {spec.function}"


def test_the_table_is_large_enough() -> None:
    """A guard against the table silently losing rows (a builder raising, a bad merge)."""
    assert len(SPECS) >= 200
    assert sum(spec.second_order for spec in SPECS) >= 14
