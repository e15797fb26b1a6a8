"""nn.MultiheadAttention and its functional form, multi_head_attention_forward, as torch computes them.

Sequence-first layout inside: (L, N, E) queries, (S, N, E) keys and values; heads are split off
the embedding as (N * H, L, E / H). With need_weights the probabilities are computed explicitly
(softmax of q kᵀ / sqrt(E / H) + mask) and returned, averaged over heads unless asked not to;
without, the heads go through F.scaled_dot_product_attention. Masks follow torch's convention
here, the opposite of SDPA's: a True in a bool mask means "do not attend", and becomes -inf.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from antorcha._creation import empty, zeros, zeros_like
from antorcha._grad_mode import is_grad_enabled
from antorcha._registry import register_functional
from antorcha._tensor import Size, Tensor
from antorcha.nn import init
from antorcha.nn.functional._attention import _C10_NAMES, scaled_dot_product_attention
from antorcha.nn.functional._layers import dropout
from antorcha.nn.linear import Linear
from antorcha.nn.module import Module
from antorcha.nn.parameter import Parameter
from antorcha.ops.linalg import linear
from antorcha.ops.movement import cat

__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear", "multi_head_attention_forward"]


def _canonical_mask(
    mask: Tensor | None,
    mask_name: str,
    other_type: Any,
    other_name: str,
    target_type: Any,
    check_other: bool = True,
) -> Tensor | None:
    """A bool mask as an additive float mask (-inf where True); a float mask as it is."""
    if mask is None:
        return None
    is_float = mask.is_floating_point()
    if mask.dtype.name != "bool" and not is_float:
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(
            f"Support for mismatched {mask_name} and {other_name} is deprecated. "
            "Use same type for both instead.",
            stacklevel=2,
        )
    if not is_float:
        mask = zeros_like(mask, dtype=target_type).masked_fill_(mask, -math.inf)
    return mask


def _none_or_dtype(input: Tensor | None) -> Any:
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or torch.Tensor")


def _mha_shape_check(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding_mask: Tensor | None,
    attn_mask: Tensor | None,
    num_heads: int,
) -> bool:
    """Whether the input is batched (3-D query) or not (2-D), with torch's AssertionErrors."""
    if query.dim() not in (2, 3):
        raise AssertionError(
            f"query should be unbatched 2D or batched 3D tensor but received {query.dim()}-D query tensor"
        )
    batched = query.dim() == 3
    kind = "batched (3-D)" if batched else "unbatched (2-D)"
    if key.dim() != query.dim() or value.dim() != query.dim():
        raise AssertionError(
            f"For {kind} `query`, expected `key` and `value` to be {query.dim()}-D"
            f" but found {key.dim()}-D and {value.dim()}-D tensors respectively"
        )
    if key_padding_mask is not None and key_padding_mask.dim() != query.dim() - 1:
        raise AssertionError(
            f"For {kind} `query`, expected `key_padding_mask` to be `None` or {query.dim() - 1}-D"
            f" but found {key_padding_mask.dim()}-D tensor instead"
        )
    if attn_mask is not None:
        if attn_mask.dim() not in (2, 3):
            raise AssertionError(
                f"For {kind} `query`, expected `attn_mask` to be `None`, 2-D or 3-D"
                f" but found {attn_mask.dim()}-D tensor instead"
            )
        expected = (num_heads, query.shape[0], key.shape[0])
        if not batched and attn_mask.dim() == 3 and attn_mask.shape != expected:
            raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}")
    return batched


def _in_projection_packed(
    q: Tensor, k: Tensor, v: Tensor, w: Tensor, b: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """q, k, v through one (3E, E) weight: one product for self-attention, two for key is value."""
    embed = q.shape[-1]
    if k is v and q is k:
        return tuple(linear(q, w, b).chunk(3, dim=-1))  # type: ignore[return-value]
    if k is v:
        w_q, w_kv = w.split([embed, 2 * embed])
        b_q, b_kv = (None, None) if b is None else b.split([embed, 2 * embed])
        k_proj, v_proj = linear(k, w_kv, b_kv).chunk(2, dim=-1)
        return linear(q, w_q, b_q), k_proj, v_proj
    w_q, w_k, w_v = w.chunk(3)
    b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def _in_projection(
    q: Tensor, k: Tensor, v: Tensor, weights: tuple[Tensor, Tensor, Tensor], biases: tuple
) -> tuple[Tensor, Tensor, Tensor]:
    """q, k, v through their own weights (kdim or vdim differ from embed_dim)."""
    embed = q.shape[-1]
    names = ("query", "key", "value")
    for name, x, w, b in zip(names, (q, k, v), weights, biases):
        if w.shape != (embed, x.shape[-1]):
            raise AssertionError(
                f"expecting {name} weights shape of {(embed, x.shape[-1])}, but got {w.shape}"
            )
        if b is not None and b.shape != (embed,):
            raise AssertionError(f"expecting {name} bias shape of {(embed,)}, but got {b.shape}")
    return tuple(linear(x, w, b) for x, w, b in zip((q, k, v), weights, biases))  # type: ignore[return-value]


def _pad_last(mask: Tensor | None) -> Tensor | None:
    """One more, unmasked (zero) source position at the end: F.pad(mask, (0, 1))."""
    if mask is None:
        return None
    return cat([mask, zeros((*mask.shape[:-1], 1), dtype=mask.dtype, device=mask.device)], dim=-1)


def _checked_attn_mask(
    attn_mask: Tensor | None, tgt_len: int, src_len: int, heads_total: int
) -> Tensor | None:
    """A 2-D (L, S) mask as (1, L, S); a 3-D one must be (N * H, L, S)."""
    if attn_mask is None:
        return None
    if attn_mask.dim() == 2:
        if attn_mask.shape != (tgt_len, src_len):
            raise RuntimeError(
                f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be {(tgt_len, src_len)}."
            )
        return attn_mask.unsqueeze(0)
    if attn_mask.dim() == 3:
        if attn_mask.shape != (heads_total, tgt_len, src_len):
            raise RuntimeError(
                f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                f"{(heads_total, tgt_len, src_len)}."
            )
        return attn_mask
    raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")


def _split_heads(x: Tensor, static: Tensor | None, heads_total: int, head_dim: int, name: str) -> Tensor:
    """(S, N, E) -> (N * H, S, E / H), or the caller's static (N * H, S, E / H) keys or values."""
    if static is None:
        return x.reshape(x.shape[0], heads_total, head_dim).transpose(0, 1)
    if static.size(0) != heads_total:
        raise AssertionError(f"expecting static_{name}.size(0) of {heads_total}, but got {static.size(0)}")
    if static.size(2) != head_dim:
        raise AssertionError(f"expecting static_{name}.size(2) of {head_dim}, but got {static.size(2)}")
    return static


def _check_key_padding_mask(key_padding_mask: Tensor, src_len: int, bsz: int) -> None:
    if key_padding_mask.shape[0] != bsz:
        raise AssertionError(
            f"Expected key_padded_mask.shape[0] to be {bsz}, but got {key_padding_mask.shape[0]}"
        )
    if key_padding_mask.shape[1] != src_len:
        raise AssertionError(
            f"Expected key_padded_mask.shape[1] to be {src_len}, but got {key_padding_mask.shape[1]}"
        )


def _merged_mask(attn_mask: Tensor | None, key_padding_mask: Tensor | None, num_heads: int) -> Tensor | None:
    """attn_mask (1 or N * H, L, S) plus the (N, S) key padding mask repeated per head."""
    if key_padding_mask is None:
        return attn_mask
    bsz, src_len = key_padding_mask.shape
    per_head = key_padding_mask.view(bsz, 1, 1, src_len).expand(-1, num_heads, -1, -1)
    per_head = per_head.reshape(bsz * num_heads, 1, src_len)  # (N * H, 1, S)
    return per_head if attn_mask is None else attn_mask + per_head


def _explicit_attention(
    q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None, dropout_p: float, is_causal: bool
) -> tuple[Tensor, Tensor]:
    """(N * H, L, E / H) output and (N * H, L, S) probabilities, computed as torch does with need_weights."""
    q_scaled = q * math.sqrt(1.0 / float(q.shape[-1]))
    if is_causal and attn_mask is None:
        raise AssertionError("FIXME: is_causal not implemented for need_weights")
    if attn_mask is not None and attn_mask.dtype != q.dtype:  # torch's baddbmm refuses to promote
        names = [_C10_NAMES.get(t.dtype.name, t.dtype.name) for t in (attn_mask, q, k)]
        raise RuntimeError(
            f"Input dtypes must be the same, got: input {names[0]}, batch1: {names[1]}, batch2: {names[2]}"
        )
    scores = q_scaled @ k.transpose(-2, -1)  # (N * H, L, S)
    if attn_mask is not None:
        scores = attn_mask + scores
    weights = scores.softmax(dim=-1)
    if dropout_p > 0.0:
        weights = dropout(weights, p=dropout_p)
    return weights @ v, weights


def _prepare_masks(
    key_padding_mask: Tensor | None,
    attn_mask: Tensor | None,
    query: Tensor,
    need_weights: bool,
    is_causal: bool,
) -> tuple[Tensor | None, Tensor | None, bool]:
    """Both masks as float; with the is_causal hint and nothing else to mask, SDPA's causal path
    is used and attn_mask dropped; a key padding mask turns the hint off."""
    key_padding_mask = _canonical_mask(
        key_padding_mask, "key_padding_mask", _none_or_dtype(attn_mask), "attn_mask", query.dtype
    )
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer module method "
            "`generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        return None, None, True
    attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
    return key_padding_mask, attn_mask, is_causal and key_padding_mask is None


def _check_embedding(
    query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int, separate: bool
) -> int:
    """The head dim, after torch's checks of the embedding and of key against value."""
    embed_dim = query.shape[2]
    if embed_dim != embed_dim_to_check:
        raise AssertionError(
            f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}"
        )
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if separate and key.shape[:2] != value.shape[:2]:
        raise AssertionError(
            f"key's sequence and batch dims {Size(key.shape[:2])} do not match value's "
            f"{Size(value.shape[:2])}"
        )
    if not separate and key.shape != value.shape:
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")
    return head_dim


def _check_bias_kv(bias_k: Tensor | None, bias_v: Tensor | None, static_k: Any, static_v: Any) -> None:
    if bias_k is None or bias_v is None:
        raise AssertionError(
            "bias_k is set but bias_v is None" if bias_k is not None else "bias_v is set but bias_k is None"
        )
    if static_k is not None or static_v is not None:
        raise AssertionError(f"bias cannot be added to static {'key' if static_k is not None else 'value'}.")


def _returned_weights(weights: Tensor, bsz: int, need_weights: bool, average: bool) -> Tensor | None:
    """(N * H, L, S) probabilities as (N, H, L, S), or averaged over heads as (N, L, S)."""
    if not need_weights:
        return None
    weights = weights.view(bsz, -1, *weights.shape[1:])
    return weights.mean(dim=1) if average else weights


@register_functional()
def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None,
    static_v: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """torch.nn.functional.multi_head_attention_forward: (L, N, E) queries, (S, N, E) keys/values
    (or unbatched (L, E), (S, E)); returns the (L, N, E) output and the weights or None."""
    batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    key_padding_mask, attn_mask, is_causal = _prepare_masks(
        key_padding_mask, attn_mask, query, need_weights, is_causal
    )
    head_dim = _check_embedding(query, key, value, embed_dim_to_check, num_heads, use_separate_proj_weight)
    q, k, v = _project(
        query, key, value, in_proj_weight, in_proj_bias, use_separate_proj_weight,
        (q_proj_weight, k_proj_weight, v_proj_weight),
    )  # fmt: skip
    attn_mask = _checked_attn_mask(attn_mask, tgt_len, key.shape[0], bsz * num_heads)
    if bias_k is not None or bias_v is not None:
        _check_bias_kv(bias_k, bias_v, static_k, static_v)
        k, v = cat([k, bias_k.repeat(1, bsz, 1)]), cat([v, bias_v.repeat(1, bsz, 1)])  # (S + 1, N, E)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)  # (N * H, L, E / H)
    k = _split_heads(k, static_k, bsz * num_heads, head_dim, "k")  # (N * H, S, E / H)
    v = _split_heads(v, static_v, bsz * num_heads, head_dim, "v")
    if add_zero_attn:
        k, v = (
            cat([x, zeros((x.shape[0], 1, head_dim), dtype=x.dtype, device=x.device)], dim=1) for x in (k, v)
        )
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    if key_padding_mask is not None:
        _check_key_padding_mask(key_padding_mask, k.shape[1], bsz)
    attn_mask = _merged_mask(attn_mask, key_padding_mask, num_heads)
    dropout_p = dropout_p if training else 0.0
    # SDPA takes its mask as a constant: a float mask that needs a gradient goes the explicit way
    mask_needs_grad = attn_mask is not None and attn_mask.requires_grad and is_grad_enabled()
    if need_weights or mask_needs_grad:
        out, weights = _explicit_attention(q, k, v, attn_mask, dropout_p, is_causal)  # (N * H, L, E / H)
        out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        weights = _returned_weights(weights, bsz, need_weights, average_attn_weights)
    else:
        out, weights = _sdpa_attention(q, k, v, attn_mask, dropout_p, is_causal, bsz, num_heads), None
    out = linear(out, out_proj_weight, out_proj_bias).view(tgt_len, bsz, -1)  # (L, N, E)
    if not batched:
        out = out.squeeze(1)
        weights = None if weights is None else weights.squeeze(0)
    return out, weights


def _project(
    query: Tensor, key: Tensor, value: Tensor, in_proj_weight: Tensor | None, in_proj_bias: Tensor | None,
    separate: bool, separate_weights: tuple,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    if not separate:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        return _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    for name, weight in zip("qkv", separate_weights):
        if weight is None:
            raise AssertionError(f"use_separate_proj_weight is True but {name}_proj_weight is None")
    biases = (None, None, None) if in_proj_bias is None else tuple(in_proj_bias.chunk(3))
    return _in_projection(query, key, value, separate_weights, biases)


def _sdpa_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    attn_mask: Tensor | None,
    dropout_p: float,
    is_causal: bool,
    bsz: int,
    heads: int,
) -> Tensor:
    """The heads through F.scaled_dot_product_attention, back as (L * N, E)."""
    if attn_mask is not None:
        if attn_mask.size(0) == 1 and attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(0)  # (1, 1, L, S)
        else:
            attn_mask = attn_mask.view(bsz, heads, -1, attn_mask.shape[-1])  # (N, H, L or 1, S)
    tgt_len, head_dim = q.shape[1], q.shape[2]
    q, k, v = (x.reshape(bsz, heads, x.shape[1], head_dim) for x in (q, k, v))  # (N, H, L, E / H)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    return out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, heads * head_dim)


class NonDynamicallyQuantizableLinear(Linear):
    """torch's marker subclass of Linear for MultiheadAttention.out_proj (same parameters)."""


class MultiheadAttention(Module):
    """torch.nn.MultiheadAttention: in_proj_weight (3E, E) (or q/k/v_proj_weight when kdim or vdim
    differ from embed_dim), in_proj_bias (3E), out_proj, optional bias_k/bias_v (1, 1, E)."""

    __constants__ = ["batch_first"]

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                f"num_heads={num_heads} instead"
            )
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads, self.dropout, self.batch_first = num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != self.embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        self._make_projections(bias, factory)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **factory)
        if add_bias_kv:
            self.bias_k = Parameter(empty((1, 1, embed_dim), **factory))
            self.bias_v = Parameter(empty((1, 1, embed_dim), **factory))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _make_projections(self, bias: bool, factory: dict) -> None:
        """Registered in torch's order, so state_dict keys come out in torch's order."""
        embed = self.embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty((3 * embed, embed), **factory))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(empty((embed, embed), **factory))
            self.k_proj_weight = Parameter(empty((embed, self.kdim), **factory))
            self.v_proj_weight = Parameter(empty((embed, self.vdim), **factory))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed, **factory))
        else:
            self.register_parameter("in_proj_bias", None)

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        batched = query.dim() == 3
        key_padding_mask = _canonical_mask(
            key_padding_mask, "key_padding_mask", _none_or_dtype(attn_mask), "attn_mask", query.dtype
        )
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
        if self.batch_first and batched:
            query, key, value = _sequence_first(query, key, value)
        out, weights = multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight,
            self.out_proj.bias, training=self.training, key_padding_mask=key_padding_mask,
            need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim, q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal,
        )  # fmt: skip
        if self.batch_first and batched:
            return out.transpose(1, 0), weights
        return out, weights


def _sequence_first(query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(N, L, E) -> (L, N, E), keeping which of query, key and value are the same tensor (the
    projection takes one product for self-attention)."""
    if key is value:
        if query is key:
            query = key = value = query.transpose(1, 0)
            return query, key, value
        query, key = query.transpose(1, 0), key.transpose(1, 0)
        return query, key, key
    return query.transpose(1, 0), key.transpose(1, 0), value.transpose(1, 0)
