"""Adamax: Adam with the infinity norm (torch.optim.Adamax)."""

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
    validate_betas,
    validate_lr,
    zeros_state,
)

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """exp_inf = max(beta2 * exp_inf, |g| + eps); p -= lr / (1 - beta1^t) * exp_avg / exp_inf."""

    def __init__(
        self,
        params: Any,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        validate_lr(lr)
        check_hyper(0.0 <= eps, f"Invalid epsilon value: {eps}")
        validate_betas(betas)
        check_hyper(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
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
        beta1, beta2 = group["betas"]
        eps, weight_decay, maximize = group["eps"], group["weight_decay"], group["maximize"]
        state = self.state
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            param_state = state[p]
            if not param_state:
                param_state["step"] = new_scalar_state(0.0)
                param_state["exp_avg"] = zeros_state(p)
                param_state["exp_inf"] = zeros_state(p)
            step_array = param_state["step"]._data
            step_array += 1
            t1, t2 = self._buffers(p, 2)
            data = p._data
            F.adamax_param(
                xp_of(data), data, grad._data,
                param_state["exp_avg"]._data, param_state["exp_inf"]._data,
                t1, t2, float(step_array), lr, beta1, beta2, eps, weight_decay, maximize,
            )  # fmt: skip
            bump_version(p)
