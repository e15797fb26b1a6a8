"""Adadelta (torch.optim.Adadelta)."""

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

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """E[g^2] and E[dx^2] as running averages; p -= lr * sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g."""

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        validate_lr(lr)
        check_hyper(0.0 <= rho <= 1.0, f"Invalid rho value: {rho}")
        check_hyper(eps >= 0.0, f"Invalid epsilon value: {eps}")
        check_hyper(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "capturable": capturable,
            "foreach": foreach,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    _setstate_group_defaults = {
        "foreach": None,
        "maximize": False,
        "differentiable": False,
        "capturable": False,
    }

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("square_avg", "acc_delta")

    def _init_state(self, p: Tensor, group: dict[str, Any], param_state: dict[str, Any]) -> None:
        param_state["step"] = new_scalar_state(0.0)
        param_state["square_avg"] = zeros_state(p)
        param_state["acc_delta"] = zeros_state(p)

    def _options(self, group: dict[str, Any]) -> tuple[Any, ...]:
        return (group_lr(group), group["rho"], group["eps"], group["weight_decay"], group["maximize"])

    def _scratch_count(self, group: dict[str, Any]) -> int:
        return 3 if group["weight_decay"] != 0 or group["maximize"] else 2

    def _apply(
        self, xp: Any, param: Any, grad: Any, arrays: list[Any], scratch: list[Any], step: float, options: Any
    ) -> None:
        t3 = scratch[2] if len(scratch) > 2 else None
        kernels.adadelta_param(xp, param, grad, arrays[0], arrays[1], scratch[0], scratch[1], t3, *options)
