"""NAdam: Adam with Nesterov momentum (torch.optim.NAdam)."""

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

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """Adam whose first moment looks one step ahead, with the momentum-decay schedule of Dozat."""

    def __init__(
        self,
        params: Any,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        validate_lr(lr)
        check_hyper(0.0 <= eps, f"Invalid epsilon value: {eps}")
        validate_betas(betas)
        check_hyper(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        check_hyper(0.0 <= momentum_decay, f"Invalid momentum_decay value: {momentum_decay}")
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns the closure's loss, if any."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        lr = group_lr(group)
        beta1, beta2 = group["betas"]
        eps, weight_decay = group["eps"], group["weight_decay"]
        momentum_decay, maximize = group["momentum_decay"], group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        reshaped_grad = (weight_decay != 0 and not decoupled) or maximize
        state = self.state
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            param_state = state[p]
            if not param_state:
                param_state["step"] = new_scalar_state(0.0)
                param_state["mu_product"] = new_scalar_state(1.0)
                param_state["exp_avg"] = zeros_state(p)
                param_state["exp_avg_sq"] = zeros_state(p)
            step_array = param_state["step"]._data
            step_array += 1
            buffers = self._buffers(p, 3 if reshaped_grad else 2)
            data = p._data
            F.nadam_param(
                xp_of(data), data, grad._data,
                param_state["exp_avg"]._data, param_state["exp_avg_sq"]._data,
                param_state["mu_product"]._data,
                buffers[0], buffers[1], buffers[2] if reshaped_grad else None,
                float(step_array), lr, beta1, beta2, eps, weight_decay, momentum_decay, decoupled, maximize,
            )  # fmt: skip
            bump_version(p)
