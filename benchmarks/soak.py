"""Soak test: long training runs must not leak memory, tensors or graph nodes.

Two workloads, each written as the PyTorch program a learner would write:
- the lesson: MLP(10, 100, 1), MSELoss, Adam, at batch 1,024 (10,000 steps);
- a small two-layer causal transformer (embedding, attention with a tril mask,
  LayerNorm, MLP), cross-entropy, AdamW (2,000 steps).

At evenly spaced sample points (after a warm-up) it records resident memory
(`/proc/self/statm`), the live `antorcha.Tensor` objects and the live autograd
nodes (counted with `gc.get_objects()` after a collection, only at the sample
points), and how many objects that collection found in reference cycles. It
prints both curves and the growth after warm-up; the run passes when RSS grows
by less than 2% and the tensor and node counts stay exactly flat.

    python benchmarks/soak.py [--mlp-steps 10000] [--transformer-steps 2000] [--plot out.png]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import antorcha as torch
import antorcha.nn as nn
import antorcha.nn.functional as F
import antorcha.optim as optim
from antorcha.autograd.function import Node

RSS_GROWTH_LIMIT = 0.02  # the bound: < 2% after warm-up
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


# ---- the two programs -----------------------------------------------------------------------
class MLP(nn.Module):
    """The lesson's network: Linear(10, 100) -> ReLU -> Linear(100, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer1 = nn.Linear(10, 100)
        self.layer2 = nn.Linear(100, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(F.relu(self.layer1(x)))


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, context: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.register_buffer("causal", torch.tril(torch.ones(context, context)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        head = C // self.n_heads
        q, k, v = self.qkv(x).split(C, dim=2)  # each (B, T, C)
        q, k, v = (t.reshape(B, T, self.n_heads, head).transpose(1, 2) for t in (q, k, v))  # (B, H, T, h)
        scores = q @ k.transpose(-2, -1) * head**-0.5  # (B, H, T, T)
        scores = scores.masked_fill(self.causal[:T, :T] == 0, float("-inf"))
        attention = F.softmax(scores, dim=-1)
        out = (attention @ v).transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.proj(out)


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, context: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = CausalSelfAttention(d_model, n_heads, context)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyTransformer(nn.Module):
    """Two pre-norm blocks over token and position embeddings; logits over the vocabulary."""

    def __init__(self, vocab: int = 32, d_model: int = 32, n_heads: int = 4, context: int = 16) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, d_model)
        self.positions = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList([Block(d_model, n_heads, context) for _ in range(2)])
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        _, T = idx.shape
        x = self.tokens(idx) + self.positions(torch.arange(T))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))  # (B, T, vocab)


# ---- the training loops, one step per call ------------------------------------------------------
def mlp_stepper(batch: int = 1024, seed: int = 0) -> Callable[[int], float]:
    torch.manual_seed(seed)
    model = MLP()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.MSELoss()
    x = torch.randn(16 * batch, 10)  # (N, 10)
    y = x @ torch.randn(10, 1) + 0.1 * torch.randn(16 * batch, 1)  # (N, 1)

    def step(i: int) -> float:
        start = (i % 16) * batch
        optimizer.zero_grad()
        loss = criterion(model(x[start : start + batch]), y[start : start + batch])
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def transformer_stepper(
    batch: int = 8, context: int = 16, vocab: int = 32, seed: int = 0
) -> Callable[[int], float]:
    torch.manual_seed(seed)
    model = TinyTransformer(vocab=vocab, context=context)
    optimizer = optim.AdamW(model.parameters(), lr=3e-3)
    # a learnable stream: each token is the previous one plus one, modulo the vocabulary
    starts = torch.randint(0, vocab, (64, 1))
    stream = (starts + torch.arange(context + 1)) % vocab  # (64, T + 1)

    def step(i: int) -> float:
        rows = stream[(i * batch) % 64 : (i * batch) % 64 + batch]
        inputs, targets = rows[:, :-1], rows[:, 1:]  # (B, T) each
        optimizer.zero_grad()
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


# ---- measurement ------------------------------------------------------------------------------
@dataclass
class Sample:
    step: int
    rss_mib: float
    tensors: int
    nodes: int
    cyclic: int  # objects the collection before this sample found only in reference cycles
    loss: float


@dataclass
class SoakResult:
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def rss_growth_mib(self) -> float:
        return self.samples[-1].rss_mib - self.samples[0].rss_mib

    @property
    def rss_growth(self) -> float:
        return self.rss_growth_mib / self.samples[0].rss_mib

    @property
    def tensor_growth(self) -> int:
        return max(s.tensors for s in self.samples) - self.samples[0].tensors

    @property
    def node_growth(self) -> int:
        return max(s.nodes for s in self.samples) - self.samples[0].nodes

    @property
    def cyclic_after_warmup(self) -> int:
        return sum(s.cyclic for s in self.samples[1:])  # the first sample's count is the set-up's

    def passed(self, rss_limit: float = RSS_GROWTH_LIMIT) -> bool:
        flat = self.tensor_growth == 0 and self.node_growth == 0 and self.cyclic_after_warmup == 0
        return flat and self.rss_growth < rss_limit


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * _PAGE_BYTES / 2**20


def live_counts() -> tuple[int, int, int]:
    """(live Tensors, live autograd nodes, objects freed only by the cycle collector)."""
    cyclic = gc.collect()
    tensors = nodes = 0
    for obj in gc.get_objects():
        kind = type(obj)  # not isinstance: that reads __class__, which some module proxies warn on
        if issubclass(kind, torch.Tensor):
            tensors += 1
        elif issubclass(kind, Node):
            nodes += 1
    return tensors, nodes, cyclic


def soak(name: str, step: Callable[[int], float], steps: int, warmup: int, samples: int) -> SoakResult:
    """Run `warmup` steps, then `steps`, sampling `samples + 1` times from the end of warm-up on.

    The cycle collector is off while it runs, so everything a step leaves behind in a reference
    cycle shows up in the next sample's `cyclic` count (and in RSS) instead of vanishing.
    """
    loss = float("nan")
    for i in range(warmup):
        loss = step(i)
    result = SoakResult(name)
    every = max(steps // samples, 1)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(steps + 1):
            if i % every == 0 or i == steps:
                tensors, nodes, cyclic = live_counts()
                result.samples.append(Sample(i, rss_mib(), tensors, nodes, cyclic, loss))
            if i < steps:
                loss = step(warmup + i)
    finally:
        if was_enabled:
            gc.enable()
    return result


# ---- report -----------------------------------------------------------------------------------
def format_result(result: SoakResult) -> str:
    lines = [
        f"{result.name}: step after warm-up, resident memory, live Tensors and graph nodes",
        f"{'step':>7} {'RSS MiB':>9} {'tensors':>8} {'nodes':>6} {'cyclic':>7} {'loss':>10}",
    ]
    lines += [
        f"{s.step:>7} {s.rss_mib:>9.2f} {s.tensors:>8} {s.nodes:>6} {s.cyclic:>7} {s.loss:>10.5f}"
        for s in result.samples
    ]
    verdict = "PASS" if result.passed() else "FAIL"
    lines.append(
        f"growth after warm-up: RSS {result.rss_growth_mib:+.2f} MiB ({100 * result.rss_growth:+.2f}%, "
        f"limit {100 * RSS_GROWTH_LIMIT:.0f}%), tensors {result.tensor_growth:+d}, "
        f"nodes {result.node_growth:+d}, left in cycles {result.cyclic_after_warmup}  {verdict}"
    )
    return "\n".join(lines)


def plot(results: list[SoakResult], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(11, 3.5 * len(results)), squeeze=False)
    for (memory, counts), result in zip(axes, results):
        steps = [s.step for s in result.samples]
        memory.plot(steps, [s.rss_mib for s in result.samples], marker=".")
        memory.set(title=f"{result.name}: resident memory", xlabel="step after warm-up", ylabel="MiB")
        counts.plot(steps, [s.tensors for s in result.samples], marker=".", label="live Tensors")
        counts.plot(steps, [s.nodes for s in result.samples], marker=".", label="live graph nodes")
        counts.set(title=f"{result.name}: live objects", xlabel="step after warm-up", ylabel="count")
        counts.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlp-steps", type=int, default=10_000)
    parser.add_argument("--transformer-steps", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=200, help="steps before the first sample")
    parser.add_argument("--samples", type=int, default=20, help="sample points after warm-up")
    parser.add_argument("--plot", metavar="PNG", help="also draw the curves (needs matplotlib)")
    args = parser.parse_args(argv)
    results = [
        soak("lesson MLP, batch 1024, Adam", mlp_stepper(), args.mlp_steps, args.warmup, args.samples),
        soak("two-layer transformer, AdamW", transformer_stepper(), args.transformer_steps, args.warmup,
             args.samples),
    ]
    for result in results:
        print(format_result(result), end="\n\n")
    if args.plot:
        plot(results, args.plot)
        print(f"curves written to {args.plot}")
    return 0 if all(r.passed() for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
