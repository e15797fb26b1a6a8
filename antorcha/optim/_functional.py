"""The per-parameter update kernels, on raw arrays, fused into in-place ufunc passes.

Each function mirrors the single-tensor `for` loop of torch's implementation of the same
optimizer, operation by operation and in the same order, so float32 results agree with
torch to rounding (torch's CPU kernels use FMA, which NumPy cannot; the difference is one
ulp per operation). Scalars are Python floats: NumPy casts them to the array's dtype, as
torch casts a Python scalar to the tensor's dtype. `xp` is numpy or cupy; `t1`, `t2`, `t3`
are preallocated scratch arrays shaped like the parameter; nothing else is allocated.

Naming: `param`, `grad` and the state arrays are the arrays of one parameter; `grad` is
never written to (it belongs to the user).
"""

from __future__ import annotations

from typing import Any

Array = Any


def prepare_grad(
    xp: Any, param: Array, grad: Array, weight_decay: float, maximize: bool, out: Array
) -> Array:
    """`-grad` if maximizing, plus the L2 term `weight_decay * param`; `out` holds any new values.

    torch computes `grad.add(param, alpha=weight_decay)`, i.e. grad + weight_decay * param.
    """
    if weight_decay != 0:
        xp.multiply(param, weight_decay, out=out)
        if maximize:
            xp.subtract(out, grad, out=out)  # (-grad) + wd * param, exactly
        else:
            xp.add(grad, out, out=out)
        return out
    if maximize:
        xp.negative(grad, out=out)
        return out
    return grad


def lerp_(xp: Any, target: Array, end: Array, weight: float, tmp: Array) -> None:
    """torch's `target.lerp_(end, weight)`, with its two formulas split at |weight| < 0.5."""
    xp.subtract(end, target, out=tmp)
    if abs(weight) < 0.5:
        xp.multiply(tmp, weight, out=tmp)
        xp.add(target, tmp, out=target)
    else:
        one_minus_weight = 1.0 - float(target.dtype.type(weight))
        xp.multiply(tmp, one_minus_weight, out=tmp)
        xp.subtract(end, tmp, out=target)


def addcmul_(xp: Any, target: Array, t1: Array, t2: Array, value: float, tmp: Array) -> None:
    """torch's `target.addcmul_(t1, t2, value=value)`: target + (value * t1) * t2."""
    xp.multiply(t1, value, out=tmp)
    xp.multiply(tmp, t2, out=tmp)
    xp.add(target, tmp, out=target)


def addcdiv_(xp: Any, target: Array, t1: Array, t2: Array, value: float, tmp: Array) -> None:
    """torch's `target.addcdiv_(t1, t2, value=value)`: target + (value * t1) / t2."""
    xp.multiply(t1, value, out=tmp)
    xp.divide(tmp, t2, out=tmp)
    xp.add(target, tmp, out=target)


def ema_square_(xp: Any, avg: Array, grad: Array, decay: float, tmp: Array) -> None:
    """`avg.mul_(decay).addcmul_(grad, grad, value=1 - decay)`."""
    xp.multiply(avg, decay, out=avg)
    addcmul_(xp, avg, grad, grad, 1 - decay, tmp)


def sgd_param(
    xp: Any,
    param: Array,
    grad: Array,
    momentum_buffer: Array | None,
    t1: Array,
    t2: Array,
    lr: float,
    momentum: float,
    dampening: float,
    nesterov: bool,
    weight_decay: float,
    maximize: bool,
) -> Array | None:
    """One SGD step; returns the momentum buffer to keep (a new copy of the grad on the first step)."""
    grad = prepare_grad(xp, param, grad, weight_decay, maximize, t1)
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = grad.copy()
        else:
            xp.multiply(momentum_buffer, momentum, out=momentum_buffer)
            if dampening == 0:
                xp.add(momentum_buffer, grad, out=momentum_buffer)
            else:
                xp.multiply(grad, 1 - dampening, out=t2)
                xp.add(momentum_buffer, t2, out=momentum_buffer)
        if nesterov:
            xp.multiply(momentum_buffer, momentum, out=t2)
            xp.add(grad, t2, out=t1)
            grad = t1
        else:
            grad = momentum_buffer
    xp.multiply(grad, -lr, out=t2)
    xp.add(param, t2, out=param)
    return momentum_buffer


def adam_param(
    xp: Any,
    param: Array,
    grad: Array,
    exp_avg: Array,
    exp_avg_sq: Array,
    max_exp_avg_sq: Array | None,
    t1: Array,
    t2: Array,
    step: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    """One Adam / AdamW step (AMSGrad when `max_exp_avg_sq` is given); `step` already counted."""
    if weight_decay != 0 and decoupled_weight_decay:
        xp.multiply(param, 1 - lr * weight_decay, out=param)
        grad = prepare_grad(xp, param, grad, 0, maximize, t2)
    else:
        grad = prepare_grad(xp, param, grad, weight_decay, maximize, t2)
    lerp_(xp, exp_avg, grad, 1 - beta1, t1)
    ema_square_(xp, exp_avg_sq, grad, beta2, t1)

    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5
    second_moment = exp_avg_sq
    if max_exp_avg_sq is not None:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second_moment = max_exp_avg_sq
    xp.sqrt(second_moment, out=t1)
    xp.divide(t1, bias_correction2_sqrt, out=t1)
    xp.add(t1, eps, out=t1)
    addcdiv_(xp, param, exp_avg, t1, -step_size, t2)


def adamax_param(
    xp: Any,
    param: Array,
    grad: Array,
    exp_avg: Array,
    exp_inf: Array,
    t1: Array,
    t2: Array,
    step: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """One Adamax step: eps inside the max, no bias correction of the infinity norm."""
    grad = prepare_grad(xp, param, grad, weight_decay, maximize, t2)
    lerp_(xp, exp_avg, grad, 1 - beta1, t1)
    xp.multiply(exp_inf, beta2, out=exp_inf)
    xp.absolute(grad, out=t1)
    xp.add(t1, eps, out=t1)
    xp.maximum(exp_inf, t1, out=exp_inf)
    clr = lr / (1 - beta1**step)
    addcdiv_(xp, param, exp_avg, exp_inf, -clr, t1)


def rmsprop_param(
    xp: Any,
    param: Array,
    grad: Array,
    square_avg: Array,
    grad_avg: Array | None,
    momentum_buffer: Array | None,
    t1: Array,
    t2: Array,
    t3: Array,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    maximize: bool,
) -> None:
    """One RMSprop step (centered when `grad_avg` is given, with momentum when the buffer is)."""
    grad = prepare_grad(xp, param, grad, weight_decay, maximize, t3)
    ema_square_(xp, square_avg, grad, alpha, t1)
    if grad_avg is not None:
        lerp_(xp, grad_avg, grad, 1 - alpha, t1)
        # square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
        xp.negative(grad_avg, out=t1)
        xp.multiply(t1, grad_avg, out=t1)
        xp.add(square_avg, t1, out=t1)
        xp.sqrt(t1, out=t1)
    else:
        xp.sqrt(square_avg, out=t1)
    xp.add(t1, eps, out=t1)
    if momentum_buffer is not None:
        xp.multiply(momentum_buffer, momentum, out=momentum_buffer)
        xp.divide(grad, t1, out=t2)
        xp.add(momentum_buffer, t2, out=momentum_buffer)
        xp.multiply(momentum_buffer, -lr, out=t2)
        xp.add(param, t2, out=param)
    else:
        addcdiv_(xp, param, grad, t1, -lr, t2)


def adagrad_param(
    xp: Any,
    param: Array,
    grad: Array,
    state_sum: Array,
    t1: Array,
    t2: Array,
    step: float,
    lr: float,
    lr_decay: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """One Adagrad step."""
    grad = prepare_grad(xp, param, grad, weight_decay, maximize, t2)
    clr = lr / (1 + (step - 1) * lr_decay)
    xp.multiply(grad, grad, out=t1)
    xp.add(state_sum, t1, out=state_sum)
    xp.sqrt(state_sum, out=t1)
    xp.add(t1, eps, out=t1)
    addcdiv_(xp, param, grad, t1, -clr, t2)


def nadam_param(
    xp: Any,
    param: Array,
    grad: Array,
    exp_avg: Array,
    exp_avg_sq: Array,
    mu_product: Array,
    t1: Array,
    t2: Array,
    t3: Array,
    step: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    momentum_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    """One NAdam step; `mu_product` is the 0-dim running product of the momentum coefficients."""
    bias_correction2 = 1 - beta2**step
    if weight_decay != 0 and decoupled_weight_decay:
        xp.multiply(param, 1 - lr * weight_decay, out=param)
        grad = prepare_grad(xp, param, grad, 0, maximize, t3)
    else:
        grad = prepare_grad(xp, param, grad, weight_decay, maximize, t3)
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
    mu_product *= mu
    lerp_(xp, exp_avg, grad, 1 - beta1, t1)
    ema_square_(xp, exp_avg_sq, grad, beta2, t1)
    xp.divide(exp_avg_sq, bias_correction2, out=t1)
    xp.sqrt(t1, out=t1)
    xp.add(t1, eps, out=t1)
    product = float(mu_product)
    product_next = product * mu_next
    addcdiv_(xp, param, grad, t1, -lr * (1.0 - mu) / (1.0 - product), t2)
    addcdiv_(xp, param, exp_avg, t1, (-lr * mu_next) / (1.0 - product_next), t2)


def radam_param(
    xp: Any,
    param: Array,
    grad: Array,
    exp_avg: Array,
    exp_avg_sq: Array,
    t1: Array,
    t2: Array,
    step: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    """One RAdam step: the rectified adaptive term only once its variance is tractable (rho_t > 5)."""
    if weight_decay != 0 and decoupled_weight_decay:
        xp.multiply(param, 1 - lr * weight_decay, out=param)
        grad = prepare_grad(xp, param, grad, 0, maximize, t2)
    else:
        grad = prepare_grad(xp, param, grad, weight_decay, maximize, t2)
    lerp_(xp, exp_avg, grad, 1 - beta1, t1)
    ema_square_(xp, exp_avg_sq, grad, beta2, t1)

    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
    # grad is no longer needed: t2 takes exp_avg / bias_correction1 * lr
    xp.divide(exp_avg, bias_correction1, out=t2)
    xp.multiply(t2, lr, out=t2)
    if rho_t > 5.0:
        rect = (
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        ) ** 0.5
        xp.sqrt(exp_avg_sq, out=t1)
        xp.add(t1, eps, out=t1)
        # torch's `float / tensor` is `tensor.reciprocal() * float`
        xp.reciprocal(t1, out=t1)
        xp.multiply(t1, bias_correction2**0.5, out=t1)
        xp.multiply(t2, t1, out=t2)
        xp.multiply(t2, rect, out=t2)
    xp.subtract(param, t2, out=param)
