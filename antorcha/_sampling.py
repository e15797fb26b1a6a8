"""Sampling from distributions given by tensors: multinomial, bernoulli, poisson, normal.

Each draws from antorcha's generators (`antorcha.random`); on the cpu the numbers are torch's
(its mt19937 stream and its kernels' recipes, `_mt19937`). As in torch, a sample drawn from
parameters that require grad is in the graph with a zero gradient (BernoulliBackward0,
PoissonBackward0, NormalBackward1-3): the draw is not reparameterised.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from antorcha import _dtypes, random
from antorcha._device import as_device, canonical, quiet_float_errors, xp_for, xp_of
from antorcha._mt19937 import TorchCPUStream
from antorcha._registry import register
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.ops._common import broadcast_shapes, write_out

# comparing every sample with every cumulative probability at once costs samples x categories
_COMPARE_AT_ONCE_MAX = 1 << 22
# NumPy's Poisson sampler refuses larger rates; above it a normal approximation is exact to float64
_POISSON_EXACT_MAX = 1e15


class _Sampled(Op):
    """A sample that depends on its parameters only through the draw: zero gradient to each."""

    @staticmethod
    def forward(ctx: Any, *arrays_and_sample: Any) -> Any:
        *parameters, sample = arrays_and_sample
        ctx.parameter_shapes = tuple((a.shape, a.dtype) for a in parameters)
        return sample

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        xp = xp_of(grad._data)
        zeros = [wrap(xp.zeros(shape, dtype), device=grad._device) for shape, dtype in ctx.parameter_shapes]
        return zeros[0] if len(zeros) == 1 else tuple(zeros)


class Bernoulli(_Sampled):
    pass


class Poisson(_Sampled):
    pass


class NormalTensorFloat(_Sampled):
    backward_name = "NormalBackward1"


class NormalFloatTensor(_Sampled):
    backward_name = "NormalBackward2"


class NormalTensorTensor(_Sampled):
    backward_name = "NormalBackward3"


def _rng(input: Tensor, generator: Any) -> Any:
    return random.generator_for(input._device, generator)


def _require_floating(input: Tensor, kernel: str) -> None:
    if not input.is_floating_point():
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{input.dtype.scalar_name}'")


# ---- multinomial -------------------------------------------------------------------------
def _check_multinomial(input: Tensor, num_samples: int, replacement: bool) -> None:
    if not input.is_floating_point():
        raise RuntimeError(
            f"multinomial only supports floating-point dtypes for input, got: {input.dtype.scalar_name}"
        )
    if input.ndim not in (1, 2):
        raise RuntimeError(
            f"prob_dist must be 1 or 2 dim, got a {input.ndim}-dim tensor of shape {list(input.shape)}"
        )
    if num_samples <= 0:
        raise RuntimeError(f"cannot sample n_sample <= 0 samples (n_sample={num_samples})")
    if not replacement and num_samples > input.shape[-1]:
        raise RuntimeError(
            f"cannot sample n_sample > prob_dist.size(-1) samples without replacement "
            f"(n_sample={num_samples}, prob_dist.size(-1)={input.shape[-1]})"
        )


def _probability_rows(input: Tensor) -> Any:
    """(R, K) float64 weights, checked as torch checks them."""
    rows = input._data.reshape(-1, input.shape[-1]).astype("float64")  # (R, K)
    xp = xp_of(rows)
    if rows.size and not bool(xp.all(xp.isfinite(rows) & (rows >= 0))):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if rows.shape[0] and bool(xp.any(rows.sum(axis=1) <= 0)):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    return rows


def _with_replacement(rows: Any, num_samples: int, rng: Any) -> Any:
    """Inverse-CDF sampling: the first category whose cumulative probability exceeds u."""
    xp = xp_of(rows)
    cumulative = xp.cumsum(rows, axis=1)  # (R, K)
    # x / x is exactly 1, so every category from the last nonzero one on reaches 1.0 > u
    cdf = cumulative / cumulative[:, -1:]
    uniform = rng.random((rows.shape[0], num_samples))  # (R, N), in [0, 1)
    if rows.shape[0] * num_samples * rows.shape[1] <= _COMPARE_AT_ONCE_MAX:
        return (cdf[:, None, :] <= uniform[:, :, None]).sum(axis=-1)  # (R, N)
    picks = [xp.searchsorted(row_cdf, row_u, side="right") for row_cdf, row_u in zip(cdf, uniform)]
    return xp.stack(picks) if picks else xp.zeros((0, num_samples), dtype="int64")


def _without_replacement(rows: Any, num_samples: int, rng: Any) -> Any:
    """The exponential race: sorting p / E, E ~ Exp(1), draws categories one by one in proportion to p.

    Zero-probability categories come last, in random order (as torch returns them once the others run out).
    """
    xp = xp_of(rows)
    with quiet_float_errors():
        keys = rows / random.draw_exponential(rng, rows.shape)  # (R, K)
    keys = xp.where(rows > 0, keys, -1.0 - rng.random(rows.shape))
    return xp.argsort(-keys, axis=1)[:, :num_samples]


def _torch_with_replacement(input: Tensor, num_samples: int, rng: TorchCPUStream) -> Any:
    """torch's cpu kernel, row by row: the first category whose cumulative share is >= a float64 uniform.

    The cumulative sums stay in input's dtype (so float32 rounds as torch's does); the last is 1.
    """
    rows = input._data.reshape(-1, input.shape[-1])  # (R, K)
    picks = np.empty((rows.shape[0], num_samples), np.int64)
    for r, row in enumerate(rows):
        cumulative = np.cumsum(row, dtype=row.dtype)
        cumulative = cumulative / cumulative[-1]
        cumulative[-1] = 1
        uniform = rng.uniform((num_samples,), np.float64)
        picks[r] = np.searchsorted(cumulative.astype(np.float64), uniform, side="left")
    return picks


def _torch_exponential_race(input: Tensor, num_samples: int, rng: TorchCPUStream) -> Any:
    """torch's path without replacement (or for one sample): the top num_samples of p / q, q ~ Exp(1).

    q is drawn in input's dtype over the whole (R, K) input, and p / q is computed in it too.
    """
    rows = input._data.reshape(-1, input.shape[-1])  # (R, K)
    with quiet_float_errors():
        keys = rows / rng.exponential(rows.shape).astype(rows.dtype)
    if num_samples == 1:
        return np.argmax(keys, axis=1)[:, None]
    return np.argsort(-keys, axis=1, kind="stable")[:, :num_samples]


@register()
def multinomial(
    input: Tensor, num_samples: int, replacement: bool = False, *, generator: Any = None, out: Any = None
) -> Tensor:
    """Indices drawn from the categories weighted by each row of `input` (1-D or 2-D), as int64."""
    _check_multinomial(input, int(num_samples), replacement)
    rows = _probability_rows(input)
    rng = _rng(input, generator)
    if isinstance(rng, TorchCPUStream):
        draw = _torch_with_replacement if replacement and num_samples > 1 else _torch_exponential_race
        picks = draw(input, int(num_samples), rng)  # (R, N)
    else:
        picks = (_with_replacement if replacement else _without_replacement)(rows, int(num_samples), rng)
    picks = picks.astype("int64")
    shape = (*input.shape[:-1], int(num_samples))
    return _written(wrap(picks.reshape(shape), device=input._device), out, "multinomial")


def _written(result: Tensor, out: Any, name: str) -> Tensor:
    return result if out is None else write_out(result, out, name)


# ---- bernoulli and poisson ---------------------------------------------------------------
def _check_probabilities(values: Any) -> None:
    xp = xp_of(values)
    if values.size and not bool(xp.all((values >= 0) & (values <= 1))):
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")


@register()
def bernoulli(input: Tensor, p: Any = None, *, generator: Any = None, out: Any = None) -> Tensor:
    """0/1 draws, 1 with probability `input` (elementwise), or with probability `p` in input's shape."""
    if p is not None:  # bernoulli(input, p): input gives only the shape and dtype
        empty = wrap(xp_of(input._data).empty(input.shape, dtype=input._data.dtype), device=input._device)
        return empty.bernoulli_(p, generator=generator)
    _require_floating(input, "bernoulli_tensor_cpu_p_")
    _check_probabilities(input._data)
    sample = random.draw_bernoulli(_rng(input, generator), input.shape, input._data).astype(input._data.dtype)
    return _written(Bernoulli.apply(input, params=(sample,)), out, "bernoulli")


def _poisson_draw(rates: Any, rng: Any) -> Any:
    xp = xp_of(rates)
    if not bool(xp.all(rates >= 0)):  # also refuses NaN
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    if not bool(xp.all(xp.isfinite(rates))):
        raise RuntimeError("invalid Poisson rate: antorcha cannot draw from an infinite rate")
    if isinstance(rng, TorchCPUStream):  # torch's own sampler, element by element
        return rng.poisson(rates)
    large = rates > _POISSON_EXACT_MAX
    counts = random.draw_poisson(rng, xp.where(large, 0.0, rates)).astype("float64")
    if bool(xp.any(large)):
        normal = rng.standard_normal(rates.shape)
        counts = xp.where(large, xp.rint(rates + xp.sqrt(rates) * normal), counts)
    return counts


@register(method=False)
def poisson(input: Tensor, generator: Any = None) -> Tensor:
    """Counts drawn from Poisson(rate) for each element of `input`, in input's float dtype."""
    _require_floating(input, "poisson_cpu")
    counts = _poisson_draw(input._data.astype("float64"), _rng(input, generator))
    return Poisson.apply(input, params=(counts.astype(input._data.dtype),))


# ---- normal: its four overloads ----------------------------------------------------------
def _check_std(std: Any) -> None:
    if isinstance(std, Tensor):
        if std._data.size and not bool(xp_of(std._data).all(std._data >= 0)):
            raise RuntimeError("normal expects all elements of std >= 0.0")
    elif not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")


def _normal_like(like: Tensor, generator: Any) -> Any:
    _require_floating(like, "normal_kernel_cpu")
    return random.draw_normal(_rng(like, generator), like.shape, like._data.dtype.type)


def _normal_of_tensors(mean: Any, std: Any, generator: Any) -> Tensor:
    """normal(Tensor, Tensor), normal(Tensor, float), normal(float, Tensor): broadcast, mean's dtype."""
    _check_std(std)
    if isinstance(mean, Tensor) and isinstance(std, Tensor):
        if mean._device != std._device:
            raise RuntimeError(
                f"Expected all tensors to be on the same device, but found {mean.device} and {std.device}"
            )
        xp = xp_of(mean._data)
        shape = broadcast_shapes(mean.shape, std.shape)
        like = wrap(xp.empty(shape, dtype=mean._data.dtype), device=mean._device)
        sample = _normal_like(like, generator) * std._data.astype(like._data.dtype) + mean._data
        return NormalTensorTensor.apply(mean, std, params=(sample,))
    if isinstance(mean, Tensor):
        sample = _normal_like(mean, generator) * mean._data.dtype.type(std) + mean._data
        return NormalTensorFloat.apply(mean, params=(sample,))
    _require_floating(std, "normal_kernel_cpu")
    sample = _normal_like(std, generator) * std._data + std._data.dtype.type(mean)
    return NormalFloatTensor.apply(std, params=(sample,))


def normal(
    mean: Any = 0.0,
    std: Any = 1.0,
    size: Any = None,
    *,
    generator: Any = None,
    out: Any = None,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """torch.normal: per-element means and/or stds from tensors, or shared ones over `size`."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        if size is not None:
            raise TypeError("normal() takes a size only with float mean and std, not with tensors")
        return _written(_normal_of_tensors(mean, std, generator), out, "normal")
    if size is None:
        raise TypeError(
            "normal() received an invalid combination of arguments: float mean and std need a size"
        )
    if not isinstance(mean, numbers.Real) or not isinstance(std, numbers.Real):
        raise TypeError(
            f"normal(): mean and std must be numbers, got {type(mean).__name__} and {type(std).__name__}"
        )
    _check_std(std)
    from antorcha._creation import default_device_for, sizes_of

    target = canonical(default_device_for(device))
    d = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.get_default_dtype()
    if not d.is_floating_point:
        raise NotImplementedError(f"\"normal_kernel_cpu\" not implemented for '{d.scalar_name}'")
    xp = xp_for(target)
    rng = random.generator_for(target, generator)
    if isinstance(rng, TorchCPUStream):
        array = xp.asarray(rng.normal(sizes_of(size), d.np, float(mean), float(std)))
    else:
        array = random.draw_normal(rng, sizes_of(size), d.np)
        array = xp.asarray(array * d.np.type(std) + d.np.type(mean), dtype=d.np)
    result = wrap(array, device=as_device(target))
    return _written(result.requires_grad_(True) if requires_grad else result, out, "normal")
