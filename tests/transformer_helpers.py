"""Shared by the transformer tests: torch/antorcha module pairs with the same (randomised) weights,
mask arrays in torch's convention, and the sizes the tests use."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from nn_helpers import to_antorcha

import antorcha
import antorcha.nn as nn

TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
OUR_DTYPE = {np.float32: antorcha.float32, np.float64: antorcha.float64}
L, S, N, E, H = 4, 5, 3, 8, 2  # target and source lengths, batch, embedding, heads
# float32: an absolute floor for gradients of O(5) that cancel to O(0.1) (float64 keeps the default)
LOOSER = {np.float32: {"atol": 2e-5}, np.float64: {}}


def randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Non-zero biases and LayerNorm affines, so that every gradient is a real check."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.5)


def module_pair(name: str, dtype: type, device: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """torch's module (weights randomised) and antorcha's with its state_dict loaded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TransformerEncoder's nested-tensor note
        theirs = getattr(torch.nn, name)(*args, **kwargs).to(TORCH_DTYPE[dtype])
        ours = getattr(nn, name)(*args, **kwargs).to(OUR_DTYPE[dtype])
    randomise(theirs)
    ours.load_state_dict({key: to_antorcha(value) for key, value in theirs.state_dict().items()})
    return ours.to(device), theirs


def mask_array(kind: str, dtype: type, batched: bool = True, length: int = L, source: int = S) -> np.ndarray:
    """A mask array: bool (True = do not attend; the first key is always allowed) or float."""
    rng = np.random.default_rng(7)
    shape = {
        "2d": (length, source),
        "3d": ((N if batched else 1) * H, length, source),
        "kpm": (N, source) if batched else (source,),
    }[kind.split("_")[0]]
    if kind.endswith("bool"):
        mask = rng.random(shape) < 0.4
        mask[..., 0] = False
        return mask
    return rng.standard_normal(shape).astype(dtype)


def causal_mask(dtype: type, length: int = L) -> np.ndarray:
    return np.triu(np.full((length, length), -np.inf, dtype=dtype), 1)


def on_device(lib: Any, array: np.ndarray | None, device: str) -> Any:
    if array is None:
        return None
    return lib.tensor(array) if lib is torch else lib.tensor(array, device=device)
