"""The nanoGPT-style model against PyTorch: one source (antorcha/gpt/model.py) run on both.

From the same initial weights, 50 AdamW steps with weight-decay groups, `clip_grad_norm_`, a
warmup + cosine schedule and `cross_entropy(..., ignore_index=-1)` over (B*T, V) give torch's
losses: 1e-4 relative in float32, 1e-10 in float64, with either attention form. Greedy decoding
from the trained weights gives torch's tokens, with and without the key/value cache.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

import antorcha
from antorcha.gpt import twin

TORCH_MODEL = twin.load_on(torch)
MODELS = {"antorcha": (antorcha, antorcha.gpt.model), "torch": (torch, TORCH_MODEL)}
CONFIG = dict(block_size=16, vocab_size=29, n_layer=2, n_head=4, n_embd=32, dropout=0.0)
STEPS, BATCH, WARMUP, LR, MIN_LR = 50, 6, 5, 3e-3, 3e-4
TOLERANCE = {"float32": 1e-4, "float64": 1e-10}


def _learning_rate(step: int) -> float:
    """nanoGPT's schedule: linear warmup, then cosine down to MIN_LR."""
    if step < WARMUP:
        return LR * (step + 1) / (WARMUP + 1)
    progress = (step - WARMUP) / (STEPS - WARMUP)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * progress)) * (LR - MIN_LR)


def _batches(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Windows of a learnable stream (a fixed random sequence repeated); about one target in ten
    is -1, which cross_entropy ignores."""
    stream = np.tile(rng.integers(0, CONFIG["vocab_size"], 11), 40)
    batches = []
    for _ in range(STEPS):
        starts = rng.integers(0, len(stream) - CONFIG["block_size"] - 1, BATCH)
        x = np.stack([stream[s : s + CONFIG["block_size"]] for s in starts])
        y = np.stack([stream[s + 1 : s + 1 + CONFIG["block_size"]] for s in starts])
        y[rng.random(y.shape) < 0.1] = -1
        batches.append((x, y))
    return batches


def _torch_weights(attention: str, dtype: str) -> dict[str, np.ndarray]:
    torch.manual_seed(1234)
    model = TORCH_MODEL.GPT(TORCH_MODEL.GPTConfig(**CONFIG, attention=attention))
    return {name: value.to(getattr(torch, dtype)).numpy() for name, value in model.state_dict().items()}


def _build(name: str, weights: dict, attention: str, dtype: str) -> Any:
    library, module = MODELS[name]
    model = module.GPT(module.GPTConfig(**CONFIG, attention=attention)).to(getattr(library, dtype))
    model.load_state_dict({key: library.tensor(value) for key, value in weights.items()})
    return model


def _train(name: str, weights: dict, batches: list, attention: str, dtype: str) -> tuple[list, Any]:
    library, _ = MODELS[name]
    model = _build(name, weights, attention, dtype)
    optimizer = model.configure_optimizers(weight_decay=0.1, learning_rate=LR, betas=(0.9, 0.95))
    losses = []
    for step, (x, y) in enumerate(batches):
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step)
        _, loss = model(library.tensor(x), library.tensor(y))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        library.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    return losses, model


@pytest.fixture(scope="module")
def trained() -> dict:
    """Both frameworks trained from the same weights on the same batches, per (attention, dtype)."""
    batches = _batches(np.random.default_rng(7))
    runs = {}
    for attention in ("sdpa", "written"):
        for dtype in ("float32", "float64"):
            weights = _torch_weights(attention, dtype)
            runs[attention, dtype] = {
                name: _train(name, weights, batches, attention, dtype) for name in MODELS
            }
    return runs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("attention", ["sdpa", "written"])
def test_fifty_adamw_steps_give_torchs_losses(trained: dict, attention: str, dtype: str) -> None:
    ours, _ = trained[attention, dtype]["antorcha"]
    theirs, _ = trained[attention, dtype]["torch"]
    assert theirs[-1] < theirs[0] - 0.5  # the run learns something, so the comparison means something
    np.testing.assert_allclose(ours, theirs, rtol=TOLERANCE[dtype], atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_both_attention_forms_agree(trained: dict, dtype: str) -> None:
    sdpa, _ = trained["sdpa", dtype]["antorcha"]
    written, _ = trained["written", dtype]["antorcha"]
    np.testing.assert_allclose(sdpa, written, rtol=TOLERANCE[dtype], atol=0)


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("attention", ["sdpa", "written"])
def test_greedy_decoding_gives_torchs_tokens(trained: dict, attention: str, use_cache: bool) -> None:
    """40 new tokens from a 3-token prompt: past block_size (16), so the window also slides."""
    prompt = np.random.default_rng(3).integers(0, CONFIG["vocab_size"], (2, 3))
    tokens = {}
    for name, (library, _) in MODELS.items():
        _, model = trained[attention, "float64"][name]
        model.eval()
        out = model.generate(library.tensor(prompt), 40, temperature=0, use_cache=use_cache)
        tokens[name] = out.numpy()
    np.testing.assert_array_equal(tokens["antorcha"], tokens["torch"])


def test_state_dict_names_and_shapes_are_torchs() -> None:
    ours = _build("antorcha", _torch_weights("sdpa", "float32"), "sdpa", "float32").state_dict()
    theirs = TORCH_MODEL.GPT(TORCH_MODEL.GPTConfig(**CONFIG)).state_dict()
    assert list(ours) == list(theirs)
    assert [tuple(v.shape) for v in ours.values()] == [tuple(v.shape) for v in theirs.values()]
