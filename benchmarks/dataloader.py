"""DataLoader throughput with 0, 1 and 2 worker processes, antorcha vs PyTorch, in one process.

The dataset does real work per sample, as an image pipeline does: a 3x32x32 uint8 image is padded,
randomly cropped and flipped, blurred, converted to float32 and normalised with NumPy (about 1 ms),
then returned as a tensor of the framework with its label. Both frameworks load the same dataset
code in batches of 32 with shuffling. A step is one epoch; workers are persistent, so the steps
time the steady state, not the workers' start (measured separately, once, below the table). It
prints samples per second, the ratio to the same framework without workers, and the ratio to torch
with the same number of workers (above 1.0: antorcha is faster).

Run: `python benchmarks/dataloader.py` (or `--quick`). On a machine with fewer free cores than
workers + 1 the workers only take turns: the table says how many cores this process may use. The
last line is the machine's own ceiling for 2 workers: the same samples made by 2 plain processes
at once, against 1. Where two cores share one physical core (or a host), each sample costs more
CPU time side by side, and no loader can beat that ratio.
"""

from __future__ import annotations

import argparse
import os
import time
import types
from typing import Any

import numpy as np
from _timing import interleaved_medians, machine

IMAGES, BATCH, PAD = 2048, 32, 4  # 64 batches an epoch: the fill and drain at its ends weigh little
MEAN = np.array([0.49, 0.48, 0.45], np.float32).reshape(3, 1, 1)
STD = np.array([0.25, 0.24, 0.26], np.float32).reshape(3, 1, 1)


class Augmented:
    """CIFAR-like samples with a NumPy augmentation; `library` makes the returned tensor."""

    def __init__(self, library: Any, images: np.ndarray, labels: np.ndarray) -> None:
        self.library, self.images, self.labels = library, images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = np.pad(self.images[index], ((0, 0), (PAD, PAD), (PAD, PAD)), mode="reflect")  # (3, 40, 40)
        top, left = np.random.randint(0, 2 * PAD + 1, size=2)
        image = image[:, top : top + 32, left : left + 32].astype(np.float32) / 255  # (3, 32, 32)
        if np.random.rand() < 0.5:
            image = image[:, :, ::-1]
        for _ in range(10):  # a 3x3 box blur, a few times: the per-sample work of a real pipeline
            padded = np.pad(image, ((0, 0), (1, 1), (1, 1)), mode="edge")
            image = sum(padded[:, i : i + 32, j : j + 32] for i in range(3) for j in range(3)) / 9
        image = (image - MEAN) / STD
        return self.library.from_numpy(np.ascontiguousarray(image, dtype=np.float32)), int(self.labels[index])


def loaders(workers: list[int]) -> dict[str, Any]:
    """{'<framework> <n> workers': a DataLoader} over the same images."""
    import torch

    import antorcha

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (IMAGES, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, IMAGES)
    out = {}
    for library in (antorcha, torch):
        for n in workers:
            options = {"num_workers": n, "persistent_workers": n > 0}
            dataset = Augmented(library, images, labels)
            loader = library.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, **options)
            out[f"{library.__name__} {n} workers"] = loader
    return out


def epoch(loader: Any) -> None:
    for images, labels in loader:
        assert images.shape[0] == labels.shape[0]


def start_seconds(library: Any, repeats: int) -> float:
    """Median seconds from iter() to the first batch of a fresh (non-persistent) 2-worker loader."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (IMAGES, 3, 32, 32), dtype=np.uint8)
    dataset = Augmented(library, images, np.zeros(IMAGES, np.int64))
    times = []
    for _ in range(repeats):
        loader = library.utils.data.DataLoader(dataset, BATCH, num_workers=2)
        start = time.perf_counter()
        iterator = iter(loader)
        next(iterator)
        times.append(time.perf_counter() - start)
        del iterator
    return float(np.median(times))


def _make_samples(count: int, done: Any) -> None:
    """A plain process: `count` samples of the dataset, no loader."""
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (IMAGES, 3, 32, 32), dtype=np.uint8)
    plain = types.SimpleNamespace(from_numpy=np.asarray)  # no framework: arrays, not tensors
    dataset = Augmented(plain, images, np.zeros(IMAGES, np.int64))
    for index in range(count):
        dataset[index % IMAGES]
    done.put(None)


def two_process_ceiling(count: int, repeats: int) -> float:
    """Median throughput of 2 plain processes making samples at once, over 1 process alone."""
    import multiprocessing

    context = multiprocessing.get_context("fork")

    def seconds(processes: int) -> float:
        done = context.Queue()
        workers = [context.Process(target=_make_samples, args=(count, done)) for _ in range(processes)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for _ in workers:
            done.get()
        elapsed = time.perf_counter() - start
        for worker in workers:
            worker.join()
        return elapsed

    ratios = [2 * seconds(1) / seconds(2) for _ in range(repeats)]  # turns: one, then two
    return float(np.median(ratios))


def print_table(seconds: dict[str, float], repeats: int) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {machine()}; this process may use {cores} cores")
    print(f"{IMAGES} images per epoch, batch {BATCH}, shuffled; median of {repeats} epochs")
    print(f"{'loader':<22}{'samples/s':>12}{'vs 0 workers':>15}{'antorcha/torch':>16}")
    for name, value in seconds.items():
        library, workers = name.split()[0], name.split()[1]
        versus_zero = seconds[f"{library} 0 workers"] / value
        versus_torch = seconds[f"torch {workers} workers"] / value
        torch_column = f"{versus_torch:>16.2f}" if library == "antorcha" else ""
        print(f"{name:<22}{IMAGES / value:>12.0f}{versus_zero:>15.2f}{torch_column}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = parser.parse_args()
    repeats = 3 if args.quick else 10
    contenders = loaders([0, 1, 2])
    seconds = interleaved_medians(
        {name: (lambda loader=loader: epoch(loader)) for name, loader in contenders.items()},
        repeats,
        {name: (lambda: None) for name in contenders},
        rounds=min(repeats, 5),
    )
    print_table(seconds, repeats)
    import torch

    import antorcha

    for library in (antorcha, torch):
        first = start_seconds(library, repeats)
        print(f"{library.__name__}: {first * 1000:.0f} ms from iter() to the first batch, 2 fresh workers")
    ceiling = two_process_ceiling(IMAGES // 4, repeats)
    print(f"this machine: 2 plain processes make {ceiling:.2f}x the samples of 1 (the ceiling for 2 workers)")


if __name__ == "__main__":
    main()
