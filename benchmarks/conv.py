"""antorcha vs PyTorch on convolution workloads, in one process.

Each workload is a forward and backward pass (a training step, for the two networks) from the same
weights on the same batch, timed in turns (`_timing.interleaved_medians`):

* conv2d 3→32, 32x32, batch 64, 3x3, padding 1 (a CIFAR input layer);
* conv2d 64→64, 16x16, batch 64, 3x3, padding 1 (a deeper layer);
* max_pool2d 2x2 on (64, 32, 32, 32);
* the CIFAR-size step: conv 3→32 → ReLU → conv 32→64 → ReLU → MaxPool2d(2) → conv... → Linear →
  cross-entropy, SGD;
* the digits CNN step (8x8 inputs, batch 64): Conv2d → ReLU → MaxPool2d → Conv2d → ReLU →
  AdaptiveAvgPool2d → Flatten → Linear, Adam — where per-op overhead dominates.

It prints the median ms of each, and antorcha's time over torch's (below 1.0: antorcha is faster).
Run: `python benchmarks/conv.py` (or `--quick`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np
from _timing import interleaved_medians, machine


def _cifar_net(m: Any) -> Any:
    nn = m.nn
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 16 * 16, 10),
    )


def _digits_net(m: Any) -> Any:
    nn = m.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )


def _layer_step(m: Any, layer: Any, shape: tuple) -> Callable[[], None]:
    x = m.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32), requires_grad=True)

    def step() -> None:
        layer.zero_grad()
        x.grad = None
        layer(x).sum().backward()

    return step


def _train_step(m: Any, model: Any, optimizer: Any, shape: tuple) -> Callable[[], None]:
    rng = np.random.default_rng(1)
    x = m.tensor(rng.standard_normal(shape).astype(np.float32))
    y = m.tensor(rng.integers(0, 10, shape[0]))
    loss_fn = m.nn.CrossEntropyLoss()

    def step() -> None:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    return step


def _pool_step(m: Any, shape: tuple) -> Callable[[], None]:
    x = m.tensor(np.random.default_rng(2).standard_normal(shape).astype(np.float32), requires_grad=True)

    def step() -> None:
        x.grad = None
        m.nn.functional.max_pool2d(x, 2).sum().backward()

    return step


def _same_weights(build: Callable[[Any], Any]) -> dict[str, Any]:
    import torch

    import antorcha

    torch.manual_seed(0)
    theirs = build(torch)
    ours = build(antorcha)
    ours.load_state_dict({k: antorcha.tensor(v.numpy().copy()) for k, v in theirs.state_dict().items()})
    return {"torch": theirs, "antorcha": ours}


def workloads() -> dict[str, dict[str, Callable[[], None]]]:
    import torch

    import antorcha

    libraries = {"torch": torch, "antorcha": antorcha}
    result: dict[str, dict[str, Callable[[], None]]] = {}
    shapes = {"conv2d 3→32, 32x32": (3, 32, 32), "conv2d 64→64, 16x16": (64, 64, 16)}
    for label, (cin, cout, size) in shapes.items():
        layers = _same_weights(lambda m, cin=cin, cout=cout: m.nn.Conv2d(cin, cout, 3, padding=1))
        result[label] = {n: _layer_step(libraries[n], layers[n], (64, cin, size, size)) for n in libraries}
    pool_shape = (64, 32, 32, 32)
    result["max_pool2d 2x2, (64, 32, 32, 32)"] = {n: _pool_step(libraries[n], pool_shape) for n in libraries}
    for label, build, shape, optimizer in (
        ("CIFAR-size CNN step (SGD)", _cifar_net, (64, 3, 32, 32), "SGD"),
        ("digits CNN step (Adam)", _digits_net, (64, 1, 8, 8), "Adam"),
    ):
        models = _same_weights(build)
        steps = {}
        for n, m in libraries.items():
            opt = getattr(m.optim, optimizer)(models[n].parameters(), lr=1e-3)
            steps[n] = _train_step(m, models[n], opt, shape)
        result[label] = steps
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 6 if args.quick else 20
    print(machine())
    print(f"{'workload':36} {'torch ms':>9} {'antorcha ms':>12} {'ratio':>6}")
    syncs = {"torch": lambda: None, "antorcha": lambda: None}
    for label, steps in workloads().items():
        medians = interleaved_medians(steps, repeats, syncs)
        torch_ms, ours_ms = medians["torch"] * 1e3, medians["antorcha"] * 1e3
        print(f"{label:36} {torch_ms:9.2f} {ours_ms:12.2f} {ours_ms / torch_ms:6.2f}")


if __name__ == "__main__":
    main()
