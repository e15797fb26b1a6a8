"""DDP cases run under mpirun by tests/test_ddp.py; rank 0 writes every case's result as JSON.

usage: mpirun -n N python tests/_ddp_worker.py OUT.json CASE [CASE ...]

Each case trains or inspects a DistributedDataParallel model on every rank and reduces what it
measured to rank 0 (the largest difference from a one-process run on the whole batch, whether
the ranks agree, which gradients are None). The parent asserts on the numbers, so a failure
names the case and the figure.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import antorcha as torch
import antorcha.distributed as dist
from antorcha import nn
from antorcha.gpt.model import GPT, GPTConfig
from antorcha.lesson import MLP
from antorcha.nn.parallel import DistributedDataParallel

STEPS = 50


def largest_over_ranks(value: float) -> float:
    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total, op=dist.ReduceOp.MAX)
    return float(total.item())


def largest_difference(model: nn.Module, reference: nn.Module) -> float:
    return max(float((a - b).abs().max()) for a, b in zip(model.parameters(), reference.parameters()))


def spread_over_ranks(model: nn.Module) -> float:
    """The largest difference between any rank's parameters and rank 0's."""
    worst = 0.0
    for param in model.parameters():
        rank0 = param.detach().clone()
        dist.broadcast(rank0, 0)
        worst = max(worst, float((param.detach() - rank0).abs().max()))
    return largest_over_ranks(worst)


def shard(batch: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    size = batch.shape[0] // world
    return batch[rank * size : (rank + 1) * size]


def train_mlp(rank: int, world: int, micro_batches: int = 1, device: str = "cpu", **ddp_options: Any) -> dict:
    """50 Adam steps of the lesson MLP: DDP on 1/world of each batch (in `micro_batches` pieces,
    all but the last under no_sync) against one process on the whole batch."""
    torch.manual_seed(0)
    batch = 12 * micro_batches  # divisible by 2 and 3 ranks and by the micro-batches
    xs, ys = torch.randn(STEPS, batch, 10).to(device), torch.randn(STEPS, batch, 1).to(device)
    torch.manual_seed(100)
    reference = MLP(10, 100, 1).to(device)
    torch.manual_seed(100 + rank)  # every rank starts elsewhere: construction broadcasts rank 0's
    model = DistributedDataParallel(MLP(10, 100, 1).to(device), **ddp_options)
    criterion = nn.MSELoss()
    reference_optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for x, y in zip(xs, ys):
        reference_optimizer.zero_grad()
        criterion(reference(x), y).backward()
        reference_optimizer.step()
        optimizer.zero_grad()
        pieces = list(
            zip(shard(x, rank, world).chunk(micro_batches), shard(y, rank, world).chunk(micro_batches))
        )
        for index, (x_piece, y_piece) in enumerate(pieces):
            loss = criterion(model(x_piece), y_piece) / micro_batches
            if index < micro_batches - 1:
                with model.no_sync():
                    loss.backward()
            else:
                loss.backward()
        optimizer.step()
    return {
        "difference": largest_over_ranks(largest_difference(model.module, reference)),
        "spread": spread_over_ranks(model.module),
        "buckets": len(model.reducer.buckets),
    }


def train_gpt(rank: int, world: int) -> dict:
    """50 Adam steps of a tiny GPT (written-out attention: a causal-mask buffer to broadcast)."""
    config = GPTConfig(block_size=8, vocab_size=17, n_layer=2, n_head=2, n_embd=16, attention="written")
    torch.manual_seed(0)
    tokens = torch.randint(0, config.vocab_size, (STEPS, 6, config.block_size + 1))
    torch.manual_seed(1)
    reference = GPT(config)
    torch.manual_seed(1 + rank)
    module = GPT(config)
    launched_before_the_last_gradient: list[int] = []
    first_param = next(module.parameters())  # the embedding: its gradient is complete last
    first_param.register_post_accumulate_grad_hook(  # runs before DDP's own hook on it
        lambda param: launched_before_the_last_gradient.append(model.reducer.next_bucket)
    )
    model = DistributedDataParallel(module, bucket_cap_mb=0.01)
    reference_optimizer = torch.optim.Adam(reference.parameters(), lr=3e-3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for batch in tokens:
        reference_optimizer.zero_grad()
        reference(batch[:, :-1], batch[:, 1:].contiguous())[1].backward()
        reference_optimizer.step()
        optimizer.zero_grad()
        mine = shard(batch, rank, world)
        model(mine[:, :-1], mine[:, 1:].contiguous())[1].backward()
        optimizer.step()
    return {
        "difference": largest_over_ranks(largest_difference(model.module, reference)),
        "spread": spread_over_ranks(model.module),
        "buckets": len(model.reducer.buckets),
        "launched_before_the_last_gradient": min(launched_before_the_last_gradient),
    }


class Branches(nn.Module):
    """`used` always, `sometimes` when asked, `never` never, `ignored` in an output left out of the loss."""

    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(3, 2)
        self.sometimes = nn.Linear(3, 2)
        self.never = nn.Linear(3, 2)
        self.ignored = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor, use_sometimes: bool) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.used(x)
        if use_sometimes:
            out = out + self.sometimes(x)
        return out, self.ignored(x)


def find_unused(rank: int, world: int) -> dict:
    """Rank 0 alone uses `sometimes`: everyone gets rank 0's gradient / world for it; `never`
    and `ignored` (used nowhere) keep grad None; `used` is the whole batch's average."""
    torch.manual_seed(0)
    x = torch.randn(6 * world, 3)
    torch.manual_seed(5)
    model = DistributedDataParallel(Branches(), find_unused_parameters=True)
    reference = Branches()
    reference.load_state_dict(model.module.state_dict())
    differences = []
    for _ in range(3):  # the same iteration again: the accounting resets
        model.zero_grad()
        model(shard(x, rank, world), use_sometimes=rank == 0)[0].sum().backward()
        reference.zero_grad()
        reference.used(x).sum().div(world).backward()  # the average of the ranks' sums
        reference.sometimes(shard(x, 0, world)).sum().div(world).backward()
        for name in ("used", "sometimes"):
            for mine, theirs in zip(
                getattr(model.module, name).parameters(), getattr(reference, name).parameters()
            ):
                differences.append(float((mine.grad - theirs.grad).abs().max()))
    none = {
        name: [p.grad is None for p in getattr(model.module, name).parameters()]
        for name in ("never", "ignored")
    }
    return {"difference": largest_over_ranks(max(differences)), "none": none}


def unused_without_finding(rank: int, world: int) -> dict:
    """Without find_unused_parameters, a parameter that got no gradient makes the next forward
    raise torch's error naming its index."""
    model = DistributedDataParallel(Branches())
    x = torch.randn(4, 3)
    model(x, use_sometimes=True)[0].sum().backward()
    try:
        model(x, use_sometimes=True)
    except RuntimeError as error:
        return {"raised": "RuntimeError", "message": str(error)}
    return {"raised": None, "message": ""}


def broadcast_at_construction(rank: int, world: int) -> dict:
    """Parameters and buffers become rank 0's at construction; buffers again at each forward."""
    torch.manual_seed(rank)
    module = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    module[1].running_mean.fill_(float(rank))
    model = DistributedDataParallel(module)
    spread = spread_over_ranks(module)
    buffer_spread = largest_over_ranks(float(module[1].running_mean.abs().max()))
    module[1].running_var.fill_(float(rank + 1))  # drift on every rank ...
    model.eval()
    model(torch.randn(2, 4))  # ... undone by the forward's broadcast
    return {
        "spread": spread,
        "buffer_spread": buffer_spread,
        "running_var_after_forward": largest_over_ranks(float(module[1].running_var.max())),
        "state_dict_keys": list(model.state_dict()),
        "module_keys": list(module.state_dict()),
        "module_is_wrapped": model.module is module,
    }


CASES: dict[str, Callable[[int, int], dict]] = {
    "mlp": train_mlp,
    "mlp_no_sync": lambda rank, world: train_mlp(rank, world, micro_batches=2),
    "mlp_bucket_views": lambda rank, world: train_mlp(
        rank, world, micro_batches=2, gradient_as_bucket_view=True, bucket_cap_mb=0.0003
    ),
    "gpt": train_gpt,
    "cuda_mlp": lambda rank, world: train_mlp(
        rank, world, micro_batches=2, device="cuda", bucket_cap_mb=0.0003
    ),
    "find_unused": find_unused,
    "unused_without_finding": unused_without_finding,
    "broadcast": broadcast_at_construction,
}


def main(out_path: str, names: list[str]) -> None:
    dist.init_process_group(os.environ.get("DDP_TEST_BACKEND", "mpi"))
    rank, world = dist.get_rank(), dist.get_world_size()
    results: dict[str, Any] = {"world_size": world}
    for name in names:
        try:
            results[name] = CASES[name](rank, world)
        except Exception:  # reported to the parent; the other cases still run
            results[name] = {"error": traceback.format_exc()}
    if rank == 0:
        with open(out_path, "w") as file:
            json.dump(results, file)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
