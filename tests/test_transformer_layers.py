"""nn.MultiheadAttention and the transformer layers against torch: outputs, attention weights and the
gradients of the inputs and of every parameter under a random cotangent, in float32 and float64,
over every mask kind and layout; state_dict keys both ways; initialisation; torch's errors.
The stacks (TransformerEncoder, TransformerDecoder, Transformer) are in test_transformer_stacks.py."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from nn_helpers import DTYPES, compare_with_torch, paired_parameters, to_antorcha, torch_name
from transformer_helpers import (
    LOOSER,
    OUR_DTYPE,
    TORCH_DTYPE,
    E,
    H,
    L,
    N,
    S,
    causal_mask,
    mask_array,
    module_pair,
    on_device,
    randomise,
)

import antorcha
import antorcha.nn as nn


@dataclass
class Case:
    """One MultiheadAttention call: which inputs are the same tensor, layout, masks, options."""

    name: str
    kind: str = "cross"  # "self" (query is key is value), "kv" (key is value), "cross"
    batch_first: bool = False
    batched: bool = True
    attn_mask: str | None = None  # "2d_bool", "2d_float", "3d_bool", "3d_float", "causal"
    key_padding_mask: str | None = None  # "kpm_bool", "kpm_float"
    is_causal: bool = False
    average_attn_weights: bool = True
    options: dict = field(default_factory=dict)  # constructor options: kdim, bias, add_bias_kv, ...

    def shapes(self) -> list[tuple]:
        source = L if self.kind == "self" else S
        kdim, vdim = self.options.get("kdim", E), self.options.get("vdim", E)
        dims = {"self": [E], "kv": [E, kdim], "cross": [E, kdim, vdim]}[self.kind]
        lengths = [L, source, source][: len(dims)]
        if not self.batched:
            return [(n, d) for n, d in zip(lengths, dims)]
        return [((N, n, d) if self.batch_first else (n, N, d)) for n, d in zip(lengths, dims)]

    def masks(self, dtype: type) -> dict[str, np.ndarray | None]:
        source = L if self.kind == "self" else S
        attn = self.attn_mask
        return {
            "attn_mask": causal_mask(dtype)
            if attn == "causal"
            else attn and mask_array(attn, dtype, self.batched, L, source),
            "key_padding_mask": self.key_padding_mask
            and mask_array(self.key_padding_mask, dtype, self.batched, L, source),
        }


CASES = [
    Case("plain"),
    Case("self", kind="self"),
    Case("key_is_value", kind="kv"),
    Case("batch_first_self", kind="self", batch_first=True),
    Case("batch_first_cross", batch_first=True, attn_mask="2d_float"),
    Case("bool_2d", attn_mask="2d_bool"),
    Case("float_2d", attn_mask="2d_float"),
    Case("bool_3d", attn_mask="3d_bool"),
    Case("float_3d", attn_mask="3d_float", average_attn_weights=False),
    Case("kpm_bool", key_padding_mask="kpm_bool"),
    Case("kpm_float", key_padding_mask="kpm_float", batch_first=True),
    Case("bool_mask_and_kpm", attn_mask="2d_bool", key_padding_mask="kpm_bool"),
    Case("causal", kind="self", attn_mask="causal", is_causal=True),
    Case("causal_kpm", kind="self", attn_mask="causal", is_causal=True, key_padding_mask="kpm_bool"),
    Case("unbatched", batched=False, attn_mask="2d_float", key_padding_mask="kpm_bool"),
    Case("unbatched_3d", kind="self", batched=False, attn_mask="3d_bool", average_attn_weights=False),
    Case("kdim_vdim", options={"kdim": 6, "vdim": 5}, key_padding_mask="kpm_bool"),
    Case("no_bias", kind="self", options={"bias": False}, attn_mask="2d_float"),
    Case("bias_kv_zero_attn", options={"add_bias_kv": True, "add_zero_attn": True}, attn_mask="2d_bool",
         key_padding_mask="kpm_bool"),
    Case("zero_attn_3d", options={"add_zero_attn": True}, attn_mask="3d_float", batch_first=True),
]  # fmt: skip


def _attend(
    lib: Any, module: Any, inputs: list, case: Case, masks: dict, need_weights: bool, device: str
) -> Any:
    """The output, with the weights (when returned) appended, as one flat tensor."""
    query, key, value = {"self": lambda x: (x, x, x), "kv": lambda q, k: (q, k, k), "cross": lambda *a: a}[
        case.kind
    ](*inputs)
    out, weights = module(
        query, key, value, need_weights=need_weights, average_attn_weights=case.average_attn_weights,
        is_causal=case.is_causal, **{name: on_device(lib, m, device) for name, m in masks.items()},
    )  # fmt: skip
    if not need_weights:
        assert weights is None
        return out.flatten()
    return lib.cat([out.flatten(), weights.flatten()])


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_multihead_attention_matches_torch(case: Case, dtype: type, need_weights: bool, device: str) -> None:
    options = {"batch_first": case.batch_first, **case.options}
    ours, theirs = module_pair("MultiheadAttention", dtype, device, E, H, **options)
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in case.shapes()]
    masks = case.masks(dtype)
    compare_with_torch(
        lambda *xs: _attend(antorcha, ours, list(xs), case, masks, need_weights, device),
        lambda *xs: _attend(torch, theirs, list(xs), case, masks, need_weights, device),
        arrays, params=paired_parameters(ours, theirs), device=device, **LOOSER[dtype],
    )  # fmt: skip


def _functional(lib: Any, weights: list, q: Any, k: Any, v: Any, static: bool, need_weights: bool) -> Any:
    """F.multi_head_attention_forward with separate projection weights, bias_k/bias_v, or (static)
    the caller's own per-head keys and values."""
    w_q, w_k, w_v, in_bias, out_w, out_b, bias_k, bias_v = weights
    common = {"training": False, "need_weights": need_weights, "use_separate_proj_weight": True,
              "q_proj_weight": w_q, "k_proj_weight": w_k, "v_proj_weight": w_v}  # fmt: skip
    if static:
        heads_k = k.reshape(S, N * H, E // H).transpose(0, 1)  # (N * H, S, E / H)
        heads_v = v.reshape(S, N * H, E // H).transpose(0, 1)
        common.update(static_k=heads_k, static_v=heads_v)
        bias_k = bias_v = None
    out, attn = lib.nn.functional.multi_head_attention_forward(
        q, k, v, E, H, None, in_bias, bias_k, bias_v, False, 0.0, out_w, out_b, **common
    )
    return out.flatten() if attn is None else lib.cat([out.flatten(), attn.flatten()])


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("static", [False, True])
def test_functional_form_matches_torch(static: bool, need_weights: bool) -> None:
    shapes = [
        (E, E),
        (E, E),
        (E, E),
        (3 * E,),
        (E, E),
        (E,),
        (1, 1, E),
        (1, 1, E),
        (L, N, E),
        (S, N, E),
        (S, N, E),
    ]
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal(shape) * 0.5 for shape in shapes]

    def run(lib: Any) -> Any:
        return lambda *xs: _functional(lib, list(xs[:8]), *xs[8:], static, need_weights)

    compare_with_torch(run(antorcha), run(torch), arrays)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize(
    ("which", "shape"), [("attn_mask", (L, S)), ("attn_mask", (N * H, L, S)), ("key_padding_mask", (N, S))]
)
def test_float_masks_get_torchs_gradients(which: str, shape: tuple, need_weights: bool) -> None:
    ours, theirs = module_pair("MultiheadAttention", np.float64, "cpu", E, H)
    rng = np.random.default_rng(11)
    arrays = [rng.standard_normal(s) for s in [(L, N, E), (S, N, E), (S, N, E), shape]]

    def run(module: Any) -> Any:
        return lambda q, k, v, mask: module(q, k, v, need_weights=need_weights, **{which: mask})[0]

    compare_with_torch(run(ours), run(theirs), arrays, params=paired_parameters(ours, theirs))


def test_weights_shapes_and_unbatched_output() -> None:
    module = nn.MultiheadAttention(E, H, batch_first=True)
    out, weights = module(antorcha.randn(N, L, E), antorcha.randn(N, S, E), antorcha.randn(N, S, E))
    assert out.shape == (N, L, E) and weights.shape == (N, L, S)
    _, per_head = module(
        antorcha.randn(L, E), antorcha.randn(S, E), antorcha.randn(S, E), average_attn_weights=False
    )
    assert per_head.shape == (H, L, S)


def test_inference_matches_torchs_fast_path() -> None:
    """Eval mode under no_grad with self-attention, batch_first and a bool padding mask: torch takes
    its fused kernel; the values agree with antorcha's (there is one path here)."""
    ours, theirs = module_pair("MultiheadAttention", np.float64, "cpu", E, H, batch_first=True)
    ours.eval(), theirs.eval()
    x = np.random.default_rng(0).standard_normal((N, L, E))
    kpm = mask_array("kpm_bool", np.float64, True, L, L)
    with torch.no_grad(), antorcha.no_grad():
        expected = theirs(*[torch.tensor(x)] * 3, key_padding_mask=torch.tensor(kpm))
        x_ours = antorcha.tensor(x)
        result = ours(x_ours, x_ours, x_ours, key_padding_mask=antorcha.tensor(kpm))
    for mine, reference in zip(result, expected):
        np.testing.assert_allclose(mine.numpy(), reference.numpy(), rtol=1e-10, atol=1e-12)


# ---- structure: parameters, state_dict, init -------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [{}, {"kdim": 6, "vdim": 5}, {"bias": False}, {"add_bias_kv": True}],
    ids=["default", "kdim", "nobias", "bias_kv"],
)
def test_state_dict_loads_both_ways(options: dict) -> None:
    theirs = torch.nn.MultiheadAttention(E, H, **options)
    ours = nn.MultiheadAttention(E, H, **options)
    ours_state, their_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(their_state)
    assert [tuple(v.shape) for v in ours_state.values()] == [tuple(v.shape) for v in their_state.values()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict({k: to_antorcha(v) for k, v in their_state.items()})
    theirs.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in ours.state_dict().items()})
    assert type(ours.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert isinstance(ours.out_proj, nn.Linear)
    for name in (
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "in_proj_weight",
        "in_proj_bias",
        "bias_k",
    ):
        assert (getattr(ours, name) is None) == (getattr(theirs, name) is None), name
    assert ours._qkv_same_embed_dim == theirs._qkv_same_embed_dim
    assert repr(ours) == repr(theirs)


def test_initialisation_follows_torch() -> None:
    module = nn.MultiheadAttention(64, 4, add_bias_kv=True)
    bound = np.sqrt(6.0 / (64 + 3 * 64))  # xavier_uniform_ over the (3E, E) weight
    weight = module.in_proj_weight.detach().numpy()
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.9 * bound
    assert not module.in_proj_bias.detach().numpy().any() and not module.out_proj.bias.detach().numpy().any()
    # xavier_normal_ over (1, 1, E): fan_in = fan_out = E, so std = sqrt(2 / 2E)
    assert abs(module.bias_k.detach().numpy().std() / np.sqrt(1 / 64) - 1) < 0.3
    separate = nn.MultiheadAttention(8, 2, kdim=3)
    assert separate.in_proj_weight is None and tuple(separate.k_proj_weight.shape) == (8, 3)


# ---- errors ----------------------------------------------------------------------------------------
def _error_calls(lib: Any) -> dict[str, Any]:
    mha = lib.nn.MultiheadAttention
    x3, x2 = lib.zeros(L, N, E), lib.zeros(L, E)
    return {
        "indivisible": lambda: mha(10, 3),
        "not_positive": lambda: mha(0, 2),
        "mask_2d_shape": lambda: mha(E, H)(x3, x3, x3, attn_mask=lib.zeros(L, L + 1)),
        "mask_3d_shape": lambda: mha(E, H)(x3, x3, x3, attn_mask=lib.zeros(N, L, L)),
        "mask_4d": lambda: mha(E, H)(x3, x3, x3, attn_mask=lib.zeros(1, 1, L, L)),
        "mask_int": lambda: mha(E, H)(x3, x3, x3, attn_mask=lib.zeros(L, L, dtype=lib.int64)),
        "kpm_shape": lambda: mha(E, H)(x3, x3, x3, key_padding_mask=lib.zeros(N, L + 1, dtype=lib.bool)),
        "kpm_batch": lambda: mha(E, H)(x3, x3, x3, key_padding_mask=lib.zeros(N + 1, L, dtype=lib.bool)),
        "kpm_dims": lambda: mha(E, H)(x3, x3, x3, key_padding_mask=lib.zeros(L, dtype=lib.bool)),
        "causal_without_mask": lambda: mha(E, H)(x3, x3, x3, is_causal=True),
        "query_4d": lambda: mha(E, H)(lib.zeros(1, L, N, E), x3, x3),
        "key_dims": lambda: mha(E, H)(x3, x2, x2),
        "unbatched_3d_mask": lambda: mha(E, H)(x2, x2, x2, attn_mask=lib.zeros(H + 1, L, L)),
        "embed_dim": lambda: mha(E, H)(lib.zeros(L, N, E + 2), x3, x3),
        "key_value_shapes": lambda: mha(E, H)(x3, x3, lib.zeros(L + 1, N, E)),
        "mask_dtype": lambda: mha(E, H)(x3, x3, x3, attn_mask=lib.zeros(L, L, dtype=lib.float64)),
        "kpm_dtype": lambda: mha(E, H)(x3, x3, x3, key_padding_mask=lib.zeros(N, L, dtype=lib.float64)),
        "activation": lambda: lib.nn.TransformerEncoderLayer(E, H, activation="tanh"),
        "transformer_batch": lambda: lib.nn.Transformer(E, H, 1, 1, 16)(x3, lib.zeros(L, N + 1, E)),
        "transformer_features": lambda: lib.nn.Transformer(E, H, 1, 1, 16)(x3, lib.zeros(L, N, E + 1)),
    }


@pytest.mark.parametrize("name", list(_error_calls(torch)))
def test_errors_match_torch(name: str) -> None:
    with pytest.raises(Exception) as expected, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _error_calls(torch)[name]()
    with pytest.raises(expected.type) as ours, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _error_calls(antorcha)[name]()
    assert torch_name(str(ours.value)) == str(expected.value)


def test_mismatched_mask_types_warn_as_torch() -> None:
    messages = []
    for lib in (torch, antorcha):
        x = lib.zeros(L, N, E)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lib.nn.MultiheadAttention(E, H)(
                x, x, x, attn_mask=lib.zeros(L, L), key_padding_mask=lib.zeros(N, L, dtype=lib.bool)
            )
        messages.append(sorted({str(w.message) for w in caught if "mismatched" in str(w.message)}))
    assert messages[0] and messages[0] == messages[1]


# ---- transformer layers ----------------------------------------------------------------------------
ACTIVATIONS = {
    "relu": lambda lib: "relu",
    "gelu": lambda lib: "gelu",
    "F.gelu": lambda lib: lib.nn.functional.gelu,
    "silu": lambda lib: lib.nn.functional.silu,
    "GELU_tanh": lambda lib: lib.nn.GELU(approximate="tanh"),
}
LAYER = {"d_model": E, "nhead": H, "dim_feedforward": 16, "dropout": 0.0}


@dataclass
class LayerCase:
    name: str
    activation: str = "relu"
    options: dict = field(default_factory=dict)  # norm_first, batch_first, bias, layer_norm_eps
    masks: dict = field(default_factory=dict)  # argument name -> mask kind ("causal", "2d_float", ...)
    causal: dict = field(default_factory=dict)  # is_causal / tgt_is_causal hints
    batched: bool = True

    def layer_options(self, lib: Any) -> dict:
        return {**LAYER, "activation": ACTIVATIONS[self.activation](lib), **self.options}

    def shape(self, length: int) -> tuple:
        if not self.batched:
            return (length, E)
        return (N, length, E) if self.options.get("batch_first") else (length, N, E)

    def mask_arrays(self, dtype: type, sources: dict[str, int]) -> dict[str, np.ndarray]:
        """sources: each mask argument's (query length, key length)."""
        arrays = {}
        for name, kind in self.masks.items():
            length, source = sources[name]
            arrays[name] = (
                causal_mask(dtype, length)
                if kind == "causal"
                else mask_array(kind, dtype, self.batched, length, source)
            )
        return arrays


def _layer_pair(name: str, case: LayerCase, dtype: type, device: str) -> tuple[Any, Any]:
    theirs_options, ours_options = case.layer_options(torch), case.layer_options(antorcha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(torch.nn, name)(**theirs_options).to(TORCH_DTYPE[dtype])
        ours = getattr(nn, name)(**ours_options).to(OUR_DTYPE[dtype])
    randomise(theirs)
    ours.load_state_dict({key: to_antorcha(value) for key, value in theirs.state_dict().items()})
    return ours.to(device), theirs


def _compare_layer(
    name: str, case: LayerCase, dtype: type, device: str, lengths: list[int], sources: dict
) -> None:
    ours, theirs = _layer_pair(name, case, dtype, device)
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(case.shape(n)).astype(dtype) for n in lengths]
    masks = case.mask_arrays(dtype, sources)

    def run(lib: Any, module: Any, device: str) -> Any:
        return lambda *xs: module(
            *xs, **{k: on_device(lib, m, device) for k, m in masks.items()}, **case.causal
        )

    compare_with_torch(
        run(antorcha, ours, device), run(torch, theirs, "cpu"), arrays,
        params=paired_parameters(ours, theirs), device=device, **LOOSER[dtype],
    )  # fmt: skip


ENCODER_CASES = [
    LayerCase("post_norm_relu"),
    LayerCase("pre_norm_gelu", "gelu", {"norm_first": True}, {"src_mask": "2d_float"}),
    LayerCase("F_gelu_batch_first", "F.gelu", {"batch_first": True}, {"src_key_padding_mask": "kpm_bool"}),
    LayerCase(
        "silu_callable",
        "silu",
        {"norm_first": True},
        {"src_mask": "2d_bool", "src_key_padding_mask": "kpm_bool"},
    ),
    LayerCase("GELU_module", "GELU_tanh", {"batch_first": True}, {"src_key_padding_mask": "kpm_float"}),
    LayerCase("causal", "relu", {"norm_first": True}, {"src_mask": "causal"}, {"is_causal": True}),
    LayerCase(
        "causal_kpm",
        "relu",
        {},
        {"src_mask": "causal", "src_key_padding_mask": "kpm_bool"},
        {"is_causal": True},
    ),
    LayerCase(
        "unbatched", "gelu", {}, {"src_mask": "2d_float", "src_key_padding_mask": "kpm_bool"}, batched=False
    ),
    LayerCase("no_bias_eps", "relu", {"bias": False, "layer_norm_eps": 1e-3}, {"src_mask": "3d_float"}),
]


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ENCODER_CASES, ids=lambda c: c.name)
def test_encoder_layer_matches_torch(case: LayerCase, dtype: type, device: str) -> None:
    sources = {"src_mask": (L, L), "src_key_padding_mask": (L, L)}
    _compare_layer("TransformerEncoderLayer", case, dtype, device, [L], sources)


DECODER_CASES = [
    LayerCase("post_norm_relu"),
    LayerCase(
        "pre_norm_gelu_masks",
        "gelu",
        {"norm_first": True},
        {"tgt_mask": "2d_float", "memory_mask": "2d_bool"},
    ),
    LayerCase(
        "causal_kpms",
        "relu",
        {"batch_first": True},
        {"tgt_mask": "causal", "tgt_key_padding_mask": "kpm_bool", "memory_key_padding_mask": "kpm_bool"},
        {"tgt_is_causal": True},
    ),
    LayerCase("causal_hint", "silu", {"norm_first": True}, {"tgt_mask": "causal"}, {"tgt_is_causal": True}),
    LayerCase(
        "unbatched",
        "relu",
        {},
        {"memory_mask": "2d_float", "memory_key_padding_mask": "kpm_bool"},
        batched=False,
    ),
    LayerCase("no_bias", "gelu", {"bias": False}, {"memory_mask": "3d_float"}),
]


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", DECODER_CASES, ids=lambda c: c.name)
def test_decoder_layer_matches_torch(case: LayerCase, dtype: type, device: str) -> None:
    sources = {
        "tgt_mask": (L, L),
        "tgt_key_padding_mask": (L, L),
        "memory_mask": (L, S),
        "memory_key_padding_mask": (L, S),
    }
    _compare_layer("TransformerDecoderLayer", case, dtype, device, [L, S], sources)


def test_second_order_matches_torch() -> None:
    """grad of grad through the explicit (need_weights) path; torch's CPU SDPA kernel has no
    double backward, so only this path can be compared."""
    ours, theirs = module_pair("MultiheadAttention", np.float64, "cpu", E, H)
    x = np.random.default_rng(0).standard_normal((L, N, E))
    results = []
    for lib, module in ((torch, theirs), (antorcha, ours)):
        leaf = lib.tensor(x, requires_grad=True)
        out = module(leaf, leaf, leaf, attn_mask=lib.tensor(mask_array("2d_float", np.float64, True, L, L)))[
            0
        ]
        (grad,) = lib.autograd.grad((out**2).sum(), leaf, create_graph=True)
        (second,) = lib.autograd.grad((grad**2).sum(), leaf)
        results.append(second.detach().numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-10, atol=1e-12)
