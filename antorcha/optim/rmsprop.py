"""RMSprop, optionally centered and with momentum (torch.optim.RMSprop)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from antorcha._device import xp_of
from antorcha.optim import _functional as F
from antorcha.optim.optimizer import (
    Optimizer,
    bump_version,
    check_hyper,
    group_lr,
    new_scalar_state,
    validate_lr,
    zeros_state,
)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """p -= lr * g / (sqrt(E[g^2] (- E[g]^2 if centered)) + eps), through a momentum buffer if any."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        validate_lr(lr)
        check_hyper(0.0 <= eps, f"Invalid epsilon value: {eps}")
        check_hyper(0.0 <= momentum, f"Invalid momentum value: {momentum}")
        check_hyper(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        check_hyper(0.0 <= alpha, f"Invalid alpha value: {alpha}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns the closure's loss, if any."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        lr = group_lr(group)
        alpha, eps = group["alpha"], group["eps"]
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        centered, maximize = group["centered"], group["maximize"]
        reshaped_grad = weight_decay != 0 or maximize
        state = self.state
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            param_state = state[p]
            if not param_state:
                param_state["step"] = new_scalar_state(0.0)
                param_state["square_avg"] = zeros_state(p)
                if momentum > 0:
                    param_state["momentum_buffer"] = zeros_state(p)
                if centered:
                    param_state["grad_avg"] = zeros_state(p)
            param_state["step"]._data += 1
            buffers = self._buffers(p, 3 if reshaped_grad else 2)
            data = p._data
            F.rmsprop_param(
                xp_of(data), data, grad._data, param_state["square_avg"]._data,
                param_state["grad_avg"]._data if centered else None,
                param_state["momentum_buffer"]._data if momentum > 0 else None,
                buffers[0], buffers[1], buffers[2] if reshaped_grad else None,
                lr, alpha, eps, weight_decay, momentum, maximize,
            )  # fmt: skip
            bump_version(p)
