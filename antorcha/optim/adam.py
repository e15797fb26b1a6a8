"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW)."""

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

__all__ = ["Adam", "AdamW"]


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, Tensor) else value


def validate_adam(lr: Any, betas: tuple[Any, Any], eps: float, weight_decay: float) -> None:
    """torch's checks of Adam's hyper-parameters, in torch's order and words."""
    validate_lr(lr)
    check_hyper(eps >= 0.0, f"Invalid epsilon value: {eps}")
    validate_betas(betas)
    check_hyper(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
    both_floats = isinstance(betas[0], float) and isinstance(betas[1], float)
    both_tensors = isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor)
    check_hyper(both_floats or both_tensors, "betas must be either both floats or both Tensors")


class Adam(Optimizer):
    """Adam (Kingma & Ba), with AMSGrad, L2 or decoupled weight decay, and maximize."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        validate_adam(lr, betas, eps, weight_decay)
        defaults = {
            "lr": lr,
            "betas": tuple(map(_scalar, betas)),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    _setstate_group_defaults = {
        "amsgrad": False,
        "maximize": False,
        "foreach": None,
        "capturable": False,
        "differentiable": False,
        "decoupled_weight_decay": False,
        "fused": None,
    }

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        if group["amsgrad"]:
            return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        return ("exp_avg", "exp_avg_sq")

    def _init_state(self, p: Tensor, group: dict[str, Any], param_state: dict[str, Any]) -> None:
        param_state["step"] = new_scalar_state(0.0)
        param_state["exp_avg"] = zeros_state(p)
        param_state["exp_avg_sq"] = zeros_state(p)
        if group["amsgrad"]:
            param_state["max_exp_avg_sq"] = zeros_state(p)

    def _options(self, group: dict[str, Any]) -> tuple[Any, ...]:
        beta1, beta2 = group["betas"]
        decoupled = group.get("decoupled_weight_decay", False)
        return (
            group_lr(group),
            beta1,
            beta2,
            group["eps"],
            group["weight_decay"],
            decoupled,
            group["maximize"],
        )

    def _apply(
        self, xp: Any, param: Any, grad: Any, arrays: list[Any], scratch: list[Any], step: float, options: Any
    ) -> None:
        max_exp_avg_sq = arrays[2] if len(arrays) > 2 else None
        kernels.adam_param(
            xp, param, grad, arrays[0], arrays[1], max_exp_avg_sq, scratch[0], scratch[1], step, *options
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * weight_decay first."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
