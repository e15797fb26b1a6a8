"""RMSprop, optionally centered and with momentum (torch.optim.RMSprop)."""

from __future__ import annotations

from typing import Any

from antorcha._tensor import Tensor
from antorcha.optim import _functional as kernels
from antorcha.optim.optimizer import (
    Optimizer,
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
        check_hyper(eps >= 0.0, f"Invalid epsilon value: {eps}")
        check_hyper(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        check_hyper(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        check_hyper(alpha >= 0.0, f"Invalid alpha value: {alpha}")
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

    _setstate_group_defaults = {
        "momentum": 0,
        "centered": False,
        "foreach": None,
        "maximize": False,
        "differentiable": False,
        "capturable": False,
    }

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        keys = ("square_avg",)
        if group["centered"]:
            keys += ("grad_avg",)
        if group["momentum"] > 0:
            keys += ("momentum_buffer",)
        return keys

    def _init_state(self, p: Tensor, group: dict[str, Any], param_state: dict[str, Any]) -> None:
        param_state["step"] = new_scalar_state(0.0)
        param_state["square_avg"] = zeros_state(p)
        if group["momentum"] > 0:
            param_state["momentum_buffer"] = zeros_state(p)
        if group["centered"]:
            param_state["grad_avg"] = zeros_state(p)

    def _options(self, group: dict[str, Any]) -> tuple[Any, ...]:
        centered, momentum = group["centered"], group["momentum"]
        return (
            centered, momentum > 0,
            group_lr(group), group["alpha"], group["eps"], group["weight_decay"], momentum, group["maximize"],
        )  # fmt: skip

    def _scratch_count(self, group: dict[str, Any]) -> int:
        return 3 if group["weight_decay"] != 0 or group["maximize"] else 2

    def _apply(
        self, xp: Any, param: Any, grad: Any, arrays: list[Any], scratch: list[Any], step: float, options: Any
    ) -> None:
        centered, has_momentum = options[0], options[1]
        grad_avg = arrays[1] if centered else None
        momentum_buffer = arrays[-1] if has_momentum else None
        t3 = scratch[2] if len(scratch) > 2 else None
        kernels.rmsprop_param(
            xp, param, grad, arrays[0], grad_avg, momentum_buffer, scratch[0], scratch[1], t3, *options[2:]
        )
