"""The foreach-style fast path: a whole param group updated by one kernel call.

For small parameters an update is dominated by the fixed cost of each ufunc call, not by
the arithmetic (a 10x16 Adam update is a dozen ufunc calls on tiny arrays). `FlatGroup` lays the
group's state end to end in one flat array per state key (the per-parameter state Tensors
become views of it, so `optimizer.state[p]` and `state_dict()` are unchanged), copies the
gradients and parameters into flat buffers, runs the same kernel once on the flat arrays
and copies the parameters back. Elementwise IEEE operations do not depend on the layout,
so the result is bit-for-bit the per-parameter result, with one set of calls per group
instead of one per parameter.

A plan is only built when it is exact and cheap: all parameters with a gradient share
dtype and device, their 'step' counts (and scalar states such as NAdam's 'mu_product')
are equal, and the group is small enough that call overhead dominates. It is checked on
every step (the same parameters, arrays and state tensors) and rebuilt when stale.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._tensor import Tensor

# Above this many elements per group the arithmetic dominates and the extra copies of the
# parameters and gradients (and the flat buffers' memory) would cost more than the saved
# calls. A CUDA kernel launch costs much more than a NumPy call, hence the larger limit there.
FLAT_MAX_NUMEL = 1 << 18
FLAT_MAX_NUMEL_CUDA = 1 << 22


class FlatGroup:
    """The flat buffers and views of one param group (see the module docstring)."""

    __slots__ = (
        "arrays",
        "dtype",
        "entries",
        "grad",
        "grad_views",
        "param",
        "param_views",
        "params",
        "scalar_arrays",
        "scratch",
        "steps",
        "xp",
    )

    def __init__(self) -> None:
        self.params: list[Tensor] = []

    @classmethod
    def build(
        cls,
        params: list[Tensor],
        state: dict[Tensor, dict[str, Any]],
        keys: tuple[str, ...],
        scalar_keys: tuple[str, ...],
        has_step: bool,
        scratch_count: int,
    ) -> FlatGroup | None:
        """A plan for `params` (all with a gradient and initialised state), or None if not exact."""
        if len(params) < 2 or len({id(p) for p in params}) != len(params):
            return None  # (a repeated parameter is updated twice per step, as in torch)
        first = params[0]._data
        xp = xp_of(first)
        sizes = [p._data.size for p in params]
        total = sum(sizes)
        if total > (FLAT_MAX_NUMEL if xp is np else FLAT_MAX_NUMEL_CUDA):
            return None
        if not _compatible(params, state, keys, scalar_keys, has_step):
            return None
        plan = cls()
        plan.xp, plan.dtype, plan.params = xp, first.dtype, list(params)
        plan.param = xp.empty(total, first.dtype)
        plan.grad = xp.empty(total, first.dtype)
        plan.scratch = [xp.empty(total, first.dtype) for _ in range(scratch_count)]
        plan.param_views = _views(plan.param, params, sizes)
        plan.grad_views = _views(plan.grad, params, sizes)
        plan.arrays = []
        per_param_views: list[list[Any]] = [[] for _ in params]
        for key in keys:
            flat = xp.empty(total, first.dtype)
            for index, (p, view) in enumerate(zip(params, _views(flat, params, sizes))):
                holder = state[p][key]
                view[...] = holder._data
                holder._data = view  # the state Tensor now reads and writes the flat buffer
                per_param_views[index].append(view)
            plan.arrays.append(flat)
        tracked = (*scalar_keys, "step") if has_step else scalar_keys
        plan.entries = [
            (state[p], (*zip(keys, views), *((key, state[p][key]._data) for key in tracked)))
            for p, views in zip(params, per_param_views)
        ]
        plan.scalar_arrays = [[state[p][key]._data for p in params] for key in scalar_keys]
        plan.arrays.extend(holders[0] for holders in plan.scalar_arrays)
        plan.steps = [state[p]["step"] for p in params] if has_step else []
        return plan

    def matches(self, params: list[Tensor], state: dict[Tensor, dict[str, Any]]) -> bool:
        """Still valid: the same parameters, shapes and dtype, and the state still our views."""
        if len(params) != len(self.params):
            return False
        dtype = self.dtype
        for p, mine, view, (param_state, entries) in zip(params, self.params, self.param_views, self.entries):
            data = p._data
            if p is not mine or data.dtype != dtype or data.shape != view.shape:
                return False
            if state.get(p) is not param_state:
                return False
            for key, array in entries:
                holder = param_state.get(key)
                if holder is None or holder._data is not array:
                    return False
        return True

    def load(self) -> float:
        """Copy the gradients and parameters in; count one step; return the step number."""
        copyto = self.xp.copyto
        for p, param_view, grad_view in zip(self.params, self.param_views, self.grad_views):
            copyto(grad_view, p._grad._data)
            copyto(param_view, p._data)
        step = 0.0
        for step_tensor in self.steps:
            data = step_tensor._data
            data[()] = float(data) + 1
            step = float(data)
        return step

    def store(self) -> None:
        """Copy the updated parameters out (in place) and share the scalar states."""
        copyto = self.xp.copyto
        for p, param_view in zip(self.params, self.param_views):
            copyto(p._data, param_view)
            p._bump_version()
        for holders in self.scalar_arrays:
            value = holders[0]
            for other in holders[1:]:
                other[()] = value


def _views(flat: Any, params: list[Tensor], sizes: list[int]) -> list[Any]:
    views, offset = [], 0
    for p, size in zip(params, sizes):
        views.append(flat[offset : offset + size].reshape(p._data.shape))
        offset += size
    return views


def _compatible(
    params: list[Tensor],
    state: dict[Tensor, dict[str, Any]],
    keys: tuple[str, ...],
    scalar_keys: tuple[str, ...],
    has_step: bool,
) -> bool:
    """Same dtype and device everywhere, state arrays shaped like their parameter, equal scalars."""
    first = params[0]
    dtype, device = first._data.dtype, first._device
    reference = state[first]
    for p in params:
        data, param_state = p._data, state[p]
        if data.dtype != dtype or p._device != device or p._grad._data.shape != data.shape:
            return False
        for key in keys:
            holder = param_state.get(key)
            if holder is None or holder._device != device:
                return False
            if holder._data.shape != data.shape or holder._data.dtype != dtype:
                return False
        for key in scalar_keys if not has_step else (*scalar_keys, "step"):
            if float(param_state[key]._data) != float(reference[key]._data):
                return False
    return True
