"""Adagrad (torch.optim.Adagrad)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from antorcha._device import xp_of
from antorcha.optim import _functional as F
from antorcha.optim.optimizer import (
    Optimizer,
    bump_version,
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
        check_hyper(0.0 <= lr_decay, f"Invalid lr_decay value: {lr_decay}")
        check_hyper(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        check_hyper(
            0.0 <= initial_accumulator_value,
            f"Invalid initial_accumulator_value value: {initial_accumulator_value}",
        )
        check_hyper(0.0 <= eps, f"Invalid epsilon value: {eps}")
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
                self._init_state(p)

    def _init_state(self, p: Any) -> None:
        # torch takes the constructor's initial_accumulator_value, not the group's
        param_state = self.state[p]
        param_state["step"] = new_scalar_state(0.0)
        param_state["sum"] = full_state(p, self.defaults["initial_accumulator_value"])

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)

    def share_memory(self) -> None:
        """torch moves 'sum' to shared memory for multiprocessing; NumPy arrays need nothing."""

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns the closure's loss, if any."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        lr = group_lr(group)
        lr_decay, eps = group["lr_decay"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        state = self.state
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            param_state = state[p]
            if not param_state:
                self._init_state(p)
            step_array = param_state["step"]._data
            step_array += 1
            t1, t2 = self._buffers(p, 2)
            data = p._data
            F.adagrad_param(
                xp_of(data), data, grad._data, param_state["sum"]._data, t1, t2,
                float(step_array), lr, lr_decay, eps, weight_decay, maximize,
            )  # fmt: skip
            bump_version(p)
