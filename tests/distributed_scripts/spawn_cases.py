"""mp.spawn as the DDP tutorials use it, run on torch or antorcha: `python spawn_cases.py LIB DIR PORT
[--without-mpirun]`.

Prints one JSON object: each case's outcome (what the ranks wrote to DIR, or the exception that
spawn raised: its class, error_index and message). tests/test_multiprocessing_spawn.py compares
the two libraries' objects.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

LIB = sys.argv[1] if len(sys.argv) > 1 else "antorcha"
torch = importlib.import_module(LIB)
dist = importlib.import_module(LIB + ".distributed")
mp = importlib.import_module(LIB + ".multiprocessing")
nn = importlib.import_module(LIB + ".nn")
DDP = importlib.import_module(LIB + ".nn.parallel").DistributedDataParallel


def record(folder: str, rank: int, value: object) -> None:
    with open(os.path.join(folder, f"rank{rank}.json"), "w") as handle:
        json.dump(value, handle)


def ranks_and_args(rank: int, folder: str, scale: int) -> None:
    record(folder, rank, rank * scale)


def ddp_step(rank: int, folder: str, world_size: int) -> None:
    """The tutorial's example: one SGD step of a DDP Linear on each rank's own batch."""
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    torch.manual_seed(0)
    model = nn.Linear(10, 10)
    ddp_model = DDP(model)
    optimizer = torch.optim.SGD(ddp_model.parameters(), lr=0.1)
    torch.manual_seed(rank)
    loss = nn.MSELoss()(ddp_model(torch.randn(20, 10)), torch.randn(20, 10))
    loss.backward()
    optimizer.step()
    total = torch.zeros(1)
    total += rank + 1
    dist.all_reduce(total)
    record(folder, rank, {"weight": model.weight.detach().double().tolist(), "all_reduced": total.item()})
    dist.destroy_process_group()


def raises_on_rank_one(rank: int, folder: str) -> None:
    if rank == 1:
        raise ValueError(f"rank {rank} has no data")


def exits_on_rank_one(rank: int, folder: str) -> None:
    if rank == 1:
        os._exit(3)


def outcome(fn: object, args: tuple, nprocs: int, folder: str) -> dict:
    os.makedirs(folder, exist_ok=True)
    try:
        mp.spawn(fn, args=(folder, *args), nprocs=nprocs, join=True)
    except (mp.ProcessRaisedException, mp.ProcessExitedException) as error:
        message = str(error)
        return {
            "raised": type(error).__name__,
            "error_index": error.error_index,
            "head": message.strip().splitlines()[0],
            "last_line": message.strip().splitlines()[-1],
            "exit_code": getattr(error, "exit_code", None),
        }
    written = sorted(os.listdir(folder))
    return {"written": {name: json.load(open(os.path.join(folder, name))) for name in written}}


if __name__ == "__main__":
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", sys.argv[3] if len(sys.argv) > 3 else "29517")
    root = sys.argv[2]
    without_mpirun = "--without-mpirun" in sys.argv  # antorcha's fallback: the standard library's processes
    if without_mpirun:
        from antorcha.multiprocessing import _spawn

        _spawn._mpirun_available = lambda: False
    results = {
        "ranks_and_args": outcome(ranks_and_args, (7,), 3, os.path.join(root, "ranks")),
        "raises": outcome(raises_on_rank_one, (), 2, os.path.join(root, "raises")),
        "exits": outcome(exits_on_rank_one, (), 2, os.path.join(root, "exits")),
    }
    if not without_mpirun:
        results["ddp_step"] = outcome(ddp_step, (2,), 2, os.path.join(root, "ddp"))
    print(json.dumps(results))
