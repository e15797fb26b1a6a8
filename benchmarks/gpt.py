"""antorcha vs PyTorch on nanoGPT's CPU configuration, in one process.

The workload is nanoGPT's documented CPU run for character-level Shakespeare: n_layer=4,
n_head=4, n_embd=128, block_size=64, batch_size=12, dropout=0.0, AdamW, with `clip_grad_norm_`.
Both frameworks run the same model source (antorcha/gpt/model.py; on torch through
antorcha.gpt.twin), from the same weights, on the same token batches. It prints the median ms
per training step of torch eager, antorcha eager and antorcha with `torch.compile(model)`, their
ratios to torch (below 1.0: antorcha is faster) and tokens per second; generation ms per token
with and without the key/value cache; and each framework's peak memory over a training step,
measured in a subprocess of its own.

Run: `python benchmarks/gpt.py` (or `--quick`).
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _timing import interleaved_medians, machine, rss_mib, status_mib

CONFIG = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, dropout=0.0)
BATCH = 12
CONTENDERS = ("torch", "antorcha", "antorcha.compile")


@functools.cache  # the twin is the model source executed on torch: once per process is enough
def _frameworks() -> dict[str, tuple[Any, Any]]:
    """Each contender's library and the model module on it."""
    import torch

    import antorcha
    from antorcha.gpt import model, twin

    on_torch = twin.load_on(torch)
    return {"torch": (torch, on_torch), "antorcha": (antorcha, model), "antorcha.compile": (antorcha, model)}


def _initial_weights() -> dict[str, np.ndarray]:
    torch, on_torch = _frameworks()["torch"]
    torch.manual_seed(0)
    model = on_torch.GPT(on_torch.GPTConfig(**CONFIG))
    return {name: value.numpy().copy() for name, value in model.state_dict().items()}


def _batches(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Windows of a random token stream, as nanoGPT's get_batch draws them."""
    rng = np.random.default_rng(0)
    stream = rng.integers(0, CONFIG["vocab_size"], 20_000)
    batches = []
    for _ in range(count):
        starts = rng.integers(0, len(stream) - CONFIG["block_size"] - 1, BATCH)
        x = np.stack([stream[s : s + CONFIG["block_size"]] for s in starts])
        y = np.stack([stream[s + 1 : s + 1 + CONFIG["block_size"]] for s in starts])
        batches.append((x, y))
    return batches


def build_model(name: str, weights: dict[str, np.ndarray]) -> tuple[Any, Any, Any]:
    library, module = _frameworks()[name]
    model = module.GPT(module.GPTConfig(**CONFIG))
    model.load_state_dict({key: library.tensor(value) for key, value in weights.items()})
    optimizer = model.configure_optimizers(weight_decay=0.1, learning_rate=1e-3, betas=(0.9, 0.99))
    if name.endswith(".compile"):  # nanoGPT compiles after making the optimizer
        model = library.compile(model)
    return library, model, optimizer


def build_step(name: str, weights: dict, batches: list) -> Callable[[], float]:
    library, model, optimizer = build_model(name, weights)
    tensors = [(library.tensor(x), library.tensor(y)) for x, y in batches]
    position = [0]

    def step() -> float:
        x, y = tensors[position[0] % len(tensors)]
        position[0] += 1
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        library.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    return step


def time_training(weights: dict, repeats: int) -> dict[str, float]:
    batches = _batches(16)
    steps = {name: build_step(name, weights, batches) for name in CONTENDERS}
    return interleaved_medians(steps, repeats, dict.fromkeys(steps, lambda: None))


def time_generation(weights: dict, tokens: int, repeats: int) -> dict[str, float]:
    """ms per generated token from a 1-token prompt, greedy, cached and uncached."""
    blocks = {}
    for name in ("torch", "antorcha"):
        library, model, _ = build_model(name, weights)
        model.eval()
        prompt = library.zeros((1, 1), dtype=library.long)
        for use_cache in (True, False):

            def block(model: Any = model, prompt: Any = prompt, use_cache: bool = use_cache) -> None:
                model.generate(prompt, tokens, temperature=0, use_cache=use_cache)

            blocks[f"{name} {'cached' if use_cache else 'uncached'}"] = block
    medians = interleaved_medians(blocks, repeats, dict.fromkeys(blocks, lambda: None), rounds=repeats)
    return {name: seconds / tokens for name, seconds in medians.items()}


def _peak_memory_child(name: str) -> None:
    """In a subprocess: peak RSS growth (MiB) over two training steps, beyond model and data."""
    weights = _initial_weights()
    step = build_step(name, weights, _batches(2))
    if name.startswith("antorcha"):  # code, not step memory: as torch's libraries, loaded first
        from antorcha.speed import kernels

        kernels.load()
    baseline = rss_mib()
    step()
    step()
    print(json.dumps({"framework": name, "step_peak_mib": status_mib("VmHWM:") - baseline}))


def peak_memory() -> dict[str, float]:
    results = {}
    for name in CONTENDERS:
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", name], capture_output=True, text=True, check=True
        )
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])["step_peak_mib"]
    return results


def print_report(training: dict, generation: dict, memory: dict) -> None:
    tokens = BATCH * CONFIG["block_size"]
    print("\nnanoGPT CPU config (4 layers, 4 heads, 128 embd, block 64, batch 12), AdamW, float32")
    print(f"machine: {machine()}")
    print("| | ms per step | vs torch | tokens/s | peak step memory MiB | vs torch |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in CONTENDERS:
        seconds = training[name]
        print(
            f"| {name} | {seconds * 1e3:.1f} | {seconds / training['torch']:.2f} | {tokens / seconds:,.0f} "
            f"| {memory[name]:.0f} | {memory[name] / max(memory['torch'], 1e-9):.2f} |"
        )
    print("\nGeneration, greedy, 1-token prompt, ms per token")
    print("| | cached | uncached | speed-up |\n|---|---:|---:|---:|")
    for name in ("torch", "antorcha"):
        cached, uncached = generation[f"{name} cached"], generation[f"{name} uncached"]
        print(f"| {name} | {cached * 1e3:.2f} | {uncached * 1e3:.2f} | {uncached / cached:.1f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _peak_memory_child(args.memory_child)
        return
    weights = _initial_weights()
    started = time.perf_counter()
    training = time_training(weights, 10 if args.quick else 40)
    generation = time_generation(weights, CONFIG["block_size"] - 1, 2 if args.quick else 5)
    memory = peak_memory()
    print_report(training, generation, memory)
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")
    if args.json:
        with open(args.json, "w") as handle:
            report = {"training_s": training, "generation_s_per_token": generation, "memory_mib": memory}
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
