"""F.scaled_dot_product_attention as one graph node with its own backward.

    scores = q kᵀ · scale (+ mask)       # (..., L, S)
    probs  = softmax(scores, -1)         # a row with nothing to attend to gives 0, as torch's CPU kernel
    out    = dropout(probs) v            # (..., L, Ev)

The backward is written once, with Tensor ops (so it is differentiable again):
dv = Pᵀ g,  dP = g vᵀ,  dS = P ∘ (dP - rowsum(dP ∘ P)),  dq = dS k · scale,  dk = dSᵀ q · scale,
with P the dropped-out probabilities where dropout applies. Batch and head dims broadcast; the
engine sums each gradient back to its input's shape.
"""

from __future__ import annotations

import math
from typing import Any

from antorcha._autocast import AUTOCAST, lower_precision
from antorcha._device import xp_of
from antorcha._grad_mode import is_grad_enabled
from antorcha._registry import register_functional
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.function import Op
from antorcha.nn.functional._layers import keep_mask
from antorcha.ops._bfloat16 import in_float32
from antorcha.ops._common import broadcast_shapes
from antorcha.ops.elementwise import where
from antorcha.ops.rearrange import repeat_interleave
from antorcha.speed import kernels as compiled_kernels


def _swap_last(x: Any) -> Any:
    return x.swapaxes(-1, -2)


def _probabilities(xp: Any, scores: Any) -> tuple[Any, Any]:
    """softmax over the last dim, in place, and the rows that are all -inf (fully masked), which
    become 0 (None when there are none)."""
    row_max = scores.max(axis=-1, keepdims=True)
    masked_rows = xp.isneginf(row_max)
    scores -= xp.where(masked_rows, 0, row_max)
    probs = xp.exp(scores, out=scores)
    total = probs.sum(axis=-1, keepdims=True)
    probs /= xp.where(masked_rows, 1, total)
    return probs, (masked_rows if masked_rows.any() else None)


def _output_like_query(xp: Any, q: Any, probs: Any, v: Any, keep: Any) -> Any:
    """Where torch's fused CPU kernel runs (no dropout) its output has the query's layout: heads
    split off a (B, L, H, E) projection give a (B, H, L, Ev) output over a (B, L, H, Ev) buffer, so
    `y.transpose(1, 2).view(B, L, H * Ev)` works as in torch's tutorial. None: a new C-order array."""
    if keep is not None or q.ndim != 4:
        return None
    strides = q.strides  # (B, H, L, E) laid out in (B, L, H, E) order
    if not strides[0] >= strides[2] >= strides[1] >= strides[3]:
        return None
    batch, heads, length = xp.broadcast_shapes(probs.shape[:-1], q.shape[:-1])
    if (batch, heads, length) != q.shape[:-1]:
        return None
    return xp.empty((batch, length, heads, v.shape[-1]), dtype=probs.dtype).swapaxes(1, 2)


class ScaledDotProductAttention(Op):
    """Params: the additive mask (an array, or None), scale, the dropout keep mask (or None), and
    whether to mask causally (query i sees keys 0..i)."""

    @staticmethod
    def forward(ctx: Any, q: Any, k: Any, v: Any, mask: Any, scale: float, keep: Any, causal: bool) -> Any:
        xp = xp_of(q)
        scores = q @ _swap_last(k)  # (..., L, S)
        compiled = None
        if mask is None:  # scale, causal mask and softmax as two loops (Numba, where installed)
            compiled = compiled_kernels.attention_probabilities(scores, scale, causal)
        if compiled is not None:
            probs, masked_rows = compiled
        else:
            scores *= q.dtype.type(scale)
            if causal:
                mask = _causal_mask(xp, *scores.shape[-2:], q.dtype)
            if mask is not None:
                scores = scores + mask
            probs, masked_rows = _probabilities(xp, scores)
        dropped = probs if keep is None else probs * keep
        ctx.save_for_backward(q, k, v, probs)
        ctx.scale, ctx.keep, ctx.mask, ctx.causal, ctx.masked_rows = scale, keep, mask, causal, masked_rows
        return xp.matmul(dropped, v, out=_output_like_query(xp, q, dropped, v, keep))  # (..., L, Ev)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        q, k, v, probs = ctx.saved_tensors
        if is_grad_enabled():  # create_graph: the probabilities must depend on q and k too
            probs = _probabilities_of(q, k, ctx)
        keep = None if ctx.keep is None else wrap(ctx.keep, device=grad._device)
        dropped = probs if keep is None else probs * keep
        grad_v = dropped.mT @ grad
        grad_probs = grad @ v.mT
        if keep is not None:
            grad_probs = grad_probs * keep
        scaled = None
        if not is_grad_enabled():  # first order: one compiled loop over the rows, where Numba is installed
            scaled = compiled_kernels.softmax_backward_scaled(probs._data, grad_probs._data, ctx.scale)
        if scaled is not None:
            grad_scores = wrap(scaled, device=grad._device)  # already times the scale
            return grad_scores @ k, grad_scores.mT @ q, grad_v
        grad_scores = probs * (grad_probs - (grad_probs * probs).sum(-1, keepdim=True))
        return grad_scores @ k * ctx.scale, grad_scores.mT @ q * ctx.scale, grad_v


def _causal_mask(xp: Any, length: int, source: int, dtype: Any) -> Any:
    """(L, S): 0 where query i may see key j (j <= i), -inf elsewhere."""
    allowed = xp.tril(xp.ones((length, source), dtype=bool))
    return xp.where(allowed, dtype.type(0), dtype.type(-math.inf))


def _probabilities_of(q: Tensor, k: Tensor, ctx: Any) -> Tensor:
    """The forward's probabilities again, as Tensor ops (for a graph of the backward)."""
    scores = q @ k.mT * ctx.scale
    mask = ctx.mask  # the forward's NumPy passes keep their causal mask; the compiled loops make none
    if mask is None and ctx.causal:
        mask = _causal_mask(xp_of(q._data), *scores.shape[-2:], q._data.dtype)
    if mask is not None:
        scores = scores + wrap(mask, device=q._device)
    probs = scores.softmax(-1)
    if ctx.masked_rows is not None:
        probs = where(wrap(ctx.masked_rows, device=q._device), 0.0, probs)
    return probs


def _additive_mask(attn_mask: Tensor | None, is_causal: bool, query: Tensor) -> Any:
    """attn_mask as an array added to the scores (-inf where a bool mask is False), or None; a
    causal mask is the op's own."""
    if attn_mask is not None and is_causal:
        raise RuntimeError(
            "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True"
        )
    if attn_mask is None:
        return None
    np_dtype = query._data.dtype
    if attn_mask.dtype.name == "bool":
        return xp_of(query._data).where(attn_mask._data, np_dtype.type(0), np_dtype.type(-math.inf))
    if attn_mask.dtype != query.dtype:
        raise RuntimeError(
            f"Expected attn_mask dtype to be bool or float or to match query dtype, but got "
            f"attn_mask.dtype: {_c10_name(attn_mask)} and  query.dtype: {_c10_name(query)} instead."
        )
    return attn_mask._data


def _c10_name(tensor: Tensor) -> str:
    """The dtype as torch's C++ messages print it (float, double, c10::Half)."""
    return _C10_NAMES.get(tensor.dtype.name, tensor.dtype.name)


def _check_shapes(query: Tensor, key: Tensor, value: Tensor) -> None:
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"scaled_dot_product_attention(): argument '{name}' must be Tensor, not {type(t).__name__}"
            )
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError(
            f"scaled_dot_product_attention: query, key and value need at least 2 dims, got "
            f"{list(query.shape)}, {list(key.shape)} and {list(value.shape)}"
        )
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            f"scaled_dot_product_attention: query {list(query.shape)}, key {list(key.shape)} and value "
            f"{list(value.shape)} do not fit: query and key need the same last dim, key and value the "
            "same sequence length"
        )
    if not (query.dtype == key.dtype == value.dtype):
        names = [_c10_name(t) for t in (query, key, value)]
        raise RuntimeError(
            f"Expected query, key, and value to have the same dtype, but got query.dtype: {names[0]} "
            f"key.dtype: {names[1]} and value.dtype: {names[2]} instead."
        )


_C10_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half"}  # as torch's message


@register_functional()
def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(q kᵀ · scale + mask) v over (..., L, E) queries and (..., S, E) keys; dropout applies
    whenever dropout_p > 0, as in torch (the function knows nothing of train/eval)."""
    if AUTOCAST.on:  # torch's autocast lower-precision list
        query, key, value, attn_mask = lower_precision(query, key, value, attn_mask)
    _check_shapes(query, key, value)
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        groups = query.shape[-3] // key.shape[-3]  # each key/value head serves `groups` query heads
        key, value = repeat_interleave(key, groups, dim=-3), repeat_interleave(value, groups, dim=-3)
    mask = _additive_mask(attn_mask, is_causal, query)
    factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    keep = None
    if dropout_p > 0.0:
        batch = tuple(broadcast_shapes(query.shape[:-2], key.shape[:-2]))
        keep = keep_mask(query, dropout_p, (*batch, query.shape[-2], key.shape[-2]))  # F.dropout's draw
    op = ScaledDotProductAttention
    if query._data.dtype.kind == "V":  # bfloat16: in float32, rounded once, as torch's CPU kernel
        op = in_float32(ScaledDotProductAttention)
    return op.apply(query, key, value, params=(mask, factor, keep, is_causal))
