"""Rprop: resilient backpropagation, per-weight step sizes driven by gradient signs (torch.optim.Rprop)."""

from __future__ import annotations

from typing import Any

from antorcha._tensor import Tensor
from antorcha.optim import _functional as kernels
from antorcha.optim.optimizer import (
    Optimizer,
    full_state,
    group_lr,
    new_scalar_state,
    validate_lr,
    zeros_state,
)

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """step_size *= etaplus (same sign) or etaminus (flip), clamped; p -= sign(g) * step_size."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        validate_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {
            "lr": lr,
            "etas": etas,
            "step_sizes": step_sizes,
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

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("prev", "step_size")

    def _init_state(self, p: Tensor, group: dict[str, Any], param_state: dict[str, Any]) -> None:
        param_state["step"] = new_scalar_state(0.0)
        param_state["prev"] = zeros_state(p)
        param_state["step_size"] = full_state(p, group_lr(group))  # the group's lr when first stepped

    def _options(self, group: dict[str, Any]) -> tuple[Any, ...]:
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        return (step_size_min, step_size_max, etaminus, etaplus, group["maximize"])

    def _apply(
        self, xp: Any, param: Any, grad: Any, arrays: list[Any], scratch: list[Any], step: float, options: Any
    ) -> None:
        kernels.rprop_param(xp, param, grad, arrays[0], arrays[1], scratch[0], scratch[1], *options)
