"""NAdam: Adam with Nesterov momentum (torch.optim.NAdam)."""

from __future__ import annotations

from typing import Any

from antorcha._tensor import Tensor
from antorcha.optim import _functional as kernels
from antorcha.optim.optimizer import (
    Optimizer,
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
        check_hyper(eps >= 0.0, f"Invalid epsilon value: {eps}")
        validate_betas(betas)
        check_hyper(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        check_hyper(momentum_decay >= 0.0, f"Invalid momentum_decay value: {momentum_decay}")
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

    _setstate_group_defaults = {
        "maximize": False,
        "foreach": None,
        "capturable": False,
        "differentiable": False,
        "decoupled_weight_decay": False,
    }

    _scalar_keys = ("mu_product",)

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def _init_state(self, p: Tensor, group: dict[str, Any], param_state: dict[str, Any]) -> None:
        param_state["step"] = new_scalar_state(0.0)
        param_state["mu_product"] = new_scalar_state(1.0)
        param_state["exp_avg"] = zeros_state(p)
        param_state["exp_avg_sq"] = zeros_state(p)

    def _options(self, group: dict[str, Any]) -> tuple[Any, ...]:
        beta1, beta2 = group["betas"]
        return (
            group_lr(group), beta1, beta2, group["eps"], group["weight_decay"], group["momentum_decay"],
            group["decoupled_weight_decay"], group["maximize"],
        )  # fmt: skip

    def _scratch_count(self, group: dict[str, Any]) -> int:
        decoupled = group["decoupled_weight_decay"]
        return 3 if (group["weight_decay"] != 0 and not decoupled) or group["maximize"] else 2

    def _apply(
        self, xp: Any, param: Any, grad: Any, arrays: list[Any], scratch: list[Any], step: float, options: Any
    ) -> None:
        t3 = scratch[2] if len(scratch) > 2 else None
        kernels.nadam_param(
            xp, param, grad, arrays[0], arrays[1], arrays[2], scratch[0], scratch[1], t3, step, *options
        )
