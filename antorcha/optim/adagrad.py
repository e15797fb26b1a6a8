"""Adagrad (torch.optim.Adagrad)."""

from __future__ import annotations

from typing import Any

from antorcha._tensor import Tensor
from antorcha.optim import _functional as kernels
from antorcha.optim.optimizer import (
    Optimizer,
    check_hyper,
    full_state,
    group_lr,
    new_scalar_state,
    validate_lr,
)

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """sum += g^2; p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        validate_lr(lr)
        check_hyper(lr_decay >= 0.0, f"Invalid lr_decay value: {lr_decay}")
        check_hyper(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        check_hyper(
            initial_accumulator_value >= 0.0,
            f"Invalid initial_accumulator_value value: {initial_accumulator_value}",
        )
        check_hyper(eps >= 0.0, f"Invalid epsilon value: {eps}")
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        # Unlike the other optimizers, torch creates Adagrad's state eagerly, for every parameter.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group, self.state[p])

    _setstate_group_defaults = {"foreach": None, "maximize": False, "differentiable": False, "fused": None}

    def share_memory(self) -> None:
        """torch moves 'sum' to shared memory for multiprocessing; NumPy arrays need nothing."""

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("sum",)

    def _init_state(self, p: Tensor, group: dict[str, Any], param_state: dict[str, Any]) -> None:
        # torch takes the constructor's initial_accumulator_value, not the group's
        param_state["step"] = new_scalar_state(0.0)
        param_state["sum"] = full_state(p, self.defaults["initial_accumulator_value"])

    def _options(self, group: dict[str, Any]) -> tuple[Any, ...]:
        return (group_lr(group), group["lr_decay"], group["eps"], group["weight_decay"], group["maximize"])

    def _apply(
        self, xp: Any, param: Any, grad: Any, arrays: list[Any], scratch: list[Any], step: float, options: Any
    ) -> None:
        kernels.adagrad_param(xp, param, grad, arrays[0], scratch[0], scratch[1], step, *options)
