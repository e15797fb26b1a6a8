"""What every benchmark here shares: timing contenders in turns, memory figures, the machine."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

_PAUSE_SECONDS = 0.3  # lets the idle thread pools of the framework timed last go to sleep


def interleaved_medians(
    steps: dict[str, Callable[[], Any]], repeats: int, syncs: dict[str, Callable[[], None]], rounds: int = 5
) -> dict[str, float]:
    """Median seconds per step of each contender, timed in turns of a few steps each.

    On a shared, noisy machine the speed drifts over seconds; taking turns gives every
    contender a share of the fast and the slow moments. Each turn starts after a pause
    and one uncounted step: after a switch, the other framework's idle thread pools
    (OpenMP, OpenBLAS) keep spinning on the cores for a while (measured: up to ~3x
    slower steps on 2 cores when turns follow each other at once).
    """
    rounds = min(rounds, repeats)
    per_turn = -(-repeats // rounds)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for name, step in steps.items():  # warm-up: first-call allocations and caches
        step()
        syncs[name]()
    for _ in range(rounds):
        for name, step in steps.items():
            time.sleep(_PAUSE_SECONDS)
            step()
            syncs[name]()
            for _ in range(per_turn):
                start = time.perf_counter()
                step()
                syncs[name]()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def rss_mib() -> float:
    return status_mib("VmRSS:")


def status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in MiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return 0.0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import torch

    import antorcha

    versions = f"numpy {np.__version__}, torch {torch.__version__}, antorcha {antorcha.__version__}"
    return f"{cpu}, {os.cpu_count()} cores; {versions}"
