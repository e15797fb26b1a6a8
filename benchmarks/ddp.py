"""Data-parallel scaling: the lesson at 2,000,000 samples and a GPT step, 1 process against 2.

Each workload runs once per process count, started by antorcha's launcher
(`python -m antorcha.distributed.run`), every process held to one BLAS thread and one fused-op
worker. The global batch is fixed (strong scaling): N processes each take 1/N of every batch,
and DistributedDataParallel averages the gradients. Printed per workload and process count:

- ms per step (median) and samples (or tokens) per second, over all processes;
- scaling efficiency T1 / (N * TN): 1.0 is perfect, the target is >= 0.85 at 2 processes for
  the full-batch lesson;
- communication: the share of the step spent waiting for all-reduces after backward (what
  overlap did not hide), and what one blocking all-reduce of all gradients costs on its own.

Then the ring all-reduce model: latency a and bandwidth B measured between 2 processes, and
T(p, n) = 2 (p - 1) a + 2 (p - 1) / p * n / B for p = 8, 64, 512 processes and gradients of n
bytes, and the model size below which the measured backward time no longer hides it.

Run: `python benchmarks/ddp.py` (about two minutes), `--quick` for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WORKLOADS = ("lesson", "lesson-compiled", "gpt", "gpt-compiled")
GPT_CONFIG = dict(
    n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, dropout=0.0
)  # nanoGPT's CPU run
GPT_BATCH = 12
MODEL_PROCESSES = (8, 64, 512)
BUCKET_BYTES = 25 * 1024 * 1024  # DDP's default bucket_cap_mb


# -- the worker: one process of a launch ---------------------------------------------------------


def _hold_to_one_thread() -> None:
    import antorcha
    import antorcha.speed.threads as fused_threads

    antorcha.set_num_threads(1)
    fused_threads._WORKERS = 1  # the fused ops' row split: one process, one core


def _world() -> tuple[int, int]:
    import antorcha.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return 0, 1
    dist.init_process_group()
    return dist.get_rank(), dist.get_world_size()


def _lesson_step(rank: int, world: int, samples: int, compiled: bool) -> tuple[Callable[[], None], Any, int]:
    import antorcha as torch
    from antorcha.lesson import MLP, make_data

    x, y = make_data(samples, 0)
    share = samples // world
    x, y = x[rank * share : (rank + 1) * share], y[rank * share : (rank + 1) * share]
    torch.manual_seed(1)
    model = MLP(10, 100, 1)
    model = torch.compile(model) if compiled else model
    model = _wrap(model, world)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    criterion = torch.nn.MSELoss()

    def step() -> None:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()

    return step, model, samples


def _gpt_step(rank: int, world: int, compiled: bool) -> tuple[Callable[[], None], Any, int]:
    import antorcha as torch
    from antorcha.gpt.model import GPT, GPTConfig

    torch.manual_seed(0)
    tokens = torch.randint(0, GPT_CONFIG["vocab_size"], (GPT_BATCH, GPT_CONFIG["block_size"] + 1))
    share = GPT_BATCH // world
    mine = tokens[rank * share : (rank + 1) * share]
    x, y = mine[:, :-1].contiguous(), mine[:, 1:].contiguous()  # (B/N, T)
    torch.manual_seed(1)
    raw = GPT(GPTConfig(**GPT_CONFIG))
    optimizer = raw.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    model = _wrap(torch.compile(raw) if compiled else raw, world)

    def step() -> None:
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(raw.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, model, GPT_BATCH * GPT_CONFIG["block_size"]


def _wrap(model: Any, world: int) -> Any:
    if world == 1:
        return model
    from antorcha.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model)


def _time_waits(model: Any) -> list[float]:
    """Record how long each backward's final callback (wait for every bucket, copy back) takes."""
    waits: list[float] = []
    reducer = getattr(model, "reducer", None)
    if reducer is None:
        return waits
    finish = reducer._finish_backward

    def timed_finish() -> None:
        start = time.perf_counter()
        finish()
        waits.append(time.perf_counter() - start)

    reducer._finish_backward = timed_finish
    return waits


def _blocking_allreduce_seconds(model: Any, repeats: int) -> float:
    """One blocking all-reduce of a buffer the size of all gradients: the cost without overlap."""
    import antorcha as torch
    import antorcha.distributed as dist

    buffer = torch.zeros(sum(p.numel() for p in model.parameters()))
    times = []
    for _ in range(repeats):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(buffer)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_workload(name: str, repeats: int, samples: int) -> dict:
    _hold_to_one_thread()
    rank, world = _world()
    compiled = name.endswith("-compiled")
    if name.startswith("lesson"):
        step, model, per_step = _lesson_step(rank, world, samples, compiled)
    else:
        step, model, per_step = _gpt_step(rank, world, compiled)
    step()  # warm-up: first-call allocations, the compiled plan, MPI's first messages
    waits = _time_waits(model)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    result = {
        "workload": name,
        "processes": world,
        "step_seconds": statistics.median(times),
        "items_per_step": per_step,
        "gradient_bytes": 4 * sum(p.numel() for p in model.parameters()),
        "exposed_seconds": statistics.median(waits) if waits else 0.0,
        "allreduce_seconds": _blocking_allreduce_seconds(model, 5) if world > 1 else 0.0,
    }
    if world > 1:  # the slowest rank sets the pace: report rank 0's figures after all are done
        import antorcha.distributed as dist

        dist.barrier()
    return result if rank == 0 else {}


def run_link() -> dict:
    """All-reduce times between the processes for message sizes from 4 B to 64 MiB."""
    import antorcha as torch
    import antorcha.distributed as dist

    _hold_to_one_thread()
    rank, world = _world()
    sizes = [4, 4096, 1 << 20, 16 << 20, 64 << 20]
    times = {}
    for size in sizes:
        buffer = torch.zeros(size // 4)
        samples = []
        for _ in range(20 if size <= 1 << 20 else 5):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(buffer)
            samples.append(time.perf_counter() - start)
        times[size] = statistics.median(samples)
    return {"processes": world, "seconds_by_bytes": times} if rank == 0 else {}


def worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=2_000_000)
    args = parser.parse_args(argv)
    result = run_link() if args.worker == "link" else run_workload(args.worker, args.repeats, args.samples)
    if result:
        Path(args.out).write_text(json.dumps(result))


# -- the parent: launches, tables, the model ---------------------------------------------------


def launch(processes: int, worker: str, repeats: int, samples: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        command = [sys.executable, "-m", "antorcha.distributed.run", "--nproc-per-node", str(processes)]
        command += [__file__, "--worker", worker, "--out", str(out), "--repeats", str(repeats)]
        command += ["--samples", str(samples)]
        subprocess.run(command, env=env, check=True, timeout=900)
        return json.loads(out.read_text())


def scaling_table(results: list[dict]) -> str:
    header = (
        f"{'workload':<16} {'procs':>5} {'ms/step':>9} {'items/s':>12} {'efficiency':>10} "
        f"{'waiting':>8} {'all-reduce alone':>17}"
    )
    rows = [header, "-" * len(header)]
    alone = {r["workload"]: r["step_seconds"] for r in results if r["processes"] == 1}
    for r in results:
        step = r["step_seconds"]
        efficiency = alone[r["workload"]] / (r["processes"] * step)
        waiting = f"{r['exposed_seconds'] / step:.1%}" if r["processes"] > 1 else "-"
        reduce_alone = f"{1e3 * r['allreduce_seconds']:.2f} ms ({r['allreduce_seconds'] / step:.0%})"
        throughput = r["items_per_step"] / step
        rows.append(
            f"{r['workload']:<16} {r['processes']:>5} {1e3 * step:>9.1f} {throughput:>12,.0f} "
            f"{efficiency:>10.2f} {waiting:>8} {reduce_alone if r['processes'] > 1 else '-':>17}"
        )
    return "\n".join(rows)


def _target_line(results: list[dict]) -> str:
    lesson = {r["processes"]: r["step_seconds"] for r in results if r["workload"] == "lesson"}
    efficiency = lesson[1] / (2 * lesson[2])
    verdict = "met" if efficiency >= 0.85 else "NOT met (on a loaded machine the processes share cores)"
    return f"target: the full-batch lesson's efficiency at 2 processes >= 0.85: {efficiency:.2f}, {verdict}"


def fit_link(link: dict) -> tuple[float, float]:
    """Latency a (s) and bandwidth B (bytes/s) of a 2-process ring: T(n) = 2 a + n / B."""
    times = {int(size): seconds for size, seconds in link["seconds_by_bytes"].items()}
    latency = times[min(times)] / 2
    largest = max(times)
    bandwidth = largest / max(times[largest] - 2 * latency, 1e-12)
    return latency, bandwidth


def ring_seconds(processes: int, nbytes: float, latency: float, bandwidth: float) -> float:
    """A ring all-reduce of `nbytes` in DDP's 25 MiB buckets: each bucket a reduce-scatter and an
    all-gather of p - 1 steps, each step one latency and 1/p of the bucket."""
    buckets = max(1, -(-int(nbytes) // BUCKET_BYTES))
    return buckets * 2 * (processes - 1) * latency + 2 * (processes - 1) / processes * nbytes / bandwidth


def model_report(latency: float, bandwidth: float, results: list[dict]) -> str:
    gpt = next(r for r in results if r["workload"] == "gpt" and r["processes"] == 1)
    lesson = next(r for r in results if r["workload"] == "lesson" and r["processes"] == 1)
    # backward is about 2/3 of a step; at a fixed number of tokens per process its time grows with
    # the parameter count, so the GPT gives seconds of backward per gradient byte
    backward_per_byte = (2 / 3) * gpt["step_seconds"] / gpt["gradient_bytes"]
    lines = [
        f"link between 2 processes: latency a = {1e6 * latency:.1f} us, "
        f"bandwidth B = {bandwidth / 1e9:.2f} GB/s",
        "ring all-reduce T(p, n) = 2 (p - 1) a + 2 (p - 1) / p * n / B, per 25 MiB bucket:",
    ]
    sizes = [("lesson MLP", lesson["gradient_bytes"]), ("GPT (0.8M)", gpt["gradient_bytes"])]
    sizes += [("GPT-2 124M", 4 * 124e6), ("1.3B", 4 * 1.3e9)]
    header = f"  {'gradients':<12} {'bytes':>10}" + "".join(f" {f'p={p}':>12}" for p in MODEL_PROCESSES)
    lines += [header]
    for label, nbytes in sizes:
        cells = "".join(f" {_ms(ring_seconds(p, nbytes, latency, bandwidth)):>12}" for p in MODEL_PROCESSES)
        lines.append(f"  {label:<12} {nbytes:>10.3g}{cells}")
    lines.append(
        f"overlap: backward at the GPT's {GPT_BATCH * GPT_CONFIG['block_size']} tokens per process takes "
        f"{1e9 * backward_per_byte:.2f} ns per gradient byte; the all-reduce is hidden while "
        "T(p, n) <= that * n:"
    )
    for p in MODEL_PROCESSES:
        lines.append(f"  p={p:<4} {_hidden_above(p, latency, bandwidth, backward_per_byte)}")
    return "\n".join(lines)


def _hidden_above(processes: int, latency: float, bandwidth: float, backward_per_byte: float) -> str:
    """Below what size latency dominates, and whether bandwidth alone outruns backward."""
    per_byte = 2 * (processes - 1) / processes / bandwidth + 2 * (processes - 1) * latency / BUCKET_BYTES
    if per_byte >= backward_per_byte:
        return (
            f"never: moving a byte ({1e9 * per_byte:.2f} ns) costs more than backward spends on it; "
            "larger batches per process (more compute per byte) are needed"
        )
    smallest = 2 * (processes - 1) * latency / (backward_per_byte - per_byte)
    return (
        f"hidden for gradients above {smallest / 4:,.0f} parameters ({_bytes(smallest)}); smaller models "
        "wait on latency"
    )


def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.3f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _bytes(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1000:
            return f"{nbytes:.0f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.0f} TB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 200,000 samples, 2 steps")
    parser.add_argument("--json", metavar="FILE", help="write every measurement as JSON")
    args = parser.parse_args()
    repeats, samples = (2, 200_000) if args.quick else (5, 2_000_000)
    print(f"antorcha data-parallel scaling, {os.cpu_count()} cores, one BLAS thread per process")
    results = [launch(n, name, repeats, samples) for name in WORKLOADS for n in (1, 2)]
    print(scaling_table(results))
    print(_target_line(results))
    link = launch(2, "link", repeats, samples)
    latency, bandwidth = fit_link(link)
    print(model_report(latency, bandwidth, results))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "link": link}, indent=2))


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker_main(sys.argv[1:])
    else:
        main()
