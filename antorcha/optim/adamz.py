"""AdamZ: Adam plus two learning-rate rules driven by the loss history.

From "AdamZ: An Enhanced Optimisation Method for Neural Network Training" (Zaznov, Kunkel,
Dufour, Badii; arXiv 2411.15375), matching its authors' package `adamz` (0.1.0):

* a loss history of the last `patience` losses, and a stagnation history of the last
  `min(stagnation_period, patience)` losses, both appended before any rule is tested;
* once the history is full, *overshoot*: the current loss is >= every loss in the history
  -> lr *= overshoot_factor;
* once the history is full, *stagnation*: the population std (NumPy's `np.std`, ddof=0) of
  the stagnation history is < stagnation_threshold * the std of the whole history
  -> lr *= stagnation_factor (both rules may fire on one step);
* then every group's lr is clamped to [min_lr, max_lr];
* all of this happens before the Adam update of the same step, which then uses the new lr.

The loss reaches AdamZ through `step(closure)` or `step(loss=...)`. Without one AdamZ is
plain Adam; it says so once.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from antorcha.optim.adam import Adam, validate_adam
from antorcha.optim.optimizer import Optimizer, StateDict

__all__ = ["AdamZ"]


class AdamZ(Adam):
    """Adam with overshoot and stagnation learning-rate adjustments (adamz.AdamZ)."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        overshoot_factor: float = 0.5,
        stagnation_factor: float = 1.2,
        stagnation_threshold: float = 0.2,
        patience: int = 100,
        stagnation_period: int = 10,
        min_lr: float = 1e-7,
        max_lr: float = 1.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        validate_adam(lr, betas, eps, weight_decay)
        _validate_rules(
            overshoot_factor, stagnation_factor, stagnation_threshold, patience, stagnation_period,
            min_lr, max_lr,
        )  # fmt: skip
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "overshoot_factor": overshoot_factor,
            "stagnation_factor": stagnation_factor,
            "stagnation_threshold": stagnation_threshold,
            "patience": patience,
            "stagnation_period": stagnation_period,
            "min_lr": min_lr,
            "max_lr": max_lr,
        }
        Optimizer.__init__(self, params, defaults)  # adamz's groups have no decoupled_weight_decay
        self.patience = patience
        self.overshoot_factor = overshoot_factor
        self.stagnation_factor = stagnation_factor
        self.stagnation_threshold = stagnation_threshold
        self.min_lr = min_lr
        self.max_lr = max_lr
        self.loss_history: deque[float] = deque(maxlen=patience)
        self.stagnation_history: deque[float] = deque(maxlen=min(stagnation_period, patience))
        self._warned_no_loss = False

    _setstate_group_defaults = {"amsgrad": False, "maximize": False}

    def adjust_learning_rate(self, current_loss: float) -> None:
        """Record the loss and apply the overshoot and stagnation rules, then clamp the lr."""
        self.loss_history.append(current_loss)
        self.stagnation_history.append(current_loss)
        full = len(self.loss_history) >= self.patience
        overshoot = full and current_loss >= max(self.loss_history)
        stagnation = full and bool(
            np.std(self.stagnation_history) < self.stagnation_threshold * np.std(self.loss_history)
        )
        for group in self.param_groups:
            if overshoot:
                group["lr"] *= self.overshoot_factor
            if stagnation:
                group["lr"] *= self.stagnation_factor
            group["lr"] = max(self.min_lr, min(group["lr"], self.max_lr))

    def step(self, closure: Callable[[], Any] | None = None, loss: Any = None) -> Any:
        """Adjust the lr from the closure's loss (or `loss=`), then take an Adam step.

        Returns the closure's loss, or the given `loss`.
        """
        if closure is not None:
            loss = self._evaluate(closure)
        if loss is not None:
            self.adjust_learning_rate(float(loss))
        elif not self._warned_no_loss and not self.loss_history:
            self._warned_no_loss = True
            warnings.warn(
                "AdamZ.step() got no loss: pass a closure that returns the loss or call "
                "step(loss=loss). Without a loss history AdamZ never adjusts its learning rate "
                "and is plain Adam.",
                UserWarning,
                stacklevel=2,
            )
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def state_dict(self) -> StateDict:
        """torch's format plus the loss histories, so that a resumed run continues identically."""
        state_dict = super().state_dict()
        state_dict["loss_history"] = list(self.loss_history)
        state_dict["stagnation_history"] = list(self.stagnation_history)
        return state_dict

    def load_state_dict(self, state_dict: StateDict) -> None:
        super().load_state_dict(state_dict)
        self.loss_history.clear()
        self.loss_history.extend(state_dict.get("loss_history", ()))
        self.stagnation_history.clear()
        self.stagnation_history.extend(state_dict.get("stagnation_history", ()))


def _validate_rules(
    overshoot_factor: float,
    stagnation_factor: float,
    stagnation_threshold: float,
    patience: int,
    stagnation_period: int,
    min_lr: float,
    max_lr: float,
) -> None:
    if not 0.0 < overshoot_factor < 1.0:
        raise ValueError(f"Invalid overshoot_factor: {overshoot_factor}")
    if not stagnation_factor > 1.0:
        raise ValueError(f"Invalid stagnation_factor: {stagnation_factor}")
    if not stagnation_threshold >= 0.0:
        raise ValueError(f"Invalid stagnation_threshold: {stagnation_threshold}")
    if not patience > 0:
        raise ValueError(f"Invalid patience value: {patience}")
    if not stagnation_period > 0:
        raise ValueError(f"Invalid stagnation_period value: {stagnation_period}")
    if not 0.0 < min_lr <= max_lr:
        raise ValueError(f"Invalid learning rate bounds: min_lr={min_lr}, max_lr={max_lr}")
