"""The same collectives on the same inputs in torch (gloo) and in antorcha (MPI), for the test to compare.

`python torch_parity.py torch RANK SIZE PORT OUT` is one rank of a torch gloo world (TCP on
127.0.0.1); `python torch_parity.py antorcha OUT` runs under mpirun. Rank 0 of each writes every
result's raw bytes (hex) or its exception to OUT as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np

DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "uint8", "int32", "int64", "bool"]
OPS = ["SUM", "AVG", "MAX", "MIN", "PRODUCT"]


def draw(rank: int, name: str, seed: int, n: int = 48) -> np.ndarray:
    """Wide-ranging floats (with a NaN on rank 0), small integers, random bools."""
    rng = np.random.default_rng(1000 * seed + rank)
    if name == "bool":
        return rng.random(n) < 0.5
    kind = np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)
    if kind.kind in "iu":
        return rng.integers(0 if kind.kind == "u" else -3, 4, n).astype(kind)
    values = (rng.standard_normal(n) * 100).astype(np.float32)
    values[::7] *= 1e-5
    if rank == 0:
        values[5] = np.nan
    return values.astype(kind)


def run_cases(rank: int, size: int, to_tensor: Callable, to_bytes: Callable, dist: Any) -> dict[str, str]:
    results: dict[str, str] = {}

    def record(key: str, action: Callable[[], Any]) -> None:
        try:
            results[key] = to_bytes(action()).hex()
        except Exception as error:
            results[key] = f"{type(error).__name__}"

    for seed, op in enumerate(OPS):
        for name in DTYPES:

            def reduced(op: str = op, name: str = name, seed: int = seed) -> Any:
                tensor = to_tensor(draw(rank, name, seed))
                dist.all_reduce(tensor, op=getattr(dist.ReduceOp, op))
                return tensor

            record(f"all_reduce {op} {name}", reduced)
    for name in DTYPES:

        def broadcast(name: str = name) -> Any:
            tensor = to_tensor(draw(rank, name, 10))
            dist.broadcast(tensor, src=size - 1)
            return tensor

        def gathered(name: str = name) -> Any:
            part = to_tensor(draw(rank, name, 11, n=6))
            whole = to_tensor(np.zeros(6 * size, dtype=draw(0, name, 0).dtype))
            dist.all_gather_into_tensor(whole, part)
            return whole

        record(f"broadcast {name}", broadcast)
        record(f"all_gather_into_tensor {name}", gathered)
    for name in ("float16", "bfloat16", "float32", "float64", "int64"):

        def scattered(name: str = name) -> Any:
            whole = to_tensor(draw(rank, name, 12, n=6 * size))
            part = to_tensor(np.zeros(6, dtype=draw(0, name, 0).dtype))
            dist.reduce_scatter_tensor(part, whole)
            return part

        record(f"reduce_scatter_tensor SUM {name}", scattered)
    return results


def torch_side(rank: int, size: int, port: str, out: str) -> None:
    import torch
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, RANK=str(rank), WORLD_SIZE=str(size))
    dist.init_process_group("gloo")

    def to_tensor(array: np.ndarray) -> Any:
        if array.dtype == ml_dtypes.bfloat16:
            return torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
        return torch.from_numpy(array.copy())

    def to_bytes(tensor: Any) -> bytes:
        tensor = tensor.view(torch.int16) if tensor.dtype == torch.bfloat16 else tensor
        return tensor.numpy().tobytes()

    results = run_cases(rank, size, to_tensor, to_bytes, dist)
    if rank == 0:
        with open(out, "w") as handle:
            json.dump(results, handle)
    dist.destroy_process_group()


def antorcha_side(out: str) -> None:
    import antorcha
    import antorcha.distributed as dist

    dist.init_process_group()
    rank, size = dist.get_rank(), dist.get_world_size()
    results = run_cases(
        rank, size, lambda a: antorcha.from_numpy(a.copy()), lambda t: t._data.tobytes(), dist
    )
    if rank == 0:
        with open(out, "w") as handle:
            json.dump(results, handle)
    dist.destroy_process_group()


if __name__ == "__main__":
    if sys.argv[1] == "torch":
        torch_side(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        antorcha_side(sys.argv[2])
