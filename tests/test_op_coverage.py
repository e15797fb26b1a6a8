"""Every public op has a row in the op-spec table.

The op names come from the declarations (`antorcha._registry`): every Tensor method,
operator dunder and property, every function of the `antorcha` namespace and every
function of `antorcha.nn.functional`, including the ones declared under `nn/`. Public
Tensor members that are not declared ops are found by introspection. Names bound to the
very same function object (aliases such as `clip` for `clamp`) are covered together.
What is not an op, or is compared with torch elsewhere, is listed in `NOT_OPS` with the reason.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from typing import Any

from op_specs import AREA_NOT_OPS, SPECS

import antorcha
import antorcha.nn.functional as F
from antorcha import _registry
from antorcha._tensor_inplace import TensorInplaceMethods

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
    # autograd state and entry points (test_tensor_api.py, the autograd tests)
    "Tensor.requires_grad": "autograd flag",
    "Tensor.requires_grad_": "autograd flag",
    "Tensor.grad": "autograd state",
    "Tensor.grad_fn": "autograd state",
    "Tensor.is_leaf": "autograd state",
    "Tensor.retains_grad": "autograd state",
    "Tensor.retain_grad": "autograd state",
    "Tensor.register_hook": "autograd hook",
    "Tensor.register_post_accumulate_grad_hook": "autograd hook (tests/test_autograd_hooks.py)",
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
    "antorcha.typename": "type names (test_nn_modules.py, test_optim.py error messages)",
    # nn.functional's losses and layers: each compared with torch, forward and backward, where named
    "F.mse_loss": "test_losses.py",
    "F.l1_loss": "test_losses.py",
    "F.smooth_l1_loss": "test_losses.py",
    "F.huber_loss": "test_losses.py",
    "F.binary_cross_entropy": "test_losses.py",
    "F.binary_cross_entropy_with_logits": "test_losses.py",
    "F.nll_loss": "test_losses.py",
    "F.cross_entropy": "test_losses.py",
    "F.dropout": "random: test_nn_layers.py checks its statistics and gradient",
    "F.embedding": "test_nn_layers.py",
    "F.layer_norm": "test_nn_layers.py",
    "F.one_hot": "test_nn_layers.py (integer output, not differentiable)",
    "F.multi_head_attention_forward": "test_transformer_layers.py",
}
NOT_OPS.update(AREA_NOT_OPS)


def _declared_dunders() -> set[str]:
    """Operator methods: the declared ones, and the in-place mixin's (`+=`, `x[i] = v`)."""
    declared = {name for d in _registry.DECLARATIONS for name in d.method_names() if name.startswith("_")}
    inplace = {name for name in vars(TensorInplaceMethods) if name.startswith("__") and name.endswith("__")}
    return declared | (inplace - {"__slots__", "__module__", "__doc__", "__qualname__", "__firstlineno__",
                                  "__static_attributes__"})


def _tensor_members() -> dict[str, Any]:
    """Public Tensor attributes and the declared operator dunders -> the object behind each."""
    dunders = _declared_dunders()
    members = {}
    for name in dir(antorcha.Tensor):
        if name.startswith("_") and name not in dunders:
            continue
        members[f"Tensor.{name}"] = inspect.getattr_static(antorcha.Tensor, name)
    return members


def _functions() -> dict[str, Any]:
    """The antorcha namespace's functions: every declared one, and the few non-ops beside them."""
    members = {f"antorcha.{name}": fn for name, fn in _registry.torch_functions().items()}
    for name in antorcha._functional.__all__:
        members.setdefault(f"antorcha.{name}", getattr(antorcha, name))
    return members


def _nn_functional() -> dict[str, Any]:
    return {f"F.{name}": getattr(F, name) for name in F.__all__}


def public_ops() -> dict[str, Any]:
    return {**_tensor_members(), **_functions(), **_nn_functional()}


def _aliases(members: dict[str, Any]) -> dict[str, set[str]]:
    """Each name -> every name bound to the same object (itself included); a property counts as its getter."""
    by_object: dict[int, set[str]] = defaultdict(set)
    for name, obj in members.items():
        by_object[id(_unwrapped(obj))].add(name)
    return {name: by_object[id(_unwrapped(obj))] for name, obj in members.items()}


def _unwrapped(member: Any) -> Any:
    """The function behind a property or a registry wrapper (`_registry._public`)."""
    return inspect.unwrap(getattr(member, "fget", None) or member)


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
        if spec.functional:
            has = hasattr(torch.nn.functional, spec.functional)
            assert has, f"{spec.name}: torch has no F.{spec.functional}"


def test_every_declaration_is_bound_where_it_says() -> None:
    """A declared name is the declared function itself, on Tensor, in antorcha and in nn.functional."""
    for d in _registry.DECLARATIONS:
        for name in d.torch_names():
            assert getattr(antorcha, name) is d.public, f"antorcha.{name}"
        for name in d.functional_names():
            assert getattr(F, name) is d.public, f"F.{name}"
        for name in d.method_names():
            member = inspect.getattr_static(antorcha.Tensor, name)
            expected = d.function if name in d.dunders or d.as_property else d.for_methods
            assert (member.fget if isinstance(member, property) else member) is expected, f"Tensor.{name}"


def test_the_table_is_large_enough() -> None:
    """A guard against the table silently losing rows (a builder raising, a bad merge)."""
    assert len(SPECS) >= 200
    assert sum(spec.second_order for spec in SPECS) >= 14
