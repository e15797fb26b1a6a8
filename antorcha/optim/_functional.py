"""The per-parameter update kernels, on raw arrays, fused into in-place ufunc passes.

Each function mirrors the single-tensor `for` loop of torch's implementation of the same
optimizer, operation by operation and in the same order, so float32 results agree with
torch to rounding (torch's CPU kernels use FMA, which NumPy cannot; the difference is one
ulp per operation). Scalars are cast to the array's scalar type first, as torch casts a
Python scalar to the tensor's dtype (a NumPy scalar of the right type is also the fastest
operand for a ufunc). Outputs are passed positionally (faster than `out=`; CuPy accepts
it too). `xp` is numpy or cupy; `t1`, `t2`, `t3`
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
        xp.multiply(param, param.dtype.type(weight_decay), out)
        if maximize:
            xp.subtract(out, grad, out)  # (-grad) + wd * param, exactly
        else:
            xp.add(grad, out, out)
        return out
    if maximize:
        xp.negative(grad, out)
        return out
    return grad


def lerp_(xp: Any, target: Array, end: Array, weight: float, tmp: Array) -> None:
    """torch's `target.lerp_(end, weight)`, with its two formulas split at |weight| < 0.5."""
    xp.subtract(end, target, tmp)
    if abs(weight) < 0.5:
        xp.multiply(tmp, tmp.dtype.type(weight), tmp)
        xp.add(target, tmp, target)
    else:
        one_minus_weight = 1.0 - float(target.dtype.type(weight))
        xp.multiply(tmp, tmp.dtype.type(one_minus_weight), tmp)
        xp.subtract(end, tmp, target)


def addcmul_(xp: Any, target: Array, t1: Array, t2: Array, value: float, tmp: Array) -> None:
    """torch's `target.addcmul_(t1, t2, value=value)`: target + (value * t1) * t2."""
    xp.multiply(t1, tmp.dtype.type(value), tmp)
    xp.multiply(tmp, t2, tmp)
    xp.add(target, tmp, target)


def addcdiv_(xp: Any, target: Array, t1: Array, t2: Array, value: float, tmp: Array) -> None:
    """torch's `target.addcdiv_(t1, t2, value=value)`: target + (value * t1) / t2."""
    xp.multiply(t1, tmp.dtype.type(value), tmp)
    xp.divide(tmp, t2, tmp)
    xp.add(target, tmp, target)


def ema_square_(xp: Any, avg: Array, grad: Array, decay: float, tmp: Array) -> None:
    """`avg.mul_(decay).addcmul_(grad, grad, value=1 - decay)`."""
    xp.multiply(avg, avg.dtype.type(decay), avg)
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
    cast = param.dtype.type  # scalars in the parameter's dtype, as torch casts them
    grad = prepare_grad(xp, param, grad, weight_decay, maximize, t1)
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = grad.copy()
        else:
            xp.multiply(momentum_buffer, cast(momentum), momentum_buffer)
            if dampening == 0:
                xp.add(momentum_buffer, grad, momentum_buffer)
            else:
                xp.multiply(grad, cast(1 - dampening), t2)
                xp.add(momentum_buffer, t2, momentum_buffer)
        if nesterov:
            xp.multiply(momentum_buffer, cast(momentum), t2)
            xp.add(grad, t2, t1)
            grad = t1
        else:
            grad = momentum_buffer
    xp.multiply(grad, cast(-lr), t2)
    xp.add(param, t2, param)
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
    cast = param.dtype.type  # scalars in the parameter's dtype, as torch casts them
    if weight_decay != 0 and decoupled_weight_decay:
        xp.multiply(param, param.dtype.type(1 - lr * weight_decay), param)
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
    xp.sqrt(second_moment, t1)
    xp.divide(t1, cast(bias_correction2_sqrt), t1)
    xp.add(t1, cast(eps), t1)
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
    cast = param.dtype.type  # scalars in the parameter's dtype, as torch casts them
    grad = prepare_grad(xp, param, grad, weight_decay, maximize, t2)
    lerp_(xp, exp_avg, grad, 1 - beta1, t1)
    xp.multiply(exp_inf, cast(beta2), exp_inf)
    xp.absolute(grad, t1)
    xp.add(t1, cast(eps), t1)
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
    cast = param.dtype.type  # scalars in the parameter's dtype, as torch casts them
    grad = prepare_grad(xp, param, grad, weight_decay, maximize, t3)
    ema_square_(xp, square_avg, grad, alpha, t1)
    if grad_avg is not None:
        lerp_(xp, grad_avg, grad, 1 - alpha, t1)
        # square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
        xp.negative(grad_avg, t1)
        xp.multiply(t1, grad_avg, t1)
        xp.add(square_avg, t1, t1)
        xp.sqrt(t1, t1)
    else:
        xp.sqrt(square_avg, t1)
    xp.add(t1, cast(eps), t1)
    if momentum_buffer is not None:
        xp.multiply(momentum_buffer, cast(momentum), momentum_buffer)
        xp.divide(grad, t1, t2)
        xp.add(momentum_buffer, t2, momentum_buffer)
        xp.multiply(momentum_buffer, cast(-lr), t2)
        xp.add(param, t2, param)
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
    cast = param.dtype.type  # scalars in the parameter's dtype, as torch casts them
    grad = prepare_grad(xp, param, grad, weight_decay, maximize, t2)
    clr = lr / (1 + (step - 1) * lr_decay)
    xp.multiply(grad, grad, t1)
    xp.add(state_sum, t1, state_sum)
    xp.sqrt(state_sum, t1)
    xp.add(t1, cast(eps), t1)
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
    cast = param.dtype.type  # scalars in the parameter's dtype, as torch casts them
    bias_correction2 = 1 - beta2**step
    if weight_decay != 0 and decoupled_weight_decay:
        xp.multiply(param, param.dtype.type(1 - lr * weight_decay), param)
        grad = prepare_grad(xp, param, grad, 0, maximize, t3)
    else:
        grad = prepare_grad(xp, param, grad, weight_decay, maximize, t3)
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
    mu_product *= mu
    lerp_(xp, exp_avg, grad, 1 - beta1, t1)
    ema_square_(xp, exp_avg_sq, grad, beta2, t1)
    xp.divide(exp_avg_sq, cast(bias_correction2), t1)
    xp.sqrt(t1, t1)
    xp.add(t1, cast(eps), t1)
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
    cast = param.dtype.type  # scalars in the parameter's dtype, as torch casts them
    if weight_decay != 0 and decoupled_weight_decay:
        xp.multiply(param, param.dtype.type(1 - lr * weight_decay), param)
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
    xp.divide(exp_avg, cast(bias_correction1), t2)
    xp.multiply(t2, cast(lr), t2)
    if rho_t > 5.0:
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        xp.sqrt(exp_avg_sq, t1)
        xp.add(t1, cast(eps), t1)
        # torch's `float / tensor` is `tensor.reciprocal() * float`
        xp.reciprocal(t1, t1)
        xp.multiply(t1, cast(bias_correction2**0.5), t1)
        xp.multiply(t2, t1, t2)
        xp.multiply(t2, cast(rect), t2)
    xp.subtract(param, t2, param)


def adadelta_param(
    xp: Any,
    param: Array,
    grad: Array,
    square_avg: Array,
    acc_delta: Array,
    t1: Array,
    t2: Array,
    t3: Array | None,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """One Adadelta step: delta = sqrt(acc_delta + eps) / sqrt(E[g^2] + eps) * g; p -= lr * delta."""
    cast = param.dtype.type  # scalars in the parameter's dtype, as torch casts them
    grad = prepare_grad(xp, param, grad, weight_decay, maximize, t3)
    ema_square_(xp, square_avg, grad, rho, t1)
    xp.add(square_avg, cast(eps), t1)
    xp.sqrt(t1, t1)  # std
    xp.add(acc_delta, cast(eps), t2)
    xp.sqrt(t2, t2)
    xp.divide(t2, t1, t2)
    xp.multiply(t2, grad, t2)  # delta
    ema_square_(xp, acc_delta, t2, rho, t1)
    xp.multiply(t2, cast(-lr), t1)
    xp.add(param, t1, param)


def rprop_param(
    xp: Any,
    param: Array,
    grad: Array,
    prev: Array,
    step_size: Array,
    t1: Array,
    t2: Array,
    step_size_min: float,
    step_size_max: float,
    etaminus: float,
    etaplus: float,
    maximize: bool,
) -> None:
    """One Rprop step: each step size grows by etaplus while the gradient keeps its sign and
    shrinks by etaminus when it flips (that step then moves nothing and forgets the gradient)."""
    cast = param.dtype.type  # scalars in the parameter's dtype, as torch casts them
    if maximize:
        xp.negative(grad, t2)
    else:
        xp.copyto(t2, grad)
    xp.multiply(t2, prev, t1)
    xp.sign(t1, t1)
    # torch's three masked fills, in its order (a NaN product stays NaN)
    t1[t1 > 0] = cast(etaplus)
    t1[t1 < 0] = cast(etaminus)
    t1[t1 == 0] = 1
    xp.multiply(step_size, t1, step_size)
    xp.clip(step_size, cast(step_size_min), cast(step_size_max), out=step_size)
    t2[t1 == cast(etaminus)] = 0
    xp.copyto(prev, t2)
    xp.sign(t2, t2)
    addcmul_(xp, param, t2, step_size, -1, t1)


def asgd_param(
    xp: Any,
    param: Array,
    grad: Array,
    ax: Array,
    eta: Array,
    mu: Array,
    t1: Array,
    t2: Array,
    step: float,
    lr: float,
    lambd: float,
    alpha: float,
    t0: float,
    weight_decay: float,
    maximize: bool,
    default_type: Any,
) -> None:
    """One ASGD step; `eta` and `mu` are the 0-dim step size and averaging weight, updated here.

    torch makes their new values tensors of the default dtype before copying them in, so they
    are rounded through `default_type` even where loading made them float64."""
    cast = param.dtype.type  # scalars in the parameter's dtype, as torch casts them
    grad = prepare_grad(xp, param, grad, weight_decay, maximize, t2)
    eta_value = float(eta)
    xp.multiply(param, cast(1 - lambd * eta_value), param)
    xp.multiply(grad, cast(-eta_value), t1)
    xp.add(param, t1, param)
    mu_value = float(mu)
    if mu_value != 1:
        xp.subtract(param, ax, t1)
        xp.multiply(t1, cast(mu_value), t1)
        xp.add(ax, t1, ax)
    else:
        xp.copyto(ax, param)
    eta[()] = default_type(lr / ((1 + lambd * lr * step) ** alpha))
    mu[()] = default_type(1 / max(1, step - t0))
