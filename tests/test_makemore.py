"""A makemore-style character MLP, the way the lectures write it, run on antorcha and on torch.

The program is written once against a `torch`-like module: embeddings `C[X]`, `tanh`, an optional
`nn.BatchNorm1d`, `F.cross_entropy`, `p.data += -lr * p.grad`, and sampling with
`torch.multinomial(probs, num_samples=1, generator=g)` from a seeded `torch.Generator`. Each
framework draws its own weights from `torch.Generator().manual_seed(2147483647)`, as the lecture
does; antorcha's generator is torch's, so they are the same weights, and the names sampled after
training are torch's names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import antorcha

BLOCK, EMBED, HIDDEN, STEPS, BATCH = 3, 10, 64, 60, 32
WORDS = [
    "emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper", "evelyn",
    "abigail", "emily", "elizabeth", "mila", "ella", "avery", "sofia", "camila", "aria", "scarlett",
    "victoria", "madison", "luna", "grace", "chloe", "penelope", "layla", "riley", "zoey", "nora",
]  # fmt: skip
CHARS = sorted(set("".join(WORDS)))
STOI = {ch: i + 1 for i, ch in enumerate(CHARS)} | {".": 0}
ITOS = {i: ch for ch, i in STOI.items()}
VOCAB = len(STOI)


def _dataset() -> tuple[np.ndarray, np.ndarray]:
    """Every (3-character context, next character) pair of the words, as the lecture builds them."""
    xs, ys = [], []
    for word in WORDS:
        context = [0] * BLOCK
        for ch in word + ".":
            xs.append(context)
            ys.append(STOI[ch])
            context = context[1:] + [STOI[ch]]
    return np.array(xs), np.array(ys)


def _initial_weights(torch: Any, batch_norm: bool) -> dict[str, np.ndarray]:
    """The lecture's initialisation, drawn by `torch` (either framework)."""
    g = torch.Generator().manual_seed(2147483647)
    weights = {
        "C": torch.randn((VOCAB, EMBED), generator=g),
        "W1": torch.randn((BLOCK * EMBED, HIDDEN), generator=g) * (5 / 3) / (BLOCK * EMBED) ** 0.5,
        "b1": torch.randn(HIDDEN, generator=g) * 0.01,
        "W2": torch.randn((HIDDEN, VOCAB), generator=g) * 0.01,
        "b2": torch.randn(VOCAB, generator=g) * 0,
    }
    if batch_norm:
        weights["bngain"], weights["bnbias"] = torch.ones((1, HIDDEN)), torch.zeros((1, HIDDEN))
    return {name: value.numpy() for name, value in weights.items()}


def train(torch: Any, weights: dict[str, np.ndarray], batch_norm: bool, dtype: str) -> dict:
    """The lecture's loop, with `torch` standing for either framework."""
    F = torch.nn.functional
    params = {name: torch.tensor(value, dtype=getattr(torch, dtype)) for name, value in weights.items()}
    for p in params.values():
        p.requires_grad = True
    norm = torch.nn.BatchNorm1d(HIDDEN, affine=False, dtype=getattr(torch, dtype)) if batch_norm else None
    xs, ys = _dataset()
    X, Y = torch.tensor(xs), torch.tensor(ys)
    order = np.random.default_rng(0).integers(0, len(xs), (STEPS, BATCH))

    def forward(x: Any) -> Any:
        emb = params["C"][x]  # (B, BLOCK, EMBED)
        pre = emb.view(emb.shape[0], -1) @ params["W1"] + params["b1"]
        if norm is not None:
            pre = params["bngain"] * norm(pre) + params["bnbias"]
        return torch.tanh(pre) @ params["W2"] + params["b2"]  # (B, VOCAB)

    losses = []
    for step in range(STEPS):
        ix = torch.tensor(order[step])
        loss = F.cross_entropy(forward(X[ix]), Y[ix])
        for p in params.values():
            p.grad = None
        loss.backward()
        lr = 0.1 if step < STEPS // 2 else 0.01
        for p in params.values():
            p.data += -lr * p.grad
        losses.append(loss.item())
    if norm is not None:
        norm.eval()
    return {"losses": losses, "forward": forward, "torch": torch}


def sample(run: dict, seed: int, count: int) -> list[list[int]]:
    """Names drawn with the lecture's loop: context of 3, softmax, multinomial with a generator."""
    torch, F = run["torch"], run["torch"].nn.functional
    g = torch.Generator().manual_seed(seed)
    names = []
    with torch.no_grad():
        for _ in range(count):
            out, context = [], [0] * BLOCK
            while len(out) < 20:
                probs = F.softmax(run["forward"](torch.tensor([context])), dim=1)
                ix = torch.multinomial(probs, num_samples=1, generator=g).item()
                context = context[1:] + [ix]
                out.append(ix)
                if ix == 0:
                    break
            names.append(out)
    return names


def _step_probabilities(run: dict, names: list[list[int]]) -> np.ndarray:
    """The model's probability of each character of the given names, in order."""
    torch, F = run["torch"], run["torch"].nn.functional
    found = []
    with torch.no_grad():
        for name in names:
            context = [0] * BLOCK
            for ix in name:
                probs = F.softmax(run["forward"](torch.tensor([context])), dim=1)
                found.append(float(probs[0, ix]))
                context = context[1:] + [ix]
    return np.array(found)


@pytest.mark.parametrize("batch_norm", [False, True], ids=["mlp", "batchnorm"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_makemore_mlp_trains_and_samples_like_torch(batch_norm: bool, dtype: str) -> None:
    weights = _initial_weights(torch, batch_norm)
    our_weights = _initial_weights(antorcha, batch_norm)
    for name, value in weights.items():
        np.testing.assert_array_equal(our_weights[name], value, err_msg=name)  # torch's stream, bit for bit
    ours = train(antorcha, our_weights, batch_norm, dtype)
    theirs = train(torch, weights, batch_norm, dtype)
    assert theirs["losses"][-1] < theirs["losses"][0] - 0.5
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-4 if dtype == "float32" else 1e-10)
    torch_names = sample(theirs, 2147483647 + 10, 5)
    np.testing.assert_allclose(
        _step_probabilities(ours, torch_names),
        _step_probabilities(theirs, torch_names),
        rtol=1e-4 if dtype == "float32" else 1e-10,
    )
    our_names = sample(ours, 2147483647 + 10, 5)
    if dtype == "float64":  # float32 probabilities differ in the last bits, which can move a draw
        assert our_names == torch_names
    assert all(0 < len(name) <= 20 and all(0 <= ix < VOCAB for ix in name) for name in our_names)
    assert sample(ours, 2147483647 + 10, 5) == our_names  # the same seed replays the same names
