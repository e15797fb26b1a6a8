"""antorcha vs PyTorch on a char-RNN training step, in one process.

The workload is a character-level language model of the size courses train on a CPU: an
Embedding of a 65-symbol vocabulary, a 2-layer LSTM with hidden size 128 (batch_first), a Linear
head, cross_entropy and Adam; batch 32, sequence 64, float32. Both frameworks run the same
source from the same weights on the same batches. It prints the median ms per training step
(forward, backward and optimizer step), the ratio to torch (below 1.0: antorcha is faster), and
the same for the LSTM's forward + backward alone.

Run: `python benchmarks/rnn.py` (or `--quick`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np
from _timing import interleaved_medians, machine

VOCAB, HIDDEN, LAYERS, BATCH, STEPS = 65, 128, 2, 32, 64


def char_model(library: Any) -> Any:
    nn = library.nn

    class CharLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB, HIDDEN)
            self.lstm = nn.LSTM(HIDDEN, HIDDEN, num_layers=LAYERS, batch_first=True)
            self.head = nn.Linear(HIDDEN, VOCAB)

        def forward(self, x: Any) -> Any:
            return self.head(self.lstm(self.embed(x))[0])

    return CharLSTM()


def _batches(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    stream = rng.integers(0, VOCAB, 20_000)
    starts = rng.integers(0, len(stream) - STEPS - 1, (count, BATCH))
    return [
        (
            np.stack([stream[s : s + STEPS] for s in row]),
            np.stack([stream[s + 1 : s + 1 + STEPS] for s in row]),
        )
        for row in starts
    ]


def build_steps(weights: dict[str, np.ndarray], batches: list) -> tuple[dict, dict]:
    """{framework: a full training step}, {framework: the LSTM's forward + backward alone}."""
    import torch

    import antorcha

    training, recurrence = {}, {}
    for name, library in (("torch", torch), ("antorcha", antorcha)):
        model = char_model(library)
        model.load_state_dict({key: library.tensor(value) for key, value in weights.items()})
        optimizer = library.optim.Adam(model.parameters(), lr=2e-3)
        tensors = [(library.tensor(x), library.tensor(y)) for x, y in batches]
        training[name] = _training_step(library, model, optimizer, tensors)
        recurrence[name] = _lstm_step(library, model.lstm)
    return training, recurrence


def _training_step(library: Any, model: Any, optimizer: Any, tensors: list) -> Callable[[], float]:
    position = [0]

    def step() -> float:
        x, y = tensors[position[0] % len(tensors)]
        position[0] += 1
        logits = model(x)
        loss = library.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def _lstm_step(library: Any, lstm: Any) -> Callable[[], None]:
    x = library.tensor(np.random.default_rng(1).standard_normal((BATCH, STEPS, HIDDEN)).astype(np.float32))
    x.requires_grad_()

    def step() -> None:
        output, _ = lstm(x)
        output.sum().backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument(
        "--threads", type=int, default=0, help="threads for both frameworks (0: their defaults)"
    )
    args = parser.parse_args()
    import torch

    import antorcha

    if args.threads:
        torch.set_num_threads(args.threads)
        antorcha.set_num_threads(args.threads)

    torch.manual_seed(0)
    weights = {key: value.numpy().copy() for key, value in char_model(torch).state_dict().items()}
    training, recurrence = build_steps(weights, _batches(8))
    first = {name: step() for name, step in training.items()}
    assert abs(first["torch"] - first["antorcha"]) < 1e-4 * abs(first["torch"]), first
    repeats = 10 if args.quick else 40
    step_times = interleaved_medians(training, repeats, dict.fromkeys(training, lambda: None))
    lstm_times = interleaved_medians(recurrence, repeats, dict.fromkeys(recurrence, lambda: None))
    print(
        f"\nchar-RNN: Embedding({VOCAB}) -> LSTM({HIDDEN}, {LAYERS} layers) -> Linear, batch {BATCH}, "
        f"sequence {STEPS}, Adam, float32, threads: {args.threads or 'default'}"
    )
    print(f"machine: {machine()}")
    print("| | torch ms | antorcha ms | antorcha / torch |")
    print("|---|---:|---:|---:|")
    for label, times in (("training step", step_times), ("LSTM forward + backward", lstm_times)):
        ours, theirs = times["antorcha"] * 1e3, times["torch"] * 1e3
        print(f"| {label} | {theirs:.2f} | {ours:.2f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
