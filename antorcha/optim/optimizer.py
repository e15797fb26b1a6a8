"""The Optimizer base class: param groups, lazily created per-parameter state, state_dict.

An update is a fused, in-place pass over the raw arrays (`p._data`, `p.grad._data`) by a
kernel of `_functional.py`, so a step creates no Tensor and records no graph. Small groups
are flattened so that one kernel call updates the whole group (`_flat.py`); otherwise the
kernel runs per parameter. The state values stay visible as Tensors in
`optimizer.state[p]` under torch's key names; they wrap the very arrays the update writes
into, so `state_dict()` always sees the current values. Temporaries live outside the
state (`self._scratch`, the flat plans), so that `state_dict()` holds exactly torch's keys.
"""

from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._device import move_array, xp_of
from antorcha._functional import typename
from antorcha._grad_mode import enable_grad
from antorcha._tensor import Tensor, wrap
from antorcha.optim._flat import FlatGroup

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyper-parameter that every param group must give (torch.optim.optimizer.required)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()

StateDict = dict[str, Any]


def scalar_state_dtype() -> Any:
    """torch keeps 'step' (and NAdam's 'mu_product') as float32, float64 under a float64 default."""
    return np.float64 if _dtypes.get_default_dtype() is _dtypes.float64 else np.float32


def new_scalar_state(value: float) -> Tensor:
    """A 0-dim cpu tensor, as torch hosts 'step' on the cpu (no device sync to read it)."""
    return wrap(np.array(value, dtype=scalar_state_dtype()))


def zeros_state(p: Tensor) -> Tensor:
    data = p._data
    return wrap(xp_of(data).zeros_like(data), device=p._device)


def full_state(p: Tensor, value: float) -> Tensor:
    data = p._data
    return wrap(xp_of(data).full_like(data, value), device=p._device)


def count_step(step: Tensor) -> float:
    """Add one to a 'step' state tensor and return its new value.

    A Python float assignment avoids a ufunc call on a 0-dim array (which costs far more than
    the addition) and stores the same value (float32 rounding included, as torch's `step_t += 1`).
    """
    data = step._data
    data[()] = float(data) + 1
    return float(data)


def bump_version(p: Tensor) -> None:
    """An in-place update of a parameter invalidates graphs that saved it, as in torch."""
    p._bump_version()


class Optimizer:
    """Base class of all optimizers (torch.optim.Optimizer)."""

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        if defaults.get("differentiable"):
            raise NotImplementedError(
                f"{type(self).__name__}(differentiable=True) is not supported: antorcha optimizers "
                "update the parameters in place outside the autograd graph"
            )
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, "
                "but got " + typename(params)
            )
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        # Per-parameter temporaries of the fused updates and the flattened groups (_flat.py);
        # neither is part of the state.
        self._scratch: dict[Any, list[Any]] = {}
        self._flat: dict[int, Any] = {}

        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # ---- pickling / printing ---------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    # group options that a pickled optimizer from an older torch may lack, with their defaults
    # (torch writes the same setdefault calls in each optimizer's __setstate__)
    _setstate_group_defaults: dict[str, Any] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._scratch = {}
        self._flat = {}
        self.defaults.setdefault("differentiable", False)
        for group in self.param_groups:
            for key, value in self._setstate_group_defaults.items():
                group.setdefault(key, value)

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for index, group in enumerate(self.param_groups):
            text += f"\nParameter Group {index}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # ---- param groups ----------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing options take the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering "
                "of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            param_group["params"] = list(params)
        _split_named_params(param_group)

        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is " + typename(param)
                )
            if not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization parameter {name}"
                )
            param_group.setdefault(name, default)

        params = param_group["params"]
        if len(params) != len(set(params)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will "
                "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )
        seen: set[Tensor] = set()
        for group in self.param_groups:
            seen.update(group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if not seen.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ---- gradients and stepping ------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients (default) or zero them in place."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p._grad
                if grad is None:
                    continue
                if set_to_none:
                    p._grad = None
                    continue
                if grad.grad_fn is not None:
                    grad.detach_()
                else:
                    grad._requires_grad = False
                grad._data.fill(0)
                bump_version(grad)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns the closure's loss, if any."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _evaluate(self, closure: Callable[[], Any] | None) -> Any:
        """Run the closure, if any, with gradients enabled and return its loss."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ---- the update machinery shared by the optimizers --------------------------------
    # A subclass names its per-parameter state arrays (`_state_keys`, in its kernel's
    # order), creates them (`_init_state`), reads its options once per group (`_options`)
    # and applies its kernel to one parameter or to a whole flattened group (`_apply`).
    _has_step = True  # state['step'] counts the updates of each parameter
    _scalar_keys: tuple[str, ...] = ()  # 0-dim states passed after the arrays (NAdam's mu_product)

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        raise NotImplementedError

    def _init_state(self, p: Tensor, group: dict[str, Any], param_state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _options(self, group: dict[str, Any]) -> tuple[Any, ...]:
        raise NotImplementedError

    def _scratch_count(self, group: dict[str, Any]) -> int:
        return 2

    def _apply(
        self, xp: Any, param: Any, grad: Any, arrays: list[Any], scratch: list[Any], step: float, options: Any
    ) -> None:
        raise NotImplementedError

    def _update_group(self, group: dict[str, Any]) -> None:
        """One step for every parameter of the group that has a gradient."""
        state = self.state
        params = []
        for p in group["params"]:
            if p._grad is None:
                continue
            param_state = state[p]
            if not param_state:
                self._init_state(p, group, param_state)
            params.append(p)
        if not params:
            return
        keys = self._state_keys(group) + self._scalar_keys
        options = self._options(group)
        plan = self._flat_plan(group, params, keys)
        if plan is not None:
            step = plan.load()
            self._apply(plan.xp, plan.param, plan.grad, plan.arrays, plan.scratch, step, options)
            plan.store()
            return
        scratch_count = self._scratch_count(group)
        for p in params:
            param_state = state[p]
            step = count_step(param_state["step"]) if self._has_step else 0.0
            data = p._data
            arrays = [param_state[key]._data for key in keys]
            self._apply(
                xp_of(data), data, p._grad._data, arrays, self._buffers(p, scratch_count), step, options
            )
            bump_version(p)

    def _flat_plan(self, group: dict[str, Any], params: list[Tensor], keys: tuple[str, ...]) -> Any:
        """The group's valid FlatGroup (built or rebuilt as needed), or None for the per-param path."""
        plan = self._flat.get(id(group))
        scratch_count = self._scratch_count(group)  # options (maximize...) may change it
        if plan is not None and len(plan.scratch) >= scratch_count and plan.matches(params, self.state):
            return plan
        scalar_keys = self._scalar_keys
        array_keys = keys[: len(keys) - len(scalar_keys)]
        plan = FlatGroup.build(params, self.state, array_keys, scalar_keys, self._has_step, scratch_count)
        self._flat[id(group)] = plan
        return plan

    def _buffers(self, p: Tensor, count: int) -> list[Any]:
        """`count` scratch arrays shaped like `p`: views of buffers shared by all parameters of
        one dtype and device, grown to the largest (as torch's temporaries, they cost the size
        of the largest parameter, not of the model)."""
        data = p._data
        size = data.size
        key = (data.dtype, p._device)
        pool = self._scratch.get(key)
        if pool is None or len(pool) < count or pool[0].size < size:
            xp = xp_of(data)
            size_needed = max(size, pool[0].size if pool else 0)
            pool = [xp.empty(size_needed, data.dtype) for _ in range(max(count, len(pool or ())))]
            self._scratch[key] = pool
        shape = data.shape
        return [buffer[:size].reshape(shape) for buffer in pool[:count]]

    # ---- state_dict ------------------------------------------------------------------
    def state_dict(self) -> StateDict:
        """torch's format: state keyed by parameter index, groups listing parameter indices.

        As in torch the state tensors are returned by reference (save them to keep a snapshot).
        """
        index_of: dict[int, int] = {}
        start = 0

        def pack_group(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start
            packed = {key: value for key, value in group.items() if key != "params"}
            for offset, p in enumerate(group["params"], start):
                index_of.setdefault(id(p), offset)
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack_group(group) for group in self.param_groups]
        packed_state = {
            (index_of[id(key)] if isinstance(key, Tensor) else key): value
            for key, value in self.state.items()
        }
        return {"state": packed_state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: StateDict) -> None:
        """Load a `state_dict()`; tensors are copied onto each parameter's device and dtype."""
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                param = id_map[key]
                state[param] = _cast_state(param, value)
            else:
                state[key] = copy.deepcopy(value)

        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.__setstate__({"state": state, "param_groups": saved_groups})


def _split_named_params(param_group: dict[str, Any]) -> None:
    """Accept `named_parameters()` pairs: keep the tensors in 'params', the names in 'param_names'."""
    tensors, names = [], []
    for param in param_group["params"]:
        if isinstance(param, tuple):
            names.append(param[0])
            tensors.append(param[1])
        else:
            tensors.append(param)
    param_group["params"] = tensors
    if names:
        if len(names) != len(tensors):
            raise ValueError(
                "all optimizer params should be with/without names. Some param names are missing"
            )
        param_group["param_names"] = names


def _cast_state(param: Tensor, value: Any, key: Any = None) -> Any:
    """Deep-copy a saved state value; float tensors follow the parameter's dtype and device.

    'step' stays a cpu scalar of its own dtype (torch's policy, issue #74424).
    """
    if isinstance(value, Tensor):
        data = value._data
        if key == "step":
            return wrap(move_array(data, value._device).copy())
        data = move_array(data, param._device)
        if param._data.dtype.kind in "fV" and data.dtype.kind in "fV":
            data = data.astype(param._data.dtype, copy=True)
        else:
            data = data.copy()
        return wrap(data, device=param._device)
    if isinstance(value, dict):
        return {k: _cast_state(param, v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, v) for v in value)
    return copy.deepcopy(value)


def group_lr(group: dict[str, Any]) -> float:
    """The group's learning rate as a Python float (torch also accepts a 1-element tensor)."""
    lr = group["lr"]
    return lr.item() if isinstance(lr, Tensor) else lr


def check_hyper(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def validate_lr(lr: Any) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    check_hyper(0.0 <= lr, f"Invalid learning rate: {lr}")  # noqa: SIM300 - torch's order, its TypeError


def validate_betas(betas: Iterable[float]) -> tuple[float, float]:
    beta1, beta2 = betas
    check_hyper(0.0 <= beta1 < 1.0, f"Invalid beta parameter at index 0: {beta1}")
    check_hyper(0.0 <= beta2 < 1.0, f"Invalid beta parameter at index 1: {beta2}")
    return beta1, beta2
