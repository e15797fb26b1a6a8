"""Stochastic gradient descent, optionally with (Nesterov) momentum: torch.optim.SGD."""

from __future__ import annotations

from typing import Any

from antorcha._device import xp_of
from antorcha._tensor import wrap
from antorcha.optim import _functional as kernels
from antorcha.optim.optimizer import Optimizer, bump_version, group_lr, validate_lr

__all__ = ["SGD"]


class SGD(Optimizer):
    """p -= lr * g, with g the gradient plus L2 decay, through a momentum buffer when momentum > 0."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        validate_lr(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    _setstate_group_defaults = {
        "nesterov": False,
        "maximize": False,
        "foreach": None,
        "differentiable": False,
        "fused": False,
    }

    _has_step = False

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",)

    def _options(self, group: dict[str, Any]) -> tuple[Any, ...]:
        return (
            group_lr(group), group["momentum"], group["dampening"], group["nesterov"],
            group["weight_decay"], group["maximize"],
        )  # fmt: skip

    def _apply(
        self, xp: Any, param: Any, grad: Any, arrays: list[Any], scratch: list[Any], step: float, options: Any
    ) -> None:
        kernels.sgd_param(xp, param, grad, arrays[0], scratch[0], scratch[1], *options)

    def _update_group(self, group: dict[str, Any]) -> None:
        """With momentum buffers in place, the shared (flattenable) path; else the first-step path."""
        momentum = group["momentum"]
        if momentum != 0:
            state = self.state
            ready = True
            for p in group["params"]:
                if p._grad is not None and "momentum_buffer" not in state[p]:
                    ready = False
            if ready:
                super()._update_group(group)
                return
        self._first_steps(group)

    def _first_steps(self, group: dict[str, Any]) -> None:
        """Per parameter: no state without momentum; a momentum buffer starts as a copy of the grad."""
        options = self._options(group)
        momentum = group["momentum"]
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            data = p._data
            scratch = self._buffers(p, 2)
            if momentum == 0:
                kernels.sgd_param(xp_of(data), data, grad._data, None, scratch[0], scratch[1], *options)
            else:
                param_state = self.state[p]
                held = param_state.get("momentum_buffer")
                buffer = kernels.sgd_param(
                    xp_of(data), data, grad._data, None if held is None else held._data, *scratch, *options
                )
                if held is None:
                    param_state["momentum_buffer"] = wrap(buffer, device=p._device)
            bump_version(p)
