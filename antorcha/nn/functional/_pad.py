"""F.pad: constant (negative amounts crop), reflect, replicate and circular, in torch's order (the
pad tuple names the last dim first: (left, right, top, bottom, ...)).

Constant padding is one op, ConstantPadNd, whose adjoint is itself with the amounts negated (a crop
where it padded, zeros where it cropped), so it differentiates to any order. The other modes are
an index_select per padded dim, with indices computed once from the dim's size: their gradients are
index_select's."""

from __future__ import annotations

from typing import Any

from antorcha._device import xp_of
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.nn._arguments import require_tensor
from antorcha.ops.indexing import IndexSelect

_MODES = ("constant", "reflect", "replicate", "circular")


class ConstantPadNd(Op):
    """x padded by (before, after) per dim with `value`; a negative amount crops."""

    @staticmethod
    def forward(ctx: Any, x: Any, amounts: tuple[tuple[int, int], ...], value: Any) -> Any:
        ctx.amounts = amounts
        xp = xp_of(x)
        shape = tuple(n + a + b for n, (a, b) in zip(x.shape, amounts))
        out = xp.full(shape, value, dtype=x.dtype) if value != 0 else xp.zeros(shape, dtype=x.dtype)
        source = tuple(slice(max(-a, 0), n - max(-b, 0)) for n, (a, b) in zip(x.shape, amounts))
        target = tuple(slice(max(a, 0), m - max(b, 0)) for m, (a, b) in zip(shape, amounts))
        out[target] = x[source]
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        negated = tuple((-a, -b) for a, b in ctx.amounts)
        return ConstantPadNd.apply(grad, params=(negated, 0))


def _per_dim(pad: tuple[int, ...], ndim: int) -> tuple[tuple[int, int], ...]:
    """torch's last-dim-first pairs as (before, after) for every dim of the input."""
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)]
    return ((0, 0),) * (ndim - len(pairs)) + tuple(reversed(pairs))


def _source_positions(xp: Any, size: int, before: int, after: int, mode: str) -> Any:
    """For each output position along a dim, the input position it reads."""
    p = xp.arange(-before, size + after)
    if mode == "replicate":
        return xp.clip(p, 0, size - 1)
    if mode == "circular":  # torch crops first, then wraps around what is left
        start, kept = max(-before, 0), size + min(before, 0) + min(after, 0)
        return (xp.arange(-max(before, 0), kept + max(after, 0)) % kept) + start
    period = 2 * (size - 1)  # reflect: a mirror at both ends, the edge itself not repeated
    p = xp.abs(p) % period if period else p * 0
    return xp.where(p >= size, period - p, p)


def _check_pad(input: Tensor, pad: Any) -> tuple[int, ...]:
    values = tuple(pad)
    for i, v in enumerate(values):
        if not isinstance(v, int) and not (isinstance(v, Tensor) and v.ndim == 0):
            raise TypeError(
                f"pad(): argument 'pad' (position 2) must be tuple of ints, but found element of type "
                f"{type(v).__name__} at pos {i}"
            )
    values = tuple(int(v) for v in values)
    if len(values) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    return values


def _check_mode_dims(input: Tensor, pad: tuple[int, ...], mode: str) -> None:
    dims = len(pad) // 2
    if dims not in (1, 2, 3) or input.ndim - dims not in (1, 2):
        raise NotImplementedError(f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.")
    shape = list(input.shape)
    if mode != "circular" and any(n == 0 for n in shape[1:]):  # a batch of 0 is allowed
        raise RuntimeError(
            f"Expected {dims + 1}D or {dims + 2}D (batch mode) tensor with possibly 0 batch size and "
            f"other non-zero dimensions for input, but got: {shape}"
        )
    for i in range(dims):
        before, after = pad[2 * i], pad[2 * i + 1]
        dim = input.ndim - 1 - i
        size = shape[dim]
        if mode == "reflect" and (before >= size or after >= size):
            raise RuntimeError(
                f"Argument #{4 + 2 * i}: Padding size should be less than the corresponding input "
                f"dimension, but got: padding ({before}, {after}) at dimension {dim} of input {shape}"
            )
        if mode == "circular" and (before > size or after > size):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if size + before + after < (1 if mode == "circular" else 0):
            if mode == "circular":
                raise RuntimeError("Negative padding value is resulting in an empty dimension")
            raise RuntimeError(
                f"Trying to create tensor with negative dimension {size + before + after}: "
                f"{shape[:dim] + [size + before + after] + shape[dim + 1:]}"
            )


@register_functional()
def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    require_tensor(input, "pad")
    if mode not in _MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    amounts = _check_pad(input, pad)
    if mode == "constant":
        return _constant_pad(input, amounts, 0 if value is None else value)
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    _check_mode_dims(input, amounts, mode)
    if not any(amounts):  # torch's result is still a new tensor, with a node of its own
        return _constant_pad(input, amounts, 0)
    out = input
    xp = xp_of(input._data)
    for i in range(len(amounts) // 2):
        before, after = amounts[2 * i], amounts[2 * i + 1]
        if before == 0 and after == 0:
            continue
        dim = input.ndim - 1 - i
        positions = _source_positions(xp, input.shape[dim], before, after, mode)
        out = IndexSelect.apply(out, wrap(positions, device=input._device), params=(dim,))
    return out


def _constant_pad(input: Tensor, amounts: tuple[int, ...], value: Any) -> Tensor:
    if len(amounts) // 2 > input.ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but got "
            f"padding length {len(amounts)} and input of dimension {input.ndim}"
        )
    per_dim = _per_dim(amounts, input.ndim)
    for n, (a, b) in zip(input.shape, per_dim):
        if n + min(a, 0) + min(b, 0) < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
    if input._data.dtype.kind in "iub" and isinstance(value, float) and not value.is_integer():
        value = int(value)  # torch casts the fill to the input's dtype
    return ConstantPadNd.apply(input, params=(per_dim, value))
