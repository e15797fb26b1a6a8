"""Stochastic gradient descent, optionally with (Nesterov) momentum: torch.optim.SGD."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from antorcha._device import xp_of
from antorcha._tensor import wrap
from antorcha.optim import _functional as F
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

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns the closure's loss, if any."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        lr = group_lr(group)
        momentum = group["momentum"]
        dampening, nesterov = group["dampening"], group["nesterov"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        state = self.state
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            t1, t2 = self._buffers(p, 2)
            data = p._data
            if momentum != 0:
                param_state = state[p]
                held = param_state.get("momentum_buffer")
                buffer = F.sgd_param(
                    xp_of(data), data, grad._data, None if held is None else held._data, t1, t2,
                    lr, momentum, dampening, nesterov, weight_decay, maximize,
                )  # fmt: skip
                if held is None:
                    param_state["momentum_buffer"] = wrap(buffer, device=p._device)
            else:
                F.sgd_param(
                    xp_of(data), data, grad._data, None, t1, t2,
                    lr, 0, dampening, nesterov, weight_decay, maximize,
                )  # fmt: skip
            bump_version(p)
