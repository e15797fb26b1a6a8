"""ASGD: averaged stochastic gradient descent (torch.optim.ASGD)."""

from __future__ import annotations

from typing import Any

from antorcha._tensor import Tensor
from antorcha.optim import _functional as kernels
from antorcha.optim.optimizer import (
    Optimizer,
    check_hyper,
    group_lr,
    new_scalar_state,
    scalar_state_dtype,
    validate_lr,
    zeros_state,
)

__all__ = ["ASGD"]


class ASGD(Optimizer):
    """p = p * (1 - lambd * eta) - eta * g; ax averages p once step > t0; eta = lr (1 + lambd lr t)^-alpha."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        validate_lr(lr)
        check_hyper(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    _setstate_group_defaults = {
        "foreach": None,
        "maximize": False,
        "differentiable": False,
        "capturable": False,
    }

    # 0-dim states, shared by a flattened group (they depend on the step count only)
    _scalar_keys = ("eta", "mu")

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("ax",)

    def _init_state(self, p: Tensor, group: dict[str, Any], param_state: dict[str, Any]) -> None:
        param_state["step"] = new_scalar_state(0.0)
        param_state["eta"] = new_scalar_state(group_lr(group))
        param_state["mu"] = new_scalar_state(1.0)
        param_state["ax"] = zeros_state(p)

    def _options(self, group: dict[str, Any]) -> tuple[Any, ...]:
        return (
            group_lr(group), group["lambd"], group["alpha"], group["t0"], group["weight_decay"],
            group["maximize"], scalar_state_dtype(),
        )  # fmt: skip

    def _apply(
        self, xp: Any, param: Any, grad: Any, arrays: list[Any], scratch: list[Any], step: float, options: Any
    ) -> None:
        ax, eta, mu = arrays
        kernels.asgd_param(xp, param, grad, ax, eta, mu, scratch[0], scratch[1], step, *options)
