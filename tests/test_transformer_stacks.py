"""TransformerEncoder, TransformerDecoder and Transformer against torch: values and every gradient,
deep-copied layers, torch's nested-tensor warning, the causal mask and its detection, dropout in
train and eval mode, and 50 AdamW steps of an encoder giving torch's losses."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from nn_helpers import DTYPES, compare_with_torch, paired_parameters, to_antorcha
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
    on_device,
)

import antorcha
import antorcha.nn as nn
from antorcha.nn import transformer as our_transformer

LAYER = {"d_model": E, "nhead": H, "dim_feedforward": 16, "dropout": 0.0}


def _build(lib: Any, kind: str, batch_first: bool, norm_first: bool) -> Any:
    """A two-layer encoder (with a final LayerNorm), decoder, or a whole Transformer."""
    options = {**LAYER, "batch_first": batch_first, "norm_first": norm_first}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the nested-tensor note, compared on its own below
        if kind == "encoder":
            return lib.nn.TransformerEncoder(
                lib.nn.TransformerEncoderLayer(**options), 2, norm=lib.nn.LayerNorm(E)
            )
        if kind == "decoder":
            return lib.nn.TransformerDecoder(lib.nn.TransformerDecoderLayer(**options), 2)
        del options["d_model"], options["nhead"]
        return lib.nn.Transformer(E, H, 2, 2, **options)


def _stack_pair(kind: str, dtype: type, device: str, batch_first: bool, norm_first: bool) -> tuple[Any, Any]:
    theirs = _build(torch, kind, batch_first, norm_first).to(TORCH_DTYPE[dtype])
    ours = _build(antorcha, kind, batch_first, norm_first).to(OUR_DTYPE[dtype])
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.5)
    ours.load_state_dict({key: to_antorcha(value) for key, value in theirs.state_dict().items()})
    return ours.to(device), theirs


STACK_CASES = {
    "encoder_causal_detected": ("encoder", False, False, {"mask": "causal"}),
    "encoder_kpm_batch_first": ("encoder", True, True, {"src_key_padding_mask": "kpm_bool"}),
    "encoder_hint": ("encoder", False, True, {"mask": "causal", "is_causal": True}),
    "decoder_masks": ("decoder", True, False, {"tgt_mask": "causal", "memory_key_padding_mask": "kpm_bool"}),
    "decoder_pre_norm": (
        "decoder",
        False,
        True,
        {"memory_mask": "2d_float", "tgt_key_padding_mask": "kpm_float"},
    ),
    "transformer": (
        "transformer",
        False,
        False,
        {"tgt_mask": "causal", "src_key_padding_mask": "kpm_bool", "memory_key_padding_mask": "kpm_bool"},
    ),
    "transformer_batch_first": ("transformer", True, True, {"src_mask": "2d_bool", "tgt_mask": "causal"}),
}
# each mask argument's (query length, key length): the decoder's tgt has L positions, memory S
MASK_SIZES = {
    "mask": (S, S), "src_mask": (S, S), "src_key_padding_mask": (S, S), "tgt_mask": (L, L),
    "tgt_key_padding_mask": (L, L), "memory_mask": (L, S), "memory_key_padding_mask": (L, S),
}  # fmt: skip


def _arguments(options: dict, dtype: type) -> dict:
    arrays = {}
    for name, value in options.items():
        if not isinstance(value, str):
            arrays[name] = value
        elif value == "causal":
            arrays[name] = causal_mask(dtype, MASK_SIZES[name][0])
        else:
            arrays[name] = mask_array(value, dtype, True, *MASK_SIZES[name])
    return arrays


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(STACK_CASES))
def test_stack_matches_torch(name: str, dtype: type, device: str) -> None:
    kind, batch_first, norm_first, options = STACK_CASES[name]
    ours, theirs = _stack_pair(kind, dtype, device, batch_first, norm_first)
    arguments = _arguments(options, dtype)
    rng = np.random.default_rng(2)
    lengths = {"encoder": [S], "decoder": [L, S], "transformer": [S, L]}[kind]
    arrays = [rng.standard_normal((N, n, E) if batch_first else (n, N, E)).astype(dtype) for n in lengths]

    def run(lib: Any, module: Any, device: str) -> Any:
        given = {
            k: on_device(lib, v, device) if isinstance(v, np.ndarray) else v for k, v in arguments.items()
        }
        return lambda *xs: module(*xs, **given)

    compare_with_torch(
        run(antorcha, ours, device), run(torch, theirs, "cpu"), arrays,
        params=paired_parameters(ours, theirs), device=device, **LOOSER[dtype],
    )  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_unbatched_transformer_matches_torch(dtype: type) -> None:
    ours, theirs = _stack_pair("transformer", dtype, "cpu", False, False)
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((S, E)).astype(dtype), rng.standard_normal((L, E)).astype(dtype)]
    mask, padding = causal_mask(dtype, L), mask_array("kpm_bool", dtype, False, L, S)

    def run(lib: Any, module: Any) -> Any:
        given = {"tgt_mask": lib.tensor(mask), "src_key_padding_mask": lib.tensor(padding)}
        return lambda src, tgt: module(src, tgt, **given)

    compare_with_torch(
        run(antorcha, ours),
        run(torch, theirs),
        arrays,
        params=paired_parameters(ours, theirs),
        **LOOSER[dtype],
    )


def test_layers_are_deep_copies_with_torchs_keys() -> None:
    layer = nn.TransformerEncoderLayer(**LAYER)
    encoder = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
    first, second = encoder.layers[0], encoder.layers[1]
    assert first is not layer and first.linear1.weight is not second.linear1.weight
    assert np.array_equal(first.linear1.weight.detach().numpy(), layer.linear1.weight.detach().numpy())
    with antorcha.no_grad():
        first.linear1.weight.add_(1.0)
    assert not np.array_equal(first.linear1.weight.detach().numpy(), second.linear1.weight.detach().numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ours, theirs in [
            (encoder, torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**LAYER), 3)),
            (nn.Transformer(E, H, 1, 2, 16), torch.nn.Transformer(E, H, 1, 2, 16)),
        ]:
            assert list(ours.state_dict()) == list(theirs.state_dict())
            shapes = [tuple(v.shape) for v in theirs.state_dict().values()]
            assert [tuple(v.shape) for v in ours.state_dict().values()] == shapes
            assert repr(ours) == repr(theirs)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_transformer_initialises_matrices_with_xavier() -> None:
    model = nn.Transformer(16, 2, 1, 1, 32)
    weight = model.encoder.layers[0].linear1.weight.detach().numpy()  # (32, 16)
    bound = np.sqrt(6.0 / (16 + 32))
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.9 * bound


LAYER_VARIANTS = {
    "default": {},
    "batch_first": {"batch_first": True},
    "norm_first": {"batch_first": True, "norm_first": True},
    "odd_heads": {"batch_first": True, "nhead": 1},
    "no_bias": {"batch_first": True, "bias": False},
    "eps": {"batch_first": True, "layer_norm_eps": 1e-3},
    "callable": {"batch_first": True, "activation": "silu"},
}


@pytest.mark.parametrize("variant", list(LAYER_VARIANTS))
def test_nested_tensor_warning_matches_torch(variant: str) -> None:
    seen = []
    for lib in (torch, antorcha):
        options = {**LAYER, **LAYER_VARIANTS[variant]}
        if options.get("activation") == "silu":
            options["activation"] = lib.nn.functional.silu
        layer = lib.nn.TransformerEncoderLayer(**options)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            encoder = lib.nn.TransformerEncoder(layer, 1)
        seen.append(
            ([str(w.message) for w in caught], encoder.use_nested_tensor, layer.activation_relu_or_gelu)
        )
    assert seen[0] == seen[1]


@pytest.mark.parametrize(("size", "dtype"), [(5, None), (1, "float64"), (3, "float32")])
def test_generate_square_subsequent_mask(size: int, dtype: str | None) -> None:
    theirs = torch.nn.Transformer.generate_square_subsequent_mask(size, dtype=dtype and getattr(torch, dtype))
    ours = nn.Transformer.generate_square_subsequent_mask(size, dtype=dtype and getattr(antorcha, dtype))
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize(
    ("mask", "is_causal", "size"),
    [
        ("causal", None, 4),
        ("causal", None, 3),
        ("causal", None, None),
        ("float", None, 4),
        ("causal", False, 4),
        (None, True, 4),
        (None, None, 4),
        ("bool", None, 4),
    ],
)
def test_causal_mask_detection_matches_torch(
    mask: str | None, is_causal: bool | None, size: int | None
) -> None:
    arrays = {"causal": causal_mask(np.float32, 4), "float": np.zeros((4, 4), np.float32), None: None}
    arrays["bool"] = np.triu(np.ones((4, 4), bool), 1)
    theirs = torch.nn.modules.transformer._detect_is_causal_mask(
        on_device(torch, arrays[mask], "cpu"), is_causal, size
    )
    ours = our_transformer._detect_is_causal_mask(on_device(antorcha, arrays[mask], "cpu"), is_causal, size)
    assert ours == theirs


# ---- dropout ---------------------------------------------------------------------------------------
def test_dropout_is_active_in_train_mode_only() -> None:
    antorcha.manual_seed(0)
    x = antorcha.randn(L, N, E)
    attention = nn.MultiheadAttention(E, H, dropout=0.5)
    layer = nn.TransformerEncoderLayer(E, H, 16, dropout=0.5)
    for need_weights in (True, False):
        first = attention(x, x, x, need_weights=need_weights)[0].detach().numpy()
        assert not np.allclose(first, attention(x, x, x, need_weights=need_weights)[0].detach().numpy())
    assert not np.allclose(layer(x).detach().numpy(), layer(x).detach().numpy())
    for module, call in ((attention, lambda m: m(x, x, x)[0]), (layer, lambda m: m(x))):
        module.eval()
        first = call(module).detach().numpy()
        np.testing.assert_array_equal(first, call(module).detach().numpy())
        without = type(module)(E, H, 16, dropout=0.0) if module is layer else nn.MultiheadAttention(E, H)
        without.load_state_dict(module.state_dict())
        np.testing.assert_allclose(first, call(without.eval()).detach().numpy(), rtol=1e-6, atol=1e-7)
    weights = nn.MultiheadAttention(E, H, dropout=0.5)(x, x, x)[1].detach().numpy()
    assert not np.allclose(weights.sum(-1), 1.0)  # dropped probabilities, scaled by 2, as torch's


# ---- training --------------------------------------------------------------------------------------
def _train(lib: Any, model: Any, x: Any, target: Any, mask: Any, steps: int = 50) -> list[float]:
    optimizer = lib.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = lib.nn.functional.mse_loss(model(x, mask=mask), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_encoder_trains_like_torch_under_adamw() -> None:
    ours, theirs = _stack_pair("encoder", np.float64, "cpu", True, False)
    rng = np.random.default_rng(4)
    x, target = rng.standard_normal((N, S, E)), rng.standard_normal((N, S, E))
    mask = causal_mask(np.float64, S)
    expected = _train(torch, theirs, torch.tensor(x), torch.tensor(target), torch.tensor(mask))
    result = _train(antorcha, ours, antorcha.tensor(x), antorcha.tensor(target), antorcha.tensor(mask))
    assert expected[-1] < 0.8 * expected[0]  # it does learn
    np.testing.assert_allclose(result, expected, rtol=1e-9)
    for (name, mine), (_, reference) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(
            mine.detach().numpy(), reference.detach().numpy(), rtol=1e-8, atol=1e-10, err_msg=name
        )


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
@pytest.mark.parametrize(("left_aligned", "grad", "fastpath"), [
    (True, False, True), (False, False, True), (True, True, True), (True, False, False),
])  # fmt: skip
def test_encoder_inference_follows_torchs_nested_tensor_path(
    left_aligned: bool, grad: bool, fastpath: bool
) -> None:
    """In eval mode without gradients and with a left-aligned padding mask (batch_first layers),
    torch runs nested tensors: padded positions come out as 0 before the final norm."""
    ours, theirs = _stack_pair("encoder", np.float64, "cpu", True, False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch_layer = torch.nn.TransformerEncoderLayer(**LAYER, batch_first=True)
        theirs_nested = torch.nn.TransformerEncoder(torch_layer, 2, norm=torch.nn.LayerNorm(E)).double()
        our_layer = nn.TransformerEncoderLayer(**LAYER, batch_first=True)
        ours_nested = nn.TransformerEncoder(our_layer, 2, norm=nn.LayerNorm(E)).double()
    theirs_nested.load_state_dict(theirs.state_dict())
    ours_nested.load_state_dict(ours.state_dict())
    assert theirs_nested.use_nested_tensor and ours_nested.use_nested_tensor
    x = np.random.default_rng(0).standard_normal((N, S, E))
    padded = np.zeros((N, S), bool)
    padded[0, 3:], padded[1, 1:] = True, True
    if not left_aligned:
        padded[2, 1] = True
    theirs_nested.eval(), ours_nested.eval()
    torch.backends.mha.set_fastpath_enabled(fastpath)
    antorcha.backends.mha.set_fastpath_enabled(fastpath)
    try:
        with torch.set_grad_enabled(grad), antorcha.set_grad_enabled(grad):
            expected = theirs_nested(torch.tensor(x), src_key_padding_mask=torch.tensor(padded))
            result = ours_nested(antorcha.tensor(x), src_key_padding_mask=antorcha.tensor(padded))
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
        antorcha.backends.mha.set_fastpath_enabled(True)
    np.testing.assert_allclose(result.detach().numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
