"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from antorcha._device import xp_of
from antorcha._tensor import Tensor
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

__all__ = ["Adam", "AdamW"]


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, Tensor) else value


def validate_adam(lr: Any, betas: tuple[Any, Any], eps: float, weight_decay: float) -> None:
    """torch's checks of Adam's hyper-parameters, in torch's order and words."""
    validate_lr(lr)
    check_hyper(0.0 <= eps, f"Invalid epsilon value: {eps}")
    validate_betas(betas)
    check_hyper(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
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

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("fused", None)

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
        amsgrad, maximize = group["amsgrad"], group["maximize"]
        decoupled = group.get("decoupled_weight_decay", False)
        state = self.state
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            param_state = state[p]
            if not param_state:
                param_state["step"] = new_scalar_state(0.0)
                param_state["exp_avg"] = zeros_state(p)
                param_state["exp_avg_sq"] = zeros_state(p)
                if amsgrad:
                    param_state["max_exp_avg_sq"] = zeros_state(p)
            step_array = param_state["step"]._data
            step_array += 1
            t1, t2 = self._buffers(p, 2)
            data = p._data
            F.adam_param(
                xp_of(data), data, grad._data,
                param_state["exp_avg"]._data, param_state["exp_avg_sq"]._data,
                param_state["max_exp_avg_sq"]._data if amsgrad else None,
                t1, t2, float(step_array), lr, beta1, beta2, eps, weight_decay, decoupled, maximize,
            )  # fmt: skip
            bump_version(p)


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
