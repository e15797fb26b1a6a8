"""Op-spec rows for attention and RMS normalisation (joined into `op_specs.SPECS`).

`F.scaled_dot_product_attention` over broadcast batch and head dims, with each mask kind: none,
boolean, additive float, `is_causal`, and an explicit `scale`. `F.rms_norm` over 1 or 2 trailing
dims, with and without a weight.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import strategies as s
from hypothesis import strategies as st
from op_spec import ACCUMULATE, OpSpec
from strategies import Case, real

# public names of this area that are not ops, or are compared with torch elsewhere: name -> why
NOT_OPS: dict[str, str] = {}

MASK_KINDS = ("none", "bool", "float", "causal", "scale")


def _keep_one_key(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """A boolean mask in which every query still sees key 0 (a row with no key is a separate case)."""
    mask = rng.random(shape) > 0.4
    mask[..., 0] = True
    return mask


def _broadcast_partner(draw: Any, dims: tuple[int, ...]) -> tuple[int, ...]:
    """The same batch dims, some of them 1: key and value broadcast against the query."""
    return tuple(d if draw(st.booleans()) else 1 for d in dims)


def _attention_case(draw: Any, cfg: s.ShapeConfig) -> Case:
    side = st.integers(max(cfg.min_side, 1), max(cfg.max_side, 2))
    batch = tuple(draw(st.lists(side, min_size=0, max_size=2)))  # (), (H,) or (B, H)
    length, source, embed, value_dim = draw(side), draw(side), draw(side), draw(side)
    kind = draw(st.sampled_from(MASK_KINDS))
    if kind == "causal":
        source = length  # torch's is_causal mask is the (L, S) upper triangle; keep it square
    kv_batch = _broadcast_partner(draw, batch)
    shapes = ((*batch, length, embed), (*kv_batch, source, embed), (*kv_batch, source, value_dim))
    case = s.make_case(draw, shapes, (real, real, real))
    rng = np.random.default_rng(case.seed + 1)
    mask_shape = (*_broadcast_partner(draw, batch), length, source)
    kwargs: dict[str, Any] = {}
    if kind == "bool":
        kwargs["attn_mask"] = _keep_one_key(rng, mask_shape)
    elif kind == "float":
        kwargs["attn_mask"] = rng.standard_normal(mask_shape)
    elif kind == "causal":
        kwargs["is_causal"] = True
    elif kind == "scale":
        kwargs["scale"] = draw(st.sampled_from([0.3, 1.7]))
    return Case(case.arrays, kwargs, case.seed)


def _sdpa(m: Any, q: Any, k: Any, v: Any, attn_mask: Any = None, **kwargs: Any) -> Any:
    if attn_mask is not None:  # a constant: as a float mask it takes the inputs' dtype
        dtype = None if attn_mask.dtype == bool else q.dtype
        attn_mask = m.tensor(attn_mask, dtype=dtype)
    return m.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, **kwargs)


def _rms_norm_case(draw: Any, cfg: s.ShapeConfig) -> Case:
    side = st.integers(max(cfg.min_side, 1), cfg.max_side)
    normalized = tuple(draw(st.lists(side, min_size=1, max_size=2)))
    batch = tuple(draw(st.lists(side, max_size=2)))
    eps = draw(st.sampled_from([None, 1e-6]))
    if draw(st.booleans()):
        return s.make_case(draw, ((*batch, *normalized), normalized), (real, real), eps=eps)
    return s.make_case(draw, ((*batch, *normalized),), (real,), eps=eps)


def _rms_norm(m: Any, x: Any, weight: Any = None, **kwargs: Any) -> Any:
    shape = tuple(x.shape[x.dim() - (weight.dim() if weight is not None else 1) :])
    return m.nn.functional.rms_norm(x, shape, weight, **kwargs)


def rows() -> list[OpSpec]:
    return [
        OpSpec("scaled_dot_product_attention", s.custom(_attention_case), call=_sdpa,
               covers=("F.scaled_dot_product_attention",), tol=ACCUMULATE, edge=False, examples=25,
               second_order=True),
        OpSpec("rms_norm", s.custom(_rms_norm_case), call=_rms_norm, covers=("F.rms_norm",),
               tol=ACCUMULATE, edge=False, second_order=True),
    ]
