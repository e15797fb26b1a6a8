"""antorcha vs PyTorch on the lesson's training step, in one process.

For each batch size it times one full step (forward, MSE loss, backward, Adam)
of MLP(10, 100, 1) in both frameworks on the same data and weights, and prints
the median ms per step and the ratio antorcha/torch (below 1.0: antorcha is
faster). Peak memory of the full-batch step is measured with each framework in
its own subprocess. The tiny-tensor rows time per-op overhead.

Run: `make bench` (or `python benchmarks/lesson_mlp.py --quick`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from _timing import interleaved_medians, machine, rss_mib, status_mib

BATCH_SIZES = (64, 1024, 4096, 65536, 2_000_000)
_COMPILED = "antorcha.compile"  # the memory child's name for antorcha with `antorcha.compile(model)`


def _repeats(batch: int) -> int:
    return 200 if batch <= 1024 else 50 if batch <= 4096 else 10 if batch <= 65536 else 3


def _initial_weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    bound1, bound2 = 1 / np.sqrt(10), 1 / np.sqrt(100)
    return {
        "layer1.weight": rng.uniform(-bound1, bound1, (100, 10)).astype(np.float32),
        "layer1.bias": rng.uniform(-bound1, bound1, 100).astype(np.float32),
        "layer2.weight": rng.uniform(-bound2, bound2, (1, 100)).astype(np.float32),
        "layer2.bias": rng.uniform(-bound2, bound2, 1).astype(np.float32),
    }


def build_step(
    framework: Any, x_np: np.ndarray, y_np: np.ndarray, device: str, compiled: bool = False
) -> Callable[[], Any]:
    """The learner's loop body, written once for both frameworks (`framework` is torch or antorcha)."""
    nn, F = framework.nn, framework.nn.functional

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer1 = nn.Linear(10, 100)
            self.layer2 = nn.Linear(100, 1)

        def forward(self, x: Any) -> Any:
            return self.layer2(F.relu(self.layer1(x)))

    model = MLP()
    model.load_state_dict({k: framework.tensor(v) for k, v in _initial_weights().items()})
    model = model.to(device)
    if compiled:  # the one documented line: model = torch.compile(model)
        model = framework.compile(model)
    optimizer = framework.optim.Adam(model.parameters(), lr=0.01)
    criterion = nn.MSELoss()
    x = framework.tensor(x_np).to(device)
    y = framework.tensor(y_np).to(device)

    def step() -> Any:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def _sync_for(framework: Any, device: str) -> Callable[[], None]:
    if device.startswith("cuda"):
        return framework.cuda.synchronize
    return lambda: None


def time_lesson_steps(device: str, batch_sizes: tuple[int, ...], repeat_scale: float) -> list[dict]:
    import torch

    import antorcha

    rng = np.random.default_rng(1)
    x_all = rng.standard_normal((max(batch_sizes), 10), dtype=np.float32)
    y_all = rng.standard_normal((max(batch_sizes), 1), dtype=np.float32)
    torch_device = device if (device == "cpu" or torch.cuda.is_available()) else "cpu"
    rows = []
    for batch in batch_sizes:
        x, y = x_all[:batch], y_all[:batch]
        repeats = max(3, int(_repeats(batch) * repeat_scale))
        steps = {
            "eager": build_step(antorcha, x, y, device),
            "compiled": build_step(antorcha, x, y, device, compiled=True),
            "torch": build_step(torch, x, y, torch_device),
        }
        ours = _sync_for(antorcha, device)
        syncs = {"eager": ours, "compiled": ours, "torch": _sync_for(torch, torch_device)}
        medians = interleaved_medians(steps, repeats, syncs)
        rows.append(
            {
                "batch": batch,
                "antorcha_ms": medians["eager"] * 1e3,
                "compiled_ms": medians["compiled"] * 1e3,
                "torch_ms": medians["torch"] * 1e3,
                "ratio": medians["eager"] / medians["torch"],
                "compiled_ratio": medians["compiled"] / medians["torch"],
                "torch_device": torch_device,
            }
        )
    return rows


def time_tiny_ops(repeats: int = 2000) -> list[dict]:
    """Per-op overhead on 8-element tensors: the forward `a * b`, and `(a * b).sum().backward()`."""
    import torch

    import antorcha

    rows = []
    for name, body in (
        ("a * b (forward)", lambda a, b: a * b),
        ("(a * b).sum().backward()", lambda a, b: (a * b).sum().backward()),
    ):
        blocks = {}
        for label, framework, profiled in (
            ("antorcha", antorcha, False),
            ("torch", torch, False),
            ("antorcha profiled", antorcha, True),  # the same calls inside antorcha.profiler.profile()
        ):
            a = framework.ones(8, requires_grad=True)
            b = framework.ones(8, requires_grad=True)

            # median over blocks of 100 calls, to see through timer resolution
            def block(a: Any = a, b: Any = b, body: Callable = body, profiled: bool = profiled) -> None:
                if profiled:
                    with antorcha.profiler.profile():
                        for _ in range(100):
                            body(a, b)
                    return
                for _ in range(100):
                    body(a, b)

            blocks[label] = block
        no_sync = dict.fromkeys(blocks, lambda: None)
        medians = interleaved_medians(blocks, repeats // 100, no_sync)
        results = {k: v / 100 for k, v in medians.items()}
        rows.append(
            {
                "op": name,
                "antorcha_us": results["antorcha"] * 1e6,
                "torch_us": results["torch"] * 1e6,
                "ratio": results["antorcha"] / results["torch"],
                "profiled_us": results["antorcha profiled"] * 1e6,
            }
        )
    return rows


def _peak_memory_child(framework_name: str, device: str, batch: int) -> None:
    """In a subprocess: peak RSS growth (MiB) of one full-batch step beyond the data itself."""
    import importlib

    compiled = framework_name == _COMPILED
    framework = importlib.import_module("antorcha" if compiled else framework_name)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, 10), dtype=np.float32)
    y = rng.standard_normal((batch, 1), dtype=np.float32)
    step = build_step(framework, x, y, device, compiled=compiled)
    del x, y
    if framework.__name__ == "antorcha":  # code, not step memory: as torch's libraries, loaded first
        from antorcha.speed import kernels

        kernels.load()
    baseline = rss_mib()
    step()
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent
    # across fork and exec, so a child of a big benchmark process would report its parent's peak
    peak = status_mib("VmHWM:")
    gpu = 0.0
    if device.startswith("cuda"):
        gpu = framework.cuda.max_memory_allocated() / 2**20
    print(json.dumps({"framework": framework_name, "step_peak_mib": peak - baseline, "gpu_peak_mib": gpu}))


def peak_memory(device: str, batch: int) -> dict[str, dict]:
    results = {}
    for name in ("antorcha", _COMPILED, "torch"):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", name, "--device", device, "--batch", str(batch)],
            capture_output=True,
            text=True,
            check=True,
        )
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


def print_report(device: str, steps: list[dict], tiny: list[dict], memory: dict | None) -> None:
    print(f"\nLesson step (MLP 10-100-1, MSE, Adam, float32) on {device} — median ms per step")
    print(f"machine: {machine()}")
    print("| batch | torch ms | antorcha eager ms | eager/torch | antorcha.compile ms | compiled/torch |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in steps:
        print(
            f"| {row['batch']:,} | {row['torch_ms']:.3f} | {row['antorcha_ms']:.3f} | {row['ratio']:.2f} "
            f"| {row['compiled_ms']:.3f} | {row['compiled_ratio']:.2f} |"
        )
    if memory:
        key = "gpu_peak_mib" if device.startswith("cuda") else "step_peak_mib"
        theirs = memory["torch"][key]
        ours = ", ".join(
            f"{label} {memory[name][key]:.0f} MiB ({memory[name][key] / max(theirs, 1e-9):.2f}x)"
            for label, name in (("antorcha eager", "antorcha"), ("antorcha.compile", _COMPILED))
        )
        print(f"\nPeak memory of the full-batch step ({key}): {ours}, torch {theirs:.0f} MiB")
    if tiny:
        print("\nTiny-tensor overhead (8 elements, median µs per call; the profiler adds nothing when off:")
        print("the op path is the same code, so the first column is also antorcha with it off)")
        print("| op | antorcha µs | torch µs | antorcha/torch | antorcha, profiler on µs |")
        print("|---|---:|---:|---:|---:|")
        for row in tiny:
            print(
                f"| {row['op']} | {row['antorcha_us']:.2f} | {row['torch_us']:.2f} | {row['ratio']:.2f} "
                f"| {row['profiled_us']:.2f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cpu, plus cuda when available)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and no 2M batch")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=2_000_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _peak_memory_child(args.memory_child, args.device or "cpu", args.batch)
        return
    import antorcha

    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if antorcha.cuda.is_available() else [])
    sizes = BATCH_SIZES[:-1] if args.quick else BATCH_SIZES
    report = {}
    for device in devices:
        steps = time_lesson_steps(device, sizes, 0.3 if args.quick else 1.0)
        memory = peak_memory(device, sizes[-1])
        tiny = time_tiny_ops() if device == "cpu" else []
        print_report(device, steps, tiny, memory)
        report[device] = {"steps": steps, "memory": memory, "tiny": tiny}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
